"""Replace a damaged or missing library with its newest good backup (faults L2).

The damaged file is moved aside, never deleted, so it can still be repaired by
hand; what happened is always put into words for the user, and a fresh empty
library is never started without saying so loudly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from studio.durable import fsync_dir, replace_durably
from studio.library.backups import Backup, list_backups
from studio.library.health import check_file
from studio.library.private_files import (
    SIDECAR_SUFFIXES,
    open_private_for_writing,
)


@dataclass(frozen=True)
class Recovery:
    """What recovery did.

    Attributes:
        moved_aside: where the damaged file went (None if there was no file).
        restored: the backup now in place, or None if the library starts empty.
        notice: the sentence telling the user all of it.
    """

    moved_aside: Path | None
    restored: Backup | None
    notice: str


def move_aside(database: Path, now: datetime) -> Path:
    """Rename ``database`` and its sidecars to ``<name>.corrupt-YYYYmmdd-HHMMSS`` (UTC).

    Sidecars go first: a ``-wal`` left behind next to a restored file could be
    replayed into it. They keep their suffix after the new name, so SQLite opens
    them together with the moved file.
    """
    base = f"{database.name}.corrupt-{now.astimezone(UTC).strftime('%Y%m%d-%H%M%S')}"
    aside = database.with_name(base)
    counter = 1
    while any(
        candidate.exists()
        for candidate in [aside, *(aside.with_name(aside.name + s) for s in SIDECAR_SUFFIXES)]
    ):
        counter += 1
        aside = database.with_name(f"{base}-{counter}")
    for suffix in SIDECAR_SUFFIXES:
        sidecar = database.with_name(database.name + suffix)
        if sidecar.exists():
            os.replace(sidecar, aside.with_name(aside.name + suffix))
    os.replace(database, aside)
    fsync_dir(database.parent)
    return aside


def usable_backups(backup_dir: Path, database_name: str, supported_version: int) -> list[Backup]:
    """Backups that pass ``integrity_check`` and this Studio can read, newest first."""
    usable: list[Backup] = []
    for backup in list_backups(backup_dir, database_name):
        try:
            version, problems = check_file(backup.path, thorough=True)
        except (sqlite3.Error, OSError):
            continue
        if not problems and version <= supported_version:
            usable.append(backup)
    return usable


def restore(backup: Backup, database: Path) -> None:
    """Copy ``backup`` to ``database`` (which must not exist) atomically, private."""
    temp = database.with_name(f"{database.name}.restore.part")
    fd = open_private_for_writing(temp)
    try:
        with os.fdopen(fd, "wb") as target, backup.path.open("rb") as source:
            shutil.copyfileobj(source, target)
        replace_durably(temp, database)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _when(backup: Backup) -> str:
    return backup.taken_at.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def recover(
    database: Path,
    backup_dir: Path,
    supported_version: int,
    now: datetime,
    damage: str | None,
) -> Recovery:
    """Move a damaged library aside and put the newest usable backup in its place.

    Args:
        database: the library file; it may be missing.
        backup_dir: where the automatic backups are.
        supported_version: backups newer than this are skipped.
        now: names the moved-aside file.
        damage: why the file is unusable; None when it is missing or empty.

    Returns:
        What was done. With no usable backup, ``database`` is left absent and the
        caller starts a new library; the notice already says so.
    """
    moved = move_aside(database, now) if database.exists() else None
    candidates = usable_backups(backup_dir, database.name, supported_version)
    if damage is not None:
        problem = f"The library {database} was damaged ({damage})."
    elif moved is not None:
        problem = f"The library {database} was empty, although backups of it exist."
    else:
        problem = f"The library {database} was missing, although backups of it exist."
    kept = f" The damaged file was kept as {moved}." if moved is not None else ""
    if candidates:
        restore(candidates[0], database)
        return Recovery(
            moved,
            candidates[0],
            f"{problem}{kept} The automatic backup from {_when(candidates[0])} was restored "
            f"({candidates[0].path}); changes made after it are not in the library.",
        )
    return Recovery(
        moved,
        None,
        f"WARNING: {problem}{kept} No usable backup was found in {backup_dir}, so Studio "
        "started a NEW, EMPTY library. Downloaded audio files in the archive folder "
        "are not affected.",
    )
