"""Benchmark what serving an API file (``--experience FILE``) adds to an experience request.

    python benchmarks/bench_experience_api.py [--runs 300]

Two mocks side by side in one run, same seed and world: the default world's
own endpoints, and the same world serving
``fixtures/experiences/equipment-monitor.yaml`` (request checks with
Connexion's validators, reply checks against the file). For each of
``GET /api/devices/{deviceId}`` and ``GET /api/devices/{deviceId}/data`` as a
tenant user (full ASGI stack, in process): median and p95 wall time, and CPU
time per request (``time.process_time``, independent of the machine's load).
Requests alternate between the two mocks so both see the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import httpx

API_FILE = Path(__file__).resolve().parents[1] / "fixtures/experiences/equipment-monitor.yaml"
PREFIX = "/_experience/equipment-monitor"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()

    from losant_kit.fixtures.experiences import TENANT_LOGINS
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    mocks = {
        "plain": create_app(Settings(seed=1, throttle=False)),
        "file": create_app(Settings(seed=1, throttle=False,
                                    experiences=((str(API_FILE), None),))),
    }
    device = mocks["plain"].world_summary["experienceUsers"][0]["deviceIds"][0]
    email, password = TENANT_LOGINS[0]
    paths = {"device_get": f"{PREFIX}/api/devices/{device}",
             "device_data": f"{PREFIX}/api/devices/{device}/data?time_range=24h"}

    async def measure() -> dict:
        clients, headers = {}, {}
        for name, mock in mocks.items():
            clients[name] = httpx.AsyncClient(transport=httpx.ASGITransport(app=mock),
                                              base_url="http://127.0.0.1")
            login = await clients[name].post(f"{PREFIX}/api/auth",
                                             json={"email": email, "password": password})
            headers[name] = {"Authorization": f"Bearer {login.json()['token']}"}
        out: dict = {}
        for label, path in paths.items():
            wall: dict[str, list[float]] = {name: [] for name in mocks}
            cpu: dict[str, float] = {name: 0.0 for name in mocks}
            for _ in range(args.runs):
                for name in mocks:  # alternate, so both see the same load
                    c0, t0 = time.process_time(), time.perf_counter()
                    response = await clients[name].get(path, headers=headers[name])
                    wall[name].append(time.perf_counter() - t0)
                    cpu[name] += time.process_time() - c0
                    assert response.status_code == 200, response.text
            for name in mocks:
                samples = sorted(wall[name])
                out[f"{label}_{name}"] = {
                    "median_ms": round(1000 * statistics.median(samples), 3),
                    "p95_ms": round(1000 * samples[int(len(samples) * 0.95)], 3),
                    "cpu_ms": round(1000 * cpu[name] / args.runs, 3),
                }
        for client in clients.values():
            await client.aclose()
        return out

    result = {"runs": args.runs, **asyncio.run(measure()),
              "loadavg": os.getloadavg()[0]}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
