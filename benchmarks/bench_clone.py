"""Benchmark of ``losant-mock clone`` against a local mock: time and requests.

Run: ``.venv/bin/python benchmarks/bench_clone.py [--devices 10000] [--hours 24]
[--interval 60] [--format json|yaml] [--rate 0] [--serve-file]``.

A child process serves the "live" side: one application of ``--devices``
devices, each with one state report (two attributes) every ``--interval``
seconds for the last ``--hours`` hours, seeded straight into the store. The
parent clones it over HTTP and prints the figures: wall time, requests,
bytes read, reports, file size, and the machine's load average (the machine
is shared: the figures move with it). ``--serve-file`` also times loading
the written file into a second mock (it holds the whole history in Python
objects: only for small worlds).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY_MS = 86_400_000


def serve_live(port: int, devices: int, hours: float, interval_s: int) -> None:
    """The child: build, fill and serve the live side; print READY when listening."""
    import uvicorn

    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    began = time.perf_counter()
    app = create_app(Settings(empty=True))
    owner = {"email": "dev@example.com", "password": "bench-pass"}
    attributes = [{"name": "temperature", "dataType": "number"},
                  {"name": "humidity", "dataType": "number"}]
    world = {"users": [owner], "applications": [{
        "name": "Bench fleet", "owner": owner["email"],
        "devices": [{"name": f"Sensor {i:05d}", "attributes": attributes,
                     "tags": [{"key": "row", "value": str(i % 50)}]} for i in range(devices)],
    }]}
    from losant_kit import fixtures

    summary = app.backend.load_world(fixtures.complete_world(world, 1))
    app_id = summary["applications"][0]["id"]
    now = app.backend.clock.now_ms()
    step = interval_s * 1000
    count = int(hours * 3600 // interval_s)
    rng = random.Random(1)
    series = app.backend.series
    for device in app.backend.store.children("devices", app_id):
        for k in range(count):
            series.record(device["id"], now - (count - k) * step,
                          {"temperature": round(20 + rng.random() * 5, 2),
                           "humidity": round(40 + rng.random() * 20, 1)})
    built = time.perf_counter() - began
    print(f"READY {app_id} {devices * count} {built:.1f}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=24)
    parser.add_argument("--interval", type=int, default=60, help="seconds between reports")
    parser.add_argument("--format", choices=("json", "yaml"), default="json")
    parser.add_argument("--rate", type=float, default=0, help="client pace (0: unpaced)")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--serve-file", action="store_true")
    parser.add_argument("--out", type=Path, help="keep the world file here")
    parser.add_argument("--_serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._serve:
        serve_live(args._serve, args.devices, args.hours, args.interval)
        return 0

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--_serve", str(port), "--devices", str(args.devices),
         "--hours", str(args.hours), "--interval", str(args.interval)],
        stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        if not line or line[0] != "READY":
            print("the live mock did not start", file=sys.stderr)
            return 1
        app_id, reports, built = line[1], int(line[2]), line[3]
        print(f"live side: {args.devices} devices, {reports} reports, built in {built} s")
        time.sleep(1)  # uvicorn binds after READY; the clone's retries cover the rest
        out = args.out or Path(tempfile.mkdtemp()) / f"clone.{args.format}"
        load_before = os.getloadavg()
        from losant_kit.mockserver.cli import build_parser
        from losant_kit.mockserver.clone import command

        clone_args = build_parser().parse_args([
            "clone", "--base-url", f"http://127.0.0.1:{port}", "--email", "dev@example.com",
            "--password", "bench-pass", "--application", app_id, "--history",
            f"{int(args.hours * 3600) + 3600}s", "--rate", str(args.rate),
            "--page-size", str(args.page_size), "--out", str(out)])
        cpu = time.process_time()
        result = command.clone(clone_args, command.Window.ending_now(clone_args.history))
        cpu = time.process_time() - cpu
        load_after = os.getloadavg()
        size = out.stat().st_size
        print(f"clone: {result.seconds:.1f} s wall ({cpu:.1f} s CPU in the cloner), "
              f"{result.requests} requests ({result.requests / result.seconds:.0f}/s), "
              f"{result.bytes_read / 1e6:.0f} MB read, {result.reports} reports "
              f"({result.reports / result.seconds:,.0f}/s), file {size / 1e6:.0f} MB "
              f"({args.format})")
        print(f"at the default pace (10 requests/s) the same clone takes at least "
              f"{result.requests / 10 / 60:.0f} min")
        print(f"load average (1 min) before/after: {load_before[0]:.1f} / {load_after[0]:.1f}")
        assert result.reports == reports, (result.reports, reports)
    finally:
        child.terminate()
        child.wait(timeout=30)
    if args.serve_file:
        from losant_kit.mockserver.app import create_app
        from losant_kit.mockserver.settings import Settings

        began = time.perf_counter()
        create_app(Settings(fixtures=out))
        print(f"serve: the file loads into a mock in {time.perf_counter() - began:.1f} s")
    if args.out is None:
        out.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
