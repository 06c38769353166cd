"""Making writes survive a crash or a power cut: fsync and atomic replace.

Qt-free and dependency-free, shared by the library (database, backups), the
downloader (.part files) and preferences, so there is one way to do it.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_file(path: Path) -> None:
    """Flush a file's contents to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries, so a rename in it survives a power loss.

    Windows cannot open a folder for fsync; NTFS journals the rename itself.
    """
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(temp: Path, final: Path) -> None:
    """Atomically move a fully written ``temp`` over ``final`` and make it stick."""
    fsync_file(temp)
    os.replace(temp, final)
    fsync_dir(final.parent)
