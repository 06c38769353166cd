"""The tasks panel in the main window, driving the real task service against the sandbox."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from studio.context import AppContext, open_context
from studio.core.task_states import TaskState
from studio.paths import resolve_paths
from studio.qt.app import run_session
from studio.qt.main_window import MainWindow
from studio.qt.task_model import TaskColumn, TaskIdRole
from studio.sandbox.app import SandboxConfig
from studio.tasks.events import ServiceEvents
from studio.tasks.ledger import TaskRecord
from tests.sandbox_support import FAST, running_site, sandbox_credentials
from tests.tasks.test_service_support import posts

S = TaskState
KLING = {"prompt": "rain on a tin roof", "duration": 3.0}
EVOLINK = {"prompt": "Hello there, this is a test."}


@pytest.fixture(autouse=True)
def no_unexpected_dialog(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal box nobody answers would hang the test: fail instead."""

    def refuse(box: QMessageBox) -> int:
        raise AssertionError(f"unexpected dialog: {box.text()}")

    monkeypatch.setattr(QMessageBox, "exec", refuse)


def answer(monkeypatch: pytest.MonkeyPatch, replies: list[str]) -> list[str]:
    """Answer the next boxes by clicking the buttons named in ``replies``; returns the texts."""
    asked: list[str] = []

    def click(box: QMessageBox) -> int:
        asked.append(box.text())
        reply = replies.pop(0)
        for button in box.buttons():
            if button.text() == reply:
                button.click()
                return 0
        raise AssertionError(f"no {reply!r} button in {[b.text() for b in box.buttons()]}")

    monkeypatch.setattr(QMessageBox, "exec", click)
    return asked


@pytest.fixture
def keep_loop_on_close(qapp: Any) -> Iterator[None]:
    """As in the app: closing the window must not stop the loop before the session ends."""
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(True)


def open_window(qtbot: Any, context: AppContext) -> MainWindow:
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    # Tests play a user who is elsewhere: finished tasks must notify.
    window.isActiveWindow = lambda: False  # type: ignore[method-assign]
    window.task_notifier._tray_available = lambda: False
    return window


@pytest.fixture
def window(qtbot: Any, context: AppContext) -> Iterator[MainWindow]:
    win = open_window(qtbot, context)
    yield win
    win.close_without_asking()


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], timeout: float = 60):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


async def until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)


def select(window: MainWindow, *task_ids: int) -> None:
    panel = window.tasks_panel
    panel.view.clearSelection()
    flags = panel.view.selectionModel().SelectionFlag
    for row in range(panel.proxy.rowCount()):
        index = panel.proxy.index(row, 0)
        if index.data(TaskIdRole) in task_ids:
            panel.view.selectionModel().select(index, flags.Select | flags.Rows)
            panel.view.selectionModel().setCurrentIndex(index, flags.NoUpdate)
    assert len(panel.selected_tasks()) == len(task_ids)


def cell(window: MainWindow, task_id: int, column: TaskColumn) -> str:
    model = window.task_model
    row = model.row_of(task_id)
    assert row is not None
    return str(model.index(row, column).data())


def test_panel_shows_the_table_from_the_first_task_and_counts_active_ones(window) -> None:
    panel = window.tasks_panel
    ledger = window.context.ledger
    assert panel.stack.currentWidget() is panel.empty_state
    assert not window.active_tasks_label.isVisible()

    task = ledger.create("kling", "text-to-audio", KLING)
    assert panel.stack.currentWidget() is panel.page and panel.view.isVisible()
    assert window.active_tasks_label.isVisible()
    assert window.active_tasks_label.text() == "1 task running"
    second = ledger.create("evolink", "generations", EVOLINK)
    assert window.active_tasks_label.text() == "2 tasks running"
    ledger.update(task.id, S.FAILED, last_error="refused")
    ledger.update(second.id, S.CANCELLED)
    assert not window.active_tasks_label.isVisible()
    assert panel.count_label.text() == "2 tasks"
    panel.state_filter_combo.setCurrentIndex(panel.state_filter_combo.findData("done"))
    assert panel.count_label.text() == "0 of 2 tasks"
    assert panel.stack.currentWidget() is panel.page  # the filter hides rows, not the table


def test_actions_wait_for_the_service(window) -> None:
    ledger = window.context.ledger
    task = ledger.create("kling", "text-to-audio", KLING)
    ledger.update(task.id, S.NEEDS_ATTENTION, last_error="no answer")
    select(window, task.id)
    panel = window.tasks_panel
    assert not panel.cancel_action.isEnabled()  # no service yet: nothing would happen
    assert not panel.check_again_action.isEnabled()
    assert panel.copy_id_action.isEnabled()
    assert task.client_key in panel.copy_task_ids()
    assert task.client_key in QApplication.clipboard().text()


def test_real_tasks_through_the_context_menu(window, async_loop, monkeypatch) -> None:
    context = window.context
    context.connections.start_sandbox(SandboxConfig(task_seconds=0.3, song_seconds=4))
    panel = window.tasks_panel
    ledger = context.ledger
    alerts: list[object] = []
    window.task_notifier._alert = lambda w, _ms: alerts.append(w)
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    resets: list[int] = []
    window.task_model.modelReset.connect(lambda: resets.append(1))

    async def scenario() -> None:
        service = context.task_service()
        service.start()
        window.attach_task_service(service)
        try:
            await submit_and_watch(window, service)
            await cancel_and_try_again(window, service, monkeypatch)
            await check_again(window, context)
        finally:
            await service.stop()
            await context.connections.aclose()

    async def submit_and_watch(window: MainWindow, service: Any) -> None:
        task = await service.submit("kling", "text-to-audio", KLING)
        assert panel.stack.currentWidget() is panel.page
        assert window.active_tasks_label.text() == "1 task running"
        assert cell(window, task.id, TaskColumn.STATE) == "Queued"
        assert cell(window, task.id, TaskColumn.TITLE) == "rain on a tin roof"
        # No engine progress yet: the bar shows the time since submitting.
        assert cell(window, task.id, TaskColumn.PROGRESS).startswith("0:0")
        await until(lambda: ledger.get(task.id).state is S.DONE, what="done")
        assert cell(window, task.id, TaskColumn.STATE) == "Done"
        assert cell(window, task.id, TaskColumn.PROGRESS) == "100%"
        elapsed = cell(window, task.id, TaskColumn.ELAPSED)
        await asyncio.sleep(1.1)
        assert cell(window, task.id, TaskColumn.ELAPSED) == elapsed  # stopped at the finish
        assert not window.active_tasks_label.isVisible()
        assert alerts == [window]  # the window was not active

        select(window, task.id)
        assert panel.reveal_action.isEnabled() and not panel.try_again_action.isEnabled()
        panel.reveal_action.trigger()
        folder = Path(opened[-1].toLocalFile())
        assert folder.is_dir() and context.archive_dir in (folder, *folder.parents)
        assert any(p.suffix for p in folder.iterdir())
        panel.copy_id_action.trigger()
        copied = QApplication.clipboard().text()
        done = ledger.get(task.id)
        assert done.remote_id and done.remote_id in copied and done.client_key in copied

    async def cancel_and_try_again(window: MainWindow, service: Any, monkeypatch: Any) -> None:
        task = await service.submit("kling", "text-to-audio", KLING)
        select(window, task.id)
        assert panel.cancel_action.isEnabled()
        asked = answer(monkeypatch, ["Keep following", "Stop following"])
        panel.cancel_action.trigger()
        assert ledger.get(task.id).state is S.SUBMITTED  # "keep following" changed nothing
        panel.cancel_action.trigger()
        assert "Stop following 1 task?" in asked[1]
        assert ledger.get(task.id).state is S.CANCELLED
        assert cell(window, task.id, TaskColumn.STATE) == "Cancelled"

        select(window, task.id)
        assert panel.try_again_action.isEnabled() and not panel.cancel_action.isEnabled()
        rows = window.task_model.rowCount()
        panel.try_again_action.trigger()
        await until(lambda: window.task_model.rowCount() == rows + 1, what="a new row")
        retry = window.task_model.task_at(0)
        assert retry.retry_of_task_id == task.id and retry.client_key != task.client_key
        await until(lambda: ledger.get(retry.id).state is S.DONE, what="retry done")
        assert ledger.get(task.id).state is S.CANCELLED

    async def check_again(window: MainWindow, context: AppContext) -> None:
        # A job the engine has, whose local deadline passed: "needs attention".
        client = context.connections.client("kling")
        sent = await client.submit("text-to-audio", KLING, client_key="checkagain0001")
        task = ledger.create("kling", "text-to-audio", KLING)
        ledger.update(task.id, S.NEEDS_ATTENTION, remote_id=sent.remote_id,
                      last_error="No answer before the deadline")  # fmt: skip
        assert cell(window, task.id, TaskColumn.STATE) == "Needs attention"
        select(window, task.id)
        panel.view.setFocus()
        assert panel.check_again_action.isEnabled()
        panel.check_again_action.trigger()  # Enter does the same (a shortcut on the view)
        await until(lambda: ledger.get(task.id).state is S.DONE, what="checked again")

    run(async_loop, scenario(), timeout=90)
    assert resets == []  # every change went in place


def test_enter_checks_again_and_ctrl_period_asks_to_cancel(window, monkeypatch, qtbot) -> None:
    ledger = window.context.ledger
    stuck = ledger.create("kling", "text-to-audio", KLING)
    ledger.update(stuck.id, S.NEEDS_ATTENTION, last_error="no answer")
    calls: list[tuple[str, int]] = []

    class Service:
        def __init__(self) -> None:
            self.events = ServiceEvents()
            self.paused_engines: dict[str, str] = {}

        async def check_again(self, task_id: int) -> TaskRecord:
            calls.append(("check", task_id))
            return ledger.get(task_id)

        def cancel(self, task_id: int) -> TaskRecord:
            calls.append(("cancel", task_id))
            return ledger.update(task_id, S.CANCELLED)

    import qasync

    loop = qasync.QEventLoop(QApplication.instance())
    asyncio.set_event_loop(loop)
    try:
        window.attach_task_service(Service())  # type: ignore[arg-type]
        select(window, stuck.id)
        view = window.tasks_panel.view
        view.setFocus()
        qtbot.keyClick(view, Qt.Key.Key_Return)
        loop.run_until_complete(asyncio.sleep(0.05))
        assert calls == [("check", stuck.id)]
        asked = answer(monkeypatch, ["Stop following"])
        qtbot.keyClick(view, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier)
        assert len(asked) == 1 and calls[-1] == ("cancel", stuck.id)
    finally:
        window.task_bridge.detach_service()
        loop.close()
        asyncio.set_event_loop(None)


def test_context_menu_lists_the_actions_of_the_selection(window) -> None:
    ledger = window.context.ledger
    task = ledger.create("kling", "text-to-audio", KLING)
    select(window, task.id)
    panel = window.tasks_panel
    panel._on_view_context_menu_requested(QPoint(4, 4))
    menus = [m for m in panel.view.findChildren(QMenu) if m.objectName() == "taskContextMenu"]
    assert menus
    names = [a.objectName() for a in menus[-1].actions() if not a.isSeparator()]
    assert names == [
        "cancelTasksAction", "checkAgainAction", "tryAgainAction", "revealFilesAction",
        "copyTaskIdAction",
    ]  # fmt: skip
    menus[-1].close()


def test_paused_engine_shows_a_banner_until_a_new_key_is_saved(
    window, async_loop, monkeypatch
) -> None:
    context = window.context
    panel = window.tasks_panel
    ledger = context.ledger
    with running_site("evolink", FAST) as site:
        monkeypatch.setenv("STUDIO_EVOLINK_BASE_URL", site.base_url)
        good = sandbox_credentials("evolink")["api_key"]
        context.credentials.set("evolink", "api_key", good)

        async def scenario() -> None:
            service = context.task_service()
            service.start()
            window.attach_task_service(service)
            try:
                task = await service.submit("evolink", "generations", EVOLINK)
                assert task.state is S.SUBMITTED
                context.credentials.set("evolink", "api_key", "sk-wrong-0123456789abcdef")
                await until(lambda: "evolink" in panel.banners, what="the pause banner")
                banner = panel.banners["evolink"]
                assert banner.isVisible()
                assert banner.label.text().startswith("<b>Evolink Seed-Audio 1.0 paused:</b>")
                assert ledger.get(task.id).state.is_active  # waiting, not failed
                banner.button.click()
                dialog = window.settings_dialog
                assert dialog is not None and dialog.isVisible()
                assert dialog.current_page().engine.id == "evolink"
                context.credentials.set("evolink", "api_key", good)
                dialog.saved.emit()
                await until(lambda: "evolink" not in panel.banners, what="the banner to go")
                await until(lambda: ledger.get(task.id).state is S.DONE, what="done")
                dialog.close()
            finally:
                await service.stop()
                await context.connections.aclose()

        run(async_loop, scenario())


def test_quit_with_running_tasks_asks_and_they_resume_next_start(
    qtbot, context, async_loop, monkeypatch, keep_loop_on_close
) -> None:
    with running_site("kling", FAST) as site:
        monkeypatch.setenv("STUDIO_KLING_BASE_URL", site.base_url)
        for name, value in sandbox_credentials("kling").items():
            context.credentials.set("kling", name, value)
        first = open_window(qtbot, context)
        closed = asyncio.Event()
        asked = answer(monkeypatch, ["Cancel", "Quit"])

        async def quit_while_running() -> int:
            session = asyncio.ensure_future(run_session(context, first, closed))
            await until(lambda: first.task_bridge.service is not None, what="service")
            service = context.task_service()
            task = await service.submit("kling", "text-to-audio", KLING)
            assert task.state is S.SUBMITTED
            assert not first.close()  # "Cancel": the window stays
            assert first.isVisible()
            assert first.close()  # "Quit"
            closed.set()
            await session
            return task.id

        task_id = run(async_loop, quit_while_running())
        assert asked == ["1 task is still running; it will resume next time. Quit?"] * 2
        assert context.ledger.get(task_id).state is S.SUBMITTED  # persisted, not lost

        # The next start: a new session on the same data folder picks the task up.
        again = open_context(resolve_paths())
        try:
            second = open_window(qtbot, again)
            assert second.task_model.row_of(task_id) is not None
            assert second.active_tasks_label.text() == "1 task running"
            second_closed = asyncio.Event()

            async def resume() -> None:
                session = asyncio.ensure_future(run_session(again, second, second_closed))
                await until(lambda: again.ledger.get(task_id).state is S.DONE, what="resumed")
                assert cell(second, task_id, TaskColumn.STATE) == "Done"
                second.close()  # nothing running: no question
                second_closed.set()
                await session

            run(async_loop, resume())
            assert len(asked) == 2
        finally:
            again.close()
        assert posts(site) == 1  # resumed by polling, never sent again


def test_sigterm_closes_without_asking_and_keeps_the_tasks(window) -> None:
    class Service:
        def __init__(self) -> None:
            self.events = ServiceEvents()
            self.paused_engines: dict[str, str] = {}

    task = window.context.ledger.create("kling", "text-to-audio", KLING)
    window.attach_task_service(Service())  # type: ignore[arg-type]
    # The app's SIGTERM handler calls this; any dialog would fail the test (autouse fixture).
    assert window.close_without_asking()
    assert not window.isVisible()
    assert window.context.ledger.get(task.id).state is S.SUBMITTING
