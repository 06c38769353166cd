"""The ``.part`` file's life: private creation, writes, resume metadata, publishing.

Qt-free, blocking, thread-agnostic: :mod:`studio.net.download` calls the cheap
ones on the asyncio loop and the slow ones (hashing, fsync, publish) through
``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path

from studio.durable import fsync_dir
from studio.net.errors import DiskError
from studio.net.sniff import SNIFF_BYTES

__all__ = [
    "disk_error",
    "fsync_dir",
    "hash_and_head",
    "load_meta",
    "part_paths",
    "publish",
    "remove",
    "save_meta",
    "sync_close",
    "write_all",
]

_HASH_BLOCK = 1024 * 1024


def part_paths(dest: Path) -> tuple[Path, Path]:
    """Return ``(<dest>.part, <dest>.part.meta)``."""
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.meta")


def remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def disk_error(path: Path, exc: OSError, *cleanup: Path) -> DiskError:
    remove(*cleanup)
    cause = exc.strerror or type(exc).__name__
    return DiskError(f"Cannot write {path}: {cause}", path=str(path), errno=exc.errno)


def load_meta(meta: Path) -> tuple[str, int | None] | None:
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        validator = data["validator"]
        total = data.get("total")
        if isinstance(validator, str) and validator and (total is None or isinstance(total, int)):
            return validator, total
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def save_meta(meta: Path, validator: str, total: int | None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    fd = os.open(meta, flags, 0o600)
    try:
        os.write(fd, json.dumps({"validator": validator, "total": total}).encode())
    finally:
        os.close(fd)


def hash_and_head(part: Path) -> tuple[hashlib._Hash, bytes]:
    digest = hashlib.sha256()
    with part.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        digest.update(head)
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest, head


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def publish(part: Path, dest: Path) -> None:
    # os.link refuses an existing name atomically, so a file that appeared
    # meanwhile is never overwritten; file systems without hard links (FAT,
    # some shares) fall back to check-then-replace.
    try:
        os.link(part, dest)
    except FileExistsError:
        raise
    except OSError:
        if dest.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(dest)) from None
        os.replace(part, dest)
    else:
        part.unlink()
    fsync_dir(dest.parent)


def sync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
