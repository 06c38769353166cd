"""The task table model, its proxy, the bridge and the desktop notifier (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from studio.core.task_states import TaskState
from studio.library.timestamps import utc_now
from studio.qt.task_bridge import TaskBridge, TaskNotifier, notice_for
from studio.qt.task_model import (
    STATE_WORDS,
    ProgressRole,
    StateRole,
    TaskColumn,
    TaskFilter,
    TaskFilterProxyModel,
    TaskIdRole,
    TaskRecordRole,
    TaskTableModel,
    format_elapsed,
)
from studio.tasks.events import ArchiveProgress, EnginePaused, EngineResumed, ServiceEvents
from studio.tasks.ledger import TaskLedger, TaskRecord

S = TaskState
# Legal paths from "submitting" to each state, with what each step stores.
PATHS: dict[TaskState, list[tuple[TaskState, dict[str, Any]]]] = {
    S.SUBMITTING: [],
    S.SUBMITTED: [(S.SUBMITTED, {"remote_id": "job-1"})],
    S.RUNNING: [(S.SUBMITTED, {"remote_id": "job-2"}), (S.RUNNING, {"progress": 0.4})],
    S.ARCHIVING: [(S.SUBMITTED, {"remote_id": "job-3"}), (S.ARCHIVING, {})],
    S.DONE: [
        (S.SUBMITTED, {"remote_id": "job-4"}),
        (S.ARCHIVING, {"cost": "12 credits"}),
        (S.DONE, {}),
    ],
    S.FAILED: [(S.FAILED, {"last_error": "Kling refused the prompt under its content policy"})],
    S.NEEDS_ATTENTION: [(S.NEEDS_ATTENTION, {"last_error": "No answer: the job may exist"})],
    S.EXPIRED: [
        (S.SUBMITTED, {"remote_id": "job-5"}),
        (S.ARCHIVING, {}),
        (S.EXPIRED, {"last_error": "Links expired"}),
    ],
    S.CANCELLED: [(S.SUBMITTED, {"remote_id": "job-6"}), (S.CANCELLED, {})],
}
PARAMS = {
    "kling": {"prompt": "rain on a tin roof", "duration": 3.0},
    "ttapi": {"title": "Dub Study", "sound_prompt": "dub techno,\nwarm chords"},
    "mountsea": {"soundPrompt": "dream pop, 100 bpm"},
    "evolink": {"prompt": "Hello there"},
}


def make_task(ledger: TaskLedger, state: TaskState, engine: str = "kling") -> TaskRecord:
    op = {"kling": "text-to-audio", "ttapi": "music", "mountsea": "audios"}.get(
        engine, "generations"
    )
    task = ledger.create(engine, op, PARAMS[engine])
    for step, values in PATHS[state]:
        task = ledger.update(task.id, step, **values)
    assert task.state is state
    return task


@pytest.fixture
def ledger(context) -> TaskLedger:
    return context.ledger


def every_state(ledger: TaskLedger) -> dict[TaskState, TaskRecord]:
    engines = ["kling", "ttapi", "mountsea", "evolink"]
    return {state: make_task(ledger, state, engines[i % 4]) for i, state in enumerate(TaskState)}


class Recorder:
    """Collects a model's change signals."""

    def __init__(self, model: TaskTableModel) -> None:
        self.resets = 0
        self.changed: list[tuple[int, int, int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        model.modelReset.connect(self._reset)
        model.dataChanged.connect(self._changed)
        model.rowsInserted.connect(lambda _parent, first, last: self.inserted.append((first, last)))

    def _reset(self) -> None:
        self.resets += 1

    def _changed(self, top: QModelIndex, bottom: QModelIndex, _roles: object = None) -> None:
        self.changed.append((top.row(), bottom.row(), top.column(), bottom.column()))


def test_model_passes_the_model_tester_with_a_row_in_every_state(qtmodeltester, ledger) -> None:
    tasks = every_state(ledger)
    model = TaskTableModel(ledger)
    assert model.rowCount() == len(TaskState)
    qtmodeltester.check(model, force_py=True)
    proxy = TaskFilterProxyModel()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy, force_py=True)

    words = {model.index(r, TaskColumn.STATE).data() for r in range(model.rowCount())}
    assert words == set(STATE_WORDS.values())
    assert {"Queued", "Needs attention", "Archiving"} <= words
    done = model.row_of(tasks[S.DONE].id)
    assert done is not None
    assert model.index(done, TaskColumn.COST).data() == "12 credits"
    assert model.index(done, TaskColumn.PROGRESS).data() == "100%"
    assert model.index(done, 0).data(TaskIdRole) == tasks[S.DONE].id
    assert model.index(done, 0).data(StateRole) == "done"
    assert model.index(done, 0).data(TaskRecordRole) == tasks[S.DONE]
    running = model.row_of(tasks[S.RUNNING].id)
    assert model.index(running, TaskColumn.PROGRESS).data() == "40%"
    assert model.index(running, TaskColumn.PROGRESS).data(ProgressRole) == pytest.approx(0.4)
    failed = model.row_of(tasks[S.FAILED].id)
    assert "content policy" in model.index(failed, TaskColumn.ERROR).data()
    assert model.index(failed, TaskColumn.PROGRESS).data() == ""  # no bar, no guess
    assert not model.index(failed, TaskColumn.ENGINE).data(Qt.ItemDataRole.DecorationRole).isNull()


def test_title_excerpt_is_one_line_from_the_engines_own_fields(ledger) -> None:
    song = make_task(ledger, S.SUBMITTED, "ttapi")
    effect = make_task(ledger, S.SUBMITTED, "mountsea")
    model = TaskTableModel(ledger)
    assert model.index(model.row_of(song.id), TaskColumn.TITLE).data() == (
        "Dub Study — dub techno, warm chords"
    )
    assert model.index(model.row_of(effect.id), TaskColumn.TITLE).data() == "dream pop, 100 bpm"
    tip = model.index(model.row_of(song.id), TaskColumn.TITLE).data(Qt.ItemDataRole.ToolTipRole)
    assert "job-1" in tip
    assert model.index(model.row_of(song.id), TaskColumn.ENGINE).data() == "TTAPI"


def test_elapsed_counts_while_active_and_stops_when_finished(context) -> None:
    start = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
    ledger = TaskLedger(context.library, clock=lambda: start)
    now = [start + timedelta(seconds=75)]
    running = make_task(ledger, S.RUNNING)
    queued = make_task(ledger, S.SUBMITTED)  # no engine progress: the bar shows time
    done = make_task(ledger, S.DONE)
    model = TaskTableModel(ledger, clock=lambda: now[0])
    elapsed = model.index(model.row_of(running.id), TaskColumn.ELAPSED)
    assert elapsed.data() == "1:15"
    assert model.index(model.row_of(queued.id), TaskColumn.PROGRESS).data() == "1:15"
    assert model.index(model.row_of(done.id), TaskColumn.ELAPSED).data() == "0:00"
    now[0] += timedelta(hours=1)
    assert elapsed.data() == "1:01:15"
    assert format_elapsed(3 * 86400 + 4 * 3600) == "3 d 4 h"


def test_rows_update_in_place_and_only_the_changed_cells(qtbot, ledger) -> None:
    first = make_task(ledger, S.SUBMITTED)
    second = make_task(ledger, S.SUBMITTED)
    bridge = TaskBridge(ledger)
    model = TaskTableModel(ledger)
    bridge.task_changed.connect(model.apply_change)
    seen = Recorder(model)
    row = model.row_of(first.id)

    ledger.update(first.id, S.RUNNING, progress=0.25)
    ledger.update(first.id, progress=0.5)
    assert seen.changed == [
        (row, row, TaskColumn.STATE, TaskColumn.ELAPSED),  # state, its bar and its clock
        (row, row, TaskColumn.ERROR, TaskColumn.ERROR),
        (row, row, TaskColumn.PROGRESS, TaskColumn.PROGRESS),
    ]
    assert model.index(row, TaskColumn.PROGRESS).data() == "50%"
    ledger.update(first.id, next_poll_at=utc_now())  # nothing shown changes
    assert len(seen.changed) == 3

    third = ledger.create("kling", "text-to-audio", PARAMS["kling"])
    assert seen.inserted == [(0, 0)]
    assert model.task_at(0).id == third.id
    assert (model.row_of(second.id), model.row_of(first.id)) == (1, 2)  # moved down by one
    ledger.update(second.id, S.FAILED, last_error="refused")
    assert seen.changed[-1][:2] == (1, 1)
    assert model.index(1, TaskColumn.ERROR).data() == "refused"
    assert seen.resets == 0
    bridge.close()
    ledger.update(first.id, progress=0.75)  # a closed bridge no longer feeds the model
    assert model.index(row + 1, TaskColumn.PROGRESS).data() == "50%"


def test_clock_ticks_repaint_only_the_time_cells_of_active_rows(qtbot, ledger) -> None:
    make_task(ledger, S.DONE)
    with_progress = make_task(ledger, S.RUNNING)
    make_task(ledger, S.FAILED)
    without = make_task(ledger, S.SUBMITTED)
    model = TaskTableModel(ledger, tick_ms=20)
    seen = Recorder(model)
    with qtbot.waitSignal(model.dataChanged, timeout=2000):
        pass
    model._tick.stop()
    ticks = set(seen.changed)
    row_p, row_n = model.row_of(with_progress.id), model.row_of(without.id)
    assert (row_n, row_n, TaskColumn.PROGRESS, TaskColumn.ELAPSED) in ticks
    assert (row_p, row_p, TaskColumn.ELAPSED, TaskColumn.ELAPSED) in ticks
    assert {(top, bottom) for top, bottom, _l, _r in ticks} <= {(row_n, row_n), (row_p, row_p)}


def test_timer_runs_only_while_tasks_are_active(qtbot, ledger) -> None:
    bridge = TaskBridge(ledger)
    model = TaskTableModel(ledger)
    bridge.task_changed.connect(model.apply_change)
    assert not model._tick.isActive() and model.active_count == 0
    counts: list[int] = []
    settled: list[TaskRecord] = []
    model.active_count_changed.connect(counts.append)
    model.task_settled.connect(settled.append)
    task = ledger.create("kling", "text-to-audio", PARAMS["kling"])
    assert model._tick.isActive() and counts == [1]
    ledger.update(task.id, S.SUBMITTED, remote_id="x")
    ledger.update(task.id, S.ARCHIVING)
    ledger.update(task.id, S.DONE)
    assert counts == [1, 0] and not model._tick.isActive()
    assert [t.state for t in settled] == [S.DONE]
    bridge.close()


def test_proxy_filters_by_state_group_and_engine(qtbot, ledger) -> None:
    tasks = every_state(ledger)
    model = TaskTableModel(ledger)
    proxy = TaskFilterProxyModel()
    proxy.setSourceModel(model)

    def shown() -> set[TaskState]:
        return {S(proxy.index(r, 0).data(StateRole)) for r in range(proxy.rowCount())}

    proxy.set_state_filter(TaskFilter.ACTIVE)
    assert shown() == {S.SUBMITTING, S.SUBMITTED, S.RUNNING, S.ARCHIVING}
    proxy.set_state_filter("done")
    assert shown() == {S.DONE}
    proxy.set_state_filter("failed")
    assert shown() == {S.FAILED, S.NEEDS_ATTENTION, S.EXPIRED, S.CANCELLED}
    proxy.set_state_filter("all")
    proxy.set_engine_filter("ttapi")
    assert shown() == {state for state, task in tasks.items() if task.engine == "ttapi"}
    proxy.set_engine_filter(None)
    assert proxy.rowCount() == len(TaskState)

    # A task that finishes leaves the "active" view without a reset.
    proxy.set_state_filter("active")
    bridge = TaskBridge(ledger)
    bridge.task_changed.connect(model.apply_change)
    before = proxy.rowCount()
    ledger.update(tasks[S.RUNNING].id, S.FAILED, last_error="no")
    assert proxy.rowCount() == before - 1
    bridge.close()


def test_proxy_sorts_states_in_workflow_order_and_numbers_as_numbers(ledger) -> None:
    tasks = every_state(ledger)
    ledger.update(tasks[S.ARCHIVING].id, cost="9 credits")
    model = TaskTableModel(ledger)
    proxy = TaskFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.sort(TaskColumn.STATE, Qt.SortOrder.AscendingOrder)
    order = [proxy.index(r, TaskColumn.STATE).data() for r in range(proxy.rowCount())]
    assert order == list(STATE_WORDS.values())
    model2 = TaskTableModel(ledger)
    proxy.setSourceModel(model2)
    proxy.sort(TaskColumn.COST, Qt.SortOrder.AscendingOrder)
    costs = [proxy.index(r, TaskColumn.COST).data() for r in range(proxy.rowCount())]
    assert costs[:2] == ["9 credits", "12 credits"]  # 9 < 12, not "1" < "9"


class FakeTray:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def showMessage(self, title: str, text: str, _icon: object, _ms: int) -> None:
        self.messages.append((title, text))


def test_notifier_uses_the_tray_or_alerts_the_window(qtbot, ledger) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    done = make_task(ledger, S.DONE, "ttapi")
    failed = make_task(ledger, S.FAILED)
    tray = FakeTray()
    alerts: list[QWidget] = []
    with_tray = TaskNotifier(
        window, tray_available=lambda: True, tray_factory=lambda: tray,
        alert=lambda w, _ms: alerts.append(w),
    )  # fmt: skip
    assert with_tray.notify(done) and with_tray.notify(failed)
    assert tray.messages[0] == ("Take ready", "Dub Study — dub techno, warm chords: saved to "
                                "your archive folder.")  # fmt: skip
    assert tray.messages[1][0] == "Task failed" and "content policy" in tray.messages[1][1]
    assert alerts == []

    without_tray = TaskNotifier(
        window, tray_available=lambda: False, alert=lambda w, _ms: alerts.append(w)
    )
    assert without_tray.notify(done)
    assert alerts == [window]
    assert notice_for(make_task(ledger, S.EXPIRED))[0] == "Files expired"
    assert (
        notice_for(make_task(ledger, S.NEEDS_ATTENTION))[2] is QSystemTrayIcon.MessageIcon.Warning
    )


def test_notifier_stays_quiet_while_the_window_is_active(qtbot, ledger, monkeypatch) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    monkeypatch.setattr(window, "isActiveWindow", lambda: True)
    alerts: list[QWidget] = []
    notifier = TaskNotifier(
        window, tray_available=lambda: False, alert=lambda w, _: alerts.append(w)
    )
    assert not notifier.notify(make_task(ledger, S.DONE))
    assert alerts == []


class FakeService:
    def __init__(self) -> None:
        self.events = ServiceEvents()
        self.paused_engines = {"mountsea": "Mountsea Producer did not accept the API key"}


def test_bridge_turns_service_events_into_signals(qtbot, ledger) -> None:
    bridge = TaskBridge(ledger)
    paused: list[tuple[str, str]] = []
    resumed: list[str] = []
    archived: list[tuple[int, str, str]] = []
    bridge.engine_paused.connect(lambda e, m: paused.append((e, m)))
    bridge.engine_resumed.connect(resumed.append)
    bridge.archive_progress.connect(lambda t, p, d: archived.append((t, p, d)))
    service = FakeService()
    bridge.attach_service(service)  # type: ignore[arg-type]
    assert paused == [("mountsea", "Mountsea Producer did not accept the API key")]
    service.events.emit(EnginePaused("ttapi", "refused"))
    service.events.emit(EngineResumed("ttapi"))
    service.events.emit(ArchiveProgress(7, "finished", "2 take(s) saved"))
    assert paused[-1] == ("ttapi", "refused") and resumed == ["ttapi"]
    assert archived == [(7, "finished", "2 take(s) saved")]
    bridge.close()
    service.events.emit(EngineResumed("kling"))
    assert resumed == ["ttapi"]
    assert bridge.service is None


def test_first_load_is_newest_first(ledger) -> None:
    ids = [make_task(ledger, S.SUBMITTED).id for _ in range(3)]
    model = TaskTableModel(ledger)
    assert [model.task_at(r).id for r in range(3)] == ids[::-1]
    assert isinstance(model.task_at(0).created_at, datetime)
