"""A small client-side rate limiter, so a live run stays under the platform's limits.

Two layers: one token bucket for every request the suites send (a steady
``rate`` per second with a small burst), and, for operations the spec marks
with a window throttle (``x-throttle``: "30 calls in 15 s per device"), a
sliding window per (bucket, key) that keeps the suites' own calls a margin
below the published limit. Against the mock the limiter is off: the throttle
suite wants to reach the limits on purpose.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from losant_kit.contracts.spec_view import SpecOperation


class RateLimiter:
    def __init__(self, rate: float = 4.0, burst: int = 4, *, margin: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.burst = burst
        self.margin = margin  # use at most this share of a published window limit
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, operation: SpecOperation | None = None, key: str = "-") -> None:
        """Block until a request (to ``operation``, counted per ``key``) may go out."""
        while True:
            with self._lock:
                wait = max(self._bucket_wait(), self._window_wait(operation, key))
                if wait <= 0:
                    self._take(operation, key)
                    return
            self._sleep(wait)

    def _bucket_wait(self) -> float:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def _window(self, operation: SpecOperation | None, key: str):
        throttle = operation.throttle if operation else None
        if not throttle or throttle.get("kind") not in ("window", "interval"):
            return None, 0, 0.0
        limit = 1 if throttle["kind"] == "interval" else int(throttle["limit"])
        allowed = max(1, int(limit * self.margin))
        bucket = throttle.get("bucket") or operation.id
        times = self._windows.setdefault((bucket, key), deque())
        return times, allowed, float(throttle["window_s"])

    def _window_wait(self, operation: SpecOperation | None, key: str) -> float:
        times, allowed, window_s = self._window(operation, key)
        if times is None:
            return 0.0
        now = self._clock()
        while times and times[0] <= now - window_s:
            times.popleft()
        return 0.0 if len(times) < allowed else times[0] + window_s - now

    def _take(self, operation: SpecOperation | None, key: str) -> None:
        self._tokens -= 1
        times, _, _ = self._window(operation, key)
        if times is not None:
            times.append(self._clock())
