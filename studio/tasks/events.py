"""Service-level events: engine paused/resumed, archive progress.

Qt-free. Row changes are announced by the ledger itself (TaskLedger.subscribe);
these are the few things that are not a row: an engine whose key was refused,
and what the archiver is doing. Listeners are plain callables, called on the
asyncio loop's thread (the Qt thread under qasync), so a Qt listener may touch
widgets directly but must return quickly and never block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ArchiveProgress",
    "EnginePaused",
    "EngineResumed",
    "ServiceEvent",
    "ServiceEvents",
    "ServiceListener",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnginePaused:
    """The engine refused the key while polling; its tasks wait (faults S6)."""

    engine: str
    message: str


@dataclass(frozen=True)
class EngineResumed:
    """Polling of the engine goes on (the user gave a new key, or asked to retry)."""

    engine: str


@dataclass(frozen=True)
class ArchiveProgress:
    """A task's files are being saved (``started``) or the attempt ended (``finished``).

    ``detail`` is a sentence for the user on ``finished`` (what was saved, or why not).
    """

    task_id: int
    phase: Literal["started", "finished"]
    detail: str | None = None


ServiceEvent = EnginePaused | EngineResumed | ArchiveProgress
ServiceListener = Callable[[ServiceEvent], None]


class ServiceEvents:
    """A list of listeners; loop thread only."""

    def __init__(self) -> None:
        self._listeners: list[ServiceListener] = []

    def subscribe(self, listener: ServiceListener) -> Callable[[], None]:
        """Call ``listener`` for every event; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: ServiceEvent) -> None:
        # A broken listener (a view) must not stop the poller that emitted: log it
        # loudly and go on with the others.
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a task-service listener failed on %s", type(event).__name__)
