"""The main window: four dockable panels, menus, status bar, and remembered layout."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QWidget,
)

from studio import APP_NAME, __version__
from studio.context import AppContext
from studio.core.task_states import TaskState
from studio.engines.catalog import ENGINES
from studio.engines.connections import Route
from studio.qt.panels.composer_panel import ComposerPanel
from studio.qt.panels.library_panel import LibraryPanel
from studio.qt.panels.player_panel import PlayerPanel
from studio.qt.panels.tasks_panel import TasksPanel, confirm
from studio.qt.resources import icon
from studio.qt.settings_dialog import SettingsDialog
from studio.qt.task_bridge import TaskBridge, TaskNotifier
from studio.qt.task_model import TaskTableModel
from studio.tasks.ledger import TaskChange, TaskRecord

if TYPE_CHECKING:
    from studio.tasks.service import TaskService

log = logging.getLogger(__name__)

_TAKES_SETTLED = frozenset(
    {TaskState.DONE, TaskState.EXPIRED, TaskState.NEEDS_ATTENTION, TaskState.CANCELLED}
)

# Bump when docks are added or renamed, so an old saved layout is not half-applied.
LAYOUT_VERSION = 1


class MainWindow(QMainWindow):
    """Hosts the panels; restores geometry and dock layout from the UI state file."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(icon("studio"))
        self.setAccessibleName(f"{APP_NAME} main window")
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )
        self.resize(1360, 860)
        self.settings_dialog: SettingsDialog | None = None
        self._closed = False
        # SIGTERM and the session's own shutdown close without the quit question.
        self._ask_before_quit = True

        self.composer_panel = ComposerPanel(context.drafts)
        self.player_panel = PlayerPanel()
        self.library_panel = LibraryPanel(context.archive_dir, context.takes)
        # The ledger's rows exist before the task service starts (on the loop, after
        # the window shows): the table shows them at once, actions wait for the service.
        self.task_bridge = TaskBridge(context.ledger, self)
        self.task_bridge.task_changed.connect(self._on_task_bridge_task_changed)
        self.task_model = TaskTableModel(context.ledger, parent=self)
        self.task_model.setObjectName("taskTableModel")
        self.tasks_panel = TasksPanel(self.task_bridge, self.task_model, context.takes)
        self.tasks_panel.settings_requested.connect(self.open_settings)
        self.tasks_panel.status_message.connect(self._on_tasks_panel_status_message)
        self.task_notifier = TaskNotifier(self, raise_window=self.raise_window, parent=self)
        self.task_model.task_settled.connect(self._on_task_model_task_settled)
        self.composer_panel.settings_requested.connect(self.open_settings)
        self.composer_panel.sandbox_toggled.connect(self.set_sandbox_enabled)
        self.composer_panel.draft_saved.connect(self._on_composer_draft_saved)

        self.composer_dock = self._dock("composerDock", "Composer", self.composer_panel)
        self.player_dock = self._dock("playerDock", "Player", self.player_panel)
        self.library_dock = self._dock("libraryDock", "Library", self.library_panel)
        self.tasks_dock = self._dock("tasksDock", "Tasks", self.tasks_panel)
        self.docks = [self.composer_dock, self.player_dock, self.library_dock, self.tasks_dock]
        self._place_docks()
        self._default_state = self.saveState(LAYOUT_VERSION)

        self._build_status_bar()
        self._build_menus()
        self.refresh_engine_status()
        self.restore_layout()

    # ----------------------------------------------------------------- building
    def _dock(self, name: str, title: str, panel: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setAccessibleName(f"{title} panel")
        dock.setWidget(panel)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        return dock

    def _place_docks(self) -> None:
        """The default layout: composer left, player on top right, library and tasks under it."""
        for dock in self.docks:
            dock.setFloating(False)
            dock.show()
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.composer_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.player_dock)
        self.splitDockWidget(self.composer_dock, self.player_dock, Qt.Orientation.Horizontal)
        self.splitDockWidget(self.player_dock, self.library_dock, Qt.Orientation.Vertical)
        self.splitDockWidget(self.library_dock, self.tasks_dock, Qt.Orientation.Horizontal)
        self.resizeDocks(
            [self.composer_dock, self.player_dock], [420, 940], Qt.Orientation.Horizontal
        )
        self.resizeDocks(
            [self.player_dock, self.library_dock], [360, 440], Qt.Orientation.Vertical
        )
        self.resizeDocks(
            [self.library_dock, self.tasks_dock], [380, 560], Qt.Orientation.Horizontal
        )

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setObjectName("statusBar")
        bar.setAccessibleName("Status bar")
        self.engine_status_label = QLabel(self)
        self.engine_status_label.setObjectName("engineStatusLabel")
        self.keyring_status_label = QLabel(self)
        self.keyring_status_label.setObjectName("keyringStatusLabel")
        credentials = self.context.credentials
        if credentials.is_secure:
            self.keyring_status_label.setText("Keys: system keyring")
            self.keyring_status_label.setToolTip(f"Keyring backend: {credentials.backend_name}")
        else:
            self.keyring_status_label.setText("Keys: this session only")
            self.keyring_status_label.setToolTip(credentials.notice or "")
        self.active_tasks_label = QLabel(self)
        self.active_tasks_label.setObjectName("activeTasksLabel")
        self.active_tasks_label.setToolTip("Tasks being submitted, followed or saved")
        self.task_model.active_count_changed.connect(self._on_task_model_active_count_changed)
        self._on_task_model_active_count_changed(self.task_model.active_count)
        bar.addPermanentWidget(self.active_tasks_label)
        bar.addPermanentWidget(self.engine_status_label)
        bar.addPermanentWidget(self.keyring_status_label)

    def _action(
        self,
        menu: QMenu,
        name: str,
        text: str,
        slot: object,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        bar.setObjectName("menuBar")
        keys = QKeySequence.StandardKey

        file_menu = bar.addMenu("&File")
        file_menu.setObjectName("fileMenu")
        self.settings_action = self._action(
            file_menu, "settingsAction", "&Settings…", self.open_settings, keys.Preferences,
            "Engine keys, base URLs and the archive folder",
        )
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        file_menu.addSeparator()
        self._action(file_menu, "quitAction", "&Quit", self.close, keys.Quit, "Quit Studio")

        edit_menu = bar.addMenu("&Edit")
        edit_menu.setObjectName("editMenu")
        for name, text, shortcut in (
            ("undo", "&Undo", keys.Undo),
            ("redo", "&Redo", keys.Redo),
            ("cut", "Cu&t", keys.Cut),
            ("copy", "&Copy", keys.Copy),
            ("paste", "&Paste", keys.Paste),
            ("selectAll", "Select &All", keys.SelectAll),
        ):
            action = self._action(
                edit_menu, f"{name}Action", text,
                lambda _checked=False, method=name: self._on_edit_action(method),
            )
            # The editors handle these keys themselves; the menu shows them and
            # forwards clicks to whichever editor has focus.
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            if name == "redo":
                edit_menu.addSeparator()

        view_menu = bar.addMenu("&View")
        view_menu.setObjectName("viewMenu")
        for index, dock in enumerate(self.docks, start=1):
            toggle = dock.toggleViewAction()
            toggle.setObjectName(f"{dock.objectName()}ToggleAction")
            toggle.setShortcut(QKeySequence(f"Ctrl+{index}"))
            toggle.setStatusTip(f"Show or hide the {dock.windowTitle()} panel")
            view_menu.addAction(toggle)
        view_menu.addSeparator()
        self._action(
            view_menu, "resetLayoutAction", "&Reset layout", self.reset_layout, None,
            "Put every panel back in its original place",
        )

        self.engines_menu = bar.addMenu("E&ngines")
        self.engines_menu.setObjectName("enginesMenu")
        self.engine_actions: dict[str, QAction] = {}
        for engine in ENGINES:
            self.engine_actions[engine.id] = self._action(
                self.engines_menu, f"{engine.id}EngineAction", engine.name,
                lambda _checked=False, engine_id=engine.id: self.open_settings(engine_id),
                None, engine.summary,
            )
        self.engines_menu.addSeparator()
        self.sandbox_action = self._action(
            self.engines_menu, "sandboxAction", "Offline &sandbox (demo audio)",
            self.set_sandbox_enabled, None,
            "Engines without a key answer from this computer with synthesized demo audio",
        )
        self.sandbox_action.setCheckable(True)

        help_menu = bar.addMenu("&Help")
        help_menu.setObjectName("helpMenu")
        self._action(help_menu, "openLogsAction", "Open &logs folder", self.open_logs_folder,
                     None, "Show Studio's log files in the file manager")
        self._action(help_menu, "openDataAction", "Open &data folder", self.open_data_folder,
                     None, "Show the folder holding the library database and backups")
        help_menu.addSeparator()
        self._action(help_menu, "aboutAction", f"&About {APP_NAME}", self.show_about, None,
                     f"Version and folders of {APP_NAME}")

    # ----------------------------------------------------------------- state
    def _ui_state(self) -> QSettings:
        return QSettings(str(self.context.paths.ui_state_file), QSettings.Format.IniFormat)

    def restore_layout(self) -> bool:
        """Restore geometry and docks saved by the last run; False when there was none."""
        state = self._ui_state()
        geometry = state.value("mainWindow/geometry")
        docks = state.value("mainWindow/state")
        restored = False
        if isinstance(geometry, QByteArray):
            restored = self.restoreGeometry(geometry)
        if isinstance(docks, QByteArray):
            restored = self.restoreState(docks, LAYOUT_VERSION) and restored
        return restored

    def save_layout(self) -> None:
        state = self._ui_state()
        state.setValue("mainWindow/geometry", self.saveGeometry())
        state.setValue("mainWindow/state", self.saveState(LAYOUT_VERSION))
        state.sync()

    def reset_layout(self) -> None:
        self._place_docks()
        self.restoreState(self._default_state, LAYOUT_VERSION)

    def refresh_engine_status(self) -> None:
        """Say where each engine's requests go, in the menu, status bar and composer."""
        connections = self.context.connections
        labels = {
            Route.VENDOR: "ready",
            Route.SANDBOX: "offline sandbox",
            Route.UNAVAILABLE: "needs a key",
        }
        vendor: list[str] = []
        sandbox: list[str] = []
        for engine in ENGINES:
            route = connections.route(engine.id)
            self.engine_actions[engine.id].setText(f"{engine.name} ({labels[route]})…")
            if route is Route.VENDOR:
                vendor.append(engine.name)
            elif route is Route.SANDBOX:
                sandbox.append(engine.name)
        sandbox_on = connections.sandbox is not None
        self.sandbox_action.setChecked(sandbox_on)
        if sandbox:
            status = f"Engines: {len(vendor)} with your key, {len(sandbox)} on the offline sandbox"
        else:
            status = f"Engines ready: {len(vendor)} of {len(ENGINES)}"
        self.engine_status_label.setText(status)
        self.composer_panel.show_engine_routes(vendor, sandbox, sandbox_on)

    def set_sandbox_enabled(self, enabled: bool) -> None:
        """Start or stop the offline sandbox, and remember the choice."""
        ctx = self.context
        try:
            if enabled:
                ctx.connections.start_sandbox()
            else:
                ctx.connections.stop_sandbox()
        except OSError as exc:
            self.statusBar().showMessage(f"The offline sandbox could not start: {exc}", 8000)
            enabled = False
        ctx.preferences.use_sandbox = enabled
        try:
            ctx.preferences_store.save(ctx.preferences)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not save preferences: {exc}", 8000)
        self.refresh_engine_status()
        if enabled:
            self.statusBar().showMessage("Offline sandbox on: demo audio, no account", 5000)

    # ----------------------------------------------------------------- actions
    def open_settings(self, engine_id: str | None = None) -> SettingsDialog:
        """Show the settings dialog (non-modal, one at a time), optionally on one engine."""
        if self.settings_dialog is None:
            ctx = self.context
            dialog = SettingsDialog(
                ctx.paths, ctx.preferences, ctx.preferences_store, ctx.credentials, self
            )
            dialog.saved.connect(self._on_settings_saved)
            dialog.finished.connect(self._on_settings_finished)
            self.settings_dialog = dialog
        if isinstance(engine_id, str):
            self.settings_dialog.show_engine(engine_id)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()
        return self.settings_dialog

    def _on_settings_saved(self) -> None:
        self.library_panel.set_archive_dir(self.context.archive_dir)
        self.refresh_engine_status()
        self.statusBar().showMessage("Settings saved", 4000)
        # A new key may be what a paused engine waits for; if it is still refused,
        # the next poll pauses the engine again and the banner comes back.
        service = self.task_bridge.service
        if service is not None:
            for engine in list(service.paused_engines):
                service.resume_engine(engine)

    # ----------------------------------------------------------------- tasks
    def attach_task_service(self, service: TaskService) -> None:
        """Let the tasks panel act through the running service (call on the loop)."""
        self.task_bridge.attach_service(service)

    def _on_task_model_active_count_changed(self, count: int) -> None:
        label = self.active_tasks_label
        label.setText("1 task running" if count == 1 else f"{count} tasks running")
        label.setVisible(count > 0)

    def _on_task_model_task_settled(self, task: TaskRecord) -> None:
        self.task_notifier.notify(task)

    def _on_tasks_panel_status_message(self, message: str) -> None:
        self.statusBar().showMessage(message, 5000)

    def close_without_asking(self) -> bool:
        """Close at once, leaving running tasks to resume next time (SIGTERM, shutdown)."""
        self._ask_before_quit = False
        return self.close()

    def _may_quit(self) -> bool:
        """Ask before quitting while tasks run (U2); they persist and resume either way."""
        if not self._ask_before_quit or self.task_bridge.service is None:
            return True
        active = len(self.context.ledger.active())
        if not active:
            return True
        if active == 1:
            text = "1 task is still running; it will resume next time. Quit?"
        else:
            text = f"{active} tasks are still running; they will resume next time. Quit?"
        return confirm(self, f"Quit {APP_NAME}?", text, "Quit", "Cancel")

    def _on_settings_finished(self, _result: int) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def _on_task_bridge_task_changed(self, change: TaskChange) -> None:
        # A task that stops archiving has added (or updated) takes: list them.
        if "state" in change.changed and change.task.state in _TAKES_SETTLED:
            self.library_panel.refresh()

    def _on_composer_draft_saved(self, message: str) -> None:
        self.statusBar().showMessage(message, 3000)

    def _on_edit_action(self, method: str) -> None:
        widget = QApplication.focusWidget()
        handler = getattr(widget, method, None)
        if callable(handler):
            handler()

    def open_logs_folder(self) -> bool:
        return self._open_folder(self.context.paths.log_dir)

    def open_data_folder(self) -> bool:
        return self._open_folder(self.context.paths.data_dir)

    def _open_folder(self, folder: object) -> bool:
        opened = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        if not opened:
            self.statusBar().showMessage(f"Could not open {folder}", 6000)
        return opened

    def about_text(self) -> str:
        paths = self.context.paths
        return (
            f"<h3>{APP_NAME} {__version__}</h3>"
            "<p>Compose with cloud AI audio engines: songs, sound effects and voice, "
            "every result archived locally the moment it exists.</p>"
            f"<p>Data: {paths.data_dir}<br>Logs: {paths.log_dir}<br>"
            f"Archive: {self.context.archive_dir}<br>"
            f"Keyring: {self.context.credentials.backend_name}</p>"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", self.about_text())

    def raise_window(self) -> None:
        """Bring the window to the front (a second `studio` asked for it)."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_quit():
            event.ignore()
            return
        self.task_bridge.close()
        self.composer_panel.save_draft()
        self.save_layout()
        log.info("main window closed")
        super().closeEvent(event)
