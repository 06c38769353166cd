"""What the task service needs from the archiver, and how an outcome moves a task.

Runs on the asyncio loop's thread. The archiver (studio/tasks/archiver.py)
downloads and records a task's files; this module only states the small
interface the service calls and turns the outcome into the task's next state:
every file saved → done; a link dead even after asking for a fresh one →
expired (metadata kept; "check again" asks once more); anything else (disk
full, a file that will not validate) → needs attention: the user must act.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from studio.core.remote import RemoteStatus
from studio.core.task_states import TaskState
from studio.tasks.archiver import ArchiveOutcome, Archiver, ArchiveRequest
from studio.tasks.ledger import TaskRecord

__all__ = ["Refresh", "TaskArchiver", "Verdict", "archive_with", "verdict"]

# Asks the engine again for the job, to get fresh result links (faults D4).
Refresh = Callable[[], Awaitable[RemoteStatus]]


class TaskArchiver(Protocol):
    """Save a succeeded task's outputs. Must be idempotent: a resumed task is archived
    again, and files already saved must not be fetched or recorded twice."""

    async def __call__(
        self, task: TaskRecord, status: RemoteStatus, refresh: Refresh | None
    ) -> ArchiveOutcome: ...


def archive_with(archiver: Archiver) -> TaskArchiver:
    """The service's archive step backed by the real :class:`Archiver`."""

    async def step(
        task: TaskRecord, status: RemoteStatus, refresh: Refresh | None
    ) -> ArchiveOutcome:
        request = ArchiveRequest.from_params(
            engine=task.engine,
            operation=task.operation,
            params=task.params,
            task_id=task.id,
            parent_take_id=task.parent_take_id,
        )
        return await archiver.archive(request, status, refresh=refresh)

    return step


@dataclass(frozen=True)
class Verdict:
    """The task's next state after an archive attempt, and a sentence for the user."""

    state: TaskState
    message: str | None


def verdict(outcome: ArchiveOutcome) -> Verdict:
    """Decide a task's state from what the archiver achieved."""
    if outcome.complete:
        return Verdict(TaskState.DONE, None)
    if outcome.disk_error is not None:
        return Verdict(TaskState.NEEDS_ATTENTION, f"Files not saved: {outcome.disk_error}")
    if outcome.expired:
        listed = ", ".join(outcome.expired[:5]) + (" …" if len(outcome.expired) > 5 else "")
        return Verdict(
            TaskState.EXPIRED,
            f"The engine's links expired before these files were saved: {listed}. The "
            "task's details are kept; Check again asks the engine for fresh links.",
        )
    detail = "; ".join(outcome.errors) or "not every file could be saved"
    return Verdict(TaskState.NEEDS_ATTENTION, f"Files not saved: {detail}")
