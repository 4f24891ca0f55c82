"""Where the mock keeps its state.

Models talk to a ``Store``; the embedded default is ``MemoryStore``. Records
are plain dicts in the platform's JSON shape; keys starting with ``_`` are the
mock's private bookkeeping (secret hashes, owners) and never leave it.

Every kind is indexed by id (O(1) get) and by its parent (the application,
user or device it belongs to), so listing one application's devices never
touches another's. ``version`` counts writes per (kind, parent), which lets
models cache derived orderings until something changes.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

Record = dict[str, Any]

# kind -> the field naming its parent (None: top level)
PARENTS: dict[str, str | None] = {
    "users": None,
    "applications": "ownerId",
    "applicationKeys": "applicationId",
    "apiTokens": "ownerId",
    "devices": "applicationId",
    "deviceRecipes": "applicationId",
    "events": "applicationId",
    "commands": "deviceId",
    "deviceLogs": "deviceId",
    "jobs": "applicationId",
    # Experiences (mockserver/models/experiences*.py)
    "experienceUsers": "applicationId",
    "experienceGroups": "applicationId",
    "experienceEndpoints": "applicationId",
    "experienceSlugs": "applicationId",
    "experienceDomains": "applicationId",
    "experienceRequests": "applicationId",
}


class Store(Protocol):
    """The interface every back-end implements (memory; SQLite write-through with
    ``--data``, see mockserver/durable_store.py)."""

    def get(self, kind: str, ident: str) -> Record | None: ...
    def put(self, kind: str, record: Record) -> None: ...
    def delete(self, kind: str, ident: str) -> Record | None: ...
    def children(self, kind: str, parent: str | None) -> Iterable[Record]: ...
    def count(self, kind: str, parent: str | None) -> int: ...
    def all(self, kind: str) -> Iterable[Record]: ...
    def version(self, kind: str, parent: str | None) -> int: ...
    def snapshot(self) -> dict[str, list[Record]]: ...
    def restore(self, data: dict[str, list[Record]]) -> None: ...

    # Durability: a back-end that keeps state beyond the process hears about
    # everything a request changes, records and the histories kept outside them.
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One request's writes: committed together when the block ends, undone
        together if it raises."""
        ...

    def append(self, stream: str, row: tuple[Any, ...]) -> None:
        """A row added to an append-only history ("state", "usage") kept by a model."""
        ...

    def rewrite(self, stream: str, key: str) -> None:
        """A history's rows for ``key`` (a device) changed other than by appending."""
        ...


class MemoryStore:
    """Dict-backed store: O(1) by id, O(children) by parent."""

    def __init__(self) -> None:
        # Write ticks never restart, not even across clear(): a cache keyed on a
        # version must never mistake a rebuilt store for the one it saw.
        self._ticks = itertools.count(1)
        self.clear()

    def clear(self) -> None:
        self._by_id: dict[str, dict[str, Record]] = {kind: {} for kind in PARENTS}
        # kind -> parent id -> {id: record}; dicts keep insertion (= creation) order.
        self._by_parent: dict[str, dict[str | None, dict[str, Record]]] = {
            kind: {} for kind in PARENTS
        }
        self._versions: dict[tuple[str, str | None], int] = {}

    def _parent(self, kind: str, record: Record) -> str | None:
        field = PARENTS[kind]
        return record.get(field) if field else None

    def _bump(self, kind: str, parent: str | None) -> None:
        self._versions[(kind, parent)] = next(self._ticks)

    def get(self, kind: str, ident: str) -> Record | None:
        return self._by_id[kind].get(ident)

    def put(self, kind: str, record: Record) -> None:
        ident = record["id"]
        previous = self._by_id[kind].get(ident)
        parent = self._parent(kind, record)
        if previous is not None:
            old_parent = self._parent(kind, previous)
            if old_parent != parent:
                self._by_parent[kind].get(old_parent, {}).pop(ident, None)
                self._bump(kind, old_parent)
        self._by_id[kind][ident] = record
        self._by_parent[kind].setdefault(parent, {})[ident] = record
        self._bump(kind, parent)

    def delete(self, kind: str, ident: str) -> Record | None:
        record = self._by_id[kind].pop(ident, None)
        if record is not None:
            parent = self._parent(kind, record)
            self._by_parent[kind].get(parent, {}).pop(ident, None)
            self._bump(kind, parent)
        return record

    def children(self, kind: str, parent: str | None) -> Iterable[Record]:
        return self._by_parent[kind].get(parent, {}).values()

    def count(self, kind: str, parent: str | None) -> int:
        return len(self._by_parent[kind].get(parent, {}))

    def all(self, kind: str) -> Iterable[Record]:
        return self._by_id[kind].values()

    def version(self, kind: str, parent: str | None) -> int:
        return self._versions.get((kind, parent), 0)

    def snapshot(self) -> dict[str, list[Record]]:
        return {
            kind: copy.deepcopy(list(records.values())) for kind, records in self._by_id.items()
        }

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        yield  # memory is the whole state: nothing to commit

    def append(self, stream: str, row: tuple[Any, ...]) -> None:
        pass

    def rewrite(self, stream: str, key: str) -> None:
        pass

    def restore(self, data: dict[str, list[Record]]) -> None:
        unknown = set(data) - set(PARENTS)
        if unknown:
            raise ValueError(f"unknown record kinds: {sorted(unknown)}")
        self.clear()
        for kind, records in data.items():
            for record in records:
                if not isinstance(record, dict) or "id" not in record:
                    raise ValueError(f"{kind}: every record needs an id")
                self.put(kind, copy.deepcopy(record))
