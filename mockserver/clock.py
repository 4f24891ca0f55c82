"""The one clock every part of the mock reads.

Real time by default; tests and the control API move it instead of sleeping.
An offset is kept rather than a frozen instant so that time keeps flowing
after an ``advance`` (a client polling a job still sees it progress).
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

from losant_kit.mockserver.times import iso_from_ms


class Clock:
    """Wall-clock time plus an adjustable offset, in seconds since the epoch."""

    def __init__(self, source=time.time) -> None:
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._source() + self._offset

    @property
    def offset(self) -> float:
        """Seconds the clock runs ahead of real time."""
        return self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    def advance(self, seconds: float) -> float:
        """Move the clock forward (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, when: datetime) -> float:
        """Jump to an absolute instant; time flows on from there."""
        with self._lock:
            self._offset = when.timestamp() - self._source()
        return self.now()

    def set_offset(self, seconds: float) -> None:
        """Run ``seconds`` ahead of real time (a resumed mock's stored offset)."""
        with self._lock:
            self._offset = seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


def iso(ts: float) -> str:
    """Seconds since the epoch as the platform writes dates: ISO-8601, UTC, milliseconds."""
    return iso_from_ms(math.floor(ts * 1000))
