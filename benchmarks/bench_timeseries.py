"""Benchmark of the state store: a million reports for one device over 30 days.

Run: ``.venv/bin/python benchmarks/bench_timeseries.py [--points N] [--runs N]``.
Not a test: it prints figures. The targets it checks against are the ones the
store was built for - a MEAN / 1 h / 30 d timeSeriesQuery well under 200 ms,
and single-report ingest cheap enough for > 5,000 sendState/s end to end.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time

from losant_kit.mockserver.timeseries import TimeSeriesStore

DEVICE = "575ecf887ae143cd83dc4aa2"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
END_MS = 1_700_000_000_000  # a fixed "now" so runs are comparable
START_MS = END_MS - 30 * DAY_MS
QUERY_TARGET_S = 0.200


def build(store: TimeSeriesStore, points: int) -> float:
    """Fill one device with evenly spaced numeric reports; return the seconds taken."""
    step = (END_MS - START_MS) / points
    rng = random.Random(1)
    began = time.perf_counter()
    for i in range(points):
        store.record(DEVICE, START_MS + int(i * step), {"temperature": 20 + rng.random() * 5})
    return time.perf_counter() - began


def time_query(store: TimeSeriesStore, aggregation: object, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        store.time_series(
            [DEVICE],
            start_ms=START_MS,
            end_ms=END_MS,
            resolution_ms=HOUR_MS,
            aggregation=aggregation,
            attributes=["temperature"],
        )
        timings.append(time.perf_counter() - began)
    return timings


def ingest_rate(store: TimeSeriesStore, reports: int) -> float:
    """Single-report record() calls per second into the already full series."""
    began = time.perf_counter()
    for i in range(reports):
        store.record(DEVICE, END_MS + i, {"temperature": 21.5})
    return reports / (time.perf_counter() - began)


def out_of_order_rate(store: TimeSeriesStore, reports: int) -> float:
    """record() calls per second when every report is older than the newest one."""
    began = time.perf_counter()
    for i in range(reports):
        store.record(DEVICE, START_MS + 7 * i, {"temperature": 19.0})
    return reports / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    store = TimeSeriesStore()
    gc.collect()
    build_s = build(store, args.points)
    series = store.series(DEVICE)
    assert series is not None
    print(f"built {len(series):,} points in {build_s:.2f} s ({len(series) / build_s:,.0f}/s)")
    print(f"memory held by the arrays: {series.nbytes / 2**20:.1f} MiB")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"process peak RSS so far: {peak_mib:.0f} MiB (Python + numpy included)")

    first = time_query(store, "MEAN", 1)[0]
    mean = statistics.median(time_query(store, "MEAN", args.runs))
    verdict = "OK" if mean < QUERY_TARGET_S else "TOO SLOW"
    print(
        f"MEAN / 1 h / 30 d query: median {mean * 1000:.1f} ms over {args.runs} runs "
        f"(first {first * 1000:.1f} ms) [{verdict}, target < {QUERY_TARGET_S * 1000:.0f} ms]"
    )
    for aggregation in (
        "COUNT",
        "MAX",
        "LAST",
        "STD_DEV",
        "MEDIAN",
        {"type": "TIMEATVALUE", "options": {"value": 21.5}},
    ):
        label = aggregation if isinstance(aggregation, str) else "TIMEATVALUE"
        taken = statistics.median(time_query(store, aggregation, 5))
        print(f"  {label:<12} {taken * 1000:7.1f} ms")

    rate = ingest_rate(store, 100_000)
    print(f"single-report ingest (in order): {rate:,.0f}/s ({1e6 / rate:.2f} us per report)")
    late = out_of_order_rate(store, 10_000)
    print(f"single-report ingest (out of order): {late:,.0f}/s ({1e6 / late:.2f} us per report)")
    began = time.perf_counter()
    time_query(store, "MEAN", 1)
    print(
        f"first query after those late reports (includes the re-sort): "
        f"{(time.perf_counter() - began) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
