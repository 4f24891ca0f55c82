"""Backups of a ``--data`` file: ``losant-mock data export`` and ``data import``.

The exported document is plain JSON, independent of the file's format
version: the control API's snapshot (records, state history, usage, as
``GET /_mock/snapshot`` returns it) plus what only the file keeps - the token
signing secret, the world document and summary, the clock offset and the
request journal's tail. Importing it builds a new data file that a mock
resumes exactly as if it had written it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from losant_kit.mockserver.clock import Clock
from losant_kit.mockserver.control import SNAPSHOT_VERSION
from losant_kit.mockserver.journal import Journal
from losant_kit.mockserver.persistence import Batch, DataFile, DataFileError, lock_file, unlock_file

EXPORT_FORMAT = "losant-mock-data"
EXPORT_VERSION = 1
META_KEYS = ("signingSecret", "seed", "world", "summary", "clockOffset")


def export_data(path: Path) -> dict[str, Any]:
    """The whole state of the data file at ``path`` (it may be in use: this only reads)."""
    from losant_kit.mockserver.models.backend import Backend

    if not path.is_file() or path.stat().st_size == 0:
        raise DataFileError(f"{path}: no such data file")
    data = DataFile.open(path, lock=False)
    try:
        backend = Backend(clock=Clock())
        journal = Journal(backend.clock)
        data.load(backend, backend.store.put, journal)
        meta = {key: data.meta(key) for key in META_KEYS}
    finally:
        data.close()
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "meta": meta,
        "snapshot": {"version": SNAPSHOT_VERSION, **backend.snapshot()},
        "journal": list(journal.entries),
    }


def import_data(document: Any, path: Path, *, replace: bool = False) -> dict[str, int]:
    """Write ``document`` (from :func:`export_data`) as a new data file at ``path``.

    An existing file is replaced only with ``replace`` and never while a mock
    runs on it; the new file is built beside it and renamed into place, so a
    failed import leaves the old file as it was.
    """
    from losant_kit.mockserver.models.backend import Backend

    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise DataFileError("not a losant-mock data export (no \"format\": "
                            f"\"{EXPORT_FORMAT}\")")
    if document.get("version") != EXPORT_VERSION:
        raise DataFileError(f"data export version {document.get('version')!r}: "
                            f"this losant-mock reads version {EXPORT_VERSION}")
    existing = path.exists() and path.stat().st_size > 0
    if existing and not replace:
        raise DataFileError(f"{path}: exists; give --replace to overwrite it")
    snapshot = document.get("snapshot") or {}
    if snapshot.get("version") != SNAPSHOT_VERSION:
        raise DataFileError(f"snapshot version {snapshot.get('version')!r}: "
                            f"only version {SNAPSHOT_VERSION} imports")
    meta = document.get("meta") or {}
    if not isinstance(meta.get("world"), dict):
        raise DataFileError("meta.world: the export carries no world document")
    backend = Backend(clock=Clock())
    try:
        backend.restore({k: v for k, v in snapshot.items() if k != "version"})
    except (ValueError, KeyError, TypeError) as exc:
        raise DataFileError(f"not an importable snapshot ({exc})") from None
    journal = Journal(backend.clock)
    journal.resume(document.get("journal") or [])
    backend.clock.set_offset(float(meta.get("clockOffset") or 0.0))

    # Hold the target's lock while building: no mock may start on it meanwhile.
    # Only the lock: a damaged file is exactly what one restores a backup over.
    guard = lock_file(path) if existing else None
    temporary = path.with_name(path.name + ".import")
    for leftover in _with_sidecars(temporary):
        leftover.unlink(missing_ok=True)
    try:
        fresh = DataFile.open(temporary)
        try:
            batch = Batch(full=True, meta={k: meta[k] for k in META_KEYS if k in meta})
            fresh.commit(batch, backend, journal)
        finally:
            fresh.close()
        if guard is not None:
            unlock_file(guard)
            guard = None
            for sidecar in _with_sidecars(path)[1:]:
                sidecar.unlink(missing_ok=True)  # the old file's WAL must not meet the new one
        os.replace(temporary, path)
    finally:
        if guard is not None:
            unlock_file(guard)
        for leftover in _with_sidecars(temporary):
            leftover.unlink(missing_ok=True)
    counts = {kind: len(records) for kind, records in snapshot.get("records", {}).items()}
    counts["stateReports"] = sum(len(s["times"]) for s in snapshot.get("series", {}).values())
    return counts


def _with_sidecars(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def write_export(document: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(document)
    if out is None:
        print(text)
    else:
        out.write_text(text)
