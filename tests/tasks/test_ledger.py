"""The ledger: intent committed first, legal moves only, every change announced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from studio.core.task_states import IllegalTransitionError, TaskState
from studio.library.database import open_library
from studio.logs import register_secret
from studio.tasks.ledger import RAW_LIMIT, TaskChange, TaskLedger


@pytest.fixture
def ledger(tmp_path):
    opened = open_library(tmp_path / "library.sqlite3", tmp_path / "backups")
    yield TaskLedger(opened.library)
    opened.library.close()


def test_intent_is_on_disk_before_anything_is_sent(ledger, tmp_path) -> None:
    params = {"sound_prompt": "dub techno"}
    task = ledger.create("ttapi", "music", params, deadline=timedelta(hours=1))
    assert task.state is TaskState.SUBMITTING and len(task.client_key) == 32
    # Another connection (another process after a crash) sees the committed row.
    reopened = open_library(tmp_path / "library.sqlite3", tmp_path / "backups").library
    try:
        assert TaskLedger(reopened).by_client_key(task.client_key).params == {
            "sound_prompt": "dub techno"
        }
    finally:
        reopened.close()
    assert task.deadline_at is not None and task.deadline_at > task.created_at


def test_moves_follow_the_table_and_stamp_finished(ledger) -> None:
    task = ledger.create("kling", "text-to-audio", {"prompt": "rain"})
    task = ledger.update(task.id, TaskState.SUBMITTED, remote_id="r-1")
    task = ledger.update(task.id, TaskState.RUNNING, progress=0.5)
    assert (task.remote_id, task.progress, task.finished_at) == ("r-1", 0.5, None)
    with pytest.raises(IllegalTransitionError):
        ledger.update(task.id, TaskState.DONE)  # must archive first
    task = ledger.update(task.id, TaskState.ARCHIVING)
    task = ledger.update(task.id, TaskState.DONE)
    assert task.finished_at is not None
    with pytest.raises(IllegalTransitionError):
        ledger.update(task.id, TaskState.RUNNING)
    assert [t.id for t in ledger.active()] == []


def test_raw_answers_are_redacted_and_capped(ledger) -> None:
    secret = "sk-CANARY-ledger-0123456789"
    register_secret(secret)
    task = ledger.create("evolink", "generations", {"prompt": "hi"})
    task = ledger.update(
        task.id, raw_response={"echo": secret, "pad": "x" * (RAW_LIMIT * 2)},
        last_error=f"Bearer {secret} was refused",
    )
    assert secret not in task.raw_response and secret not in task.last_error
    assert len(task.raw_response) == RAW_LIMIT


def test_listeners_hear_what_changed(ledger) -> None:
    heard: list[TaskChange] = []
    unsubscribe = ledger.subscribe(heard.append)
    task = ledger.create("mountsea", "audios", {"soundPrompt": "x"})
    ledger.update(task.id, progress=0.25)
    ledger.update(task.id, TaskState.SUBMITTED, remote_id="m-1")
    unsubscribe()
    ledger.update(task.id, TaskState.RUNNING)
    assert [c.created for c in heard] == [True, False, False]
    assert heard[1].changed == {"progress"}
    assert heard[2].changed == {"state", "remote_id"}
    assert heard[2].task.state is TaskState.SUBMITTED


def test_unknown_columns_and_tasks_are_refused(ledger) -> None:
    task = ledger.create("ttapi", "music", {})
    with pytest.raises(ValueError, match="cannot update client_key"):
        ledger.update(task.id, client_key="other")
    with pytest.raises(KeyError):
        ledger.update(99999, progress=0.1)
