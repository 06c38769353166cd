"""Starting the GUI: QApplication, single instance, qasync loop, error hook, main window."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from studio import APP_ID, APP_NAME, __version__
from studio.cli import log_level
from studio.context import AppContext, open_context
from studio.instance import AlreadyRunningError, SingleInstanceLock
from studio.library.database import LibraryTooNewError
from studio.paths import resolve_paths
from studio.qt.async_tasks import spawn
from studio.qt.error_hook import ErrorReporter
from studio.qt.instance_server import InstanceServer, ask_running_instance_to_raise
from studio.qt.main_window import MainWindow
from studio.qt.resources import icon

log = logging.getLogger(__name__)


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication with the studio's names and icon (reused if one exists)."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or [APP_ID])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName("io.github.studio.Studio")
    app.setWindowIcon(icon("studio"))
    return app


def _tell(app_headless: bool, title: str, text: str) -> None:
    """Say something at start-up: on stderr always, and in a box when there is a screen."""
    print(text, file=sys.stderr)
    if not app_headless:
        QMessageBox.critical(None, title, text)


def show_notices(window: MainWindow, notices: list[str]) -> QMessageBox | None:
    """Tell the user, once, what happened at start-up (restored backup, no keyring…)."""
    if not notices:
        return None
    box = QMessageBox(window)
    box.setObjectName("startupNoticeDialog")
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle(f"{APP_NAME}: please note")
    box.setText("\n\n".join(notices))
    box.open()  # not exec(): the window stays live behind it
    return box


async def run_session(context: AppContext, window: MainWindow, closed: asyncio.Event) -> None:
    """The window's life on the qasync loop: tasks start after it shows, stop before it ends.

    Runs on the loop (GUI thread). Starts the task service, resumes every task left
    unfinished by the last run, waits for ``closed`` (the window is gone, whether the
    user quit or SIGTERM closed it), then stops polling and downloads so the rows keep
    their states for the next start (U2) and closes the engine connections.
    """
    service = context.task_service()
    service.start()
    window.attach_task_service(service)
    resume = spawn(service.resume_all(), name="studio-resume")
    try:
        await closed.wait()
    finally:
        if not resume.done():
            resume.cancel()
        await asyncio.wait([resume])
        await service.stop()
        await context.connections.aclose()
        log.info("task service stopped")


def run_gui(args: argparse.Namespace) -> int:
    """Run the studio until its window closes; the process exit code."""
    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    headless = os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    paths = resolve_paths(args.data_dir)
    app = create_application(sys.argv[:1])

    lock = SingleInstanceLock(paths.lock_file)
    try:
        lock.acquire()
    except AlreadyRunningError as exc:
        if ask_running_instance_to_raise(lock.channel_name):
            print(f"{exc} Its window was brought to the front.", file=sys.stderr)
            return 0
        _tell(headless, APP_NAME, str(exc))
        return 1

    try:
        context = open_context(paths, log_level=log_level(args.log_level))
    except LibraryTooNewError as exc:
        _tell(headless, f"{APP_NAME} cannot open this library", str(exc))
        lock.release()
        return 2
    try:
        return _run_window(app, context, lock)
    finally:
        context.close()
        lock.release()


def _run_window(app: QApplication, context: AppContext, lock: SingleInstanceLock) -> int:
    import qasync

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    ErrorReporter(context.paths.log_file).install(loop)

    window = MainWindow(context)
    server = InstanceServer(lock.channel_name, window)
    server.raise_requested.connect(window.raise_window)
    server.raise_requested.connect(lambda: log.info("another instance asked to raise the window"))

    # SIGTERM/SIGINT close the window like the user would, so drafts and layout are saved.
    # Python runs signal handlers only when it holds the GIL, hence the idle wake-up timer.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: QTimer.singleShot(0, window.close_without_asking))
    wake = QTimer(window)
    wake.setObjectName("signalWakeTimer")
    wake.timeout.connect(lambda: None)
    wake.start(250)

    # The asyncio loop ends when the window does; app.quit() would stop Qt's
    # loop under qasync before run_until_complete's future is done.
    closed = asyncio.Event()
    app.setQuitOnLastWindowClosed(False)
    app.lastWindowClosed.connect(closed.set)
    window.show()
    log.info("main window shown")
    show_notices(window, context.notices)
    with loop:
        loop.run_until_complete(run_session(context, window, closed))
    return 0
