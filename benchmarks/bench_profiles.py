"""CPU cost per request of the Losant hot path and of the Ioto mock, in-process (ASGI).

    python benchmarks/bench_profiles.py [--requests 3000]

Sends the same requests in a fixed order through the whole ASGI stack (no
socket) and prints CPU microseconds per request (``time.process_time``, not
disturbed by other processes) beside wall microseconds:

* ``losant get device``: GET /applications/{id}/devices/{id} with a user token
  (the fast lane; run it with another tree's interpreter for a baseline, e.g.
  ``/work/main/.venv/bin/python benchmarks/bench_profiles.py --only losant``);
* ``ioto device find``: POST /tok/device/find with the CloudAPI token;
* ``ioto generic find``: POST /generic/find {_type: Store} with a login token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import warnings
from typing import Any

warnings.filterwarnings("ignore")


async def _drive(app: Any, method: str, path: str, headers: dict[str, str], body: bytes,
                 n: int) -> tuple[float, float]:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if body:
        raw_headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]
    statuses: list[int] = []

    async def one() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        path_only, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "http", "path": path_only,
                 "raw_path": path_only.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": raw_headers, "client": ("127.0.0.1", 1),
                 "server": ("testserver", 80)}
        await app(scope, receive, send)

    for _ in range(50):  # warm-up: caches, lazy imports
        await one()
    statuses.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        await one()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if set(statuses) != {200}:
        raise SystemExit(f"{method} {path}: statuses {sorted(set(statuses))}")
    return cpu / n * 1e6, wall / n * 1e6


def losant(n: int) -> dict[str, tuple[float, float]]:
    from starlette.testclient import TestClient

    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    app = create_app(Settings(seed=1, throttle=False))
    with TestClient(app) as client:
        token = client.post("/auth/user", json={"email": "dev@example.com",
                                                "password": "losant-mock"}).json()["token"]
    first = app.world_summary["applications"][0]
    devices = app.backend.store.children("devices", first["id"])
    device = next(iter(devices))["id"]
    path = f"/applications/{first['id']}/devices/{device}"
    auth = {"Authorization": f"Bearer {token}"}
    return {"losant get device": asyncio.run(_drive(app, "GET", path, auth, b"", n))}


def ioto(n: int) -> dict[str, tuple[float, float]]:
    from losant_kit.mockserver.app import create_app
    from losant_kit.mockserver.settings import Settings

    app = create_app(Settings(seed=1, platform="ioto"))
    world = app.world_summary
    cloud = {"Authorization": world["cloudApiTokens"][0]["token"]}
    login = {"Authorization": world["logins"][0]["token"], "Origin": "https://app.ioto.me"}
    return {
        "ioto device find": asyncio.run(_drive(app, "POST", "/tok/device/find", cloud,
                                               b"{}", n)),
        "ioto generic find": asyncio.run(_drive(app, "POST", "/generic/find?limit=10", login,
                                                json.dumps({"_type": "Store"}).encode(), n)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--only", choices=["losant", "ioto"])
    args = parser.parse_args()
    results: dict[str, tuple[float, float]] = {}
    if args.only in (None, "losant"):
        results.update(losant(args.requests))
    if args.only in (None, "ioto"):
        results.update(ioto(args.requests))
    with open("/proc/loadavg") as load:
        print(f"load average: {load.read().split()[0]}")
    for name, (cpu, wall) in results.items():
        print(f"{name:20} {cpu:8.1f} us CPU/request  {wall:8.1f} us wall/request")


if __name__ == "__main__":
    main()
