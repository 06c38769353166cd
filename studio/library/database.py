"""Open the library: check, recover, back up, migrate, in that order.

The order is the point. Nothing writes to the file before its version has been
read without SQLite's help and through a read-only connection, so a library from
a newer Studio is never touched (faults L4). A damaged file is moved aside and
the newest good backup restored (L2). A backup is written before any migration,
and at most daily otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from studio.library.backups import backup_due, list_backups, prune_backups, write_backup
from studio.library.connection import Library, connect, use_wal
from studio.library.errors import (
    LibraryBackupError,
    LibraryError,
    LibraryMigrationError,
    LibraryOpenError,
    LibraryTooNewError,
)
from studio.library.health import inspect, is_damage
from studio.library.migrations import (
    MIGRATIONS,
    Migration,
    latest_version,
    migrate,
    pending_migrations,
    user_version,
)
from studio.library.private_files import create_private_file, ensure_private_dir
from studio.library.recovery import Recovery, recover
from studio.library.timestamps import utc_now

# Re-exported so callers can take everything about opening from this module.
__all__ = [
    "Library",
    "LibraryBackupError",
    "LibraryError",
    "LibraryMigrationError",
    "LibraryOpenError",
    "LibraryTooNewError",
    "OpenResult",
    "open_library",
]


@dataclass(frozen=True)
class OpenResult:
    """An open library and what the user must be told about opening it.

    Attributes:
        library: the open database.
        notices: sentences for the user (recovery, failed backups); empty when all is well.
        recovery: what was done about a damaged or missing file, if anything.
    """

    library: Library
    notices: tuple[str, ...] = ()
    recovery: Recovery | None = None


def open_library(
    path: Path,
    backup_dir: Path,
    *,
    migrations: Sequence[Migration] = MIGRATIONS,
    clock: Callable[[], datetime] = utc_now,
) -> OpenResult:
    """Open (creating, recovering or upgrading as needed) the library at ``path``.

    Call it on the thread that will use the library (sqlite3's same-thread check
    stays on). It does file I/O that can take seconds on a large library (checks,
    backup), so call it before the GUI loop is busy, e.g. at startup.

    Args:
        path: the database file, e.g. ``StudioPaths.database``.
        backup_dir: where automatic backups go, e.g. ``StudioPaths.backup_dir``.
        migrations: the schema steps; tests pass their own.
        clock: the current time as an aware datetime; tests pass a fake.

    Raises:
        LibraryTooNewError: the file is from a newer Studio (left untouched).
        LibraryOpenError: it cannot be opened for a reason other than damage.
        LibraryMigrationError: an upgrade step failed (rolled back; backup kept).
        LibraryBackupError: the backup owed before a migration could not be written.
    """
    supported = latest_version(migrations)
    health = inspect(path, supported)
    try:
        ensure_private_dir(path.parent)
    except OSError as exc:
        raise LibraryOpenError(f"Cannot create the library folder: {exc}") from exc
    # backup_dir is created when the first backup is written: a problem there is
    # reported as a notice, and does not keep the user out of the library.
    recovery = None
    missing_or_empty = not health.exists or health.empty
    if health.damage is not None or (missing_or_empty and list_backups(backup_dir, path.name)):
        try:
            recovery = recover(path, backup_dir, supported, clock(), health.damage)
        except OSError as exc:
            # Safe to retry: a moved-aside file is kept, and a missing library
            # is restored from the backups again on the next attempt.
            raise LibraryOpenError(
                f"The library {path} is damaged or missing, and restoring it failed: {exc}"
            ) from exc
    library, notices = _open_checked(path, backup_dir, migrations, clock)
    if recovery is not None:
        notices.insert(0, recovery.notice)
    return OpenResult(library, tuple(notices), recovery)


def _open_checked(
    path: Path,
    backup_dir: Path,
    migrations: Sequence[Migration],
    clock: Callable[[], datetime],
) -> tuple[Library, list[str]]:
    create_private_file(path)
    try:
        conn = connect(path)
    except sqlite3.DatabaseError as exc:
        raise _open_error(path, exc) from exc
    try:
        # The file was checked moments ago, but a WAL or a racing writer could
        # still hold a newer version: look once more before the first write.
        version = user_version(conn)
        if version > latest_version(migrations):
            raise LibraryTooNewError(path, version, latest_version(migrations))
        use_wal(conn, path)
        notices = _backup_and_migrate(conn, path, backup_dir, migrations, clock)
        return Library(conn, path), notices
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _open_error(path, exc) from exc
    except BaseException:
        conn.close()
        raise


def _backup_and_migrate(
    conn: sqlite3.Connection,
    path: Path,
    backup_dir: Path,
    migrations: Sequence[Migration],
    clock: Callable[[], datetime],
) -> list[str]:
    notices: list[str] = []
    pending = pending_migrations(conn, migrations)
    # A brand-new file has nothing to lose; its first backup follows the schema.
    if pending and _has_content(conn):
        try:
            write_backup(conn, backup_dir, path.name, clock())
        except (OSError, sqlite3.Error) as exc:
            raise LibraryBackupError(
                f"The library {path} needs an upgrade, but the backup that must come first "
                f"could not be written to {backup_dir}: {exc}. Nothing was changed."
            ) from exc
    migrate(conn, migrations, path=path)
    now = clock()
    try:
        if backup_due(list_backups(backup_dir, path.name), now):
            write_backup(conn, backup_dir, path.name, now)
        prune_backups(backup_dir, path.name)
    except (OSError, sqlite3.Error) as exc:
        # The library itself is fine; say so, and try again next time.
        notices.append(f"The automatic backup of the library to {backup_dir} failed: {exc}.")
    return notices


def _has_content(conn: sqlite3.Connection) -> bool:
    # sqlite_master, not its newer alias sqlite_schema: older system SQLites lack it.
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master)").fetchone()
    return bool(row[0])


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> LibraryOpenError:
    # Damage found here (after a clean check) is rare enough not to retry recovery
    # in a loop; the user gets the cause and the file stays where it is.
    kind = "is damaged" if is_damage(exc) else "cannot be opened"
    return LibraryOpenError(f"The library {path} {kind}: {exc}")
