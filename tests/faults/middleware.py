"""ASGI middleware that rewrites selected responses of an app."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Rewrite = Callable[[int, Any, bytes], tuple[int, Any]]


class RewriteResponses:
    """Buffer responses to ``method path`` (a regex) and pass them through ``rewrite``.

    ``rewrite(status, json_body, request_body)`` returns the new (status, body).
    The wrapped app stays reachable as ``.app`` (and its attributes through
    this object), so the suites still find the mock's control API.
    """

    def __init__(self, app: Any, method: str, path: str, rewrite: Rewrite) -> None:
        self.app = app
        self.method = method
        self.path = re.compile(path)
        self.rewrite = rewrite

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != self.method \
                or not self.path.fullmatch(scope["path"]):
            await self.app(scope, receive, send)
            return
        request_body = bytearray()

        async def recording_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def buffering_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await self._flush(start, b"".join(chunks), bytes(request_body), send)

        await self.app(scope, recording_receive, buffering_send)

    async def _flush(self, start: dict, body: bytes, request_body: bytes, send: Any) -> None:
        status = start["status"]
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        if parsed is not None:
            status, parsed = self.rewrite(status, parsed, request_body)
            body = json.dumps(parsed).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
