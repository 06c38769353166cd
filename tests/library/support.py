"""Helpers shared by the library tests (fixtures live in conftest.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path


class FakeClock:
    """A settable clock for backup ages and timestamps."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Places:
    """Where the library under test lives (inside the isolated STUDIO_DATA_DIR)."""

    database: Path
    backup_dir: Path


def raw_connect(path: Path) -> sqlite3.Connection:
    """A plain connection, as another program (or an older Studio) would open the file."""
    return sqlite3.connect(path, isolation_level=None)


def make_legacy_database(path: Path, version: int = 0) -> None:
    """A file at ``version`` with state of its own that a migration must keep."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = raw_connect(path)
    try:
        conn.execute("CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        conn.executemany(
            "INSERT INTO legacy_notes (body) VALUES (?)", [("first idea",), ("second idea",)]
        )
        conn.execute(f"PRAGMA user_version = {version}")
    finally:
        conn.close()
