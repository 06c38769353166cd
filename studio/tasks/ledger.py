"""The task ledger: every paid request, committed before it is sent.

Runs on the thread that owns the library connection (the GUI thread under
qasync, the main thread in the CLI). Every state change goes through the one
transition table (studio/core/task_states.py) and is announced to listeners
with what changed, so a view updates one row instead of reloading.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from studio.core.task_states import ACTIVE, TaskState, check_transition
from studio.library.connection import Library
from studio.library.timestamps import format_timestamp, parse_timestamp, utc_now
from studio.logs import redact

# Raw answers are kept for re-parsing, but an engine's error page is not a library.
RAW_LIMIT = 256 * 1024


@dataclass(frozen=True)
class TaskRecord:
    """One ledger row, as read."""

    id: int
    client_key: str
    engine: str
    operation: str
    state: TaskState
    params: dict[str, Any]
    remote_id: str | None = None
    parent_take_id: int | None = None
    retry_of_task_id: int | None = None
    attempts: int = 0
    last_error: str | None = None
    engine_message: str | None = None
    progress: float | None = None
    cost: str | None = None
    raw_response: str | None = None
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    deadline_at: datetime | None = None
    next_poll_at: datetime | None = None


@dataclass(frozen=True)
class TaskChange:
    """What happened to a task: its new row and which columns changed."""

    task: TaskRecord
    changed: frozenset[str] = field(default_factory=frozenset)
    created: bool = False


Listener = Callable[[TaskChange], None]

_COLUMNS = (
    "id, client_key, engine, operation, state, params_json, remote_id, parent_take_id, "
    "retry_of_task_id, attempts, last_error, engine_message, progress, cost, "
    "raw_response_json, created_at, submitted_at, updated_at, finished_at, deadline_at, "
    "next_poll_at"
)
# Columns update() may set, beside state.
_UPDATABLE = frozenset(
    {
        "remote_id", "attempts", "last_error", "engine_message", "progress", "cost",
        "raw_response", "submitted_at", "finished_at", "deadline_at", "next_poll_at",
    }
)  # fmt: skip


def _time(text: str | None) -> datetime | None:
    return parse_timestamp(text) if text else None


def _record(row: sqlite3.Row | tuple[Any, ...]) -> TaskRecord:
    (
        id_, client_key, engine, operation, state, params_json, remote_id, parent, retry_of,
        attempts, last_error, engine_message, progress, cost, raw, created, submitted,
        updated, finished, deadline, next_poll,
    ) = row  # fmt: skip
    return TaskRecord(
        id=id_, client_key=client_key, engine=engine, operation=operation,
        state=TaskState(state), params=json.loads(params_json), remote_id=remote_id,
        parent_take_id=parent, retry_of_task_id=retry_of, attempts=attempts,
        last_error=last_error, engine_message=engine_message, progress=progress, cost=cost,
        raw_response=raw, created_at=_time(created), submitted_at=_time(submitted),
        updated_at=_time(updated), finished_at=_time(finished), deadline_at=_time(deadline),
        next_poll_at=_time(next_poll),
    )  # fmt: skip


def raw_text(raw: Any) -> str | None:
    """An engine answer as stored: JSON text (or the text itself), redacted and capped."""
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return redact(text)[:RAW_LIMIT]


class TaskLedger:
    """Reads and writes the tasks table; tells listeners about every change."""

    def __init__(self, library: Library, clock: Callable[[], datetime] = utc_now) -> None:
        self._library = library
        self._clock = clock
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after each committed change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _announce(self, change: TaskChange) -> None:
        for listener in list(self._listeners):
            listener(change)

    # ------------------------------------------------------------------ writes
    def create(
        self,
        engine: str,
        operation: str,
        params: Mapping[str, Any],
        *,
        parent_take_id: int | None = None,
        retry_of_task_id: int | None = None,
        deadline: timedelta | None = None,
    ) -> TaskRecord:
        """Commit the intent of a request, in state ``submitting``, before it is sent.

        A new client key is generated every time: "try again" is a new task.
        """
        now = self._clock()
        client_key = uuid.uuid4().hex
        deadline_at = format_timestamp(now + deadline) if deadline else None
        with self._library.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO tasks (client_key, engine, operation, state, params_json, "
                "parent_take_id, retry_of_task_id, created_at, updated_at, deadline_at) "
                "VALUES (?, ?, ?, 'submitting', ?, ?, ?, ?, ?, ?)",
                (
                    client_key, engine, operation, json.dumps(dict(params), ensure_ascii=False),
                    parent_take_id, retry_of_task_id, format_timestamp(now),
                    format_timestamp(now), deadline_at,
                ),
            )  # fmt: skip
            task_id = cursor.lastrowid
        assert task_id is not None
        record = self.get(task_id)
        self._announce(TaskChange(record, frozenset({"state"}), created=True))
        return record

    def update(self, task_id: int, state: TaskState | None = None, **values: Any) -> TaskRecord:
        """Change a task's state and/or columns, checking the transition table.

        ``values`` keys are TaskRecord attribute names (``raw_response`` takes any
        JSON-able value and is stored redacted and capped). Finishing states stamp
        ``finished_at``.
        """
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {', '.join(sorted(unknown))}")
        now = self._clock()
        with self._library.transaction() as conn:
            row = conn.execute("SELECT state FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise KeyError(f"no task {task_id}")
            old = TaskState(row[0])
            assignments: dict[str, Any] = {}
            if state is not None and state != old:
                check_transition(old, state)
                assignments["state"] = state.value
                if state.is_terminal or state in (TaskState.EXPIRED,):
                    assignments["finished_at"] = format_timestamp(now)
            for name, value in values.items():
                column = "raw_response_json" if name == "raw_response" else name
                if name == "raw_response":
                    value = raw_text(value)
                elif isinstance(value, datetime):
                    value = format_timestamp(value)
                elif name in ("last_error", "engine_message") and value is not None:
                    value = redact(str(value))
                assignments[column] = value
            assignments["updated_at"] = format_timestamp(now)
            sets = ", ".join(f"{column} = ?" for column in assignments)
            conn.execute(f"UPDATE tasks SET {sets} WHERE id = ?", (*assignments.values(), task_id))
        record = self.get(task_id)
        changed = frozenset(values) | ({"state"} if "state" in assignments else frozenset())
        self._announce(TaskChange(record, changed))
        return record

    # ------------------------------------------------------------------ reads
    def get(self, task_id: int) -> TaskRecord:
        row = self._library.connection.execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no task {task_id}")
        return _record(row)

    def by_client_key(self, client_key: str) -> TaskRecord | None:
        row = self._library.connection.execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE client_key = ?", (client_key,)
        ).fetchone()
        return _record(row) if row else None

    def in_states(self, states: Iterable[TaskState]) -> list[TaskRecord]:
        wanted = [state.value for state in states]
        marks = ", ".join("?" for _ in wanted)
        rows = self._library.connection.execute(
            f"SELECT {_COLUMNS} FROM tasks WHERE state IN ({marks}) ORDER BY id", wanted
        ).fetchall()
        return [_record(row) for row in rows]

    def active(self) -> list[TaskRecord]:
        """Tasks the poller or archiver still follows (resumed on start)."""
        return self.in_states(ACTIVE)

    def all(self, limit: int | None = None) -> list[TaskRecord]:
        query = f"SELECT {_COLUMNS} FROM tasks ORDER BY id DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [_record(row) for row in self._library.connection.execute(query).fetchall()]
