"""Tasks panel: every generation in flight or finished, fed by the task service.

GUI thread only. The table is a view of :class:`TaskTableModel` (rows follow the
ledger's change events); actions go to the :class:`TaskService` once it runs,
coroutines through :func:`spawn`, so an error reaches the error dialog (U1).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QPoint, QRect, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QColor, QDesktopServices, QKeySequence, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio.core.task_states import ACTIVE, TaskState, can_transition
from studio.engines.catalog import ENGINES
from studio.library.takes import TakeStore
from studio.qt.async_tasks import spawn
from studio.qt.empty_state import EmptyStateView
from studio.qt.panels.stacked_panel import StackedPanel
from studio.qt.task_bridge import TaskBridge
from studio.qt.task_model import (
    AnyIndex,
    ProgressRole,
    StateRole,
    TaskColumn,
    TaskFilter,
    TaskFilterProxyModel,
    TaskRecordRole,
    TaskTableModel,
)
from studio.tasks.ledger import TaskRecord

if TYPE_CHECKING:
    from studio.tasks.service import TaskService

log = logging.getLogger(__name__)

_ENGINE_NAMES = {engine.id: engine.name for engine in ENGINES}
CHECKABLE = frozenset({TaskState.NEEDS_ATTENTION, TaskState.EXPIRED})
REVEALABLE = frozenset({TaskState.DONE, TaskState.EXPIRED, TaskState.NEEDS_ATTENTION})
RETRYABLE = frozenset({TaskState.FAILED, TaskState.CANCELLED, TaskState.NEEDS_ATTENTION})
# Widths that fit "Needs attention", "text-to-audio" and "1:02:03"; the error column stretches.
# The title fits between these, beside the columns that say how a task is doing.
TITLE_MIN, TITLE_MAX = 120, 420
FIT_BESIDE_TITLE = (TaskColumn.ENGINE, TaskColumn.STATE, TaskColumn.PROGRESS, TaskColumn.ELAPSED)
FIT_ALSO = (TaskColumn.OPERATION, TaskColumn.COST)
ERROR_ROOM = 200
_STATE_VALUES = frozenset(state.value for state in TaskState)
COLUMN_WIDTHS = {
    TaskColumn.ENGINE: 92,
    TaskColumn.TITLE: 200,
    TaskColumn.STATE: 136,
    TaskColumn.PROGRESS: 96,
    TaskColumn.ELAPSED: 64,
    TaskColumn.OPERATION: 100,
    TaskColumn.COST: 80,
}


def cancellable(task: TaskRecord) -> bool:
    """Whether "cancel" (stop following) means anything for the task now."""
    return task.state is not TaskState.CANCELLED and can_transition(task.state, TaskState.CANCELLED)


def confirm(parent: QWidget, title: str, text: str, accept: str, reject: str = "Cancel") -> bool:
    """Ask a yes/no question with verbs on the buttons; True when ``accept`` was chosen."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                      parent)  # fmt: skip
    box.setObjectName("confirmDialog")
    yes = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
    no = box.addButton(reject, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no)
    box.setEscapeButton(no)
    box.exec()
    return box.clickedButton() is yes


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a bar: the engine's fraction, or busy when it gives none.

    A busy bar is an empty groove with a block that moves at each clock tick and the
    elapsed time as its label: alive, but never a made-up fraction.
    """

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        state = index.data(StateRole)
        task_state = TaskState(state) if state in _STATE_VALUES else None
        if task_state not in ACTIVE and task_state is not TaskState.DONE:
            super().paint(painter, option, index)
            return
        # The row's background and selection first, without the text.
        item = QStyleOptionViewItem(option)
        self.initStyleOption(item, index)
        item.text = ""
        widget: QWidget | None = option.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, item, painter, widget)

        bar = QStyleOptionProgressBar()
        if widget is not None:
            bar.initFrom(widget)
        bar.rect = option.rect.adjusted(3, 3, -3, -3)  # type: ignore[attr-defined]
        bar.state = option.state | QStyle.StateFlag.State_Horizontal  # type: ignore[attr-defined]
        bar.textVisible = True
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.minimum, bar.maximum = 0, 100
        progress = index.data(ProgressRole)
        if task_state is TaskState.DONE or isinstance(progress, float | int):
            fraction = 1.0 if task_state is TaskState.DONE else float(progress)
            bar.progress = max(0, min(100, round(fraction * 100)))
            style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
            return
        bar.progress = 0
        style.drawControl(QStyle.ControlElement.CE_ProgressBarGroove, bar, painter, widget)
        groove = bar.rect.adjusted(2, 2, -2, -2)
        block = max(6, groove.width() // 4)
        step = int(time.monotonic()) % 6  # there and back in six ticks
        position = step if step <= 3 else 6 - step
        left = groove.left() + (groove.width() - block) * position // 3
        color = QColor(option.palette.highlight().color())  # type: ignore[attr-defined]
        color.setAlpha(90)
        painter.fillRect(QRect(left, groove.top(), block, groove.height()), color)
        style.drawControl(QStyle.ControlElement.CE_ProgressBarLabel, bar, painter, widget)


class TaskTableView(QTableView):
    """The task table; Edit ▸ Copy (which calls ``copy()`` on the focus widget) copies ids.

    The title column takes the width the others leave (within limits) until the
    user sizes it by hand, so a narrow dock still shows each task's state.
    """

    def __init__(self, on_copy: Callable[[], object], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_copy = on_copy
        self._fitting = False
        self.title_sized_by_user = False

    def copy(self) -> None:
        self._on_copy()

    def watch_title_width(self) -> None:
        """Call once the header exists: a manual resize of the title stops the fitting."""
        self.horizontalHeader().sectionResized.connect(self._on_header_section_resized)

    def _on_header_section_resized(self, section: int, _old: int, _new: int) -> None:
        if section == TaskColumn.TITLE and not self._fitting:
            self.title_sized_by_user = True

    def fit_title(self) -> None:
        if self.title_sized_by_user:
            return
        header = self.horizontalHeader()
        room = self.viewport().width()
        beside = sum(header.sectionSize(c) for c in FIT_BESIDE_TITLE)
        every = beside + sum(header.sectionSize(c) for c in FIT_ALSO) + ERROR_ROOM
        # Everything when it fits; else the columns that say how a task is doing.
        width = room - every if room - every >= TITLE_MIN else room - beside
        width = max(TITLE_MIN, min(TITLE_MAX, width))
        self._fitting = True
        try:
            header.resizeSection(TaskColumn.TITLE, width)
        finally:
            self._fitting = False

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_title()


class PausedEngineBanner(QFrame):
    """ "TTAPI Producer paused: …" with a button opening Settings on that engine."""

    def __init__(self, engine: str, message: str, open_settings: Callable[[str], object],
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.engine = engine
        self.setObjectName(f"pausedBanner_{engine}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(self.backgroundRole(), palette.color(palette.ColorRole.ToolTipBase))
        palette.setColor(self.foregroundRole(), palette.color(palette.ColorRole.ToolTipText))
        self.setPalette(palette)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        warning = QLabel(self)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        warning.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size)
        )
        layout.addWidget(warning)
        name = _ENGINE_NAMES.get(engine, engine)
        self.label = QLabel(f"<b>{name} paused:</b> the key was refused. "
                            "Its tasks wait and go on once a new key is saved.", self)  # fmt: skip
        self.label.setObjectName(f"pausedBannerLabel_{engine}")
        self.label.setWordWrap(True)
        self.label.setToolTip(message)
        self.setAccessibleName(f"{name} paused")
        self.setAccessibleDescription(message)
        layout.addWidget(self.label, 1)
        self.button = QPushButton("Open Settings", self)
        self.button.setObjectName(f"pausedBannerSettingsButton_{engine}")
        self.button.setAccessibleName(f"Open Settings for {name}")
        self.button.setToolTip(f"Enter a new key for {name}")
        self.button.clicked.connect(lambda _checked=False: open_settings(engine))
        layout.addWidget(self.button)


class TasksPanel(StackedPanel):
    """Shows the task ledger; until a task exists, explains what will appear here.

    Args:
        bridge: the ledger's and service's events as signals.
        model: the task table model (fed by ``bridge.task_changed`` here).
        takes: the takes store, to find a task's files.
        open_url: opens a folder in the file manager (``QDesktopServices.openUrl``).
    """

    settings_requested = Signal(str)  # engine id: open Settings on it
    status_message = Signal(str)  # a short note for the status bar

    def __init__(
        self,
        bridge: TaskBridge,
        model: TaskTableModel,
        takes: TakeStore,
        *,
        open_url: Callable[[QUrl], bool] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        empty = EmptyStateView(
            "tasksEmptyState",
            "tasks",
            "No tasks yet",
            "Every generation you start from the Composer appears here with its engine, "
            "progress and cost. Results are downloaded to your archive folder the moment "
            "they are ready, so an expiring engine link never costs you a take.",
        )
        super().__init__("tasks", "Tasks", empty, parent)
        self.bridge = bridge
        self.model = model
        self._takes = takes
        # Looked up at call time, so a test's monkeypatch of QDesktopServices applies.
        self._open_url = open_url or (lambda url: QDesktopServices.openUrl(url))
        self.proxy = TaskFilterProxyModel(self)
        self.proxy.setObjectName("taskFilterProxyModel")
        self.proxy.setSourceModel(model)
        self.banners: dict[str, PausedEngineBanner] = {}

        self.page = QWidget(self)
        self.page.setObjectName("tasksPage")
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self._banner_box = QVBoxLayout()
        self._banner_box.setSpacing(4)
        layout.addLayout(self._banner_box)
        layout.addLayout(self._build_toolbar())
        layout.addWidget(self._build_view(), 1)
        self.stack.addWidget(self.page)
        self._build_actions()

        bridge.task_changed.connect(model.apply_change)
        bridge.engine_paused.connect(self._on_bridge_engine_paused)
        bridge.engine_resumed.connect(self._on_bridge_engine_resumed)
        bridge.service_attached.connect(lambda _service: self.update_actions())
        model.rowsInserted.connect(self._on_model_rows_changed)
        model.modelReset.connect(self._on_model_rows_changed)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):  # fmt: skip
            signal.connect(self._update_count)
        # A selected task that changes state changes which actions apply.
        model.dataChanged.connect(self._on_model_data_changed)
        self._on_model_rows_changed()

    # ------------------------------------------------------------------ building
    def _build_toolbar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.state_filter_combo = QComboBox(self.page)
        self.state_filter_combo.setObjectName("taskStateFilterCombo")
        self.state_filter_combo.setAccessibleName("Show tasks")
        self.state_filter_combo.setToolTip(
            "Which tasks to list: in progress, done, failed (with those that need "
            "attention, expired or were cancelled), or all"
        )
        for text, which in (
            ("All tasks", TaskFilter.ALL),
            ("Active", TaskFilter.ACTIVE),
            ("Done", TaskFilter.DONE),
            ("Failed or stopped", TaskFilter.FAILED),
        ):
            self.state_filter_combo.addItem(text, which.value)  # fmt: skip
        self.state_filter_combo.currentIndexChanged.connect(self._on_state_filter_changed)
        self.engine_filter_combo = QComboBox(self.page)
        self.engine_filter_combo.setObjectName("taskEngineFilterCombo")
        self.engine_filter_combo.setAccessibleName("Engine filter")
        self.engine_filter_combo.setToolTip("List the tasks of one engine only")
        self.engine_filter_combo.addItem("All engines", "")
        for engine in ENGINES:
            self.engine_filter_combo.addItem(engine.name, engine.id)
        self.engine_filter_combo.currentIndexChanged.connect(self._on_engine_filter_changed)
        for combo in (self.state_filter_combo, self.engine_filter_combo):
            # A narrow dock must stay narrow: the combos shrink and elide their text.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(6)
        self.count_label = QLabel(self.page)
        self.count_label.setObjectName("taskCountLabel")
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # No "Show:"/"Engine:" labels: the first entries ("All tasks", "All engines")
        # say what each combo is, and the dock stays narrow enough to sit beside the library.
        bar.addWidget(self.state_filter_combo)
        bar.addWidget(self.engine_filter_combo)
        bar.addWidget(self.count_label, 1)
        return bar

    def _build_view(self) -> QTableView:
        view = self.view = TaskTableView(self.copy_task_ids, self.page)
        view.setObjectName("taskTable")
        view.setAccessibleName("Tasks")
        # Every cell carries its own tooltip (a view tooltip would cover them).
        view.setAccessibleDescription(
            "Right-click tasks for their actions; Ctrl+. cancels, Enter checks again"
        )
        view.setModel(self.proxy)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setWordWrap(False)
        view.setTextElideMode(Qt.TextElideMode.ElideRight)
        view.setAlternatingRowColors(True)
        view.setShowGrid(False)
        view.setItemDelegateForColumn(TaskColumn.PROGRESS, ProgressDelegate(view))
        vertical = view.verticalHeader()
        vertical.setObjectName("taskTableRowHeader")
        vertical.setAccessibleName("Task rows")
        vertical.hide()
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 10)
        header = view.horizontalHeader()
        header.setObjectName("taskTableHeader")
        header.setAccessibleName("Task columns")
        header.setToolTip("Click a column to sort by it; drag an edge to resize")
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(40)
        header.setHighlightSections(False)
        for column, width in COLUMN_WIDTHS.items():
            header.resizeSection(column, width)
        view.watch_title_width()  # after the defaults: only the user's resizes count
        # Newest first until the user picks a column: no sort indicator at start.
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        view.setSortingEnabled(True)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._on_view_context_menu_requested)
        view.selectionModel().selectionChanged.connect(lambda *_: self.update_actions())
        return view

    def _action(self, name: str, text: str, tip: str, slot: Callable[[], object],
                shortcuts: tuple[QKeySequence, ...] = ()) -> QAction:  # fmt: skip
        action = QAction(text, self.view)
        action.setObjectName(name)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcuts:
            action.setShortcuts(list(shortcuts))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.view.addAction(action)
        return action

    def _build_actions(self) -> None:
        key = QKeySequence
        self.cancel_action = self._action(
            "cancelTasksAction", "&Cancel…",
            "Stop following the selected tasks (the engine may still run and charge the job)",
            self.cancel_selected, (key("Ctrl+."),),
        )  # fmt: skip
        self.check_again_action = self._action(
            "checkAgainAction", "C&heck again",
            "Ask the engine about the selected tasks once more",
            self.check_again_selected, (key(Qt.Key.Key_Return), key(Qt.Key.Key_Enter)),
        )  # fmt: skip
        self.try_again_action = self._action(
            "tryAgainAction", "&Try again",
            "Send the same request again as a new task (a new paid request)",
            self.try_again_selected,
        )  # fmt: skip
        self.reveal_action = self._action(
            "revealFilesAction", "&Reveal files",
            "Open the folder holding this task's saved files", self.reveal_files,
        )  # fmt: skip
        self.copy_id_action = self._action(
            "copyTaskIdAction", "Copy task &id",
            "Copy the engine's job id and Studio's client key (for support requests)",
            self.copy_task_ids, (key(key.StandardKey.Copy),),
        )  # fmt: skip
        self.actions_in_menu = [
            self.cancel_action, self.check_again_action, self.try_again_action,
            self.reveal_action, self.copy_id_action,
        ]  # fmt: skip
        self.update_actions()

    # ------------------------------------------------------------------ selection
    @property
    def service(self) -> TaskService | None:
        return self.bridge.service

    def selected_tasks(self) -> list[TaskRecord]:
        """The selected tasks as they are now, in view order."""
        rows = sorted({index.row() for index in self.view.selectionModel().selectedRows()})
        tasks: list[TaskRecord] = []
        for row in rows:
            task = self.proxy.index(row, 0).data(TaskRecordRole)
            if isinstance(task, TaskRecord):
                tasks.append(task)
        return tasks

    def update_actions(self) -> None:
        tasks = self.selected_tasks()
        running = self.service is not None
        self.cancel_action.setEnabled(running and any(cancellable(t) for t in tasks))
        self.check_again_action.setEnabled(running and any(t.state in CHECKABLE for t in tasks))
        self.try_again_action.setEnabled(running and any(t.state in RETRYABLE for t in tasks))
        self.reveal_action.setEnabled(any(t.state in REVEALABLE for t in tasks))
        self.copy_id_action.setEnabled(bool(tasks))

    def _on_view_context_menu_requested(self, pos: QPoint) -> None:
        self.update_actions()
        if not self.selected_tasks():
            return
        menu = QMenu(self.view)
        menu.setObjectName("taskContextMenu")
        menu.addActions(self.actions_in_menu[:3])
        menu.addSeparator()
        menu.addActions(self.actions_in_menu[3:])
        menu.popup(self.view.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ actions
    def cancel_selected(self) -> list[int]:
        """Stop following the selected tasks after confirming; the ids cancelled."""
        service = self.service
        tasks = [t for t in self.selected_tasks() if cancellable(t)]
        if service is None or not tasks:
            return []
        text = (
            f"Stop following {_plural(len(tasks), 'task')}?\n\nThe engines have no cancel "
            "call: a job already running still runs and is charged, but Studio will not "
            "download its result."
        )
        if not confirm(self, "Cancel tasks", text, "Stop following", "Keep following"):
            return []
        for task in tasks:
            service.cancel(task.id)
        self.status_message.emit(f"Stopped following {_plural(len(tasks), 'task')}")
        return [task.id for task in tasks]

    def check_again_selected(self) -> list[int]:
        service = self.service
        tasks = [t for t in self.selected_tasks() if t.state in CHECKABLE]
        if service is None or not tasks:
            return []
        for task in tasks:
            spawn(service.check_again(task.id), name=f"check again {task.id}")
        self.status_message.emit(f"Asking the engine about {_plural(len(tasks), 'task')}…")
        return [task.id for task in tasks]

    def try_again_selected(self) -> list[int]:
        service = self.service
        tasks = [t for t in self.selected_tasks() if t.state in RETRYABLE]
        if service is None or not tasks:
            return []
        unsure = [t for t in tasks if t.state is TaskState.NEEDS_ATTENTION]
        if unsure:
            text = (
                f"The engine may already have {_plural(len(unsure), 'job')} of these. Trying "
                "again sends a new paid request; Check again looks for the old one first."
            )
            if not confirm(self, "Try again", text, "Send again"):
                return []
        for task in tasks:
            spawn(service.try_again(task.id), name=f"try again {task.id}")
        return [task.id for task in tasks]

    def first_file(self, task_id: int) -> Path | None:
        """The first archived file of a task that is on disk, if any."""
        for take in self._takes.takes_for_task(task_id):
            for file in self._takes.files_for(take.id):
                if file.local_path is not None and file.local_path.exists():
                    return file.local_path
        return None

    def reveal_files(self) -> Path | None:
        """Open the folder of the first selected task's first archived file."""
        for task in self.selected_tasks():
            path = self.first_file(task.id)
            if path is not None:
                if not self._open_url(QUrl.fromLocalFile(str(path.parent))):
                    self.status_message.emit(f"Could not open {path.parent}")
                return path.parent
        self.status_message.emit("No saved files for the selected task yet")
        return None

    def copy_task_ids(self) -> str:
        """Put the engine job id and client key of each selected task on the clipboard."""
        lines = [
            f"{_ENGINE_NAMES.get(t.engine, t.engine)} job {t.remote_id or '(no id yet)'} "
            f"· client key {t.client_key}"
            for t in self.selected_tasks()
        ]
        text = "\n".join(lines)
        if text:
            QApplication.clipboard().setText(text)
            self.status_message.emit(f"Copied the ids of {_plural(len(lines), 'task')}")
        return text

    # ------------------------------------------------------------------ events
    def _on_model_rows_changed(self, *_args: object) -> None:
        has_tasks = self.model.rowCount() > 0
        self.stack.setCurrentWidget(self.page if has_tasks else self.empty_state)
        self._update_count()

    def _on_model_data_changed(self, top_left: QModelIndex, *_args: object) -> None:
        if top_left.column() <= TaskColumn.STATE and self.view.selectionModel().hasSelection():
            self.update_actions()

    def _update_count(self, *_args: object) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        text = _plural(total, "task") if shown == total else f"{shown} of {total} tasks"
        self.count_label.setText(text)

    def _on_state_filter_changed(self, _index: int) -> None:
        self.proxy.set_state_filter(str(self.state_filter_combo.currentData()))

    def _on_engine_filter_changed(self, _index: int) -> None:
        self.proxy.set_engine_filter(str(self.engine_filter_combo.currentData() or "") or None)

    def _on_bridge_engine_paused(self, engine: str, message: str) -> None:
        if engine in self.banners:
            self.banners[engine].label.setToolTip(message)
            return
        banner = PausedEngineBanner(engine, message, self.settings_requested.emit, self.page)
        self.banners[engine] = banner
        self._banner_box.addWidget(banner)

    def _on_bridge_engine_resumed(self, engine: str) -> None:
        banner = self.banners.pop(engine, None)
        if banner is not None:
            banner.hide()
            banner.deleteLater()
