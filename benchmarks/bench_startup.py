"""Start-up cost of the mock, phase by phase, wall and CPU seconds.

    python benchmarks/bench_startup.py [--runs 7] [--cold-bytecode] [--only inprocess|serve]
                                       [--baseline /work/main/.venv/bin/python]

Two measurements, each run in a fresh interpreter so no cache of a previous
run flatters it:

* ``inprocess``: what a test does - import the kit, load the spec, build
  ``MockApp(Settings())`` and get the first answer through Starlette's test
  client. Printed per phase: imports, spec load, world build, Connexion
  ``add_api`` (platform and control API), the rest of the app's construction,
  the first answer; then ``app_ready`` (app construction plus first answer,
  the figure issue 10 tracks) and ``process_ready`` (from the first import),
  and how much of it was the garbage collector.
* ``serve``: what a user does - ``losant-mock serve`` (free ports for HTTP
  and the MQTT broker, otherwise the defaults) from process spawn to the
  first HTTP answer of ``GET /_mock/clock``, wall and the server process's
  CPU (from /proc).

``--baseline PYTHON`` measures a second installation of the kit (another
checkout's virtual environment, e.g. main's) in the same run, its runs
alternating with this one's, so both see the same load.

Medians over the runs, with min and max. CPU seconds beside wall seconds: on
a shared, loaded machine the wall figure includes the time the process
waited for a core. The load average is printed with the figures.

Byte code: Python caches compiled modules (``__pycache__``), so every start
of an installed kit but the first loads them compiled. This machine's
environment sets ``PYTHONDONTWRITEBYTECODE``, which would make every run
compile the kit's ~90 modules from source (~0.2 s); by default the benchmark
gives its runs a private cache directory (``PYTHONPYCACHEPREFIX``, a fresh
temporary directory, warmed by one uncounted run). ``--cold-bytecode`` keeps
the environment as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

INPROCESS = r"""
import gc, json, time, warnings
warnings.filterwarnings("ignore")
gc_time = [0.0]
_gc_started = [0.0]
def _on_gc(phase, info):
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        gc_time[0] += time.perf_counter() - _gc_started[0]
gc.callbacks.append(_on_gc)

def now():
    return time.perf_counter(), time.process_time()

def since(start):
    w, c = now()
    return w - start[0], c - start[1]

phases = {}
def add(name, wall_cpu):
    total = phases.setdefault(name, [0.0, 0.0])
    total[0] += wall_cpu[0]
    total[1] += wall_cpu[1]

def timed(owner, attribute, name):
    original = getattr(owner, attribute)
    def wrapper(*args, **kwargs):
        start = now()
        try:
            return original(*args, **kwargs)
        finally:
            add(name, since(start))
    setattr(owner, attribute, wrapper)

t0 = now()
import connexion
from losant_kit.mockserver.app import MockApp
from losant_kit.mockserver.control import Control
from losant_kit.mockserver.settings import Settings
from losant_kit.mockserver.spec import PlatformSpec
from starlette.testclient import TestClient
add("imports", since(t0))
timed(Control, "load_initial_world", "world_build")
timed(connexion.AsyncApp, "add_api", "add_api")

start = now()
spec = PlatformSpec()
add("spec_load", since(start))
app_start = now()
mock = MockApp(Settings(), spec)
construction = since(app_start)
add("rest_of_app", (construction[0] - phases["world_build"][0] - phases["add_api"][0],
                    construction[1] - phases["world_build"][1] - phases["add_api"][1]))
start = now()
with TestClient(mock) as client:
    assert client.get("/_mock/clock").status_code == 200
    add("first_answer", since(start))
    add("app_ready", since(app_start))
    add("process_ready", since(t0))
    phases["gc_in_process_ready"] = [gc_time[0], gc_time[0]]
print(json.dumps(phases))
"""

PHASE_ORDER = [
    "imports", "spec_load", "world_build", "add_api", "rest_of_app", "first_answer",
    "app_ready", "process_ready", "gc_in_process_ready",
]


def _env(cold: bool, cache_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    if not cold:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def _inprocess_run(python: str, env: dict[str, str]) -> dict[str, list[float]]:
    out = subprocess.run(
        [python, "-c", INPROCESS], capture_output=True, text=True, check=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve_run(python: str, env: dict[str, str]) -> dict[str, list[float]]:
    port = _free_port()
    cli = [python, "-m", "losant_kit.mockserver.cli", "serve",
           "--port", str(port), "--mqtt-port", str(_free_port())]
    started = time.perf_counter()
    server = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}/_mock/clock"
        limit = started + 120  # a generous bound, not a measurement
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(server.stderr.read().decode()) from None
                if time.perf_counter() > limit:
                    raise RuntimeError("losant-mock serve did not answer") from None
                time.sleep(0.005)
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"serve_ready": [wall, cpu]}


def _report(runs: list[dict[str, list[float]]], order: list[str]) -> None:
    for phase in order:
        if phase not in runs[0]:
            continue
        for index, kind in ((0, "wall"), (1, "cpu ")):
            values = [r[phase][index] for r in runs]
            print(
                f"{phase:20s} {kind} median {statistics.median(values):.3f} s  "
                f"(min {min(values):.3f}, max {max(values):.3f}, runs {len(values)})"
            )


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as load:
            return " ".join(load.read().split()[:3])
    except OSError:
        return "n/a"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold-bytecode", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE (compile the kit at every start)")
    parser.add_argument("--only", choices=["inprocess", "serve"])
    parser.add_argument("--baseline", metavar="PYTHON",
                        help="also measure the kit installed for this interpreter, alternating")
    args = parser.parse_args()
    targets = {"this checkout": sys.executable}
    if args.baseline:
        targets["baseline"] = args.baseline
    kinds = [(name, run) for name, run in (("inprocess", _inprocess_run), ("serve", _serve_run))
             if args.only in (None, name)]
    print(f"load average before: {_loadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-pycache-") as cache_dir:
        env = _env(args.cold_bytecode, cache_dir)
        results: dict[tuple[str, str], list[dict[str, list[float]]]] = {}
        if not args.cold_bytecode:  # warm the byte-code cache; not counted
            for python in targets.values():
                for _, run in kinds:
                    run(python, env)
        for _ in range(args.runs):
            for kind, run in kinds:
                for target, python in targets.items():
                    results.setdefault((target, kind), []).append(run(python, env))
    for (target, kind), runs in results.items():
        print(f"-- {target}: {kind}")
        _report(runs, [*PHASE_ORDER, "serve_ready"])
    print(f"load average after: {_loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
