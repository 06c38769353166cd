"""Fixtures for the library tests: real SQLite files under the isolated data dir."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from studio.library import Library, OpenResult, open_library
from studio.paths import resolve_paths
from tests.library.support import FakeClock, Places


@pytest.fixture
def places() -> Places:
    paths = resolve_paths()  # STUDIO_DATA_DIR, set by the autouse `isolated` fixture
    return Places(paths.database, paths.backup_dir)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC))


@pytest.fixture
def opened(places: Places, clock: FakeClock) -> Iterator[OpenResult]:
    result = open_library(places.database, places.backup_dir, clock=clock)
    yield result
    result.library.close()


@pytest.fixture
def library(opened: OpenResult) -> Library:
    return opened.library
