"""A data file the mock must not use is refused at start: one line, exit 2, file untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from losant_kit.mockserver.app import create_app
from losant_kit.mockserver.persistence import FORMAT_VERSION
from tests.conftest import with_settings
from tests.persistence_process import MockProcess, refused


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(path: Path, *words: str) -> None:
    before = digest(path)
    result = refused(path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("losant-mock: ") and str(path) in lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert digest(path) == before


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A valid data file of a stopped mock (its WAL checkpointed into the file)."""
    path = tmp_path / "mock.db"
    mock = create_app(with_settings(data=path))
    assert mock.data is not None
    mock.data.close()
    return path


def set_pragma(path: Path, pragma: str, value: int) -> None:
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA {pragma} = {value}")
    con.commit()
    con.close()


def test_a_file_from_a_newer_format_is_refused(data_file):
    set_pragma(data_file, "user_version", FORMAT_VERSION + 1)
    assert_refused(data_file, "newer", f"format {FORMAT_VERSION + 1}")


def test_a_file_of_an_unknown_format_version_is_refused(data_file):
    set_pragma(data_file, "user_version", 0)
    assert_refused(data_file, "unknown data format 0")


def test_an_sqlite_database_of_another_program_is_refused(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (text TEXT)")
    con.commit()
    con.close()
    assert_refused(path, "not a losant-mock data file")


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my shopping list\n" * 100)
    assert_refused(path, "not a losant-mock data file")


def test_a_damaged_data_file_is_refused(data_file):
    raw = bytearray(data_file.read_bytes())
    page = 4096
    assert len(raw) > 3 * page
    raw[page + 16 : 3 * page] = b"\xa5" * (2 * page - 16)  # garbage over the first table pages
    data_file.write_bytes(bytes(raw))
    assert_refused(data_file, "corrupt")


def test_a_file_in_use_by_another_running_mock_is_refused(data_file):
    with MockProcess(data_file):
        assert_refused(data_file, "in use by another running losant-mock")


def test_a_data_file_in_a_missing_directory_is_refused(tmp_path):
    path = tmp_path / "nowhere" / "mock.db"
    result = refused(path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert not path.parent.exists()


def test_a_stopped_mock_releases_its_file_for_the_next_one(data_file):
    with MockProcess(data_file):
        pass
    with MockProcess(data_file) as again:  # answers: the lock went with the first process
        assert again.process.poll() is None
