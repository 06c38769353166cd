"""Moving a task that someone else may have moved meanwhile.

Runs on the asyncio loop's thread (the ledger's thread). Between sending a
request and reading its answer the user may have cancelled the task, or "check
again" may have moved it; the answer must then not crash into the transition
table, yet what it proves (the engine's job id, the raw answer) must still be
kept, so a paid job is never forgotten.
"""

from __future__ import annotations

from typing import Any

from studio.core.task_states import TaskState, can_transition
from studio.tasks.ledger import TaskLedger, TaskRecord

__all__ = ["KEEP_ALWAYS", "settle"]

# What an answer proves about the job, worth keeping even if the move is refused.
KEEP_ALWAYS = frozenset({"remote_id", "raw_response", "cost", "submitted_at"})


def settle(
    ledger: TaskLedger, task_id: int, state: TaskState | None = None, **values: Any
) -> TaskRecord | None:
    """Move ``task_id`` to ``state`` with ``values`` if the table still allows it.

    Returns the new row, or None when the task has moved somewhere the move is
    not allowed from (then only the values in :data:`KEEP_ALWAYS` are stored).
    Values equal to what the row already holds are not written again, so an
    unchanged poll costs no database write.
    """
    current = ledger.get(task_id)
    if state is not None and not can_transition(current.state, state):
        kept = {
            name: value
            for name, value in values.items()
            if name in KEEP_ALWAYS and getattr(current, name) != value
        }
        if kept:
            ledger.update(task_id, **kept)
        return None
    changed = {
        name: value
        for name, value in values.items()
        # raw_response is stored redacted, so it never compares equal; write it
        # only together with another change (the caller decides when it matters).
        if name == "raw_response" or getattr(current, name) != value
    }
    if (state is None or state == current.state) and not (set(changed) - {"raw_response"}):
        return current
    return ledger.update(task_id, state if state != current.state else None, **changed)
