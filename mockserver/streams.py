"""In-process publish/subscribe behind the mock's live streams.

Topics are plain strings (``state/<deviceId>``, ``command/<deviceId>``,
``mqtt/<applicationId>/<topic>``). Publishing is synchronous and never blocks
the request that publishes: each subscriber has its own bounded queue, and a
subscriber that stops reading loses its oldest messages rather than slowing
the platform down (as a real broker drops a slow consumer).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

QUEUE_SIZE = 1000


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        self.loop = asyncio.get_running_loop()

    def offer(self, event: str, payload: Any) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait((event, payload))


class Streams:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def publish(self, topic: str, event: str, payload: Any) -> int:
        """Deliver to every current subscriber of ``topic``; returns how many."""
        subscribers = self._subscribers.get(topic)
        if not subscribers:
            return 0
        for sub in list(subscribers):
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is sub.loop:
                sub.offer(event, payload)
            else:
                # Published from another thread (e.g. a sync handler in a worker).
                sub.loop.call_soon_threadsafe(sub.offer, event, payload)
        return len(subscribers)

    def subscriber_count(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))

    def topics(self, prefix: str = "") -> list[str]:
        """Topics that have subscribers now, e.g. to match MQTT wildcard filters."""
        return [topic for topic in list(self._subscribers) if topic.startswith(prefix)]

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        sub = Subscription()
        self._subscribers[topic].add(sub)
        try:
            yield sub
        finally:
            self._subscribers[topic].discard(sub)
            if not self._subscribers[topic]:
                del self._subscribers[topic]
