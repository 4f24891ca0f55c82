"""What a run creates, and how it is removed again, whatever happens.

Live-safe runs work inside one application: one the run creates
(``losant-contracts-<time>-<random>``) or one the user names with
``--application-id``. Every resource a suite creates is recorded here (the
client reports each 201, Schemathesis reports through an ``after_call`` hook),
and ``close()`` deletes, newest first:

* everything recorded *outside* the sandbox application (user API tokens,
  applications made by the stateful suite);
* everything recorded inside it, when the application was given by the user;
* the sandbox application itself, when the run created it (the platform
  deletes what it holds with it).

``close()`` runs from the pytest session finalizer, from ``atexit`` and from a
SIGTERM/SIGINT handler, and only once.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Sandbox:
    def __init__(self, delete: Callable[[str], int]) -> None:
        self._delete = delete
        self.application_id: str | None = None
        self.owned = False
        self.created: list[str] = []  # resource paths, oldest first
        self._closed = False
        self._lock = threading.Lock()
        self._previous: dict[int, Any] = {}

    # ------------------------------------------------------------ recording

    def adopt(self, application_id: str, *, owned: bool) -> None:
        self.application_id = application_id
        self.owned = owned

    def record(self, path: str) -> None:
        with self._lock:
            if path not in self.created:
                self.created.append(path)

    def record_creation(self, request_path: str, body: Any, status: int = 201) -> None:
        """Note the resource a successful ``POST request_path`` made."""
        if not isinstance(body, dict):
            return
        path = request_path.split("?", 1)[0].rstrip("/")
        if path.endswith("/clone") or path == "/applications/import":
            # A clone or import that finished at once names the new application.
            made = body.get("applicationId") or (body.get("application") or {}).get("id")
            if made:
                self.record(f"/applications/{made}")
            return
        if status != 201:
            return
        ident = body.get("id") or body.get("apiTokenId") or body.get("applicationKeyId")
        if path.endswith("/attributes"):
            return  # lives in its device; removed with it
        if ident and not path.startswith("/auth"):
            self.record(f"{path}/{ident}")

    # ------------------------------------------------------------ cleanup

    def inside(self, path: str) -> bool:
        prefix = f"/applications/{self.application_id}/"
        return bool(self.application_id) and path.startswith(prefix)

    def plan(self) -> list[str]:
        """The DELETEs close() sends, in order."""
        own_app = f"/applications/{self.application_id}" if self.application_id else None
        steps = [p for p in reversed(self.created)
                 if p != own_app and not (self.owned and self.inside(p))]
        if self.owned and own_app:
            steps.append(own_app)
        return steps

    def close(self) -> list[str]:
        """Delete what the run made; returns the paths that could not be deleted."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
        leftovers = []
        for path in self.plan():
            try:
                status = self._delete(path)
            except Exception as exc:  # cleanup must go on past one broken call
                log.warning("cleanup of %s failed: %s", path, exc)
                leftovers.append(path)
                continue
            if status not in (200, 202, 204, 404, 410):
                leftovers.append(path)
        if leftovers:
            log.warning("losant-contracts could not delete: %s", ", ".join(leftovers))
        self._restore_signals()
        return leftovers

    def guard(self) -> None:
        """Clean up at interpreter exit and on SIGTERM/SIGINT as well."""
        atexit.register(self.close)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, OSError):
                self._previous[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.close()
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            os._exit(128 + signum)

    def _restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, previous)
        self._previous.clear()
