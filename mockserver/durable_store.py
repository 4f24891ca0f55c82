"""The store behind ``--data``: memory for reads, SQLite written through on change.

``DurableStore`` is a ``MemoryStore`` (same indexes, same read path, same
figures) that also notes every change of the current transaction - record puts
and deletes, rows appended to the models' histories - and hands them to the
data file (mockserver/persistence.py) when the transaction ends:

* the dispatcher opens one transaction around each handler call, and the
  control API one around each of its routes, so a request's writes (a bulk
  create, an array of states) commit together, before its response is sent;
* if the handler raises, nothing is written and memory is put back to what the
  file holds, so memory and disk never disagree about an answered request;
* a write outside any transaction (a job finishing on the clock's tick) is its
  own transaction.

The current transaction lives in a context variable: each request (an asyncio
task, or a worker thread for control routes) has its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from losant_kit.mockserver.persistence import Batch, DataFile, device_state_rows
from losant_kit.mockserver.store import MemoryStore, Record

if TYPE_CHECKING:
    from losant_kit.mockserver.journal import Journal
    from losant_kit.mockserver.models.backend import Backend


class DurableStore(MemoryStore):
    def __init__(self, data: DataFile) -> None:
        self._data = data
        self._current: ContextVar[Batch | None] = ContextVar("losant_mock_batch", default=None)
        self._backend: Backend | None = None
        self._journal: Journal | None = None
        super().__init__()

    def attach(self, backend: Backend, journal: Journal | None = None) -> None:
        """The state beyond the records that commits write and rollbacks reload."""
        self._backend = backend
        self._journal = journal

    @property
    def attached(self) -> tuple[Backend, Journal | None] | None:
        return None if self._backend is None else (self._backend, self._journal)

    # ------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._current.get() is not None:
            yield  # nested: part of the enclosing request
            return
        batch = Batch()
        token = self._current.set(batch)
        try:
            yield
        except BaseException:
            self._current.reset(token)
            self._rollback(batch)
            raise
        self._current.reset(token)
        if batch or self._data.clock_moved(self._backend):
            try:
                self._data.commit(batch, self._backend, self._journal)
            except BaseException:
                self._rollback(batch)
                raise

    @contextlib.contextmanager
    def _batch(self) -> Iterator[Batch]:
        batch = self._current.get()
        if batch is not None:
            yield batch
            return
        with self.transaction():
            batch = self._current.get()
            assert batch is not None
            yield batch

    def _rollback(self, batch: Batch) -> None:
        """Put memory back to what the file holds for everything ``batch`` touched."""
        if batch.full or batch.ops:
            # A history changed, or everything did: rare (models validate before
            # they write), so the simple, certain way - read it all back.
            if self._backend is not None:
                MemoryStore.clear(self)
                self._data.load(self._backend, self.load_record)
            return
        for kind, ident in batch.records:
            record = self._data.read_record(kind, ident)
            if record is None:
                MemoryStore.delete(self, kind, ident)
            else:
                MemoryStore.put(self, kind, record)

    # ------------------------------------------------------------ changes

    def put(self, kind: str, record: Record) -> None:
        super().put(kind, record)
        with self._batch() as batch:
            batch.records[(kind, record["id"])] = record

    def delete(self, kind: str, ident: str) -> Record | None:
        record = super().delete(kind, ident)
        if record is not None:
            with self._batch() as batch:
                batch.records[(kind, ident)] = None
        return record

    def append(self, stream: str, row: tuple[Any, ...]) -> None:
        with self._batch() as batch:
            batch.ops.append(("append", stream, row))

    def rewrite(self, stream: str, key: str) -> None:
        if self._backend is None or stream != "state":
            raise ValueError(f"cannot rewrite history {stream!r}")
        rows = device_state_rows(self._backend, key)  # as it is now, between appends
        with self._batch() as batch:
            batch.ops.append(("rewrite", stream, key, rows))

    def restore(self, data: dict[str, list[Record]]) -> None:
        with self.transaction():
            self.mark_full()
            super().restore(data)

    def mark_full(self) -> None:
        """The whole state is being replaced: the commit rewrites all of it."""
        with self._batch() as batch:
            batch.full = True

    def set_meta(self, key: str, value: Any) -> None:
        with self._batch() as batch:
            batch.meta[key] = value

    def load_record(self, kind: str, record: Record) -> None:
        """Fill memory from the file without writing it back."""
        MemoryStore.put(self, kind, record)
