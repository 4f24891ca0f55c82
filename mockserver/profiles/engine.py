"""The spec-driven engine a profile runs on: Connexion routes and validates from
the profile's spec, the profile authenticates, shapes successes and errors.

    app = SpecApp(settings, profile)

Layers, outermost first: CORS (mockserver.cors, with --cors); the control
routes under ``/_mock`` (the profile's ``control`` object answers them);
``/openapi.json`` (the committed spec text); the request journal
(mockserver.journal); authentication (the profile's, before any validation);
Connexion with the profile's spec.
Nothing here knows a platform: every platform-specific answer is a profile
hook (profiles/base.py) or a fact of the spec (``x-role``, ``x-shape``,
``x-envelope``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from connexion import AsyncApp, context
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.resolver import Resolver
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from losant_kit.mockserver.app import _trusted_spec
from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.cors import CorsLayer
from losant_kit.mockserver.dispatch import JOURNAL_KEY
from losant_kit.mockserver.errors import PlatformError, ValidationError
from losant_kit.mockserver.journal import Journal
from losant_kit.mockserver.spec import copy_tree

CALLER_KEY = "profile.caller"

if TYPE_CHECKING:
    from losant_kit.mockserver.profiles.base import EngineProfile
    from losant_kit.mockserver.settings import Settings


@dataclass(frozen=True)
class SpecOperation:
    """What the engine and the handlers read about one operation of the spec."""

    id: str
    method: str
    path: str
    form: str  # the token form its path selects ("tok", or "" for the bare path)
    security: tuple[str, ...]  # names of the security schemes (empty: public)
    extensions: dict[str, Any] = field(default_factory=dict)  # the x-* keys

    def x(self, name: str, default: Any = None) -> Any:
        return self.extensions.get(f"x-{name}", default)


@dataclass
class Call:
    """One validated request, as a handler sees it."""

    state: Any
    operation: SpecOperation
    caller: Any
    params: dict[str, Any]
    body: Any
    headers: Headers


def operations_of(document: dict[str, Any], profile: EngineProfile) -> dict[str, SpecOperation]:
    found = {}
    for path, item in document["paths"].items():
        for method, op in item.items():
            found[op["operationId"]] = SpecOperation(
                id=op["operationId"],
                method=method.upper(),
                path=path,
                form=profile.split_route(path)[0],
                security=tuple(name for req in op.get("security", []) for name in req),
                extensions={k: v for k, v in op.items() if k.startswith("x-")},
            )
    return found


class SpecApp:
    """A profile's mock: its state, its spec-routed API and its control routes."""

    def __init__(self, settings: Settings, profile: EngineProfile) -> None:
        if settings.data is not None:
            from losant_kit.mockserver.persistence import DataFileError

            raise DataFileError(f"--data is not supported with --platform {profile.name} "
                                "(its state lives in memory)")
        if settings.faults:
            raise ValidationError(f"not supported with --platform {profile.name}")
        # No MQTT broker runs on this engine: the CLI must neither probe nor list one.
        self.settings = replace(settings, mqtt_port=None, mqtt_ws_port=None)
        self.data = None
        self.profile = profile
        self.clock = Clock()
        self.journal = Journal(self.clock)
        self.document = profile.load_spec()
        self.operations = operations_of(self.document, profile)
        self._by_route = {(op.method, op.path): op for op in self.operations.values()
                          if "{" not in op.path}
        self.state = profile.new_state(settings, self.clock)
        self.world_summary: dict[str, Any] = self.state.load(profile.initial_world(settings))
        self.control = profile.control(self)
        handlers = profile.handlers()
        missing = sorted(set(self.operations) - set(handlers))
        if missing:  # a spec operation without a handler is a defect, found at start
            raise RuntimeError(f"{profile.name}: no handler for {', '.join(missing)}")
        self.handlers = handlers
        self.connexion = AsyncApp(__name__)
        with _trusted_spec():
            self.connexion.add_api(_without_security(self.document),
                                   resolver=Resolver(function_resolver=self.endpoint))
        for exc_class, render in self._renderers().items():
            self.connexion.add_error_handler(exc_class, render)
        self._spec_text = profile.spec_path().read_bytes()
        # Browser apps call with login tokens and an Origin: CORS as --cors says.
        self._entry = (CorsLayer(self._serve, settings.cors_origins) if settings.cors
                       else self._serve)

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/openapi.json":
                await Response(self._spec_text, media_type="application/json")(
                    scope, receive, send)
                return
            if path == "/_mock" or path.startswith("/_mock/"):
                await self.control(scope, receive, send)
                return
        await self.journal.wrap(self._authenticated, scope, receive, send)

    async def _authenticated(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Credentials first, as the platform's gateway does: a request without a
        valid token is refused before its body is ever validated."""
        operation = (self._by_route.get((scope["method"], scope["path"]))
                     if scope["type"] == "http" else None)
        if operation is not None:
            try:
                caller = self._caller(operation, Headers(scope=scope))
            except PlatformError as exc:
                reply = self.profile.error_response(exc.status, exc.type, exc.message,
                                                    exc.headers)
                await reply(scope, receive, send)
                return
            scope[CALLER_KEY] = caller
            entry = scope.get(JOURNAL_KEY)
            if entry is not None and caller is not None:
                entry["subject"] = getattr(caller, "label", None)
        await self.connexion(scope, receive, send)

    # ------------------------------------------------------------ operations

    def _caller(self, operation: SpecOperation, headers: Headers) -> Any:
        return self.profile.authenticate(self.state, operation,
                                         self.profile.token_of(headers), headers)

    def endpoint(self, operation_id: str) -> Callable[..., Any]:
        """The function Connexion calls for ``operation_id``."""
        handler = self.handlers[operation_id]
        operation = self.operations[operation_id]

        async def endpoint(**kwargs: Any) -> Any:
            body = kwargs.pop("body", None)
            scope = context.scope
            headers = Headers(scope=scope)
            # The door (_authenticated) has read the token; a templated path it
            # did not match is authenticated here.
            caller = (scope[CALLER_KEY] if CALLER_KEY in scope
                      else self._caller(operation, headers))
            call = Call(self.state, operation, caller, kwargs, body, headers)
            # A finished response: the spec names two media types (JSON successes,
            # the platform's error type), so Connexion must not pick one.
            return json_response(self.profile.envelope(operation.extensions, handler(call)))

        endpoint.__name__ = operation_id.replace(".", "_")
        return endpoint

    # ------------------------------------------------------------ errors

    def _renderers(self) -> dict[type[Exception], Callable[..., ConnexionResponse]]:
        profile = self.profile

        def reply(status: int, type_: str, message: str,
                  headers: dict[str, str] | None = None) -> ConnexionResponse:
            response = profile.error_response(status, type_, message, headers)
            return ConnexionResponse(status_code=response.status_code, body=response.body,
                                     content_type=response.media_type,
                                     headers={k: v for k, v in response.headers.items()
                                              if k.lower() not in ("content-length",
                                                                   "content-type")})

        def platform(request: ConnexionRequest, exc: PlatformError) -> ConnexionResponse:
            return reply(exc.status, exc.type, exc.message, exc.headers)

        def problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
            status = exc.status or 400
            message = str(exc.detail or exc.title or "Bad request").split("\n", 1)[0]
            return reply(400 if status == 415 else status, "Validation", message)

        def http(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
            return reply(exc.status_code, "Route", str(exc.detail))

        def undecodable(request: ConnexionRequest, exc: UnicodeDecodeError) -> ConnexionResponse:
            # A body that is not UTF-8 is the client's mistake, not a service error.
            return reply(400, "Validation", "body: not UTF-8 JSON")

        def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
            return reply(500, "InternalError", f"The mock failed: {type(exc).__name__}: {exc}")

        return {PlatformError: platform, ProblemException: problem, HTTPException: http,
                UnicodeDecodeError: undecodable, Exception: unexpected}


def _without_security(document: dict[str, Any]) -> dict[str, Any]:
    """The spec for Connexion: routing and validation only; the profile
    authenticates (its failures must have the platform's shape and status)."""
    doc = copy_tree(document)
    doc.pop("security", None)
    doc.get("components", {}).pop("securitySchemes", None)
    for item in doc["paths"].values():
        for op in item.values():
            op.pop("security", None)
    return doc


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")
