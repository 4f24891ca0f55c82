"""The Ioto profile: the EmbedThis Ioto device-cloud API on the spec-driven engine.

Conventions (from the shared reference; open points decided in the README's
Fidelity notes): POST only; ``/tok`` paths take CloudAPI/device tokens, bare
paths login tokens with Origin; the token sits bare or after ``bearer`` in
Authorization; successes are ``{data}`` (lists add next/prev/paged) except the
calls the device agent reads at the top level (``x-envelope: false``);
failures are text/plain with 400, 403 or 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from losant_kit.mockserver.profiles.base import EngineProfile

if TYPE_CHECKING:
    from losant_kit.mockserver.clock import Clock
    from losant_kit.mockserver.ioto.state import IotoState
    from losant_kit.mockserver.profiles.engine import SpecApp, SpecOperation
    from losant_kit.mockserver.settings import Settings

# The engine's error classes carry HTTP statuses of their own; Ioto names only
# 400 (bad request), 403 (authentication) and 500 (service error).
STATUS = {401: 403, 403: 403}


class IotoProfile(EngineProfile):
    name = "ioto"
    title = "EmbedThis Ioto"
    route_prefix = "/tok"

    def spec_path(self) -> Path:
        from losant_kit.specs.ioto import IOTO_SPEC

        return IOTO_SPEC

    def load_spec(self) -> dict[str, Any]:
        from losant_kit.specs.ioto import load_ioto_spec

        return load_ioto_spec()

    def error_response(self, status: int, type_: str, message: str,
                       headers: Mapping[str, str] | None = None) -> Response:
        code = 500 if status >= 500 else STATUS.get(status, 400)
        return Response(message, status_code=code, media_type="text/plain",
                        headers={k: v for k, v in (headers or {}).items()
                                 if k.lower() == "retry-after"})

    def token_of(self, headers: Mapping[str, str]) -> str | None:
        from losant_kit.mockserver.ioto.principals import token_of

        return token_of(headers)

    def envelope(self, operation: Mapping[str, Any], result: Any) -> Any:
        if not operation.get("x-envelope", True):
            return result
        if operation.get("x-shape") == "paged":
            return result  # the model pages: {data, next, prev, paged}
        return {"data": result}

    def initial_world(self, settings: Settings) -> dict[str, Any]:
        from losant_kit.mockserver.ioto.world import initial_world

        return initial_world(settings)

    def handlers(self) -> dict[str, Callable[..., Any]]:
        from losant_kit.mockserver.ioto.handlers import registry

        return registry()

    def new_state(self, settings: Settings, clock: Clock) -> IotoState:
        from losant_kit.mockserver.ioto.state import IotoState

        return IotoState(clock, seed=settings.seed, secret=settings.jwt_secret)

    def authenticate(self, state: IotoState, operation: SpecOperation, token: str | None,
                     headers: Mapping[str, str]) -> Any:
        from losant_kit.mockserver.ioto.principals import authenticate

        return authenticate(state, operation, token, headers)

    def control(self, app: SpecApp) -> Any:
        from losant_kit.mockserver.ioto.control import IotoControl

        return IotoControl(app)

    def banner(self, app: Any, url: str, started_in: float, mqtt: str | None = None) -> str:
        summary = app.world_summary
        lines = [f"Ioto mock listening on {url}  (ready in {started_in:.2f} s)",
                 f"  cloud:        {summary['cloud'].get('id')}  ({summary['cloud'].get('name')})"]
        for token in summary["cloudApiTokens"][:1]:
            lines.append(f"  CloudAPI:     Authorization: {token['token']}   "
                         f"POST {url}/tok/device/find")
        for login in summary["logins"]:
            lines.append(f"  login:        {login['email']} / {login['password']} "
                         f"({login['role']})   POST {url}/_mock/login")
        lines += [f"  spec:         {url}/openapi.json   Swagger UI: {url}/ui/",
                  f"  control API:  {url}/_mock/world  (reset, clock, login, metrics, "
                  "invocations, requests)",
                  "Press Ctrl-C to stop."]
        return "\n".join(lines)

    def create_app(self, settings: Settings) -> SpecApp:
        from losant_kit.mockserver.profiles.engine import SpecApp

        return SpecApp(settings, self)


PROFILE = IotoProfile()
