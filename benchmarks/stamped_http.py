"""HTTP/1.1 on raw sockets whose reads carry the kernel's receive time.

The observers of ``bench_mqtt.py`` time the server with these: each read of
a socket comes with ``SO_TIMESTAMPNS``, the moment (CLOCK_REALTIME, as
``time.time()``) the kernel queued the bytes on the socket. So a response or
an SSE event is timed when the server's bytes arrived, not when this process
next got a core to read them - on a loaded machine, tens to hundreds of ms
later. Only what ``bench_mqtt.py`` needs: GET, ``Content-Length`` or chunked
bodies, SSE ``data:`` lines.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Iterator
from typing import Any

SO_TIMESTAMPNS = 35  # Linux; Python's socket module does not name it
_ANCILLARY = socket.CMSG_SPACE(16)  # one struct timespec


class StampedConnection:
    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = "".join(f"{k}: {v}\r\n" for k, v in
                            {"Host": f"127.0.0.1:{port}", **headers}.items())
        self.buffer = bytearray()
        self.stamp = 0.0  # kernel receive time of the newest bytes in the buffer

    def fileno(self) -> int:
        return self.sock.fileno()

    def get(self, path: str) -> None:
        self.sock.sendall(f"GET {path} HTTP/1.1\r\n{self.head}\r\n".encode())

    def receive(self) -> bool:
        """One read into the buffer; False when the server closed the connection."""
        data, ancillary, _flags, _addr = self.sock.recvmsg(65536, _ANCILLARY)
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", value[:16])
                self.stamp = seconds + nanoseconds / 1e9
        self.buffer += data
        return bool(data)

    def response(self) -> tuple[int, Any, float]:
        """Block for one whole JSON response: (status, body, kernel time of its last bytes)."""
        status, headers = self._head()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not self.receive():
                raise ConnectionError("closed inside a response")
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return status, json.loads(body) if body else None, self.stamp

    def start_stream(self) -> None:
        status, headers = self._head()
        if status != 200 or headers.get("transfer-encoding") != "chunked":
            raise ConnectionError(f"not a chunked event stream: {status} {headers}")

    def events(self) -> Iterator[tuple[Any, float]]:
        """The ``data:`` payloads of the SSE chunks now in the buffer, each with its stamp."""
        while True:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            size = int(bytes(self.buffer[:end]).split(b";")[0], 16)
            if len(self.buffer) < end + 2 + size + 2:
                return
            chunk = bytes(self.buffer[end + 2:end + 2 + size])
            del self.buffer[:end + 2 + size + 2]
            for line in chunk.split(b"\n"):
                if line.startswith(b"data:"):
                    yield json.loads(line[5:]), self.stamp

    def _head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            if not self.receive():
                raise ConnectionError("closed before the response headers")
        end = self.buffer.index(b"\r\n\r\n")
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers
