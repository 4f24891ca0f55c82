"""What devices report - state and connection status - and the queries over it.

State history lives in ``backend.series`` (mockserver/timeseries.py, which
documents bucketing and aggregation); connection logs are records of kind
``deviceLogs`` (parent: the device). Every accepted state is published on the
live stream ``state/<deviceId>`` and counted as a ``deviceState`` payload
(models/usage.py). The window throttle (30 per 15 s per device, shared by
sendState and setConnectionStatus) is applied by the dispatcher before any of
this runs, keyed by the device in the path - the peripheral when a gateway
reports for one - so a refused report is never stored, streamed or counted.

Semantics (the "fidelity notes")
--------------------------------
* Who may report: a device token reports for itself, and a gateway (or edge
  compute) device for its peripherals (``gatewayId``); any other device is a
  403, even one its access key lets it read. User and API tokens report for
  any device of an application they reach, as their scopes allow. System
  devices cannot report state (their state derives from their children): 400.
* ``time`` may be an ISO-8601 string (no zone = UTC), epoch ms or
  ``{"$date": ...}``; missing means now on the mock clock. A bad time is a 400
  naming ``body.time`` (``body[i].time`` in an array) and nothing of the
  request is stored. ``meta`` and ``flowVersion`` are accepted and ignored.
* Attributes: as the platform documents, only attributes defined on the
  device are stored; other names are dropped silently. A value of the wrong
  type is converted to the attribute's data type when that is unambiguous and
  dropped otherwise, also silently (the request still succeeds):
  - number: numbers as sent; numeric strings (``"21.5"``, ``" 3 "``, ``"1e3"``)
    become numbers; booleans become 1/0; anything else is dropped, as are
    numbers beyond the float range.
  - boolean: booleans as sent; numbers become ``value != 0``; the strings
    ``true``/``false``/``1``/``0`` (any case, trimmed) become booleans; other
    strings are dropped.
  - string: strings as sent; numbers and booleans become their JSON text
    (``3``, ``2.5``, ``true``); a value over 64 KiB of UTF-8 is dropped.
  - gps: strings in one of the documented forms (decimal ``lat,lng`` within
    +-90/+-180, degrees-minutes-seconds, NMEA GLL/GGA sentences), kept as sent;
    anything else is dropped.
  - blob: strings of base64 characters (standard or URL-safe alphabet, up to
    three ``=``), kept as sent; anything else is dropped.
  - an attribute without a ``dataType`` is a number (the platform's default).
  A report left with no attribute is acknowledged and counted as a payload but
  neither stored nor streamed.
* Streams: ``state/<deviceId>`` receives ``{"time": ISO, "data": {...}}`` per
  stored report, with the converted values.
* Reads: ``getState`` sorts the window's reports by time and then cuts to
  ``limit`` (default 1, so the newest); ``since`` (deprecated) is ``start``
  under another name. ``getCompositeState`` gives each attribute's last value
  in the window (default: all time up to now) with its time as ISO-8601.
* Device selection of ``timeSeriesQuery``/``lastValueQuery``: the union of
  ``deviceIds``, devices having any of ``deviceTags`` (a tag with only a key
  or only a value matches on that part) and devices matching ``deviceQuery``;
  with none of the three, every device of the application. Deleted devices,
  ids of other applications and devices out of a device token's reach are
  skipped, not refused.
* ``timeSeriesQuery`` defaults: ``end`` now, ``duration`` 24 hours,
  ``aggregation`` MEAN, no ``resolution`` (the window is one bucket).
  ``lastValueQuery``'s ``end`` takes the same forms as ``end`` elsewhere
  (0 = now, negative = relative) and defaults to now.
* Size cap: a ``timeSeriesQuery`` whose result would serialise (``json.dumps``)
  to more than the operation's ``x-throttle`` ``max_bytes`` is refused with 400
  (the only documented error status for it; see throttle.check_size). The
  result is only built when its estimate exceeds the cap; an estimate over
  eight times the cap is refused without building it (a memory guard).
* Connection status: ``connected`` sets ``connectionInfo`` to
  ``{"connected": 1, "time": connectedAt or now}``, ``disconnected`` to
  ``{"connected": 0, "time": disconnectedAt or now}``; a report older than the
  last one applied is logged but does not change ``connectionInfo`` (late
  messages do not undo newer ones). ``lastUpdated`` is not touched. Each report
  appends a log entry with ``connected``, ``time`` and whichever of
  ``ipAddress``, ``disconnectReason``, ``messagesFromClient`` and
  ``messagesToClient`` were sent, and counts a ``deviceConnect`` or
  ``deviceDisconnect`` payload. ``getLogEntries`` reads like ``getState``
  (newest first, ``limit`` default 1).
* Removing a device (its application deleted) drops its state history and
  connection log; soft deletion keeps them for a restore.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.aggregation import MEAN
from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ValidationError,
)
from losant_kit.mockserver.list_filters import device_selector
from losant_kit.mockserver.models.base import (
    MAX_PER_PAGE,
    Record,
    int_param,
    public,
    time_window_history,
)
from losant_kit.mockserver.models.commands import state_topic
from losant_kit.mockserver.models.usage import json_size, rest_source
from losant_kit.mockserver.paging import sort_and_page
from losant_kit.mockserver.query import device_value
from losant_kit.mockserver.times import EARLIEST_MS, iso_from_ms, parse_state_time, resolve_window

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend
    from losant_kit.mockserver.throttle import ThrottleRule

LOG_KIND = "deviceLogs"
DAY_MS = 86_400_000
MAX_STRING_BYTES = 64 * 1024
#: Build a result to measure it only while its estimate is within this many caps.
SIZE_ESTIMATE_SLACK = 8
_LOG_FIELDS = ("ipAddress", "disconnectReason", "messagesFromClient", "messagesToClient")


# -- reporting rights ----------------------------------------------------------------


def reporting_device(
    backend: Backend, principal: Principal, application_id: str, device_id: str
) -> Record:
    """The device a principal reports state or connection status for, or 403/404."""
    app = backend.applications.visible(principal, application_id)
    device = backend.store.get("devices", device_id)
    if device is None or device["applicationId"] != app["id"] or device.get("deletedAt"):
        raise NotFound.resource("Device", device_id)
    if not backend.keys.may_report_for(principal, device):
        raise Forbidden(
            f"Device {principal.subject} may not report for device {device_id}: "
            "a device reports for itself, a gateway also for its peripherals"
        )
    return device


# -- state ---------------------------------------------------------------------------------


class Telemetry:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        self.series = backend.series
        self.connections = Connections(backend)
        backend.parts["series"] = backend.series
        backend.device_removal_listeners.append(self.drop_device)

    # ------------------------------------------------------------ sending

    def send_state(
        self,
        principal: Principal,
        application_id: str,
        device_id: str,
        body: dict[str, Any] | list[dict[str, Any]],
        *,
        source: str | None = None,
    ) -> dict[str, bool]:
        """device.sendState: store, stream and count one report or an array of them.

        ``source`` is the usage source (default: the principal's REST one; the
        MQTT broker passes ``device.mqtt``).
        """
        device = reporting_device(self.backend, principal, application_id, device_id)
        if device.get("deviceClass") == "system":
            raise ValidationError(
                f"Device {device_id} is a system device: its state derives "
                "from its child devices and cannot be reported"
            )
        many = isinstance(body, list)
        states = body if many else [body]
        now = self.backend.clock.now_ms()
        types = attribute_types(device)
        accepted = []
        for index, state in enumerate(states):
            field = f"body[{index}]" if many else "body"
            time_ms = parse_state_time(state.get("time"), now, field=f"{field}.time")
            accepted.append((time_ms, conform(types, state.get("data") or {}), state))
        # Everything is validated: from here on nothing can fail half-way.
        source = source or rest_source(principal)
        streams, topic = self.backend.streams, state_topic(device["id"])
        for time_ms, data, raw in accepted:
            if data:
                self.series.record(device["id"], time_ms, data)
                self.store.append("state", (device["id"], time_ms, data))
                if streams.subscriber_count(topic):  # the hot path skips building the event
                    streams.publish(
                        topic, "deviceState", {"time": iso_from_ms(time_ms), "data": data}
                    )
            self.backend.usage.count(
                device["applicationId"], device["id"], "deviceState", source, nbytes=json_size(raw)
            )
        return {"success": True}

    # ------------------------------------------------------------ one device

    def history(
        self, principal: Principal, application_id: str, device_id: str, params: Mapping[str, Any]
    ) -> list[Record]:
        """device.getState: the window's reports sorted by time, then cut to ``limit``."""
        device = self.backend.devices.find(principal, application_id, device_id)
        limit = int_param(params.get("limit"), "limit", default=1, minimum=1)
        start_ms, end_ms = self._window(params)
        reports = self.series.history(
            device["id"],
            start_ms=start_ms,
            end_ms=end_ms,
            limit=limit,
            direction=params.get("sortDirection") or "desc",
        )
        return [{"time": iso_from_ms(r["time"]), "data": r["data"]} for r in reports]

    def composite(
        self, principal: Principal, application_id: str, device_id: str, params: Mapping[str, Any]
    ) -> dict[str, Record]:
        """device.getCompositeState: each attribute's last value and time in the window."""
        device = self.backend.devices.find(principal, application_id, device_id)
        start_ms, end_ms = self._window(params)
        return self._composite(device["id"], start_ms, end_ms, _names(params.get("attributes")))

    def _composite(
        self, device_id: str, start_ms: int, end_ms: int, attributes: list[str] | None
    ) -> dict[str, Record]:
        state = self.series.composite(
            device_id, start_ms=start_ms, end_ms=end_ms, attributes=attributes
        )
        return {
            name: {"value": entry["value"], "time": iso_from_ms(entry["time"])}
            for name, entry in state.items()
        }

    def _window(self, params: Mapping[str, Any]) -> tuple[int, int]:
        start = params.get("start")
        if start in (None, ""):
            start = params.get("since")
        return resolve_window(
            self.backend.clock.now_ms(), start, params.get("end"), params.get("duration")
        )

    # ------------------------------------------------------------ many devices

    def composite_many(
        self, principal: Principal, application_id: str, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """devices.getCompositeState: a page of devices (advanced query) with their states."""
        app = self.backend.applications.visible(principal, application_id)
        devices = self.backend.devices.selection(principal, app["id"], params.get("query"))
        sort_field = params.get("sortField") or "name"
        direction = params.get("sortDirection") or "asc"
        page = int_param(params.get("page"), "page", default=0)
        per_page = int_param(
            params.get("perPage"), "perPage", default=100, minimum=1, maximum=MAX_PER_PAGE
        )
        items, total = sort_and_page(
            devices,
            sort_field=sort_field,
            sort_direction=direction,
            page=page,
            per_page=per_page,
            key=lambda d: device_value(d, sort_field),
        )
        start_ms, end_ms = self._window(params)
        names = _names(params.get("attributes"))
        body: dict[str, Any] = {
            "items": [
                {
                    "id": d["id"],
                    "name": d["name"],
                    "compositeState": self._composite(d["id"], start_ms, end_ms, names),
                }
                for d in items
            ],
            "count": len(items),
            "totalCount": total,
            "perPage": per_page,
            "page": page,
            "sortField": sort_field,
            "sortDirection": direction,
            "applicationId": app["id"],
        }
        if params.get("query"):
            body["query"] = params["query"]
        return body

    def last_values(
        self, principal: Principal, application_id: str, body: Mapping[str, Any]
    ) -> dict[str, Record]:
        """data.lastValueQuery: the newest value of the attribute(s) of each selected device."""
        devices = self._selected(principal, application_id, body)
        _, end_ms = resolve_window(self.backend.clock.now_ms(), None, body.get("end"))
        return self.series.last_values([d["id"] for d in devices], body.get("attribute"), end_ms)

    def time_series(
        self,
        principal: Principal,
        application_id: str,
        body: Mapping[str, Any],
        *,
        size_rule: ThrottleRule | None = None,
    ) -> dict[str, Any]:
        """data.timeSeriesQuery: aggregated points per selected device (timeSeriesData)."""
        devices = self._selected(principal, application_id, body)
        devices.sort(key=lambda d: (d["name"].lower(), d["id"]))
        start_ms, end_ms = resolve_window(
            self.backend.clock.now_ms(),
            body.get("start"),
            body.get("end"),
            body.get("duration"),
            default_duration_ms=DAY_MS,
        )
        query = {
            "start_ms": start_ms,
            "end_ms": end_ms,
            "resolution_ms": body.get("resolution"),
            "aggregation": body.get("aggregation", MEAN),
            "attributes": body.get("attributes"),
            "limit": body.get("limit"),
            "devices_info": {d["id"]: {"name": d["name"], "tags": _tag_lists(d)} for d in devices},
        }
        ids = [d["id"] for d in devices]

        def run() -> dict[str, Any]:
            try:
                return self.series.time_series(ids, order=body.get("order", "asc"), **query)
            except PayloadTooLarge as exc:  # the store's own memory guard: a size refusal too
                raise BadRequest(exc.message) from None

        throttles = self.backend.throttles
        if size_rule is None or not throttles.enabled:
            return run()
        cap = size_rule.max_bytes or 0
        estimate = self.series.estimated_result_bytes(ids, **query)
        if estimate <= cap:
            return run()
        if estimate > SIZE_ESTIMATE_SLACK * cap:
            raise BadRequest(
                f"{size_rule.refusal()}; this one would be about {estimate} bytes: "
                "narrow the window, the devices or the attributes, or use a "
                "coarser resolution"
            )
        result = run()
        throttles.check_size(size_rule, len(json.dumps(result)))
        return result

    def _selected(
        self, principal: Principal, application_id: str, body: Mapping[str, Any]
    ) -> list[Record]:
        devices = self.backend.devices.selection(principal, application_id)
        if not any(name in body for name in ("deviceIds", "deviceTags", "deviceQuery")):
            return devices
        selected = device_selector(body)
        return [d for d in devices if selected(d)]

    # ------------------------------------------------------------ lifecycle

    def drop_device(self, device: Record) -> None:
        """Removal listener: a removed device's history and connection log go with it."""
        if self.series.drop_device(device["id"]):
            self.store.rewrite("state", device["id"])
        self.connections.drop_device(device)


# -- connection status ---------------------------------------------------------------------


class Connections:
    """device.setConnectionStatus and device.getLogEntries."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    def set_status(
        self,
        principal: Principal,
        application_id: str,
        device_id: str,
        body: Mapping[str, Any],
        *,
        source: str | None = None,
    ) -> dict[str, bool]:
        device = reporting_device(self.backend, principal, application_id, device_id)
        now = self.backend.clock.now_ms()
        connected = body["status"] == "connected"
        at = "connectedAt" if connected else "disconnectedAt"
        time_ms = parse_state_time(body.get(at), now, field=f"body.{at}")
        if not connected and "connectedAt" in body:  # checked, though only the end is logged
            parse_state_time(body["connectedAt"], now, field="body.connectedAt")
        stamp = iso_from_ms(time_ms)
        entry: Record = {
            "id": self.backend.ids.new(),
            "deviceId": device["id"],
            "applicationId": device["applicationId"],
            "_timeMs": time_ms,
            "connected": 1 if connected else 0,
            "time": stamp,
        }
        entry.update({name: body[name] for name in _LOG_FIELDS if name in body})
        self.store.put(LOG_KIND, entry)
        if time_ms >= device.get("_connectionTimeMs", EARLIEST_MS):
            device["connectionInfo"] = {"connected": entry["connected"], "time": stamp}
            device["_connectionTimeMs"] = time_ms
            self.store.put("devices", device)
        self.backend.usage.count(
            device["applicationId"],
            device["id"],
            "deviceConnect" if connected else "deviceDisconnect",
            source or rest_source(principal),
            nbytes=json_size(body),
        )
        return {"success": True}

    def log_entries(
        self, principal: Principal, application_id: str, device_id: str, params: Mapping[str, Any]
    ) -> list[Record]:
        """device.getLogEntries: the window's entries sorted by time, then cut to ``limit``."""
        device = self.backend.devices.find(principal, application_id, device_id)
        entries = self.store.children(LOG_KIND, device["id"])
        return [
            _render_log(e)
            for e in time_window_history(entries, params, self.backend.clock.now_ms())
        ]

    def drop_device(self, device: Record) -> None:
        for entry in list(self.store.children(LOG_KIND, device["id"])):
            self.store.delete(LOG_KIND, entry["id"])


def _render_log(entry: Record) -> Record:
    out = public(entry)
    for bookkeeping in ("id", "deviceId", "applicationId"):
        out.pop(bookkeeping, None)
    return out


def _tag_lists(device: Record) -> dict[str, list[str]]:
    """Tags as timeSeriesData shows them: ``{key: [values...]}``."""
    out: dict[str, list[str]] = {}
    for tag in device.get("tags", ()):
        values = out.setdefault(tag["key"], [])
        if tag.get("value") and tag["value"] not in values:
            values.append(tag["value"])
    return out


def _names(raw: Any) -> list[str] | None:
    """A comma-separated ``attributes`` parameter; None (all) when absent or blank."""
    if raw in (None, ""):
        return None
    names = [name.strip() for name in str(raw).split(",") if name.strip()]
    return names or None


# -- attribute types -----------------------------------------------------------------------

_DROP = object()  # marker: the value cannot be converted and is left out
_INTEGER_TEXT = re.compile(r"[+-]?\d{1,300}")
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_GPS = re.compile(r"\s*([+-]?\d{1,3}(?:\.\d+)?)\s*,\s*([+-]?\d{1,3}(?:\.\d+)?)\s*")
# Minutes and seconds marks: ASCII quotes or the typographic prime and double prime.
_DMS_PART = r"\d{1,3}\s*°\s*\d{1,2}\s*['\u2032]\s*\d{1,2}(?:\.\d+)?\s*[\"\u2033]\s*"
_DMS_GPS = re.compile(rf"\s*{_DMS_PART}[NSns]\s*,\s*{_DMS_PART}[EWew]\s*")
_NMEA_GPS = re.compile(r"\$G[A-Z]G(?:LL|GA),[^\r\n]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/_\-\r\n]*={0,3}")


def attribute_types(device: Record) -> dict[str, str]:
    """Attribute name -> data type (``number`` when the attribute does not say)."""
    return {a["name"]: a.get("dataType") or "number" for a in device.get("attributes", ())}


def conform(types: Mapping[str, str], data: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a report that the device's attributes accept, converted to their types."""
    out = {}
    for name, value in data.items():
        kind = types.get(name)
        if kind is None:
            continue
        converted = _CONVERTERS.get(kind, _as_number)(value)
        if converted is not _DROP:
            out[name] = converted
    return out


def _as_number(value: Any) -> Any:
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_TEXT.fullmatch(text):
            value = int(text)
        elif _NUMBER_TEXT.fullmatch(text):
            value = float(text)
        else:
            return _DROP
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return _DROP
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _DROP
    return _DROP


def _as_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    return _DROP


def _as_string(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return _DROP
    if isinstance(value, int | float):
        return json.dumps(value)
    if not isinstance(value, str):
        return _DROP
    if len(value) * 4 > MAX_STRING_BYTES and len(value.encode()) > MAX_STRING_BYTES:
        return _DROP
    return value


def _as_gps(value: Any) -> Any:
    if not isinstance(value, str):
        return _DROP
    decimal = _DECIMAL_GPS.fullmatch(value)
    if decimal:
        lat, lng = float(decimal.group(1)), float(decimal.group(2))
        return value if abs(lat) <= 90 and abs(lng) <= 180 else _DROP
    if _DMS_GPS.fullmatch(value) or _NMEA_GPS.fullmatch(value.strip()):
        return value
    return _DROP


def _as_blob(value: Any) -> Any:
    return value if isinstance(value, str) and _BASE64.fullmatch(value) else _DROP


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "number": _as_number,
    "boolean": _as_boolean,
    "string": _as_string,
    "gps": _as_gps,
    "blob": _as_blob,
}
