"""The request journal: what the mock was asked and what it answered.

Like WireMock's request log: every platform request (not the ``/_mock``
control calls) with method, path, query, status, duration and the token's
subject, newest last, capped so a long-running mock does not grow forever.

Bodies are kept too, for the inspector page, but bounded: the first
``BODY_LIMIT`` bytes of each request and response body (a longer one is marked
truncated; an SSE stream is cut there too), and only for the newest
``BODIES_KEPT`` entries; older entries keep their summary only. That caps the
journal's body memory at about 2 x 8 KiB x 500 = 8 MiB.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from losant_kit.mockserver.clock import Clock, iso
from losant_kit.mockserver.dispatch import JOURNAL_KEY

CAPACITY = 10_000
BODY_LIMIT = 8 * 1024
BODIES_KEPT = 500
BODY_FIELDS = ("requestBody", "requestBodyTruncated", "responseBody", "responseBodyTruncated")


class Journal:
    def __init__(self, clock: Clock, capacity: int = CAPACITY) -> None:
        self.clock = clock
        self.entries: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._next_id = 1
        # An OrderedDict, not a dict: dropping the oldest is O(1) (a dict used as
        # a FIFO rescans its deleted slots on every next(iter(...))).
        self._bodies: OrderedDict[int, _Bodies] = OrderedDict()

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
        bodies = self._keep_bodies(entry["id"])

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                bodies.request.add(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
            elif message["type"] == "http.response.body":
                bodies.response.add(message.get("body", b""))
            await send(message)

        self.entries.append(entry)
        await app(scope, recording_receive, recording_send)

    def _keep_bodies(self, entry_id: int) -> _Bodies:
        bodies = self._bodies[entry_id] = _Bodies()
        while len(self._bodies) > BODIES_KEPT:
            self._bodies.popitem(last=False)
        return bodies

    def get(self, entry_id: int) -> dict[str, Any] | None:
        """One entry with the bodies it still has (None for older entries)."""
        for entry in reversed(self.entries):
            if entry["id"] == entry_id:
                bodies = self._bodies.get(entry_id)
                if bodies is None:
                    return {**entry, **dict.fromkeys(BODY_FIELDS)}
                return {**entry, **bodies.request.describe("request"),
                        **bodies.response.describe("response")}
            if entry["id"] < entry_id:
                break
        return None

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
        since: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries oldest first; ``path`` matches as a prefix or a ``*`` glob;
        ``since`` keeps entries with a greater id (what a live view has not seen)."""
        from losant_kit.mockserver.list_filters import glob_matcher

        matches_path = None
        if path:
            matches_path = glob_matcher(path if "*" in path else path + "*")
        found = [
            e
            for e in self.entries
            if (since is None or e["id"] > since)
            and (matches_path is None or matches_path(e["path"]))
            and (status is None or e["status"] == status)
            and (method is None or e["method"] == method.upper())
        ]
        return found[-limit:] if limit else found

    def clear(self) -> int:
        count = len(self.entries)
        self.entries.clear()
        self._bodies.clear()
        return count


class _Body:
    """The first BODY_LIMIT bytes of a body, and whether there was more."""

    __slots__ = ("chunks", "kept", "truncated")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.kept = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        if not chunk or self.truncated:
            return
        room = BODY_LIMIT - self.kept
        if len(chunk) > room:
            chunk = chunk[:room]
            self.truncated = True
        self.chunks.append(chunk)
        self.kept += len(chunk)

    def describe(self, side: str) -> dict[str, Any]:
        text = b"".join(self.chunks).decode("utf-8", errors="replace") if self.kept else None
        return {f"{side}Body": text, f"{side}BodyTruncated": self.truncated}


class _Bodies:
    __slots__ = ("request", "response")

    def __init__(self) -> None:
        self.request = _Body()
        self.response = _Body()
