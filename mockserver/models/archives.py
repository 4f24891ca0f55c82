"""Archive actions: what an archive of the application's data would hold (nothing is uploaded)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.jobs import Enqueued
from losant_kit.mockserver.models.base import Record
from losant_kit.mockserver.models.job_base import JobActionBase, pick, throttle_key

ARCHIVE_MIN_AGE = timedelta(days=31)


class ArchiveActions(JobActionBase):
    """archiveData, backfillArchiveData and the full data-table and event archives."""

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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
                             input={}, throttle=throttle, base_url=base_url)

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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
                             input={}, throttle=throttle, base_url=base_url)

    def full_events_archive(self, principal: Principal, application_id: str, *,
                            throttle: Mapping[str, Any] | None, base_url: str = "") -> Enqueued:
        app = self.backend.applications.visible(principal, application_id)
        destination = _archive_destination(app)

        def effect() -> dict[str, Any]:
            count = self.store.count("events", app["id"])
            return {"archive": {"type": "events", **destination, "eventCount": count}}

        return self._enqueue("application.fullEventsArchive", principal, app_id=app["id"],
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
                             input={}, throttle=throttle, base_url=base_url)

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


def _archive_destination(app: Record) -> dict[str, Any]:
    """Where the archive goes, without credentials; a 400 when nowhere is configured."""
    config = app.get("archiveConfig") or {}
    out: dict[str, Any] = {"directory": config.get("directory", "")}
    for service, public_fields in (("s3", ("bucket", "region")), ("gcs", ("bucket", "projectId")),
                                   ("azure", ("bucket", "account"))):
        if config.get(service):
            return {**out, "destination": {"service": service,
                                           **pick(config[service], public_fields)}}
    if config.get("credentialName"):
        return {**out, "destination": {"service": "credential",
                                       "credentialName": config["credentialName"]}}
    raise ValidationError(f"Application {app['id']} has no archive destination: set "
                          "archiveConfig.s3, .gcs, .azure or .credentialName first")
