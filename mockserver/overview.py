"""What the inspector page shows of the world: applications, devices with
their last state, and access keys, read straight from the store (no
principal: the control API is the mock's own view, as ``/_mock/snapshot``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.clock import iso
from losant_kit.mockserver.times import iso_from_ms

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

# A page listing 100,000 devices helps nobody; the counts stay exact.
DEVICES_SHOWN = 200


def overview(backend: Backend) -> dict[str, Any]:
    store = backend.store
    users = {user["id"]: user.get("email") for user in store.all("users")}
    now_ms = backend.clock.now_ms()
    applications = []
    for app in store.all("applications"):
        devices = list(store.children("devices", app["id"]))
        applications.append(
            {
                "id": app["id"],
                "name": app.get("name"),
                "ownerId": app.get("ownerId"),
                "owner": users.get(app.get("ownerId")),
                "deviceCount": len(devices),
                "devices": [_device(backend, device, now_ms) for device in devices[:DEVICES_SHOWN]],
                "keys": [
                    {
                        "id": key["id"],
                        "key": key.get("key"),
                        "description": key.get("description"),
                        "filterType": key.get("filterType"),
                        "status": key.get("status"),
                    }
                    for key in store.children("applicationKeys", app["id"])
                ],
            }
        )
    return {"now": iso(backend.clock.now()), "applications": applications}


def _device(backend: Backend, device: dict[str, Any], now_ms: int) -> dict[str, Any]:
    state = backend.series.composite(device["id"], start_ms=0, end_ms=now_ms)
    connection = device.get("connectionInfo") or {}
    return {
        "id": device["id"],
        "name": device.get("name"),
        "deviceClass": device.get("deviceClass"),
        "connected": connection.get("connected"),
        "lastState": {
            name: {"value": entry["value"], "time": iso_from_ms(entry["time"])}
            for name, entry in state.items()
        },
    }
