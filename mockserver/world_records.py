"""Seeding what a world records beyond its resources: state history, connection info, events.

A generated world has none of these; a cloned one (``losant-mock clone``)
carries them so that the mock serves what the platform served. They are
seeded as written, not replayed through ``sendState`` or ``events.post``: a
replay would convert values, count payloads, apply throttles and stamp the
mock's own source and times, and the point is to reproduce the platform's
records exactly. Times are normalised to the platform's ISO form
(milliseconds, ``Z``) so that they sort as the models expect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.times import iso_from_ms, parse_state_time

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend


def seed_recorded(backend: Backend, application_id: str, spec: dict[str, Any]) -> None:
    """Seed the devices' history and connection info, and the events, of one world application."""
    for device_spec in spec.get("devices", []):
        device = backend.store.get("devices", device_spec.get("id", ""))
        if device is None:
            continue
        if device_spec.get("connectionInfo"):
            _seed_connection(backend, device, device_spec["connectionInfo"])
        for report in device_spec.get("history", []):
            backend.series.record(device["id"], _ms(report["time"]), report["data"])
    owner = backend.store.get("applications", application_id) or {}
    for event_spec in spec.get("events", []):
        backend.store.put("events", _event(backend, application_id, owner, event_spec))


def _ms(stamp: str) -> int:
    # Validation has checked the timestamp pattern; the reference time is unused.
    return parse_state_time(stamp, 0, field="time")


def _seed_connection(backend: Backend, device: dict[str, Any], info: dict[str, Any]) -> None:
    connection: dict[str, Any] = {"connected": info["connected"]}
    if info.get("time"):
        time_ms = _ms(info["time"])
        connection["time"] = iso_from_ms(time_ms)
        # Telemetry compares later status reports with this (late reports do not undo newer ones).
        device["_connectionTimeMs"] = time_ms
    device["connectionInfo"] = connection
    backend.store.put("devices", device)


def _event(
    backend: Backend, application_id: str, app: dict[str, Any], spec: dict[str, Any]
) -> dict[str, Any]:
    created = iso_from_ms(_ms(spec["creationDate"]))
    event: dict[str, Any] = {
        "id": spec["id"],
        "eventId": spec["id"],
        "applicationId": application_id,
        "level": spec["level"],
        "state": spec.get("state", "new"),
        "subject": spec["subject"],
        "eventTags": dict(spec.get("eventTags") or {}),
        "disableTagChangeTracking": bool(spec.get("disableTagChangeTracking", False)),
        "updates": list(spec.get("updates") or []),
        "creationDate": created,
        "lastUpdated": iso_from_ms(_ms(spec["lastUpdated"])) if "lastUpdated" in spec else created,
    }
    if "sourceType" in spec:
        for field in ("sourceType", "sourceId", "sourceName"):
            if field in spec:
                event[field] = spec[field]
    else:
        # A hand-written event without a source: its application's owner raised it,
        # named as events.post names a user (full name, else email).
        owner = backend.store.get("users", app.get("ownerId", "")) or {}
        full = f"{owner.get('firstName', '')} {owner.get('lastName', '')}".strip()
        event.update(sourceType="user", sourceId=owner.get("id", app.get("ownerId", "")),
                     sourceName=(full or owner.get("email") or "user")[:255])
    for field in ("message", "data", "deviceId", "deviceName"):
        if field in spec:
            event[field] = spec[field]
    if "deviceId" in event and "deviceName" not in event:
        device = backend.store.get("devices", event["deviceId"])
        if device is not None:
            event["deviceName"] = device["name"]
    return event
