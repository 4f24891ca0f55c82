"""What the browser-facing layers cost per request, in-process (no network, no load generator).

    python benchmarks/bench_browser_layers.py [--requests 2000] [--rounds 7]

Drives the whole ASGI app with ``GET /applications/{id}/devices/{id}`` and
prints the median microseconds per request over interleaved rounds for:

* ``plain``: CORS off (``--cors off``), no Origin header;
* ``cors``: CORS on, the request carries an Origin (headers added to the answer);
* ``fault-miss``: plus a fault rule on another operation (the router runs, nothing fires);
* ``journal``, ``cors-layer``, ``fault-layer``: each wrapper alone around a trivial
  app (bodies captured; an Origin echoed; one rule that does not match), against
  the trivial app itself (``trivial``): the layer's own cost, free of the noise of
  a full request.

In-process figures are steadier than wrk's on a shared machine, and these
layers add per-request work only, so this is where their cost shows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import warnings

warnings.filterwarnings("ignore")

from losant_kit.mockserver.app import create_app  # noqa: E402
from losant_kit.mockserver.clock import Clock  # noqa: E402
from losant_kit.mockserver.cors import CorsLayer  # noqa: E402
from losant_kit.mockserver.faults import FaultLayer, Faults  # noqa: E402
from losant_kit.mockserver.journal import Journal  # noqa: E402
from losant_kit.mockserver.settings import Settings  # noqa: E402


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8080)}


async def _drive(app, path: str, headers, count: int) -> float:
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(count):
        await app(_scope(path, list(headers)), receive, send)
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed / count * 1e6


async def _trivial(scope, receive, send):
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok": true}' * 50})


async def main(args: argparse.Namespace) -> None:
    plain = create_app(Settings(cors=False, throttle=False))
    cors = create_app(Settings(throttle=False))
    faulted = create_app(Settings(throttle=False))
    faulted.faults.add({"match": {"operationId": "applications.get"}, "status": 503})
    summary = plain.world_summary["applications"][0]  # same seed: same world in each
    from starlette.testclient import TestClient

    # Each app signs with its own random secret: log in to each.
    tokens = {}
    for name, app in (("plain", plain), ("cors", cors), ("fault-miss", faulted)):
        with TestClient(app) as client:
            tokens[name] = client.post("/auth/user", json={
                "email": "dev@example.com", "password": "losant-mock"}).json()["token"]
    path = f"/applications/{summary['id']}/devices/{summary['sampleDeviceId']}"
    origin = [(b"origin", b"http://localhost:5173")]
    cases = {
        "plain": (plain, []),
        "cors": (cors, origin),
        "fault-miss": (faulted, origin),
    }
    journal = Journal(Clock())

    async def journaled(scope, receive, send):
        await journal.wrap(_trivial, scope, receive, send)

    cors_layer = CorsLayer(_trivial)
    faults = Faults(plain.spec, 1)
    faults.add({"match": {"operationId": "applications.get"}, "status": 503})
    fault_layer = FaultLayer(_trivial, faults)
    layers = {"trivial": (_trivial, []), "journal": (journaled, []),
              "cors-layer": (cors_layer, origin), "fault-layer": (fault_layer, [])}
    results: dict[str, list[float]] = {name: [] for name in [*cases, *layers]}
    for _ in range(args.rounds):
        for name, (app, extra) in cases.items():
            headers = [(b"authorization", f"Bearer {tokens[name]}".encode()), *extra]
            results[name].append(await _drive(app, path, headers, args.requests))
        for name, (layer, extra) in layers.items():
            results[name].append(await _drive(layer, path, extra, args.requests * 5))
    for name, values in results.items():
        print(f"{name:11s} {statistics.median(values):8.1f} us/request "
              f"(rounds {min(values):.1f}-{max(values):.1f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    asyncio.run(main(parser.parse_args()))
