"""The platform's published throttles and limits, enforced per operation.

Each throttled operation in the generated spec carries an ``x-throttle``
extension copied from ``reference/throttles.yaml``. At start-up the app turns
those into :class:`ThrottleRule` objects (one small typed table, see
:meth:`Throttles.load_spec`); on each request the HTTP layer computes the key
the rule counts ``per`` (a device id; for a gateway reporting for a peripheral,
the peripheral's id) and calls one method here:

- ``window`` (and ``interval``, which is a window of one call):
  :meth:`Throttles.acquire_window` -- at most ``limit`` calls per ``window_s``.
- ``concurrent``: :meth:`Throttles.start_job` / :meth:`Throttles.finish_job`.
- ``size``: :meth:`Throttles.check_size`.

Refusals raise :class:`~losant_kit.mockserver.errors.Throttled` (429 with Retry-After),
except size caps, which raise :class:`~losant_kit.mockserver.errors.BadRequest` (see
``check_size`` for why). All time comes from the injected clock, so tests move
the clock instead of sleeping.

Why a sliding window: the platform publishes "30 calls in a 15-second window"
without saying where windows start. A fixed window would accept 30 calls at
t=14.9 s and 30 more at t=15 s; a sliding window never accepts more than
``limit`` calls in *any* ``window_s`` span, which is the stricter reading and
matches the MQTT message limiting the docs compare it to. A client that stays
under a sliding window stays under every fixed one, so code tested here will
not be throttled by the platform for this reason.

Cost: one deque of accepted-call times per (bucket, key), pruned from the left
on each call, so a call is O(1) amortised (about 2 us on the hot path of
``device.sendState``). Keys whose calls have all expired are swept out.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from losant_kit.mockserver.clock import Clock, iso
from losant_kit.mockserver.errors import BadRequest, Throttled

Kind = Literal["window", "concurrent", "size"]

# OpenAPI operation objects live under these keys of a path item.
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """One operation's throttle, with the registry's scale already applied."""

    operation_id: str
    kind: Kind
    bucket: str
    label: str
    limit: int | None = None
    window_s: float | None = None
    per: str | None = None
    max_bytes: int | None = None
    published_limit: int | None = None
    scale: float = 1.0

    @classmethod
    def from_extension(cls, operation_id: str, ext: Mapping[str, Any]) -> ThrottleRule:
        """Read an ``x-throttle`` extension; the result is unscaled (see :meth:`scaled`)."""
        kind = ext.get("kind")
        bucket = str(ext.get("bucket") or operation_id)
        label = _label(operation_id, ext)
        if kind == "size":
            max_bytes = int(_positive(ext, "max_bytes", operation_id))
            return cls(operation_id, "size", bucket, label, max_bytes=max_bytes)
        if kind == "interval":
            # "1 call per 5 minutes" is a sliding window that holds one call.
            limit = 1
            kind = "window"
        elif kind in ("window", "concurrent"):
            limit = int(_positive(ext, "limit", operation_id))
        else:
            raise ValueError(f"{operation_id}: unknown x-throttle kind {kind!r}")
        window_s = float(_positive(ext, "window_s", operation_id)) if kind == "window" else None
        return cls(
            operation_id,
            kind,
            bucket,
            label,
            limit=limit,
            window_s=window_s,
            per=ext.get("per"),
            published_limit=limit,
        )

    def scaled(self, scale: float) -> ThrottleRule:
        """The same rule with its call/job limit multiplied by ``scale``.

        The limit is rounded down (a scaled throttle is never looser than the
        proportional rate) but never below 1, so every operation stays callable;
        the window is kept, so "3 per 15 s" still takes 15 s to recover and
        timing behaviour is the platform's. Size caps are not scaled: they are
        about payloads, not rates.
        """
        if not scale > 0:
            raise ValueError(f"throttle scale must be positive, got {scale!r}")
        if self.published_limit is None:
            return self
        # The epsilon keeps 30 * 0.1 == 3.0000000000000004 and 29 * 0.1 == 2.9000000000000004
        # from landing on the wrong side of an integer.
        limit = max(1, math.floor(self.published_limit * scale + 1e-9))
        return replace(self, limit=limit, scale=scale)

    def describe(self) -> dict[str, Any]:
        """The rule as the control API shows it."""
        out: dict[str, Any] = {"kind": self.kind, "bucket": self.bucket}
        if self.limit is not None:
            out.update(limit=self.limit, publishedLimit=self.published_limit, per=self.per)
        if self.window_s is not None:
            out["windowSeconds"] = self.window_s
        if self.max_bytes is not None:
            out["maxBytes"] = self.max_bytes
        return out

    def refusal(self) -> str:
        """The message a refused call gets, naming the limit it hit."""
        if self.kind == "size":
            return f"{self.label} is limited to {_megabytes(self.max_bytes or 0)} per request"
        calls = "call" if self.limit == 1 else "calls"
        if self.kind == "window":
            text = f"{self.label} is limited to {self.limit} {calls} per {_duration(self.window_s)}"
        else:
            text = f"{self.label} is limited to {self.limit} concurrent {calls}"
        if self.per:
            text += f" per {self.per}"
        if self.limit != self.published_limit:
            text += f" (published limit {self.published_limit}, scaled by {self.scale:g})"
        return text


@dataclass(slots=True)
class _Window:
    """Accepted-call times for one (bucket, key), oldest first."""

    rule: ThrottleRule
    times: deque[float] = field(default_factory=deque)


@dataclass(slots=True)
class _Job:
    started: float
    expected_end: float | None


@dataclass(slots=True)
class _Jobs:
    """Running jobs for one (bucket, key), by job id."""

    rule: ThrottleRule
    running: dict[str, _Job] = field(default_factory=dict)


class Throttles:
    """Live throttle counters for the whole mock, safe to call from any thread.

    One lock guards every check-and-record, so concurrent callers can never both
    see the last free slot. The lock is held for a few dictionary and deque
    operations only; the mock is single-threaded asyncio, so it is uncontended.
    """

    # Expired windows are swept once at least this many calls have been made
    # since the last sweep (and at least one per tracked key, which keeps the
    # sweep O(1) amortised per call however many devices there are).
    _SWEEP_EVERY = 1024

    def __init__(self, clock: Clock, *, enabled: bool = True, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError(f"throttle scale must be positive, got {scale!r}")
        self.clock = clock
        self.enabled = enabled
        self.scale = scale
        self.rules: dict[str, ThrottleRule] = {}
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, Hashable], _Window] = {}
        self._jobs: dict[tuple[str, Hashable], _Jobs] = {}
        self._calls_since_sweep = 0

    # -- configuration -------------------------------------------------------

    def rule_for(self, operation_id: str, ext: Mapping[str, Any]) -> ThrottleRule:
        """Build (and register) the scaled rule for one operation's ``x-throttle``."""
        rule = ThrottleRule.from_extension(operation_id, ext).scaled(self.scale)
        self.rules[operation_id] = rule
        return rule

    def load_spec(self, spec: Mapping[str, Any]) -> dict[str, ThrottleRule]:
        """Register every operation of an OpenAPI document that has ``x-throttle``."""
        table: dict[str, ThrottleRule] = {}
        for path_item in spec.get("paths", {}).values():
            for method, op in path_item.items():
                if method in _HTTP_METHODS and "x-throttle" in op:
                    table[op["operationId"]] = self.rule_for(op["operationId"], op["x-throttle"])
        return table

    # -- window throttles (the hot path) ------------------------------------

    def acquire_window(self, rule: ThrottleRule, key: Hashable) -> None:
        """Record one call, or raise Throttled if ``limit`` calls are already in the window.

        Sliding window: a call at ``now`` is accepted iff fewer than ``limit``
        accepted calls lie in ``(now - window_s, now]``. Refused calls are not
        recorded, so a client hammering a full window is not locked out longer.
        """
        if rule.kind != "window":
            raise ValueError(f"{rule.operation_id} is a {rule.kind} rule, not a window")
        if not self.enabled:
            return
        with self._lock:
            # Read the clock under the lock: otherwise two threads could append
            # out of order and the deque would stop being sorted.
            now = self.clock.now()
            slot = (rule.bucket, key)
            window = self._windows.get(slot)
            if window is None:
                window = self._windows[slot] = _Window(rule)
            times = window.times
            _prune(times, now, rule.window_s)
            if len(times) >= rule.limit:
                retry_after = times[0] + rule.window_s - now
                raise Throttled(rule.refusal(), retry_after=retry_after)
            times.append(now)
            self._calls_since_sweep += 1
            if self._calls_since_sweep >= max(self._SWEEP_EVERY, len(self._windows)):
                self._sweep(now)

    # -- concurrent jobs -----------------------------------------------------

    def start_job(
        self,
        rule: ThrottleRule,
        key: Hashable,
        job_id: str,
        *,
        expected_duration_s: float | None = None,
    ) -> None:
        """Count a job as running, or raise Throttled while ``limit`` jobs run for ``key``.

        Jobs are tracked even when throttles are disabled, so the snapshot shows
        them. Starting a job id that is already running is a no-op.
        """
        if rule.kind != "concurrent":
            raise ValueError(f"{rule.operation_id} is a {rule.kind} rule, not concurrent")
        with self._lock:
            now = self.clock.now()
            slot = (rule.bucket, key)
            jobs = self._jobs.get(slot)
            if jobs is None:
                jobs = self._jobs[slot] = _Jobs(rule)
            if job_id in jobs.running:
                return
            if self.enabled and len(jobs.running) >= rule.limit:
                raise Throttled(rule.refusal(), retry_after=_job_retry_after(jobs, now))
            end = None if expected_duration_s is None else now + expected_duration_s
            jobs.running[job_id] = _Job(now, end)

    def finish_job(self, rule: ThrottleRule, key: Hashable, job_id: str) -> None:
        """Free the job's slot; finishing an unknown or already-finished job is a no-op."""
        with self._lock:
            slot = (rule.bucket, key)
            jobs = self._jobs.get(slot)
            if jobs is not None:
                jobs.running.pop(job_id, None)
                if not jobs.running:
                    del self._jobs[slot]

    # -- size caps -----------------------------------------------------------

    def check_size(self, rule: ThrottleRule, nbytes: int) -> None:
        """Raise BadRequest (400) if ``nbytes`` exceeds the rule's cap.

        Why 400 and not 413 or 429: 429 says "retry later", but the same request
        will always be too big, and a Retry-After would send clients into a
        loop. 413 is about the *request* body, while most caps here
        (timeSeriesQuery 30 MB, dataTableRows 20 MB) are on the *result* of a
        small request. And 400 is the only error status the platform's API
        description declares for these operations, so contract checks on
        documented status codes keep passing. The client's fix is to narrow
        the query (or, for file upload, use the signed-URL flow).
        """
        if rule.kind != "size":
            raise ValueError(f"{rule.operation_id} is a {rule.kind} rule, not a size cap")
        if self.enabled and nbytes > rule.max_bytes:
            raise BadRequest(f"{rule.refusal()}; this one is {nbytes} bytes")

    # -- control API ---------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Live counters for ``GET /_mock/throttles``; keys with nothing counted are left out."""
        with self._lock:
            now = self.clock.now()
            self._sweep(now)
            windows = []
            for (bucket, key), window in self._windows.items():
                rule, times = window.rule, window.times
                full = len(times) >= rule.limit
                windows.append(
                    {
                        "bucket": bucket,
                        "key": str(key),
                        "per": rule.per,
                        "operations": self._operations(rule),
                        "calls": len(times),
                        "limit": rule.limit,
                        "windowSeconds": rule.window_s,
                        "nextSlotInSeconds": times[0] + rule.window_s - now if full else 0.0,
                    }
                )
            jobs = [
                {
                    "bucket": bucket,
                    "key": str(key),
                    "per": group.rule.per,
                    "operations": self._operations(group.rule),
                    "limit": group.rule.limit,
                    "running": [
                        {
                            "jobId": job_id,
                            "startedAt": iso(job.started),
                            "expectedRemainingSeconds": (
                                None if job.expected_end is None else job.expected_end - now
                            ),
                        }
                        for job_id, job in group.running.items()
                    ],
                }
                for (bucket, key), group in self._jobs.items()
            ]
        return {
            "enabled": self.enabled,
            "scale": self.scale,
            "rules": {op: rule.describe() for op, rule in sorted(self.rules.items())},
            "windows": windows,
            "jobs": jobs,
        }

    def reset(self) -> None:
        """Forget every counted call and running job, as after a server restart."""
        with self._lock:
            self._windows.clear()
            self._jobs.clear()
            self._calls_since_sweep = 0

    # -- internals -----------------------------------------------------------

    def _sweep(self, now: float) -> None:
        """Drop windows whose calls have all expired, so idle keys cost no memory."""
        expired = [s for s, w in self._windows.items() if not _prune(w.times, now, w.rule.window_s)]
        for slot in expired:
            del self._windows[slot]
        self._calls_since_sweep = 0

    def _operations(self, rule: ThrottleRule) -> list[str]:
        shared = {op for op, r in self.rules.items() if r.bucket == rule.bucket}
        return sorted(shared | {rule.operation_id})


def _prune(times: deque[float], now: float, window_s: float) -> int:
    """Drop calls outside ``(now - window_s, now]`` and return how many remain."""
    cutoff = now - window_s
    while times and times[0] <= cutoff:
        times.popleft()
    # Only after the clock was set backwards: calls "in the future" are not in
    # the window either, and dropping them keeps the deque sorted.
    while times and times[-1] > now:
        times.pop()
    return len(times)


def _job_retry_after(jobs: _Jobs, now: float) -> float:
    """Seconds until the earliest running job is expected to end; 1 if nobody knows."""
    remaining = [j.expected_end - now for j in jobs.running.values() if j.expected_end is not None]
    soonest = min(remaining, default=0.0)
    return soonest if soonest > 0 else 1.0


def _positive(ext: Mapping[str, Any], name: str, operation_id: str) -> float:
    value = ext.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{operation_id}: x-throttle {name} must be a positive number")
    return value


def _label(operation_id: str, ext: Mapping[str, Any]) -> str:
    """'device sendState' from the extension's resource/action, else from the operation id."""
    if ext.get("resource") and ext.get("action"):
        return f"{ext['resource']} {ext['action']}"
    for sep in (".", "_", "/"):
        if sep in operation_id:
            resource, _, action = operation_id.partition(sep)
            return f"{resource} {action}"
    return operation_id


def _duration(seconds: float | None) -> str:
    """'15 seconds', '5 minutes': how the platform's docs phrase windows."""
    s = seconds or 0
    if s >= 60 and s % 60 == 0:
        minutes = int(s // 60)
        return "1 minute" if minutes == 1 else f"{minutes} minutes"
    return "1 second" if s == 1 else f"{s:g} seconds"


def _megabytes(nbytes: int) -> str:
    """The platform writes caps as '30MB' (binary megabytes: 31457280 bytes)."""
    return f"{nbytes / 2**20:g}MB"
