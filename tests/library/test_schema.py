"""Schema version 1: the rules its CHECKs and foreign keys document."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime

import pytest

from studio.library import Library
from studio.library.schema_v1 import SCHEMA_V1
from studio.library.timestamps import SQL_NOW, format_timestamp, parse_timestamp

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _insert(library: Library, sql: str, *args: object) -> int:
    with library.transaction() as conn:
        row_id = conn.execute(sql, args).lastrowid
    assert row_id is not None
    return row_id


def _row(library: Library, table: str, columns: dict[str, object]) -> int:
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    return _insert(library, sql, *columns.values())


def _task(library: Library, key: object = "k1", **columns: object) -> int:
    base: dict[str, object] = {
        "client_key": key, "engine": "ttapi", "operation": "music", "params_json": "{}"
    }  # fmt: skip
    return _row(library, "tasks", {**base, **columns})


def _take(library: Library, **columns: object) -> int:
    return _row(library, "takes", {"engine": "ttapi", "operation": "music", **columns})


def test_task_defaults(library: Library) -> None:
    task_id = _task(library)
    row = library.connection.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert row["state"] == "submitting"
    assert row["attempts"] == 0
    assert TIMESTAMP.match(row["created_at"]) and TIMESTAMP.match(row["updated_at"])


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param({"state": "paused"}, id="unknown state"),
        pytest.param({"progress": 1.5}, id="progress is a fraction"),
        pytest.param({"attempts": -1}, id="negative attempts"),
        pytest.param({"params_json": "not json"}, id="params must be JSON"),
        pytest.param({"params_json": "[1, 2]"}, id="params must be an object"),
        pytest.param({"retry_of_task_id": 999}, id="retry of a missing task"),
        pytest.param({"parent_take_id": 999}, id="missing parent take"),
    ],
)
def test_task_rules(library: Library, columns: dict[str, object]) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        _task(library, **columns)


def test_client_key_is_unique(library: Library) -> None:
    _task(library, "same")
    with pytest.raises(sqlite3.IntegrityError):
        _task(library, "same")


def test_every_task_state_is_accepted(library: Library) -> None:
    states = ["submitting", "submitted", "running", "archiving", "done", "failed",
              "needs_attention", "expired", "cancelled"]  # fmt: skip
    for n, state in enumerate(states):
        _task(library, f"k{n}", state=state)


@pytest.mark.parametrize(
    "columns",
    [{"rating": 6}, {"rating": -1}, {"rating": 2.5}, {"rating": "three"}, {"favourite": 2},
     {"archive_state": "lost"}, {"duration_s": -1.0}, {"params_json": "{"}],
)  # fmt: skip
def test_take_rules(library: Library, columns: dict[str, object]) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        _take(library, **columns)


def test_take_accepts_its_ranges(library: Library) -> None:
    for rating in range(6):
        _take(library, rating=rating, favourite=rating % 2, archive_state="archived")


def test_archiving_a_task_twice_does_not_duplicate_takes(library: Library) -> None:
    task_id = _task(library)
    _take(library, task_id=task_id, remote_id="music-1")
    with pytest.raises(sqlite3.IntegrityError):
        _take(library, task_id=task_id, remote_id="music-1")
    _take(library, remote_id="music-1")  # imported takes (no task) are not constrained
    _take(library, remote_id="music-1")


def test_deleting_a_take_removes_its_files_and_stems(library: Library) -> None:
    take_id = _take(library)
    file_id = _insert(
        library,
        "INSERT INTO files (take_id, kind, local_path) VALUES (?, 'stem', 'a/v.wav')",
        take_id,
    )
    _insert(library, "INSERT INTO stems (take_id, name, file_id) VALUES (?, 'vocals', ?)",
            take_id, file_id)  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):  # one stem name per take
        _insert(library, "INSERT INTO stems (take_id, name) VALUES (?, 'vocals')", take_id)
    with library.transaction() as conn:
        conn.execute("DELETE FROM takes WHERE id = ?", (take_id,))
    conn = library.connection
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM stems").fetchone()[0] == 0


def test_deleting_a_task_keeps_its_takes(library: Library) -> None:
    task_id = _task(library)
    take_id = _take(library, task_id=task_id)
    with library.transaction() as conn:
        conn.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
    row = library.connection.execute("SELECT task_id FROM takes WHERE id = ?", (take_id,))
    assert row.fetchone()[0] is None


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO files (take_id, kind) VALUES (?, 'midi')",
        "INSERT INTO files (take_id, kind, size_bytes) VALUES (?, 'audio', -1)",
        "INSERT INTO files (take_id, kind, sha256) VALUES (?, 'audio', 'abc')",
    ],
)
def test_file_rules(library: Library, sql: str) -> None:
    take_id = _take(library)
    with pytest.raises(sqlite3.IntegrityError):
        _insert(library, sql, take_id)


def test_two_files_never_share_a_local_path(library: Library) -> None:
    take_id = _take(library)
    sql = "INSERT INTO files (take_id, kind, local_path) VALUES (?, 'audio', 'x/song.mp3')"
    _insert(library, sql, take_id)
    with pytest.raises(sqlite3.IntegrityError):
        _insert(library, sql, take_id)


def test_preset_names_are_unique_per_engine(library: Library) -> None:
    sql = "INSERT INTO presets (engine, name, operation) VALUES (?, ?, 'music')"
    _insert(library, sql, "ttapi", "Lo-fi")
    _insert(library, sql, "mountsea", "Lo-fi")
    with pytest.raises(sqlite3.IntegrityError):
        _insert(library, sql, "ttapi", "Lo-fi")
    with pytest.raises(sqlite3.IntegrityError):
        _insert(library, sql, "ttapi", "   ")


def test_sql_default_time_matches_python_format(library: Library) -> None:
    (sql_now,) = library.connection.execute(f"SELECT {SQL_NOW}").fetchone()
    assert f"DEFAULT ({SQL_NOW})" in SCHEMA_V1, "column defaults use the same format"
    python_now = format_timestamp(datetime.now(UTC))
    assert TIMESTAMP.match(sql_now) and TIMESTAMP.match(python_now)
    moment = datetime(2024, 5, 1, 12, 30, 0, 250_999, tzinfo=UTC)
    assert format_timestamp(moment) == "2024-05-01T12:30:00.250Z"
    assert parse_timestamp("2024-05-01T12:30:00.250Z") == moment.replace(microsecond=250_000)
    with pytest.raises(ValueError):
        format_timestamp(datetime(2024, 5, 1))
