"""Device data jobs: exports of metadata, data and payload counts, and data removal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.jobs import Enqueued, export_file
from losant_kit.mockserver.models.base import Record, flag
from losant_kit.mockserver.models.job_base import JobActionBase, throttle_key
from losant_kit.mockserver.query import compile_device_query
from losant_kit.mockserver.times import iso_from_ms, parse_state_time

DEVICE_EXPORT_COLUMNS = ("id", "name", "description", "deviceClass", "gatewayId", "parentId",
                         "tags", "attributes", "connectionInfo", "creationDate", "lastUpdated")


class DataActions(JobActionBase):
    """Exports of device metadata, data and payload counts; removal of device data."""

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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
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
                             key=throttle_key(throttle, device=device["id"],
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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
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
                             key=throttle_key(throttle, application=app["id"]), effect=effect,
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
                             key=throttle_key(throttle, device=device["id"],
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


def _notify(source: Mapping[str, Any]) -> dict[str, Any]:
    return {k: source[k] for k in ("email", "callbackUrl") if source.get(k)}


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
