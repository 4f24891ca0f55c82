"""Usage: payload counts from the messages the mock actually received, and the
per-day summaries built on them (device counts, notebook minutes, period summaries).

Other models report each message they accept with one call::

    backend.usage.count(application_id, device_id, "deviceCommand", "user.rest", nbytes=42)

``kind`` is a payload type of ``payloadStats.json`` (``deviceState``,
``deviceCommand``, ``deviceConnect``, ...); ``source`` names who sent it and
over what, as the platform's ``"<origin>.<channel>"`` strings do
(``device.mqtt``, ``public.rest``); :func:`rest_source` gives the REST one for
a principal. Counts are kept by the receive time on the mock's clock, not by
the time a state report claims.

Semantics (the "fidelity notes")
--------------------------------
* A message counts when the platform accepts it: a throttled (429) or invalid
  (4xx) request counts nothing. Each state of an array report is one
  ``deviceState`` payload; a report whose attributes were all dropped (see
  models/telemetry.py) still counts, since it was received.
* REST sources are ``device.rest``, ``user.rest`` and ``apiToken.rest`` after
  the kind of token that sent the message.
* ``asBytes`` reports the bytes of each message's JSON (compact separators)
  instead of the number of messages.
* Billable payloads are every kind except ``deviceConnect`` and
  ``deviceDisconnect`` (connection bookkeeping). ``payloadCountsBreakdown``
  counts billable payloads unless ``includeNonBillable=true``; ``payloadCounts``
  (by type and source) and ``device.payloadCounts`` show every kind.
  ``device.payloadCountsBreakdown`` has no such parameter and counts billable ones.
* Windows: ``start``/``end`` are ms since the epoch, ``0`` = now, negative =
  relative to now, both inclusive; a missing ``end`` is now and a missing
  ``start`` is 30 days before ``end`` (the documented default of payloadCounts,
  used for every usage operation).
* Breakdowns (payloads, device counts, notebook minutes) have one entry for
  every UTC day (or hour, for ``resolution=3600000``) that overlaps the window,
  zeros included, labelled with the bucket's start; the first and last buckets
  only count the part inside the window. At most 100,000 buckets (400 beyond).
* ``deviceCounts``: ``created``/``deleted`` count devices whose ``creationDate``/
  ``deletedAt`` fall in the bucket; ``total`` is the devices existing at the
  bucket's end (created by then and not yet deleted). Devices removed outright
  (their application deleted) are gone from every count.
* The mock has no notebooks: ``notebookMinuteCounts`` is all zeros, per bucket.
* ``applications.periodSummaries`` summarises the caller's applications (an
  application token: its own). The mock has no organizations: ``orgId`` given
  as an id matches nothing; blank or absent means the caller's own
  applications. ``include``/``exclude`` take ``payloadCounts``,
  ``deviceCounts`` and ``notebookMinuteCounts`` (400 for other names).
"""

from __future__ import annotations

import json
import threading
from array import array
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from losant_kit.mockserver.auth import Principal
from losant_kit.mockserver.errors import ValidationError
from losant_kit.mockserver.models.base import Record, collection, flag
from losant_kit.mockserver.times import iso_from_ms, parse_state_time, resolve_window

if TYPE_CHECKING:
    from losant_kit.mockserver.models.backend import Backend

#: The payload types of ``payloadStats.json`` (tests/test_usage_api.py checks them on the spec).
PAYLOAD_KINDS = frozenset({
    "appFile", "dataTable", "deviceCreate", "deviceCommand", "deviceConnect", "deviceDisconnect",
    "deviceState", "endpoint", "event", "flowError", "inboundEmail", "integration", "mqttIn",
    "mqttOut", "notebook", "resourceJob", "timer", "virtualButton", "webhook",
})
#: The per-device payload types of ``devicePayloadCounts.json``.
DEVICE_PAYLOAD_KINDS = ("deviceCommand", "deviceConnect", "deviceDisconnect", "deviceState",
                        "mqttIn", "mqttOut")
NON_BILLABLE = frozenset({"deviceConnect", "deviceDisconnect"})
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DEFAULT_WINDOW_MS = 30 * DAY_MS
MAX_BUCKETS = 100_000
SUMMARY_PARTS = ("deviceCounts", "notebookMinuteCounts", "payloadCounts")
_NOTEBOOK_ZEROS = {"minutes": 0, "completed": 0, "canceled": 0, "errored": 0, "timeout": 0}


# One encoder for every message: json.dumps with options builds a new one per
# call, which was a fifth of an MQTT state publish.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_size(value: Any) -> int:
    """Bytes of a message as compact JSON: what ``asBytes`` counts."""
    return len(_COMPACT.encode(value).encode())


def rest_source(principal: Principal | None) -> str:
    """The ``source`` of a message sent over REST by this principal."""
    return f"{principal.kind if principal else 'public'}.rest"


class _Tally:
    """Receive times (ms) and sizes of one (device, kind, source)'s messages.

    Two flat int64 arrays: appending is O(1) and a window or a whole breakdown
    is a couple of binary searches over them. Times only go backwards when the
    clock is set back; the arrays are then sorted once, at the next read.
    """

    __slots__ = ("sizes", "sorted", "times")

    def __init__(self) -> None:
        self.times = array("q")
        self.sizes = array("q")
        self.sorted = True

    def add(self, time_ms: int, nbytes: int) -> None:
        if self.times and time_ms < self.times[-1]:
            self.sorted = False
        self.times.append(time_ms)
        self.sizes.append(nbytes)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        times = np.frombuffer(self.times, dtype=np.int64) if self.times else np.zeros(0, np.int64)
        sizes = np.frombuffer(self.sizes, dtype=np.int64) if self.sizes else np.zeros(0, np.int64)
        if not self.sorted:
            order = np.argsort(times, kind="stable")
            times, sizes = times[order], sizes[order]
            self.times, self.sizes = array("q", times.tobytes()), array("q", sizes.tobytes())
            self.sorted = True
        return times, sizes

    def in_edges(self, edges: np.ndarray, as_bytes: bool) -> np.ndarray:
        """Messages (or bytes) in ``[edges[i], edges[i+1])`` for each i."""
        times, sizes = self.arrays()
        cut = np.searchsorted(times, edges, "left")
        if not as_bytes:
            return np.diff(cut)
        cumulative = np.concatenate(([0], np.cumsum(sizes)))
        return np.diff(cumulative[cut])


Key = tuple[str, str, str]  # (device id, kind, source)


class Usage:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._apps: dict[str, dict[Key, _Tally]] = {}
        self._lock = threading.Lock()
        backend.parts["usage"] = self

    # ------------------------------------------------------------ counting

    def count(self, application_id: str, device_id: str | None, kind: str, source: str,
              *, nbytes: int = 0, n: int = 1) -> None:
        """Count ``n`` messages of payload type ``kind`` received now from ``source``.

        ``device_id`` is None for messages about no device (events, webhooks).
        ``nbytes`` is the size of one message, for ``asBytes``.
        """
        if kind not in PAYLOAD_KINDS:
            raise ValueError(f"unknown payload kind {kind!r}; one of {sorted(PAYLOAD_KINDS)}")
        now = self.backend.clock.now_ms()
        key = (device_id or "", kind, source)
        with self._lock:
            tallies = self._apps.get(application_id)
            if tallies is None:
                tallies = self._apps[application_id] = {}
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = _Tally()
            for _ in range(n):
                tally.add(now, nbytes)
        self.backend.store.append(
            "usage", (application_id, device_id or "", kind, source, now, nbytes, n)
        )

    # ------------------------------------------------------------ queries

    def payload_stats(self, principal: Principal, application_id: str,
                      params: Mapping[str, Any]) -> dict[str, dict[str, int]]:
        """application.payloadCounts: ``{kind: {source: count}}`` over the window."""
        app = self.backend.applications.visible(principal, application_id)
        edges = self._window_edges(params)
        as_bytes = flag(params.get("asBytes", False))
        out: dict[str, dict[str, int]] = {}
        for (_device, kind, source), value in self._totals(app["id"], edges, as_bytes):
            if value:
                by_source = out.setdefault(kind, {})
                by_source[source] = by_source.get(source, 0) + value
        return out

    def device_payload_counts(self, principal: Principal, application_id: str, device_id: str,
                              params: Mapping[str, Any]) -> dict[str, int]:
        """device.payloadCounts: the device's messages by type over the window."""
        device = self.backend.devices.find(principal, application_id, device_id)
        start, end = self._window(params)
        return self.device_totals(device["applicationId"], device["id"], start, end)

    def device_totals(self, application_id: str, device_id: str, start_ms: int,
                      end_ms: int) -> dict[str, int]:
        """A device's messages by payload type received in [start_ms, end_ms]."""
        edges = np.array([start_ms, max(start_ms, end_ms + 1)], np.int64)
        out = dict.fromkeys(DEVICE_PAYLOAD_KINDS, 0)
        for (dev, kind, _source), value in self._totals(application_id, edges, False):
            if dev == device_id and kind in out:
                out[kind] += value
        return out

    def payload_breakdown(self, principal: Principal, application_id: str,
                          params: Mapping[str, Any], *, device_id: str | None = None
                          ) -> dict[str, Any]:
        """application/device.payloadCountsBreakdown: payloads per day (or hour)."""
        if device_id is None:
            app_id = self.backend.applications.visible(principal, application_id)["id"]
        else:
            device = self.backend.devices.find(principal, application_id, device_id)
            app_id, device_id = device["applicationId"], device["id"]
        start, end = self._window(params)
        return self._payload_buckets(app_id, start, end, _resolution(params), params,
                                     device_id=device_id)

    def device_counts(self, principal: Principal, application_id: str,
                      params: Mapping[str, Any]) -> dict[str, Any]:
        """application.deviceCounts: devices created, deleted and existing per day."""
        app = self.backend.applications.visible(principal, application_id)
        start, end = self._window(params)
        return self._device_buckets(app["id"], start, end)

    def notebook_minutes(self, principal: Principal, application_id: str,
                         params: Mapping[str, Any]) -> dict[str, Any]:
        """application.notebookMinuteCounts: zero per day (the mock runs no notebooks)."""
        self.backend.applications.visible(principal, application_id)
        start, end = self._window(params)
        return _notebook_buckets(start, end)

    def period_summaries(self, principal: Principal, params: Mapping[str, Any]) -> dict[str, Any]:
        """applications.periodSummaries: the three summaries for each of the caller's apps."""
        parts = _summary_parts(params)
        start, end = self._window(params)
        if principal.application_id:
            own = self.backend.store.get("applications", principal.application_id)
            apps: Iterable[Record] = [own] if own else []
        else:
            apps = self.backend.store.children("applications", principal.user_id)
        if params.get("orgId"):
            apps = []  # the mock has no organizations
        # MAX_BUCKETS bounds the whole answer, not each application's part: a
        # century of days for each of a thousand applications is gigabytes.
        days = max(end // DAY_MS - start // DAY_MS + 1, 0) * len(parts)
        rendered = [0]

        def summarise(app: Record) -> Record:
            rendered[0] += days
            if rendered[0] > MAX_BUCKETS:
                raise ValidationError(
                    f"query parameters start/end: {days} daily buckets for each application "
                    f"on the page; at most {MAX_BUCKETS} are allowed in all (narrow the window "
                    "or perPage)")
            summary: dict[str, Any] = {}
            if "deviceCounts" in parts:
                summary["deviceCounts"] = self._device_buckets(app["id"], start, end)
            if "notebookMinuteCounts" in parts:
                summary["notebookMinuteCounts"] = _notebook_buckets(start, end)
            if "payloadCounts" in parts:
                summary["payloadCounts"] = self._payload_buckets(app["id"], start, end, DAY_MS,
                                                                 params)
            return {"id": app["id"], "applicationId": app["id"], "name": app["name"],
                    "summary": summary}

        return collection(apps, dict(params), render=summarise)

    # ------------------------------------------------------------ building blocks

    def _window(self, params: Mapping[str, Any]) -> tuple[int, int]:
        return resolve_window(self.backend.clock.now_ms(), params.get("start"), params.get("end"),
                              default_duration_ms=DEFAULT_WINDOW_MS)

    def _window_edges(self, params: Mapping[str, Any]) -> np.ndarray:
        start, end = self._window(params)
        return np.array([start, max(start, end + 1)], np.int64)

    def _totals(self, application_id: str, edges: np.ndarray, as_bytes: bool
                ) -> list[tuple[Key, int]]:
        with self._lock:
            tallies = list(self._apps.get(application_id, {}).items())
            return [(key, int(tally.in_edges(edges, as_bytes)[0])) for key, tally in tallies]

    def _payload_buckets(self, application_id: str, start: int, end: int, resolution: int,
                         params: Mapping[str, Any], *, device_id: str | None = None
                         ) -> dict[str, Any]:
        labels, edges = _buckets(start, end, resolution)
        as_bytes = flag(params.get("asBytes", False))
        billable_only = not flag(params.get("includeNonBillable", False))
        totals = np.zeros(len(labels), np.int64)
        with self._lock:
            for (dev, kind, _source), tally in self._apps.get(application_id, {}).items():
                if device_id is not None and dev != device_id:
                    continue
                if billable_only and kind in NON_BILLABLE:
                    continue
                totals += tally.in_edges(edges, as_bytes)
        counts = [{"date": iso_from_ms(label), "value": value}
                  for label, value in zip(labels.tolist(), totals.tolist(), strict=True)]
        return {"start": iso_from_ms(start), "end": iso_from_ms(end), "counts": counts}

    def _device_buckets(self, application_id: str, start: int, end: int) -> dict[str, Any]:
        labels, edges = _buckets(start, end, DAY_MS)
        created, deleted = [], []
        for device in self.backend.store.children("devices", application_id):
            created.append(_ms(device.get("creationDate")))
            if device.get("deletedAt"):
                deleted.append(_ms(device["deletedAt"]))
        created_at = np.sort(np.array(created, np.int64))
        deleted_at = np.sort(np.array(deleted, np.int64))
        made = np.searchsorted(created_at, edges, "left")
        gone = np.searchsorted(deleted_at, edges, "left")
        counts = [
            {"date": iso_from_ms(label), "created": int(made[i + 1] - made[i]),
             "deleted": int(gone[i + 1] - gone[i]), "total": int(made[i + 1] - gone[i + 1])}
            for i, label in enumerate(labels.tolist())
        ]
        return {"start": iso_from_ms(start), "end": iso_from_ms(end), "counts": counts}

    # ------------------------------------------------------------ whole state

    def snapshot(self) -> dict[str, Any]:
        """``{applicationId: [{"deviceId", "kind", "source", "times", "bytes"}, ...]}``."""
        with self._lock:
            out: dict[str, Any] = {}
            for app_id, tallies in self._apps.items():
                rows = []
                for (device_id, kind, source), tally in tallies.items():
                    times, sizes = tally.arrays()
                    rows.append({"deviceId": device_id or None, "kind": kind, "source": source,
                                 "times": times.tolist(), "bytes": sizes.tolist()})
                out[app_id] = rows
            return out

    def restore(self, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise ValueError("usage: expected an object keyed by application id")
        rebuilt: dict[str, dict[Key, _Tally]] = {}
        for app_id, rows in data.items():
            if not isinstance(rows, list):
                raise ValueError(f"usage.{app_id}: expected a list of tallies")
            tallies = rebuilt[app_id] = {}
            for index, row in enumerate(rows):
                where = f"usage.{app_id}[{index}]"
                if not isinstance(row, Mapping) or row.get("kind") not in PAYLOAD_KINDS:
                    raise ValueError(f"{where}: expected a tally with a known payload kind")
                times, sizes = row.get("times"), row.get("bytes")
                if (not isinstance(times, list) or not isinstance(sizes, list)
                        or len(times) != len(sizes)
                        or not all(type(v) is int for v in times + sizes)):
                    raise ValueError(f"{where}: times and bytes must be equal-length integer lists")
                tally = _Tally()
                for time_ms, nbytes in zip(times, sizes, strict=True):
                    tally.add(time_ms, nbytes)
                tallies[(row.get("deviceId") or "", row["kind"], str(row.get("source")))] = tally
        with self._lock:
            self._apps = rebuilt

    def clear(self) -> None:
        with self._lock:
            self._apps = {}

    # ------------------------------------------------------------ raw tallies (--data blocks)

    def tallies(self) -> list[tuple[str, str, str, str, bytes, bytes]]:
        """Every tally as ``(application, device, kind, source, times, sizes)``, the
        arrays as raw int64 bytes: what mockserver/persistence.py stores."""
        with self._lock:
            return [(app_id, device_id, kind, source, tally.times.tobytes(),
                     tally.sizes.tobytes())
                    for app_id, tallies in self._apps.items()
                    for (device_id, kind, source), tally in tallies.items()]

    def load_tally(self, application_id: str, device_id: str, kind: str, source: str,
                   times: bytes, sizes: bytes) -> None:
        """Add stored messages (from :meth:`tallies`) to a tally."""
        with self._lock:
            tally = self._apps.setdefault(application_id, {}).setdefault(
                (device_id, kind, source), _Tally())
            for part, raw in ((tally.times, times), (tally.sizes, sizes)):
                part.frombytes(raw)
            if len(tally.times) > 1:
                tally.sorted = False  # sorted once, at the first read


# -- helpers ------------------------------------------------------------------------


def _resolution(params: Mapping[str, Any]) -> int:
    raw = params.get("resolution") or DAY_MS
    try:
        resolution = int(str(raw))
    except ValueError:
        raise ValidationError(f"query parameter resolution: '{raw}' is not 86400000 or 3600000"
                              ) from None
    if resolution not in (DAY_MS, HOUR_MS):
        raise ValidationError(
            f"query parameter resolution: {resolution} is not 86400000 or 3600000")
    return resolution


def _buckets(start: int, end: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the UTC-aligned buckets overlapping ``[start, end]``, and the
    clipped edges: bucket i counts times in ``[edges[i], edges[i+1])``."""
    if end < start:
        return np.zeros(0, np.int64), np.array([start], np.int64)
    first, last = start // resolution, end // resolution
    if last - first + 1 > MAX_BUCKETS:
        raise ValidationError(
            f"query parameters start/end: the window spans {last - first + 1} buckets of "
            f"{resolution} ms; at most {MAX_BUCKETS} are allowed")
    labels = np.arange(first, last + 1, dtype=np.int64) * resolution
    edges = np.append(labels, end + 1)
    edges[0] = start
    return labels, edges


def _notebook_buckets(start: int, end: int) -> dict[str, Any]:
    labels, _ = _buckets(start, end, DAY_MS)
    return {"start": iso_from_ms(start), "end": iso_from_ms(end),
            "counts": [{"date": iso_from_ms(label), **_NOTEBOOK_ZEROS}
                       for label in labels.tolist()]}


def _summary_parts(params: Mapping[str, Any]) -> set[str]:
    def names(param: str) -> set[str] | None:
        raw = params.get(param)
        if raw in (None, ""):
            return None
        found = {part.strip() for part in str(raw).split(",") if part.strip()}
        unknown = sorted(found - set(SUMMARY_PARTS))
        if unknown:
            raise ValidationError(f"query parameter {param}: unknown summaries {unknown}; "
                                  f"use {', '.join(SUMMARY_PARTS)}")
        return found

    include, exclude = names("include"), names("exclude")
    return (set(SUMMARY_PARTS) if include is None else include) - (exclude or set())


def _ms(stamp: Any) -> int:
    """A record's ISO date as epoch ms (records always carry well-formed ones)."""
    return parse_state_time(stamp, 0, field="creationDate")
