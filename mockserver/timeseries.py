"""Device state history: storage and the queries the platform answers from it.

Nothing here knows HTTP. The handlers for ``device.sendState``/``getState``/
``getCompositeState``/``removeData``, ``devices.getCompositeState`` and
``data.timeSeriesQuery``/``lastValueQuery`` parse parameters (with
:func:`losant_kit.mockserver.times.resolve_window`,
:func:`losant_kit.mockserver.times.parse_state_time`,
:func:`losant_kit.mockserver.aggregation.parse_aggregation`),
call one :class:`TimeSeriesStore` method and serialise what it returns.

The storage is :mod:`~losant_kit.mockserver.state_series`; the aggregations and
their semantics are :mod:`~losant_kit.mockserver.aggregation`.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from losant_kit.mockserver.aggregation import (
    FIRST,
    LAST,
    NONE,
    TIMEATVALUE,
    Aggregation,
    aggregate,
    parse_aggregation,
    time_at_value,
)
from losant_kit.mockserver.errors import PayloadTooLarge, ValidationError
from losant_kit.mockserver.state_series import ABSENT, StateSeries
from losant_kit.mockserver.times import clamp_ms, iso_from_ms


class TimeSeriesStore:
    """State history of every device, keyed by device id (tenancy is the caller's keying).

    Thread-safe: one lock around each operation. ``None`` bounds mean unbounded.
    Times going in and coming out of :meth:`history`/:meth:`composite` are epoch
    ms; :meth:`time_series` and :meth:`last_values` return their schemas' ISO dates.
    """

    def __init__(self) -> None:
        self._series: dict[str, StateSeries] = {}
        self._lock = threading.Lock()  # never re-entered: public methods do not nest

    def record(self, device_id: str, time_ms: int, data: Mapping[str, Any]) -> None:
        """Store one state report; the hot path of sendState. Raises ValidationError
        (and stores nothing) for a value that is not a finite number, string or boolean."""
        with self._lock:
            series = self._series.get(device_id)
            if series is None:
                series = self._series[device_id] = StateSeries()
            series.append(time_ms, data)

    def series(self, device_id: str) -> StateSeries | None:
        """The device's series, for diagnostics and benchmarks (not for writing)."""
        return self._series.get(device_id)

    def count(self, device_id: str, start_ms: int | None = None, end_ms: int | None = None) -> int:
        """Number of state reports of the device in the window (payload counts)."""
        with self._lock:
            series = self._series.get(device_id)
            if series is None:
                return 0
            lo, hi = series.window(start_ms, end_ms)
            return hi - lo

    def history(
        self,
        device_id: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 1,
        direction: str = "desc",
    ) -> list[dict[str, Any]]:
        """getState: reports in the window sorted by time, then cut to ``limit``.

        ``desc`` (the default) gives the newest ``limit`` reports newest first;
        ``asc`` the oldest ``limit`` oldest first (sort, then limit, as a database
        would). Equal times keep arrival order (reversed for ``desc``).
        """
        direction = _direction(direction, "sortDirection")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError('"limit" must be a positive integer')
        with self._lock:
            series = self._series.get(device_id)
            if series is None:
                return []
            lo, hi = series.window(start_ms, end_ms)
            if direction == "asc":
                rows = np.arange(lo, min(hi, lo + limit))
            else:
                rows = np.arange(hi - 1, max(lo, hi - limit) - 1, -1)
            return series.reports(rows)

    def composite(
        self,
        device_id: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        attributes: Iterable[str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """getCompositeState: ``{attr: {"value": v, "time": ms}}``, each attribute's
        last value in the window. Unknown or unreported attributes are left out.
        ``attributes`` may be the query parameter's comma-separated string."""
        if isinstance(attributes, str):
            attributes = [name for name in attributes.split(",") if name]
        with self._lock:
            series = self._series.get(device_id)
            if series is None:
                return {}
            lo, hi = series.window(start_ms, end_ms)
            names = series.attribute_names() if attributes is None else attributes
            out = {}
            for name in names:
                last = series.last_value(name, lo, hi)
                if last is not None:
                    out[name] = {"value": last[1], "time": last[0]}
            return out

    def last_values(
        self,
        device_ids: Iterable[str],
        attribute_names: str | Iterable[str] | None = None,
        end_ms: int | None = None,
    ) -> dict[str, dict[str, Any]]:
        """lastValueQuery: ``{deviceId: {"time": iso, "data": {attr: value}}}``.

        ``data`` holds the last value at or before ``end_ms`` of each named
        attribute (all attributes when none are named) and ``time`` is the newest
        of their times - for the schema's single ``attribute``, that value's time.
        Devices with no such value are left out (``time`` and ``data`` are required).
        """
        if isinstance(attribute_names, str):
            attribute_names = [attribute_names]
        out = {}
        for device_id in device_ids:
            state = self.composite(device_id, end_ms=end_ms, attributes=attribute_names)
            if state:
                newest = max(entry["time"] for entry in state.values())
                out[device_id] = {
                    "time": iso_from_ms(newest),
                    "data": {name: entry["value"] for name, entry in state.items()},
                }
        return out

    def time_series(
        self,
        device_ids: Iterable[str],
        *,
        start_ms: int,
        end_ms: int,
        resolution_ms: int | None,
        aggregation: Any,
        attributes: Iterable[str] | None = None,
        limit: int | None = None,
        order: str = "asc",
        devices_info: Mapping[str, Mapping[str, Any]] | None = None,
        max_bytes: int | None = None,
    ) -> dict[str, Any]:
        """timeSeriesQuery: the ``timeSeriesData.json`` body (see module doc for semantics).

        ``aggregation`` is any schema form (or an :class:`Aggregation`); ``attributes``
        None means every attribute the device has reported. Points are sorted by
        ``order`` and then cut to ``limit`` per device. ``devices_info`` supplies
        each device's ``name`` and ``tags`` (default: the id and ``{}``). With
        ``max_bytes``, a result estimated above it raises PayloadTooLarge before
        any point is built.
        """
        agg = parse_aggregation(aggregation)
        order = _direction(order, "order")
        resolution_ms = _check_resolution(resolution_ms, agg)
        limit = _check_limit(limit)
        start_ms, end_ms = clamp_ms(start_ms), clamp_ms(end_ms)
        device_ids = list(device_ids)
        attribute_list = None if attributes is None else list(attributes)
        info = devices_info or {}
        with self._lock:
            if max_bytes is not None:
                size = self._estimate(
                    device_ids,
                    attribute_list,
                    start_ms,
                    end_ms,
                    resolution_ms,
                    agg,
                    limit,
                    info,
                    aggregation,
                )
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"time series result would be about {size} bytes, over the "
                        f"{max_bytes}-byte limit; narrow the query or coarsen the resolution"
                    )
            devices = {}
            for device_id in device_ids:
                meta = info.get(device_id, {})
                devices[device_id] = {
                    "name": meta.get("name", device_id),
                    "tags": meta.get("tags", {}),
                    "points": self._points(
                        device_id,
                        attribute_list,
                        start_ms,
                        end_ms,
                        resolution_ms,
                        agg,
                        limit,
                        order,
                    ),
                }
        return {
            "start": iso_from_ms(start_ms),
            "end": iso_from_ms(end_ms),
            "resolution": resolution_ms,
            "aggregation": _aggregation_body(aggregation, agg),
            "limit": limit,
            "order": order,
            "devices": devices,
        }

    def _points(
        self,
        device_id: str,
        attributes: list[str] | None,
        start_ms: int,
        end_ms: int,
        resolution_ms: int | None,
        agg: Aggregation,
        limit: int | None,
        order: str,
    ) -> list[dict[str, Any]]:
        series = self._series.get(device_id)
        if series is None:
            return []
        lo, hi = series.window(start_ms, end_ms)
        names = series.attribute_names() if attributes is None else attributes
        if agg.type == NONE:
            return _raw_points(series, names, lo, hi, limit, order)
        buckets: dict[int, dict[str, Any]] = {}
        for name in names:
            if agg.type == TIMEATVALUE:
                ids, values = time_at_value(
                    series, name, lo, hi, agg.value, resolution_ms, start_ms, end_ms
                )
            else:
                ids, values = aggregate(series, name, lo, hi, agg, resolution_ms)
            for bucket, value in zip(ids, values, strict=True):
                buckets.setdefault(bucket, {})[name] = value
        keys = sorted(buckets, reverse=order == "desc")[:limit]
        return [
            {
                # A bucket may start before year 1 when its resolution is vast.
                "time": iso_from_ms(
                    start_ms if resolution_ms is None else clamp_ms(k * resolution_ms)
                ),
                "data": buckets[k],
            }
            for k in keys
        ]

    def estimated_result_bytes(
        self,
        device_ids: Iterable[str],
        *,
        start_ms: int,
        end_ms: int,
        resolution_ms: int | None,
        aggregation: Any,
        attributes: Iterable[str] | None = None,
        limit: int | None = None,
        devices_info: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> int:
        """An upper bound on the ``json.dumps`` size of what :meth:`time_series`
        would return, computed without building it, so a handler can refuse a
        result over the platform's size limit cheaply.

        Per device it counts min(reports in window, buckets in window) points
        (every report for NONE, every bucket for TIMEATVALUE), each with its
        date and every requested attribute at 24 bytes (the longest float) or,
        for FIRST/LAST/NONE, the attribute's longest string seen. Tight for
        dense numeric data; loose when buckets are sparse or strings vary.
        """
        agg = parse_aggregation(aggregation)
        resolution_ms = _check_resolution(resolution_ms, agg)
        limit = _check_limit(limit)
        with self._lock:
            return self._estimate(
                list(device_ids),
                None if attributes is None else list(attributes),
                start_ms,
                end_ms,
                resolution_ms,
                agg,
                limit,
                devices_info or {},
                aggregation,
            )

    def _estimate(
        self,
        device_ids: list[str],
        attributes: list[str] | None,
        start_ms: int,
        end_ms: int,
        resolution_ms: int | None,
        agg: Aggregation,
        limit: int | None,
        info: Mapping[str, Mapping[str, Any]],
        spec: Any,
    ) -> int:
        if resolution_ms is None or agg.type == NONE or end_ms < start_ms:
            buckets = 1
        else:
            buckets = end_ms // resolution_ms - start_ms // resolution_ms + 1
        # The envelope: start, end, resolution, aggregation, limit, order, devices.
        total = 200 + len(json.dumps(_aggregation_body(spec, agg)))
        textual = agg.type in (FIRST, LAST, NONE)
        for device_id in device_ids:
            meta = info.get(device_id, {})
            total += 40 + len(json.dumps(device_id))
            total += len(json.dumps(meta.get("name", device_id)))
            total += len(json.dumps(meta.get("tags", {})))
            series = self._series.get(device_id)
            if series is None:
                continue
            lo, hi = series.window(start_ms, end_ms)
            if agg.type == NONE:
                points = hi - lo
            elif agg.type == TIMEATVALUE:
                points = buckets if len(series) else 0
            else:
                points = min(hi - lo, buckets)
            if limit is not None:
                points = min(points, limit)
            per_point = 56  # {"time": "2016-06-15T03:50:00.000Z", "data": {}}, plus a comma
            names = series.attribute_names() if attributes is None else attributes
            for name in names:
                col = series.column(name)
                if col is not None:
                    value = max(24, col.max_json) if textual else 24
                    per_point += len(json.dumps(name)) + 4 + value  # "name": value,
            total += points * per_point
        return total

    def remove(
        self,
        device_id: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        *,
        attributes: Iterable[str] | None = None,
    ) -> int:
        """removeData: delete the device's reports in the window (all by default);
        with ``attributes`` only those values. Returns the number of reports deleted."""
        with self._lock:
            series = self._series.get(device_id)
            if series is None:
                return 0
            return series.remove(start_ms, end_ms, None if attributes is None else list(attributes))

    def device_ids(self) -> list[str]:
        with self._lock:
            return list(self._series)

    def adopt(self, device_id: str, series: StateSeries) -> None:
        """Install a whole series (loaded from a block), replacing the device's."""
        with self._lock:
            self._series[device_id] = series

    def drop_device(self, device_id: str) -> bool:
        """Forget a deleted device's history. Returns whether there was any."""
        with self._lock:
            return self._series.pop(device_id, None) is not None

    # -- whole state (a Backend "part": /_mock/snapshot, reset) --

    def snapshot(self) -> dict[str, Any]:
        """Every device's history as plain JSON, columnar so a long history stays compact:
        ``{deviceId: {"times": [ms, ...], "attributes": {name: [value or null, ...]}}}``.

        Rows are in time order (equal times in arrival order); ``null`` marks a
        report that did not carry the attribute (state values are never null).
        """
        with self._lock:
            out: dict[str, Any] = {}
            for device_id, series in self._series.items():
                times = series.times().tolist()  # sorts first, so the columns are in time order
                attributes: dict[str, list[Any]] = {}
                for name in series.attribute_names():
                    col = series.column(name)
                    if col is None:  # pragma: no cover - names come from the columns
                        continue
                    values: list[Any] = [None] * len(times)
                    present = np.flatnonzero(col.kind[: len(times)])
                    for row, value in zip(present.tolist(), col.values(present), strict=True):
                        values[row] = value
                    attributes[name] = values
                out[device_id] = {"times": times, "attributes": attributes}
            return out

    def restore(self, data: Mapping[str, Any]) -> None:
        """Replace everything with a :meth:`snapshot`; raises ValueError (and keeps
        the current state) if ``data`` is not one."""
        if not isinstance(data, Mapping):
            raise ValueError("series: expected an object keyed by device id")
        rebuilt: dict[str, StateSeries] = {}
        for device_id, entry in data.items():
            where = f"series.{device_id}"
            if not isinstance(entry, Mapping) or not isinstance(entry.get("times"), list):
                raise ValueError(f"{where}: expected {{'times': [...], 'attributes': {{...}}}}")
            times, attributes = entry["times"], entry.get("attributes", {})
            if not isinstance(attributes, Mapping):
                raise ValueError(f"{where}.attributes: expected an object of value lists")
            for name, values in attributes.items():
                if not isinstance(values, list) or len(values) != len(times):
                    raise ValueError(f"{where}.attributes.{name}: expected {len(times)} values")
            series = StateSeries(max(16, len(times)))
            for row, time_ms in enumerate(times):
                if isinstance(time_ms, bool) or not isinstance(time_ms, int):
                    raise ValueError(f"{where}.times[{row}]: expected integer milliseconds")
                report = {
                    name: values[row]
                    for name, values in attributes.items()
                    if values[row] is not None
                }
                try:
                    series.append(time_ms, report)
                except ValidationError as exc:
                    raise ValueError(f"{where}: {exc.message}") from None
            rebuilt[device_id] = series
        with self._lock:
            self._series = rebuilt

    def clear(self) -> None:
        with self._lock:
            self._series = {}


def _raw_points(
    series: StateSeries, names: list[str], lo: int, hi: int, limit: int | None, order: str
) -> list[dict[str, Any]]:
    """NONE: the reports in ``[lo, hi)`` that carry a requested attribute."""
    carries = np.zeros(hi - lo, bool)
    for name in names:
        col = series.column(name)
        if col is not None:
            carries |= col.kind[lo:hi] != ABSENT
    rows = lo + np.flatnonzero(carries)
    if order == "desc":
        rows = rows[::-1]
    if limit is not None:
        rows = rows[: int(limit)]
    return [
        {"time": iso_from_ms(report["time"]), "data": report["data"]}
        for report in series.reports(rows, names)
    ]


def _direction(value: str, name: str) -> str:
    lowered = value.lower() if isinstance(value, str) else value
    if lowered not in ("asc", "desc"):
        raise ValidationError(f'"{name}" must be "asc" or "desc"')
    return lowered


def _check_resolution(resolution_ms: float | None, agg: Aggregation) -> int | None:
    """The resolution as whole ms (JSON may say ``3e5``); NONE ignores it."""
    if resolution_ms is None:
        return None
    if agg.type == NONE:
        return resolution_ms  # echoed back, never used
    number = isinstance(resolution_ms, int | float) and not isinstance(resolution_ms, bool)
    if not number or not 1 <= resolution_ms < math.inf:
        raise ValidationError('"resolution" must be a number of milliseconds, at least 1')
    return int(resolution_ms)


def _check_limit(limit: float | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not 1 <= limit < math.inf:
        raise ValidationError('"limit" must be a positive number')
    return int(limit)


def _aggregation_body(spec: Any, agg: Aggregation) -> Any:
    """The query's ``aggregation`` echoed back in the schema's form."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        return dict(spec)
    if agg.type == TIMEATVALUE:
        return {"type": agg.type, "options": {"value": agg.value}}
    return agg.type
