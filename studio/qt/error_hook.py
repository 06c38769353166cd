"""Unhandled exceptions: logged in full, shown to the user with the log's path (faults U1)."""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.logs import redact

log = logging.getLogger("studio.crash")


class ErrorReporter:
    """Installed as ``sys.excepthook`` and as the asyncio loop's exception handler."""

    def __init__(self, log_file: Path) -> None:
        self.log_file = log_file
        self.shown = 0
        self._dialog_open = False

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        sys.excepthook = self.excepthook
        if loop is not None:
            loop.set_exception_handler(self.loop_exception_handler)

    def excepthook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            QApplication.quit()
            return
        log.error("unhandled exception", exc_info=(exc_type, exc, tb))
        summary = redact("".join(traceback.format_exception_only(exc_type, exc)).strip())
        # Show the dialog from the event loop, never from inside the failing slot.
        QTimer.singleShot(0, lambda: self.show_dialog(summary))

    def loop_exception_handler(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self.excepthook(type(exc), exc, exc.__traceback__)
        else:
            log.error("asyncio: %s", context.get("message", context))

    def show_dialog(self, summary: str) -> None:
        if self._dialog_open:  # one dialog at a time; the log holds every error
            return
        self._dialog_open = True
        self.shown += 1
        try:
            box = QMessageBox(QApplication.activeWindow())
            box.setObjectName("errorDialog")
            box.setIcon(QMessageBox.Icon.Critical)
            box.setWindowTitle("Something went wrong")
            box.setText("Studio hit an unexpected error. Your work so far is saved.")
            box.setInformativeText(
                f"{summary}\n\nThe details are in the log file:\n{self.log_file}"
            )
            box.setTextInteractionFlags(box.textInteractionFlags())
            box.exec()
        finally:
            self._dialog_open = False
