"""The Losant profile: the platform the kit was built for, served by mockserver/app.py.

Its hooks point at the functions the Losant app already uses, so choosing the
profile changes nothing in how Losant requests are served (the fast lane
included).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from losant_kit import specs
from losant_kit.mockserver.profiles.base import Profile

if TYPE_CHECKING:
    from losant_kit.mockserver.app import MockApp
    from losant_kit.mockserver.settings import Settings


class LosantProfile(Profile):
    name = "losant"
    title = "Losant"

    def spec_path(self) -> Path:
        return specs.PLATFORM_SPEC

    def load_spec(self) -> dict[str, Any]:
        return specs.load_platform_spec()

    def error_response(self, status: int, type_: str, message: str,
                       headers: Mapping[str, str] | None = None) -> Response:
        from losant_kit.mockserver.app import error_body

        reply = error_body(status, type_, message, dict(headers or {}))
        return Response(reply.body, status_code=status, headers=reply.headers,
                        media_type=reply.content_type)

    def token_of(self, headers: Mapping[str, str]) -> str | None:
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def initial_world(self, settings: Settings) -> dict[str, Any]:
        from losant_kit.mockserver.world import initial_world

        return initial_world(settings)

    def handlers(self) -> dict[str, Callable[..., Any]]:
        from losant_kit.mockserver import handlers

        return handlers.registry()

    def banner(self, app: MockApp, url: str, started_in: float, mqtt: str | None = None) -> str:
        from losant_kit.mockserver.cli import banner
        from losant_kit.mockserver.experience.options import served_files

        text = banner(url, app.world_summary, started_in, mqtt)
        served = served_files(url, app.experience.contracts)
        if served:  # above the "Press Ctrl-C" line
            head, _, last = text.rpartition("\n")
            text = "\n".join([head, *served, last])
        return text

    def create_app(self, settings: Settings) -> MockApp:
        from losant_kit.mockserver.app import MockApp

        return MockApp(settings)


PROFILE = LosantProfile()
