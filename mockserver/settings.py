"""The explicit configuration object every mock app is built from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    seed: int = 1
    """Seed of the generated world and of ids; same seed, same world."""

    fixtures: Path | None = None
    """A world file (YAML/JSON) to load instead of generating one."""

    users: tuple[tuple[str, str], ...] = ()
    """Logins (email, password) for the generated world; default dev@example.com."""

    jwt_secret: str | None = None
    """Token signing secret; random per run when unset."""

    throttle: bool = True
    throttle_scale: float = 1.0

    job_duration_s: float = 2.0
    """How long simulated jobs (exports, clones, bulk removals) take, on the mock's clock."""

    check_responses: bool = False
    """Refuse to send any response that breaches the spec (turned on by the tests)."""

    empty: bool = False
    """Start with no world at all (tests that build their own state)."""

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int | None = None
    """Port of the embedded MQTT broker (0: any free port; None: no MQTT listener)."""

    mqtt_ws_port: int | None = None
    """Port of MQTT over WebSocket (0: any free port; None: off)."""

    data: Path | None = None
    """A SQLite file holding the whole state across restarts (mockserver/persistence.py);
    None keeps everything in memory, a fresh world each start."""

    cors: bool = True
    """Answer CORS preflights and add CORS headers (mockserver.cors)."""

    cors_origins: tuple[str, ...] = ()
    """Origins CORS allows; empty: any (the request's Origin is echoed)."""

    faults: tuple[dict[str, Any], ...] = ()
    """Fault rules installed at start and again on every reset (``--fault``)."""

    experiences: tuple[tuple[str, str | None], ...] = ()
    """Experience API files and the application each serves (None: the first one),
    ``--experience FILE [--experience-app ID]`` (mockserver/experience/binding.py)."""
    platform: str = "losant"
    """The platform profile served (``--platform``; mockserver/profiles/)."""
