"""Shared fixtures. ``isolated`` runs for every test; tests/isolation_guard.py checks it did."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from studio.logs import shutdown_logging
from tests.memory_keyring import MemoryKeyring

# Qt tests run without a display unless the harness chose one (Xvfb for screenshots).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    """Give each test an in-memory keyring, a private data dir and Qt's test paths."""
    data_dir = tmp_path / "studio-data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    # Anything that still asks the platform for a folder lands in the temp dir too.
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg" / var.lower()))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in list(os.environ):
        if name.startswith("STUDIO_") and name != "STUDIO_DATA_DIR":
            monkeypatch.delenv(name)
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        from PySide6.QtCore import QStandardPaths
    except ImportError:  # pragma: no cover - Qt is a hard dependency
        QStandardPaths = None
    if QStandardPaths is not None:
        QStandardPaths.setTestModeEnabled(True)
    yield memory
    keyring.set_keyring(previous)
    shutdown_logging()  # a test's log file must not collect the next test's records
