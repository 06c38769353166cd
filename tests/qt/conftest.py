"""Qt fixtures: an opened studio context and a qasync loop for async slots."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from studio.context import AppContext, open_context
from studio.paths import resolve_paths


@pytest.fixture
def context(qtbot: object) -> Iterator[AppContext]:
    """The services of a studio session on the test's private data folder.

    Depends on qtbot so it closes after qtbot has closed the test's windows
    (a closing main window still saves its draft).
    """
    ctx = open_context(resolve_paths())
    yield ctx
    ctx.close()


@pytest.fixture
def async_loop(qapp: object) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop on the test QApplication, so widgets can spawn coroutines."""
    import qasync

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def flush_qt_leftovers(qapp: object) -> Iterator[None]:
    """After each Qt test, delete what it scheduled for deletion and collect its wrappers.

    A widget or timer left half-alive is otherwise processed during a later test's
    setup, far from the test that caused it.
    """
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    QCoreApplication.processEvents()
