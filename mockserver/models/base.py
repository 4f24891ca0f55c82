"""Pieces every model uses: ids, timestamps, rendering, collections."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable
from typing import Any

from losant_kit.mockserver.clock import Clock, iso
from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.list_filters import compile_field_filter
from losant_kit.mockserver.paging import sort_and_page
from losant_kit.mockserver.times import resolve_window

Record = dict[str, Any]
OBJECT_ID = re.compile(r"^[A-Fa-f\d]{24}$")
MAX_PER_PAGE = 1000


class IdFactory:
    """24-hex ids shaped like MongoDB ObjectIds: creation second, random, counter.

    Seeded, so the same seed and clock give the same ids run after run.
    """

    def __init__(self, clock: Clock, seed: int | None = None) -> None:
        self._clock = clock
        self._random = random.Random(seed)
        self._process = self._random.getrandbits(40)
        self._counter = self._random.getrandbits(24)

    def new(self) -> str:
        self._counter = (self._counter + 1) & 0xFFFFFF
        seconds = int(self._clock.now()) & 0xFFFFFFFF
        return f"{seconds:08x}{self._process:010x}{self._counter:06x}"

    def secret(self, nbytes: int = 32) -> str:
        return f"{self._random.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def public(record: Record) -> Record:
    """The record as clients see it: private bookkeeping removed."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def stamp_new(record: Record, clock: Clock) -> Record:
    now = iso(clock.now())
    record["creationDate"] = now
    record["lastUpdated"] = now
    return record


def touch(record: Record, clock: Clock) -> None:
    """Mark an update. Strictly increasing so two updates in one millisecond differ."""
    now = iso(clock.now())
    previous = record.get("lastUpdated", "")
    if now <= previous:
        now = _next_millisecond(previous)
    record["lastUpdated"] = now


def _next_millisecond(stamp: str) -> str:
    from datetime import datetime, timedelta

    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ") + timedelta(milliseconds=1)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def apply_changes(record: Record, changes: dict[str, Any], fields: Iterable[str]) -> None:
    """Copy the patchable ``fields`` present in ``changes``; null removes a field.

    The platform's patches treat null as "unset" (a key's name, an
    application's archiveConfig, a device's parentId).
    """
    for field in fields:
        if field not in changes:
            continue
        if changes[field] is None:
            record.pop(field, None)
        else:
            record[field] = changes[field]


def time_window_history(
    records: Iterable[Record], params: dict[str, Any], now_ms: int
) -> list[Record]:
    """The records (with ``_timeMs``) a history action returns.

    Shared by device.getCommand and device.getLogEntries: the window from
    ``start`` (or the deprecated ``since``), ``end`` and ``duration``, both ends
    inclusive; a stable sort by time (equal times keep arrival order); then
    ``sortDirection`` and ``limit`` (default 1: the newest).
    """
    limit = int_param(params.get("limit"), "limit", default=1, minimum=1)
    direction = params.get("sortDirection") or "desc"
    if direction not in ("asc", "desc"):
        raise ValidationError('query parameter sortDirection: must be "asc" or "desc"')
    start_ms, end_ms = resolve_window(
        now_ms, _start_or_since(params), params.get("end"), params.get("duration")
    )
    ordered = sorted(records, key=lambda r: r["_timeMs"])
    in_window = [r for r in ordered if start_ms <= r["_timeMs"] <= end_ms]
    if direction == "desc":
        in_window.reverse()
    return in_window[:limit]


def _start_or_since(params: dict[str, Any]) -> Any:
    """``start``, or else the deprecated ``since`` - checked here so errors name it."""
    start = params.get("start")
    if start not in (None, ""):
        return start
    since = params.get("since")
    if since not in (None, ""):
        try:
            if not math.isfinite(float(since)):
                raise ValueError
        except (TypeError, ValueError):
            raise ValidationError('"since" must be a number of milliseconds') from None
    return since


def check_object_id(value: str, name: str) -> str:
    if not isinstance(value, str) or not OBJECT_ID.match(value):
        raise ValidationError(f"{name}: '{value}' is not a valid id")
    return value


def int_param(
    value: Any, name: str, *, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """Query parameters arrive as strings; the platform wants integers."""
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise ValidationError(f"query parameter {name}: '{value}' is not an integer") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ValidationError(f"query parameter {name}: {number} must be {bound}")
    return number


def flag(value: Any) -> bool:
    """The platform's string booleans: "true"/"1" are true, anything else false."""
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1", "yes")


def collection(
    records: Iterable[Record],
    params: dict[str, Any],
    *,
    default_sort: str = "name",
    render: Callable[[Record], Record] = public,
    predicate: Callable[[Record], bool] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Page, sort and glob-filter records into the platform's collection shape.

    Which sort and filter fields are allowed, and their defaults, is the spec's
    business: Connexion has already enforced the enums and filled the defaults.
    """
    sort_field = params.get("sortField") or default_sort
    sort_direction = params.get("sortDirection") or "asc"
    page = int_param(params.get("page"), "page", default=0)
    per_page = int_param(
        params.get("perPage"), "perPage", default=100, minimum=1, maximum=MAX_PER_PAGE
    )
    filter_field = params.get("filterField") or None
    pattern = params.get("filter") or None
    matches = compile_field_filter(filter_field, pattern)
    items = [r for r in records if matches(r) and (predicate is None or predicate(r))]
    page_items, total = sort_and_page(
        items, sort_field=sort_field, sort_direction=sort_direction, page=page, per_page=per_page
    )
    body: dict[str, Any] = {
        "items": [render(r) for r in page_items],
        "count": len(page_items),
        "totalCount": total,
        "perPage": per_page,
        "page": page,
        "sortField": sort_field,
        "sortDirection": sort_direction,
    }
    if filter_field and pattern:
        body["filterField"] = filter_field
        body["filter"] = pattern
    if extra:
        body.update(extra)
    return body
