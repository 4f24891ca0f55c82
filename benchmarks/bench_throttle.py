"""Cost of one throttle check on the sendState hot path.

    python benchmarks/bench_throttle.py

Prints microseconds per accepted ``acquire_window`` call, on one key and spread
over 10,000 device keys (the window never fills, as in a healthy fleet).
"""

from __future__ import annotations

import timeit

from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.spec import PlatformSpec
from losant_kit.mockserver.throttle import Throttles


def main() -> int:
    ext = PlatformSpec().operations["device.sendState"].throttle
    calls = 200_000
    clock_now = [0.0]

    def tick() -> float:
        clock_now[0] += 1.0  # one call a second per key: never refused
        return clock_now[0]

    for label, keys in (("one key", 1), ("10,000 keys", 10_000)):
        throttles = Throttles(Clock(source=tick))
        rule = throttles.rule_for("device.sendState", ext)
        names = [f"device-{n}" for n in range(keys)]
        counter = iter(range(calls * 2))
        seconds = timeit.timeit(
            lambda names=names, throttles=throttles, rule=rule, counter=counter:
            throttles.acquire_window(rule, names[next(counter) % len(names)]),
            number=calls)
        print(f"{label:12s} {seconds / calls * 1e6:.2f} µs per accepted call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
