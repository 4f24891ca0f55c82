"""The Ioto mock's control API under ``/_mock``: world, reset, clock, logins,
metric points, recorded action invocations and the request journal.

    GET  /_mock/world         the world's summary (CloudAPI tokens, logins with tokens)
    POST /_mock/reset         back to the world the mock started with
    GET  /_mock/clock         the mock's time; POST {advance: s} or {set: iso} moves it
    POST /_mock/login         {email, password} -> {token}: what Cognito's login would give
    POST /_mock/metrics       {deviceId, metric, namespace?, dimensions?, points: [...]}
    GET  /_mock/invocations   action invocations, oldest first
    GET  /_mock/requests      the request journal
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import PlatformError, ValidationError
from losant_kit.mockserver.ioto import metrics

if TYPE_CHECKING:
    from losant_kit.mockserver.profiles.engine import SpecApp


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


class IotoControl:
    def __init__(self, app: SpecApp) -> None:
        self.app = app
        routes = [
            Route("/_mock/world", self._call(self.world), methods=["GET"]),
            Route("/_mock/reset", self._call(self.reset), methods=["POST"]),
            Route("/_mock/clock", self._call(self.clock), methods=["GET", "POST"]),
            Route("/_mock/login", self._call(self.login), methods=["POST"]),
            Route("/_mock/metrics", self._call(self.metrics), methods=["POST"]),
            Route("/_mock/invocations", self._call(self.invocations), methods=["GET"]),
            Route("/_mock/requests", self._call(self.requests), methods=["GET"]),
        ]
        self.router = Router(routes)

    async def __call__(self, scope, receive, send) -> None:
        await self.router(scope, receive, send)

    def _call(self, method):
        async def endpoint(request: Request) -> Response:
            body: Any = None
            if request.method == "POST":
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return _json({"type": "Validation", "message": "body: not JSON"}, 400)
                if not isinstance(body, dict):
                    return _json({"type": "Validation", "message": "body: an object"}, 400)
            try:
                return _json(method(request, body))
            except PlatformError as exc:
                return _json(exc.body(), exc.status)

        return endpoint

    # ------------------------------------------------------------ routes

    def world(self, request: Request, body: Any) -> dict[str, Any]:
        return self.app.state.summary()

    def reset(self, request: Request, body: Any) -> dict[str, Any]:
        app = self.app
        app.clock.reset()
        app.world_summary = app.state.load(app.state.world)
        return app.world_summary

    def clock(self, request: Request, body: Any) -> dict[str, Any]:
        clock = self.app.clock
        if body is not None:
            if isinstance(body.get("advance"), int | float) and body["advance"] >= 0:
                clock.advance(float(body["advance"]))
            elif isinstance(body.get("set"), str):
                try:
                    when = datetime.fromisoformat(body["set"].replace("Z", "+00:00"))
                except ValueError:
                    raise ValidationError("body.set: not an ISO-8601 instant") from None
                if when.tzinfo is None:
                    raise ValidationError("body.set: give a time zone (e.g. a trailing Z)")
                clock.set(when)
            else:
                raise ValidationError("give {advance: seconds >= 0} or {set: ISO instant}")
        return {"now": iso(clock.now()), "epochMs": clock.now_ms(), "offsetSeconds": clock.offset}

    def login(self, request: Request, body: Any) -> dict[str, Any]:
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not isinstance(password, str):
            raise ValidationError("give email and password")
        return {"token": self.app.state.login(email, password), "expiresIn": 3600}

    def metrics(self, request: Request, body: Any) -> dict[str, Any]:
        if not isinstance(body.get("points"), list) or not all(
                isinstance(p, dict) for p in body["points"]):
            raise ValidationError("points: a list of {timestamp, value}")
        if not all("timestamp" in p for p in body["points"]):
            raise ValidationError("points: every point needs a timestamp (epoch seconds)")
        added = metrics.feed(self.app.state, body, now=self.app.clock.now())
        return {"added": added}

    def invocations(self, request: Request, body: Any) -> list[dict[str, Any]]:
        return list(self.app.state.invocations)

    def requests(self, request: Request, body: Any) -> Any:
        return list(self.app.journal.entries)
