"""CORS, as a public API behind a gateway answers it: the outermost ASGI layer.

A front end on another origin (a dev server on ``localhost:5173``) must be
able to call the mock with ``fetch``/XHR: the browser sends a preflight
``OPTIONS`` for any request with an ``Authorization`` or JSON ``Content-Type``
header, and reads no answer that lacks ``Access-Control-Allow-Origin``.

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
  is answered here with 204 for every path, platform and control API alike;
  it never reaches routing, security or the journal.
- Every other answer to a request with an allowed ``Origin`` (successes,
  errors, 429s, SSE streams, the control API) gets the origin echoed back and
  ``Access-Control-Expose-Headers`` naming ``Retry-After``, so a browser app can
  read the throttle's back-off.
- ``origins`` empty means any origin (the request's own is echoed); otherwise
  only those listed. A refused origin gets no CORS headers (the browser then
  blocks the answer) and its preflight a 403 in the platform's error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
# What the official clients send: the JS client adds Accept-Version to every
# call, and ``losantdomain`` where a domain is given.
ALLOW_HEADERS = ("Authorization", "Content-Type", "Accept", "Accept-Version", "losantdomain")
EXPOSE_HEADERS = "Retry-After, Content-Disposition, Content-Length"
# Long enough that a browser preflights a route once per page session, short
# enough that a restarted mock with other --cors-origin values is seen soon.
MAX_AGE_S = "600"


class CorsLayer:
    def __init__(self, app: ASGIApp, origins: Iterable[str] = ()) -> None:
        self.app = app
        self.origins = frozenset(origin.rstrip("/") for origin in origins)

    def allows(self, origin: str) -> bool:
        return not self.origins or origin in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = request_header(scope, b"origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = self.allows(origin)
        if scope["method"] == "OPTIONS" and request_header(
            scope, b"access-control-request-method"
        ) is not None:
            await self._preflight(scope, send, origin, allowed)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return
        extra = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
            (b"vary", b"Origin"),
        ]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, send: Send, origin: str, allowed: bool) -> None:
        if not allowed:
            body = json.dumps(
                {"type": "Forbidden", "message": f"Origin {origin} is not allowed (--cors-origin)"}
            ).encode()
            headers = [(b"content-type", b"application/json"), (b"vary", b"Origin")]
            await _answer(send, 403, headers, body)
            return
        requested = request_header(scope, b"access-control-request-headers") or ""
        # Echo whatever else the page asks for too: a mock should not be the
        # reason a front end's custom header fails.
        names = list(ALLOW_HEADERS)
        known = {name.lower() for name in names}
        for name in (part.strip() for part in requested.split(",")):
            if name and name.lower() not in known:
                names.append(name)
                known.add(name.lower())
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", ", ".join(names).encode("latin-1")),
            (b"access-control-max-age", MAX_AGE_S.encode()),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        await _answer(send, 204, headers, b"")


def request_header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
