"""Server-Sent Events: one pub/sub topic served as a ``text/event-stream`` response.

    return EventStream(backend.streams, "state/<deviceId>", keep_alive_s=2)

Every message published on the topic goes out as ``event: <name>`` plus one
``data:`` line of compact JSON; after ``keep_alive_s`` seconds without a write
a comment line ``: keep-alive`` goes out instead, so proxies and clients keep
the connection open.

Lifecycle, and why it is not a plain StreamingResponse: the subscription is
taken *before* the response headers are sent, so a client that has seen the
headers cannot miss a message published afterwards; and the client's
disconnect is watched for the whole life of the stream (Starlette's
StreamingResponse only notices it on the next write under ASGI 2.4), so an idle
stream is torn down - and its subscription released - as soon as the client
goes, not at the next keep-alive.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.streams import Streams, Subscription

KEEP_ALIVE = b": keep-alive\n\n"
DEFAULT_KEEP_ALIVE_S = 2.0
# Fractions of a second are a mock extension (fast tests); the bounds keep a
# typo from becoming a busy loop or a timer the event loop cannot represent.
MIN_KEEP_ALIVE_S = 0.01
MAX_KEEP_ALIVE_S = 3600.0


def keep_alive_seconds(value: Any, name: str = "keepAliveInterval") -> float:
    """The ``keepAliveInterval`` query parameter (seconds; numeric string) as a float."""
    if value is None or value == "":
        return DEFAULT_KEEP_ALIVE_S
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"query parameter {name}: '{value}' is not a number") from None
    if not (math.isfinite(seconds) and MIN_KEEP_ALIVE_S <= seconds <= MAX_KEEP_ALIVE_S):
        raise ValidationError(f"query parameter {name}: must be between {MIN_KEEP_ALIVE_S:g} "
                              f"and {MAX_KEEP_ALIVE_S:g} seconds")
    return seconds


# Built once: json.dumps with options would build an encoder for every event.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_event(event: str, payload: Any) -> bytes:
    """One SSE event. Compact JSON has no newline, so one ``data:`` line suffices."""
    data = _COMPACT.encode(payload)
    return f"event: {event}\ndata: {data}\n\n".encode()


async def event_source(subscription: Subscription, keep_alive_s: float) -> AsyncIterator[bytes]:
    """The stream's chunks: each published message, or a keep-alive after a silence."""
    while True:
        try:
            async with asyncio.timeout(keep_alive_s):
                event, payload = await subscription.queue.get()
        except TimeoutError:
            yield KEEP_ALIVE
            continue
        yield encode_event(event, payload)


class EventStream(Response):
    media_type = "text/event-stream"

    def __init__(self, streams: Streams, topic: str, *,
                 keep_alive_s: float = DEFAULT_KEEP_ALIVE_S) -> None:
        self.streams = streams
        self.topic = topic
        self.keep_alive_s = keep_alive_s
        self.status_code = 200
        self.background = None
        # no-transform/X-Accel-Buffering: proxies must pass events through unbuffered.
        self.init_headers({"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self.streams.subscribe(self.topic) as subscription:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_cancel_on_disconnect, receive, tasks.cancel_scope)
                try:
                    await self._pump(subscription, send)
                except OSError:
                    pass  # the client went away mid-write (uvicorn's ClientDisconnected)
                finally:
                    tasks.cancel_scope.cancel()

    async def _pump(self, subscription: Subscription, send: Send) -> None:
        async with aclosing(event_source(subscription, self.keep_alive_s)) as chunks:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
