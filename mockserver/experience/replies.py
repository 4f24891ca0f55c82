"""Built-in replies: what a workflow would answer, for endpoints tagged ``mockReply``.

The mock runs no workflows, so an endpoint names one of these with its
endpoint tag ``mockReply`` (a real platform field the platform ignores).
Each reply gets the request as a workflow would see it (``data.params``,
``data.query``, ``data.body``, the experience user) and answers
``(status, JSON body)``, doing what the seed's workflows do: log in
(``auth.login``), verify the user reaches a device and read it
(``device.get``) or its time series (``device.data``), list the user's
devices (``devices.list``) or describe the user (``user.me``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import NotFound, PlatformError, Unauthorized, ValidationError

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

Record = dict[str, Any]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass
class ReplyContext:
    backend: Backend
    application_id: str
    user: Record | None
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any = None

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def require_user(self) -> Record:
        if self.user is None:
            raise Unauthorized("This reply needs a logged-in experience user")
        return self.user


class DeviceNotReached(PlatformError):
    status = 403
    type = "Forbidden"


Reply = Callable[[ReplyContext], tuple[int, Any]]


def auth_login(ctx: ReplyContext) -> tuple[int, Any]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    try:
        result = ctx.backend.experience_users.login(
            ctx.application_id, body.get("email"), body.get("password")
        )
    except Unauthorized:
        return 401, {"error": "Unauthorized"}
    return 200, result


def user_me(ctx: ReplyContext) -> tuple[int, Any]:
    return 200, ctx.backend.experience_users.render(ctx.require_user())


def devices_list(ctx: ReplyContext) -> tuple[int, Any]:
    user = ctx.require_user()
    devices = ctx.backend.experience_groups.user_devices(ctx.application_id, user["id"])
    devices.sort(key=lambda d: (d.get("name", "").lower(), d["id"]))
    items = [ctx.backend.devices.render(d) for d in devices]
    return 200, {"items": items, "count": len(items)}


def device_get(ctx: ReplyContext) -> tuple[int, Any]:
    return 200, ctx.backend.devices.render(_verified_device(ctx))


def device_data(ctx: ReplyContext) -> tuple[int, Any]:
    """A time-series query over the verified device, from the query string."""
    device = _verified_device(ctx)
    body: dict[str, Any] = {"deviceIds": [device["id"]]}
    attributes = [
        name.strip()
        for value in ctx.query.get("attribute", []) + ctx.query.get("attributes", [])
        for name in value.split(",")
        if name.strip()
    ]
    if attributes:
        body["attributes"] = attributes
    for name in ("start", "end"):
        value = ctx.query_value(name)
        if value not in (None, ""):
            body[name] = _number(value, name)
    duration = ctx.query_value("duration") or ctx.query_value("time_range")
    if duration:
        body["duration"] = _duration_ms(duration, "duration")
    if ctx.query_value("resolution"):
        body["resolution"] = _duration_ms(ctx.query_value("resolution"), "resolution")
    if ctx.query_value("aggregation"):
        body["aggregation"] = ctx.query_value("aggregation").upper()
    app = ctx.backend.store.get("applications", ctx.application_id)
    owner = Principal("user", app["ownerId"], frozenset(["all.User"]), user_id=app["ownerId"])
    result = ctx.backend.telemetry.time_series(owner, ctx.application_id, body)
    series = result.pop("devices")[device["id"]]
    return 200, {
        **result,
        "deviceId": device["id"],
        "name": series["name"],
        "points": series["points"],
    }


REPLIES: dict[str, Reply] = {
    "auth.login": auth_login,
    "user.me": user_me,
    "devices.list": devices_list,
    "device.get": device_get,
    "device.data": device_data,
}


def _verified_device(ctx: ReplyContext) -> Record:
    """The device named by ``{deviceId}``, if the user reaches it (Device: Verify)."""
    user = ctx.require_user()
    device_id = ctx.params.get("deviceId") or ctx.query_value("deviceId")
    if not device_id:
        raise ValidationError("The route has no {deviceId} and the query names none")
    device = ctx.backend.store.get("devices", device_id)
    if device is None or device["applicationId"] != ctx.application_id or device.get("deletedAt"):
        raise NotFound.resource("Device", device_id)
    if not ctx.backend.experience_groups.user_reaches(ctx.application_id, user["id"], device):
        raise DeviceNotReached(f"Experience user may not access device {device_id}")
    return device


def _number(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValidationError(f"query parameter {name}: '{value}' is not a number") from None


def _duration_ms(value: str, name: str) -> int:
    """Milliseconds, or a number with a unit: ``90000``, ``30m``, ``24h``, ``7d``."""
    found = _DURATION.match(value)
    if not found:
        raise ValidationError(
            f"query parameter {name}: '{value}' is not a duration (ms, or 30s, 15m, 24h, 7d, 1w)"
        )
    number, unit = found.groups()
    return int(float(number) * _UNIT_MS[unit or "ms"])
