"""Look at a database file without changing it: its version, and whether it is damaged.

Everything here reads only. The 100-byte header is read as plain bytes first, so
a library from a newer Studio is recognised before SQLite opens it at all (a
read-only SQLite connection to a WAL database still creates ``-wal``/``-shm``
files). Then a ``mode=ro`` connection reads the version through the WAL and runs
``quick_check``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from studio.library.errors import LibraryOpenError, LibraryTooNewError

_MAGIC = b"SQLite format 3\x00"
_USER_VERSION_OFFSET = 60  # big-endian uint32, per https://sqlite.org/fileformat.html
# Primary result codes that mean "the bytes are wrong", as opposed to locked,
# unreadable or out of space, which are no reason to move a library aside.
_DAMAGE_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Health:
    """What a look at a database file found.

    Attributes:
        exists: the file is there (possibly empty).
        empty: it has no bytes: SQLite treats that as a new, empty database.
        damage: why the file is unusable, or None when it is fine.
        version: its schema version, when it could be read.
    """

    exists: bool
    empty: bool = False
    damage: str | None = None
    version: int | None = None


def is_damage(error: sqlite3.DatabaseError) -> bool:
    """Whether an SQLite error means corrupt bytes (rather than a lock or an I/O problem)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _DAMAGE_CODES
    # Without a code only the plain DatabaseError class is SQLite's damage report;
    # its subclasses (OperationalError: locked, I/O, …) are not.
    return type(error) is sqlite3.DatabaseError


def header_version(path: Path) -> int | None:
    """The ``user_version`` in the file header, or None if it is not an SQLite header."""
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(_MAGIC):
        return None
    return int.from_bytes(header[_USER_VERSION_OFFSET : _USER_VERSION_OFFSET + 4], "big")


def read_only_uri(path: Path) -> str:
    """An SQLite URI opening ``path`` read-only (never creating or writing it)."""
    return f"{path.absolute().as_uri()}?mode=ro"


def check_file(path: Path, *, thorough: bool = False) -> tuple[int, list[str]]:
    """Open ``path`` read-only and check it.

    Args:
        path: an existing SQLite file.
        thorough: run ``integrity_check`` rather than the faster ``quick_check``.

    Returns:
        The schema version and the problems found (empty when the file is fine).

    Raises:
        sqlite3.DatabaseError: SQLite refused the file; see :func:`is_damage`.
    """
    conn = sqlite3.connect(read_only_uri(path), uri=True, timeout=_PROBE_TIMEOUT_S)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        pragma = "integrity_check" if thorough else "quick_check"
        rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}")]
    finally:
        conn.close()
    return version, [] if rows == ["ok"] else rows


def inspect(path: Path, supported_version: int) -> Health:
    """Look at the library file before anything writes to it.

    Raises:
        LibraryTooNewError: the file is from a newer Studio; it was not written.
        LibraryOpenError: it cannot be read, for a reason other than damage.
    """
    try:
        if not path.exists():
            return Health(exists=False)
        if path.stat().st_size == 0:
            return Health(exists=True, empty=True, version=0)
        version = header_version(path)
    except OSError as exc:
        raise LibraryOpenError(f"Cannot read the library {path}: {exc.strerror or exc}") from exc
    if version is not None and version > supported_version:
        raise LibraryTooNewError(path, version, supported_version)
    if version is None:
        return Health(exists=True, damage="it is not an SQLite database")
    try:
        version, problems = check_file(path)
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            return Health(exists=True, damage=str(exc))
        raise LibraryOpenError(f"Cannot open the library {path}: {exc}") from exc
    # Checked again: a newer Studio's last commit may still be in the WAL only.
    if version > supported_version:
        raise LibraryTooNewError(path, version, supported_version)
    if problems:
        shown = "; ".join(problems[:3])
        return Health(exists=True, damage=f"quick_check found {len(problems)} problems: {shown}")
    return Health(exists=True, version=version)
