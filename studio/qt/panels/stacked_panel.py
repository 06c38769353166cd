"""A panel that shows its empty state until it has content (a later page of its stack)."""

from __future__ import annotations

from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget

from studio.qt.empty_state import EmptyStateView


class StackedPanel(QWidget):
    """Base of the Tasks, Library and Player panels: a stack whose first page is empty state."""

    def __init__(
        self,
        name: str,
        title: str,
        empty_state: EmptyStateView,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(f"{name}Panel")
        self.setAccessibleName(title)
        self.stack = QStackedWidget(self)
        self.stack.setObjectName(f"{name}Stack")
        self.empty_state = empty_state
        self.stack.addWidget(empty_state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
