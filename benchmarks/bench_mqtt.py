"""Devices over MQTT at scale: many connected devices publishing state at a steady rate.

    python benchmarks/bench_mqtt.py                          # 1,000 devices x 2 msg/s x 60 s
    python benchmarks/bench_mqtt.py --devices 200 --seconds 10
    python benchmarks/bench_mqtt.py --probe probe.json       # + where the server's time went
    python benchmarks/bench_mqtt.py --server-python OTHER/.venv/bin/python   # another checkout

Starts ``losant-mock serve`` in a subprocess (HTTP and MQTT on ports of the
18200 block unless given), creates the devices over REST, and runs three
kinds of process that share nothing but the server:

* publishers (``mqtt_load.py``, ``--publishers`` processes): the devices'
  connections on raw sockets; each device publishes ``losant/<id>/state`` (QoS
  0 as the official clients do, or ``--qos 1``) at ``--rate`` messages per
  second, phases spread evenly, for ``--seconds``. Each payload carries the
  time its bytes were written (``sentAt``, ``time.time()``);
* this process, the observers (threads on raw sockets, ``stamped_http.py``):
  ``stateStream`` SSE connections to ``--streams`` devices, and a REST prober
  that, ``--probes`` times a second, takes the device due to publish next and
  polls ``GET .../state`` from that moment until the state holds a message
  sent at or after it.

Figures: sustained messages/s (the mock's own count of ``deviceState``
payloads over MQTT, ``payloadCounts``, over the time from the first send until
that count reached its final value); stored count; p50/p99/max latency from
``sentAt`` to visible over REST and on SSE, timed by the kernel's receive
stamp of the server's bytes (``rest``, ``sse``: the server's latency) and by
when this process read them (``restRead``, ``sseRead``: plus this process's
own delays); server CPU per message; for each process its CPU and the time
it waited in the kernel's run queue for a core (``/proc/<pid>/schedstat``:
how much the machine's other load delayed it); the publishers' lateness
against their schedule; load averages. With ``--probe`` also the server's
event-loop stalls and GC pauses (``mqtt_probe.py``).

The throttle is scaled by 2 (60 per 15 s): 2 msg/s is exactly the platform's
30 per 15 s, and any jitter in the generator would trip it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import warnings

import httpx
import mqtt_load
import psutil
from stamped_http import StampedConnection

warnings.filterwarnings("ignore")
LOGIN = {"email": "dev@example.com", "password": "losant-mock"}


def start_server(args: argparse.Namespace) -> subprocess.Popen:
    python = [args.server_python,
              *(["-m", "cProfile", "-o", args.profile] if args.profile else [])]
    entry = ([os.path.join(os.path.dirname(os.path.abspath(__file__)), "mqtt_probe.py"),
              args.probe] if args.probe else ["-m", "losant_kit.mockserver"])
    process = subprocess.Popen(
        [*python, *entry, "serve", "--port", str(args.http_port),
         "--mqtt-port", str(args.mqtt_port), "--throttle-scale", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{args.http_port}/_mock/clock", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the mock did not start")


def schedstat(pid: int, *, threads: bool = False) -> tuple[float, float]:
    """(s on a CPU, s waiting in the run queue) of a process's main thread, or all threads."""
    paths = ([f"/proc/{pid}/task/{t}/schedstat" for t in os.listdir(f"/proc/{pid}/task")]
             if threads else [f"/proc/{pid}/schedstat"])
    run = wait = 0
    for path in paths:
        with open(path) as handle:
            run_ns, wait_ns, _slices = handle.read().split()
        run, wait = run + int(run_ns), wait + int(wait_ns)
    return run / 1e9, wait / 1e9


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def summary(values: list[float]) -> dict[str, float]:
    """p50/p99/max in ms."""
    if not values:
        return {"samples": 0}
    ordered = sorted(values)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {"samples": len(ordered), "p50Ms": q(0.5), "p99Ms": q(0.99),
            "maxMs": round(ordered[-1] * 1000, 1)}


async def create_devices(client: httpx.AsyncClient, app_id: str, n: int) -> list[str]:
    semaphore = asyncio.Semaphore(16)

    async def one(i: int) -> str:
        async with semaphore:
            response = await client.post(f"/applications/{app_id}/devices", json={
                "name": f"bench-{i}", "deviceClass": "standalone",
                "attributes": [{"name": "seq", "dataType": "number"},
                               {"name": "sentAt", "dataType": "number"}],
            })
            response.raise_for_status()
            return response.json()["id"]

    return list(await asyncio.gather(*(one(i) for i in range(n))))


class Observers:
    """SSE streams and the REST prober, in threads, timing against the payloads' ``sentAt``.

    Each figure twice: ``stamped`` from the kernel's receive time of the
    server's bytes (``stamped_http.py``: the server's latency, whatever this
    process's own scheduling), and ``read`` from when this process got to
    read them (what an application on this machine would see).
    """

    def __init__(self, port: int, token: str, app_id: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {token}"}
        self.app_id = app_id
        self.sse: list[float] = []
        self.sse_read: list[float] = []
        self.rest: list[float] = []
        self.rest_read: list[float] = []
        self.rest_polls = 0
        self.done = threading.Event()

    def open_streams(self, device_ids: list[str]) -> list[StampedConnection]:
        streams = []
        for device_id in device_ids:
            conn = StampedConnection(self.port, {**self.headers, "Accept": "text/event-stream"})
            conn.get(f"/applications/{self.app_id}/devices/{device_id}/stateStream")
            conn.start_stream()  # headers sent: the subscription is taken
            streams.append(conn)
        return streams

    def read_streams(self, streams: list[StampedConnection]) -> None:
        selector = selectors.DefaultSelector()
        for conn in streams:
            selector.register(conn, selectors.EVENT_READ)
        while not self.done.is_set():
            for key, _mask in selector.select(0.1):
                conn = key.fileobj
                assert isinstance(conn, StampedConnection)
                if not conn.receive():
                    selector.unregister(conn)
                    continue
                read_at = time.time()
                for event, stamp in conn.events():
                    sent_at = event["data"].get("sentAt")
                    if sent_at is not None:
                        self.sse.append(stamp - sent_at)
                        self.sse_read.append(read_at - sent_at)
        for conn in streams:
            conn.sock.close()

    def probe_rest(self, schedule: list[tuple[float, str]], t0: float, interval: float,
                   end: float, per_second: float) -> None:
        """From the moment a device is due to publish, poll its state until that message shows."""
        conn = StampedConnection(self.port, self.headers)
        wall = time.time() - time.perf_counter()  # sentAt is time.time(); the schedule perf_counter
        step = 1.0 / per_second
        at = t0 + step / 2
        while at < end - interval and not self.done.is_set():
            # The device due next after ``at`` (the schedule repeats every interval).
            phase = (at - t0) % interval
            offset, device_id = next(((o, d) for o, d in schedule if o >= phase), schedule[0])
            due = at - phase + offset + (interval if offset < phase else 0.0)
            time.sleep(max(0.0, due - time.perf_counter()))
            path = f"/applications/{self.app_id}/devices/{device_id}/state"
            while not self.done.is_set():
                conn.get(path)
                _status, states, stamp = conn.response()
                self.rest_polls += 1
                sent_at = states[0]["data"].get("sentAt", 0) if states else 0
                if sent_at >= due + wall - interval / 2:  # this period's message, not the last
                    self.rest.append(stamp - sent_at)
                    self.rest_read.append(time.time() - sent_at)
                    break
                time.sleep(0.002)  # poll without taking the server's whole CPU
            at += step
        conn.sock.close()


async def bench(args: argparse.Namespace, server_pid: int) -> dict:
    base = f"http://127.0.0.1:{args.http_port}"
    token = httpx.post(f"{base}/auth/user", json=LOGIN).json()["token"]
    world = httpx.get(f"{base}/_mock/world").json()
    app = world["applications"][0]
    key = next(k for k in app["keys"] if k["filterType"] == "all")
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.streams + 8)
    interval = 1.0 / args.rate
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60,
                                 limits=limits) as client:
        ids = await create_devices(client, app["id"], args.devices)
        offsets = [i * interval / len(ids) for i in range(len(ids))]
        schedule = list(zip(offsets, ids, strict=True))
        context = multiprocessing.get_context("spawn")
        publishers = []
        for n in range(args.publishers):
            mine = [(d, o) for o, d in schedule[n::args.publishers]]
            ours, theirs = context.Pipe()
            process = context.Process(target=mqtt_load.run, args=(
                theirs, args.mqtt_port, mine, key["key"], key["secret"], args.qos), daemon=True)
            process.start()
            publishers.append((process, ours))
        connect_s = max([(await asyncio.to_thread(p.recv))[1] for _proc, p in publishers])
        observers = Observers(args.http_port, token, app["id"])
        streamed = ids[:: max(1, len(ids) // args.streams)][: args.streams]
        streams = await asyncio.to_thread(observers.open_streams, streamed)
        reader = threading.Thread(target=observers.read_streams, args=(streams,))
        reader.start()
        t0 = time.perf_counter() + 1.0
        end = t0 + args.seconds
        server_cpu0, server_sched0 = cpu_seconds(server_pid), schedstat(server_pid)
        me0 = schedstat(os.getpid(), threads=True)
        for n, (_proc, pipe) in enumerate(publishers):
            pipe.send(("start", t0, interval, args.seconds, n * 10**9))
        prober = threading.Thread(target=observers.probe_rest,
                                  args=(schedule, t0, interval, end, args.probes))
        prober.start()
        published = [(await asyncio.to_thread(p.recv))[1] for _proc, p in publishers]
        sent = sum(p["sent"] for p in published)
        # Done when every message is stored (the mock's own count), or it stops growing.
        url = f"/applications/{app['id']}/payloadCounts"
        stored, changed_at = 0, time.perf_counter()
        while stored < sent:
            counts = (await client.get(url)).json()
            now_stored = counts.get("deviceState", {}).get("device.mqtt", 0)
            if now_stored != stored:
                stored, changed_at = now_stored, time.perf_counter()
            elif time.perf_counter() - changed_at > 5:
                break
            await asyncio.sleep(0.05)
        server_cpu = cpu_seconds(server_pid) - server_cpu0
        server_sched, me = schedstat(server_pid), schedstat(os.getpid(), threads=True)
        observers.done.set()
        await asyncio.to_thread(prober.join)
        await asyncio.to_thread(reader.join)
        for process, pipe in publishers:
            pipe.send(("close",))
            process.join(30)
    elapsed = changed_at - t0
    return {
        "publishWindow": [t0, end],
        "devices": args.devices,
        "ratePerDevice": args.rate,
        "seconds": args.seconds,
        "qos": args.qos,
        "publishers": args.publishers,
        "connectSeconds": round(connect_s, 2),
        "sent": sent,
        "storedOverMqtt": stored,
        "sustainedMsgPerS": round(stored / elapsed, 1),
        "targetMsgPerS": args.devices * args.rate,
        "rest": {**summary(observers.rest), "polls": observers.rest_polls},
        "sse": summary(observers.sse),
        # The same samples timed when this process read them (its own delays added):
        "restRead": summary(observers.rest_read),
        "sseRead": summary(observers.sse_read),
        "server": {
            "cpuSeconds": round(server_cpu, 1),
            "cpuUsPerMsg": round(server_cpu / max(1, stored) * 1e6),
            # The event loop's thread alone (the broker, the HTTP handlers, GC):
            "mainThreadCpuUsPerMsg": round((server_sched[0] - server_sched0[0])
                                           / max(1, stored) * 1e6),
            "mainThreadRunQueueWaitSeconds": round(server_sched[1] - server_sched0[1], 2),
        },
        "publisherProcesses": [{k: v for k, v in p.items() if k != "lastSeq"}
                               for p in published],
        "observerProcess": {
            "cpuSeconds": round(me[0] - me0[0], 2),
            "runQueueWaitSeconds": round(me[1] - me0[1], 2),
        },
        "loadAverageAfter": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=2.0, help="messages/s per device")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--streams", type=int, default=50, help="stateStream connections")
    parser.add_argument("--probes", type=float, default=20.0, help="REST samples per second")
    parser.add_argument("--publishers", type=int, default=1, help="load generator processes")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=0,
                        help="publish QoS (default 0, as both official clients publish state)")
    parser.add_argument("--http-port", type=int, default=18200)
    parser.add_argument("--mqtt-port", type=int, default=18201)
    parser.add_argument("--server-python", default=sys.executable,
                        help="the Python (venv) whose losant_kit serves: compare checkouts")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", help="run the server under cProfile, stats to this file")
    parser.add_argument("--probe",
                        help="run the server under mqtt_probe.py, its report to this file")
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    server = start_server(args)
    try:
        result = asyncio.run(bench(args, server.pid))
    finally:
        # SIGINT: uvicorn shuts down, then raises it again as KeyboardInterrupt,
        # so cProfile and the probe still write their files (SIGTERM would kill).
        server.send_signal(signal.SIGINT)
        server.wait(30)
    result = {"loadAverageBefore": load_before, **result}
    if args.probe and os.path.exists(args.probe):
        with open(args.probe) as handle:
            probe = json.load(handle)
        start, end = (t - probe["monotonicStart"] for t in result.pop("publishWindow"))
        within = [s for s in probe["worstStalls"] if start <= s["at"] <= end]
        result["serverProbe"] = {
            "publishingFromS": round(start, 2),
            "gcDuringPublishing": [e for e in probe["gcEvents"] if start <= e["at"] <= end],
            "worstStallsDuringPublishing": within[:5],
            **probe,
        }
    else:
        result.pop("publishWindow")
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
