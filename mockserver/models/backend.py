"""The backend: one object holding the mock's whole state and its models.

Handlers receive it and call one model method per action. Models reach each
other through it (deleting an application asks the device model to drop that
application's devices), never through globals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from losant_kit.mockserver.auth import Authenticator, TokenSigner
from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.jobs import Jobs
from losant_kit.mockserver.models.applications import Applications
from losant_kit.mockserver.models.base import IdFactory
from losant_kit.mockserver.models.commands import Commands
from losant_kit.mockserver.models.devices import Devices
from losant_kit.mockserver.models.events import Events
from losant_kit.mockserver.models.experiences import Experiences
from losant_kit.mockserver.models.experiences_domains import ExperienceDomains, ExperienceSlugs
from losant_kit.mockserver.models.experiences_endpoints import ExperienceEndpoints
from losant_kit.mockserver.models.experiences_groups import ExperienceGroups
from losant_kit.mockserver.models.experiences_users import ExperienceUsers
from losant_kit.mockserver.models.jobs import JobActions
from losant_kit.mockserver.models.keys import ApplicationKeys
from losant_kit.mockserver.models.recipes import DeviceRecipes
from losant_kit.mockserver.models.telemetry import Telemetry
from losant_kit.mockserver.models.tokens import ApiTokens
from losant_kit.mockserver.models.usage import Usage
from losant_kit.mockserver.models.users import Users
from losant_kit.mockserver.store import MemoryStore, Store
from losant_kit.mockserver.streams import Streams
from losant_kit.mockserver.throttle import Throttles
from losant_kit.mockserver.timeseries import TimeSeriesStore


class StatefulPart(Protocol):
    """State kept outside the record store (time series, streams...)."""

    def snapshot(self) -> Any: ...
    def restore(self, data: Any) -> None: ...
    def clear(self) -> None: ...


class Backend:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        signer: TokenSigner | None = None,
        throttles: Throttles | None = None,
        seed: int | None = None,
        job_duration_s: float = 2.0,
    ) -> None:
        self.clock = clock or Clock()
        self.store: Store = store or MemoryStore()
        self.signer = signer or TokenSigner()
        self.throttles = throttles or Throttles(self.clock)
        self.job_duration_s = job_duration_s
        self.ids = IdFactory(self.clock, seed)
        self.streams = Streams()
        self.series = TimeSeriesStore()  # device state history (see mockserver/timeseries.py)
        self.authenticator = Authenticator(self)
        self.users = Users(self)
        self.tokens = ApiTokens(self)
        self.applications = Applications(self)
        self.keys = ApplicationKeys(self)
        self.devices = Devices(self)
        # Parts of the state outside the store, by snapshot key.
        self.parts: dict[str, StatefulPart] = {}
        self.clock_listeners: list[Callable[[], None]] = []
        self.device_removal_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.recipes = DeviceRecipes(self)
        # -- part 2 models: each line below is owned by its module's author --
        self.telemetry = Telemetry(self)
        self.usage = Usage(self)
        self.commands = Commands(self)
        self.events = Events(self)
        self.jobs, self.job_actions = Jobs(self), JobActions(self)
        # -- experiences (models/experiences*.py; served by mockserver/experience/) --
        self.experiences = Experiences(self)
        self.experience_groups = ExperienceGroups(self)
        self.experience_users = ExperienceUsers(self)
        self.experience_endpoints = ExperienceEndpoints(self)
        self.experience_slugs = ExperienceSlugs(self)
        self.experience_domains = ExperienceDomains(self)

    # ------------------------------------------------------------ whole state

    def snapshot(self) -> dict[str, Any]:
        state: dict[str, Any] = {"records": self.store.snapshot()}
        for name, part in self.parts.items():
            state[name] = part.snapshot()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        if not isinstance(state.get("records"), dict):
            raise ValueError("records: expected an object of record lists")
        self.store.restore(state["records"])
        for name, part in self.parts.items():
            if name in state:
                part.restore(state[name])
            else:
                part.clear()

    def clear(self) -> None:
        self.store.restore({})
        for part in self.parts.values():
            part.clear()

    def clock_moved(self) -> None:
        """Let time-driven parts (jobs) catch up after the clock jumps."""
        for listener in self.clock_listeners:
            listener()

    def on_device_removed(self, device: dict[str, Any]) -> None:
        for listener in self.device_removal_listeners:
            listener(device)

    def jobs_overview(self) -> list[dict[str, Any]]:
        return sorted(self.store.all("jobs"), key=lambda job: job.get("createdAt", 0))

    # ------------------------------------------------------------ worlds

    def load_world(self, world: dict[str, Any]) -> dict[str, Any]:
        """Import a completed world document (see fixtures/README.md).

        Returns a summary of what was seeded, for the CLI's start-up banner.
        """
        from losant_kit.mockserver.world import import_world

        return import_world(self, world)
