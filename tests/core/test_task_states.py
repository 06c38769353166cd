"""The transition table, exhaustively: every pair of states is either listed or refused."""

from __future__ import annotations

import itertools

import pytest

from studio.core.task_states import (
    TRANSITIONS,
    IllegalTransitionError,
    TaskState,
    can_transition,
    check_transition,
)

S = TaskState

ALLOWED = {
    (S.SUBMITTING, S.SUBMITTED), (S.SUBMITTING, S.ARCHIVING), (S.SUBMITTING, S.FAILED),
    (S.SUBMITTING, S.NEEDS_ATTENTION), (S.SUBMITTING, S.CANCELLED),
    (S.SUBMITTED, S.RUNNING), (S.SUBMITTED, S.ARCHIVING), (S.SUBMITTED, S.FAILED),
    (S.SUBMITTED, S.NEEDS_ATTENTION), (S.SUBMITTED, S.CANCELLED),
    (S.RUNNING, S.ARCHIVING), (S.RUNNING, S.FAILED), (S.RUNNING, S.NEEDS_ATTENTION),
    (S.RUNNING, S.CANCELLED),
    (S.ARCHIVING, S.DONE), (S.ARCHIVING, S.EXPIRED), (S.ARCHIVING, S.NEEDS_ATTENTION),
    (S.ARCHIVING, S.CANCELLED),
    (S.NEEDS_ATTENTION, S.SUBMITTED), (S.NEEDS_ATTENTION, S.RUNNING),
    (S.NEEDS_ATTENTION, S.ARCHIVING), (S.NEEDS_ATTENTION, S.FAILED),
    (S.NEEDS_ATTENTION, S.EXPIRED), (S.NEEDS_ATTENTION, S.CANCELLED),
    (S.EXPIRED, S.ARCHIVING),
}


@pytest.mark.parametrize(("old", "new"), list(itertools.product(S, S)))
def test_every_pair(old: TaskState, new: TaskState) -> None:
    legal = old == new or (old, new) in ALLOWED
    assert can_transition(old, new) is legal
    if legal:
        check_transition(old, new)
    else:
        with pytest.raises(IllegalTransitionError, match=f"from {old.value} to {new.value}"):
            check_transition(old, new)


def test_table_covers_every_state_and_terminal_states_are_final() -> None:
    assert set(TRANSITIONS) == set(S)
    for state in (S.DONE, S.FAILED, S.CANCELLED):
        assert state.is_terminal and not TRANSITIONS[state]
    # A paid result is never turned into a failure once it exists.
    assert S.FAILED not in TRANSITIONS[S.ARCHIVING]
    assert {s for s in S if s.is_active} == {S.SUBMITTING, S.SUBMITTED, S.RUNNING, S.ARCHIVING}


def test_states_match_the_ledger_schema() -> None:
    from studio.library.schema_v1 import SCHEMA_V1

    for state in S:
        assert f"'{state.value}'" in SCHEMA_V1
