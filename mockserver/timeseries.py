"""Device state history: storage and the queries the platform answers from it.

Nothing here knows HTTP. The handlers for ``device.sendState``/``getState``/
``getCompositeState``/``removeData``, ``devices.getCompositeState`` and
``data.timeSeriesQuery``/``lastValueQuery`` parse parameters (with
:func:`losant_kit.mockserver.times.resolve_window`,
:func:`losant_kit.mockserver.times.parse_state_time`,
:func:`parse_aggregation`),
call one :class:`TimeSeriesStore` method and serialise what it returns.

Storage layout
--------------
Each device has a :class:`StateSeries`: one growable ``int64`` numpy array of
report times plus, per attribute, a column of the same length holding a type
code (``uint8``), the numeric value (``float64``) and, only for strings and
integers too big for a float, a Python list of the original objects. Reports
are rows; an attribute a report did not carry has type code 0 in that row.

Why this shape: ingest is on the hot path of ``POST .../state``, so a report
costs one scalar store per attribute into preallocated arrays (capacity
doubles when full, so growth is amortised) - well under a microsecond per
value. The queries then run on numpy slices of those same arrays without first
copying or converting anything, so a 30-day MEAN over a million points is a
``searchsorted`` and a few ``reduceat`` calls. A million single-attribute
numeric reports take about 17 MB (8 B time + 8 B value + 1 B type each; up to
twice that while the capacity is only half used), not the ~250 MB that a list
of dicts would.

Reports may arrive out of order. Appending stays O(1); a report older than the
newest one marks the series unsorted, and the next query sorts it once with a
*stable* sort, so reports with equal times keep their arrival order and a
burst of late reports costs one sort, not one shift per report.

Semantics (the "fidelity notes")
--------------------------------
* Windows are inclusive at both ends, ``start <= time <= end``, so a state sent
  at the frozen "now" is seen by a query that ends "now".
* Buckets are aligned to multiples of the resolution since the epoch, not to
  the window start, and a point's ``time`` is its bucket's start. Aligned
  buckets do not move when a dashboard re-queries a sliding window, agree
  across devices, and are what time-series databases (InfluxDB, Elasticsearch
  date histograms) do. The window is not widened: the first and last buckets
  may be partial, so the first point's time can precede the query's start.
  Without a resolution the whole window is one bucket labelled with its start.
* Empty buckets are omitted: ``timeSeriesData`` only allows number, string or
  boolean values in ``data``, never null. An attribute without a value in a
  bucket is left out of that point; a point with no attribute is left out.
* COUNT, FIRST, LAST and TIMEATVALUE take every value type. MAX, MIN, MEDIAN,
  MEAN, SUM and STD_DEV take numbers and booleans (true = 1, false = 0, as the
  platform documents) and skip strings - which includes GPS ``"lat,lng"`` and
  blob (base64) values; a bucket with only strings has no value for them.
* STD_DEV is the population standard deviation (divide by n): a bucket holds
  every report in its interval, not a sample of them, and a single-point
  bucket then gives 0 rather than no value. MEDIAN of an even count is the
  mean of the two middle values.
* TIMEATVALUE treats an attribute as holding each reported value until its next
  report (or the window end); the value at the window start is carried in from
  the last report before it. Each bucket gets the milliseconds, within the
  window, at which the value equalled ``options.value`` (matched by type: a
  boolean target never matches the number 1); every bucket that overlaps the
  known part of the window gets a value, 0 included.
* NONE returns the raw reports in the window that carry a requested attribute,
  each with its own time.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from losant_kit.mockserver.errors import PayloadTooLarge, ValidationError
from losant_kit.mockserver.times import clamp_ms, iso_from_ms

# -- aggregations ---------------------------------------------------------------

FIRST, LAST, COUNT = "FIRST", "LAST", "COUNT"
MAX, MIN, MEDIAN, MEAN, SUM, STD_DEV = "MAX", "MIN", "MEDIAN", "MEAN", "SUM", "STD_DEV"
NONE, TIMEATVALUE = "NONE", "TIMEATVALUE"
#: The aggregation types of ``timeSeriesQuery.json``; the numeric ones skip strings.
NUMERIC_AGGREGATIONS = frozenset({MAX, MIN, MEDIAN, MEAN, SUM, STD_DEV})
AGGREGATIONS = frozenset({FIRST, LAST, COUNT, NONE, TIMEATVALUE} | NUMERIC_AGGREGATIONS)


@dataclass(frozen=True)
class Aggregation:
    """A parsed ``aggregation``: its type and, for TIMEATVALUE, the value to time."""

    type: str
    value: str | float | bool | None = None


def parse_aggregation(spec: Any) -> Aggregation:
    """Read ``aggregation`` in any of its schema forms: ``"MEAN"``, ``{"type": "MEAN"}``,
    ``{"type": "TIMEATVALUE", "options": {"value": ...}}``."""
    if isinstance(spec, Aggregation):
        return spec
    options: Any = {}
    if isinstance(spec, Mapping):
        kind, options = spec.get("type"), spec.get("options", {})
    else:
        kind = spec
    if kind not in AGGREGATIONS:
        raise ValidationError(f'"aggregation" must be one of {", ".join(sorted(AGGREGATIONS))}')
    if not isinstance(options, Mapping):
        raise ValidationError('"aggregation.options" must be an object')
    if kind != TIMEATVALUE:
        if options:
            raise ValidationError(f'"aggregation.options" takes no properties for {kind}')
        return Aggregation(kind)
    if "value" not in options or not isinstance(options["value"], str | int | float):
        raise ValidationError('TIMEATVALUE needs "aggregation.options.value" (string/number/bool)')
    return Aggregation(kind, options["value"])


# -- one attribute's values -----------------------------------------------------

# Type codes of a column cell. 0 must mean "absent": fresh capacity is zeroed.
_ABSENT, _FLOAT, _INT, _BOOL, _TEXT, _BIGINT = range(6)
_NUMERIC = np.array([False, True, True, True, False, True])
_HAS_VALUE = np.array([False, True, True, True, True, True])
_EXACT_INT = 2**53  # beyond this an int does not survive a float64 round trip


class _Column:
    """One attribute of one device: a type code, a float and maybe an object per report row."""

    __slots__ = ("kind", "max_json", "num", "obj")

    def __init__(self, capacity: int) -> None:
        self.kind = np.zeros(capacity, np.uint8)
        self.num = np.zeros(capacity, np.float64)
        # Only strings and huge ints live here; the list is padded with None up
        # to the last row that needed it, so numeric-only attributes never pay.
        self.obj: list[Any] = []
        self.max_json = 0  # longest JSON text of a kept object, for result-size estimates

    def put(self, row: int, value: Any, name: str) -> None:
        cls = type(value)
        if cls is float:
            if value != value or value in (math.inf, -math.inf):
                raise ValidationError(f'"data.{name}" must be a finite number')
            self.kind[row] = _FLOAT
            self.num[row] = value
        elif cls is int:
            if -_EXACT_INT <= value <= _EXACT_INT:
                self.kind[row] = _INT
                self.num[row] = value
            else:
                try:
                    self.num[row] = float(value)
                except OverflowError:
                    raise ValidationError(f'"data.{name}" is too large a number') from None
                self.kind[row] = _BIGINT
                self._keep(row, value, len(str(value)))
        elif cls is bool:
            self.kind[row] = _BOOL
            self.num[row] = 1.0 if value else 0.0
        elif cls is str:
            self.kind[row] = _TEXT
            plain = value.isascii() and value.isprintable() and '"' not in value
            self._keep(row, value, len(value) + 2 if plain and "\\" not in value else None)
        elif isinstance(value, bool):  # subclasses (IntEnum, numpy scalars...) as their base
            self.put(row, bool(value), name)
        elif isinstance(value, int):
            self.put(row, int(value), name)
        elif isinstance(value, float):
            self.put(row, float(value), name)
        elif isinstance(value, str):
            self.put(row, str(value), name)
        else:
            raise ValidationError(f'"data.{name}" must be a number, string or boolean')

    def _keep(self, row: int, value: Any, json_size: int | None) -> None:
        obj = self.obj
        if len(obj) <= row:
            obj.extend([None] * (row + 1 - len(obj)))
        obj[row] = value
        if json_size is None:  # escapes make the text longer; let json count them
            json_size = len(json.dumps(value))
        if json_size > self.max_json:
            self.max_json = json_size

    def values(self, rows: np.ndarray) -> list[Any]:
        """The stored values at ``rows`` (all of which must hold a value), as JSON types."""
        kinds = self.kind[rows].tolist()
        nums = self.num[rows].tolist()
        out = []
        for row, kind, num in zip(rows.tolist(), kinds, nums, strict=True):
            if kind == _FLOAT:
                out.append(num)
            elif kind == _INT:
                out.append(int(num))
            elif kind == _BOOL:
                out.append(num != 0.0)
            else:
                out.append(self.obj[row])
        return out

    def resize(self, capacity: int) -> None:
        kind = np.zeros(capacity, np.uint8)
        num = np.zeros(capacity, np.float64)
        keep = min(capacity, len(self.kind))
        kind[:keep] = self.kind[:keep]
        num[:keep] = self.num[:keep]
        self.kind, self.num = kind, num

    def take(self, rows: np.ndarray, old_n: int) -> None:
        """Keep only ``rows`` (indices into the first ``old_n``), in that order, at the front."""
        m = len(rows)
        self.kind[:m] = self.kind[rows]
        self.num[:m] = self.num[rows]
        self.kind[m:old_n] = _ABSENT  # rows past the end must read as absent for new reports
        if self.obj:
            obj = self.obj + [None] * (old_n - len(self.obj))
            self.obj = [obj[i] for i in rows.tolist()]


# -- one device's series ---------------------------------------------------------


class StateSeries:
    """Every state report of one device, as rows of a columnar table (see module doc)."""

    def __init__(self, capacity: int = 256) -> None:
        self._times = np.zeros(capacity, np.int64)
        self._n = 0
        self._columns: dict[str, _Column] = {}
        self._newest: int | None = None
        self._sorted = True

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (allocated capacity, not just the used rows)."""
        total = self._times.nbytes
        for col in self._columns.values():
            total += col.kind.nbytes + col.num.nbytes + 8 * len(col.obj)
        return total

    def attribute_names(self) -> list[str]:
        return list(self._columns)

    def append(self, time_ms: int, data: Mapping[str, Any]) -> None:
        """Add one report; O(1) amortised. ``data`` values: number, string or boolean."""
        row = self._n
        if row == len(self._times):
            self._resize(max(16, 2 * row))
        self._times[row] = time_ms
        columns = self._columns
        try:
            for name, value in data.items():
                col = columns.get(name)
                if col is None:
                    col = columns[name] = _Column(len(self._times))
                col.put(row, value, name)
        except BaseException:
            self._undo_row(row, data)
            raise
        self._n = row + 1
        if self._newest is None or time_ms >= self._newest:
            self._newest = time_ms
        else:
            self._sorted = False

    def _undo_row(self, row: int, data: Mapping[str, Any]) -> None:
        # A rejected report must leave no trace: the row is reused by the next one.
        for name in data:
            col = self._columns.get(name)
            if col is None:
                continue
            col.kind[row] = _ABSENT
            if not col.kind[: row + 1].any():
                del self._columns[name]

    def _resize(self, capacity: int) -> None:
        times = np.zeros(capacity, np.int64)
        times[: self._n] = self._times[: self._n]
        self._times = times
        for col in self._columns.values():
            col.resize(capacity)

    def _ensure_sorted(self) -> None:
        if self._sorted:
            return
        n = self._n
        order = np.argsort(self._times[:n], kind="stable")  # stable: equal times keep arrival order
        self._take(order)
        self._sorted = True

    def _take(self, rows: np.ndarray) -> None:
        old_n = self._n
        self._times[: len(rows)] = self._times[rows]
        for col in self._columns.values():
            col.take(rows, old_n)
        self._n = len(rows)
        self._newest = int(self._times[self._n - 1]) if self._n else None

    # -- whole series as flat arrays (the --data file's blocks, mockserver/persistence.py) --

    def to_block(self) -> tuple[bytes, bytes, bytes, dict[str, Any]]:
        """``(times, kinds, nums, layout)``: the rows in time order as raw int64 /
        uint8 / float64 bytes (columns concatenated in ``layout["names"]`` order),
        plus the strings and big integers. Loads back with :meth:`from_block`
        without touching each row in Python."""
        self._ensure_sorted()
        n = self._n
        names = list(self._columns)
        cols = [self._columns[name] for name in names]
        kinds = b"".join(col.kind[:n].tobytes() for col in cols)
        nums = b"".join(col.num[:n].tobytes() for col in cols)
        layout = {"names": names, "obj": {name: col.obj[:n] for name, col in zip(
            names, cols, strict=True) if col.obj}, "maxJson": [col.max_json for col in cols]}
        return self._times[:n].tobytes(), kinds, nums, layout

    @classmethod
    def from_block(cls, times: bytes, kinds: bytes, nums: bytes,
                   layout: Mapping[str, Any]) -> StateSeries:
        stamps = np.frombuffer(times, np.int64)
        n = len(stamps)
        series = cls(max(16, n))
        series._times[:n] = stamps
        series._n = n
        series._newest = int(stamps[-1]) if n else None
        kind_all, num_all = np.frombuffer(kinds, np.uint8), np.frombuffer(nums, np.float64)
        for i, name in enumerate(layout["names"]):
            col = _Column(len(series._times))
            col.kind[:n] = kind_all[i * n:(i + 1) * n]
            col.num[:n] = num_all[i * n:(i + 1) * n]
            col.obj = list(layout["obj"].get(name, []))
            col.max_json = layout["maxJson"][i]
            series._columns[name] = col
        return series

    # -- reads (all sort first) --

    def times(self) -> np.ndarray:
        """The sorted report times (a view: do not keep it across writes)."""
        self._ensure_sorted()
        return self._times[: self._n]

    def column(self, name: str) -> _Column | None:
        return self._columns.get(name)

    def window(self, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
        """Row range ``[lo, hi)`` of the reports with ``start_ms <= time <= end_ms``."""
        times = self.times()
        lo = 0 if start_ms is None else int(np.searchsorted(times, start_ms, "left"))
        hi = len(times) if end_ms is None else int(np.searchsorted(times, end_ms, "right"))
        return lo, max(lo, hi)

    def reports(self, rows: np.ndarray, attributes: Iterable[str] | None = None) -> list[dict]:
        """``{"time": ms, "data": {...}}`` for each row, in the order given."""
        times = self.times()[rows].tolist()
        datas: list[dict[str, Any]] = [{} for _ in times]
        names = self._columns if attributes is None else attributes
        for name in names:
            col = self._columns.get(name)
            if col is None:
                continue
            present = np.flatnonzero(col.kind[rows])
            for pos, value in zip(present.tolist(), col.values(rows[present]), strict=True):
                datas[pos][name] = value
        return [{"time": t, "data": d} for t, d in zip(times, datas, strict=True)]

    def last_value(self, name: str, lo: int, hi: int) -> tuple[int, Any] | None:
        """``(time, value)`` of the attribute's last report in rows ``[lo, hi)``."""
        col = self._columns.get(name)
        if col is None:
            return None
        row = _last_present(col.kind, lo, hi)
        if row is None:
            return None
        return int(self._times[row]), col.values(np.array([row]))[0]

    def remove(
        self, start_ms: int | None, end_ms: int | None, attributes: Iterable[str] | None
    ) -> int:
        """Delete data in the window; with ``attributes``, only those attributes'
        values (a report left with nothing is deleted). Returns reports deleted."""
        lo, hi = self.window(start_ms, end_ms)
        if hi == lo:
            return 0
        keep = np.ones(self._n, bool)
        if attributes is None:
            keep[lo:hi] = False
        else:
            emptied = np.zeros(hi - lo, bool)
            for name in attributes:
                col = self._columns.get(name)
                if col is None:
                    continue
                emptied |= col.kind[lo:hi] != _ABSENT
                col.kind[lo:hi] = _ABSENT
                if col.obj:
                    col.obj[lo:hi] = [None] * len(col.obj[lo:hi])
            for col in self._columns.values():
                emptied &= col.kind[lo:hi] == _ABSENT
            keep[lo:hi] = ~emptied
        removed = self._n - int(keep.sum())
        self._take(np.flatnonzero(keep))
        for name in [n for n, c in self._columns.items() if not c.kind[: self._n].any()]:
            del self._columns[name]
        return removed


# -- bucketed aggregation (pure functions over one attribute's slice) ---------------


def _last_present(kinds: np.ndarray, lo: int, hi: int) -> int | None:
    """Index of the last cell in ``kinds[lo:hi]`` holding a value, if any."""
    if hi <= lo:
        return None
    # argmax stops at the first True; no index array the size of the window.
    back = int(np.argmax(kinds[lo:hi][::-1] != _ABSENT))
    row = hi - 1 - back
    return row if kinds[row] != _ABSENT else None


def _buckets(times: np.ndarray, resolution_ms: int | None) -> tuple[np.ndarray, np.ndarray]:
    """For sorted ``times``: where each non-empty bucket starts, and its bucket id.

    Bucket ``k`` is ``[k * resolution, (k + 1) * resolution)`` - epoch-aligned.
    """
    if resolution_ms is None:  # the whole window is one bucket
        return np.zeros(1, np.int64), np.zeros(1, np.int64)
    first, last = int(times[0]) // resolution_ms, int(times[-1]) // resolution_ms
    if last - first < len(times):
        # Fewer buckets than points (the usual case): binary-search each bucket
        # edge instead of dividing every time - O(buckets log n), not O(n).
        edges = np.arange(first, last + 1, dtype=np.int64) * resolution_ms
        starts = np.searchsorted(times, edges, "left")
        filled = np.flatnonzero(np.diff(np.append(starts, len(times))))
        return starts[filled], first + filled
    ids = times // resolution_ms  # floor division, so negative times bucket correctly too
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    return starts, ids[starts]


def _grouped_median(x: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    # Sort by value, then stably by group: values come out sorted within each
    # (contiguous) group. Two argsorts beat lexsort ~3x on a million points.
    group = np.repeat(np.arange(len(starts)), counts)
    by_value = np.argsort(x)  # equal values are interchangeable: no need for stable
    dtype = np.uint16 if len(starts) <= 65536 else np.int64  # uint16 gets a radix sort
    order = by_value[np.argsort(group[by_value].astype(dtype), kind="stable")]
    ordered = x[order]
    lower = ordered[starts + (counts - 1) // 2]
    upper = ordered[starts + counts // 2]
    return (lower + upper) / 2


def _aggregate(
    series: StateSeries,
    name: str,
    lo: int,
    hi: int,
    aggregation: Aggregation,
    resolution_ms: int | None,
) -> tuple[list[int], list[Any]]:
    """Bucket ids and values of one attribute over rows ``[lo, hi)``, for non-empty buckets."""
    col = series.column(name)
    if col is None or hi <= lo:
        return [], []
    kind = aggregation.type
    wanted = _NUMERIC if kind in NUMERIC_AGGREGATIONS else _HAS_VALUE
    kinds = col.kind[lo:hi]
    tally = np.bincount(kinds, minlength=len(wanted))
    if not tally[wanted].any():
        return [], []
    times = series.times()[lo:hi]
    if tally[~wanted].any():
        rows = np.flatnonzero(wanted[kinds])
        times = times[rows]
    else:  # every row qualifies (the common case): work on views, gather nothing
        rows = None
    starts, ids = _buckets(times, resolution_ms)
    counts = np.diff(np.append(starts, len(times)))
    bucket_ids = ids.tolist()
    if kind in (FIRST, LAST):
        picked = starts if kind == FIRST else starts + counts - 1
        return bucket_ids, col.values(lo + (picked if rows is None else rows[picked]))
    if kind == COUNT:
        return bucket_ids, counts.tolist()
    x = col.num[lo:hi] if rows is None else col.num[lo:hi][rows]
    if kind == SUM:
        values = np.add.reduceat(x, starts)
    elif kind == MEAN:
        values = np.add.reduceat(x, starts) / counts
    elif kind == MAX:
        values = np.maximum.reduceat(x, starts)
    elif kind == MIN:
        values = np.minimum.reduceat(x, starts)
    elif kind == STD_DEV:
        # Two passes (mean, then squared deviations): the one-pass E[x^2]-E[x]^2
        # cancels catastrophically for large values with a small spread.
        mean = np.add.reduceat(x, starts) / counts
        deviation = x - np.repeat(mean, counts)
        values = np.sqrt(np.add.reduceat(deviation * deviation, starts) / counts)
    elif kind == MEDIAN:
        values = _grouped_median(x, starts, counts)
    else:  # pragma: no cover - parse_aggregation admits nothing else
        raise ValidationError(f"unsupported aggregation {kind}")
    return bucket_ids, values.tolist()


_MAX_TIMEATVALUE_BUCKETS = 1_000_000  # memory guard: already ~60 MB of JSON, twice the cap


def _matches(col: _Column, rows: np.ndarray, target: Any) -> np.ndarray:
    kinds = col.kind[rows]
    if isinstance(target, bool):
        return (kinds == _BOOL) & (col.num[rows] == float(target))
    if isinstance(target, int | float):
        number = (kinds == _FLOAT) | (kinds == _INT) | (kinds == _BIGINT)
        return number & (col.num[rows] == float(target))
    texts = np.flatnonzero(kinds == _TEXT)
    hit = np.zeros(len(rows), bool)
    obj = col.obj
    hit[texts] = [obj[r] == target for r in rows[texts].tolist()]
    return hit


def _time_at_value(
    series: StateSeries,
    name: str,
    lo: int,
    hi: int,
    target: Any,
    resolution_ms: int | None,
    start_ms: int,
    end_ms: int,
) -> tuple[list[int], list[Any]]:
    """Per bucket, the ms in ``[start_ms, end_ms)`` at which the attribute equalled ``target``."""
    col = series.column(name)
    if col is None or end_ms <= start_ms:
        return [], []
    carried = _last_present(col.kind, 0, lo)  # the value holding at the window start
    before = np.array([] if carried is None else [carried], np.int64)
    rows = np.concatenate((before, lo + np.flatnonzero(col.kind[lo:hi])))
    if not len(rows):
        return [], []
    seg_start = series.times()[rows]
    seg_start[0] = max(int(seg_start[0]), start_ms)
    seg_end = np.append(seg_start[1:], end_ms)
    match = _matches(col, rows, target)
    matched = np.concatenate(([0], np.cumsum((seg_end - seg_start) * match)))
    known_from = int(seg_start[0])
    if known_from >= end_ms:
        return [], []
    if resolution_ms is None:
        ids = np.zeros(1, np.int64)
        edges_lo, edges_hi = np.array([start_ms]), np.array([end_ms])
    else:
        first, last = known_from // resolution_ms, (end_ms - 1) // resolution_ms
        if last - first + 1 > _MAX_TIMEATVALUE_BUCKETS:
            raise PayloadTooLarge("time series result is too large; use a coarser resolution")
        ids = np.arange(first, last + 1, dtype=np.int64)
        edges_lo = np.maximum(ids * resolution_ms, start_ms)
        edges_hi = np.minimum((ids + 1) * resolution_ms, end_ms)

    def matched_before(x: np.ndarray) -> np.ndarray:
        seg = np.searchsorted(seg_start, x, "right") - 1
        safe = np.maximum(seg, 0)
        partial = np.clip(np.minimum(x, seg_end[safe]) - seg_start[safe], 0, None)
        return np.where(seg >= 0, matched[safe] + partial * match[safe], 0)

    values = matched_before(edges_hi) - matched_before(edges_lo)
    return ids.tolist(), values.tolist()


# -- the store --------------------------------------------------------------------


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
                ids, values = _time_at_value(
                    series, name, lo, hi, agg.value, resolution_ms, start_ms, end_ms
                )
            else:
                ids, values = _aggregate(series, name, lo, hi, agg, resolution_ms)
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
            carries |= col.kind[lo:hi] != _ABSENT
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
