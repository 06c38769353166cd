"""Tasks panel: every generation in flight or finished, fed by the poller."""

from __future__ import annotations

from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget

from studio.qt.empty_state import EmptyStateView


class TasksPanel(QWidget):
    """Shows the task ledger; until a task exists, explains what will appear here."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tasksPanel")
        self.setAccessibleName("Tasks")
        self.stack = QStackedWidget(self)
        self.stack.setObjectName("tasksStack")
        self.empty_state = EmptyStateView(
            "tasksEmptyState",
            "tasks",
            "No tasks yet",
            "Every generation you start from the Composer appears here with its engine, "
            "progress and cost. Results are downloaded to your archive folder the moment "
            "they are ready, so an expiring engine link never costs you a take.",
        )
        self.stack.addWidget(self.empty_state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
