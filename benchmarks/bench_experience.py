"""Benchmark the experience runtime (full ASGI stack, in process).

    python benchmarks/bench_experience.py [--devices 10000] [--runs 200]

* ``device_get``: a tenant user's ``GET /api/devices/{deviceId}`` (token
  check, route match, group tree, tenancy check over every device of the
  application, reply), with ``--devices`` devices split over 10 tenant tags;
* ``login``: ``POST /api/auth`` (password hash, token signing);
* ``claims_ns``: what the runtime's "is this request mine?" check adds to
  every platform API request (nanoseconds per call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import timeit

import httpx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.auth import Principal
    from losant_kit.mockserver.settings import Settings

    mock = create_app(Settings(throttle=False))
    backend = mock.backend
    user_id = mock.world_summary["logins"][0]["userId"]
    owner = Principal("user", user_id, frozenset(["all.User"]), user_id=user_id)
    app_id = backend.applications.create(owner, {"name": "Bench"})["id"]
    started = time.perf_counter()
    devices = [
        backend.devices.create(
            owner, app_id, {"name": f"d{n}", "tags": [{"key": "tenant", "value": str(n % 10)}]}
        )["id"]
        for n in range(args.devices)
    ]
    groups = [
        backend.experience_groups.create(
            owner, app_id, {"name": f"t{t}", "deviceTags": [{"key": "tenant", "value": str(t)}]}
        )["id"]
        for t in range(10)
    ]
    backend.experience_users.create(
        owner,
        app_id,
        {"email": "b@example.com", "password": "bench-pass", "experienceGroupIds": [groups[0]]},
    )
    for method, route, reply in (
        ("post", "/api/auth", "auth.login"),
        ("get", "/api/devices/{deviceId}", "device.get"),
    ):
        backend.experience_endpoints.create(
            owner,
            app_id,
            {
                "method": method,
                "route": route,
                "access": "public" if reply == "auth.login" else "authenticated",
                "endpointTags": {"mockReply": reply},
            },
        )
    build_s = time.perf_counter() - started
    host = {"Host": f"{app_id}.localhost"}

    async def measure() -> dict:
        transport = httpx.ASGITransport(app=mock)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            out = {}
            body = {"email": "b@example.com", "password": "bench-pass"}

            async def login() -> httpx.Response:
                return await client.post("/api/auth", headers=host, json=body)

            token = (await login()).json()["token"]
            headers = {**host, "Authorization": f"Bearer {token}"}

            async def device_get() -> httpx.Response:
                return await client.get(f"/api/devices/{devices[0]}", headers=headers)

            for label, call in (("login", login), ("device_get", device_get)):
                samples = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    response = await call()
                    samples.append(time.perf_counter() - t0)
                    assert response.status_code == 200, response.text
                samples.sort()
                out[label] = {
                    "median_ms": round(1000 * statistics.median(samples), 2),
                    "p95_ms": round(1000 * samples[int(len(samples) * 0.95)], 2),
                }
            return out

    scope = {
        "type": "http",
        "path": f"/applications/{app_id}/devices",
        "headers": [(b"host", b"127.0.0.1:8080"), (b"authorization", b"Bearer x")],
    }
    number = 200_000
    claims_ns = timeit.timeit(lambda: mock.experience.claims(scope), number=number) / number * 1e9
    result = {
        "devices": args.devices,
        "build_s": round(build_s, 2),
        **asyncio.run(measure()),
        "claims_ns": round(claims_ns),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
