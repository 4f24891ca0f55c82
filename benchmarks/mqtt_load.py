"""The load generator of ``bench_mqtt.py``: devices publishing state on raw sockets.

It runs in a process of its own (``bench_mqtt.py`` starts it), so the
observers that time the server (SSE streams, the REST prober) never wait
behind it and it never waits behind them. Every PUBLISH is pre-encoded: the
fixed header, topic and payload length never change, and only the payload's
two numbers are formatted into a fixed-width template, so a send is one
``%`` format and one ``send`` call. The payload carries the moment it is
written to the socket (``sentAt``, ``time.time()``: the clock the kernel
stamps received bytes with, ``stamped_http.py``), so latency is measured from
when the bytes left, not from when the schedule wanted them to. The schedule
itself runs on ``time.perf_counter()``.

A minimal MQTT 3.1.1 encoder (not the broker's code): CONNECT, PUBLISH.
"""

from __future__ import annotations

import selectors
import socket
import struct
import time
from multiprocessing.connection import Connection
from typing import Any

# Fixed width, so every packet of a device has the same length: the numbers are
# left-justified and padded with spaces, which JSON allows after a value.
PAYLOAD = '{"data":{"seq":%-12d,"sentAt":%-20.6f}}'
PAYLOAD_BYTES = len(PAYLOAD % (0, 0.0))


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    body = (_string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60)
            + _string(client_id) + _string(username) + _string(password))
    return b"\x10" + _remaining_length(len(body)) + body


class StatePublisher:
    """One device's ``losant/<id>/state`` PUBLISH, all but the payload's numbers encoded once."""

    def __init__(self, device_id: str, qos: int) -> None:
        topic = _string(f"losant/{device_id}/state")
        length = len(topic) + (2 if qos else 0) + PAYLOAD_BYTES
        self.prefix = bytes([0x32 if qos else 0x30]) + _remaining_length(length) + topic
        self.qos = qos
        self.packet_id = 0

    def packet(self, seq: int, sent_at: float) -> bytes:
        payload = (PAYLOAD % (seq, sent_at)).encode()
        if not self.qos:
            return self.prefix + payload
        self.packet_id = self.packet_id % 65535 + 1
        return self.prefix + struct.pack("!H", self.packet_id) + payload


def run(conn: Connection, port: int, devices: list[tuple[str, float]], key: str,
        secret: str, qos: int) -> None:
    """Process entry: connect ``devices`` ((id, phase offset s)), then publish on command.

    Messages on ``conn``: -> ("ready", connect s); <- ("start", t0, interval s,
    seconds, first seq); -> ("done", stats); <- ("close",).
    """
    started = time.perf_counter()
    sockets: list[tuple[socket.socket, StatePublisher, float]] = []
    selector = selectors.DefaultSelector()
    for device_id, offset in devices:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect_packet(device_id, key, secret))
        connack = _read_exactly(sock, 4)
        if connack[3] != 0:
            raise SystemExit(f"CONNACK {connack[3]} for {device_id}")
        sockets.append((sock, StatePublisher(device_id, qos), offset))
        selector.register(sock, selectors.EVENT_READ)
    conn.send(("ready", time.perf_counter() - started))
    _command, t0, interval, seconds, seq = conn.recv()
    schedule = sorted(sockets, key=lambda entry: entry[2])
    late: list[float] = []
    received = {"bytes": 0, "closed": 0}
    cpu0, wait0 = _schedstat()
    end = t0 + seconds
    period = 0
    sent = 0
    while t0 + period * interval < end:
        base = t0 + period * interval
        for sock, publisher, offset in schedule:
            due = base + offset
            delay = due - time.perf_counter()
            if delay > 0.002:
                _drain(selector, delay - 0.001, received)
                delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            started = time.perf_counter()
            sock.send(publisher.packet(seq, time.time()))
            late.append(started - due)
            seq += 1
            sent += 1
        period += 1
    _drain(selector, 0, received)
    cpu1, wait1 = _schedstat()
    late.sort()
    conn.send(("done", {
        "sent": sent,
        "lastSeq": seq,
        "pubacks": received["bytes"] // 4,
        "closedByServer": received["closed"],
        "lateP50Ms": round(late[len(late) // 2] * 1000, 2) if late else 0.0,
        "lateP99Ms": round(late[int(len(late) * 0.99)] * 1000, 2) if late else 0.0,
        "lateMaxMs": round(late[-1] * 1000, 2) if late else 0.0,
        "cpuSeconds": round((cpu1 - cpu0) / 1e9, 2),
        "runQueueWaitSeconds": round((wait1 - wait0) / 1e9, 2),
    }))
    conn.recv()  # ("close",): the connections stay up until the observers are done
    for sock, _publisher, _offset in sockets:
        sock.close()


def _drain(selector: selectors.BaseSelector, timeout: float, received: dict[str, Any]) -> None:
    """Wait up to ``timeout`` s reading what the server sent (PUBACKs; b"" = it closed)."""
    for key, _mask in selector.select(timeout):
        sock = key.fileobj
        assert isinstance(sock, socket.socket)
        try:
            data = sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        except ConnectionError:
            data = b""
        if data:
            received["bytes"] += len(data)
        else:
            received["closed"] += 1
            selector.unregister(sock)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("the broker closed the connection during CONNECT")
        data += chunk
    return data


def _schedstat() -> tuple[int, int]:
    """(ns on a CPU, ns waiting in the run queue) of this thread, from the kernel."""
    with open("/proc/thread-self/schedstat") as handle:
        run_ns, wait_ns, _slices = handle.read().split()
    return int(run_ns), int(wait_ns)
