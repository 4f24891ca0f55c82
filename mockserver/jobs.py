"""Simulated background jobs, driven by the mock's clock.

Some platform actions answer ``202 {"jobQueued": true, "jobId": ...}`` and do
their work later (exports, archives, bulk removals, clones). Here such an
action calls :meth:`Jobs.enqueue` with an *effect*: a function that makes the
real change (removes the data, builds the export) and returns the job's result.
The job is ``running`` for ``backend.job_duration_s`` seconds of the mock's
clock, then its effect runs and it is ``completed`` (or ``failed`` with the
error the effect raised).

Nothing waits on real time alone. Due jobs run

* when the clock is moved (``POST /_mock/clock`` calls ``backend.clock_moved``,
  which calls :meth:`Jobs.run_due` through ``backend.clock_listeners``);
* lazily, before a job is enqueued and whenever jobs or their results are read;
* from a small asyncio ticker (every :attr:`Jobs.tick_s`) that the first
  enqueue inside a running event loop starts and that stops when no job is
  pending, so a client polling a live mock sees jobs finish without help.
  Starting it from ``enqueue`` needs no app start-up hook and costs nothing
  while no job is pending.

Job records are plain store records (kind ``jobs``, parent ``applicationId``),
so snapshots include them; the effects are Python closures and live only in
memory. After a snapshot restore, a restored job whose effect this process no
longer holds is failed rather than left running forever.

Concurrency throttles (``x-throttle`` kind ``concurrent``): the caller passes
the operation's extension (from the spec) and the key it counts ``per``; the
job holds a slot in :class:`losant_kit.mockserver.throttle.Throttles` from enqueue until
its effect has run, so a second call is refused with 429 and a Retry-After of
the first job's remaining time. No callback URL is ever called and no email is
sent: both are recorded on the job.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import NotFound, PlatformError

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend
    from losant_kit.mockserver.throttle import ThrottleRule

log = logging.getLogger(__name__)

KIND = "jobs"
DOWNLOAD_PATH = "/_mock/jobs/{job_id}/download"
# The alphabet of nanoid, whose default length (21) is jobEnqueuedResult.jobId's maxLength.
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-"
_ID_LENGTH = 21

Effect = Callable[[], dict[str, Any]]


@dataclass
class Enqueued:
    """What a model returns when it queued a job instead of answering at once."""

    job: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """The platform's ``jobEnqueuedResult``."""
        return {"jobQueued": True, "jobId": self.job["id"], "success": True}


@dataclass
class _Pending:
    job_id: str
    due_at: float
    sequence: int
    effect: Effect
    rule: ThrottleRule | None
    key: Hashable
    base_url: str


class Jobs:
    """The job engine: enqueue, run when due, report."""

    tick_s = 0.1

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        self._pending: dict[str, _Pending] = {}
        self._sequence = 0
        # Jobs run from the event loop (ticker, handlers) and from the thread
        # pool Connexion runs the synchronous control routes in (clock moves).
        self._lock = threading.RLock()
        self._ticker: asyncio.Task[None] | None = None
        backend.clock_listeners.append(self.run_due)
        backend.parts["pendingJobs"] = _PendingJobsPart(self)

    # ------------------------------------------------------------ enqueue

    def enqueue(
        self,
        operation_id: str,
        *,
        application_id: str | None,
        throttle_key: Hashable,
        effect: Effect,
        input: dict[str, Any],
        throttle: Mapping[str, Any] | None = None,
        requested_by: dict[str, str] | None = None,
        callback_url: str | None = None,
        email: str | None = None,
        base_url: str = "",
    ) -> Enqueued:
        """Queue ``effect`` to run after ``backend.job_duration_s`` on the mock's clock.

        ``throttle`` is the operation's ``x-throttle`` extension; when it is a
        ``concurrent`` rule, the job holds one of its slots for ``throttle_key``
        until it finishes, and this raises :class:`~losant_kit.mockserver.errors.Throttled`
        (nothing is recorded) while the slots are taken. ``base_url`` (the
        mock's own scheme and host) makes the download URL of a result file.
        """
        self.run_due()
        with self._lock:
            rule = self._rule(operation_id, throttle)
            duration = max(0.0, float(self.backend.job_duration_s))
            job_id = self._new_id()
            if rule is not None:
                self.backend.throttles.start_job(rule, throttle_key, job_id,
                                                 expected_duration_s=duration)
            now = self.backend.clock.now()
            job: dict[str, Any] = {
                "id": job_id,
                "jobId": job_id,
                "operationId": operation_id,
                "applicationId": application_id,
                "status": "running",
                "createdAt": iso(now),
                "dueAt": iso(now + duration),
                "durationSeconds": duration,
                "input": input,
            }
            if requested_by:
                job["requestedBy"] = requested_by
            if rule is not None:
                job["throttle"] = {"bucket": rule.bucket, "per": rule.per, "key": str(throttle_key)}
            if callback_url:
                job["callbackUrl"] = callback_url  # recorded, never called
            if email:
                job["email"] = email  # recorded, never sent
            self.store.put(KIND, job)
            self._sequence += 1
            self._pending[job_id] = _Pending(job_id, now + duration, self._sequence, effect,
                                             rule, throttle_key, base_url)
        self._ensure_ticker()
        return Enqueued(job)

    @contextmanager
    def hold(self, operation_id: str, throttle: Mapping[str, Any] | None,
             throttle_key: Hashable) -> Iterator[None]:
        """Take a concurrency slot for work done synchronously within one request.

        A synchronous clone must still be refused while a queued clone of the
        same owner runs, and must block a queued one while it works.
        """
        self.run_due()
        rule = self._rule(operation_id, throttle)
        if rule is None:
            yield
            return
        with self._lock:
            token = f"sync-{self._new_id()}"
            self.backend.throttles.start_job(rule, throttle_key, token, expected_duration_s=0.0)
        try:
            yield
        finally:
            self.backend.throttles.finish_job(rule, throttle_key, token)

    def _rule(self, operation_id: str, throttle: Mapping[str, Any] | None) -> ThrottleRule | None:
        if not throttle or throttle.get("kind") != "concurrent":
            return None
        rule = self.backend.throttles.rules.get(operation_id)
        if rule is None or rule.kind != "concurrent":
            rule = self.backend.throttles.rule_for(operation_id, throttle)
        return rule

    def _new_id(self) -> str:
        number = int(self.backend.ids.secret(16), 16)
        chars = []
        for _ in range(_ID_LENGTH):
            number, digit = divmod(number, len(_ID_ALPHABET))
            chars.append(_ID_ALPHABET[digit])
        return "".join(chars)

    # ------------------------------------------------------------ running

    def run_due(self) -> int:
        """Run every job whose time has come, oldest first. Returns how many ran."""
        if not self._pending:
            return 0
        ran = 0
        with self._lock:
            now = self.backend.clock.now()
            due = sorted((p for p in self._pending.values() if p.due_at <= now),
                         key=lambda p: (p.due_at, p.sequence))
            for pending in due:
                if self._pending.pop(pending.job_id, None) is not None:
                    with self.store.transaction():  # a job's effect and its finish: one write
                        self._run(pending)
                    ran += 1
        return ran

    def _run(self, pending: _Pending) -> None:
        try:
            job = self.store.get(KIND, pending.job_id)
            if job is None:
                return  # its application was deleted meanwhile
            try:
                result = pending.effect()
            except PlatformError as exc:
                self._finish(job, "failed", error={"type": exc.type, "message": exc.message})
                return
            except Exception as exc:  # a bug in an effect must not stop the other jobs
                log.exception("job %s (%s) failed", job["id"], job["operationId"])
                self._finish(job, "failed", error={"type": "InternalError",
                                                   "message": f"{type(exc).__name__}: {exc}"})
                return
            result = dict(result or {})
            if "file" in result:
                result["url"] = pending.base_url + DOWNLOAD_PATH.format(job_id=job["id"])
            self._finish(job, "completed", result=result)
        finally:
            if pending.rule is not None:
                self.backend.throttles.finish_job(pending.rule, pending.key, pending.job_id)

    def _finish(self, job: dict[str, Any], status: str, *, result: dict[str, Any] | None = None,
                error: dict[str, str] | None = None) -> None:
        job["status"] = status
        job["completedAt"] = iso(self.backend.clock.now())
        if result is not None:
            job["result"] = result
        if error is not None:
            job["error"] = error
        self.store.put(KIND, job)

    # ------------------------------------------------------------ the ticker

    def _ensure_ticker(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside a loop (a script driving models): clock moves still run jobs
        task = self._ticker
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._ticker = loop.create_task(self._tick(), name="losant-mock job ticker")

    async def _tick(self) -> None:
        while self._pending:
            await asyncio.sleep(self.tick_s)
            try:
                self.run_due()
            except Exception:  # keep ticking: the next request or clock move may still succeed
                log.exception("running due jobs failed")

    # ------------------------------------------------------------ reading

    def get(self, job_id: str) -> dict[str, Any]:
        self.run_due()
        job = self.store.get(KIND, job_id)
        if job is None:
            raise NotFound.resource("Job", job_id)
        return job

    def download(self, job_id: str) -> tuple[str, str]:
        """``(content type, text)`` of a finished job's file (``GET /_mock/jobs/<id>/download``)."""
        job = self.get(job_id)
        file = (job.get("result") or {}).get("file")
        if job["status"] != "completed" or not file:
            state = {"running": "is still running", "failed": "failed"}.get(job["status"],
                                                                              "made no file")
            raise NotFound(f"Job {job_id} {state}; nothing to download")
        return file["contentType"], file["content"]

    # ------------------------------------------------------------ snapshots

    def forget_pending(self) -> None:
        """Drop every pending effect and free its throttle slot (reset, restore)."""
        with self._lock:
            for pending in self._pending.values():
                if pending.rule is not None:
                    self.backend.throttles.finish_job(pending.rule, pending.key, pending.job_id)
            self._pending.clear()

    def reconcile(self) -> None:
        """Match pending effects with the job records after a snapshot restore."""
        with self._lock:
            for job_id, pending in list(self._pending.items()):
                job = self.store.get(KIND, job_id)
                if job is None or job.get("status") != "running":
                    self._pending.pop(job_id)
                    if pending.rule is not None:
                        self.backend.throttles.finish_job(pending.rule, pending.key, job_id)
            for job in list(self.store.all(KIND)):
                if job.get("status") == "running" and job["id"] not in self._pending:
                    self._finish(job, "failed", error={
                        "type": "JobLost",
                        "message": "The mock's state was restored from a snapshot while this "
                                   "job was running; its work was not carried over",
                    })


class _PendingJobsPart:
    """Lets the engine hear about snapshot restores and resets (``backend.parts``)."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs

    def snapshot(self) -> list[str]:
        # Informational: the effects themselves are code and cannot be exported.
        return sorted(self.jobs._pending)

    def restore(self, data: Any) -> None:
        self.jobs.reconcile()

    def clear(self) -> None:
        # Restoring a snapshot without this part's key also lands here.
        self.jobs.forget_pending()
        self.jobs.reconcile()


def export_file(stem: str, fmt: str, rows: list[dict[str, Any]], columns: tuple[str, ...]
                ) -> dict[str, str]:
    """An export file as a job result keeps it: name, content type and text.

    JSON is the list of rows; CSV has one column per name in ``columns``, with
    objects, arrays and booleans written as JSON and missing values empty.
    """
    if fmt == "json":
        return {"name": f"{stem}.json", "contentType": "application/json",
                "content": json.dumps(rows)}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return {"name": f"{stem}.csv", "contentType": "text/csv", "content": out.getvalue()}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | bool):
        return json.dumps(value)
    return str(value)
