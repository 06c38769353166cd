"""Autosaved composer state: what the user is writing, kept across crashes."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from studio.library.connection import Library
from studio.library.timestamps import format_timestamp, parse_timestamp, utc_now


@dataclass(kw_only=True)
class Draft:
    """The composer's state for one request being written.

    Mutable on purpose: the composer edits one Draft in place as the user types
    and hands it to :meth:`DraftStore.save`, which returns the stored copy.

    Attributes:
        id: the row id, or None for a draft never saved.
        engine: engine id, e.g. ``"ttapi"``; empty while no engine is chosen.
        operation: the engine operation, e.g. ``"music"``; empty while none is chosen.
        params: every other request parameter, JSON-serialisable.
        parent_take_id: the take being extended or covered, if any.
        updated_at: when it was last saved (UTC); set by :meth:`DraftStore.save`.
    """

    id: int | None = None
    engine: str = ""
    operation: str = ""
    title: str = ""
    prompt: str = ""
    lyrics: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    parent_take_id: int | None = None
    updated_at: datetime | None = None


_COLUMNS = "id, engine, operation, title, prompt, lyrics, params_json, parent_take_id, updated_at"


class DraftStore:
    """Reads and writes drafts. Runs on the library's thread."""

    def __init__(self, library: Library, clock: Callable[[], datetime] = utc_now) -> None:
        self._library = library
        self._clock = clock

    def load_latest(self, engine: str | None = None) -> Draft | None:
        """The most recently saved draft, for one engine or for any.

        Args:
            engine: only drafts of this engine; None for all engines.
        """
        query = f"SELECT {_COLUMNS} FROM drafts"
        args: tuple[str, ...] = ()
        if engine is not None:
            query += " WHERE engine = ?"
            args = (engine,)
        # id breaks ties between saves within the same millisecond.
        query += " ORDER BY updated_at DESC, id DESC LIMIT 1"
        row = self._library.connection.execute(query, args).fetchone()
        return None if row is None else _from_row(row)

    def save(self, draft: Draft) -> Draft:
        """Insert or update ``draft`` (by id) and stamp its ``updated_at``.

        A draft whose row was deleted meanwhile is inserted again under its id,
        so an autosave never fails because another view removed it.

        Returns:
            The draft as stored, with its id and ``updated_at``.

        Raises:
            ValueError: ``params`` is not JSON-serialisable (NaN included).
        """
        now = self._clock()
        stamped = dataclasses.replace(draft, updated_at=now)
        # sort_keys: the same parameters always give the same text (diffable, comparable).
        params_json = json.dumps(
            stamped.params, ensure_ascii=False, sort_keys=True, allow_nan=False
        )
        values = (
            stamped.id,
            stamped.engine,
            stamped.operation,
            stamped.title,
            stamped.prompt,
            stamped.lyrics,
            params_json,
            stamped.parent_take_id,
            format_timestamp(now),
        )
        with self._library.transaction() as conn:
            cursor = conn.execute(
                f"INSERT INTO drafts ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET engine = excluded.engine, "
                "operation = excluded.operation, title = excluded.title, "
                "prompt = excluded.prompt, lyrics = excluded.lyrics, "
                "params_json = excluded.params_json, "
                "parent_take_id = excluded.parent_take_id, updated_at = excluded.updated_at",
                values,
            )
            row_id = stamped.id if stamped.id is not None else cursor.lastrowid
        if row_id is None:  # pragma: no cover - an INSERT always yields a row id
            raise RuntimeError("SQLite returned no row id for an inserted draft")
        return dataclasses.replace(stamped, id=row_id)


def _from_row(row: sqlite3.Row) -> Draft:
    params = json.loads(row["params_json"])
    parent = row["parent_take_id"]
    return Draft(
        id=int(row["id"]),
        engine=str(row["engine"]),
        operation=str(row["operation"]),
        title=str(row["title"]),
        prompt=str(row["prompt"]),
        lyrics=str(row["lyrics"]),
        # The schema guarantees an object; the check keeps a hand-edited row from
        # handing the composer a list.
        params=params if isinstance(params, dict) else {},
        parent_take_id=None if parent is None else int(parent),
        updated_at=parse_timestamp(str(row["updated_at"])),
    )
