"""An exception in a slot or a coroutine is logged and shown with the log's path (U1)."""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtWidgets import QApplication, QMessageBox

from studio.logs import setup_logging
from studio.qt.async_tasks import spawn
from studio.qt.error_hook import ErrorReporter


def _boom() -> None:
    raise RuntimeError("mixer exploded at bar 12")


def test_unhandled_error_is_logged_and_shown(qtbot, tmp_path, monkeypatch) -> None:
    log_file = tmp_path / "logs" / "studio.log"
    setup_logging(log_file, level=logging.INFO)
    reporter = ErrorReporter(log_file)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.informativeText()))
    try:
        _boom()
    except RuntimeError as exc:
        reporter.excepthook(type(exc), exc, exc.__traceback__)
    qtbot.waitUntil(lambda: reporter.shown == 1, timeout=2000)
    assert "mixer exploded at bar 12" in shown[0]
    assert str(log_file) in shown[0]
    text = log_file.read_text()
    assert "unhandled exception" in text and "Traceback" in text and "_boom" in text


def test_failing_coroutine_reaches_the_hook(qtbot, async_loop, monkeypatch, tmp_path) -> None:
    reporter = ErrorReporter(tmp_path / "studio.log")
    caught: list[BaseException] = []
    monkeypatch.setattr("sys.excepthook", lambda t, e, tb: caught.append(e))
    monkeypatch.setattr(reporter, "show_dialog", lambda summary: None)

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("poll went wrong")

    task = spawn(fails(), name="failing")
    async_loop.run_until_complete(asyncio.wait([task]))
    QApplication.processEvents()
    assert [str(exc) for exc in caught] == ["poll went wrong"]
