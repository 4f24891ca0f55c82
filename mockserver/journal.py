"""The request journal: what the mock was asked and what it answered.

Like WireMock's request log: every platform request (not the ``/_mock``
control calls) with method, path, query, status, duration and the token's
subject, newest last, capped so a long-running mock does not grow forever.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from losant_kit.mockserver.clock import Clock, iso
from losant_kit.mockserver.dispatch import JOURNAL_KEY

CAPACITY = 10_000


class Journal:
    def __init__(self, clock: Clock, capacity: int = CAPACITY) -> None:
        self.clock = clock
        self.entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._next_id = 1

    async def wrap(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_mock"):
            await app(scope, receive, send)
            return
        ident = next(self._ids)
        self._next_id = ident + 1
        entry: dict[str, Any] = {
            "id": ident,
            "time": iso(self.clock.now()),
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": None,
            "subject": None,
        }
        scope[JOURNAL_KEY] = entry
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
            await send(message)

        self.entries.append(entry)
        await app(scope, receive, recording_send)

    @property
    def next_id(self) -> int:
        """The id the next entry will get (without taking it)."""
        return self._next_id

    def resume(self, entries: Iterable[dict[str, Any]]) -> None:
        """Continue a stored journal: its entries first, ids going on after them."""
        self.entries.extend(entries)
        last = self.entries[-1]["id"] if self.entries else 0
        self._ids = itertools.count(last + 1)
        self._next_id = last + 1

    def query(
        self,
        *,
        path: str | None = None,
        status: int | None = None,
        method: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries oldest first; ``path`` matches as a prefix or a ``*`` glob."""
        from losant_kit.mockserver.query import glob_matcher

        matches_path = None
        if path:
            matches_path = glob_matcher(path if "*" in path else path + "*")
        found = [
            e
            for e in self.entries
            if (matches_path is None or matches_path(e["path"]))
            and (status is None or e["status"] == status)
            and (method is None or e["method"] == method.upper())
        ]
        return found[-limit:] if limit else found

    def clear(self) -> int:
        count = len(self.entries)
        self.entries.clear()
        return count
