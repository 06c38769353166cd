"""Schema migrations: old files upgrade in order; a failing step changes nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import pytest

from studio.library import (
    MIGRATIONS,
    Library,
    LibraryMigrationError,
    Migration,
    open_library,
)
from studio.library.backups import list_backups
from studio.library.migrations import migrate, split_statements, user_version
from tests.library.support import FakeClock, Places, make_legacy_database, raw_connect


def _log_step(name: str) -> Migration:
    """A migration that records when it ran, to prove the order."""
    return Migration(0, name, f"INSERT INTO migration_log (step) VALUES ('{name}')")


def _numbered(*steps: Migration) -> list[Migration]:
    return [Migration(i + 1, s.description, s.step) for i, s in enumerate(steps)]


def _open(places: Places, clock: FakeClock, migrations: Sequence[Migration]) -> Library:
    result = open_library(places.database, places.backup_dir, migrations=migrations, clock=clock)
    return result.library


CREATE_LOG = Migration(0, "log", "CREATE TABLE migration_log (n INTEGER PRIMARY KEY, step TEXT)")


def test_version_0_file_upgrades_and_keeps_its_state(places: Places, clock: FakeClock) -> None:
    make_legacy_database(places.database, version=0)
    result = open_library(places.database, places.backup_dir, clock=clock)
    with result.library as library:
        assert library.schema_version == 1
        notes = [r[0] for r in library.connection.execute("SELECT body FROM legacy_notes")]
        assert notes == ["first idea", "second idea"]
        library.connection.execute("SELECT count(*) FROM tasks").fetchone()
    assert result.notices == ()


def test_migrations_apply_in_order_each_once(places: Places, clock: FakeClock) -> None:
    steps = _numbered(CREATE_LOG, _log_step("second"), _log_step("third"))
    _open(places, clock, steps[:2]).close()
    with _open(places, clock, steps) as lib:
        assert lib.schema_version == 3
        log = [r[0] for r in lib.connection.execute("SELECT step FROM migration_log ORDER BY n")]
    assert log == ["second", "third"]


def test_callable_migration_runs_inside_the_transaction(places: Places, clock: FakeClock) -> None:
    seen: list[bool] = []

    def rewrite(conn: sqlite3.Connection) -> None:
        seen.append(conn.in_transaction)
        conn.execute("UPDATE legacy_notes SET body = upper(body)")

    make_legacy_database(places.database, version=1)
    steps = [*MIGRATIONS, Migration(2, "shout", rewrite)]
    with _open(places, clock, steps) as lib:
        bodies = [r[0] for r in lib.connection.execute("SELECT body FROM legacy_notes")]
    assert seen == [True]
    assert bodies == ["FIRST IDEA", "SECOND IDEA"]


def test_failing_migration_rolls_back_to_the_old_version(places: Places, clock: FakeClock) -> None:
    good = _numbered(CREATE_LOG, _log_step("second"))
    _open(places, clock, good).close()

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO migration_log (step) VALUES ('half')")
        conn.execute("CREATE TABLE half_made (x)")
        raise ValueError("step blew up")

    bad = [*good, Migration(3, "breaks halfway", half_then_fail)]
    with pytest.raises(LibraryMigrationError) as caught:
        open_library(places.database, places.backup_dir, migrations=bad, clock=clock)
    message = str(caught.value)
    assert "version 3" in message and "breaks halfway" in message and "step blew up" in message

    conn = raw_connect(places.database)
    try:
        assert user_version(conn) == 2
        assert [r[0] for r in conn.execute("SELECT step FROM migration_log")] == ["second"]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_made" not in names
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    # The old library still opens with the Studio that knows version 2.
    _open(places, clock, good).close()


def test_sql_error_in_a_later_step_keeps_earlier_steps(places: Places, clock: FakeClock) -> None:
    steps = _numbered(CREATE_LOG, Migration(0, "typo", "CREATE TABLE ok_table (x); SELEC 1;"))
    with pytest.raises(LibraryMigrationError, match="version 2"):
        open_library(places.database, places.backup_dir, migrations=steps, clock=clock)
    conn = raw_connect(places.database)
    try:
        assert user_version(conn) == 1
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "migration_log" in names and "ok_table" not in names
    finally:
        conn.close()


def test_conflicting_legacy_table_fails_the_upgrade_cleanly(
    places: Places, clock: FakeClock
) -> None:
    make_legacy_database(places.database, version=0)
    conn = raw_connect(places.database)
    conn.execute("CREATE TABLE drafts (whatever TEXT)")
    conn.close()
    with pytest.raises(LibraryMigrationError, match="version 1"):
        open_library(places.database, places.backup_dir, clock=clock)
    conn = raw_connect(places.database)
    try:
        assert user_version(conn) == 0
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} == {
            "legacy_notes",
            "drafts",
        }
    finally:
        conn.close()


def test_foreign_key_violations_block_a_migration(places: Places, clock: FakeClock) -> None:
    open_library(places.database, places.backup_dir, clock=clock).library.close()
    dangling = Migration(2, "dangling", "INSERT INTO files (take_id, kind) VALUES (999, 'audio')")
    with pytest.raises(LibraryMigrationError, match="foreign key"):
        open_library(
            places.database, places.backup_dir, migrations=[*MIGRATIONS, dangling], clock=clock
        )
    conn = raw_connect(places.database)
    try:
        assert user_version(conn) == 1
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    finally:
        conn.close()


def test_backup_is_written_before_a_migration(places: Places, clock: FakeClock) -> None:
    good = _numbered(CREATE_LOG, _log_step("second"))
    _open(places, clock, good[:1]).close()
    assert len(list_backups(places.backup_dir, places.database.name)) == 1
    clock.advance(hours=1)  # well inside a day: only the migration asks for a backup
    _open(places, clock, good).close()
    backups = list_backups(places.backup_dir, places.database.name)
    assert len(backups) == 2
    conn = raw_connect(backups[0].path)
    try:
        assert user_version(conn) == 1, "the backup holds the state before the upgrade"
    finally:
        conn.close()


def test_misordered_migrations_are_refused() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        with pytest.raises(ValueError, match="in order"):
            migrate(conn, [Migration(2, "b", "SELECT 1"), Migration(1, "a", "SELECT 1")])
        with pytest.raises(ValueError, match="in order"):
            migrate(conn, [Migration(1, "a", "SELECT 1"), Migration(3, "gap", "SELECT 1")])
        assert user_version(conn) == 0
    finally:
        conn.close()


def test_migrate_does_nothing_when_current() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        assert [m.version for m in migrate(conn, MIGRATIONS)] == [1]
        assert migrate(conn, MIGRATIONS) == []
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()


def test_split_statements_respects_strings_comments_and_triggers() -> None:
    script = """
        CREATE TABLE a (x TEXT DEFAULT 'semi;colon'); -- a comment; with a semicolon
        CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END;
        INSERT INTO a VALUES ('x')
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].endswith("END;")
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
        assert conn.execute("SELECT x FROM a").fetchone() == ("x",)
    finally:
        conn.close()
