"""Opening a library: PRAGMAs, private files, schema, transactions."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from studio.library import Library, OpenResult, latest_version, open_library
from tests.library.support import FakeClock, Places

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fresh_library_is_at_latest_version_with_no_notices(opened: OpenResult) -> None:
    assert opened.library.schema_version == latest_version() == 1
    assert opened.notices == ()
    assert opened.recovery is None
    tables = {
        row[0]
        for row in opened.library.connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {"tasks", "takes", "files", "stems", "drafts", "presets"} <= tables


def test_pragmas_on_the_connection(library: Library) -> None:
    conn = library.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.isolation_level is None


def test_pragmas_again_after_reopening(places: Places, clock: FakeClock) -> None:
    open_library(places.database, places.backup_dir, clock=clock).library.close()
    with open_library(places.database, places.backup_dir, clock=clock).library as library:
        conn = library.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


@posix_only
def test_files_and_folders_are_private_even_with_an_open_umask(
    places: Places, clock: FakeClock
) -> None:
    previous = os.umask(0)  # the worst case: nothing masked away
    try:
        result = open_library(places.database, places.backup_dir, clock=clock)
        with result.library.transaction() as conn:
            conn.execute("INSERT INTO presets (engine, name, operation) VALUES ('e', 'n', 'o')")
        wal = places.database.with_name(places.database.name + "-wal")
        shm = places.database.with_name(places.database.name + "-shm")
        assert wal.exists() and shm.exists()
        assert _mode(places.database) == 0o600
        assert _mode(wal) == 0o600
        assert _mode(shm) == 0o600
        assert _mode(places.database.parent) == 0o700
        assert _mode(places.backup_dir) == 0o700
        backups = list(places.backup_dir.iterdir())
        assert backups and all(_mode(b) == 0o600 for b in backups)
        result.library.close()
    finally:
        os.umask(previous)


@posix_only
def test_a_too_open_existing_file_is_made_private(places: Places, clock: FakeClock) -> None:
    open_library(places.database, places.backup_dir, clock=clock).library.close()
    places.database.chmod(0o644)
    places.database.parent.chmod(0o755)
    open_library(places.database, places.backup_dir, clock=clock).library.close()
    assert _mode(places.database) == 0o600
    assert _mode(places.database.parent) == 0o700


def test_data_survives_reopening(places: Places, clock: FakeClock) -> None:
    first = open_library(places.database, places.backup_dir, clock=clock).library
    with first, first.transaction() as conn:
        conn.execute("INSERT INTO presets (engine, name, operation) VALUES ('e', 'n', 'o')")
    with open_library(places.database, places.backup_dir, clock=clock).library as library:
        rows = library.connection.execute("SELECT engine, name FROM presets").fetchall()
        assert [tuple(r) for r in rows] == [("e", "n")]


def test_transaction_commits_all_or_nothing(library: Library) -> None:
    insert = "INSERT INTO presets (engine, name, operation) VALUES ('e', ?, 'o')"
    with library.transaction() as conn:
        conn.execute(insert, ("a",))
        conn.execute(insert, ("b",))
    with pytest.raises(sqlite3.IntegrityError), library.transaction() as conn:
        conn.execute(insert, ("c",))
        conn.execute(insert, ("a",))  # duplicate name: the whole block goes
    with pytest.raises(RuntimeError), library.transaction() as conn:
        conn.execute(insert, ("d",))
        raise RuntimeError("the caller gave up")
    names = [r[0] for r in library.connection.execute("SELECT name FROM presets ORDER BY name")]
    assert names == ["a", "b"]
    assert not library.connection.in_transaction


def test_nested_transaction_is_a_savepoint(library: Library) -> None:
    insert = "INSERT INTO presets (engine, name, operation) VALUES ('e', ?, 'o')"
    with library.transaction() as conn:
        conn.execute(insert, ("outer",))
        with pytest.raises(ValueError), library.transaction() as inner:
            inner.execute(insert, ("inner",))
            raise ValueError("inner step failed")
        with library.transaction() as inner:
            inner.execute(insert, ("kept",))
    names = [r[0] for r in library.connection.execute("SELECT name FROM presets ORDER BY name")]
    assert names == ["kept", "outer"]


def test_transaction_takes_the_write_lock_up_front(library: Library, places: Places) -> None:
    other = sqlite3.connect(places.database, isolation_level=None, timeout=0)
    try:
        with library.transaction(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


def test_foreign_keys_are_enforced(library: Library) -> None:
    with pytest.raises(sqlite3.IntegrityError), library.transaction() as conn:
        conn.execute("INSERT INTO files (take_id, kind) VALUES (12345, 'audio')")


def test_integrity_check_is_empty_when_sound(library: Library) -> None:
    assert library.integrity_check() == []


def test_connection_stays_on_its_thread(library: Library) -> None:
    errors: list[BaseException] = []

    def use() -> None:
        try:
            library.connection.execute("SELECT 1")
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert errors, "the default same-thread check must stay on"


def test_close_twice_is_harmless(places: Places, clock: FakeClock) -> None:
    library = open_library(places.database, places.backup_dir, clock=clock).library
    assert not library.closed
    library.close()
    library.close()
    assert library.closed
    with pytest.raises(sqlite3.ProgrammingError):
        library.connection.execute("SELECT 1")
