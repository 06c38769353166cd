"""The library's SQLite connection: its PRAGMAs and explicit transactions.

Use :func:`studio.library.database.open_library` to get a :class:`Library`; it
checks, recovers, backs up and migrates the file first. The connection keeps
``sqlite3``'s same-thread check: the library belongs to the thread that opened it.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from studio.library.migrations import user_version
from studio.library.private_files import make_private, sidecars

BUSY_TIMEOUT_MS = 5000


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-write with the per-connection settings, but no journal change.

    ``isolation_level=None`` turns off the sqlite3 module's implicit BEGINs, so the
    only transactions are the ones :meth:`Library.transaction` opens.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # FULL: a commit is on the disk before it returns, even in WAL mode: the
        # task ledger must survive a power loss between "stored" and "POST sent".
        conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def use_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch to WAL (persistent in the file) and keep its sidecars private.

    WAL lets the UI read while the task engine writes. It is set only after the
    version check, because it rewrites the file header.
    """
    conn.execute("PRAGMA journal_mode = WAL")
    # SQLite gives sidecars the database's mode; chmod anyway in case the main
    # file was once made wider than 0600.
    for sidecar in sidecars(path):
        make_private(sidecar)


class Library:
    """An open library database.

    Attributes:
        path: the database file.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._savepoints = itertools.count(1)
        self._closed = False

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for repositories; write only inside :meth:`transaction`."""
        return self._conn

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called; a closed library refuses every query."""
        return self._closed

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return user_version(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block all-or-nothing: COMMIT if it returns, ROLLBACK if it raises.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so a transaction never
        fails halfway with "database is locked" after it has read. Nested use
        becomes a SAVEPOINT, so repositories can be combined in one transaction.
        """
        conn = self._conn
        if conn.in_transaction:
            name = f"sp{next(self._savepoints)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield conn
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full, I/O error) leaves the transaction open too.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def integrity_check(self) -> list[str]:
        """Run SQLite's full ``integrity_check``.

        Returns:
            The problems found; an empty list when the database is sound.
        """
        rows = [str(row[0]) for row in self._conn.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        # Recommended before closing long-lived connections: cheap, keeps the
        # query planner's statistics current. Advisory: closing matters more.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        self._conn.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
