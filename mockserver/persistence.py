"""The ``--data`` file: the mock's whole state in one SQLite database.

SQLite used plainly (standard library ``sqlite3``): one writer connection,
explicit transactions, WAL journal, a format version in ``PRAGMA
user_version``, JSON documents in columns, no ORM. Memory stays the read path
(mockserver/store.py and the models' own indexes); this file is written
through at the end of every request (mockserver/durable_store.py) and read
once, at start-up.

Format 1 (``PRAGMA application_id`` = "LOSM", ``PRAGMA user_version`` = 1):

* ``meta(key, value)``: JSON values - the token signing secret, the world seed,
  the world document (what ``/_mock/reset`` goes back to), its summary (the
  banner), the clock's offset;
* ``records(kind, id, seq, doc)``: every store record as its JSON document,
  private ``_`` fields included; ``seq`` keeps creation order;
* ``state(seq, device_id, time_ms, data)``: device state reports written
  through since the last compaction, in arrival order (equal times keep it);
* ``state_blocks(device_id, times, kinds, nums, layout)``: compacted history, one
  row per device holding its whole series as the raw arrays it has in memory
  (mockserver/timeseries.py), so a million reports load without a Python step
  per report;
* ``usage(seq, application_id, device_id, kind, source, time_ms, nbytes, n)`` and
  ``usage_blocks(application_id, device_id, kind, source, times, sizes)``: the
  payload tallies behind the usage counts, the same way;
* ``journal(id, doc)``: the request journal's bounded tail.

``synchronous=NORMAL`` in WAL mode: a commit survives the mock being killed
(``kill -9``, a crash); the last commits before a power loss or an OS crash
may roll back (SQLite's documented trade-off; FULL would fsync every request).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import sqlite3
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from losant_kit.mockserver.state_series import StateSeries
from losant_kit.mockserver.store import PARENTS

if TYPE_CHECKING:
    from losant_kit.mockserver.durable_store import DurableStore
    from losant_kit.mockserver.journal import Journal
    from losant_kit.mockserver.models.backend import Backend

FORMAT_VERSION = 1
APPLICATION_ID = 0x4C4F534D  # "LOSM": tells our files from any other SQLite database
SQLITE_MAGIC = b"SQLite format 3\x00"
JOURNAL_TAIL = 10_000  # rows kept; the in-memory journal's capacity

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (
    kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE state (
    seq INTEGER PRIMARY KEY, device_id TEXT NOT NULL, time_ms INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX state_by_device ON state (device_id);
CREATE TABLE usage (
    seq INTEGER PRIMARY KEY, application_id TEXT NOT NULL, device_id TEXT NOT NULL,
    kind TEXT NOT NULL, source TEXT NOT NULL, time_ms INTEGER NOT NULL,
    nbytes INTEGER NOT NULL, n INTEGER NOT NULL
);
CREATE TABLE journal (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE state_blocks (
    device_id TEXT PRIMARY KEY, times BLOB NOT NULL, kinds BLOB NOT NULL, nums BLOB NOT NULL,
    layout TEXT NOT NULL
);
CREATE TABLE usage_blocks (
    application_id TEXT NOT NULL, device_id TEXT NOT NULL, kind TEXT NOT NULL,
    source TEXT NOT NULL, times BLOB NOT NULL, sizes BLOB NOT NULL
);
"""
TABLES = ("meta", "records", "state", "usage", "journal", "state_blocks", "usage_blocks")
# Compact at start-up when a crash left more written-through rows than this
# (a clean stop always compacts): the next start then loads blocks only.
COMPACT_TAIL_ROWS = 100_000

_UPSERT_RECORD = (
    "INSERT INTO records (kind, id, seq, doc) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc"
)
_INSERT_STATE = "INSERT INTO state (device_id, time_ms, data) VALUES (?, ?, ?)"
_INSERT_USAGE_BLOCK = (
    "INSERT INTO usage_blocks (application_id, device_id, kind, source, times, sizes) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_USAGE = (
    "INSERT INTO usage (application_id, device_id, kind, source, time_ms, nbytes, n) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class DataFileError(Exception):
    """A data file the mock refuses to open; the message is one line for stderr."""


@dataclass
class Batch:
    """What one transaction changed, written at its commit.

    Records are serialised at commit, not when put: a model may still adjust a
    record it has put within the same request.
    """

    records: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    ops: list[tuple[Any, ...]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    full: bool = False  # the whole state was replaced (reset, snapshot import)

    def __bool__(self) -> bool:
        return bool(self.records or self.ops or self.meta or self.full)


class DataFile:
    """An open, locked data file. ``open`` refuses what it must not touch."""

    def __init__(self, path: Path, con: sqlite3.Connection, lock_fd: int | None,
                 is_new: bool) -> None:
        self.path = path
        self.con = con
        self._lock_fd = lock_fd
        self.is_new = is_new
        self._write_lock = threading.Lock()
        self._seq = self._scalar("SELECT COALESCE(MAX(seq), 0) FROM records") if not is_new else 0
        self._saved_offset: float | None = None
        self._journal_upto = self._scalar("SELECT COALESCE(MAX(id), 0) FROM journal")
        self._store: DurableStore | None = None
        self._pending_secret: str | None = None
        # Devices with rows in `state`, and whether `usage` has rows: what to compact.
        self._tail_devices: set[str] = set()
        self._usage_tail = False

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: Path | str, *, lock: bool = True) -> DataFile:
        path = Path(path)
        existing = path.exists() and path.stat().st_size > 0
        if path.exists() and not path.is_file():
            raise DataFileError(f"{path}: not a regular file")
        if existing:
            with path.open("rb") as handle:
                if handle.read(16) != SQLITE_MAGIC:
                    raise DataFileError(f"{path}: not a losant-mock data file "
                                        "(not an SQLite database); refusing to touch it")
        elif not path.parent.is_dir():
            raise DataFileError(f"{path}: directory {path.parent} does not exist")
        lock_fd = lock_file(path) if lock else None
        try:
            con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            is_new = _check_existing(con, path) if existing else True
            con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")
            if not _has_schema(con):
                with _transaction(con):
                    for statement in SCHEMA.strip().split(";"):
                        if statement.strip():
                            con.execute(statement)
                    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    con.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            elif con.execute("SELECT 1 FROM meta WHERE key = 'world'").fetchone() is None:
                is_new = True  # a first start that never committed its world
        except DataFileError:
            unlock_file(lock_fd)
            raise
        except sqlite3.DatabaseError as exc:
            unlock_file(lock_fd)
            reason = " ".join(str(exc).split())
            raise DataFileError(f"{path}: corrupt or unreadable data file ({reason})") from None
        return cls(path, con, lock_fd, is_new)

    def close(self) -> None:
        """Write what is still unwritten (the last journal entries), then let go."""
        store = self._store
        if store is not None and store.attached is not None:
            self.commit(Batch(), *store.attached)
            self.compact(store.attached[0])
        self.con.close()
        unlock_file(self._lock_fd)
        self._lock_fd = None

    @property
    def store(self) -> DurableStore:
        """The write-through store over this file (one per file)."""
        if self._store is None:
            from losant_kit.mockserver.durable_store import DurableStore

            self._store = DurableStore(self)
        return self._store

    def _scalar(self, sql: str, *args: Any) -> Any:
        row = self.con.execute(sql, args).fetchone()
        return None if row is None else row[0]

    def meta(self, key: str) -> Any:
        value = self._scalar("SELECT value FROM meta WHERE key = ?", key)
        return None if value is None else json.loads(value)

    # ------------------------------------------------------------ start-up

    def signing_secret(self, pinned: str | None) -> str:
        """The token signing secret: the pinned one, else the stored one, else new.

        Stored so that tokens issued before a restart stay valid after it.
        """
        stored = None if self.is_new else self.meta("signingSecret")
        secret = pinned or stored or secrets.token_urlsafe(32)
        if secret != stored:
            self._pending_secret = secret
        return secret

    def start(self, mock: Any) -> dict[str, Any]:
        """Seed a new file with the initial world, or resume the stored one.

        ``mock`` is the MockApp; returns the world summary for the banner.
        """
        store = self.store
        store.attach(mock.backend, mock.journal)
        with store.transaction():
            if self._pending_secret is not None:
                store.set_meta("signingSecret", self._pending_secret)
            if self.is_new:
                store.mark_full()
                summary = mock.control.load_initial_world()
                store.set_meta("seed", mock.settings.seed)
                store.set_meta("world", mock.control.world_document)
                store.set_meta("summary", summary)
                return summary
            world, summary = self.meta("world"), self.meta("summary")
            tail = self.load(mock.backend, store.load_record, mock.journal)
            if tail > COMPACT_TAIL_ROWS:
                self.compact(mock.backend)
            mock.control.resume_world(world, summary)
            # A job that was running when the mock stopped cannot finish: its
            # effect was code in the old process (the jobs part fails it).
            mock.backend.parts["pendingJobs"].restore(None)
            return summary

    def load(self, backend: Backend, put: Callable[[str, dict[str, Any]], None],
             journal: Journal | None = None) -> int:
        """Fill ``backend`` (through ``put`` for records) from the file, in one read.
        Returns how many written-through rows had to be replayed one by one."""
        with self._write_lock:  # one connection: no commit may interleave with this read
            return self._load(backend, put, journal)

    def _load(self, backend: Backend, put: Callable[[str, dict[str, Any]], None],
              journal: Journal | None) -> int:
        con = self.con
        con.execute("BEGIN")
        try:
            _load_records(con.execute("SELECT kind, doc FROM records ORDER BY seq"), put)
            series = backend.series
            series.clear()
            for chunk in _chunks(con.execute(
                    "SELECT device_id, times, kinds, nums, layout FROM state_blocks")):
                layouts = json.loads("[" + ",".join(row[4] for row in chunk) + "]")
                for (device_id, times, kinds, nums, _), layout in zip(chunk, layouts,
                                                                       strict=True):
                    series.adopt(device_id, StateSeries.from_block(times, kinds, nums, layout))
            self._tail_devices = _load_state(con.execute(
                "SELECT device_id, time_ms, data FROM state ORDER BY seq"), series.record)
            usage = backend.usage
            usage.clear()
            for row in con.execute("SELECT application_id, device_id, kind, source, times, "
                                   "sizes FROM usage_blocks"):
                usage.load_tally(*row)
            usage_rows = _load_usage(con.execute(
                "SELECT application_id, device_id, kind, source, time_ms, nbytes, n "
                "FROM usage ORDER BY seq"), usage.load_tally)
            self._usage_tail = usage_rows > 0
            offset = self.meta("clockOffset")
            if offset:
                backend.clock.set_offset(float(offset))
            self._saved_offset = backend.clock.offset
            if journal is not None:
                journal.resume(json.loads(doc) for (doc,) in con.execute(
                    "SELECT doc FROM journal ORDER BY id"))
        finally:
            con.execute("COMMIT")
        return usage_rows + self._scalar("SELECT COUNT(*) FROM state")

    def compact(self, backend: Backend) -> None:
        """Fold the written-through rows into blocks, from memory (which holds all of
        them). Only while no request is being served: at start-up and at stop."""
        with self._write_lock, _transaction(self.con) as con:
            for device_id in self._tail_devices:
                self._write_block(con, backend, device_id)
            con.execute("DELETE FROM state")
            if self._usage_tail:
                con.execute("DELETE FROM usage_blocks")
                con.executemany(_INSERT_USAGE_BLOCK, backend.usage.tallies())
                con.execute("DELETE FROM usage")
        self._tail_devices, self._usage_tail = set(), False

    def _write_block(self, con: sqlite3.Connection, backend: Backend, device_id: str) -> None:
        series = backend.series.series(device_id)
        if series is None or not len(series):
            con.execute("DELETE FROM state_blocks WHERE device_id = ?", (device_id,))
            return
        times, kinds, nums, layout = series.to_block()
        con.execute("INSERT OR REPLACE INTO state_blocks (device_id, times, kinds, nums, layout) "
                    "VALUES (?, ?, ?, ?, ?)", (device_id, times, kinds, nums, json.dumps(layout)))

    def read_record(self, kind: str, ident: str) -> dict[str, Any] | None:
        with self._write_lock:
            doc = self._scalar("SELECT doc FROM records WHERE kind = ? AND id = ?", kind,
                               ident)
        return None if doc is None else json.loads(doc)

    # ------------------------------------------------------------ writing

    def commit(self, batch: Batch, backend: Backend | None, journal: Journal | None) -> None:
        """Write ``batch`` (plus the clock offset and finished journal entries) in one
        transaction; raises, and writes nothing, if any of it fails."""
        with self._write_lock, _transaction(self.con) as con:
            if batch.full and backend is not None:
                self._write_all(con, backend)
            else:
                self._write_records(con, batch.records)
                for op in batch.ops:
                    self._write_op(con, op)
            for key, value in batch.meta.items():
                con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            (key, json.dumps(value)))
            if backend is not None and backend.clock.offset != self._saved_offset:
                con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            ("clockOffset", json.dumps(backend.clock.offset)))
            journal_upto = self._flush_journal(con, journal) if journal is not None else None
        if batch.full:
            self._tail_devices, self._usage_tail = set(), False
        self._tail_devices |= {op[2][0] if op[0] == "append" else op[2] for op in batch.ops
                               if op[1] == "state"}
        self._usage_tail = self._usage_tail or any(op[1] == "usage" for op in batch.ops)
        if backend is not None:
            self._saved_offset = backend.clock.offset
        if journal_upto is not None:
            self._journal_upto = journal_upto

    def clock_moved(self, backend: Backend | None) -> bool:
        """Whether the clock's offset differs from the stored one (a /_mock/clock call
        writes no record, but must be kept)."""
        return backend is not None and backend.clock.offset != self._saved_offset

    def _write_records(self, con: sqlite3.Connection,
                       records: dict[tuple[str, str], dict[str, Any] | None]) -> None:
        upserts = []
        for (kind, ident), record in records.items():
            if record is None:
                con.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, ident))
            else:
                self._seq += 1
                upserts.append((kind, ident, self._seq, json.dumps(record)))
        if upserts:
            con.executemany(_UPSERT_RECORD, upserts)

    def _write_op(self, con: sqlite3.Connection, op: tuple[Any, ...]) -> None:
        verb, stream = op[0], op[1]
        if verb == "append" and stream == "state":
            device_id, time_ms, data = op[2]
            con.execute(_INSERT_STATE, (device_id, time_ms, json.dumps(data)))
        elif verb == "append" and stream == "usage":
            con.execute(_INSERT_USAGE, op[2])
        elif verb == "rewrite" and stream == "state":
            device_id, rows = op[2], op[3]
            con.execute("DELETE FROM state_blocks WHERE device_id = ?", (device_id,))
            con.execute("DELETE FROM state WHERE device_id = ?", (device_id,))
            con.executemany(_INSERT_STATE, ((device_id, t, json.dumps(d)) for t, d in rows))
        else:
            raise ValueError(f"unknown write-through operation {verb} {stream}")

    def _write_all(self, con: sqlite3.Connection, backend: Backend) -> None:
        for table in ("records", "state", "usage", "state_blocks", "usage_blocks"):
            con.execute(f"DELETE FROM {table}")  # fixed table names
        self._seq = 0
        rows = []
        for kind in PARENTS:
            for record in backend.store.all(kind):
                self._seq += 1
                rows.append((kind, record["id"], self._seq, json.dumps(record)))
        con.executemany(_UPSERT_RECORD, rows)
        for device_id in backend.series.device_ids():
            self._write_block(con, backend, device_id)
        con.executemany(_INSERT_USAGE_BLOCK, backend.usage.tallies())

    def _flush_journal(self, con: sqlite3.Connection, journal: Journal) -> int:
        """Write the journal entries answered since the last flush; drop rows the
        journal itself no longer holds (capacity, ``DELETE /_mock/requests``)."""
        entries = journal.entries
        oldest = entries[0]["id"] if entries else journal.next_id
        con.execute("DELETE FROM journal WHERE id < ?", (oldest,))
        fresh = []
        for entry in reversed(entries):
            if entry["id"] <= self._journal_upto:
                break
            fresh.append(entry)
        fresh.reverse()
        upto = self._journal_upto
        rows = []
        for entry in fresh:
            if entry.get("status") is None:
                break  # still being answered: written with a later commit
            rows.append((entry["id"], json.dumps(entry)))
            upto = entry["id"]
        if rows:
            con.executemany("INSERT OR REPLACE INTO journal (id, doc) VALUES (?, ?)", rows)
        return upto


# ------------------------------------------------------------ state rows


def device_state_rows(backend: Backend, device_id: str) -> list[tuple[int, dict[str, Any]]]:
    """A device's whole history as ``(time_ms, data)`` rows, in stored order."""
    series = backend.series.series(device_id)
    if series is None or not len(series):
        return []
    reports = series.reports(np.arange(len(series)))
    return [(report["time"], report["data"]) for report in reports]


def _load_records(rows: Iterable[tuple[str, str]],
                  put: Callable[[str, dict[str, Any]], None]) -> None:
    for chunk in _chunks(rows):
        docs = json.loads("[" + ",".join(doc for _, doc in chunk) + "]")
        for (kind, _), doc in zip(chunk, docs, strict=True):
            if kind in PARENTS:
                put(kind, doc)


def _load_state(rows: Iterable[tuple[str, int, str]],
                record: Callable[[str, int, dict[str, Any]], None]) -> set[str]:
    """Replay written-through reports; returns the devices they belong to."""
    devices: set[str] = set()
    for chunk in _chunks(rows):
        datas = json.loads("[" + ",".join(row[2] for row in chunk) + "]")
        for (device_id, time_ms, _), data in zip(chunk, datas, strict=True):
            record(device_id, time_ms, data)
            devices.add(device_id)
    return devices


def _load_usage(rows: Iterable[tuple], load_tally: Callable[..., None]) -> int:
    """Replay written-through usage rows, grouped per tally; returns how many."""
    grouped: dict[tuple[str, str, str, str], tuple[array, array]] = {}
    count = 0
    for app_id, device_id, kind, source, time_ms, nbytes, n in rows:
        key = (app_id, device_id, kind, source)
        entry = grouped.get(key)
        if entry is None:
            entry = grouped[key] = (array("q"), array("q"))
        entry[0].extend([time_ms] * n)
        entry[1].extend([nbytes] * n)
        count += 1
    for key, (times, sizes) in grouped.items():
        load_tally(*key, times.tobytes(), sizes.tobytes())
    return count


def _chunks(rows: Iterable[Any], size: int = 50_000) -> Iterator[list[Any]]:
    # Decoding a chunk's JSON documents in one json.loads call, not one call per
    # row: the parser's per-call cost is most of a small document's cost.
    cursor = iter(rows)
    while chunk := [row for _, row in zip(range(size), cursor, strict=False)]:
        yield chunk


# ------------------------------------------------------------ file checks and locks


def _check_existing(con: sqlite3.Connection, path: Path) -> bool:
    """Refuse a file that is not ours, from another format version, or damaged."""
    app_id = con.execute("PRAGMA application_id").fetchone()[0]
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if app_id != APPLICATION_ID:
        raise DataFileError(f"{path}: not a losant-mock data file (an SQLite database of "
                            "another program); refusing to touch it")
    if version > FORMAT_VERSION:
        raise DataFileError(f"{path}: written by a newer losant-mock (data format {version}; "
                            f"this one reads format {FORMAT_VERSION}); refusing to touch it")
    if version != FORMAT_VERSION:
        raise DataFileError(f"{path}: unknown data format {version} "
                            f"(this losant-mock reads format {FORMAT_VERSION})")
    check = con.execute("PRAGMA quick_check(1)").fetchall()
    if check != [("ok",)]:
        first = " ".join(str(check[0][0]).split())  # sqlite's report spans lines
        raise DataFileError(f"{path}: corrupt data file ({first}); refusing to touch it")
    missing = [t for t in TABLES if not con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (t,)).fetchone()]
    if missing:
        raise DataFileError(f"{path}: corrupt data file (missing tables {', '.join(missing)})")
    return False


def _has_schema(con: sqlite3.Connection) -> bool:
    found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'")
    return found.fetchone() is not None


def lock_file(path: Path) -> int:
    """An exclusive lock for the mock's lifetime; the kernel drops it if the mock dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataFileError(f"{path}: in use by another running losant-mock") from None
    return fd


def unlock_file(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def _transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
