"""The mock beside its peers, in one run: Prism 5 and a no-op Connexion app on the same spec.

    .venv/bin/python benchmarks/bench_peers.py            # 3 rounds x 5 s per target and scenario

Three servers on the committed platform spec (specs/openapi.json):

* **mock**: ``losant-mock serve --throttle off`` (validation, auth, scopes and
  the journal on; Prism has no throttles, so neither does the measurement);
* **prism**: ``prism mock`` from ``@stoplight/prism-cli@5`` (stateless: it
  checks the request and answers an example), installed by this script with
  npm into ``benchmarks/.prism/`` (git-ignored) on first use;
* **connexion**: ``benchmarks/noop_connexion.py``, Connexion with the mock's
  spec document and validators' defaults and one constant endpoint: the
  framework floor.

Two scenarios, each driven by wrk (Debian package ``wrk``; 2 threads, 32
connections): ``GET`` one device and ``POST`` a device state. Rounds
alternate the targets (mock, prism, connexion, mock, ...) so a busy, shared
machine does not favour one of them; ratios are computed within each round and
reported as median and range. Absolute figures move with the machine's load;
the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mock import LOGIN, wrk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SPEC = ROOT / "specs" / "openapi.json"
PRISM_DIR = HERE / ".prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
PRISM_PACKAGE = "@stoplight/prism-cli@5"
# Any ids matching the spec's patterns: Prism and the no-op app keep no state.
SAMPLE_APP = "575ec8687ae143cd83dc4a97"
SAMPLE_DEVICE = "575ecf887ae143cd83dc4aa2"
STATE_BODY = {"data": {"temperature": 21.5}}
TARGETS = ("mock", "prism", "connexion")
SCENARIOS = ("get_device", "post_state")


def ensure_prism() -> Path:
    if not PRISM_BIN.exists():
        if not shutil.which("npm"):
            raise SystemExit("bench_peers: npm is needed to install Prism")
        PRISM_DIR.mkdir(exist_ok=True)
        package = PRISM_DIR / "package.json"
        if not package.exists():
            package.write_text('{"name": "bench-prism", "private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", PRISM_PACKAGE],
                       cwd=PRISM_DIR, check=True, stdout=subprocess.DEVNULL)
    return PRISM_BIN


def wait_until_up(url: str, process: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench_peers: {name} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"bench_peers: {name} did not start")


def start(name: str, port: int, processes: dict[str, subprocess.Popen]) -> None:
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if name == "mock":
        command = [sys.executable, "-m", "losant_kit.mockserver", "serve", "--port", str(port),
                   "--throttle", "off", "--mqtt", "off"]
        probe = "/_mock/clock"
    elif name == "prism":
        command = [str(ensure_prism()), "mock", str(SPEC), "-h", "127.0.0.1", "-p", str(port)]
        probe = "/"
    else:
        command = [sys.executable, str(HERE / "noop_connexion.py"), "--port", str(port)]
        probe = "/_probe"  # any answer will do; a 404 is the cheapest
    # Registered before the wait, so a server that fails to come up is still stopped.
    process = processes[name] = subprocess.Popen(command, cwd=ROOT, **quiet)
    wait_until_up(f"http://127.0.0.1:{port}{probe}", process, name)


def requests_for(name: str, base: str) -> dict[str, dict]:
    """Per scenario: path, headers and body that the target answers with 200."""
    if name == "mock":
        token = httpx.post(f"{base}/auth/user", json=LOGIN).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        app_id = httpx.get(f"{base}/applications", headers=headers).json()["items"][0]["id"]
        # A standalone device of its own (the seeded first device may be a system device).
        device_id = httpx.post(f"{base}/applications/{app_id}/devices", headers=headers,
                               json={"name": "bench device",
                                     "attributes": [{"name": "temperature",
                                                     "dataType": "number"}]}).json()["id"]
    else:
        headers = {"Authorization": "Bearer any-token"}
        app_id, device_id = SAMPLE_APP, SAMPLE_DEVICE
    device = f"/applications/{app_id}/devices/{device_id}"
    plan = {
        "get_device": {"method": "GET", "path": device, "headers": headers, "body": None},
        "post_state": {"method": "POST", "path": device + "/state", "headers": headers,
                       "body": STATE_BODY},
    }
    for scenario, request in plan.items():
        response = httpx.request(request["method"], base + request["path"],
                                 headers=request["headers"], json=request["body"])
        if response.status_code != 200:
            raise SystemExit(f"bench_peers: {name} {scenario} answered "
                             f"{response.status_code}: {response.text[:300]}")
    return plan


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--port", type=int, default=18100, help="first of three ports")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench_peers: wrk is needed (Debian: apt-get install -y wrk)")

    load_before = load_average()
    processes: dict[str, subprocess.Popen] = {}
    try:
        plans = {}
        for offset, name in enumerate(TARGETS):
            base = f"http://127.0.0.1:{args.port + offset}"
            start(name, args.port + offset, processes)
            plans[name] = (base, requests_for(name, base))
        rates: dict[str, dict[str, list[float]]] = {
            s: {t: [] for t in TARGETS} for s in SCENARIOS}
        latency: dict[str, dict[str, list[float]]] = {
            s: {t: [] for t in TARGETS} for s in SCENARIOS}
        errors = {t: 0 for t in TARGETS}
        for round_ in range(args.rounds):
            for scenario in SCENARIOS:
                for name in TARGETS:
                    base, plan = plans[name]
                    request = plan[scenario]
                    body = json.dumps(request["body"]) if request["body"] is not None else None
                    result = wrk(base, [request["path"]], method=request["method"],
                                 headers=request["headers"], body=body,
                                 concurrency=args.concurrency, seconds=args.seconds)
                    rates[scenario][name].append(result["requests_per_s"])
                    latency[scenario][name].append(result["p50_ms"])
                    errors[name] += result["errors"]
            print(f"round {round_ + 1}/{args.rounds} done (load {load_average()})",
                  file=sys.stderr)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    report: dict = {"rounds": args.rounds, "seconds": args.seconds,
                    "concurrency": args.concurrency, "load_before": load_before,
                    "load_after": load_average(), "non_2xx": errors, "scenarios": {}}
    for scenario in SCENARIOS:
        per = rates[scenario]
        entry = {name: {"requests_per_s_median": statistics.median(per[name]),
                        "requests_per_s_rounds": per[name],
                        "p50_ms_median": statistics.median(latency[scenario][name])}
                 for name in TARGETS}
        for peer in ("prism", "connexion"):
            ratios = [m / p for m, p in zip(per["mock"], per[peer], strict=True) if p]
            entry[f"mock_vs_{peer}"] = {"median": round(statistics.median(ratios), 2),
                                        "min": round(min(ratios), 2),
                                        "max": round(max(ratios), 2)}
        report["scenarios"][scenario] = entry

    print(f"{'scenario':<12}{'mock':>10}{'prism':>10}{'connexion':>11}"
          f"{'mock/prism':>18}{'mock/connexion':>20}")
    for scenario, entry in report["scenarios"].items():
        vs_p, vs_c = entry["mock_vs_prism"], entry["mock_vs_connexion"]
        print(f"{scenario:<12}"
              + "".join(f"{entry[t]['requests_per_s_median']:>10.0f}" for t in TARGETS[:2])
              + f"{entry['connexion']['requests_per_s_median']:>11.0f}"
              + f"{vs_p['median']:>8.2f}x ({vs_p['min']:.2f}-{vs_p['max']:.2f})"
              + f"{vs_c['median']:>8.2f}x ({vs_c['min']:.2f}-{vs_c['max']:.2f})")
    print(f"requests/s, medians of {args.rounds} rounds of {args.seconds:g} s, "
          f"{args.concurrency} connections; load average {load_before} -> "
          f"{report['load_after']}; non-2xx: {errors}")
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
