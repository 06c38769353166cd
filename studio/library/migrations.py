"""Ordered, forward-only schema migrations keyed on ``PRAGMA user_version``.

Each migration runs in its own transaction together with the ``user_version``
bump, so a failure leaves the file exactly at the previous version. To change the
schema, append a ``Migration`` with the next version; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.library.errors import LibraryMigrationError
from studio.library.schema_v1 import SCHEMA_V1

MigrationStep = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    """One schema step.

    Attributes:
        version: the ``user_version`` after this step; versions count up from 1.
        description: what it does, shown in errors and logs.
        step: SQL statements, or a function given the connection inside the
            transaction (for data rewrites SQL cannot express). It must not commit.
    """

    version: int
    description: str
    step: MigrationStep


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "task ledger, takes, files, stems, drafts, presets", SCHEMA_V1),
)


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The schema version a library has once every migration ran."""
    return migrations[-1].version if migrations else 0


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the database file."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def split_statements(script: str) -> list[str]:
    """Split SQL text into complete statements.

    ``executescript`` would be simpler, but it COMMITs any open transaction first,
    which would break the all-or-nothing promise. ``sqlite3.complete_statement``
    knows about strings, comments and trigger bodies, so a ``;`` inside them does
    not end a statement.
    """
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    # Left over: text after the last ';' (the ';' added to it is not the author's).
    # Only comments are harmless; anything else, e.g. an unfinished trigger, is
    # kept so that executing it fails loudly instead of being skipped.
    leftover = pending[:-1].strip()
    if leftover:
        statements.append(leftover)
    return [s for s in statements if s.strip(" \n\t;")]


def _check_order(migrations: Sequence[Migration]) -> None:
    expected = list(range(1, len(migrations) + 1))
    found = [m.version for m in migrations]
    if found != expected:
        # A gap or a reorder is a programming error; running it would skip a step.
        raise ValueError(f"migration versions must be 1, 2, 3, … in order; got {found}")


def pending_migrations(
    conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS
) -> list[Migration]:
    """The migrations not yet applied to ``conn``'s database, in order."""
    _check_order(migrations)
    current = user_version(conn)
    return [m for m in migrations if m.version > current]


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    if isinstance(migration.step, str):
        for statement in split_statements(migration.step):
            conn.execute(statement)
    else:
        migration.step(conn)
    if not conn.in_transaction:
        raise RuntimeError("the migration ended the transaction itself (COMMIT/ROLLBACK)")
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"{len(broken)} rows would break a foreign key, e.g. {tuple(broken[0])}")
    # Not a bound parameter: PRAGMA does not take them. version is an int we own.
    conn.execute(f"PRAGMA user_version = {int(migration.version)}")


def migrate(
    conn: sqlite3.Connection,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    path: Path | None = None,
) -> list[Migration]:
    """Apply every pending migration, each in its own transaction.

    Foreign keys are switched off while migrating (SQLite's documented way to
    rebuild a table), and checked with ``foreign_key_check`` before each commit.

    Args:
        conn: a connection with ``isolation_level=None`` and no open transaction.
        migrations: the ordered list; tests pass their own.
        path: the database file, named in error messages.

    Returns:
        The migrations that were applied.

    Raises:
        LibraryMigrationError: a step failed; its transaction was rolled back and
            the file stays at the last version that succeeded.
    """
    pending = pending_migrations(conn, migrations)
    if not pending:
        return []
    applied: list[Migration] = []
    # PRAGMA foreign_keys is a no-op inside a transaction, so it is set out here.
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for migration in pending:
            conn.execute("BEGIN IMMEDIATE")
            try:
                _apply(conn, migration)
                conn.execute("COMMIT")
            except Exception as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise LibraryMigrationError(
                    path, migration.version, migration.description, str(exc)
                ) from exc
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            applied.append(migration)
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
    return applied
