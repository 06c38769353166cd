"""Tasks panel: every generation in flight or finished, fed by the poller."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from studio.qt.empty_state import EmptyStateView
from studio.qt.panels.stacked_panel import StackedPanel


class TasksPanel(StackedPanel):
    """Shows the task ledger; until a task exists, explains what will appear here."""

    def __init__(self, parent: QWidget | None = None) -> None:
        empty = EmptyStateView(
            "tasksEmptyState",
            "tasks",
            "No tasks yet",
            "Every generation you start from the Composer appears here with its engine, "
            "progress and cost. Results are downloaded to your archive folder the moment "
            "they are ready, so an expiring engine link never costs you a take.",
        )
        super().__init__("tasks", "Tasks", empty, parent)
