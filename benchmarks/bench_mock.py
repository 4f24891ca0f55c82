"""Throughput and latency of the mock, over real HTTP and through the full ASGI stack.

    python benchmarks/bench_mock.py                 # everything, default sizes
    python benchmarks/bench_mock.py --only list100k --devices 100000
    python benchmarks/bench_mock.py --only get,create --seconds 5 --concurrency 32

Figures (printed, and written as JSON with --json PATH):
* ``get``: GET one device, requests/s at N concurrent connections (uvicorn, loopback);
* ``create``: POST a device, requests/s at N concurrent connections;
* ``sendstate``: POST a state report, requests/s, with throttling on and off in the same
  run (each request targets one of many devices so the 30/15 s window never refuses);
* ``list100k``: latency of a filtered, sorted, paged device list over 100,000 devices
  in one application (through the whole ASGI stack, no network), median and p95.

The load generator runs in this process (asyncio + httpx) and shares the two cores
with the server, so requests/s are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx

warnings.filterwarnings("ignore")
LOGIN = {"email": "dev@example.com", "password": "losant-mock"}


# ---------------------------------------------------------------- helpers


def start_server(port: int, *extra: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_mock/clock", timeout=0.5)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("mock did not start")


async def hammer(make_request, *, concurrency: int, seconds: float) -> dict:
    """Run ``make_request(client, i)`` from N workers for a fixed time."""
    done = 0
    errors = 0
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(n: int) -> None:
            nonlocal done, errors
            i = n
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await make_request(client, i)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    errors += 1
                done += 1
                i += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": done,
        "errors": errors,
        "requests_per_s": round(done / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
        "p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)], 2) if latencies else None,
    }


def login(base: str) -> tuple[dict, str]:
    token = httpx.post(f"{base}/auth/user", json=LOGIN).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    app_id = httpx.get(f"{base}/applications", headers=headers).json()["items"][0]["id"]
    return headers, app_id


# ---------------------------------------------------------------- benchmarks


def bench_get_and_create(port: int, args: argparse.Namespace) -> dict:
    process = start_server(port, "--throttle", "off")
    try:
        base = f"http://127.0.0.1:{port}"
        headers, app_id = login(base)
        devices = httpx.get(f"{base}/applications/{app_id}/devices", headers=headers).json()
        device_url = f"{base}/applications/{app_id}/devices/{devices['items'][0]['id']}"
        results = {}
        if "get" in args.only:
            results["get_device"] = asyncio.run(
                hammer(
                    lambda c, i: c.get(device_url, headers=headers),
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                )
            )
        if "create" in args.only:
            results["create_device"] = asyncio.run(
                hammer(
                    lambda c, i: c.post(
                        f"{base}/applications/{app_id}/devices",
                        headers=headers,
                        json={"name": f"bench {i}", "tags": [{"key": "k", "value": "v"}]},
                    ),
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                )
            )
        return results
    finally:
        process.terminate()
        process.wait()


def bench_send_state(port: int, args: argparse.Namespace) -> dict:
    results = {}
    for mode in ("on", "off"):
        process = start_server(port, "--throttle", mode)
        try:
            base = f"http://127.0.0.1:{port}"
            headers, app_id = login(base)
            # Enough devices that no single one passes 30 reports in 15 s during the run.
            ids = [
                httpx.post(
                    f"{base}/applications/{app_id}/devices",
                    headers=headers,
                    json={
                        "name": f"state bench {n}",
                        "attributes": [{"name": "temperature", "dataType": "number"}],
                    },
                ).json()["id"]
                for n in range(args.state_devices)
            ]

            def send(c, i, ids=ids, base=base, headers=headers, app_id=app_id):
                device = ids[i % len(ids)]
                return c.post(
                    f"{base}/applications/{app_id}/devices/{device}/state",
                    headers=headers,
                    json={"data": {"temperature": i % 40}},
                )

            results[f"send_state_throttle_{mode}"] = asyncio.run(
                hammer(send, concurrency=args.concurrency, seconds=args.seconds)
            )
        finally:
            process.terminate()
            process.wait()
    on = results["send_state_throttle_on"]["requests_per_s"]
    off = results["send_state_throttle_off"]["requests_per_s"]
    results["throttle_cost_percent"] = round(100 * (off - on) / off, 1) if off else None
    return results


def bench_list_100k(args: argparse.Namespace) -> dict:
    from mockserver.app import create_app
    from mockserver.auth import Principal
    from mockserver.settings import Settings

    mock = create_app(Settings(throttle=False))
    app_id = mock.world_summary["applications"][0]["id"]
    user = mock.world_summary["logins"][0]["userId"]
    owner = Principal("user", user, frozenset(["all.User"]), user_id=user)
    started = time.perf_counter()
    classes = ("standalone", "gateway", "peripheral", "floating")
    for n in range(args.devices):
        mock.backend.devices.create(
            owner,
            app_id,
            {
                "name": f"sensor-{n:06d}",
                "deviceClass": classes[n % 4],
                "tags": [{"key": "floor", "value": str(n % 20)}],
            },
        )
    build_s = time.perf_counter() - started

    async def measure() -> dict:
        transport = httpx.ASGITransport(app=mock)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            token = (await client.post("/auth/user", json=LOGIN)).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            url = f"/applications/{app_id}/devices"
            queries = {
                "glob_filter_sorted_page": {
                    "filterField": "name",
                    "filter": "sensor-0*5",
                    "sortField": "name",
                    "sortDirection": "desc",
                    "page": "3",
                    "perPage": "50",
                },
                "no_filter_page_100": {
                    "sortField": "creationDate",
                    "page": "100",
                    "perPage": "100",
                },
                "advanced_query": {
                    "query[$and][0][deviceClass]": "gateway",
                    "query[$and][1][name][$startsWith]": "sensor-01",
                    "perPage": "25",
                },
            }
            out = {}
            for label, params in queries.items():
                await client.get(url, headers=headers, params=params)  # warm the ordering cache
                samples = []
                for _ in range(args.list_runs):
                    t0 = time.perf_counter()
                    response = await client.get(url, headers=headers, params=params)
                    samples.append(time.perf_counter() - t0)
                    assert response.status_code == 200, response.text
                samples.sort()
                out[label] = {
                    "median_ms": round(1000 * statistics.median(samples), 2),
                    "p95_ms": round(1000 * samples[int(len(samples) * 0.95)], 2),
                    "totalCount": response.json()["totalCount"],
                }
            return out

    return {"devices": args.devices, "build_s": round(build_s, 2), **asyncio.run(measure())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="get,create,sendstate,list100k")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--state-devices", type=int, default=400)
    parser.add_argument("--list-runs", type=int, default=30)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    results: dict = {}
    if args.only & {"get", "create"}:
        results.update(bench_get_and_create(args.port, args))
    if "sendstate" in args.only:
        results.update(bench_send_state(args.port, args))
    if "list100k" in args.only:
        results["list_100k"] = bench_list_100k(args)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
