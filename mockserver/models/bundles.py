"""Application bundles: export, clone and the two imports, with their import logs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import NotFound, PlatformError, ValidationError
from losant_kit.mockserver.jobs import DOWNLOAD_PATH, Enqueued
from losant_kit.mockserver.models.base import Record, flag, int_param, stamp_new
from losant_kit.mockserver.models.events import source_of
from losant_kit.mockserver.models.job_base import Created, JobActionBase, pick, throttle_key
from losant_kit.mockserver.times import parse_state_time

BUNDLE_TYPE = "losant-mock-application-export"
BUNDLE_VERSION = 1
MAX_IMPORT_LOGS = 100
# What an export carries; the recipe fields are the recipe model's.
APPLICATION_FIELDS = ("name", "description", "blobUrlTTL", "endpointDefaultCors")
DEVICE_FIELDS = ("name", "description", "tags", "attributes", "deviceClass", "gatewayId",
                 "parentId", "systemInterval", "keepDuplicates")
RECIPE_FIELDS = ("name", "deviceName", "description", "deviceDescription", "tags", "attributes",
                 "deviceClass", "gatewayId", "parentId", "systemInterval", "keepDuplicates")
RESOURCE_TYPES = ("Global", "DeviceRecipe", "Device")
_DOWNLOAD = re.compile("^" + re.escape(DOWNLOAD_PATH).replace(r"\{job_id\}", "([^/]+)") + "$")


class BundleActions(JobActionBase):
    """application.export, application.clone and the two imports, with their logs."""

    sync_limit = 1000
    """Clones and imports creating more resources than this are queued as jobs."""

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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
                             input=body, throttle=throttle, base_url=base_url, notify=body)

    def bundle(self, application_id: str, *, include_devices: bool) -> dict[str, Any]:
        """An application's resources as the export bundle the imports read."""
        app = self.store.get("applications", application_id)
        if app is None:
            raise NotFound.resource("Application", application_id)
        recipes = [pick(r, ("id", *RECIPE_FIELDS))
                   for r in self.store.children("deviceRecipes", app["id"])]
        resources: dict[str, list[dict[str, Any]]] = {
            "Global": [dict(g) for g in app.get("globals", [])],
            "DeviceRecipe": recipes,
        }
        if include_devices:
            resources["Device"] = [pick(d, ("id", *DEVICE_FIELDS))
                                   for d in self.store.children("devices", app["id"])
                                   if not d.get("deletedAt")]
        return {
            "bundleType": BUNDLE_TYPE,
            "version": BUNDLE_VERSION,
            "exportedAt": iso(self.backend.clock.now()),
            "sourceApplicationId": app["id"],
            "application": {**pick(app, APPLICATION_FIELDS), "readme": app.get("_readme", "")},
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
        key = throttle_key(throttle, owner=owner_id, application=app["id"])

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
        key = throttle_key(throttle, owner=owner_id)
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
        key = throttle_key(throttle, application=app["id"])

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


def _size(bundle: dict[str, Any], include: Iterable[str]) -> int:
    return sum(len(bundle["resources"].get(kind, [])) for kind in include)


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
