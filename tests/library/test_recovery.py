"""A damaged library is moved aside and the newest good backup restored (faults L2)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from studio.library import Library, LibraryOpenError, OpenResult, open_library
from studio.library.backups import list_backups
from tests.library.support import FakeClock, Places

GARBAGE = b"this is not a database, it is a shopping list\n" * 200


def _add_presets(library: Library, *names: str) -> None:
    with library.transaction() as conn:
        for name in names:
            conn.execute(
                "INSERT INTO presets (engine, name, operation, params_json) "
                "VALUES ('ttapi', ?, 'music', ?)",
                (name, '{"padding": "' + "x" * 2000 + '"}'),
            )


def _preset_names(library: Library) -> list[str]:
    return [r[0] for r in library.connection.execute("SELECT name FROM presets ORDER BY name")]


def _open(places: Places, clock: FakeClock) -> OpenResult:
    return open_library(places.database, places.backup_dir, clock=clock)


@pytest.fixture
def backed_up(places: Places, clock: FakeClock) -> Places:
    """A library with data, backed up a day after its creation, then closed."""
    with _open(places, clock).library as library:
        _add_presets(library, "day one")
    clock.advance(days=1)
    with _open(places, clock).library as library:  # the daily backup holds "day one"
        _add_presets(library, "after the backup")
    clock.advance(hours=2)
    return places


def _assert_restored(result: OpenResult, places: Places, damaged: bytes) -> None:
    recovery = result.recovery
    assert recovery is not None and recovery.restored is not None
    assert recovery.moved_aside is not None
    assert recovery.moved_aside.name.startswith("library.sqlite3.corrupt-")
    assert recovery.moved_aside.read_bytes() == damaged, "the damaged file is kept as it was"
    notice = result.notices[0]
    assert str(recovery.moved_aside) in notice
    when = recovery.restored.taken_at.astimezone().strftime("%Y-%m-%d %H:%M")
    assert when in notice and "restored" in notice
    assert _preset_names(result.library) == ["day one"]
    assert result.library.integrity_check() == []
    assert result.library.schema_version == 1


def test_garbage_file_is_replaced_by_the_newest_backup(backed_up: Places, clock: FakeClock) -> None:
    backed_up.database.write_bytes(GARBAGE)
    result = _open(backed_up, clock)
    with result.library:
        _assert_restored(result, backed_up, GARBAGE)
        assert result.recovery is not None and result.recovery.restored is not None
        newest = list_backups(backed_up.backup_dir, backed_up.database.name)
        assert result.recovery.restored.path in [b.path for b in newest]
        assert "not a database" in result.notices[0] or "SQLite" in result.notices[0]


def test_database_truncated_mid_page_is_recovered(backed_up: Places, clock: FakeClock) -> None:
    with _open(backed_up, clock).library as library:
        _add_presets(library, *(f"bulk {i}" for i in range(300)))  # many pages
    data = backed_up.database.read_bytes()
    assert len(data) > 20 * 4096
    damaged = data[: len(data) // 2 + 1234]  # not on a page boundary
    backed_up.database.write_bytes(damaged)

    result = _open(backed_up, clock)
    with result.library:
        _assert_restored(result, backed_up, damaged)
        assert "damaged" in result.notices[0]


def test_damaged_wal_moves_aside_with_its_database(backed_up: Places, clock: FakeClock) -> None:
    wal = backed_up.database.with_name("library.sqlite3-wal")
    wal.write_bytes(b"leftover wal")
    backed_up.database.write_bytes(GARBAGE)
    result = _open(backed_up, clock)
    with result.library:
        assert result.recovery is not None and result.recovery.moved_aside is not None
        moved_wal = result.recovery.moved_aside.with_name(result.recovery.moved_aside.name + "-wal")
        assert moved_wal.read_bytes() == b"leftover wal"
        assert _preset_names(result.library) == ["day one"]


def test_damaged_newest_backup_is_skipped(backed_up: Places, clock: FakeClock) -> None:
    clock.advance(days=1)
    with _open(backed_up, clock).library as library:  # a second daily backup
        assert _preset_names(library) == ["after the backup", "day one"]
    newest = list_backups(backed_up.backup_dir, backed_up.database.name)[0]
    newest.path.write_bytes(newest.path.read_bytes()[:5000])  # the backup is damaged too
    backed_up.database.write_bytes(GARBAGE)

    result = _open(backed_up, clock)
    with result.library:
        assert result.recovery is not None and result.recovery.restored is not None
        assert result.recovery.restored.path != newest.path
        assert _preset_names(result.library) == ["day one"]


def test_without_a_backup_a_new_library_starts_loudly(places: Places, clock: FakeClock) -> None:
    with _open(places, clock).library as library:
        _add_presets(library, "precious")
    for backup in places.backup_dir.iterdir():
        backup.unlink()
    places.database.write_bytes(GARBAGE)

    result = _open(places, clock)
    with result.library:
        recovery = result.recovery
        assert recovery is not None and recovery.restored is None
        assert recovery.moved_aside is not None and recovery.moved_aside.read_bytes() == GARBAGE
        notice = result.notices[0]
        assert notice.startswith("WARNING")
        assert "NEW, EMPTY library" in notice
        assert str(recovery.moved_aside) in notice
        assert str(places.backup_dir) in notice
        assert _preset_names(result.library) == []
        assert result.library.schema_version == 1
        _add_presets(result.library, "works again")
    # The fresh library is backed up at once, so the next accident has a backup.
    assert list_backups(places.backup_dir, places.database.name)


def test_missing_library_with_backups_is_restored(backed_up: Places, clock: FakeClock) -> None:
    backed_up.database.unlink()
    result = _open(backed_up, clock)
    with result.library:
        assert result.recovery is not None and result.recovery.moved_aside is None
        assert "missing" in result.notices[0]
        assert _preset_names(result.library) == ["day one"]


def test_emptied_library_with_backups_is_restored(backed_up: Places, clock: FakeClock) -> None:
    backed_up.database.write_bytes(b"")
    result = _open(backed_up, clock)
    with result.library:
        assert result.recovery is not None and result.recovery.restored is not None
        assert _preset_names(result.library) == ["day one"]


def test_two_accidents_in_one_second_keep_both_damaged_files(
    backed_up: Places, clock: FakeClock
) -> None:
    moved: list[Path] = []
    for garbage in (GARBAGE, GARBAGE[::-1]):
        backed_up.database.write_bytes(garbage)
        result = _open(backed_up, clock)
        result.library.close()
        assert result.recovery is not None and result.recovery.moved_aside is not None
        moved.append(result.recovery.moved_aside)
    assert moved[0] != moved[1]
    assert moved[0].read_bytes() == GARBAGE and moved[1].read_bytes() == GARBAGE[::-1]


def test_unreadable_path_is_an_error_not_damage(places: Places, clock: FakeClock) -> None:
    places.database.mkdir(parents=True)  # a folder where the file should be
    with pytest.raises(LibraryOpenError, match=str(places.database)):
        _open(places, clock)
    assert places.database.is_dir()
    assert not list(places.database.parent.glob("*.corrupt-*"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_permission_denied_is_not_damage(backed_up: Places, clock: FakeClock) -> None:
    backed_up.database.chmod(0)
    try:
        with pytest.raises(LibraryOpenError):
            _open(backed_up, clock)
        assert not list(backed_up.database.parent.glob("*.corrupt-*"))
    finally:
        backed_up.database.chmod(0o600)


def test_locked_library_is_an_error_not_damage(
    backed_up: Places, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("studio.library.health._PROBE_TIMEOUT_S", 0.1)
    holder = sqlite3.connect(backed_up.database, isolation_level=None)
    try:
        # Another program holding the file exclusively, e.g. a second Studio mid-write.
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("DELETE FROM presets")
        with pytest.raises(LibraryOpenError, match="locked"):
            _open(backed_up, clock)
        assert not list(backed_up.database.parent.glob("*.corrupt-*"))
    finally:
        holder.close()
    with _open(backed_up, clock).library as library:
        assert _preset_names(library) == ["after the backup", "day one"]
