"""Library panel: every take ever made, archived locally.

Lists the archived takes (title, engine, operation, length, archive state,
created). Search, lineage and the take's full snapshot come with the library
issue; this list is already the real one, refreshed when a task finishes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from studio.engines.catalog import engine_info
from studio.library.takes import TakeStore
from studio.qt.empty_state import EmptyStateView
from studio.qt.panels.stacked_panel import StackedPanel

TakeIdRole = Qt.ItemDataRole.UserRole + 1
_HEADERS = ("Title", "Engine", "Operation", "Length", "Archive")
_ARCHIVE_WORDS = {
    "archived": "Archived",
    "partial": "Partly archived",
    "expired": "Links expired",
    "missing": "Files missing",
    "pending": "Downloading",
}


def _length(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class LibraryPanel(StackedPanel):
    """Lists takes; before the first one, says where they will be kept."""

    def __init__(
        self, archive_dir: Path, takes: TakeStore | None = None, parent: QWidget | None = None
    ) -> None:
        empty = EmptyStateView("libraryEmptyState", "library", "Your library is empty", "")
        super().__init__("library", "Library", empty, parent)
        self._takes = takes
        self.open_archive_button = empty.add_action(
            "openArchiveFolderButton",
            "Open archive folder",
            self.open_archive_folder,
            "Show the folder where every take's audio, stems and cover are saved",
        )
        self.table = QTableWidget(0, len(_HEADERS), self)
        self.table.setObjectName("libraryTable")
        self.table.setAccessibleName("Takes")
        self.table.setToolTip("Every take made so far, newest first")
        self.table.setHorizontalHeaderLabels(_HEADERS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setObjectName("libraryTableRows")
        self.table.verticalHeader().setAccessibleName("Take rows")
        header = self.table.horizontalHeader()
        header.setObjectName("libraryTableColumns")
        header.setAccessibleName("Take columns")
        # Fixed modes while filling: ResizeToContents would re-measure a whole column
        # on every setItem, which froze the loop for seconds with 500 takes (bench L1).
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.stack.addWidget(self.table)
        self.archive_dir = archive_dir
        self.set_archive_dir(archive_dir)
        self.refresh()

    def set_archive_dir(self, archive_dir: Path) -> None:
        self.archive_dir = archive_dir
        self.empty_state.set_body(
            "Every take you make is kept here for good, with its prompt, lyrics, settings "
            "and lineage. Its audio, stems and cover are saved the moment they exist to:\n"
            f"{archive_dir}"
        )

    def refresh(self) -> None:
        """Reload the list from the library (called when a task finishes)."""
        takes = self._takes.all_takes() if self._takes is not None else []
        self.table.setUpdatesEnabled(False)
        self.table.setRowCount(len(takes))
        for row, take in enumerate(takes):
            try:
                engine = engine_info(take.engine).name
            except KeyError:
                engine = take.engine
            cells = (
                take.title or take.prompt[:60] or f"Take {take.id}",
                engine,
                take.operation,
                _length(take.duration_s),
                _ARCHIVE_WORDS.get(take.archive_state, take.archive_state),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(TakeIdRole, take.id)
                if column == 0:
                    item.setToolTip(take.prompt or text)
                self.table.setItem(row, column, item)
        for column in range(1, len(_HEADERS)):
            self.table.resizeColumnToContents(column)
        self.table.setUpdatesEnabled(True)
        self.stack.setCurrentWidget(self.table if takes else self.empty_state)

    def open_archive_folder(self) -> bool:
        """Open the archive folder in the file manager, creating it first if needed."""
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.archive_dir)))
