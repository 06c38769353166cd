"""Automatic backups of the library: daily, before migrations, newest seven kept.

A backup is a consistent snapshot taken with SQLite's online backup API (safe
while the library is open), converted to a self-contained rollback-journal file,
written under a temporary name, fsynced and renamed into place: a half-written
backup never carries a final name. Names hold a sortable UTC timestamp,
``library-20240501T123000Z.sqlite3``, which is also how their age is known (a
file's mtime changes when it is copied around).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from studio.durable import replace_durably
from studio.library.private_files import (
    ensure_private_dir,
    make_private,
    open_private_for_writing,
)

BACKUP_INTERVAL = timedelta(hours=24)
BACKUPS_KEPT = 7
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Backup:
    """One backup file and the moment it was taken (UTC)."""

    path: Path
    taken_at: datetime


def _name_pattern(database_name: str) -> re.Pattern[str]:
    stem, dot, suffix = database_name.rpartition(".")
    if not dot:
        stem, suffix = database_name, ""
    ext = f"\\.{re.escape(suffix)}" if suffix else ""
    return re.compile(f"^{re.escape(stem)}-(\\d{{8}}T\\d{{6}}Z){ext}$")


def backup_name(database_name: str, taken_at: datetime) -> str:
    """The file name of a backup of ``database_name`` taken at ``taken_at``."""
    stem, dot, suffix = database_name.rpartition(".")
    if not dot:
        return f"{database_name}-{taken_at.astimezone(UTC).strftime(_STAMP_FORMAT)}"
    return f"{stem}-{taken_at.astimezone(UTC).strftime(_STAMP_FORMAT)}.{suffix}"


def list_backups(backup_dir: Path, database_name: str) -> list[Backup]:
    """The backups of ``database_name`` in ``backup_dir``, newest first."""
    if not backup_dir.is_dir():
        return []
    pattern = _name_pattern(database_name)
    found: list[Backup] = []
    for entry in backup_dir.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_file():
            taken_at = datetime.strptime(match.group(1), _STAMP_FORMAT).replace(tzinfo=UTC)
            found.append(Backup(entry, taken_at))
    found.sort(key=lambda backup: backup.taken_at, reverse=True)
    return found


def backup_due(backups: list[Backup], now: datetime) -> bool:
    """Whether the newest backup is at least a day old (or there is none).

    A backup stamped in the future means the clock was wrong when it was taken
    (or is wrong now); waiting for the clock to catch up could mean weeks without
    a backup, so that counts as due.
    """
    if not backups:
        return True
    age = now - backups[0].taken_at
    return age >= BACKUP_INTERVAL or age < timedelta(0)


def write_backup(
    conn: sqlite3.Connection, backup_dir: Path, database_name: str, now: datetime
) -> Backup:
    """Snapshot ``conn``'s database into ``backup_dir`` atomically.

    A backup taken in the same second as an existing one replaces it: both are
    snapshots of the same moment, and the newer one is complete before the rename.

    Raises:
        OSError, sqlite3.Error: the backup could not be written; no final-named
            file was created or changed.
    """
    ensure_private_dir(backup_dir)
    final = backup_dir / backup_name(database_name, now)
    temp = backup_dir / f".{final.name}.part"
    os.close(open_private_for_writing(temp))
    try:
        target = sqlite3.connect(temp, isolation_level=None)
        try:
            conn.backup(target)
            # The copy inherits WAL mode from the library; a rollback-journal file
            # is self-contained and can be checked read-only without sidecars.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        make_private(temp)
        replace_durably(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return Backup(final, now.astimezone(UTC).replace(microsecond=0))


def prune_backups(backup_dir: Path, database_name: str, keep: int = BACKUPS_KEPT) -> list[Path]:
    """Delete all but the ``keep`` newest backups; returns the deleted paths."""
    removed: list[Path] = []
    for backup in list_backups(backup_dir, database_name)[keep:]:
        with contextlib.suppress(FileNotFoundError):
            backup.path.unlink()
            removed.append(backup.path)
    # Leftovers of a backup interrupted by a crash: never valid, never restored.
    for stale in backup_dir.glob(f".{_stem(database_name)}-*.part"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return removed


def _stem(database_name: str) -> str:
    stem, dot, _ = database_name.rpartition(".")
    return stem if dot else database_name
