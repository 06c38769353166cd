"""Automatic backups: daily, before migrations, seven kept, written atomically."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from studio.library import MIGRATIONS, LibraryBackupError, Migration, open_library
from studio.library.backups import BACKUPS_KEPT, Backup, backup_due, list_backups
from studio.library.health import check_file
from tests.library.support import FakeClock, Places, raw_connect


def _open_and_close(places: Places, clock: FakeClock) -> tuple[str, ...]:
    result = open_library(places.database, places.backup_dir, clock=clock)
    result.library.close()
    return result.notices


def _backups(places: Places) -> list[Backup]:
    return list_backups(places.backup_dir, places.database.name)


def test_first_open_backs_up_the_new_schema(places: Places, clock: FakeClock) -> None:
    _open_and_close(places, clock)
    (backup,) = _backups(places)
    assert backup.path.name == "library-20240501T120000Z.sqlite3"
    assert backup.taken_at == clock.now
    version, problems = check_file(backup.path, thorough=True)
    assert (version, problems) == (1, [])


def test_at_most_one_backup_a_day(places: Places, clock: FakeClock) -> None:
    _open_and_close(places, clock)
    for _ in range(5):
        clock.advance(hours=4)  # 20 h in all
        _open_and_close(places, clock)
    assert len(_backups(places)) == 1
    clock.advance(hours=4)  # 24 h after the first
    _open_and_close(places, clock)
    assert [b.taken_at for b in _backups(places)] == [clock.now, clock.now - timedelta(hours=24)]


def test_only_the_newest_seven_are_kept(places: Places, clock: FakeClock) -> None:
    stamps = []
    for _ in range(10):
        _open_and_close(places, clock)
        stamps.append(clock.now)
        clock.advance(days=1, minutes=3)
    kept = _backups(places)
    assert len(kept) == BACKUPS_KEPT == 7
    assert [b.taken_at for b in kept] == sorted(stamps, reverse=True)[:7]


def test_backup_holds_the_data_and_needs_no_sidecars(places: Places, clock: FakeClock) -> None:
    result = open_library(places.database, places.backup_dir, clock=clock)
    with result.library as library, library.transaction() as conn:
        conn.execute("INSERT INTO presets (engine, name, operation) VALUES ('e', 'kept', 'o')")
    clock.advance(days=1)
    _open_and_close(places, clock)
    newest = _backups(places)[0]
    assert sorted(p.name for p in places.backup_dir.iterdir()) == sorted(
        b.path.name for b in _backups(places)
    ), "no temporary or sidecar files are left in the backup folder"
    conn = sqlite3.connect(f"{newest.path.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT name FROM presets").fetchall() == [("kept",)]
    finally:
        conn.close()


def test_interrupted_backup_leftovers_are_ignored_and_cleaned(
    places: Places, clock: FakeClock
) -> None:
    _open_and_close(places, clock)
    leftover = places.backup_dir / ".library-20240501T130000Z.sqlite3.part"
    leftover.write_bytes(b"half a backup")
    assert len(_backups(places)) == 1
    clock.advance(days=1)
    _open_and_close(places, clock)
    assert not leftover.exists()


def test_failed_daily_backup_is_a_notice_not_a_failure(places: Places, clock: FakeClock) -> None:
    places.backup_dir.parent.mkdir(parents=True, exist_ok=True)
    places.backup_dir.write_bytes(b"a file where the backup folder should be")
    notices = _open_and_close(places, clock)
    assert len(notices) == 1
    assert "backup" in notices[0] and str(places.backup_dir) in notices[0]


def test_migration_waits_for_its_backup(places: Places, clock: FakeClock) -> None:
    _open_and_close(places, clock)
    for backup in places.backup_dir.iterdir():
        backup.unlink()
    places.backup_dir.rmdir()
    places.backup_dir.write_bytes(b"not a folder")
    upgrade = Migration(2, "add a column", "ALTER TABLE presets ADD COLUMN colour TEXT")
    with pytest.raises(LibraryBackupError, match="Nothing was changed"):
        open_library(
            places.database, places.backup_dir, migrations=[*MIGRATIONS, upgrade], clock=clock
        )
    conn = raw_connect(places.database)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        conn.close()


def test_backup_due_rules(clock: FakeClock) -> None:
    now = clock.now
    assert backup_due([], now)

    def at(delta: timedelta) -> list[Backup]:
        return [Backup(Path("x"), now - delta)]

    assert not backup_due(at(timedelta(hours=23, minutes=59)), now)
    assert backup_due(at(timedelta(hours=24)), now)
    # A backup from the "future" means a wrong clock; do not wait for it to pass.
    assert backup_due(at(-timedelta(days=3)), now)
