"""A library from a newer Studio is refused and never written (faults L4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio.library import LibraryTooNewError, open_library
from studio.library.health import header_version
from tests.library.support import FakeClock, Places, raw_connect


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _make_newer(path: Path, *, wal: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = raw_connect(path)
    try:
        if wal:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE future_things (x)")
        conn.execute("INSERT INTO future_things VALUES (42)")
        conn.execute("PRAGMA user_version = 999")
    finally:
        conn.close()


@pytest.mark.parametrize("wal", [False, True], ids=["rollback-journal", "wal"])
def test_newer_library_is_refused_untouched(places: Places, clock: FakeClock, wal: bool) -> None:
    _make_newer(places.database, wal=wal)
    before = _snapshot(places.database.parent)

    with pytest.raises(LibraryTooNewError) as caught:
        open_library(places.database, places.backup_dir, clock=clock)

    message = str(caught.value)
    assert str(places.database) in message
    assert "999" in message
    assert "up to 1" in message
    assert "update Studio" in message
    assert caught.value.found_version == 999 and caught.value.supported_version == 1
    # Same files, same bytes, same mtimes: no -wal/-shm, no backup, nothing moved aside.
    assert _snapshot(places.database.parent) == before
    assert not places.backup_dir.exists()


def test_newer_version_only_in_the_wal_is_refused(places: Places, clock: FakeClock) -> None:
    """A newer Studio crashed before checkpointing: the header still shows the old version."""
    open_library(places.database, places.backup_dir, clock=clock).library.close()
    crashed = places.database.parent / "crashed"
    crashed.mkdir()
    writer = raw_connect(places.database)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("PRAGMA user_version = 999")
        # Copy while the writer is alive: the files as a crash would leave them.
        for name in ("library.sqlite3", "library.sqlite3-wal"):
            shutil.copy2(places.database.parent / name, crashed / name)
    finally:
        writer.close()
    database = crashed / "library.sqlite3"
    main_bytes = database.read_bytes()
    wal_bytes = (crashed / "library.sqlite3-wal").read_bytes()
    assert header_version(database) == 1, "the test needs the new version in the WAL only"

    with pytest.raises(LibraryTooNewError, match="999"):
        open_library(database, places.backup_dir, clock=clock)

    assert database.read_bytes() == main_bytes
    assert (crashed / "library.sqlite3-wal").read_bytes() == wal_bytes
    assert not list(crashed.glob("*.corrupt-*"))


def test_newer_library_stays_refused_on_every_attempt(places: Places, clock: FakeClock) -> None:
    _make_newer(places.database, wal=True)
    for _ in range(3):
        with pytest.raises(LibraryTooNewError):
            open_library(places.database, places.backup_dir, clock=clock)
    conn = raw_connect(places.database)
    try:
        assert conn.execute("SELECT x FROM future_things").fetchone() == (42,)
    finally:
        conn.close()
