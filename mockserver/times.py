"""The platform's time values: ISO dates, epoch milliseconds, and query windows.

One home for the rules every action with a time shares (state reports,
commands, events, jobs, usage counts): how a ``time`` is read, how
``start``/``end``/``duration`` become a window, and how dates are written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from losant_kit.mockserver.errors import ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
#: The first and last instants the platform's ISO dates can express, in ms.
EARLIEST_MS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS
LATEST_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _ONE_MS


def iso_from_ms(ms: int) -> str:
    """Epoch milliseconds as the platform writes dates: ``2016-06-13T04:00:00.000Z``."""
    # Integer arithmetic, not ms / 1000: a float round trip can lose the last digit.
    dt = _EPOCH + timedelta(milliseconds=int(ms))
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


def parse_state_time(value: Any, now_ms: int, *, field: str = "time") -> int:
    """The ``time`` of a state report as epoch milliseconds.

    Accepts what ``deviceState.json`` allows: an ISO-8601 string (no zone means
    UTC), a number of milliseconds since the epoch, or ``{"$date": <either>}``.
    Missing (``None``) means ``now_ms``. Digit strings are *not* read as epoch
    milliseconds - the schema has a number type for that - so a client sending
    ``"1465790400000"`` learns it here rather than on the platform.
    """
    if value is None:
        return now_ms
    if isinstance(value, Mapping):
        if set(value) != {"$date"} or isinstance(value["$date"], Mapping):
            raise ValidationError(f'"{field}" object must be {{"$date": <ISO-8601 string>}}')
        return parse_state_time(value["$date"], now_ms, field=f"{field}.$date")
    if isinstance(value, bool):  # bool is an int subclass; True is not a date
        raise ValidationError(f'"{field}" must be a date, not a boolean')
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValidationError(f'"{field}" must be a finite number of milliseconds')
        ms = math.floor(value)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f'"{field}" is not an ISO-8601 date: {value!r}') from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        ms = (dt - _EPOCH) // _ONE_MS
    else:
        raise ValidationError(
            f'"{field}" must be an ISO-8601 string, epoch milliseconds or {{"$date": ...}}'
        )
    if not EARLIEST_MS <= ms <= LATEST_MS:
        raise ValidationError(f'"{field}" is out of range (years 1 to 9999)')
    return ms


def _ms_param(value: Any, name: str) -> int | None:
    """A millisecond parameter that may arrive as a number or a query string."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(f'"{name}" must be a number of milliseconds')
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f'"{name}" must be a number of milliseconds') from None
    if not math.isfinite(number):
        raise ValidationError(f'"{name}" must be a finite number of milliseconds')
    return math.floor(number)


def resolve_window(
    now_ms: int,
    start: Any = None,
    end: Any = None,
    duration: Any = None,
    *,
    default_duration_ms: int | None = None,
) -> tuple[int, int]:
    """Turn the platform's ``start``/``end``/``duration`` parameters into ``(start_ms, end_ms)``.

    The rules (``device.getState``, ``getCompositeState``, ``removeData``,
    ``data.timeSeriesQuery``; removeData's parameter text spells out the first):

    * ``start`` and ``end`` are milliseconds since the epoch, except that ``0``
      means now and a negative value is relative to now (``-3600000`` = an
      hour ago). A missing ``end`` is now.
    * A missing ``start`` is ``end - duration`` when ``duration`` is given, else
      ``end - default_duration_ms`` when the caller has a default, else the
      beginning of time (:data:`EARLIEST_MS`), i.e. no lower bound.
    * ``duration`` (ms, not negative) only matters when ``start`` is missing.
    * Both bounds are inclusive. ``start > end`` is not an error; it selects
      nothing, like an empty range on the platform. Bounds outside the dates
      the platform can write (years 1 to 9999) are clamped to them.

    Values may be numbers or numeric strings (query parameters are strings);
    anything else raises :class:`ValidationError` naming the parameter. The
    deprecated ``since`` of getState is a ``start`` under another name.
    """

    def absolute(ms: int) -> int:
        return now_ms + ms if ms <= 0 else ms

    end_ms = _ms_param(end, "end")
    end_ms = now_ms if end_ms is None else absolute(end_ms)
    start_ms = _ms_param(start, "start")
    duration_ms = _ms_param(duration, "duration")
    if duration_ms is not None and duration_ms < 0:
        raise ValidationError('"duration" must not be negative')
    if start_ms is not None:
        start_ms = absolute(start_ms)
    elif duration_ms is not None:
        start_ms = end_ms - duration_ms
    elif default_duration_ms is not None:
        start_ms = end_ms - default_duration_ms
    else:
        start_ms = EARLIEST_MS
    return clamp_ms(start_ms), clamp_ms(end_ms)


def clamp_ms(ms: int) -> int:
    return min(max(ms, EARLIEST_MS), LATEST_MS)
