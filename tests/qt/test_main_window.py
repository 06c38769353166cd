"""The main window: panels in place with real empty states, menus, remembered layout."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from studio.context import AppContext, open_context
from studio.engines.catalog import ENGINES
from studio.library.drafts import DraftStore
from studio.paths import resolve_paths
from studio.qt.main_window import MainWindow


def make_window(qtbot, context: AppContext) -> MainWindow:
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_every_panel_is_present_docked_and_explains_itself(qtbot, context) -> None:
    window = make_window(qtbot, context)
    docks = {dock.objectName(): dock for dock in window.findChildren(QDockWidget)}
    assert set(docks) == {"composerDock", "playerDock", "libraryDock", "tasksDock"}
    for dock in docks.values():
        assert dock.isVisible() and not dock.isFloating()
        assert window.dockWidgetArea(dock) != Qt.DockWidgetArea.NoDockWidgetArea
    assert window.dockWidgetArea(docks["composerDock"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    for panel in (window.tasks_panel, window.library_panel, window.player_panel):
        empty = panel.empty_state
        assert panel.stack.currentWidget() is empty and empty.isVisible()
        assert empty.title_label.text() and len(empty.body_label.text()) > 60
    assert str(context.archive_dir) in window.library_panel.empty_state.body_label.text()
    # No engine has a key yet: the composer says what to do first.
    assert window.composer_panel.setup_banner.isVisible()
    assert window.engine_status_label.text() == "Engines ready: 0 of 4"
    assert window.statusBar().isVisible()


def test_menus_have_every_promised_entry(qtbot, context) -> None:
    window = make_window(qtbot, context)
    titles = [action.text() for action in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "E&ngines", "&Help"]
    view = window.menuBar().actions()[2].menu()
    view_items = [action.text() for action in view.actions() if not action.isSeparator()]
    assert view_items == ["Composer", "Player", "Library", "Tasks", "&Reset layout"]
    engines = window.menuBar().actions()[3].menu()
    names = [action.objectName() for action in engines.actions() if not action.isSeparator()]
    assert names == [f"{engine.id}EngineAction" for engine in ENGINES] + ["sandboxAction"]
    help_items = [action.objectName() for action in window.menuBar().actions()[4].menu().actions()]
    assert {"openLogsAction", "aboutAction"} <= set(help_items)
    assert str(context.paths.log_dir) in window.about_text()


def test_view_menu_toggles_and_reset_layout_restores_panels(qtbot, context) -> None:
    window = make_window(qtbot, context)
    window.tasks_dock.toggleViewAction().trigger()
    assert not window.tasks_dock.isVisible()
    window.library_dock.setFloating(True)
    window.reset_layout()
    assert window.tasks_dock.isVisible()
    assert not window.library_dock.isFloating()


def test_geometry_and_dock_layout_survive_a_restart(qtbot, context) -> None:
    window = make_window(qtbot, context)
    window.resize(760, 540)  # the offscreen screen is 800×600
    window.tasks_dock.hide()
    window.close()
    assert context.paths.ui_state_file.exists()

    again = make_window(qtbot, context)
    assert not again.tasks_dock.isVisible()
    assert again.composer_dock.isVisible()
    assert (again.width(), again.height()) == (760, 540)


def test_composer_text_is_autosaved_and_comes_back(qtbot, context) -> None:
    window = make_window(qtbot, context)
    composer = window.composer_panel
    qtbot.keyClicks(composer.title_edit, "Night Drive")
    composer.prompt_edit.setPlainText("synthwave, 100 bpm, gated reverb drums")
    composer.lyrics_edit.setPlainText("[Verse 1]\nNeon on the wet road")
    qtbot.waitUntil(lambda: not composer.has_unsaved_changes, timeout=3000)
    assert "characters" in composer.prompt_count.text()

    draft = DraftStore(context.library).load_latest()
    assert draft is not None
    assert (draft.title, draft.prompt) == ("Night Drive", "synthwave, 100 bpm, gated reverb drums")
    assert draft.lyrics.startswith("[Verse 1]")

    # A new session (same data folder) opens on the same draft.
    window.close()
    context.close()
    reopened = open_context(resolve_paths())
    try:
        second = make_window(qtbot, reopened)
        assert second.composer_panel.lyrics_edit.toPlainText() == "[Verse 1]\nNeon on the wet road"
        assert second.composer_panel.title_edit.text() == "Night Drive"
        second.close()
    finally:
        reopened.close()


def test_every_interactive_widget_has_an_object_and_accessible_name(qtbot, context) -> None:
    window = make_window(qtbot, context)
    dialog = window.open_settings()
    qtbot.addWidget(dialog)
    assert dialog.parent() is window
    interactive = (QAbstractButton, QLineEdit, QPlainTextEdit, QComboBox, QAbstractItemView)
    missing = []
    for root in (window,):
        for widget in root.findChildren(QWidget):
            if not isinstance(widget, interactive):
                continue
            if widget.objectName().startswith("qt_"):  # Qt's own internals
                continue
            if widget.window().windowType() == Qt.WindowType.Popup:  # a combo's own list
                continue
            if not widget.objectName() or not widget.accessibleName():
                parent = widget.parent()
                missing.append(
                    f"{type(widget).__name__} {widget.objectName()!r} "
                    f"in {type(parent).__name__} {parent.objectName()!r}"
                )
    assert not missing, "\n".join(missing)


def test_engine_menu_opens_settings_on_that_engine(qtbot, context) -> None:
    window = make_window(qtbot, context)
    window.engine_actions["kling"].trigger()
    dialog = window.settings_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.current_page().engine.id == "kling"
    assert "needs a key" in window.engine_actions["kling"].text()


def test_configured_engine_shows_as_ready(qtbot, context, isolated) -> None:
    context.credentials.set("ttapi", "api_key", "tt-0123456789abcdef")
    window = make_window(qtbot, context)
    assert window.engine_status_label.text() == "Engines ready: 1 of 4"
    assert "ready" in window.engine_actions["ttapi"].text()
    assert not window.composer_panel.setup_banner.isVisible()


def test_sandbox_can_stand_in_for_engines_without_a_key(qtbot, context) -> None:
    context.credentials.set("kling", "api_key", "kl-0123456789abcdef")
    window = make_window(qtbot, context)
    composer = window.composer_panel
    assert not composer.setup_banner.isVisible()  # one real engine, sandbox off

    window.sandbox_action.trigger()
    try:
        sandbox = context.connections.sandbox
        assert sandbox is not None
        assert window.sandbox_action.isChecked()
        expected = "Engines: 1 with your key, 3 on the offline sandbox"
        assert window.engine_status_label.text() == expected
        assert "(offline sandbox)" in window.engine_actions["ttapi"].text()
        assert "(ready)" in window.engine_actions["kling"].text()
        assert composer.setup_banner.isVisible()
        assert "demo audio" in composer.setup_label.text()
        assert context.connections.base_url("ttapi") == sandbox.base_url("ttapi")
        assert context.connections.base_url("kling") == "https://api-singapore.klingai.com"
        assert context.preferences_store.load().use_sandbox is True
    finally:
        composer.sandbox_button.click()  # "Turn off sandbox"
    assert context.connections.sandbox is None
    assert not window.sandbox_action.isChecked()
    assert context.preferences_store.load().use_sandbox is False


def test_first_run_offers_the_sandbox(qtbot, context) -> None:
    window = make_window(qtbot, context)
    composer = window.composer_panel
    assert composer.sandbox_button.text() == "Try the offline sandbox"
    assert "offline" in composer.setup_label.text()


def test_library_lists_takes_and_refreshes_when_a_task_settles(qtbot, context) -> None:
    from studio.core.task_states import TaskState

    window = make_window(qtbot, context)
    library = window.library_panel
    assert library.stack.currentWidget() is library.empty_state
    task = context.ledger.create("ttapi", "music", {"sound_prompt": "x"})
    context.ledger.update(task.id, TaskState.SUBMITTED, remote_id="r")
    context.takes.add_take(
        engine="ttapi", operation="music", task_id=task.id, remote_id="m1",
        title="Night Drive", duration_s=125.4, archive_state="archived",
    )
    context.ledger.update(task.id, TaskState.ARCHIVING)
    assert library.stack.currentWidget() is library.empty_state  # not settled yet
    context.ledger.update(task.id, TaskState.DONE)
    qtbot.waitUntil(lambda: library.stack.currentWidget() is library.table, timeout=2000)
    row = [library.table.item(0, column).text() for column in range(5)]
    assert row == ["Night Drive", "TTAPI Producer", "music", "2:05", "Archived"]
