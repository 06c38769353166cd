"""Files and folders private to the user, written durably.

The library holds prompts, lyrics and what the user paid for, so its files are
0600 and its folders 0700 from the first byte (never created world-readable and
fixed later); durable replacing is studio/durable.py's.
POSIX permission calls are skipped where the OS has no such bits (Windows).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_POSIX = os.name == "posix"

# Files SQLite keeps next to a database; they hold committed data too (the WAL),
# so they move, and are protected, together with it.
SIDECAR_SUFFIXES = ("-wal", "-shm", "-journal")


def sidecars(database: Path) -> list[Path]:
    """The sidecar files of ``database`` that exist right now."""
    found = (database.with_name(database.name + suffix) for suffix in SIDECAR_SUFFIXES)
    return [path for path in found if path.exists()]


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` (and parents) and take group/other access away from it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if _POSIX:
        mode = folder.stat().st_mode & 0o777
        if mode & 0o077:
            folder.chmod(mode & 0o700)


def make_private(path: Path) -> None:
    """Make an existing file readable and writable by its owner only."""
    if _POSIX:
        path.chmod(0o600)


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file at ``path`` if none exists.

    ``os.open`` with a mode creates the file private atomically; creating it with
    ``open()`` or letting SQLite do it would leave a umask-wide window.
    """
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    make_private(path)


def open_private_for_writing(path: Path) -> int:
    """Open a new 0600 file for writing, replacing a stale one; returns the descriptor."""
    path.unlink(missing_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
