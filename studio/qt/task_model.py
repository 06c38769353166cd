"""The task table: an item model over the task ledger, and its filter proxy.

GUI thread only. The model loads the ledger once, then follows
:class:`~studio.tasks.ledger.TaskChange` events (through the task bridge): a
change repaints the changed cells of one row, a new task inserts one row, and
nothing ever resets the table after the first load (design principle 3).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
)

from studio.core.task_states import ACTIVE, TaskState
from studio.engines.catalog import ENGINES
from studio.library.timestamps import utc_now
from studio.qt.resources import icon
from studio.tasks.ledger import TaskChange, TaskLedger, TaskRecord

__all__ = [
    "STATE_WORDS",
    "ProgressRole",
    "StateRole",
    "TaskColumn",
    "TaskFilter",
    "TaskFilterProxyModel",
    "TaskIdRole",
    "TaskRecordRole",
    "TaskTableModel",
    "format_elapsed",
    "task_excerpt",
]

AnyIndex = QModelIndex | QPersistentModelIndex

TaskIdRole = Qt.ItemDataRole.UserRole + 1
StateRole = Qt.ItemDataRole.UserRole + 2
TaskRecordRole = Qt.ItemDataRole.UserRole + 3
# The engine's progress as a fraction 0–1, or None when it gives none (progress column).
ProgressRole = Qt.ItemDataRole.UserRole + 4


class TaskColumn(enum.IntEnum):
    # What a task is and how it is doing come first: the Tasks dock is often narrow.
    ENGINE = 0
    TITLE = 1
    STATE = 2
    PROGRESS = 3
    ELAPSED = 4
    OPERATION = 5
    COST = 6
    ERROR = 7


HEADERS = {
    TaskColumn.ENGINE: "Engine",
    TaskColumn.TITLE: "Title / prompt",
    TaskColumn.STATE: "State",
    TaskColumn.PROGRESS: "Progress",
    TaskColumn.ELAPSED: "Elapsed",
    TaskColumn.OPERATION: "Operation",
    TaskColumn.COST: "Cost",
    TaskColumn.ERROR: "Error",
}

STATE_WORDS: dict[TaskState, str] = {
    TaskState.SUBMITTING: "Submitting",
    TaskState.SUBMITTED: "Queued",
    TaskState.RUNNING: "Running",
    TaskState.ARCHIVING: "Archiving",
    TaskState.DONE: "Done",
    TaskState.FAILED: "Failed",
    TaskState.NEEDS_ATTENTION: "Needs attention",
    TaskState.EXPIRED: "Expired",
    TaskState.CANCELLED: "Cancelled",
}
_STATE_TIPS: dict[TaskState, str] = {
    TaskState.SUBMITTING: "The request is being sent to the engine.",
    TaskState.SUBMITTED: "The engine has the job and has not started it yet.",
    TaskState.RUNNING: "The engine is working on it.",
    TaskState.ARCHIVING: "Finished: its files are being saved to your archive folder.",
    TaskState.DONE: "Every file is saved in your archive folder.",
    TaskState.FAILED: "The engine refused or failed it (the reason is in the Error column).",
    TaskState.NEEDS_ATTENTION: "Studio could not confirm what happened; use Check again.",
    TaskState.EXPIRED: "The engine's links died before the files were saved.",
    TaskState.CANCELLED: "You stopped following it.",
}
_STATE_PIXMAPS = {
    TaskState.FAILED: QStyle.StandardPixmap.SP_MessageBoxCritical,
    TaskState.NEEDS_ATTENTION: QStyle.StandardPixmap.SP_MessageBoxWarning,
    TaskState.EXPIRED: QStyle.StandardPixmap.SP_MessageBoxWarning,
}
# Sorting the State column: the workflow's order, not the alphabet.
_STATE_ORDER = {state: position for position, state in enumerate(STATE_WORDS)}

# Which columns a ledger field shows in; a change of any other field repaints nothing.
_FIELD_COLUMNS: dict[str, tuple[TaskColumn, ...]] = {
    "state": (TaskColumn.STATE, TaskColumn.PROGRESS, TaskColumn.ELAPSED, TaskColumn.ERROR),
    "progress": (TaskColumn.PROGRESS,),
    "finished_at": (TaskColumn.PROGRESS, TaskColumn.ELAPSED),
    "cost": (TaskColumn.COST,),
    "last_error": (TaskColumn.ERROR,),
    "engine_message": (TaskColumn.ERROR,),
    "remote_id": (TaskColumn.TITLE,),  # shown in the title's tooltip
}

# Parameter names that hold what the user asked for, best first (each engine's own).
_TITLE_KEYS = ("title",)
_PROMPT_KEYS = (
    "sound_prompt", "soundPrompt", "prompt", "gpt_description_prompt", "description",
    "text", "style", "tags", "lyrics",
)  # fmt: skip
EXCERPT_CHARS = 160
TOOLTIP_CHARS = 600

_ENGINE_NAMES = {engine.id: engine.name for engine in ENGINES}


def engine_short_name(engine_id: str) -> str:
    """ "TTAPI" for "TTAPI Producer": the column is narrow; the tooltip has the full name."""
    name = _ENGINE_NAMES.get(engine_id, engine_id)
    return name.split(" ", 1)[0]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def task_excerpt(task: TaskRecord) -> str:
    """The title and/or prompt a task was asked with, on one line."""
    params = task.params
    title = next((str(params[key]) for key in _TITLE_KEYS if params.get(key)), "")
    prompt = next((str(params[key]) for key in _PROMPT_KEYS if params.get(key)), "")
    parts = [_one_line(part) for part in (title, prompt) if part.strip()]
    if parts:
        return " — ".join(parts)
    if task.parent_take_id is not None:
        return f"From take {task.parent_take_id}"
    return ""


def format_elapsed(seconds: float) -> str:
    """``0:07``, ``12:05``, ``1:02:03``, ``3 d 4 h``."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def _runs(columns: list[int]) -> list[tuple[int, int]]:
    """Sorted column numbers as runs of neighbours: [2, 3, 4, 7] -> [(2, 4), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for column in columns:
        if runs and runs[-1][1] == column - 1:
            runs[-1] = (runs[-1][0], column)
        else:
            runs.append((column, column))
    return runs


def _cost_key(cost: str | None) -> tuple[int, float, str]:
    if not cost:
        return (1, 0.0, "")
    number = "".join(ch for ch in cost if ch.isdigit() or ch in ".-")
    try:
        return (0, float(number), cost)
    except ValueError:
        return (0, float("inf"), cost)


class TaskTableModel(QAbstractTableModel):
    """One row per ledger task, newest first.

    Args:
        ledger: read once for the initial load.
        clock: aware UTC now (the elapsed column).
        tick_ms: how often the elapsed column of active rows repaints.

    Feed it :meth:`apply_change` (the bridge's ``task_changed``).
    """

    active_count_changed = Signal(int)
    # A task moved into a state the user wants to hear about (done, failed, …).
    task_settled = Signal(object)

    def __init__(
        self,
        ledger: TaskLedger,
        *,
        clock: Callable[[], datetime] = utc_now,
        tick_ms: int = 1000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._tasks: list[TaskRecord] = []
        self._rows: dict[int, int] = {}  # task id -> row
        self._active = 0
        self._icons: dict[str, QIcon] = {}
        self._tick = QTimer(self)
        self._tick.setObjectName("taskElapsedTimer")
        self._tick.setInterval(tick_ms)
        self._tick.timeout.connect(self._on_tick_timeout)
        self.load(ledger.all())

    # ------------------------------------------------------------------ feeding
    def load(self, tasks: Iterable[TaskRecord]) -> None:
        """Replace every row (the initial load; the only reset this model does)."""
        self.beginResetModel()
        self._tasks = sorted(tasks, key=lambda task: task.id, reverse=True)
        self._reindex()
        self.endResetModel()
        self._recount()

    def _reindex(self) -> None:
        self._rows = {task.id: row for row, task in enumerate(self._tasks)}

    def apply_change(self, change: TaskChange) -> None:
        """Insert a created task, or repaint the changed cells of its row."""
        task = change.task
        row = self._rows.get(task.id)
        if row is None:
            # New tasks go on top (newest first); a change for a row we never saw
            # (another process wrote it) is inserted the same way.
            self.beginInsertRows(QModelIndex(), 0, 0)
            self._tasks.insert(0, task)
            self._reindex()
            self.endInsertRows()
            self._recount()
            return
        old = self._tasks[row]
        self._tasks[row] = task
        columns = sorted({c for name in change.changed for c in _FIELD_COLUMNS.get(name, ())})
        for first, last in _runs(columns):
            self.dataChanged.emit(self.index(row, first), self.index(row, last))
        if old.state is not task.state:
            self._recount()
            if task.state in (
                TaskState.DONE, TaskState.FAILED, TaskState.NEEDS_ATTENTION, TaskState.EXPIRED
            ):  # fmt: skip
                self.task_settled.emit(task)

    def _recount(self) -> None:
        active = sum(1 for task in self._tasks if task.state in ACTIVE)
        if active and not self._tick.isActive():
            self._tick.start()
        elif not active:
            self._tick.stop()
        if active != self._active:
            self._active = active
            self.active_count_changed.emit(active)

    def _on_tick_timeout(self) -> None:
        """Repaint the clock cells of active rows, in runs of neighbouring rows."""
        spans: list[tuple[int, int, int]] = []  # (first row, last row, first column)
        for row, task in enumerate(self._tasks):
            if task.state not in ACTIVE:
                continue
            first = TaskColumn.ELAPSED if task.progress is not None else TaskColumn.PROGRESS
            if spans and spans[-1][1] == row - 1 and spans[-1][2] == first:
                spans[-1] = (spans[-1][0], row, first)
            else:
                spans.append((row, row, first))
        for top, bottom, first in spans:
            self.dataChanged.emit(
                self.index(top, first), self.index(bottom, TaskColumn.ELAPSED),
                [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole],
            )  # fmt: skip

    # ------------------------------------------------------------------ reading
    @property
    def active_count(self) -> int:
        return self._active

    def task_at(self, row: int) -> TaskRecord:
        return self._tasks[row]

    def row_of(self, task_id: int) -> int | None:
        return self._rows.get(task_id)

    def tasks(self) -> list[TaskRecord]:
        return list(self._tasks)

    def elapsed_seconds(self, task: TaskRecord) -> float:
        """Created → finished; still counting while active; else until its last change."""
        if task.created_at is None:
            return 0.0
        if task.finished_at is not None:
            end = task.finished_at
        elif task.state in ACTIVE or task.updated_at is None:
            end = self._clock()
        else:
            end = task.updated_at
        return max(0.0, (end - task.created_at).total_seconds())

    def sort_key(self, row: int, column: int) -> tuple[Any, ...]:
        """What the proxy sorts a cell by (numbers as numbers, states in workflow order)."""
        task = self._tasks[row]
        match column:
            case TaskColumn.ENGINE:
                return (engine_short_name(task.engine).lower(), -task.id)
            case TaskColumn.OPERATION:
                return (task.operation, -task.id)
            case TaskColumn.TITLE:
                return (task_excerpt(task).lower(), -task.id)
            case TaskColumn.STATE:
                return (_STATE_ORDER[task.state], -task.id)
            case TaskColumn.PROGRESS:
                done = 1.0 if task.state is TaskState.DONE else -1.0
                return (task.progress if task.progress is not None else done, -task.id)
            case TaskColumn.ELAPSED:
                return (self.elapsed_seconds(task), -task.id)
            case TaskColumn.COST:
                return (*_cost_key(task.cost), -task.id)
            case _:
                return (self._error(task).lower(), -task.id)

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._tasks)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(TaskColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(TaskColumn):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[TaskColumn(section)]
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._tasks):
            return None
        task = self._tasks[index.row()]
        column = TaskColumn(index.column())
        if role == TaskIdRole:
            return task.id
        if role == StateRole:
            return task.state.value
        if role == TaskRecordRole:
            return task
        if role == ProgressRole:
            return task.progress if column is TaskColumn.PROGRESS else None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._display(task, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(task, column)
        if role == Qt.ItemDataRole.DecorationRole and column is TaskColumn.ENGINE:
            return self._engine_icon(task.engine)
        if role == Qt.ItemDataRole.DecorationRole and column is TaskColumn.STATE:
            return self._state_icon(task.state)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            TaskColumn.ELAPSED, TaskColumn.COST
        ):  # fmt: skip
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # ------------------------------------------------------------------ cells
    def _engine_icon(self, engine: str) -> QIcon:
        found = self._icons.get(engine)
        if found is None:
            found = icon(f"engine-{engine}") if engine in _ENGINE_NAMES else QIcon()
            self._icons[engine] = found
        return found

    def _state_icon(self, state: TaskState) -> QIcon | None:
        """A mark on the states that want the user's eye; the others stay plain."""
        pixmap = _STATE_PIXMAPS.get(state)
        return QApplication.style().standardIcon(pixmap) if pixmap is not None else None

    @staticmethod
    def _error(task: TaskRecord) -> str:
        parts = [part for part in (task.last_error, task.engine_message) if part]
        if len(parts) == 2 and parts[1] in parts[0]:
            parts = parts[:1]
        return " — ".join(parts)

    def _progress_text(self, task: TaskRecord) -> str:
        if task.progress is not None and task.state in ACTIVE:
            return f"{round(task.progress * 100)}%"
        if task.state is TaskState.DONE:
            return "100%"
        if task.state in ACTIVE:
            # No progress from the engine: say how long it has been, never a guess.
            return format_elapsed(self.elapsed_seconds(task))
        return ""

    def _display(self, task: TaskRecord, column: TaskColumn) -> str:
        match column:
            case TaskColumn.ENGINE:
                return engine_short_name(task.engine)
            case TaskColumn.OPERATION:
                return task.operation
            case TaskColumn.TITLE:
                return _clip(task_excerpt(task), EXCERPT_CHARS)
            case TaskColumn.STATE:
                return STATE_WORDS[task.state]
            case TaskColumn.PROGRESS:
                return self._progress_text(task)
            case TaskColumn.ELAPSED:
                return format_elapsed(self.elapsed_seconds(task))
            case TaskColumn.COST:
                return task.cost or ""
            case TaskColumn.ERROR:
                return _clip(_one_line(self._error(task)), EXCERPT_CHARS)

    def _tooltip(self, task: TaskRecord, column: TaskColumn) -> str:
        match column:
            case TaskColumn.ENGINE:
                return _ENGINE_NAMES.get(task.engine, task.engine)
            case TaskColumn.OPERATION:
                return f"The engine's operation: {task.operation}"
            case TaskColumn.TITLE:
                lines = [_clip(task_excerpt(task), TOOLTIP_CHARS) or f"Task {task.id}"]
                lines.append(f"Engine job: {task.remote_id or 'no id yet'}")
                if task.retry_of_task_id is not None:
                    lines.append(f"Tried again from task {task.retry_of_task_id}")
                return "\n".join(lines)
            case TaskColumn.STATE:
                # The reason too: the Error column may be scrolled out of a narrow dock.
                reason = _clip(self._error(task), TOOLTIP_CHARS)
                return f"{_STATE_TIPS[task.state]}\n{reason}" if reason else _STATE_TIPS[task.state]
            case TaskColumn.PROGRESS:
                if task.progress is not None and task.state in ACTIVE:
                    return "Progress reported by the engine"
                if task.state in ACTIVE:
                    return "The engine reports no progress; this is the time since submitting"
                return _STATE_TIPS[task.state]
            case TaskColumn.ELAPSED:
                return "Time since the request was made"
            case TaskColumn.COST:
                return "Cost as the engine stated it" if task.cost else "The engine stated no cost"
            case _:
                return _clip(self._error(task), TOOLTIP_CHARS) or "No error"


class TaskFilter(enum.StrEnum):
    ACTIVE = "active"
    DONE = "done"
    FAILED = "failed"
    ALL = "all"


_FILTER_STATES: dict[TaskFilter, frozenset[TaskState] | None] = {
    TaskFilter.ACTIVE: frozenset(ACTIVE),
    TaskFilter.DONE: frozenset({TaskState.DONE}),
    # Everything that did not give its files and may want the user's hand.
    TaskFilter.FAILED: frozenset(
        {TaskState.FAILED, TaskState.NEEDS_ATTENTION, TaskState.EXPIRED, TaskState.CANCELLED}
    ),
    TaskFilter.ALL: None,
}


class TaskFilterProxyModel(QSortFilterProxyModel):
    """Filters the task table by state group and engine; sorts cells by meaning."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._states: frozenset[TaskState] | None = None
        self._engine: str | None = None
        self.setDynamicSortFilter(True)  # a task that finishes leaves the "active" view

    @property
    def state_filter(self) -> TaskFilter:
        for name, states in _FILTER_STATES.items():
            if states == self._states:
                return name
        return TaskFilter.ALL

    def set_state_filter(self, which: TaskFilter | str) -> None:
        self.beginFilterChange()
        self._states = _FILTER_STATES[TaskFilter(which)]
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_engine_filter(self, engine: str | None) -> None:
        self.beginFilterChange()
        self._engine = engine or None
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, TaskTableModel):
            return True
        task = model.task_at(source_row)
        if self._states is not None and task.state not in self._states:
            return False
        return self._engine is None or task.engine == self._engine

    def lessThan(self, left: AnyIndex, right: AnyIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, TaskTableModel):
            return super().lessThan(left, right)
        return model.sort_key(left.row(), left.column()) < model.sort_key(
            right.row(), right.column()
        )

    def task_ids(self, indexes: Iterable[QModelIndex]) -> list[int]:
        """The distinct task ids of proxy indexes, in view order."""
        seen: dict[int, None] = {}
        for index in sorted(indexes, key=lambda i: i.row()):
            task_id = index.data(TaskIdRole)
            if isinstance(task_id, int):
                seen.setdefault(task_id, None)
        return list(seen)
