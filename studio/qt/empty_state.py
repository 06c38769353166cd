"""The "nothing here yet" view every panel shows before it has content."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.qt.resources import icon

BODY_MEASURE_PX = 440


class EmptyStateView(QWidget):
    """An icon, a title, what the panel is for and what to do first, plus actions."""

    def __init__(
        self,
        object_name: str,
        icon_name: str,
        title: str,
        body: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        layout = QVBoxLayout(self)
        layout.addStretch(1)

        picture = QLabel(self)
        picture.setPixmap(icon(icon_name).pixmap(56, 56))
        picture.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(picture)

        self.title_label = QLabel(title, self)
        self.title_label.setObjectName(f"{object_name}Title")
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title_label.setFont(font)
        layout.addWidget(self.title_label)

        self.body_label = QLabel(body, self)
        self.body_label.setObjectName(f"{object_name}Body")
        self.body_label.setWordWrap(True)
        self.body_label.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.body_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The label takes the row's width up to a readable measure (its heavy stretch
        # beats the side stretches until the maximum), and the side stretches centre
        # it; left to its size hint, a wrapped label is only a few words wide.
        self.body_label.setMaximumWidth(BODY_MEASURE_PX)
        self.body_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        body_row = QHBoxLayout()
        body_row.addStretch(1)
        body_row.addWidget(self.body_label, 100)
        body_row.addStretch(1)
        layout.addLayout(body_row)

        self._buttons = QHBoxLayout()
        self._buttons.addStretch(1)
        self._buttons.addStretch(1)
        layout.addLayout(self._buttons)
        layout.addStretch(2)
        self.setAccessibleName(title)
        self.setAccessibleDescription(body)

    def set_body(self, text: str) -> None:
        self.body_label.setText(text)
        self.setAccessibleDescription(text)

    def add_action(
        self, object_name: str, text: str, handler: Callable[[], object], tooltip: str = ""
    ) -> QPushButton:
        """Add a button under the text; it is inserted before the trailing stretch."""
        button = QPushButton(text, self)
        button.setObjectName(object_name)
        button.setAccessibleName(text.replace("&", "").rstrip("…").strip())
        if tooltip:
            button.setToolTip(tooltip)
        button.clicked.connect(lambda _checked=False: handler())
        self._buttons.insertWidget(self._buttons.count() - 1, button)
        return button
