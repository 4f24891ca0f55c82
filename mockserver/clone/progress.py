"""A one-line progress bar on stderr: devices done / total, requests, elapsed time.

Hand-written rather than a library (tqdm, rich): it is one line of text,
redrawn at most ten times a second, and plain lines when stderr is not a
terminal (CI logs) - every 10 % instead of redraws.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, total: int, *, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._drawn = 0.0
        self._decile = -1

    def update(self, done: int, requests: int) -> None:
        now = time.monotonic()
        fraction = done / self.total if self.total else 1.0
        if self.tty:
            if now - self._drawn < 0.1 and done < self.total:
                return
            self._drawn = now
            filled = int(WIDTH * fraction)
            bar = "#" * filled + "-" * (WIDTH - filled)
            self.stream.write(f"\r  devices [{bar}] {done}/{self.total}  "
                              f"{requests} requests  {now - self.started:.0f} s")
        else:
            decile = int(fraction * 10)
            if decile == self._decile:
                return
            self._decile = decile
            self.stream.write(f"  devices {done}/{self.total}  {requests} requests  "
                              f"{now - self.started:.0f} s\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
