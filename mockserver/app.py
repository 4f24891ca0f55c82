"""The app factory: settings in, a runnable ASGI mock of the platform out.

    app = create_app(Settings(seed=7))
    uvicorn.run(app, port=8080)

Layers, outermost first: the experience runtime for requests addressed to an
experience (mockserver/experience/); CORS (mockserver.cors); ``/openapi.json``
served from the committed spec text; the request journal; fault injection
(mockserver.faults); the fast lane (fastpath.py), which serves the requests it
can prove valid straight through the dispatcher; Connexion (routing, security,
validation, Swagger UI at ``/ui``, the control API under ``/_mock``) for
everything else, with the platform spec, whose endpoints come from the
dispatcher.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any
from unittest import mock

from connexion import AsyncApp
from connexion import json_schema as connexion_json_schema
from connexion import spec as connexion_spec
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.resolver import Resolver
from connexion.spec import OpenAPISpecification
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from losant_kit import specs
from losant_kit.mockserver.auth import TokenSigner, bearer_handler_class
from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.cors import CorsLayer
from losant_kit.mockserver.dispatch import Dispatcher
from losant_kit.mockserver.errors import PlatformError
from losant_kit.mockserver.experience.binding import contracts_for
from losant_kit.mockserver.experience.server import ExperienceRuntime
from losant_kit.mockserver.fastpath import FastLane
from losant_kit.mockserver.faults import TRANSPORT_KEY, FaultLayer, Faults, transport_of
from losant_kit.mockserver.gc_pause import collection_paused
from losant_kit.mockserver.journal import Journal
from losant_kit.mockserver.models.backend import Backend
from losant_kit.mockserver.mqtt import MqttBroker
from losant_kit.mockserver.persistence import DataFile
from losant_kit.mockserver.profiles.losant import PROFILE as LOSANT
from losant_kit.mockserver.settings import Settings
from losant_kit.mockserver.spec import PlatformSpec, copy_tree
from losant_kit.mockserver.spec_resolution import resolve_refs
from losant_kit.mockserver.throttle import Throttles
from losant_kit.mockserver.validation import body_validator_map

log = logging.getLogger(__name__)

_PROBLEM_TYPES = {
    400: "Validation",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
}


class _TreeCopy:
    """Stands in for the ``copy`` module inside Connexion's spec loading (see below)."""

    deepcopy = staticmethod(copy_tree)


@contextmanager
def _trusted_spec():
    """Skip Connexion's re-validation of the spec against the OpenAPI meta-schema.

    It costs ~2.5 s per start on this spec, and the spec is generated and
    checked with openapi-spec-validator by the test suite (tests/test_specs.py).
    Connexion also deep-copies the raw (not yet dereferenced) spec twice while
    loading it; a plain tree copy does the same for parsed JSON/YAML in a fifth
    of the time. Its ``$ref`` resolution runs as the same walk with cheaper
    checks (mockserver.spec_resolution).
    """
    with (
        mock.patch.object(
            OpenAPISpecification, "_validate_spec", classmethod(lambda cls, spec: None)
        ),
        mock.patch.object(connexion_spec, "copy", _TreeCopy),
        mock.patch.object(connexion_json_schema, "deepcopy", copy_tree),
        mock.patch.object(connexion_spec, "resolve_refs", resolve_refs),
    ):
        yield


def error_body(
    status: int, type_: str, message: str, headers: dict[str, str] | None = None
) -> ConnexionResponse:
    import json

    return ConnexionResponse(
        status_code=status,
        body=json.dumps({"type": type_, "message": message}),
        content_type="application/json",
        headers=headers or {},
    )


def _platform_error(request: ConnexionRequest, exc: PlatformError) -> ConnexionResponse:
    return error_body(exc.status, exc.type, exc.message, exc.headers)


def _problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    status = exc.status or 400
    # Connexion's 415 for a wrong content type is, for the platform, a malformed request.
    if status == 415:
        status = 400
    message = str(exc.detail or exc.title or "Bad request").split("\n", 1)[0]
    return error_body(status, _PROBLEM_TYPES.get(status, "Error"), message)


def _http_error(
    spec: PlatformSpec, request: ConnexionRequest, exc: HTTPException
) -> ConnexionResponse:
    message = {404: "No such route", 405: "Method not allowed on this route"}.get(
        exc.status_code, str(exc.detail)
    )
    return error_body(
        exc.status_code,
        _PROBLEM_TYPES.get(exc.status_code, "Error"),
        message,
        _allow(spec, request, exc),
    )


def _allow(spec: PlatformSpec, request: ConnexionRequest, exc: HTTPException) -> dict[str, str]:
    """RFC 9110: a 405 lists the methods the path does take (from the spec, else Starlette's)."""
    if exc.status_code != 405:
        return {}
    methods = spec.allowed_methods(request.url.path)
    if methods:
        return {"Allow": ", ".join(methods)}
    return {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}


def _malformed_form(request: ConnexionRequest, exc: MultiPartException) -> ConnexionResponse:
    # A client's broken multipart body is its mistake: 400, not 500.
    return error_body(400, "Validation", f"body: {exc.message}")


def _unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.exception("unhandled error in the mock", exc_info=exc)
    return error_body(500, "InternalError", f"The mock failed: {type(exc).__name__}: {exc}")


Renderers = dict[type[Exception], Any]


def error_renderers(spec: PlatformSpec) -> Renderers:
    """Exception class -> the platform-shaped reply; Connexion and the fast lane both use it."""
    return {
        PlatformError: _platform_error,
        ProblemException: _problem,
        HTTPException: functools.partial(_http_error, spec),
        MultiPartException: _malformed_form,
        Exception: _unexpected,
    }


def error_renderer(renderers: Renderers) -> Callable[[Scope, Exception], Response]:
    """The reply Connexion's exception middleware would give for an exception
    (the closest class wins), for layers that answer without Connexion."""

    def render(scope: Scope, exc: Exception) -> Response:
        renderer = next(renderers[cls] for cls in type(exc).__mro__ if cls in renderers)
        reply = renderer(ConnexionRequest(scope), exc)
        return Response(
            content=reply.body,
            status_code=reply.status_code,
            headers=reply.headers,
            media_type=reply.content_type,
        )

    return render


class MockApp:
    """The running mock: the ASGI app plus handles on its state for tests and the CLI."""

    @collection_paused()  # what it builds lives as long as the app (gc_pause.py)
    def __init__(self, settings: Settings, spec: PlatformSpec | None = None) -> None:
        from losant_kit.mockserver.control import Control

        self.settings = settings
        self.profile = LOSANT
        self.spec = spec or PlatformSpec()
        clock = Clock()
        self.throttles = Throttles(clock, enabled=settings.throttle, scale=settings.throttle_scale)
        # --data: the state lives in a SQLite file (refusals raise DataFileError).
        self.data = DataFile.open(settings.data) if settings.data else None
        data = self.data
        self.backend = Backend(
            clock=clock,
            store=data.store if data else None,
            signer=TokenSigner(data.signing_secret(settings.jwt_secret) if data else
                               settings.jwt_secret),
            throttles=self.throttles,
            # A resumed file's ids come from a fresh random source: the seed's
            # sequence would repeat secrets the file already holds.
            seed=settings.seed if data is None or data.is_new else None,
            job_duration_s=settings.job_duration_s,
        )
        self.journal = Journal(clock)
        self.mqtt = MqttBroker(self.backend, self.spec, host=settings.mqtt_host,
                               port=settings.mqtt_port, ws_port=settings.mqtt_ws_port)
        self.control = Control(self)
        self.world_summary: dict[str, Any] = (
            data.start(self) if data else self.control.load_initial_world()
        )

        self.dispatcher = Dispatcher(
            self.spec,
            self.backend,
            self.profile.handlers(),
            self.throttles,
            check_responses=settings.check_responses,
        )
        self.connexion = AsyncApp(
            __name__, security_map={"bearer": bearer_handler_class(self.backend.authenticator)}
        )
        document = self.spec.for_connexion()
        with _trusted_spec():
            self.connexion.add_api(
                document,
                resolver=Resolver(function_resolver=self.dispatcher.endpoint),
                validator_map=body_validator_map(self.spec),
            )
            self.control.mount(self.connexion)
        renderers = error_renderers(self.spec)
        for exc_class, renderer in renderers.items():
            self.connexion.add_error_handler(exc_class, renderer)
        # The platform request path, inner end: the fast lane for requests it can
        # prove valid, Connexion for everything else (outer layers: _serve).
        self.lane = FastLane(
            self.spec,
            document,
            self.dispatcher,
            self.backend.authenticator,
            error_renderer(renderers),
            self._connexion,
        )
        self._spec_text = specs.PLATFORM_SPEC.read_bytes()
        self._spec31_text = specs.PLATFORM_SPEC_31.read_bytes()
        # Experiences are served in front of the platform API (mockserver/experience/),
        # with the CORS headers the experience itself declares (endpointDefaultCors),
        # so the platform's CORS layer stays out of their way.
        self.experience = ExperienceRuntime(
            self.backend, contracts_for(self.control.world_document, settings.experiences)
        )
        self.faults = Faults(self.spec, settings.seed, settings.faults)
        self._faulted = FaultLayer(self.lane, self.faults)
        self._entry = (
            CorsLayer(self._serve, settings.cors_origins) if settings.cors else self._serve
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.experience.claims(scope):
            await self.journal.wrap(self.experience, scope, receive, send)
            return
        if self.faults.rules:
            scope[TRANSPORT_KEY] = transport_of(send)
        await self._entry(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/openapi.json":
                await _send_json(send, self._spec_text)
                return
            if path == "/openapi-3.1.json":
                await _send_json(send, self._spec31_text)
                return
            if path == "/":
                await _send_json(send, json.dumps(self.control.index()).encode())
                return
            if path == "/_mock":
                # The inspector's relative links need the trailing slash.
                await RedirectResponse("/_mock/")(scope, receive, send)
                return
        elif scope["type"] == "lifespan":  # the MQTT broker starts and stops with the app
            await self.mqtt.lifespan(self.connexion, scope, receive, send)
            return
        await self.journal.wrap(self._faulted, scope, receive, send)

    async def _connexion(self, scope: Scope, receive: Receive, send: Send) -> None:
        """What the fast lane hands on. The lane serves only routes it proved, so
        only here can a concrete path be shadowed by a templated one (PATCH
        /applications/import is not application.patch, though Connexion's router
        would pick the template): such a method gets the spec's 405 first."""
        if scope["type"] == "http":
            allowed = self.spec.allowed_methods(scope["path"])
            if allowed and scope["method"] not in (*allowed, "HEAD", "OPTIONS"):
                await _method_not_allowed(allowed)(scope, receive, send)
                return
        await self.connexion(scope, receive, send)


async def _send_json(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _method_not_allowed(allowed: list[str]):
    body = json.dumps(
        {"type": "MethodNotAllowed", "message": "Method not allowed on this route"}
    ).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 405,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"allow", ", ".join(allowed).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def create_app(settings: Settings | None = None) -> MockApp:
    """The mock of ``settings.platform``: its profile builds it (mockserver/profiles/)."""
    from losant_kit.mockserver.profiles import profile_for

    settings = settings or Settings()
    return profile_for(settings.platform).create_app(settings)
