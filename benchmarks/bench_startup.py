"""Start-up cost of the mock: spec loading plus Connexion's add_api (and the rest).

    python benchmarks/bench_startup.py [--runs 5]

Each run happens in a fresh interpreter so import caches do not flatter it.
Prints the median of each phase in seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PHASES = r"""
import json, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
import connexion  # noqa: F401
from losant_kit.mockserver.app import MockApp, _trusted_spec
from losant_kit.mockserver.settings import Settings
from losant_kit.mockserver.spec import PlatformSpec
t1 = time.perf_counter()
spec = PlatformSpec()
t2 = time.perf_counter()
from connexion import AsyncApp
from connexion.resolver import Resolver
app = AsyncApp(__name__)
with _trusted_spec():
    app.add_api(spec.for_connexion(),
                resolver=Resolver(function_resolver=lambda op: lambda **k: None))
t3 = time.perf_counter()
c3 = time.process_time()
mock = MockApp(Settings(), spec)
from starlette.testclient import TestClient
with TestClient(mock) as client:
    client.get("/_mock/clock")
t5 = time.perf_counter()
c5 = time.process_time()
# CPU seconds beside wall seconds: on a shared, loaded machine the wall figure
# includes the time the process waited for a core.
print(json.dumps({"imports": t1 - t0, "spec_load": t2 - t1, "add_api": t3 - t2,
                  "spec_load_plus_add_api": t3 - t1, "whole_app_ready": t5 - t3,
                  "whole_app_ready_cpu": c5 - c3}))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, "-c", PHASES], capture_output=True, text=True, check=True
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    for phase in runs[0]:
        values = [r[phase] for r in runs]
        print(
            f"{phase:24s} median {statistics.median(values):.3f} s  "
            f"(min {min(values):.3f}, max {max(values):.3f}, runs {len(values)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
