"""Player panel: waveform view and stem mixer of the take being auditioned."""

from __future__ import annotations

from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget

from studio.qt.empty_state import EmptyStateView


class PlayerPanel(QWidget):
    """Auditions takes and their stems; empty until a take is chosen in the Library."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("playerPanel")
        self.setAccessibleName("Player")
        self.stack = QStackedWidget(self)
        self.stack.setObjectName("playerStack")
        self.empty_state = EmptyStateView(
            "playerEmptyState",
            "player",
            "Nothing loaded",
            "Double-click a take in the Library to audition it. Its waveform appears here, "
            "with a lane per stem that you can mute, solo, gain and pan, all in sync.",
        )
        self.stack.addWidget(self.empty_state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
