"""The profile interface: every platform-specific answer the engine needs.

:class:`Profile` is what every platform answers; :class:`EngineProfile` adds what
a platform served by the spec-driven engine (mockserver/profiles/engine.py)
answers besides. The Losant profile is served by its own app
(mockserver/app.py) and needs only the first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

if TYPE_CHECKING:
    from losant_kit.mockserver.settings import Settings


class Profile(ABC):
    """One platform's conventions. Subclasses answer each hook for their platform."""

    name: str = ""
    title: str = ""
    #: The path prefix that selects a token form (Ioto: "/tok"); "" when none.
    route_prefix: str = ""

    @abstractmethod
    def spec_path(self) -> Path:
        """The committed spec file the mock serves at /openapi.json."""

    @abstractmethod
    def load_spec(self) -> dict[str, Any]:
        """A fresh, mutable copy of the platform's spec."""

    @abstractmethod
    def error_response(self, status: int, type_: str, message: str,
                       headers: Mapping[str, str] | None = None) -> Response:
        """The platform's wire shape of a failure."""

    @abstractmethod
    def token_of(self, headers: Mapping[str, str]) -> str | None:
        """The token a request carries (None: no credentials)."""

    def envelope(self, operation: Mapping[str, Any], result: Any) -> Any:
        """A handler's result as the platform wraps a success body."""
        return result

    def split_route(self, path: str) -> tuple[str, str]:
        """(token form, path without the prefix): ("tok", "/device/find")."""
        prefix = self.route_prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return prefix.strip("/"), path[len(prefix):] or "/"
        return "", path

    @abstractmethod
    def initial_world(self, settings: Settings) -> dict[str, Any]:
        """The world a mock starts with: --fixtures, else a seeded generated one."""

    @abstractmethod
    def handlers(self) -> dict[str, Callable[..., Any]]:
        """operationId -> handler."""

    @abstractmethod
    def banner(self, app: Any, url: str, started_in: float, mqtt: str | None = None) -> str:
        """What ``losant-mock serve`` prints once ``app`` (this profile's mock) is built."""

    @abstractmethod
    def create_app(self, settings: Settings) -> Any:
        """The runnable ASGI mock of this platform."""


class EngineProfile(Profile):
    """A platform served by the spec-driven engine: its models, callers and control API."""

    @abstractmethod
    def new_state(self, settings: Settings, clock: Any) -> Any:
        """The platform's models, empty; ``state.load(world)`` fills them and
        returns the world's summary (served at /_mock/world)."""

    @abstractmethod
    def authenticate(self, state: Any, operation: Any, token: str | None,
                     headers: Mapping[str, str]) -> Any:
        """The caller of ``operation`` holding ``token`` (read by ``token_of``; None
        when it is public), or a PlatformError."""

    @abstractmethod
    def control(self, app: Any) -> Any:
        """The ASGI app answering ``/_mock/...`` for this platform's mock."""
