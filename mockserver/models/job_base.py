"""What every job-style action shares: queueing on the job engine, windows, throttle keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.jobs import Enqueued
from losant_kit.mockserver.models.events import source_of
from losant_kit.mockserver.times import resolve_window

if TYPE_CHECKING:
    from losant_kit.mockserver.jobs import Jobs
    from losant_kit.mockserver.models.backend import Backend


@dataclass
class Created:
    """A synchronous answer with the operation's ``201 Created`` status."""

    body: dict[str, Any]


class JobActionBase:
    """The backend a job-style action works on, and the job engine it queues on."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    @property
    def jobs(self) -> Jobs:
        return self.backend.jobs

    def _now_ms(self) -> int:
        return self.backend.clock.now_ms()

    def _enqueue(self, operation_id: str, principal: Principal, *, app_id: str | None,
                 key: Any, effect: Callable[[], dict[str, Any]], input: dict[str, Any],
                 throttle: Mapping[str, Any] | None, base_url: str,
                 notify: Mapping[str, Any] | None = None) -> Enqueued:
        notify = notify or {}
        return self.jobs.enqueue(
            operation_id, application_id=app_id, throttle_key=key, effect=effect,
            input=input, throttle=throttle, requested_by=source_of(self.backend, principal),
            callback_url=notify.get("callbackUrl"), email=notify.get("email"), base_url=base_url)

    def _window(self, start: Any, end: Any) -> tuple[int, int]:
        """The platform's start/end rule (0 = now, negative = relative), fixed now."""
        return resolve_window(self._now_ms(), start, end)


def throttle_key(throttle: Mapping[str, Any] | None, **candidates: Any) -> Any:
    """The value a concurrency throttle counts ``per`` (application, device, owner)."""
    if not throttle:
        return candidates.get("application")
    per = throttle.get("per")
    return candidates.get(per, candidates.get("application"))


def pick(record: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    return {f: record[f] for f in fields if f in record}
