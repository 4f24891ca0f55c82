"""The control API under ``/_mock`` (specs/control.yaml): drive the mock itself."""

from __future__ import annotations

import functools
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml
from connexion import AsyncApp
from connexion.resolver import Resolver
from starlette.responses import Response

from losant_kit import specs
from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.overview import overview

if TYPE_CHECKING:
    from losant_kit.mockserver.app import MockApp

SNAPSHOT_VERSION = 1

# What is served where: the root index, /_mock/ and the banner all read this.
INDEX_LINKS = {
    "spec": "/openapi.json",
    "spec31": "/openapi-3.1.json",
    "swaggerUi": "/ui/",
    "control": "/_mock/index.json",
    "inspector": "/_mock/",
    "controlSpec": "/_mock/openapi.json",
    "world": "/_mock/world",
    "requests": "/_mock/requests",
    "clock": "/_mock/clock",
    "throttles": "/_mock/throttles",
    "jobs": "/_mock/jobs",
    "snapshot": "/_mock/snapshot",
    "mqtt": "/_mock/mqtt",
    "faults": "/_mock/faults",
    "overview": "/_mock/overview",
}
INSPECTOR_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "inspector.js": "text/javascript; charset=utf-8",
    "inspector.css": "text/css; charset=utf-8",
}


class Control:
    def __init__(self, mock: MockApp) -> None:
        self.mock = mock
        self.backend = mock.backend
        self._world: dict[str, Any] | None = None

    # ------------------------------------------------------------ index

    def index(self) -> dict[str, Any]:
        """Every part the mock serves, so each link of the start-up banner answers."""
        return {"name": "Losant mock", "links": dict(INDEX_LINKS)}

    # ------------------------------------------------------------ world

    def load_initial_world(self) -> dict[str, Any]:
        from losant_kit.mockserver.world import initial_world

        if self._world is None:
            self._world = initial_world(self.mock.settings)
        self.summary = self.backend.load_world(self._world)
        return self.summary

    def resume_world(self, world: dict[str, Any], summary: dict[str, Any]) -> None:
        """A resumed ``--data`` file's world: what reset goes back to, and its summary."""
        self._world, self.summary = world, summary

    @property
    def world_document(self) -> dict[str, Any] | None:
        return self._world

    def reset(self) -> dict[str, Any]:
        self.mock.mqtt.reset()
        self.backend.clear()
        self.backend.clock.reset()
        self.mock.throttles.reset()
        self.mock.faults.reset()
        return self.load_initial_world()

    def world(self) -> dict[str, Any]:
        return self.summary

    # ------------------------------------------------------------ snapshot

    def snapshot_get(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, **self.backend.snapshot()}

    def snapshot_put(self, body: dict[str, Any]) -> dict[str, int]:
        if body.get("version") != SNAPSHOT_VERSION:
            raise ValidationError(f"body.version: only version {SNAPSHOT_VERSION} snapshots import")
        previous = self.backend.snapshot()
        try:
            self.backend.restore({k: v for k, v in body.items() if k != "version"})
        except (ValueError, KeyError, TypeError) as exc:
            # Leave the state exactly as it was before the failed import.
            self.backend.restore(previous)
            raise ValidationError(f"body: not an importable snapshot ({exc})") from None
        return {kind: len(records) for kind, records in body["records"].items()}

    # ------------------------------------------------------------ journal

    def requests_get(
        self,
        path: str | None = None,
        status: int | None = None,
        method: str | None = None,
        limit: int | None = None,
        since: int | None = None,
    ) -> dict[str, Any]:
        items = self.mock.journal.query(
            path=path, status=status, method=method, limit=limit, since=since
        )
        return {"items": items, "count": len(items)}

    def request_get(self, request_id: int) -> dict[str, Any]:
        entry = self.mock.journal.get(request_id)
        if entry is None:
            raise NotFound(f"No journal entry {request_id} (never, or it left the journal)")
        return entry

    def requests_delete(self) -> dict[str, int]:
        return {"removed": self.mock.journal.clear()}

    # ------------------------------------------------------------ clock

    def clock_get(self) -> dict[str, Any]:
        clock = self.backend.clock
        return {"now": iso(clock.now()), "epochMs": clock.now_ms(), "offsetSeconds": clock.offset}

    def clock_post(self, body: dict[str, Any]) -> dict[str, Any]:
        clock = self.backend.clock
        if "advance" in body:
            clock.advance(float(body["advance"]))
        else:
            try:
                when = datetime.fromisoformat(body["set"].replace("Z", "+00:00"))
            except ValueError:
                raise ValidationError(
                    f"body.set: '{body['set']}' is not an ISO-8601 instant"
                ) from None
            if when.tzinfo is None:
                raise ValidationError("body.set: give a time zone (e.g. a trailing Z)")
            clock.set(when)
        self.backend.clock_moved()
        return self.clock_get()

    # ------------------------------------------------------------ throttles, jobs

    def throttles_get(self) -> dict[str, Any]:
        return self.mock.throttles.snapshot()

    def throttles_reset(self) -> dict[str, Any]:
        self.mock.throttles.reset()
        self.mock.mqtt.lockouts.clear()
        return self.mock.throttles.snapshot()

    def jobs_get(self) -> dict[str, Any]:
        self.backend.jobs.run_due()
        jobs = self.backend.jobs_overview()
        return {"items": jobs, "count": len(jobs)}

    def job_download(self, job_id: str) -> Response:
        content_type, text = self.backend.jobs.download(job_id)
        return Response(text, media_type=content_type)

    # ------------------------------------------------------------ MQTT broker

    def mqtt_get(self) -> dict[str, Any]:
        return self.mock.mqtt.overview()

    def mqtt_drop(self, client_id: str) -> Response:
        if not self.mock.mqtt.drop(client_id):
            raise NotFound(f"No MQTT client {client_id} is connected")
        return Response(status_code=204)

    # ------------------------------------------------------------ faults

    def faults_get(self) -> dict[str, Any]:
        items = self.mock.faults.listing()
        return {"items": items, "count": len(items)}

    def faults_post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return self.mock.faults.add(body), 201

    def faults_delete(self) -> dict[str, int]:
        return {"removed": self.mock.faults.clear()}

    def fault_delete(self, fault_id: int) -> dict[str, Any]:
        removed = self.mock.faults.remove(fault_id)
        if removed is None:
            raise NotFound(f"No fault rule {fault_id}")
        return removed

    # ------------------------------------------------------------ inspector

    def inspector_file(self, name: str) -> Response:
        """The page and its assets, shipped in the package (works offline)."""
        text = resources.files("losant_kit.mockserver").joinpath("inspector", name).read_bytes()
        return Response(text, media_type=INSPECTOR_TYPES[name],
                        headers={"Cache-Control": "no-cache"})

    # ------------------------------------------------------------ mounting

    def mount(self, app: AsyncApp) -> None:
        routes = {
            "index": lambda: self.index(),
            "inspectorPage": lambda: self.inspector_file("index.html"),
            "inspectorAsset": lambda asset: self.inspector_file(asset),
            "overview": lambda: overview(self.backend),
            "faultsGet": lambda: self.faults_get(),
            "faultsPost": lambda body: self.faults_post(body),
            "faultsDelete": lambda: self.faults_delete(),
            "faultDelete": lambda faultId: self.fault_delete(faultId),
            "requestGet": lambda requestId: self.request_get(requestId),
            "reset": lambda: self.reset(),
            "world": lambda: self.world(),
            "snapshotGet": lambda: self.snapshot_get(),
            "snapshotPut": lambda body: self.snapshot_put(body),
            "requestsGet": lambda path=None, status=None, method=None, limit=None, since=None: (
                self.requests_get(path, status, method, limit, since)
            ),
            "requestsDelete": lambda: self.requests_delete(),
            "clockGet": lambda: self.clock_get(),
            "clockPost": lambda body: self.clock_post(body),
            "throttlesGet": lambda: self.throttles_get(),
            "throttlesReset": lambda: self.throttles_reset(),
            "jobsGet": lambda: self.jobs_get(),
            "jobDownload": lambda jobId: self.job_download(jobId),
            "mqttGet": lambda: self.mqtt_get(),
            "mqttDrop": lambda clientId: self.mqtt_drop(clientId),
        }
        # libyaml's parser where present: the same safe loading, ~10x faster at start-up.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        document = yaml.load(specs.CONTROL_SPEC.read_text(), Loader=loader)
        app.add_api(
            document,
            base_path="/_mock",
            resolver=Resolver(function_resolver=lambda op_id: self._in_transaction(routes[op_id])),
        )

    def _in_transaction(self, route: Any) -> Any:
        """Each control call is one transaction, like a platform request (``--data``)."""
        store = self.backend.store

        def run(*args: Any, **kwargs: Any) -> Any:
            with store.transaction():
                return route(*args, **kwargs)

        # Connexion passes parameters by the names the function declares.
        return functools.wraps(route)(run)
