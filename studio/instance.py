"""One studio per data folder: an OS file lock held for the life of the process.

The lock is released by the kernel when the process dies, so a crash never
leaves a stale lock behind. The Qt layer adds the "raise the first window"
message on top (studio/qt/instance_server.py).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import IO


class AlreadyRunningError(RuntimeError):
    """Another studio process holds the data folder."""

    def __init__(self, lock_file: Path) -> None:
        super().__init__(
            f"Studio is already running with the data folder {lock_file.parent}. "
            "Switch to its window, or start this one with another --data-dir."
        )
        self.lock_file = lock_file


class SingleInstanceLock:
    """Exclusive, non-blocking lock on ``lock_file``; use as a context manager or acquire()."""

    def __init__(self, lock_file: Path) -> None:
        self.lock_file = lock_file
        self._handle: IO[bytes] | None = None

    @property
    def channel_name(self) -> str:
        """A short name for the local socket that lets a second instance reach the first."""
        digest = hashlib.sha256(str(self.lock_file.resolve()).encode()).hexdigest()[:16]
        return f"studio-{digest}"

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError. Never blocks."""
        self.lock_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+b")
        try:
            _lock(handle)
        except OSError:
            handle.close()
            raise AlreadyRunningError(self.lock_file) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()).encode())
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            _unlock(self._handle)
            self._handle.close()
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> SingleInstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
