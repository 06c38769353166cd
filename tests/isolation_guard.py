"""Fails any test that runs without the ``isolated`` fixture of conftest.py.

Loaded with ``-p tests.isolation_guard`` (pyproject addopts), apart from
conftest.py, so deleting or renaming the fixture turns the suite red instead of
letting tests write to the user's keyring and data folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _isolation_problems(item: pytest.Item) -> list[str]:
    import keyring

    problems = []
    if "isolated" not in getattr(item, "fixturenames", ()):
        problems.append("the autouse fixture 'isolated' did not run")
    data_dir = os.environ.get("STUDIO_DATA_DIR", "")
    temp_root = Path(tempfile.gettempdir()).resolve()
    if not data_dir or temp_root not in Path(data_dir).resolve().parents:
        problems.append(f"STUDIO_DATA_DIR is not a temporary folder ({data_dir!r})")
    backend = type(keyring.get_keyring()).__name__
    if backend != "MemoryKeyring":
        problems.append(f"keyring backend is {backend}, not the in-memory test keyring")
    from PySide6.QtCore import QStandardPaths

    if not QStandardPaths.isTestModeEnabled():
        problems.append("QStandardPaths test mode is off")
    return problems


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("no_isolation_check") is None:
        problems = _isolation_problems(item)
        if problems:
            pytest.fail("test is not isolated: " + "; ".join(problems), pytrace=False)
    yield
