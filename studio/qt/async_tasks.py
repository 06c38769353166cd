"""Starting coroutines from Qt slots on the qasync loop, with errors never swallowed."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

# Strong references: asyncio keeps only weak ones, and a collected task dies silently.
_running: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
    """Schedule ``coro`` on the current event loop (GUI thread); report its exception.

    An exception escaping the coroutine goes to ``sys.excepthook``, which the app
    sets to log it and show the error dialog (faults U1).
    """
    task = asyncio.ensure_future(coro)
    if name:
        task.set_name(name)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.debug("task %s failed", task.get_name())
        sys.excepthook(type(exc), exc, exc.__traceback__)
