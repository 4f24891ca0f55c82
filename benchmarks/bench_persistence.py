"""What ``--data`` costs: write-through throughput, and resuming a big state.

    python benchmarks/bench_persistence.py                      # both, default sizes
    python benchmarks/bench_persistence.py --only throughput --rounds 5 --seconds 5
    python benchmarks/bench_persistence.py --only resume --devices 100000 --points 1000000

* ``throughput``: ``sendState`` and device create, requests/s, against two servers
  started side by side in the same run - one in memory, one with ``--data`` on a
  fresh file - in alternating rounds (memory, data, memory, data, ...) so a busy
  machine favours neither. Load from ``wrk`` when installed (see bench_mock.py).
* ``resume``: a data file holding N devices and M state reports (with the usage
  tallies those reports make) is built once; then ``losant-mock serve --data`` is
  started on it R times, each timed from process start to the first answered
  request that reads a device's state.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_mock import LOGIN, load, login

warnings.filterwarnings("ignore")


def start_server(port: int, *extra: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "losant_kit.mockserver", "serve", "--port", str(port),
         "--throttle", "off", "--mqtt", "off", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_mock/clock", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.02)
    process.kill()
    raise RuntimeError("mock did not start")


def bench_throughput(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-persist-"))
    servers = {"memory": start_server(args.port),
               "data": start_server(args.port + 1, "--data", str(workdir / "bench.db"))}
    rounds: dict[str, dict[str, list[dict]]] = {
        op: {mode: [] for mode in servers} for op in ("send_state", "create_device")}
    try:
        targets = {}
        for offset, mode in enumerate(servers):
            base = f"http://127.0.0.1:{args.port + offset}"
            headers, app_id = login(base)
            ids = [httpx.post(f"{base}/applications/{app_id}/devices", headers=headers,
                              json={"name": f"state bench {n}", "attributes": [
                                  {"name": "temperature", "dataType": "number"}]}).json()["id"]
                   for n in range(args.state_devices)]
            targets[mode] = (base, headers, app_id,
                             [f"/applications/{app_id}/devices/{d}/state" for d in ids])
        def measured(mode: str, paths: list[str], **request: object) -> dict:
            # The server's CPU time per request: what --data adds to each request,
            # much less at the mercy of the machine's other load than requests/s.
            pid = servers[mode].pid
            before = cpu_seconds(pid)
            result = load(targets[mode][0], paths, **request, args=args)
            result["cpu_ms_per_request"] = round(
                1000 * (cpu_seconds(pid) - before) / max(1, result["requests"]), 3)
            return result

        for _ in range(args.rounds):
            for mode, (_base, headers, app_id, paths) in targets.items():
                rounds["send_state"][mode].append(measured(
                    mode, paths, method="POST", headers=headers,
                    body={"data": {"temperature": 21.5}}))
                rounds["create_device"][mode].append(measured(
                    mode, [f"/applications/{app_id}/devices"], method="POST", headers=headers,
                    body={"name": "bench device", "tags": [{"key": "k", "value": "v"}]}))
    finally:
        for process in servers.values():
            process.terminate()
            process.wait()
    results: dict = {}
    for op, by_mode in rounds.items():
        for mode, runs in by_mode.items():
            rates = sorted(r["requests_per_s"] for r in runs)
            results[f"{op}_{mode}"] = {
                "requests_per_s_median": statistics.median(rates),
                "requests_per_s_rounds": rates,
                "errors": sum(r["errors"] for r in runs),
                "p50_ms_median": statistics.median(r["p50_ms"] for r in runs if r["p50_ms"]),
                "cpu_ms_per_request_rounds": sorted(r["cpu_ms_per_request"] for r in runs),
                "cpu_ms_per_request_median": statistics.median(
                    r["cpu_ms_per_request"] for r in runs),
            }
        cpu_memory = results[f"{op}_memory"]["cpu_ms_per_request_median"]
        cpu_data = results[f"{op}_data"]["cpu_ms_per_request_median"]
        results[f"{op}_cpu_cost_percent"] = round(100 * (cpu_data - cpu_memory) / cpu_memory, 1)
        memory = results[f"{op}_memory"]["requests_per_s_median"]
        data = results[f"{op}_data"]["requests_per_s_median"]
        results[f"{op}_cost_percent"] = round(100 * (memory - data) / memory, 1)
        # Per round pair, so the spread of the cost shows, not only its median.
        pairs = zip(by_mode["memory"], by_mode["data"], strict=True)
        results[f"{op}_cost_percent_rounds"] = sorted(
            round(100 * (m["requests_per_s"] - d["requests_per_s"]) / m["requests_per_s"], 1)
            for m, d in pairs)
    return results


BUILD = r"""
import sys, time
from pathlib import Path
from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.settings import Settings

path, devices, points = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mock = create_app(Settings(data=path, throttle=False))
backend, store = mock.backend, mock.backend.store
app_id = mock.world_summary["applications"][0]["id"]
user = mock.world_summary["logins"][0]["userId"]
owner = Principal("user", user, frozenset(["all.User"]), user_id=user)
attrs = [{"name": "temperature", "dataType": "number"}, {"name": "label", "dataType": "string"}]
started = time.perf_counter()
with store.transaction():
    ids = [backend.devices.create(owner, app_id, {"name": f"sensor-{n:06d}",
                                                  "attributes": attrs})["id"]
           for n in range(devices)]
now = backend.clock.now_ms()
per_device = points // devices
with store.transaction():
    for i, device_id in enumerate(ids):
        for k in range(per_device):
            t = now - (per_device - k) * 60_000
            data = {"temperature": (i + k) % 40 + 0.5, "label": "ok"} if k % 2 else \
                   {"temperature": (i + k) % 40}
            backend.series.record(device_id, t, data)
            store.append("state", (device_id, t, data))
            backend.usage.count(app_id, device_id, "deviceState", "user.rest", nbytes=40)
mock.data.close()
print(ids[0], app_id, round(time.perf_counter() - started, 1))
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_resume(args: argparse.Namespace) -> dict:
    if args.resume_file:  # reuse a file an earlier run built (its ids are in the sidecar)
        path = args.resume_file
        device_id, app_id, build_s = path.with_suffix(".ids").read_text().split()
    else:
        path = Path(tempfile.mkdtemp(prefix="bench-resume-")) / "big.db"
        out = subprocess.run([sys.executable, "-c", BUILD, str(path), str(args.devices),
                              str(args.points)], capture_output=True, text=True,
                             check=True).stdout
        path.with_suffix(".ids").write_text(out)
        device_id, app_id, build_s = out.split()
    times, cpu, loads = [], [], []
    for _ in range(args.resume_rounds):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "losant_kit.mockserver", "serve", "--port", str(args.port),
             "--data", str(path), "--mqtt", "off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{args.port}"
            deadline = time.monotonic() + 300
            while True:
                try:
                    token = httpx.post(f"{base}/auth/user", json=LOGIN).json()["token"]
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            response = httpx.get(f"{base}/applications/{app_id}/devices/{device_id}/state",
                                 headers={"Authorization": f"Bearer {token}"},
                                 params={"limit": 100, "start": 1})
            assert response.status_code == 200 and response.json(), response.text
            times.append(round(time.perf_counter() - started, 2))
            cpu.append(round(cpu_seconds(process.pid), 2))
            loads.append(os.getloadavg()[0])
        finally:
            process.terminate()
            process.wait()
    return {"devices": args.devices, "state_points": args.points, "build_s": float(build_s),
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "resume_to_first_answer_s_rounds": sorted(times),
            "resume_to_first_answer_s_median": statistics.median(times),
            # Wall time depends on what else the machine runs; the server's own CPU
            # time to its first answer does not (much).
            "server_cpu_s_rounds": sorted(cpu),
            "load_average_during": [round(x, 1) for x in loads]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="throughput,resume")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds per mode")
    parser.add_argument("--state-devices", type=int, default=200)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--resume-rounds", type=int, default=3)
    parser.add_argument("--resume-file", type=Path,
                        help="resume this file (built by an earlier run) instead of building one")
    parser.add_argument("--port", type=int, default=18180)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    only = set(args.only.split(","))
    results: dict = {}
    if "throughput" in only:
        results["throughput"] = bench_throughput(args)
        results["throughput"]["load_average_after"] = round(os.getloadavg()[0], 1)
    if "resume" in only:
        results["resume"] = bench_resume(args)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
