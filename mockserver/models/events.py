"""Events: an application's alerts, with levels, a state workflow and an update history.

Semantics (the "fidelity notes")
--------------------------------
* An event's source is its creator: ``sourceType`` is ``user``, ``apiToken`` or
  ``device`` with that caller's id and name. ``state`` defaults to ``new``;
  ``creationDate`` may be given (ISO string, epoch ms or ``{"$date": ...}``,
  as ``eventPost`` allows) and defaults to now. A ``deviceId`` must name a
  device of the application, and the event carries that device's name.
* Every ``event.patch`` (and every event touched by ``events.patch``) appends
  one entry to ``updates``: who, when, the state after the update, the
  ``comment`` and ``data`` given with it, and ``stateChange``/``levelChange``/
  ``subjectChange``/``deviceIdChange``/``tagsChange`` for what actually
  changed (``tagsChange`` not when the event has ``disableTagChangeTracking``).
  A patch's ``data`` belongs to that update; the event's own ``data`` is what
  it was created with. ``eventTags`` in a patch replaces the whole map.
  ``updates`` keeps the newest 100 entries (the schema's ``maxItems``).
* ``events.get``, ``events.patch``: ``query`` (advancedEventQuery) overrides
  ``filterField``/``filter``/``state``, as documented. ``events.delete``
  takes the query as its body; no body means every event.
* ``events.patch``/``events.delete`` work synchronously (200) when they match
  at most :attr:`Events.sync_limit` events, else they queue a job (202) that
  works on the events matched when it was queued. ``events.export`` is always
  a job (the only documented answer).
* ``mostRecentBySeverity`` follows its documented summary, "the first *new*
  event ordered by severity and then creation": among matching events in state
  ``new``, the highest level (critical > error > warning > info), and within
  that the most recently created; ``newCount`` counts the matching new events.
  ``filter`` globs the subject; ``query`` overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.errors import NotFound, ValidationError
from losant_kit.mockserver.jobs import Enqueued, export_file
from losant_kit.mockserver.list_filters import glob_matcher
from losant_kit.mockserver.models.base import Record, collection, public, stamp_new, touch
from losant_kit.mockserver.models.usage import json_size, rest_source
from losant_kit.mockserver.query import compile_event_query
from losant_kit.mockserver.times import iso_from_ms, parse_state_time

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

KIND = "events"
SEVERITY = {"info": 0, "warning": 1, "error": 2, "critical": 3}
MAX_UPDATES = 100
EXPORT_COLUMNS = ("id", "creationDate", "lastUpdated", "level", "state", "subject", "message",
                  "deviceId", "deviceName", "sourceType", "sourceId", "sourceName", "eventTags",
                  "data", "updates")

Predicate = Callable[[Record], bool]


def source_of(backend: Backend, principal: Principal) -> dict[str, str]:
    """``sourceType``/``sourceId``/``sourceName`` for the caller, as events record them."""
    if principal.kind == "device":
        device = backend.store.get("devices", principal.subject) or {}
        name = device.get("name") or principal.subject
        return {"sourceType": "device", "sourceId": principal.subject, "sourceName": name}
    if principal.kind == "apiToken":
        token = backend.store.get("apiTokens", principal.subject) or {}
        name = token.get("name") or principal.subject
        return {"sourceType": "apiToken", "sourceId": principal.subject, "sourceName": name}
    user = backend.users.find(principal.subject) or {}
    full = f"{user.get('firstName', '')} {user.get('lastName', '')}".strip()
    name = full or user.get("email") or principal.subject
    return {"sourceType": "user", "sourceId": principal.subject, "sourceName": name[:255]}


class Events:
    sync_limit = 1000
    """Bulk patches and deletes matching more events than this are queued as jobs."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # ------------------------------------------------------------ lookups

    def _app(self, principal: Principal, application_id: str) -> Record:
        return self.backend.applications.visible(principal, application_id)

    def _find(self, principal: Principal, application_id: str, event_id: str) -> Record:
        app = self._app(principal, application_id)
        event = self.store.get(KIND, event_id)
        if event is None or event["applicationId"] != app["id"]:
            raise NotFound.resource("Event", event_id)
        return event

    def _device(self, application_id: str, device_id: str) -> Record:
        device = self.store.get("devices", device_id)
        if device is None or device["applicationId"] != application_id or device.get("deletedAt"):
            raise ValidationError(f"body.deviceId: device {device_id} does not exist in this "
                                  "application")
        return device

    @staticmethod
    def _matcher(params: dict[str, Any], *, subject_filter: bool = False) -> Predicate:
        """The documented filters; an advanced ``query`` overrides the simple ones."""
        if params.get("query"):
            return compile_event_query(params["query"])
        checks: list[Predicate] = []
        field = "subject" if subject_filter else params.get("filterField")
        if field and params.get("filter"):
            matches = glob_matcher(params["filter"])
            checks.append(lambda e: matches(str(e.get(field, ""))))
        if params.get("state"):
            state = params["state"]
            checks.append(lambda e: e.get("state") == state)
        return lambda e: all(check(e) for check in checks)

    def _matching(self, application_id: str, matches: Predicate) -> list[Record]:
        return [e for e in self.store.children(KIND, application_id) if matches(e)]

    # ------------------------------------------------------------ one event

    def create(self, principal: Principal, application_id: str, body: dict[str, Any]) -> Record:
        app = self._app(principal, application_id)
        ident = self.backend.ids.new()
        event: Record = {
            "id": ident,
            "eventId": ident,
            "applicationId": app["id"],
            "level": body["level"],
            "state": body.get("state", "new"),
            "subject": body["subject"],
            "eventTags": dict(body.get("eventTags") or {}),
            "disableTagChangeTracking": bool(body.get("disableTagChangeTracking", False)),
            "updates": [],
            **source_of(self.backend, principal),
        }
        for field in ("message", "data"):
            if field in body:
                event[field] = body[field]
        if body.get("deviceId"):
            device = self._device(app["id"], body["deviceId"])
            event["deviceId"] = device["id"]
            event["deviceName"] = device["name"]
        stamp_new(event, self.backend.clock)
        if body.get("creationDate") is not None:
            now_ms = self.backend.clock.now_ms()
            event["creationDate"] = iso_from_ms(
                parse_state_time(body["creationDate"], now_ms, field="body.creationDate"))
        self.store.put(KIND, event)
        rendered = public(event)
        self.backend.usage.count(app["id"], event.get("deviceId"), "event",
                                 rest_source(principal), nbytes=json_size(rendered))
        return rendered

    def get(self, principal: Principal, application_id: str, event_id: str) -> Record:
        self.backend.jobs.run_due()
        return public(self._find(principal, application_id, event_id))

    def patch(self, principal: Principal, application_id: str, event_id: str,
              changes: dict[str, Any]) -> Record:
        event = self._find(principal, application_id, event_id)
        device = self._patch_device(event["applicationId"], changes)
        self._apply(event, changes, device, source_of(self.backend, principal))
        return public(event)

    def delete(self, principal: Principal, application_id: str, event_id: str) -> dict[str, bool]:
        event = self._find(principal, application_id, event_id)
        self.store.delete(KIND, event["id"])
        return {"success": True}

    def _patch_device(self, application_id: str, changes: dict[str, Any]) -> Record | None:
        """Check a patch's deviceId before anything changes (None: no device change)."""
        if changes.get("deviceId"):
            return self._device(application_id, changes["deviceId"])
        return None

    def _apply(self, event: Record, changes: dict[str, Any], device: Record | None,
               source: dict[str, str]) -> None:
        update: Record = {**source, "creationDate": iso(self.backend.clock.now())}
        for field in ("comment", "data"):
            if field in changes:
                update[field] = changes[field]
        for field, label in (("state", "stateChange"), ("level", "levelChange"),
                             ("subject", "subjectChange")):
            if field in changes and changes[field] != event.get(field):
                update[label] = {"old": event.get(field), "new": changes[field]}
                event[field] = changes[field]
        if "deviceId" in changes and changes["deviceId"] != event.get("deviceId"):
            update["deviceIdChange"] = self._device_change(event, device)
        if "eventTags" in changes:
            tags_change = _tags_change(event.get("eventTags") or {}, changes["eventTags"])
            event["eventTags"] = dict(changes["eventTags"])
            if tags_change and not event.get("disableTagChangeTracking"):
                update["tagsChange"] = tags_change
        update["state"] = event["state"]
        event["updates"] = [*event.get("updates", []), update][-MAX_UPDATES:]
        touch(event, self.backend.clock)
        self.store.put(KIND, event)

    @staticmethod
    def _device_change(event: Record, device: Record | None) -> dict[str, str]:
        change = {}
        if event.get("deviceId"):
            change["old"] = event["deviceId"]
            change["oldDeviceName"] = event.get("deviceName", event["deviceId"])
        event.pop("deviceId", None)
        event.pop("deviceName", None)
        if device is not None:
            change["new"] = event["deviceId"] = device["id"]
            change["newDeviceName"] = event["deviceName"] = device["name"]
        return change

    # ------------------------------------------------------------ collection

    def list(self, principal: Principal, application_id: str, params: dict[str, Any]) -> dict:
        app = self._app(principal, application_id)
        self.backend.jobs.run_due()
        extra: dict[str, Any] = {"applicationId": app["id"]}
        for name in ("state", "query"):
            if params.get(name):
                extra[name] = params[name]
        params = {**params}
        if params.get("query"):
            # The query overrides the simple filters, so they are not applied (or echoed).
            params.pop("filterField", None)
            params.pop("filter", None)
            extra.pop("state", None)
            predicate = self._matcher(params)
        else:
            state = params.get("state")
            predicate = (lambda e: e.get("state") == state) if state else None
        return collection(self.store.children(KIND, app["id"]), params,
                          default_sort="creationDate", predicate=predicate, extra=extra)

    def most_recent_by_severity(self, principal: Principal, application_id: str,
                                params: dict[str, Any]) -> dict[str, Any]:
        app = self._app(principal, application_id)
        self.backend.jobs.run_due()
        matches = self._matcher({"query": params.get("query"), "filter": params.get("filter")},
                                subject_filter=True)
        new = [e for e in self._matching(app["id"], matches) if e.get("state") == "new"]
        body: dict[str, Any] = {"newCount": len(new)}
        if new:
            first = max(new, key=lambda e: (SEVERITY.get(e["level"], -1), e["creationDate"],
                                            e["id"]))
            body["event"] = public(first)
        return body

    # ------------------------------------------------------------ bulk

    def bulk_patch(self, principal: Principal, application_id: str, params: dict[str, Any],
                   changes: dict[str, Any], *, base_url: str = "") -> dict[str, Any] | Enqueued:
        app = self._app(principal, application_id)
        device = self._patch_device(app["id"], changes)
        events = self._matching(app["id"], self._matcher(params))
        source = source_of(self.backend, principal)
        if len(events) <= self.sync_limit:
            for event in events:
                self._apply(event, changes, device, source)
            return {"success": True}
        ids = [e["id"] for e in events]

        def effect() -> dict[str, Any]:
            patched = 0
            for ident in ids:
                event = self.store.get(KIND, ident)
                if event is not None:
                    self._apply(event, changes, device, source)
                    patched += 1
            return {"updated": patched}

        return self.backend.jobs.enqueue(
            "events.patch", application_id=app["id"], throttle_key=app["id"], effect=effect,
            input={"matched": len(ids), "updates": changes, **_echo(params)},
            requested_by=source, callback_url=params.get("callbackUrl"),
            email=params.get("email"), base_url=base_url)

    def bulk_delete(self, principal: Principal, application_id: str, query: dict[str, Any] | None,
                    params: dict[str, Any], *, base_url: str = "") -> dict[str, Any] | Enqueued:
        app = self._app(principal, application_id)
        events = self._matching(app["id"], compile_event_query(query or None))
        if len(events) <= self.sync_limit:
            for event in events:
                self.store.delete(KIND, event["id"])
            return {"removed": len(events)}
        ids = [e["id"] for e in events]

        def effect() -> dict[str, Any]:
            removed = sum(1 for ident in ids if self.store.delete(KIND, ident) is not None)
            return {"removed": removed}

        return self.backend.jobs.enqueue(
            "events.delete", application_id=app["id"], throttle_key=app["id"], effect=effect,
            input={"matched": len(ids), "query": query or {}},
            requested_by=source_of(self.backend, principal),
            callback_url=params.get("callbackUrl"), email=params.get("email"), base_url=base_url)

    # ------------------------------------------------------------ export

    def export(self, principal: Principal, application_id: str, body: dict[str, Any], *,
               throttle: dict[str, Any] | None, base_url: str = "") -> Enqueued:
        """events.export: a job whose result is a CSV (or JSON) file of the matching events."""
        app = self._app(principal, application_id)
        query = body.get("query") or None
        matches = compile_event_query(query)  # a bad query is a 400 now, not a failed job
        fmt = body.get("format", "csv")
        exclude_updates = bool(body.get("excludeUpdates", False))

        def effect() -> dict[str, Any]:
            events = sorted(self._matching(app["id"], matches),
                            key=lambda e: (e["creationDate"], e["id"]))
            rows = [public(e) for e in events]
            if exclude_updates:
                for row in rows:
                    row.pop("updates", None)
            return {"eventCount": len(rows), "file": export_file(f"{app['id']}-events", fmt, rows,
                                                                 EXPORT_COLUMNS)}

        return self.backend.jobs.enqueue(
            "events.export", application_id=app["id"], throttle_key=app["id"], effect=effect,
            throttle=throttle, input=body, requested_by=source_of(self.backend, principal),
            callback_url=body.get("callbackUrl"), email=body.get("email"), base_url=base_url)


def _tags_change(old: dict[str, str], new: dict[str, str]) -> dict[str, dict[str, str]]:
    change: dict[str, dict[str, str]] = {}
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            entry = {}
            if key in old:
                entry["old"] = old[key]
            if key in new:
                entry["new"] = new[key]
            change[key] = entry
    return change


def _echo(params: dict[str, Any]) -> dict[str, Any]:
    return {k: params[k] for k in ("filterField", "filter", "state", "query") if params.get(k)}
