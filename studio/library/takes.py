"""Takes, their files and their stems: what the engines made, and where it is on disk.

Qt-free. A :class:`TakeStore` runs on the thread that owns the library connection
(the GUI thread under qasync, the main thread in the CLI): sqlite3's same-thread
check stays on. Every write is one :meth:`Library.transaction`, so it can be
combined with other repositories' writes in an outer transaction.

Nothing secret is stored (faults.md, schema_v1): URLs lose their query string
(a signed link's signature lives there) and raw engine JSON is redacted and
capped before it is written.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args
from urllib.parse import urlsplit, urlunsplit

from studio.library.connection import Library
from studio.library.timestamps import format_timestamp, parse_timestamp, utc_now
from studio.logs import redact

__all__ = [
    "ARCHIVE_STATES",
    "FILE_KINDS",
    "RAW_LIMIT",
    "ArchiveState",
    "FileKind",
    "Stem",
    "Take",
    "TakeFile",
    "TakeStore",
    "strip_url",
]

# The schema's CHECK lists, as types: a typo fails in mypy, not in SQLite.
FileKind = Literal["audio", "stem", "cover", "video", "lyrics", "export"]
ArchiveState = Literal["archived", "partial", "expired", "missing", "pending"]
FILE_KINDS: frozenset[str] = frozenset(get_args(FileKind))
ARCHIVE_STATES: frozenset[str] = frozenset(get_args(ArchiveState))

# Raw JSON is kept so a misread shape can be re-parsed, but an engine's error
# page is not a library (same cap as the task ledger's raw answers).
RAW_LIMIT = 256 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FORMAT = re.compile(r"[a-z0-9_]{1,16}")


@dataclass(frozen=True)
class Take:
    """One piece of audio an engine made (a row of ``takes``).

    Attributes:
        params: the request's parameters (a JSON object).
        raw_json: the engine's own JSON for this result, redacted and capped.
        image_url: the cover's URL without its (signed) query string.
        archive_state: archived / partial / expired / missing / pending.
    """

    id: int
    engine: str
    operation: str
    task_id: int | None = None
    model: str | None = None
    remote_id: str | None = None
    parent_take_id: int | None = None
    title: str = ""
    prompt: str = ""
    lyrics: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seed: str | None = None
    duration_s: float | None = None
    cost: str | None = None
    raw_json: str | None = None
    image_url: str | None = None
    created_at: datetime | None = None
    favourite: bool = False
    rating: int = 0
    archive_state: ArchiveState = "pending"


@dataclass(frozen=True)
class TakeFile:
    """A file of a take (a row of ``files``); ``local_path`` is None until downloaded."""

    id: int
    take_id: int
    kind: FileKind
    format: str | None = None
    remote_url: str | None = None
    local_path: Path | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    downloaded_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Stem:
    """A named stem of a take (a row of ``stems``), pointing at its file once known."""

    id: int
    take_id: int
    name: str
    file_id: int | None = None
    offset_samples: int = 0


def strip_url(url: str | None) -> str | None:
    """``url`` without query, fragment or user info, redacted; None stays None.

    Pure; any thread. Signed links carry their signature in the query, so the
    whole query goes rather than trusting a pattern to find the secret part.
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
        stripped = urlunsplit((parts.scheme, host + port, parts.path, "", ""))
    except ValueError:  # a malformed port or bracket: keep the text before any query
        stripped = url.split("?", 1)[0].split("#", 1)[0]
    return redact(stripped)


def _raw_text(raw: Any) -> str | None:
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return redact(text)[:RAW_LIMIT]


def _seed_text(seed: object) -> str | None:
    # A seed is an identifier (TTAPI sends strings); store its text form.
    return None if seed is None or seed == "" else str(seed)


def _duration(value: float | None) -> float | None:
    # An engine's negative or NaN duration is noise, not a reason to lose the take.
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _format_text(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    lowered = fmt.strip().lower().removeprefix(".")
    if not _FORMAT.fullmatch(lowered):
        raise ValueError(f"not a file format: {fmt!r}")
    return lowered


def _time(text: object) -> datetime | None:
    return None if text is None else parse_timestamp(str(text))


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(cast(int, value))


_TAKE_COLUMNS = (
    "id, task_id, engine, model, operation, remote_id, parent_take_id, title, prompt, "
    "lyrics, params_json, seed, duration_s, cost, raw_json, image_url, created_at, "
    "favourite, rating, archive_state"
)
_FILE_COLUMNS = (
    "id, take_id, kind, format, remote_url, local_path, size_bytes, sha256, downloaded_at, "
    "expires_at"
)
_STEM_COLUMNS = "id, take_id, name, file_id, offset_samples"


def _take(row: sqlite3.Row) -> Take:
    params = json.loads(row["params_json"])
    return Take(
        id=int(row["id"]),
        task_id=_int_or_none(row["task_id"]),
        engine=str(row["engine"]),
        model=row["model"],
        operation=str(row["operation"]),
        remote_id=row["remote_id"],
        parent_take_id=_int_or_none(row["parent_take_id"]),
        title=str(row["title"]),
        prompt=str(row["prompt"]),
        lyrics=str(row["lyrics"]),
        params=params if isinstance(params, dict) else {},
        seed=row["seed"],
        duration_s=None if row["duration_s"] is None else float(row["duration_s"]),
        cost=row["cost"],
        raw_json=row["raw_json"],
        image_url=row["image_url"],
        created_at=_time(row["created_at"]),
        favourite=bool(row["favourite"]),
        rating=int(row["rating"]),
        archive_state=cast(ArchiveState, str(row["archive_state"])),
    )


def _file(row: sqlite3.Row) -> TakeFile:
    local = row["local_path"]
    return TakeFile(
        id=int(row["id"]),
        take_id=int(row["take_id"]),
        kind=cast(FileKind, str(row["kind"])),
        format=row["format"],
        remote_url=row["remote_url"],
        local_path=None if local is None else Path(local),
        size_bytes=_int_or_none(row["size_bytes"]),
        sha256=row["sha256"],
        downloaded_at=_time(row["downloaded_at"]),
        expires_at=_time(row["expires_at"]),
    )


def _stem(row: sqlite3.Row) -> Stem:
    return Stem(
        id=int(row["id"]),
        take_id=int(row["take_id"]),
        name=str(row["name"]),
        file_id=_int_or_none(row["file_id"]),
        offset_samples=int(row["offset_samples"]),
    )


def _check_download(
    local_path: Path | None, size_bytes: int | None, sha256: str | None
) -> tuple[str | None, str | None]:
    if size_bytes is not None and size_bytes < 0:
        raise ValueError("size_bytes cannot be negative")
    if sha256 is not None:
        sha256 = sha256.lower()
        if not _SHA256.fullmatch(sha256):
            raise ValueError("sha256 must be 64 hexadecimal digits")
    # Absolute, so a row means the same file whatever the working directory.
    path = None if local_path is None else str(Path(local_path).absolute())
    return path, sha256


class TakeStore:
    """Reads and writes takes, files and stems. Runs on the library's thread.

    Args:
        library: the open library.
        clock: the current time (aware); tests pass a fake.
    """

    def __init__(self, library: Library, clock: Callable[[], datetime] = utc_now) -> None:
        self._library = library
        self._clock = clock

    @property
    def library(self) -> Library:
        """The library, to group several writes in one ``library.transaction()``."""
        return self._library

    # -- takes -------------------------------------------------------------

    def add_take(
        self,
        *,
        engine: str,
        operation: str,
        task_id: int | None = None,
        model: str | None = None,
        remote_id: str | None = None,
        parent_take_id: int | None = None,
        title: str | None = "",
        prompt: str | None = "",
        lyrics: str | None = "",
        params: Mapping[str, Any] | None = None,
        seed: str | int | None = None,
        duration_s: float | None = None,
        cost: str | None = None,
        raw_json: Any = None,
        image_url: str | None = None,
        archive_state: ArchiveState = "pending",
    ) -> Take:
        """Insert a take and return it as stored.

        Args:
            raw_json: the engine's JSON for this result (any JSON-able value or
                text); redacted and capped at :data:`RAW_LIMIT` characters.
            image_url: stored without its query string (:func:`strip_url`).
            duration_s: a negative or non-finite value is stored as unknown.

        Raises:
            ValueError: ``params`` is not JSON-serialisable, or a bad archive state.
            sqlite3.IntegrityError: a take with this ``task_id`` and ``remote_id``
                exists (archiving twice must not duplicate takes), or a parent or
                task id that does not exist.
        """
        if archive_state not in ARCHIVE_STATES:
            raise ValueError(f"unknown archive state: {archive_state!r}")
        params_json = json.dumps(
            dict(params or {}), ensure_ascii=False, sort_keys=True, allow_nan=False
        )
        values = (
            task_id, engine, model, operation, remote_id, parent_take_id, title or "",
            prompt or "", lyrics or "", params_json, _seed_text(seed), _duration(duration_s),
            cost, _raw_text(raw_json), strip_url(image_url),
            format_timestamp(self._clock()), archive_state,
        )  # fmt: skip
        with self._library.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO takes (task_id, engine, model, operation, remote_id, "
                "parent_take_id, title, prompt, lyrics, params_json, seed, duration_s, cost, "
                "raw_json, image_url, created_at, archive_state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            take_id = cursor.lastrowid
            if take_id is None:  # pragma: no cover - an INSERT always yields a row id
                raise RuntimeError("SQLite returned no row id for an inserted take")
            row = conn.execute(
                f"SELECT {_TAKE_COLUMNS} FROM takes WHERE id = ?", (take_id,)
            ).fetchone()
        return _take(row)

    def get(self, take_id: int) -> Take | None:
        """The take with this id, or None."""
        row = self._library.connection.execute(
            f"SELECT {_TAKE_COLUMNS} FROM takes WHERE id = ?", (take_id,)
        ).fetchone()
        return None if row is None else _take(row)

    def takes_for_task(self, task_id: int) -> list[Take]:
        """The takes a task produced, oldest first (the engine's output order)."""
        rows = self._library.connection.execute(
            f"SELECT {_TAKE_COLUMNS} FROM takes WHERE task_id = ? ORDER BY id", (task_id,)
        ).fetchall()
        return [_take(row) for row in rows]

    def find_by_remote_id(self, engine: str, remote_id: str) -> Take | None:
        """The newest take with this engine id (music_id, audioId…), or None.

        Several takes can share a remote id (the same result archived by two
        tasks, e.g. a re-fetch); the newest one wins.
        """
        row = self._library.connection.execute(
            f"SELECT {_TAKE_COLUMNS} FROM takes WHERE engine = ? AND remote_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (engine, remote_id),
        ).fetchone()
        return None if row is None else _take(row)

    def all_takes(self) -> list[Take]:
        """Every take, newest first."""
        rows = self._library.connection.execute(
            f"SELECT {_TAKE_COLUMNS} FROM takes ORDER BY created_at DESC, id DESC"
        ).fetchall()
        return [_take(row) for row in rows]

    def set_archive_state(self, take_id: int, state: ArchiveState) -> None:
        """Record how much of the take is on disk.

        Raises:
            ValueError: an unknown state.
            KeyError: no take with this id.
        """
        if state not in ARCHIVE_STATES:
            raise ValueError(f"unknown archive state: {state!r}")
        with self._library.transaction() as conn:
            cursor = conn.execute(
                "UPDATE takes SET archive_state = ? WHERE id = ?", (state, take_id)
            )
            if cursor.rowcount == 0:
                raise KeyError(take_id)

    # -- files -------------------------------------------------------------

    def add_file(
        self,
        take_id: int,
        kind: FileKind,
        format: str | None = None,
        remote_url: str | None = None,
        local_path: Path | None = None,
        size_bytes: int | None = None,
        sha256: str | None = None,
        downloaded_at: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> TakeFile:
        """Record a file of a take; ``local_path`` None means "known, not downloaded yet".

        Args:
            kind: audio / stem / cover / video / lyrics / export.
            format: "mp3", "wav", "png"…; lower-cased.
            remote_url: stored without its query string (:func:`strip_url`).
            local_path: the file on disk, stored absolute; two rows can never
                share one (the schema's UNIQUE), so nothing is overwritten.

        Raises:
            ValueError: an unknown kind, a malformed format or sha256, a negative size.
            sqlite3.IntegrityError: the take does not exist, or the path is recorded.
        """
        if kind not in FILE_KINDS:
            raise ValueError(f"unknown file kind: {kind!r}")
        path, digest = _check_download(local_path, size_bytes, sha256)
        values = (
            take_id, kind, _format_text(format), strip_url(remote_url), path, size_bytes,
            digest, None if downloaded_at is None else format_timestamp(downloaded_at),
            None if expires_at is None else format_timestamp(expires_at),
        )  # fmt: skip
        with self._library.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO files (take_id, kind, format, remote_url, local_path, size_bytes, "
                "sha256, downloaded_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )
            file_id = cursor.lastrowid
            if file_id is None:  # pragma: no cover - an INSERT always yields a row id
                raise RuntimeError("SQLite returned no row id for an inserted file")
            row = conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ?", (file_id,)
            ).fetchone()
        return _file(row)

    def record_download(
        self,
        file_id: int,
        *,
        local_path: Path,
        size_bytes: int,
        sha256: str,
        downloaded_at: datetime,
        remote_url: str | None = None,
    ) -> TakeFile:
        """Mark a known file as downloaded (or re-downloaded) to ``local_path``.

        Args:
            remote_url: the link actually used, when it changed (query stripped).

        Raises:
            KeyError: no file with this id.
            ValueError: a malformed sha256 or a negative size.
            sqlite3.IntegrityError: another row already records this path.
        """
        path, digest = _check_download(local_path, size_bytes, sha256)
        with self._library.transaction() as conn:
            cursor = conn.execute(
                "UPDATE files SET local_path = ?, size_bytes = ?, sha256 = ?, downloaded_at = ?, "
                "remote_url = COALESCE(?, remote_url) WHERE id = ?",
                (
                    path, size_bytes, digest, format_timestamp(downloaded_at),
                    strip_url(remote_url), file_id,
                ),
            )  # fmt: skip
            if cursor.rowcount == 0:
                raise KeyError(file_id)
            row = conn.execute(
                f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ?", (file_id,)
            ).fetchone()
        return _file(row)

    def files_for(self, take_id: int) -> list[TakeFile]:
        """The take's files, in the order they were recorded."""
        rows = self._library.connection.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE take_id = ? ORDER BY id", (take_id,)
        ).fetchall()
        return [_file(row) for row in rows]

    # -- stems -------------------------------------------------------------

    def add_stem(self, take_id: int, name: str, file_id: int | None = None) -> Stem:
        """Record a named stem of a take, or point an existing one at ``file_id``.

        A take has one stem per name (the schema's UNIQUE), so recording it again
        (a re-run of the archiver) updates the file it points at instead of failing.

        Raises:
            ValueError: an empty name.
            sqlite3.IntegrityError: the take or the file does not exist.
        """
        if not name.strip():
            raise ValueError("a stem needs a name")
        with self._library.transaction() as conn:
            conn.execute(
                "INSERT INTO stems (take_id, name, file_id) VALUES (?, ?, ?) "
                "ON CONFLICT (take_id, name) DO UPDATE SET "
                "file_id = COALESCE(excluded.file_id, file_id)",
                (take_id, name, file_id),
            )
            row = conn.execute(
                f"SELECT {_STEM_COLUMNS} FROM stems WHERE take_id = ? AND name = ?",
                (take_id, name),
            ).fetchone()
        return _stem(row)

    def stem_rows(self, take_id: int) -> list[Stem]:
        """The take's stem rows, by name order (including stems with no file yet)."""
        rows = self._library.connection.execute(
            f"SELECT {_STEM_COLUMNS} FROM stems WHERE take_id = ? ORDER BY name", (take_id,)
        ).fetchall()
        return [_stem(row) for row in rows]

    def stems_for(self, take_id: int) -> dict[str, TakeFile]:
        """The take's stems that have a file row: name → file (downloaded or not)."""
        rows = self._library.connection.execute(
            "SELECT s.name AS stem_name, "
            + ", ".join(f"f.{c.strip()}" for c in _FILE_COLUMNS.split(","))
            + " FROM stems s JOIN files f ON f.id = s.file_id WHERE s.take_id = ? "
            "ORDER BY s.name",
            (take_id,),
        ).fetchall()
        return {str(row["stem_name"]): _file(row) for row in rows}

    def recorded_names(self, folder: Path) -> set[str]:
        """File names the library records as local files directly inside ``folder``.

        A recorded file the user deleted still owns its row's (UNIQUE) path, so a
        new download must not take that name even though it is free on disk.
        """
        base = Path(folder).absolute()
        prefix = str(base).rstrip("/\\") + ("\\" if "\\" in str(base) else "/")
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._library.connection.execute(
            "SELECT local_path FROM files WHERE local_path LIKE ? ESCAPE '\\'",
            (escaped + "%",),
        ).fetchall()
        names = set()
        for row in rows:
            path = Path(str(row[0]))
            if path.parent == base:
                names.add(path.name)
        return names
