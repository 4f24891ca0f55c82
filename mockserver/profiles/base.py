"""The profile interface: every platform-specific answer the engine needs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

if TYPE_CHECKING:
    from losant_kit.mockserver.settings import Settings


class Profile:
    """One platform's conventions. Subclasses answer each hook for their platform."""

    name: str = ""
    title: str = ""
    #: The path prefix that selects a token form (Ioto: "/tok"); "" when none.
    route_prefix: str = ""

    def spec_path(self) -> Path:
        """The committed spec file the mock serves at /openapi.json."""
        raise NotImplementedError

    def load_spec(self) -> dict[str, Any]:
        """A fresh, mutable copy of the platform's spec."""
        raise NotImplementedError

    def error_response(self, status: int, type_: str, message: str,
                       headers: Mapping[str, str] | None = None) -> Response:
        """The platform's wire shape of a failure."""
        raise NotImplementedError

    def token_of(self, headers: Mapping[str, str]) -> str | None:
        """The token a request carries (None: no credentials)."""
        raise NotImplementedError

    def envelope(self, operation: Mapping[str, Any], result: Any) -> Any:
        """A handler's result as the platform wraps a success body."""
        return result

    def split_route(self, path: str) -> tuple[str, str]:
        """(token form, path without the prefix): ("tok", "/device/find")."""
        prefix = self.route_prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return prefix.strip("/"), path[len(prefix):] or "/"
        return "", path

    def initial_world(self, settings: Settings) -> dict[str, Any]:
        """The world a mock starts with: --fixtures, else a seeded generated one."""
        raise NotImplementedError

    def handlers(self) -> dict[str, Callable[..., Any]]:
        """operationId -> handler."""
        raise NotImplementedError

    def new_state(self, settings: Settings, clock: Any) -> Any:
        """The platform's models, empty; ``state.load(world)`` fills them and
        returns the world's summary (served at /_mock/world)."""
        raise NotImplementedError

    def authenticate(self, state: Any, operation: Any, token: str | None,
                     headers: Mapping[str, str]) -> Any:
        """The caller of ``operation`` holding ``token`` (read by ``token_of``; None
        when it is public), or a PlatformError."""
        raise NotImplementedError

    def control(self, app: Any) -> Any:
        """The ASGI app answering ``/_mock/...`` for this platform's mock."""
        raise NotImplementedError

    def banner(self, app: Any, url: str, started_in: float, mqtt: str | None = None) -> str:
        """What ``losant-mock serve`` prints once ``app`` (this profile's mock) is built."""
        raise NotImplementedError

    def create_app(self, settings: Settings) -> Any:
        """The runnable ASGI mock of this platform."""
        raise NotImplementedError
