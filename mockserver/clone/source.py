"""What the cloner reads of one application, action by action.

The collections are read whole first (devices, their last values, keys, API
tokens, recipes, events), because the world file's header depends on them;
then each device's state history is read and written one device at a time,
so a large fleet's history never sits in memory at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from losant_kit.mockserver.clone.reader import MAX_PAGE, ApiReader, NotPermitted
from losant_kit.mockserver.times import parse_state_time

Record = dict[str, Any]


@dataclass
class Application:
    """Everything read of an application except state history."""

    record: Record
    me: Record | None
    devices: list[Record]
    last_values: dict[str, dict[str, Record]]
    keys: list[Record]
    tokens: list[Record]
    recipes: list[Record]
    events: list[Record]
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


def time_ms(stamp: str) -> int:
    return parse_state_time(stamp, 0)


def read_application(
    reader: ApiReader, application_id: str, *, since_ms: int, max_devices: int | None
) -> Application:
    ids = {"applicationId": application_id}
    record = reader.get("application.get", **ids)
    me = reader.try_get("me.get")  # API tokens may not read /me: the owner is then invented
    devices, truncated = _devices(reader, ids, max_devices)
    wanted = {d["id"] for d in devices}
    last_values = _last_values(reader, ids, wanted)
    notes: list[str] = []

    def optional(action: str, read: Callable[[], list[Record]]) -> list[Record]:
        # A narrowly scoped API token may read devices but not keys or events:
        # the clone goes on without them and says so.
        try:
            return read()
        except NotPermitted as exc:
            notes.append(f"not cloned, the token may not read it: {exc}")
            return []

    return Application(
        record=record,
        me=me,
        devices=devices,
        last_values=last_values,
        keys=optional("keys", lambda: _all(reader, "applicationKeys.get", ids)),
        tokens=optional("tokens", lambda: _all(reader, "applicationApiTokens.get", ids)),
        recipes=optional("recipes", lambda: _all(reader, "deviceRecipes.get", ids)),
        events=optional("events", lambda: _events_since(reader, ids, since_ms)),
        truncated=truncated,
        notes=notes,
    )


def _all(reader: ApiReader, action: str, ids: dict[str, str]) -> list[Record]:
    return [item for page in reader.pages(action, {"sortField": "id", "sortDirection": "asc"},
                                          **ids) for item in page]


def _devices(
    reader: ApiReader, ids: dict[str, str], max_devices: int | None
) -> tuple[list[Record], bool]:
    # By id: a stable order for paging (names need not be unique), and
    # creation order, so --max-devices keeps the oldest devices.
    devices: list[Record] = []
    for page in reader.pages("devices.get", {"sortField": "id", "sortDirection": "asc"}, **ids):
        devices.extend(page)
        if max_devices is not None and len(devices) >= max_devices:
            # A full last page may hide more devices: "truncated" then means "perhaps".
            more = len(devices) > max_devices or len(page) == MAX_PAGE
            return devices[:max_devices], more
    return devices, False


def _last_values(
    reader: ApiReader, ids: dict[str, str], wanted: set[str]
) -> dict[str, dict[str, Record]]:
    """Each device's last value per attribute over all time (devices.getCompositeState)."""
    found: dict[str, dict[str, Record]] = {}
    # start=1 ms after the epoch: all time (the default window may be shorter).
    params = {"start": 1, "sortField": "id", "sortDirection": "asc"}
    for page in reader.pages("devices.getCompositeState", params, **ids):
        for item in page:
            if item["id"] in wanted:
                found[item["id"]] = item.get("compositeState") or {}
        if len(found) == len(wanted):
            break
    return found


def _events_since(reader: ApiReader, ids: dict[str, str], since_ms: int) -> list[Record]:
    """The events created in the history window, oldest first."""
    events: list[Record] = []
    params = {"sortField": "creationDate", "sortDirection": "desc"}
    for page in reader.pages("events.get", params, **ids):
        for event in page:
            if time_ms(event["creationDate"]) < since_ms:
                return events[::-1]
            events.append(event)
    return events[::-1]


def device_history(
    reader: ApiReader, application_id: str, device_id: str, start_ms: int, end_ms: int,
    page_size: int,
) -> list[Record]:
    """device.getState over [start, end], oldest first, in pages of ``page_size``.

    Pages walk back from ``end``, newest first (getState's documented order).
    The next page ends at the oldest time seen, inclusive, so reports sharing
    that millisecond are not lost; the ones already read are skipped.
    """
    newest_first: list[Record] = []
    end, skip = end_ms, 0
    while True:
        limit = page_size + skip
        batch = reader.get(
            "device.getState",
            {"start": start_ms, "end": end, "limit": limit, "sortDirection": "desc"},
            applicationId=application_id,
            deviceId=device_id,
        )
        newest_first.extend(batch[skip:])
        if len(batch) < limit:
            return newest_first[::-1]
        oldest = time_ms(batch[-1]["time"])
        skip = sum(1 for report in batch if time_ms(report["time"]) == oldest)
        end = oldest


def reports_before(last_values: dict[str, Record], start_ms: int) -> Iterator[Record]:
    """Last values older than the window, as reports, so the clone keeps every last value."""
    by_time: dict[str, dict[str, Any]] = {}
    for name, entry in last_values.items():
        if entry.get("time") and time_ms(entry["time"]) < start_ms:
            by_time.setdefault(entry["time"], {})[name] = entry["value"]
    for stamp in sorted(by_time, key=time_ms):
        yield {"time": stamp, "data": by_time[stamp]}
