"""Library panel: every take ever made, archived locally."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QWidget

from studio.qt.empty_state import EmptyStateView
from studio.qt.panels.stacked_panel import StackedPanel


class LibraryPanel(StackedPanel):
    """Lists takes; before the first one, says where they will be kept."""

    def __init__(self, archive_dir: Path, parent: QWidget | None = None) -> None:
        empty = EmptyStateView("libraryEmptyState", "library", "Your library is empty", "")
        super().__init__("library", "Library", empty, parent)
        self.open_archive_button = empty.add_action(
            "openArchiveFolderButton",
            "Open archive folder",
            self.open_archive_folder,
            "Show the folder where every take's audio, stems and cover are saved",
        )
        self.archive_dir = archive_dir
        self.set_archive_dir(archive_dir)

    def set_archive_dir(self, archive_dir: Path) -> None:
        self.archive_dir = archive_dir
        self.empty_state.set_body(
            "Every take you make is kept here for good, with its prompt, lyrics, settings "
            "and lineage. Its audio, stems and cover are saved the moment they exist to:\n"
            f"{archive_dir}"
        )

    def open_archive_folder(self) -> bool:
        """Open the archive folder in the file manager, creating it first if needed."""
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.archive_dir)))
