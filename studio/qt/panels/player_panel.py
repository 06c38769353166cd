"""Player panel: waveform view and stem mixer of the take being auditioned."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from studio.qt.empty_state import EmptyStateView
from studio.qt.panels.stacked_panel import StackedPanel


class PlayerPanel(StackedPanel):
    """Auditions takes and their stems; empty until a take is chosen in the Library."""

    def __init__(self, parent: QWidget | None = None) -> None:
        empty = EmptyStateView(
            "playerEmptyState",
            "player",
            "Nothing loaded",
            "This is where takes play: the waveform of the take, with a lane per stem "
            "that you can mute, solo, gain and pan, all in sync.",
        )
        super().__init__("player", "Player", empty, parent)
