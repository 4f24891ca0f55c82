"""Devices over MQTT at scale: many connected devices publishing state at a steady rate.

    python benchmarks/bench_mqtt.py                          # 1,000 devices x 2 msg/s x 60 s
    python benchmarks/bench_mqtt.py --devices 200 --seconds 10

Starts ``losant-mock serve`` in a subprocess (HTTP and MQTT on ports of the
48000 block unless given), creates the devices over REST, connects them all to
the broker, and has each publish ``losant/<id>/state`` (QoS 0 as the official
clients do, or ``--qos 1``) at ``--rate`` messages per second, spread evenly, for
``--seconds``. Figures:

* sustained messages/s: the mock's own count of ``deviceState`` payloads over
  MQTT (``payloadCounts``), over the time from the first send until that count
  reached its final value; the server's CPU seconds per message (a figure the
  machine's other load disturbs less than rates do);
* publish -> visible over REST: a prober repeatedly takes the latest sent
  message and polls ``GET .../state`` until the device's newest state holds it;
* publish -> visible on SSE: ``stateStream`` connections to ``--streams`` devices
  record when each message arrives.

The throttle is scaled by 2 (60 per 15 s): 2 msg/s is exactly the platform's
30 per 15 s, and any jitter in this process would trip it. The load generator
runs in this one process (asyncio), sharing the machine's cores with the server,
so latency figures include its own scheduling delays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import time
import warnings

import httpx
import psutil

warnings.filterwarnings("ignore")
LOGIN = {"email": "dev@example.com", "password": "losant-mock"}


# -- a minimal MQTT 3.1.1 encoder for the load generator (not the broker's code) -----------


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([first_byte]) + bytes(encoded) + body


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    variable = _string("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60)
    return _packet(0x10, variable + _string(client_id) + _string(username) + _string(password))


def publish_packet(topic: str, payload: bytes, packet_id: int, qos: int) -> bytes:
    if not qos:
        return _packet(0x30, _string(topic) + payload)
    return _packet(0x32, _string(topic) + struct.pack("!H", packet_id) + payload)


# -- the run --------------------------------------------------------------------------------


def start_server(http_port: int, mqtt_port: int, profile: str | None) -> subprocess.Popen:
    python = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
    process = subprocess.Popen(
        [*python, "-m", "losant_kit.mockserver", "serve", "--port", str(http_port),
         "--mqtt-port", str(mqtt_port), "--throttle-scale", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{http_port}/_mock/clock", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the mock did not start")


async def create_devices(client: httpx.AsyncClient, app_id: str, n: int) -> list[str]:
    semaphore = asyncio.Semaphore(16)

    async def one(i: int) -> str:
        async with semaphore:
            response = await client.post(f"/applications/{app_id}/devices", json={
                "name": f"bench-{i}", "deviceClass": "standalone",
                "attributes": [{"name": "seq", "dataType": "number"}],
            })
            response.raise_for_status()
            return response.json()["id"]

    return list(await asyncio.gather(*(one(i) for i in range(n))))


class Device:
    def __init__(self, device_id: str) -> None:
        self.id = device_id
        self.topic = f"losant/{device_id}/state"
        self.packet_id = 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sent_at: dict[int, float] = {}
        self.acks = 0
        self.last_ack = 0.0
        self.sse_latencies: list[float] = []
        self.rest_latencies: list[float] = []
        self.latest: tuple[int, str] | None = None
        self.done = False

    async def connect(self, device: Device, key: str, secret: str) -> None:
        device.reader, device.writer = await asyncio.open_connection(
            "127.0.0.1", self.args.mqtt_port)
        device.writer.write(connect_packet(device.id, key, secret))
        connack = await device.reader.readexactly(4)
        if connack[3] != 0:
            raise SystemExit(f"CONNACK {connack[3]} for {device.id}")

    async def read_acks(self, device: Device) -> None:
        assert device.reader is not None
        try:
            while True:
                await device.reader.readexactly(4)  # PUBACK
                self.acks += 1
                self.last_ack = time.perf_counter()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async def publish(self, devices: list[Device]) -> tuple[float, int]:
        """Every device publishes at ``rate`` msg/s, phases spread evenly; returns (start, sent)."""
        interval = 1.0 / self.args.rate
        slots = sorted((i * interval / len(devices), d) for i, d in enumerate(devices))
        start = time.perf_counter()
        seq = 0
        end = start + self.args.seconds
        period = 0
        while True:
            base = start + period * interval
            if base >= end:
                break
            for offset, device in slots:
                due = base + offset
                delay = due - time.perf_counter()
                if delay > 0.002:
                    await asyncio.sleep(delay)
                elif seq % 50 == 0:
                    await asyncio.sleep(0)  # behind schedule: still let acks and streams in
                seq += 1
                device.packet_id = device.packet_id % 65535 + 1
                payload = json.dumps({"data": {"seq": seq}}).encode()
                self.sent_at[seq] = time.perf_counter()
                assert device.writer is not None
                device.writer.write(
                    publish_packet(device.topic, payload, device.packet_id, self.args.qos))
                self.latest = (seq, device.id)
            period += 1
        return start, seq

    async def stream(self, client: httpx.AsyncClient, app_id: str, device_id: str) -> None:
        url = f"/applications/{app_id}/devices/{device_id}/stateStream"
        async with client.stream("GET", url, timeout=None) as response:
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    seq = json.loads(line[5:])["data"].get("seq")
                    sent = self.sent_at.get(seq)
                    if sent is not None:
                        self.sse_latencies.append(time.perf_counter() - sent)

    async def probe_rest(self, client: httpx.AsyncClient, app_id: str) -> None:
        while not self.done:
            if self.latest is None:
                await asyncio.sleep(0.01)
                continue
            seq, device_id = self.latest
            sent = self.sent_at[seq]
            while not self.done:
                response = await client.get(f"/applications/{app_id}/devices/{device_id}/state")
                states = response.json()
                if states and states[0]["data"].get("seq", 0) >= seq:
                    self.rest_latencies.append(time.perf_counter() - sent)
                    break
                await asyncio.sleep(0.002)  # poll, without taking the server's whole CPU
            await asyncio.sleep(0.1)  # about ten samples a second


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def bench(args: argparse.Namespace, server_pid: int | None) -> dict:
    base = f"http://127.0.0.1:{args.http_port}"
    token = httpx.post(f"{base}/auth/user", json=LOGIN).json()["token"]
    world = httpx.get(f"{base}/_mock/world").json()
    app = world["applications"][0]
    key = next(k for k in app["keys"] if k["filterType"] == "all")
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.streams + 8)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60,
                                 limits=limits) as client:
        ids = await create_devices(client, app["id"], args.devices)
        devices = [Device(i) for i in ids]
        run = Run(args)
        connect_started = time.perf_counter()
        for chunk in range(0, len(devices), 50):
            await asyncio.gather(*(run.connect(d, key["key"], key["secret"])
                                   for d in devices[chunk:chunk + 50]))
        connect_s = time.perf_counter() - connect_started
        readers = [asyncio.create_task(run.read_acks(d)) for d in devices]
        streams = [asyncio.create_task(run.stream(client, app["id"], d.id))
                   for d in devices[:: max(1, len(devices) // args.streams)][: args.streams]]
        await asyncio.sleep(1)  # let the streams subscribe before the first message
        prober = asyncio.create_task(run.probe_rest(client, app["id"]))
        cpu_before, me_before = cpu_seconds(server_pid), cpu_seconds(os.getpid())
        start, sent = await run.publish(devices)
        # Done when every message is stored (the mock's own count), or it stops growing.
        url = f"/applications/{app['id']}/payloadCounts"
        stored, changed_at = 0, time.perf_counter()
        deadline = changed_at + 60
        while stored < sent and time.perf_counter() < deadline:
            counts = (await client.get(url)).json()
            now_stored = counts.get("deviceState", {}).get("device.mqtt", 0)
            if now_stored != stored:
                stored, changed_at = now_stored, time.perf_counter()
            elif time.perf_counter() - changed_at > 5:
                break
            await asyncio.sleep(0.1)
        server_cpu = cpu_seconds(server_pid) - cpu_before
        generator_cpu = cpu_seconds(os.getpid()) - me_before
        run.done = True
        await prober
        for task in streams + readers:
            task.cancel()
        for device in devices:
            assert device.writer is not None
            device.writer.close()
    elapsed = changed_at - start
    return {
        "devices": args.devices,
        "ratePerDevice": args.rate,
        "seconds": args.seconds,
        "connectSeconds": round(connect_s, 2),
        "sent": sent,
        "acked": run.acks,
        "qos": args.qos,
        "storedOverMqtt": stored,
        "sustainedMsgPerS": round(stored / elapsed, 1),
        "serverCpuSeconds": round(server_cpu, 1),
        "serverCpuUsPerMsg": round(server_cpu / max(1, stored) * 1e6),
        "generatorCpuSeconds": round(generator_cpu, 1),
        "targetMsgPerS": args.devices * args.rate,
        "restSamples": len(run.rest_latencies),
        "restP50Ms": round(percentile(run.rest_latencies, 0.5), 1),
        "restP99Ms": round(percentile(run.rest_latencies, 0.99), 1),
        "sseSamples": len(run.sse_latencies),
        "sseP50Ms": round(percentile(run.sse_latencies, 0.5), 1),
        "sseP99Ms": round(percentile(run.sse_latencies, 0.99), 1),
        "sseMeanMs": round(statistics.fmean(run.sse_latencies) * 1000, 1),
        "loadAverage": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2.0, help="messages/s per device")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--streams", type=int, default=50, help="stateStream connections")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=0,
                        help="publish QoS (default 0, as both official clients publish state)")
    parser.add_argument("--http-port", type=int, default=48100)
    parser.add_argument("--mqtt-port", type=int, default=48101)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", help="run the server under cProfile, stats to this file")
    parser.add_argument("--attach", action="store_true",
                        help="use a mock already serving on --http-port/--mqtt-port")
    args = parser.parse_args()
    server = None if args.attach else start_server(args.http_port, args.mqtt_port, args.profile)
    try:
        print(f"load before: {os.getloadavg()}", flush=True)
        result = asyncio.run(bench(args, server.pid if server else None))
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
