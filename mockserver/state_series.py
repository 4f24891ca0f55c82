"""One device's state reports as a columnar table (the storage of the time series).

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
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from losant_kit.mockserver.errors import ValidationError

# -- one attribute's values -----------------------------------------------------

# Type codes of a column cell. 0 must mean "absent": fresh capacity is zeroed.
ABSENT, FLOAT, INT, BOOL, TEXT, BIGINT = range(6)
NUMERIC_KINDS = np.array([False, True, True, True, False, True])
HAS_VALUE = np.array([False, True, True, True, True, True])
EXACT_INT = 2**53  # beyond this an int does not survive a float64 round trip


class Column:
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
            self.kind[row] = FLOAT
            self.num[row] = value
        elif cls is int:
            if -EXACT_INT <= value <= EXACT_INT:
                self.kind[row] = INT
                self.num[row] = value
            else:
                try:
                    self.num[row] = float(value)
                except OverflowError:
                    raise ValidationError(f'"data.{name}" is too large a number') from None
                self.kind[row] = BIGINT
                self._keep(row, value, len(str(value)))
        elif cls is bool:
            self.kind[row] = BOOL
            self.num[row] = 1.0 if value else 0.0
        elif cls is str:
            self.kind[row] = TEXT
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
            if kind == FLOAT:
                out.append(num)
            elif kind == INT:
                out.append(int(num))
            elif kind == BOOL:
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
        self.kind[m:old_n] = ABSENT  # rows past the end must read as absent for new reports
        if self.obj:
            obj = self.obj + [None] * (old_n - len(self.obj))
            self.obj = [obj[i] for i in rows.tolist()]


# -- one device's series ---------------------------------------------------------


class StateSeries:
    """Every state report of one device, as rows of a columnar table (see module doc)."""

    def __init__(self, capacity: int = 256) -> None:
        self._times = np.zeros(capacity, np.int64)
        self._n = 0
        self._columns: dict[str, Column] = {}
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
                    col = columns[name] = Column(len(self._times))
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
            col.kind[row] = ABSENT
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
            col = Column(len(series._times))
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

    def column(self, name: str) -> Column | None:
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
        row = last_present(col.kind, lo, hi)
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
                emptied |= col.kind[lo:hi] != ABSENT
                col.kind[lo:hi] = ABSENT
                if col.obj:
                    col.obj[lo:hi] = [None] * len(col.obj[lo:hi])
            for col in self._columns.values():
                emptied &= col.kind[lo:hi] == ABSENT
            keep[lo:hi] = ~emptied
        removed = self._n - int(keep.sum())
        self._take(np.flatnonzero(keep))
        for name in [n for n, c in self._columns.items() if not c.kind[: self._n].any()]:
            del self._columns[name]
        return removed


def last_present(kinds: np.ndarray, lo: int, hi: int) -> int | None:
    """Index of the last cell in ``kinds[lo:hi]`` holding a value, if any."""
    if hi <= lo:
        return None
    # argmax stops at the first True; no index array the size of the window.
    back = int(np.argmax(kinds[lo:hi][::-1] != ABSENT))
    row = hi - 1 - back
    return row if kinds[row] != ABSENT else None
