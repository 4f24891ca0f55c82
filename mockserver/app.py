"""The app factory: settings in, a runnable ASGI mock of the platform out.

    app = create_app(Settings(seed=7))
    uvicorn.run(app, port=8080)

Layers, outermost first: the request journal; ``/openapi.json`` served from
the committed spec text; the control API under ``/_mock``; Connexion (routing,
security, validation, Swagger UI at ``/ui``) with the platform spec, whose
endpoints come from the dispatcher.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from typing import Any
from unittest import mock

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.resolver import Resolver
from connexion.spec import OpenAPISpecification
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Receive, Scope, Send

from losant_kit import specs
from losant_kit.mockserver import handlers
from losant_kit.mockserver.auth import TokenSigner, bearer_handler_class
from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.dispatch import Dispatcher
from losant_kit.mockserver.errors import PlatformError
from losant_kit.mockserver.journal import Journal
from losant_kit.mockserver.models.backend import Backend
from losant_kit.mockserver.settings import Settings
from losant_kit.mockserver.spec import PlatformSpec
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


@contextmanager
def _trusted_spec():
    """Skip Connexion's re-validation of the spec against the OpenAPI meta-schema.

    It costs ~2.5 s per start on this spec, and the spec is generated and
    checked with openapi-spec-validator by the test suite (tests/test_specs.py).
    """
    with mock.patch.object(
        OpenAPISpecification, "_validate_spec", classmethod(lambda cls, spec: None)
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


class MockApp:
    """The running mock: the ASGI app plus handles on its state for tests and the CLI."""

    def __init__(self, settings: Settings, spec: PlatformSpec | None = None) -> None:
        from losant_kit.mockserver.control import Control

        self.settings = settings
        self.spec = spec or PlatformSpec()
        clock = Clock()
        self.throttles = Throttles(clock, enabled=settings.throttle, scale=settings.throttle_scale)
        self.backend = Backend(
            clock=clock,
            signer=TokenSigner(settings.jwt_secret),
            throttles=self.throttles,
            seed=settings.seed,
            job_duration_s=settings.job_duration_s,
        )
        self.journal = Journal(clock)
        self.control = Control(self)
        self.world_summary: dict[str, Any] = self.control.load_initial_world()

        self.dispatcher = Dispatcher(
            self.spec,
            self.backend,
            handlers.registry(),
            self.throttles,
            check_responses=settings.check_responses,
        )
        self.connexion = AsyncApp(
            __name__, security_map={"bearer": bearer_handler_class(self.backend.authenticator)}
        )
        with _trusted_spec():
            self.connexion.add_api(
                self.spec.for_connexion(),
                resolver=Resolver(function_resolver=self.dispatcher.endpoint),
                validator_map=body_validator_map(self.spec),
            )
            self.control.mount(self.connexion)
        self.connexion.add_error_handler(PlatformError, _platform_error)
        self.connexion.add_error_handler(ProblemException, _problem)
        self.connexion.add_error_handler(
            HTTPException, lambda request, exc: _http_error(self.spec, request, exc)
        )
        self.connexion.add_error_handler(MultiPartException, _malformed_form)
        self.connexion.add_error_handler(Exception, _unexpected)
        self._spec_text = specs.PLATFORM_SPEC.read_bytes()
        self._spec31_text = specs.PLATFORM_SPEC_31.read_bytes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/openapi.json":
                await _send_json(send, self._spec_text)
                return
            if path == "/openapi-3.1.json":
                await _send_json(send, self._spec31_text)
                return
            if path in ("/", "/_mock"):
                await _send_json(send, json.dumps(self.control.index()).encode())
                return
            allowed = self.spec.allowed_methods(path)
            if allowed and scope["method"] not in (*allowed, "HEAD", "OPTIONS"):
                # A concrete path shadows a templated one (PATCH /applications/import is
                # not application.patch); Connexion's router would pick the template.
                await self.journal.wrap(_method_not_allowed(allowed), scope, receive, send)
                return
        await self.journal.wrap(self.connexion, scope, receive, send)


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
    return MockApp(settings or Settings())
