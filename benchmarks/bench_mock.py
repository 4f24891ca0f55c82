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
  in one application (through the whole ASGI stack, no network), median and p95: a
  glob name filter, no filter, an advanced class-and-prefix query, an advanced tag
  query and a tagFilter;
* ``timeseries1m``: latency of ``data.timeSeriesQuery`` (MEAN, 1-hour resolution,
  30 days) over one device holding 1,000,000 stored points, through the whole ASGI
  stack.

Load comes from ``wrk`` when it is installed (``apt-get install wrk``; 2 threads), else
from this process (asyncio + httpx, much slower than the server, so its figures are a
floor). Either way the generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx

warnings.filterwarnings("ignore")
LOGIN = {"email": "dev@example.com", "password": "losant-mock"}


# ---------------------------------------------------------------- helpers


def start_server(port: int, *extra: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "losant_kit.mockserver", "serve", "--port", str(port),
         "--mqtt", "off", *extra],
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


def wrk(base: str, paths: list[str], *, method: str, headers: dict, body: str | None,
        concurrency: int, seconds: float) -> dict:
    """Drive the server with wrk, cycling through ``paths``; parse its summary."""
    lua = [f"wrk.method = {json.dumps(method)}"]
    lua += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    if body is not None:
        lua.append(f"wrk.body = {json.dumps(body)}")
        lua.append('wrk.headers["Content-Type"] = "application/json"')
    lua.append("local paths = {" + ",".join(json.dumps(p) for p in paths) + "}")
    lua.append("local n = 0")
    lua.append("request = function() n = n + 1 "
               "return wrk.format(nil, paths[(n % #paths) + 1]) end")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", "-s", script.name,
         base], capture_output=True, text=True, check=True).stdout
    Path(script.name).unlink()

    def ms(label: str) -> float | None:
        found = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if not found:
            return None
        value, unit = float(found.group(1)), found.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": requests, "errors": int(errors.group(1)) if errors else 0,
            "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": ms("50%"), "p90_ms": ms("90%"), "p99_ms": ms("99%"), "generator": "wrk"}


def load(base: str, paths: list[str], *, method: str, headers: dict, body: dict | None,
         args: argparse.Namespace) -> dict:
    if shutil.which("wrk"):
        return wrk(base, paths, method=method, headers=headers,
                   body=json.dumps(body) if body is not None else None,
                   concurrency=args.concurrency, seconds=args.seconds)

    async def one(client: httpx.AsyncClient, i: int) -> httpx.Response:
        return await client.request(method, base + paths[i % len(paths)], headers=headers,
                                     json=body)

    result = asyncio.run(hammer(one, concurrency=args.concurrency, seconds=args.seconds))
    return {**result, "generator": "httpx"}


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
            results["get_device"] = load(base, [device_url.removeprefix(base)], method="GET",
                                         headers=headers, body=None, args=args)
        if "create" in args.only:
            results["create_device"] = load(
                base, [f"/applications/{app_id}/devices"], method="POST", headers=headers,
                body={"name": "bench device", "tags": [{"key": "k", "value": "v"}]}, args=args)
        return results
    finally:
        process.terminate()
        process.wait()


def bench_send_state(port: int, args: argparse.Namespace) -> dict:
    """sendState with throttling on and off: two servers, alternating rounds, medians.

    Alternating (on, off, on, off, ...) in one run keeps a busy machine from
    favouring either mode.
    """
    servers = {"on": start_server(port, "--throttle", "on"),
               "off": start_server(port + 1, "--throttle", "off")}
    try:
        targets = {}
        for offset, mode in enumerate(servers):
            base = f"http://127.0.0.1:{port + offset}"
            headers, app_id = login(base)
            # Enough devices that no single one passes 30 reports in 15 s during a round.
            ids = [
                httpx.post(f"{base}/applications/{app_id}/devices", headers=headers,
                           json={"name": f"state bench {n}",
                                 "attributes": [{"name": "temperature", "dataType": "number"}]},
                           ).json()["id"]
                for n in range(args.state_devices)
            ]
            targets[mode] = (base, headers,
                             [f"/applications/{app_id}/devices/{d}/state" for d in ids])
        rounds: dict[str, list[dict]] = {"on": [], "off": []}
        for _ in range(args.rounds):
            for mode, (base, headers, paths) in targets.items():
                rounds[mode].append(load(base, paths, method="POST", headers=headers,
                                         body={"data": {"temperature": 21.5}}, args=args))
    finally:
        for process in servers.values():
            process.terminate()
            process.wait()
    results: dict = {}
    for mode, runs in rounds.items():
        rates = sorted(r["requests_per_s"] for r in runs)
        results[f"send_state_throttle_{mode}"] = {
            "requests_per_s_median": statistics.median(rates),
            "requests_per_s_rounds": rates,
            "errors": sum(r["errors"] for r in runs),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in runs if r["p50_ms"]),
        }
    on = results["send_state_throttle_on"]["requests_per_s_median"]
    off = results["send_state_throttle_off"]["requests_per_s_median"]
    results["throttle_cost_percent"] = round(100 * (off - on) / off, 1) if off else None
    return results


def bench_list_100k(args: argparse.Namespace) -> dict:
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.auth import Principal
    from losant_kit.mockserver.settings import Settings

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
                "advanced_tag_query": {
                    "query[tags][$tagKey]": "floor",
                    "query[tags][$tagValue]": "7",
                    "perPage": "25",
                },
                "tag_filter": {
                    "tagFilter[0][key]": "floor",
                    "tagFilter[0][value]": "7",
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


def bench_time_series_1m(args: argparse.Namespace) -> dict:
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    mock = create_app(Settings(throttle=False))
    app_id = mock.world_summary["applications"][0]["id"]
    device_id = mock.world_summary["applications"][0]["sampleDeviceId"]
    end_ms = mock.backend.clock.now_ms()
    start_ms = end_ms - 30 * 86_400_000
    step = (end_ms - start_ms) / args.points
    started = time.perf_counter()
    # Seeded straight into the store: a million HTTP reports would only time the ingest.
    for i in range(args.points):
        mock.backend.series.record(device_id, start_ms + int(i * step), {"temperature": i % 40})
    build_s = time.perf_counter() - started

    async def measure() -> dict:
        transport = httpx.ASGITransport(app=mock)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            token = (await client.post("/auth/user", json=LOGIN)).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            body = {"start": start_ms, "end": end_ms, "resolution": 3_600_000,
                    "aggregation": "MEAN", "deviceIds": [device_id],
                    "attributes": ["temperature"]}
            url = f"/applications/{app_id}/data/time-series-query"
            samples = []
            for _ in range(args.list_runs):
                t0 = time.perf_counter()
                response = await client.post(url, headers=headers, json=body)
                samples.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
            points = len(response.json()["devices"][device_id]["points"])
            samples.sort()
            return {"median_ms": round(1000 * statistics.median(samples), 2),
                    "p95_ms": round(1000 * samples[int(len(samples) * 0.95)], 2),
                    "buckets": points}

    return {"points": args.points, "build_s": round(build_s, 2), **asyncio.run(measure())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="get,create,sendstate,list100k,timeseries1m")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--state-devices", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7, help="sendState rounds per mode")
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
    if "timeseries1m" in args.only:
        results["timeseries_1m"] = bench_time_series_1m(args)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
