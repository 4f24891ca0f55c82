"""Indexes that narrow an advanced device query before its predicate runs.

An advanced query over 100,000 devices costs one Python predicate call per
device. Most real queries pin something selective - a device class, a name
prefix, a tag - so an index over one ordering's devices (models/devices.py
keeps one per sort order, rebuilt after writes) turns those parts into a
set of candidate positions first.

The index *narrows*: :func:`narrow` returns a superset of the devices the
query selects (or ``None`` when it cannot narrow at all), and the compiled
predicate from :mod:`losant_kit.mockserver.query` decides every candidate.
Only when every part of the query was answered by an index is the result
marked exact and the predicate skipped (a class-and-prefix or a tag query
over 100,000 devices would otherwise still cost thousands of predicate
calls). ``tests/test_query_index.py`` checks both claims - never a match
left out, exact means exact - against the predicate for generated devices
and queries. Each index reads values with
the reference evaluator's own readers and keys (``DEVICE_FIELDS``,
``_values``, the kinds' ``key``), so "equal" here is "equal" there.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from losant_kit.mockserver.query import DEVICE_FIELDS, TAGS
from losant_kit.mockserver.query_values import TAG_TEXT, TEXT, tag_pairs, values_of

Positions = set[int]


class DeviceIndex:
    """Per-field lookups over one list of devices, built lazily, field by field."""

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self.records = records
        self._equal: dict[str, tuple[dict[Any, list[int]], list[int]]] = {}
        self._sorted: dict[str, tuple[list[str], list[int]]] = {}
        self._tags: dict[str, tuple[dict[Any, list[int]], dict[tuple, list[int]]]] = {}

    def equal(self, field: str, keys: list[Any]) -> Positions:
        """Devices with a value whose text key is one of ``keys`` (None: no value)."""
        if field not in self._equal:
            by_key: dict[Any, list[int]] = {}
            empty: list[int] = []
            read = DEVICE_FIELDS[field].read
            for position, device in enumerate(self.records):
                found = values_of(read(device))
                if not found:
                    empty.append(position)
                for value in found:
                    by_key.setdefault(TEXT.key(value), []).append(position)
            self._equal[field] = (by_key, empty)
        by_key, empty = self._equal[field]
        selected: Positions = set()
        for key in keys:
            selected.update(empty if key is None else by_key.get(key, ()))
        return selected

    def prefix(self, field: str, needle: str) -> Positions:
        """Devices with a value whose text starts with ``needle`` (case-sensitive)."""
        if field not in self._sorted:
            pairs = []
            read = DEVICE_FIELDS[field].read
            for position, device in enumerate(self.records):
                for value in values_of(read(device)):
                    text = TEXT.text(value)
                    if text is not None:
                        pairs.append((text, position))
            pairs.sort()
            self._sorted[field] = ([text for text, _ in pairs], [p for _, p in pairs])
        texts, positions = self._sorted[field]
        selected: Positions = set()
        index = bisect.bisect_left(texts, needle)
        while index < len(texts) and texts[index].startswith(needle):
            selected.add(positions[index])
            index += 1
        return selected

    def tag(self, field: str, key: Any, value: Any) -> Positions:
        """Devices with one tag whose key is ``key`` and value ``value`` (None: any value)."""
        if field not in self._tags:
            by_key: dict[Any, list[int]] = {}
            by_pair: dict[tuple, list[int]] = {}
            read = DEVICE_FIELDS[field].read
            for position, device in enumerate(self.records):
                for tag_key, tag_value in tag_pairs(read(device)):
                    for k in values_of(tag_key):
                        k = TAG_TEXT.key(k)
                        by_key.setdefault(k, []).append(position)
                        for v in values_of(tag_value):
                            by_pair.setdefault((k, TAG_TEXT.key(v)), []).append(position)
            self._tags[field] = (by_key, by_pair)
        by_key, by_pair = self._tags[field]
        if value is None:
            return set(by_key.get(key, ()))
        return set(by_pair.get((key, value), ()))


@dataclass(frozen=True)
class Narrowing:
    """Candidate positions; ``exact`` when they are precisely the query's matches."""

    positions: Positions
    exact: bool


def narrow(query: Any, index: DeviceIndex) -> Narrowing | None:
    """A superset of the positions ``query`` selects, or None if nothing narrows it.

    ``exact`` is set only when every part of the query was answered by an
    index, so the predicate need not run at all. Call it only for a query
    that compiled (compile_device_query): malformed parts are not narrowed.
    """
    if not isinstance(query, Mapping):
        return None
    found: Narrowing | None = None
    exact = True
    for name, spec in query.items():
        part = _narrow_key(name, spec, index)
        exact = exact and part is not None and part.exact
        found = _both(found, part)
    return _exactly(found, exact)


def _narrow_key(name: Any, spec: Any, index: DeviceIndex) -> Narrowing | None:
    if name == "$and" and isinstance(spec, list):
        found: Narrowing | None = None
        exact = True
        for sub in spec:
            part = narrow(sub, index)
            exact = exact and part is not None and part.exact
            found = _both(found, part)
        return _exactly(found, exact)
    if name == "$or" and isinstance(spec, list) and spec:
        parts = [narrow(sub, index) for sub in spec]
        if any(part is None for part in parts):
            return None
        return Narrowing(
            set().union(*(p.positions for p in parts)), all(p.exact for p in parts)
        )
    field = DEVICE_FIELDS.get(name) if isinstance(name, str) else None
    if field is None:
        return None
    if field.kind == TAGS:
        return _narrow_tags(name, spec, index)
    if field.kind is TEXT:
        return _narrow_text(name, spec, index)
    return None


def _narrow_text(name: str, spec: Any, index: DeviceIndex) -> Narrowing | None:
    if not isinstance(spec, Mapping):
        return _equal(name, [spec], index)
    if spec.get("$ci", False) not in (False, "false", "False"):
        return None  # case-insensitive: the index holds exact texts
    found: Narrowing | None = None
    exact = True
    for op, argument in spec.items():
        part = None
        if op == "$ci":
            continue
        if op == "$eq":
            part = _equal(name, [argument], index)
        elif op == "$in" and isinstance(argument, list):
            part = _equal(name, argument, index)
        elif op == "$startsWith" and isinstance(argument, str):
            part = Narrowing(index.prefix(name, argument), True)
        exact = exact and part is not None
        found = _both(found, part)
    return _exactly(found, exact)


def _equal(name: str, arguments: list[Any], index: DeviceIndex) -> Narrowing | None:
    keys = []
    for argument in arguments:
        if isinstance(argument, Mapping | list):
            return None
        keys.append(TEXT.key(argument))
    return Narrowing(index.equal(name, keys), True)


def _narrow_tags(name: str, spec: Any, index: DeviceIndex) -> Narrowing | None:
    if isinstance(spec, Mapping) and len(spec) == 1 and "$eq" in spec:
        spec = spec["$eq"]
    if not isinstance(spec, Mapping) or not spec or "$ne" in spec:
        return None
    if "$tagKey" in spec or "$tagValue" in spec:
        pairs = [(spec.get("$tagKey"), spec.get("$tagValue"))]
    elif any(str(key).startswith("$") for key in spec):
        return None
    else:
        pairs = list(spec.items())
    found: Narrowing | None = None
    exact = True
    for key, value in pairs:
        if key is None or not _scalar(key) or (value is not None and not _scalar(value)):
            exact = False  # a free key, or $in/$nin: not narrowed
            continue
        positions = index.tag(
            name, TAG_TEXT.key(key), None if value is None else TAG_TEXT.key(value)
        )
        found = _both(found, Narrowing(positions, True))
    return _exactly(found, exact)


def _scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _both(first: Narrowing | None, second: Narrowing | None) -> Narrowing | None:
    if first is None:
        return second
    if second is None:
        return first
    return Narrowing(first.positions & second.positions, first.exact and second.exact)


def _exactly(found: Narrowing | None, exact: bool) -> Narrowing | None:
    if found is None or found.exact == exact:
        return found
    return Narrowing(found.positions, found.exact and exact)
