"""The platform's job-style actions: archives, exports, imports, clones, data removal.

Each action checks its input at once (a mistake is a 400 and queues nothing),
then either queues a job on the engine (:mod:`losant_kit.mockserver.jobs`) whose effect
makes the real change when the job completes, or - where the platform also
documents a synchronous answer - does the work within the request.

Semantics (the "fidelity notes")
--------------------------------
* Concurrency limits come from each operation's ``x-throttle`` in the spec;
  the key is the throttle's ``per``: the application, the device, or the
  owner of the application being created (clone and applications.import share
  the ``import-or-clone`` bucket). Synchronous clones and imports hold the slot
  for the duration of the request, so they too are refused while a queued one
  runs.
* Archives (archiveData, backfillArchiveData, fullDataTablesArchive,
  fullEventsArchive) need an archive destination on the application
  (``archiveConfig`` with ``s3``, ``gcs``, ``azure`` or ``credentialName``),
  else 400. Nothing is uploaded anywhere: the job result records what the
  archive would hold (devices selected by ``archiveConfig.mode``, report and
  event counts), with the destination minus its secrets. ``archiveData``'s
  ``date`` (ms since the epoch) must be at least 31 days old; its UTC day is
  archived. Backfill archives every complete UTC day before today. The mock
  has no data tables, so a data-table archive holds none.
* ``application.export`` is always a job (202), ``forceJob`` or not; its file
  is a JSON bundle (application fields, globals, device recipes and, with
  ``includeDevices``, devices) that ``application.import`` and
  ``applications.import`` accept. ``exportType: "repo"`` is refused (400): the
  mock pushes nowhere. Files, data tables and flows do not exist in the mock.
* ``application.clone`` and both imports run synchronously (clone 201, import
  into an application 200, new application 201) unless ``forceJob`` is set or
  they would create more than :attr:`JobActions.sync_limit` resources; then
  they are jobs (202). ``dryRun`` changes nothing: clone answers 200
  ``{"success": true, "requiresJob": ...}``, application.import answers 200
  with the unchanged application and logs a dry-run execution. A clone is
  named "Copy of <name>", copies globals, device recipes and (with
  ``includeDevices``) devices - never access keys, tokens, events or data.
* Imports read bundles produced by ``application.export`` (the platform's zip
  bundles are not understood: 400). ``options.fromApplicationId`` imports from
  another application of the caller; ``options.importUrl`` is accepted only
  when it is a download URL of this mock (no outbound requests). Conflicts are
  by name (globals by key): ``create`` adds alongside (for globals: replaces),
  ``error`` refuses the import (400), ``retain`` keeps the existing resource,
  ``replace`` overwrites it. ``include`` limits the resource types imported;
  for ``applications.import`` devices come only with ``includeDevices`` or
  ``Device`` in ``options.include``. Device references (gatewayId, parentId)
  are remapped to the new devices.
* ``importLogs`` lists the application's import executions newest first,
  ``limit`` (default 1) of them, ``since`` (ms) filtering on the queue time.
* ``application.applyTemplate``: the mock has no application templates, so
  every template id is a 404.
* Exports of data (device.export, data.export, devices.export,
  devices.payloadCounts, events.export) produce a file kept in the job result
  and served at the result's ``url`` (``/_mock/jobs/<jobId>/download`` on the
  mock's own host). Device data exports are CSV with ``ID`` and ``Date``
  columns (per ``options``) and one column per attribute, one row per state
  report; ``filePerDevice`` is recorded but the mock writes one file.
  Payload counts count state reports and commands per device in the window.
* ``start``/``end`` follow the platform's rule (ms since the epoch, 0 = now,
  negative = relative to now) and are resolved when the job is queued.
  removeData removes state reports in the window and, unless
  ``keepCommandHistory``/``keepConnectionHistory`` (or when only some
  ``attributes`` are removed), the device's commands and connection log
  entries in the window; the devices are those selected when it was queued.
* ``email`` and ``callbackUrl`` are recorded on the job; nothing is sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import NotFound, PlatformError, ValidationError
from losant_kit.mockserver.jobs import DOWNLOAD_PATH, Enqueued, export_file
from losant_kit.mockserver.models.base import Record, flag, int_param, stamp_new
from losant_kit.mockserver.models.events import source_of
from losant_kit.mockserver.query import compile_device_query
from losant_kit.mockserver.times import iso_from_ms, parse_state_time, resolve_window

if TYPE_CHECKING:
    from losant_kit.mockserver.jobs import Jobs
    from losant_kit.mockserver.models.backend import Backend

ARCHIVE_MIN_AGE = timedelta(days=31)
BUNDLE_TYPE = "losant-mock-application-export"
BUNDLE_VERSION = 1
MAX_IMPORT_LOGS = 100
# What an export carries; the recipe fields are the recipe model's.
APPLICATION_FIELDS = ("name", "description", "blobUrlTTL", "endpointDefaultCors")
DEVICE_FIELDS = ("name", "description", "tags", "attributes", "deviceClass", "gatewayId",
                 "parentId", "systemInterval", "keepDuplicates")
RECIPE_FIELDS = ("name", "deviceName", "description", "deviceDescription", "tags", "attributes",
                 "deviceClass", "gatewayId", "parentId", "systemInterval", "keepDuplicates")
DEVICE_EXPORT_COLUMNS = ("id", "name", "description", "deviceClass", "gatewayId", "parentId",
                         "tags", "attributes", "connectionInfo", "creationDate", "lastUpdated")
RESOURCE_TYPES = ("Global", "DeviceRecipe", "Device")
_DOWNLOAD = re.compile("^" + re.escape(DOWNLOAD_PATH).replace(r"\{job_id\}", "([^/]+)") + "$")


@dataclass
class Created:
    """A synchronous answer with the operation's ``201 Created`` status."""

    body: dict[str, Any]


class JobActions:
    sync_limit = 1000
    """Clones and imports creating more resources than this are queued as jobs."""

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

    # ================================================================ archives

    def archive_data(self, principal: Principal, application_id: str, date: Any, *,
                     throttle: Mapping[str, Any] | None, base_url: str = "") -> Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        destination = _archive_destination(app)
        day = self._archive_day(date)
        start = int((day - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
        end = start + 86_400_000 - 1
        config = dict(app.get("archiveConfig") or {})

        def effect() -> dict[str, Any]:
            devices, reports = self._archived_data(app["id"], config, start, end)
            return {"archive": {"type": "deviceData", "date": day.date().isoformat(),
                                **destination, "deviceCount": devices, "reportCount": reports}}

        return self._enqueue("application.archiveData", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect,
                             input={"date": str(date)}, throttle=throttle, base_url=base_url)

    def _archive_day(self, value: Any) -> datetime:
        try:
            ms = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"query parameter date: '{value}' is not a number of "
                                  "milliseconds since the epoch") from None
        if not math.isfinite(ms) or ms < 0:
            raise ValidationError(f"query parameter date: '{value}' is not a valid date")
        when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=math.floor(ms))
        if when > self.backend.clock.now_datetime() - ARCHIVE_MIN_AGE:
            raise ValidationError("query parameter date: only data older than 31 days can be "
                                  "archived")
        return when.replace(hour=0, minute=0, second=0, microsecond=0)

    def backfill_archive_data(self, principal: Principal, application_id: str, *,
                              throttle: Mapping[str, Any] | None, base_url: str = "") -> Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        destination = _archive_destination(app)
        config = dict(app.get("archiveConfig") or {})

        def effect() -> dict[str, Any]:
            today = self.backend.clock.now_datetime().replace(hour=0, minute=0, second=0,
                                                              microsecond=0)
            end = int(today.timestamp() * 1000) - 1
            devices, reports = self._archived_data(app["id"], config, None, end)
            through = (today - timedelta(days=1)).date().isoformat()
            return {"archive": {"type": "deviceDataBackfill", "through": through, **destination,
                                "deviceCount": devices, "reportCount": reports}}

        return self._enqueue("application.backfillArchiveData", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect, input={},
                             throttle=throttle, base_url=base_url)

    def full_data_tables_archive(self, principal: Principal, application_id: str, *,
                                 throttle: Mapping[str, Any] | None,
                                 base_url: str = "") -> Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        destination = _archive_destination(app)

        def effect() -> dict[str, Any]:
            # The mock has no data tables: the archive is real, and empty.
            return {"archive": {"type": "dataTables", **destination, "dataTableCount": 0,
                                "rowCount": 0}}

        return self._enqueue("application.fullDataTablesArchive", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect, input={},
                             throttle=throttle, base_url=base_url)

    def full_events_archive(self, principal: Principal, application_id: str, *,
                            throttle: Mapping[str, Any] | None, base_url: str = "") -> Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        destination = _archive_destination(app)

        def effect() -> dict[str, Any]:
            count = self.store.count("events", app["id"])
            return {"archive": {"type": "events", **destination, "eventCount": count}}

        return self._enqueue("application.fullEventsArchive", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect, input={},
                             throttle=throttle, base_url=base_url)

    def _archived_data(self, application_id: str, config: dict[str, Any],
                       start: int | None, end: int | None) -> tuple[int, int]:
        """(devices, state reports) an archive of the window holds, per ``archiveConfig``."""
        if config.get("includeDevices") is False:
            return 0, 0
        mode = config.get("mode", "all")
        ids = set(config.get("deviceIds") or [])
        tags = {(t.get("key"), t.get("value")) for t in config.get("deviceTags") or []}
        devices = reports = 0
        for device in self.store.children("devices", application_id):
            if device.get("deletedAt"):
                continue
            listed = device["id"] in ids or any(
                (t["key"], t["value"]) in tags for t in device.get("tags", []))
            if (mode == "whitelist" and not listed) or (mode == "blacklist" and listed):
                continue
            devices += 1
            reports += self.backend.series.count(device["id"], start, end)
        return devices, reports

    # ================================================================ application export

    def export_application(self, principal: Principal, application_id: str,
                           body: dict[str, Any], *, throttle: Mapping[str, Any] | None,
                           base_url: str = "") -> Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        if body.get("exportType") == "repo":
            raise ValidationError("body.exportType: the mock cannot push exports to a "
                                  "repository; use the default zip export")
        include_devices = bool(body.get("includeDevices", False))

        def effect() -> dict[str, Any]:
            bundle = self.bundle(app["id"], include_devices=include_devices)
            counts = {kind: len(items) for kind, items in bundle["resources"].items()}
            file = {"name": f"{app['id']}-export.json", "contentType": "application/json",
                    "content": json.dumps(bundle)}
            return {"resourceCounts": counts, "file": file}

        return self._enqueue("application.export", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect,
                             input=body, throttle=throttle, base_url=base_url, notify=body)

    def bundle(self, application_id: str, *, include_devices: bool) -> dict[str, Any]:
        """An application's resources as the export bundle the imports read."""
        app = self.store.get("applications", application_id)
        if app is None:
            raise NotFound.resource("Application", application_id)
        recipes = [_pick(r, ("id", *RECIPE_FIELDS))
                   for r in self.store.children("deviceRecipes", app["id"])]
        resources: dict[str, list[dict[str, Any]]] = {
            "Global": [dict(g) for g in app.get("globals", [])],
            "DeviceRecipe": recipes,
        }
        if include_devices:
            resources["Device"] = [_pick(d, ("id", *DEVICE_FIELDS))
                                   for d in self.store.children("devices", app["id"])
                                   if not d.get("deletedAt")]
        return {
            "bundleType": BUNDLE_TYPE,
            "version": BUNDLE_VERSION,
            "exportedAt": iso(self.backend.clock.now()),
            "sourceApplicationId": app["id"],
            "application": {**_pick(app, APPLICATION_FIELDS), "readme": app.get("_readme", "")},
            "resources": resources,
        }

    # ================================================================ clone

    def clone(self, principal: Principal, application_id: str, body: dict[str, Any], *,
              throttle: Mapping[str, Any] | None,
              base_url: str = "") -> dict[str, Any] | Created | Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        owner_id = self._new_owner(principal, app, body.get("ownerId"), body.get("ownerType"),
                                   field="body")
        bundle = self.bundle(app["id"], include_devices=bool(body.get("includeDevices", False)))
        bundle["application"]["name"] = f"Copy of {app['name']}"[:255]
        size = _size(bundle, RESOURCE_TYPES)
        queued = bool(body.get("forceJob")) or size > self.sync_limit
        if body.get("dryRun"):
            return {"success": True, "requiresJob": queued}
        key = _key(throttle, owner=owner_id, application=app["id"])

        def effect() -> dict[str, Any]:
            new_app = self._create_application(owner_id, bundle, RESOURCE_TYPES)
            return {"application": new_app, "applicationId": new_app["id"]}

        if queued:
            return self._enqueue("application.clone", principal, app_id=app["id"], key=key,
                                 effect=effect, input=body, throttle=throttle,
                                 base_url=base_url, notify=body)
        with self.jobs.hold("application.clone", throttle, key):
            return Created({"application": effect()["application"]})

    def apply_template(self, principal: Principal, application_id: str,
                       body: dict[str, Any]) -> dict[str, Any]:
        self.backend.applications.visible(principal, application_id)
        # The mock has no application templates (applicationTemplates is not served).
        raise NotFound.resource("Application template", body["templateId"])

    def _new_owner(self, principal: Principal, app: Record | None, owner_id: Any,
                   owner_type: Any, *, field: str) -> str:
        """The user who will own a cloned or imported application."""
        if owner_type not in (None, "", "user"):
            raise ValidationError(f"{field}.ownerType: the mock has no organizations; "
                                  "applications are owned by users")
        me = principal.user_id or (app or {}).get("ownerId")
        if not me:
            raise ValidationError(f"{field}.ownerId: this token cannot own applications")
        if owner_id not in (None, "", me):
            raise ValidationError(f"{field}.ownerId: '{owner_id}' is not the caller; the mock "
                                  "only creates applications for the calling user")
        return me

    # ================================================================ imports

    def import_new(self, principal: Principal, form: dict[str, Any], bundle_file: Any, *,
                   throttle: Mapping[str, Any] | None,
                   base_url: str = "") -> Created | Enqueued:
        """applications.import: a new application from an export bundle."""
        options = _options(form)
        owner_id = self._new_owner(principal, None, form.get("ownerId"), form.get("ownerType"),
                                   field="importBundle")
        bundle, source = self._bundle_source(principal, bundle_file, options, allow_app=False)
        include = set(options.get("include") or [t for t in RESOURCE_TYPES if t != "Device"])
        if flag(form.get("includeDevices", False)):
            include.add("Device")
        size = _size(bundle, include)
        key = _key(throttle, owner=owner_id)
        meta = {k: form[k] for k in ("ownerId", "ownerType", "includeDevices", "email")
                if form.get(k)}

        def effect() -> dict[str, Any]:
            new_app = self._create_application(owner_id, bundle, include)
            self._log_import(new_app["id"], principal, source, options, status="completed",
                             email=form.get("email"))
            return {"application": new_app, "applicationId": new_app["id"]}

        if options.get("forceJob") or size > self.sync_limit:
            return self._enqueue("applications.import", principal, app_id=None, key=key,
                                 effect=effect, throttle=throttle, base_url=base_url,
                                 input={**meta, "options": options, **source},
                                 notify={"email": form.get("email"), **options})
        with self.jobs.hold("applications.import", throttle, key):
            return Created({"application": effect()["application"]})

    def import_into(self, principal: Principal, application_id: str, form: dict[str, Any],
                    bundle_file: Any, *, throttle: Mapping[str, Any] | None,
                    base_url: str = "") -> Record | Enqueued:
        """application.import: add a bundle's resources to an existing application."""
        app = self.backend.applications.visible(principal, application_id)
        options = _options(form)
        bundle, source = self._bundle_source(principal, bundle_file, options, allow_app=True)
        include = set(options.get("include") or RESOURCE_TYPES)
        conflict = options.get("conflictBehavior", "create")
        self._plan(app, bundle, include, conflict)  # refuses now when conflictBehavior is error
        if options.get("dryRun"):
            self._log_import(app["id"], principal, source, options, status="completed",
                             email=form.get("email"), dry_run=True)
            return self.backend.applications.render(app)
        key = _key(throttle, application=app["id"])

        def effect() -> dict[str, Any]:
            # Planned again: the application may have changed while the job waited.
            counts = self._materialize(app["id"], bundle, include,
                                       self._plan(app, bundle, include, conflict))
            return {"application": self.backend.applications.render(app), "imported": counts}

        if options.get("forceJob") or _size(bundle, include) > self.sync_limit:
            job_ref: dict[str, str] = {}

            def logged_effect() -> dict[str, Any]:
                try:
                    result = effect()
                except PlatformError as exc:
                    self._finish_log(app["id"], job_ref["id"], "failed",
                                     error={"name": exc.type, "message": exc.message})
                    raise
                self._finish_log(app["id"], job_ref["id"], "completed")
                return result

            enqueued = self._enqueue("application.import", principal, app_id=app["id"], key=key,
                                     effect=logged_effect, throttle=throttle, base_url=base_url,
                                     input={"options": options, **source},
                                     notify={"email": form.get("email"), **options})
            job_ref["id"] = enqueued.job["id"]
            self._log_import(app["id"], principal, source, options, status="inProgress",
                             email=form.get("email"), job_id=enqueued.job["id"])
            return enqueued
        with self.jobs.hold("application.import", throttle, key):
            result = effect()
        self._log_import(app["id"], principal, source, options, status="completed",
                         email=form.get("email"))
        return result["application"]

    def _bundle_source(self, principal: Principal, bundle_file: Any, options: dict[str, Any],
                       *, allow_app: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """The bundle to import and how it was given (for the job input and import log)."""
        if options.get("credentialName") or options.get("repo"):
            raise ValidationError("options.credentialName: the mock cannot import from a "
                                  "repository; upload the bundle as importBundle")
        if bundle_file is not None:
            raw = bundle_file.file.read() if hasattr(bundle_file, "file") else bundle_file
            name = getattr(bundle_file, "filename", None) or "importBundle"
            return parse_bundle(raw), {"importSourceType": "importBundle", "bundleName": name,
                                       "bundleBytes": len(raw)}
        if options.get("importUrl"):
            return self._bundle_at(options["importUrl"]), {"importSourceType": "importUrl",
                                                           "importUrl": options["importUrl"]}
        if allow_app and options.get("fromApplicationId"):
            source = self.backend.applications.visible(principal, options["fromApplicationId"])
            include_devices = "Device" in (options.get("include") or RESOURCE_TYPES)
            return (self.bundle(source["id"], include_devices=include_devices),
                    {"importSourceType": "fromApplication", "fromApplicationId": source["id"]})
        hint = ", options.importUrl or options.fromApplicationId" if allow_app else \
            " or options.importUrl"
        raise ValidationError(f"importBundle: give an import bundle{hint}")

    def _bundle_at(self, url: str) -> dict[str, Any]:
        """A bundle from one of this mock's download URLs; nothing else is fetched."""
        match = _DOWNLOAD.match(urlsplit(url).path)
        if match is None:
            raise ValidationError("options.importUrl: the mock makes no outbound requests; "
                                  "only its own job download URLs can be imported")
        try:
            _, content = self.jobs.download(match.group(1))
        except NotFound as exc:
            raise ValidationError(f"options.importUrl: {exc.message}") from None
        return parse_bundle(content.encode())

    # ------------------------------------------------------------ creating resources

    def _create_application(self, owner_id: str, bundle: dict[str, Any],
                            include: Iterable[str]) -> Record:
        include = set(include)
        ident = self.backend.ids.new()
        fields = bundle["application"]
        app: Record = {
            "id": ident, "applicationId": ident, "ownerId": owner_id, "ownerType": "user",
            "name": fields.get("name") or "Imported application",
            "description": fields.get("description", ""),
            "globals": [dict(g) for g in bundle["resources"].get("Global", [])]
            if "Global" in include else [],
            "appliedTemplateIds": [],
            "_readme": fields.get("readme", ""),
        }
        app.update({k: fields[k] for k in APPLICATION_FIELDS if k in fields and k not in app})
        stamp_new(app, self.backend.clock)
        self.store.put("applications", app)
        plan = self._plan(app, bundle, include - {"Global"}, "create")
        self._materialize(app["id"], bundle, include - {"Global"}, plan)
        return self.backend.applications.render(app)

    def _plan(self, app: Record, bundle: dict[str, Any], include: set[str],
              conflict: str) -> dict[str, dict[str, str]]:
        """For each bundle resource that meets an existing one by name: that one's id."""
        existing = {
            "DeviceRecipe": {r["name"]: r["id"]
                             for r in self.store.children("deviceRecipes", app["id"])},
            "Device": {d["name"]: d["id"] for d in self.store.children("devices", app["id"])
                       if not d.get("deletedAt")},
            "Global": {g["key"]: g["key"] for g in app.get("globals", [])},
        }
        plan: dict[str, dict[str, str]] = {kind: {} for kind in RESOURCE_TYPES}
        for kind in RESOURCE_TYPES:
            if kind not in include:
                continue
            for item in bundle["resources"].get(kind, []):
                name = item["key"] if kind == "Global" else item["name"]
                if name in existing[kind]:
                    if conflict == "error":
                        raise ValidationError(f"importBundle: {kind} '{name}' already exists "
                                              "(conflictBehavior is error)")
                    plan[kind][name] = existing[kind][name]
        plan["behavior"] = {"conflict": conflict}
        return plan

    def _materialize(self, application_id: str, bundle: dict[str, Any], include: set[str],
                     plan: dict[str, dict[str, str]]) -> dict[str, int]:
        """Create (or, per the conflict plan, replace or keep) the bundle's resources."""
        conflict = plan["behavior"]["conflict"]
        counts = {"created": 0, "replaced": 0, "retained": 0}
        app = self.store.get("applications", application_id)
        if app is None:
            raise NotFound.resource("Application", application_id)
        if "Global" in include:
            by_key = {g["key"]: g for g in app.get("globals", [])}
            for item in bundle["resources"].get("Global", []):
                if item["key"] in by_key and conflict == "retain":
                    counts["retained"] += 1
                    continue
                counts["replaced" if item["key"] in by_key else "created"] += 1
                by_key[item["key"]] = dict(item)
            app["globals"] = list(by_key.values())
            self.store.put("applications", app)
        ids: dict[str, str] = {}  # bundle device id -> id in this application
        # Devices first: recipes may name a gateway or parent device.
        for kind, store_kind, fields in (("Device", "devices", DEVICE_FIELDS),
                                         ("DeviceRecipe", "deviceRecipes", RECIPE_FIELDS)):
            if kind not in include:
                continue
            items = bundle["resources"].get(kind, [])
            if kind == "Device":
                items = _parents_first(items)
            for item in items:
                existing = plan[kind].get(item["name"])
                if existing and conflict == "retain":
                    ids[item.get("id", "")] = existing
                    counts["retained"] += 1
                    continue
                target = existing if existing and conflict == "replace" else None
                record = self._put_resource(application_id, store_kind, fields, item, ids,
                                            target)
                ids[item.get("id", "")] = record["id"]
                counts["replaced" if target else "created"] += 1
        return counts

    def _put_resource(self, application_id: str, kind: str, fields: tuple[str, ...],
                      item: dict[str, Any], ids: dict[str, str], target: str | None) -> Record:
        record = self.store.get(kind, target) if target else None
        if record is None:
            ident = self.backend.ids.new()
            record = {"id": ident, "applicationId": application_id}
            record["deviceId" if kind == "devices" else "deviceRecipeId"] = ident
            stamp_new(record, self.backend.clock)
            if kind == "devices":
                record["connectionInfo"] = {"connected": 0, "time": record["creationDate"]}
        for field in fields:
            record.pop(field, None)
            if item.get(field) is not None:
                record[field] = item[field]
        for ref in ("gatewayId", "parentId"):
            if ref in record:
                mapped = ids.get(record[ref])
                if mapped is not None:
                    record[ref] = mapped
                elif not self._device_of(application_id, record[ref]):
                    record.pop(ref)  # the referenced device is not in this application
        record.setdefault("name", "Imported")
        record.setdefault("tags", [])
        record.setdefault("attributes", [])
        record.setdefault("deviceClass", "standalone")
        self.store.put(kind, record)
        return record

    def _device_of(self, application_id: str, device_id: str) -> bool:
        device = self.store.get("devices", device_id)
        return bool(device and device["applicationId"] == application_id
                    and not device.get("deletedAt"))

    # ------------------------------------------------------------ import logs

    def _log_import(self, application_id: str, principal: Principal, source: dict[str, Any],
                    options: dict[str, Any], *, status: str, email: str | None = None,
                    dry_run: bool = False, job_id: str | None = None) -> None:
        app = self.store.get("applications", application_id)
        if app is None:
            return
        now = iso(self.backend.clock.now())
        ident = self.backend.ids.new()
        caller = source_of(self.backend, principal)
        entry: Record = {
            "id": ident, "importExecutionId": ident, "applicationId": application_id,
            "importSourceType": source["importSourceType"], "runQueuedAt": now,
            "runStartedAt": now, "status": status, "dryRun": dry_run,
            "conflictBehavior": options.get("conflictBehavior", "create"),
            "sourceId": caller["sourceId"], "sourceType": caller["sourceType"],
        }
        if status != "inProgress":
            entry["runCompletedAt"] = now
        if dry_run:
            entry["dryRunResults"] = {"limitErrors": []}
        for field in ("fromApplicationId", "importUrl"):
            if source.get(field):
                entry[field] = source[field]
        for field in ("include", "callbackUrl"):
            if options.get(field):
                entry[field] = options[field]
        if email:
            entry["email"] = email
        if job_id:
            entry["jobId"] = job_id
        app["_importLogs"] = [*app.get("_importLogs", []), entry][-MAX_IMPORT_LOGS:]
        self.store.put("applications", app)

    def _finish_log(self, application_id: str, job_id: str | None, status: str,
                    error: dict[str, str] | None = None) -> None:
        app = self.store.get("applications", application_id)
        if app is None or job_id is None:
            return
        for entry in app.get("_importLogs", []):
            if entry.get("jobId") == job_id:
                entry["status"] = status
                entry["runCompletedAt"] = iso(self.backend.clock.now())
                if error:
                    entry["error"] = error
        self.store.put("applications", app)

    def import_logs(self, principal: Principal, application_id: str,
                    params: dict[str, Any]) -> list[Record]:
        app = self.backend.applications.visible(principal, application_id)
        self.jobs.run_due()
        limit = int_param(params.get("limit"), "limit", default=1, minimum=1)
        entries = list(app.get("_importLogs", []))
        if params.get("since") not in (None, ""):
            since = _ms(params["since"], "query parameter since")
            entries = [e for e in entries if _entry_ms(e["runQueuedAt"]) >= since]
        entries.reverse()  # newest first
        return [dict(e) for e in entries[:limit]]

    # ================================================================ device data

    def devices_export(self, principal: Principal, application_id: str, body: dict[str, Any],
                       params: dict[str, Any], *, throttle: Mapping[str, Any] | None,
                       base_url: str = "") -> Enqueued:
        """devices.export: the metadata of the devices matching ``query``."""
        app = self.backend.applications.visible(principal, application_id)
        matches = compile_device_query(body.get("query") or None)
        reach = self.backend.keys.reach(principal)
        fmt = body.get("format", "csv")

        def effect() -> dict[str, Any]:
            devices = [self.backend.devices.render(d)
                       for d in self.store.children("devices", app["id"])
                       if not d.get("deletedAt") and reach(d) and matches(d)]
            devices.sort(key=lambda d: (d["name"].lower(), d["id"]))
            return {"deviceCount": len(devices),
                    "file": export_file(f"{app['id']}-devices", fmt, devices,
                                        DEVICE_EXPORT_COLUMNS)}

        notify = {**_notify(params), **_notify(body)}
        return self._enqueue("devices.export", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect,
                             input=body, throttle=throttle, base_url=base_url, notify=notify)

    def payload_counts(self, principal: Principal, application_id: str, body: dict[str, Any],
                       *, throttle: Mapping[str, Any] | None, base_url: str = "") -> Enqueued:
        """devices.payloadCounts: state reports and commands per device in the window."""
        app = self.backend.applications.visible(principal, application_id)
        devices = [d["id"] for d in self.backend.devices.selection(principal, app["id"],
                                                                     body.get("query") or None)]
        start, end = self._window(body.get("start"), body.get("end"))

        def effect() -> dict[str, Any]:
            # The same tallies as application/device payload counts: messages
            # received in the window, by receive time.
            rows = []
            for device_id in devices:
                device = self.store.get("devices", device_id)
                if device is None:
                    continue
                totals = self.backend.usage.device_totals(app["id"], device_id, start, end)
                rows.append({"deviceId": device_id, "name": device["name"],
                             "statePayloads": totals.get("deviceState", 0),
                             "commandPayloads": totals.get("deviceCommand", 0)})
            columns = ("deviceId", "name", "statePayloads", "commandPayloads")
            return {"deviceCount": len(rows), "start": iso_from_ms(start), "end": iso_from_ms(end),
                    "file": export_file(f"{app['id']}-payload-counts", "csv", rows, columns)}

        return self._enqueue("devices.payloadCounts", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect,
                             input=body, throttle=throttle, base_url=base_url, notify=body)

    def device_export(self, principal: Principal, application_id: str, device_id: str,
                      params: dict[str, Any], body: dict[str, Any], *,
                      throttle: Mapping[str, Any] | None, base_url: str = "") -> Enqueued:
        """device.export: one device's state reports in the window, as CSV."""
        device = self.backend.devices.find(principal, application_id, device_id)
        # The body "overrides any options provided as a query param".
        start, end = self._window(body.get("start", params.get("start")),
                                  body.get("end", params.get("end")))
        options = {"includeBlobData": flag(params.get("includeBlobData", False)),
                   **(body.get("options") or {})}
        attributes = body.get("attributes")

        def effect() -> dict[str, Any]:
            rows, columns = self._data_rows([device["id"]], attributes, start, end, options)
            return {"reportCount": len(rows), "start": iso_from_ms(start),
                    "end": iso_from_ms(end),
                    "file": export_file(f"{device['id']}-data", "csv", rows, columns)}

        notify = {**_notify(params), **_notify(body)}
        return self._enqueue("device.export", principal, app_id=device["applicationId"],
                             key=_key(throttle, device=device["id"],
                                      application=device["applicationId"]),
                             effect=effect, throttle=throttle, base_url=base_url, notify=notify,
                             input={"deviceId": device["id"], "start": start, "end": end,
                                    **body})

    def data_export(self, principal: Principal, application_id: str, body: dict[str, Any], *,
                    throttle: Mapping[str, Any] | None, base_url: str = "") -> Enqueued:
        """data.export: state reports of the selected devices in the window, as one CSV."""
        app = self.backend.applications.visible(principal, application_id)
        devices = self._data_devices(principal, app["id"], body)
        start, end = self._window(body.get("start"), body.get("end"))
        options = dict(body.get("options") or {})

        def effect() -> dict[str, Any]:
            rows, columns = self._data_rows(devices, body.get("attributes"), start, end, options)
            return {"deviceCount": len(devices), "reportCount": len(rows),
                    "start": iso_from_ms(start), "end": iso_from_ms(end),
                    "file": export_file(f"{app['id']}-data", "csv", rows, columns)}

        return self._enqueue("data.export", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect,
                             input=body, throttle=throttle, base_url=base_url, notify=body)

    def _data_devices(self, principal: Principal, application_id: str,
                      body: dict[str, Any]) -> list[str]:
        """deviceIds, deviceTags and deviceQuery select the union; none of them, every device."""
        ids = set(body.get("deviceIds") or [])
        tags = body.get("deviceTags") or []
        query = body.get("deviceQuery") or None
        matches = compile_device_query(query) if query else None
        everything = not ids and not tags and matches is None

        def selected(device: Record) -> bool:
            if everything or device["id"] in ids or (matches is not None and matches(device)):
                return True
            return any(all(t.get(part) in (None, tag.get(part)) for part in ("key", "value"))
                       for t in tags for tag in device.get("tags", []))

        chosen = self.backend.devices.selection(principal, application_id)
        return [d["id"] for d in sorted(chosen, key=lambda d: (d["name"].lower(), d["id"]))
                if selected(d)]

    def _data_rows(self, device_ids: list[str], attributes: list[str] | None, start: int,
                   end: int, options: dict[str, Any]) -> tuple[list[dict[str, Any]],
                                                              tuple[str, ...]]:
        include_id = options.get("includeID", True)
        include_date = options.get("includeDate", True)
        rows: list[dict[str, Any]] = []
        names: list[str] = list(attributes or [])
        for device_id in device_ids:
            count = self.backend.series.count(device_id, start, end)
            if not count:
                continue
            for report in self.backend.series.history(device_id, start_ms=start, end_ms=end,
                                                      limit=count, direction="asc"):
                data = report["data"]
                if attributes:
                    data = {k: v for k, v in data.items() if k in attributes}
                else:
                    names.extend(k for k in data if k not in names)
                if not data:
                    continue
                row = dict(data)
                if include_id:
                    row["ID"] = device_id
                if include_date:
                    row["Date"] = iso_from_ms(report["time"])
                rows.append(row)
        columns = (("ID",) if include_id else ()) + (("Date",) if include_date else ())
        return rows, columns + tuple(names)

    # ================================================================ data removal

    def devices_remove_data(self, principal: Principal, application_id: str,
                            body: dict[str, Any], *, throttle: Mapping[str, Any] | None,
                            base_url: str = "") -> Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        devices = [d["id"] for d in self.backend.devices.selection(principal, app["id"],
                                                                     body.get("query") or None)]
        start, end = self._window(body.get("start"), body.get("end"))
        attributes = body.get("attributes")
        keep_commands = bool(body.get("keepCommandHistory")) or attributes is not None
        keep_logs = bool(body.get("keepConnectionHistory")) or attributes is not None

        def effect() -> dict[str, Any]:
            totals = {"stateReports": 0, "commands": 0, "connectionLogs": 0}
            for device_id in devices:
                removed = self._remove_data(device_id, start, end, attributes,
                                            keep_commands=keep_commands, keep_logs=keep_logs)
                for name, count in removed.items():
                    totals[name] += count
            return {"deviceCount": len(devices), "start": iso_from_ms(start),
                    "end": iso_from_ms(end), "removed": totals}

        return self._enqueue("devices.removeData", principal, app_id=app["id"],
                             key=_key(throttle, application=app["id"]), effect=effect,
                             input={**body, "deviceIds": devices}, throttle=throttle,
                             base_url=base_url, notify=body)

    def device_remove_data(self, principal: Principal, application_id: str, device_id: str,
                           params: dict[str, Any], *, throttle: Mapping[str, Any] | None,
                           base_url: str = "") -> Enqueued:
        device = self.backend.devices.find(principal, application_id, device_id)
        start, end = self._window(params.get("start"), params.get("end"))

        def effect() -> dict[str, Any]:
            removed = self._remove_data(device["id"], start, end, None, keep_commands=False,
                                        keep_logs=False)
            return {"start": iso_from_ms(start), "end": iso_from_ms(end), "removed": removed}

        return self._enqueue("device.removeData", principal, app_id=device["applicationId"],
                             key=_key(throttle, device=device["id"],
                                      application=device["applicationId"]),
                             effect=effect, throttle=throttle, base_url=base_url,
                             input={"deviceId": device["id"], "start": start, "end": end})

    def _remove_data(self, device_id: str, start: int, end: int, attributes: list[str] | None,
                     *, keep_commands: bool, keep_logs: bool) -> dict[str, int]:
        removed = {"stateReports": self.backend.series.remove(device_id, start, end,
                                                              attributes=attributes)}
        if removed["stateReports"]:
            self.store.rewrite("state", device_id)
        removed["commands"] = 0 if keep_commands else self._drop_in_window(
            "commands", device_id, start, end)
        removed["connectionLogs"] = 0 if keep_logs else self._drop_in_window(
            "deviceLogs", device_id, start, end)
        return removed

    def _in_window(self, kind: str, device_id: str, start: int, end: int) -> list[Record]:
        return [r for r in self.store.children(kind, device_id)
                if (ms := _record_ms(r)) is not None and start <= ms <= end]

    def _drop_in_window(self, kind: str, device_id: str, start: int, end: int) -> int:
        records = self._in_window(kind, device_id, start, end)
        for record in records:
            self.store.delete(kind, record["id"])
        return len(records)

    def _window(self, start: Any, end: Any) -> tuple[int, int]:
        """The platform's start/end rule (0 = now, negative = relative), fixed now."""
        return resolve_window(self._now_ms(), start, end)


# -------------------------------------------------------------------- helpers


def parse_bundle(raw: bytes) -> dict[str, Any]:
    """Read and check an export bundle; a 400 naming importBundle when it is not one."""
    try:
        bundle = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValidationError("importBundle: not a JSON export bundle of this mock (the "
                              "platform's zip bundles are not supported)") from None
    if not isinstance(bundle, dict) or bundle.get("bundleType") != BUNDLE_TYPE:
        raise ValidationError(f"importBundle: not an export bundle (bundleType must be "
                              f"'{BUNDLE_TYPE}')")
    if bundle.get("version") != BUNDLE_VERSION:
        raise ValidationError(f"importBundle: only version {BUNDLE_VERSION} bundles import")
    application = bundle.get("application")
    resources = bundle.get("resources")
    if not isinstance(application, dict) or not isinstance(resources, dict):
        raise ValidationError("importBundle: needs 'application' and 'resources' objects")
    for kind, items in resources.items():
        if kind not in RESOURCE_TYPES:
            raise ValidationError(f"importBundle: unknown resource type '{kind}'")
        name_field = "key" if kind == "Global" else "name"
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get(name_field), str) and i[name_field]
                for i in items):
            raise ValidationError(f"importBundle: resources.{kind} must be a list of objects "
                                  f"with a '{name_field}'")
    return bundle


def _options(form: dict[str, Any]) -> dict[str, Any]:
    """The multipart ``options`` field: JSON text (checked against the spec by then)."""
    raw = form.get("options")
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        raise ValidationError("body.options: not a JSON object") from None
    if not isinstance(value, dict):
        raise ValidationError("body.options: not a JSON object")
    return value


def _key(throttle: Mapping[str, Any] | None, **candidates: Any) -> Any:
    """The value a concurrency throttle counts ``per`` (application, device, owner)."""
    if not throttle:
        return candidates.get("application")
    per = throttle.get("per")
    return candidates.get(per, candidates.get("application"))


def _archive_destination(app: Record) -> dict[str, Any]:
    """Where the archive goes, without credentials; a 400 when nowhere is configured."""
    config = app.get("archiveConfig") or {}
    out: dict[str, Any] = {"directory": config.get("directory", "")}
    for service, public_fields in (("s3", ("bucket", "region")), ("gcs", ("bucket", "projectId")),
                                   ("azure", ("bucket", "account"))):
        if config.get(service):
            return {**out, "destination": {"service": service,
                                           **_pick(config[service], public_fields)}}
    if config.get("credentialName"):
        return {**out, "destination": {"service": "credential",
                                       "credentialName": config["credentialName"]}}
    raise ValidationError(f"Application {app['id']} has no archive destination: set "
                          "archiveConfig.s3, .gcs, .azure or .credentialName first")


def _pick(record: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    return {f: record[f] for f in fields if f in record}


def _size(bundle: dict[str, Any], include: Iterable[str]) -> int:
    return sum(len(bundle["resources"].get(kind, [])) for kind in include)


def _notify(source: Mapping[str, Any]) -> dict[str, Any]:
    return {k: source[k] for k in ("email", "callbackUrl") if source.get(k)}


def _parents_first(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gateways and system parents before the devices that reference them."""
    ids = {d.get("id") for d in devices}
    ordered: list[dict[str, Any]] = []
    placed: set[Any] = set()
    pending = list(devices)
    while pending:
        ready = [d for d in pending
                 if all(d.get(ref) in placed or d.get(ref) not in ids
                        for ref in ("gatewayId", "parentId"))]
        if not ready:  # a reference cycle: place the rest as they come
            ready = pending
        ordered.extend(ready)
        placed.update(d.get("id") for d in ready)
        pending = [d for d in pending if d not in ready]
    return ordered


def _record_ms(record: Mapping[str, Any]) -> int | None:
    """When a command or log entry happened, in epoch ms (None if it does not say)."""
    value = record.get("_timeMs")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if record.get("time") is None:
        return None
    try:
        return parse_state_time(record["time"], 0)
    except ValidationError:
        return None


def _ms(value: Any, name: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name}: '{value}' is not a number of milliseconds") from None
    if not math.isfinite(number):
        raise ValidationError(f"{name}: '{value}' is not a number of milliseconds")
    return math.floor(number)


def _entry_ms(stamp: str) -> int:
    return parse_state_time(stamp, 0)
