"""The task ledger's states and the one table of moves between them.

A task is committed in ``submitting`` before its POST is sent. Every later
change of state goes through :func:`check_transition`, so no code path can,
say, resurrect a cancelled task or mark a paid result "failed".
"""

from __future__ import annotations

import enum


class TaskState(enum.StrEnum):
    SUBMITTING = "submitting"  # intent stored; the POST may or may not have been sent
    SUBMITTED = "submitted"  # the engine gave its job id
    RUNNING = "running"  # the engine says it is working on it
    ARCHIVING = "archiving"  # succeeded; its files are being downloaded
    DONE = "done"  # every file archived locally
    FAILED = "failed"  # the engine refused or failed it (its reason is kept)
    NEEDS_ATTENTION = "needs_attention"  # unconfirmed submit, or past the local deadline
    EXPIRED = "expired"  # the links died before the files were saved; metadata kept
    CANCELLED = "cancelled"  # the user stopped following it (engines have no cancel call)

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_active(self) -> bool:
        """Still followed by the poller or the archiver."""
        return self in ACTIVE


TERMINAL = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED})
ACTIVE = frozenset(
    {TaskState.SUBMITTING, TaskState.SUBMITTED, TaskState.RUNNING, TaskState.ARCHIVING}
)

_S = TaskState
# Legal moves. Staying in the same state (a progress update) is always allowed.
TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    _S.SUBMITTING: frozenset(
        {
            _S.SUBMITTED,  # the engine answered with a job id
            _S.ARCHIVING,  # a synchronous operation answered with its result
            _S.FAILED,  # refused (validation, auth, credit): no job was created
            _S.NEEDS_ATTENTION,  # no answer: the job may exist at the engine
            _S.CANCELLED,  # the user gave up on an unconfirmed submit
        }
    ),
    _S.SUBMITTED: frozenset(
        {_S.RUNNING, _S.ARCHIVING, _S.FAILED, _S.NEEDS_ATTENTION, _S.CANCELLED}
    ),
    _S.RUNNING: frozenset({_S.ARCHIVING, _S.FAILED, _S.NEEDS_ATTENTION, _S.CANCELLED}),
    _S.ARCHIVING: frozenset(
        {
            _S.DONE,
            _S.EXPIRED,  # links dead and no fresh one to be had
            _S.NEEDS_ATTENTION,  # e.g. the disk is full: the user must act
            _S.CANCELLED,
        }
    ),
    # "Check again" can find the job in any state it might be in.
    _S.NEEDS_ATTENTION: frozenset(
        {_S.SUBMITTED, _S.RUNNING, _S.ARCHIVING, _S.FAILED, _S.EXPIRED, _S.CANCELLED}
    ),
    # A fresh link may still be had later ("check again" re-asks the engine).
    _S.EXPIRED: frozenset({_S.ARCHIVING}),
    _S.DONE: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


class IllegalTransitionError(ValueError):
    """A bug: some code tried a move the table does not allow."""

    def __init__(self, old: TaskState, new: TaskState) -> None:
        super().__init__(f"a task cannot go from {old.value} to {new.value}")
        self.old = old
        self.new = new


def can_transition(old: TaskState, new: TaskState) -> bool:
    return old == new or new in TRANSITIONS[old]


def check_transition(old: TaskState, new: TaskState) -> None:
    """Raise IllegalTransitionError unless ``old → new`` is in the table."""
    if not can_transition(old, new):
        raise IllegalTransitionError(old, new)
