"""The bridge from the (Qt-free) task ledger and service to Qt signals, and desktop notices.

GUI thread only: the ledger and the service call their listeners on the asyncio
loop's thread, which under qasync is the Qt thread, so signals are emitted
directly. A slot that raises does not reach the poller that announced the
change: PySide reports it through ``sys.excepthook`` (the error dialog, U1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from studio import APP_NAME
from studio.core.task_states import TaskState
from studio.engines.catalog import ENGINES
from studio.qt.resources import icon
from studio.tasks.events import ArchiveProgress, EnginePaused, EngineResumed, ServiceEvent
from studio.tasks.ledger import TaskChange, TaskLedger, TaskRecord

if TYPE_CHECKING:  # the service pulls in httpx; the window's first paint does not need it
    from studio.tasks.service import TaskService

__all__ = ["TaskBridge", "TaskNotifier"]

log = logging.getLogger(__name__)


class TaskBridge(QObject):
    """Re-emits ledger changes and service events as Qt signals.

    The ledger is followed from construction (rows exist before the service
    starts); the service's events once :meth:`attach_service` is called.
    Call :meth:`close` before the bridge goes away: the ledger outlives it.
    """

    task_changed = Signal(object)  # TaskChange
    engine_paused = Signal(str, str)  # engine id, the engine's message
    engine_resumed = Signal(str)  # engine id
    archive_progress = Signal(int, str, str)  # task id, "started"/"finished", detail
    service_attached = Signal(object)  # TaskService

    def __init__(self, ledger: TaskLedger, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("taskBridge")
        self.service: TaskService | None = None
        self._unsubscribe: list[Callable[[], None]] = [ledger.subscribe(self._on_ledger_change)]
        self._service_unsubscribe: Callable[[], None] | None = None

    def attach_service(self, service: TaskService) -> None:
        """Follow the service's events; engines paused before now are announced at once."""
        if self.service is service:
            return
        self.detach_service()
        self.service = service
        self._service_unsubscribe = service.events.subscribe(self._on_service_event)
        self.service_attached.emit(service)
        for engine, message in service.paused_engines.items():
            self.engine_paused.emit(engine, message)

    def detach_service(self) -> None:
        if self._service_unsubscribe is not None:
            self._service_unsubscribe()
            self._service_unsubscribe = None
        self.service = None

    def close(self) -> None:
        """Stop listening to the ledger and the service (the window is closing)."""
        self.detach_service()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # ------------------------------------------------------------------ listeners
    def _alive(self) -> bool:
        if shiboken6.isValid(self):
            return True
        # The Qt side was deleted without close(): stop listening rather than
        # raise into the poller that announced the change.
        log.warning("task bridge deleted without close(); unsubscribing")
        self.close()
        return False

    def _on_ledger_change(self, change: TaskChange) -> None:
        if self._alive():
            self.task_changed.emit(change)

    def _on_service_event(self, event: ServiceEvent) -> None:
        if not self._alive():
            return
        if isinstance(event, EnginePaused):
            self.engine_paused.emit(event.engine, event.message)
        elif isinstance(event, EngineResumed):
            self.engine_resumed.emit(event.engine)
        elif isinstance(event, ArchiveProgress):
            self.archive_progress.emit(event.task_id, event.phase, event.detail or "")


class TrayLike(Protocol):
    def showMessage(  # Qt's name
        self, title: str, message: str, icon: QSystemTrayIcon.MessageIcon, msecs: int
    ) -> None: ...


_ENGINE_NAMES = {engine.id: engine.name for engine in ENGINES}


def notice_for(task: TaskRecord) -> tuple[str, str, QSystemTrayIcon.MessageIcon]:
    """Title, text and icon of the desktop notice for a task that just settled."""
    from studio.qt.task_model import task_excerpt  # the model owns the excerpt rule

    what = task_excerpt(task) or f"{_ENGINE_NAMES.get(task.engine, task.engine)} {task.operation}"
    if len(what) > 80:
        what = what[:79].rstrip() + "…"
    reason = task.last_error or task.engine_message or ""
    info, warning = QSystemTrayIcon.MessageIcon.Information, QSystemTrayIcon.MessageIcon.Warning
    if task.state is TaskState.DONE:
        return "Take ready", f"{what}: saved to your archive folder.", info
    if task.state is TaskState.FAILED:
        return "Task failed", f"{what}: {reason or 'the engine gave no reason.'}", warning
    if task.state is TaskState.EXPIRED:
        lost = "the engine's links died before the files were saved."
        return "Files expired", f"{what}: {lost}", warning
    hint = reason or "use Check again in the Tasks panel."
    return "Task needs attention", f"{what}: {hint}", warning


class TaskNotifier(QObject):
    """Tells the desktop when a task settles while the window is not the active one.

    A tray notice where the desktop has a tray; otherwise the window asks for
    attention (a flashing taskbar entry). The tray icon, once shown, raises the
    window when clicked.

    Args:
        window: the main window (its activity decides, its icon is alerted).
        tray_available: whether a system tray exists (a fake in tests).
        tray_factory: builds the tray icon (a fake in tests).
        alert: asks for attention without a tray (``QApplication.alert``).
    """

    def __init__(
        self,
        window: QWidget,
        *,
        tray_available: Callable[[], bool] = QSystemTrayIcon.isSystemTrayAvailable,
        tray_factory: Callable[[], TrayLike] | None = None,
        alert: Callable[[QWidget, int], None] = QApplication.alert,
        raise_window: Callable[[], None] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("taskNotifier")
        self._window = window
        self._tray_available = tray_available
        self._tray_factory = tray_factory or self._make_tray
        self._alert = alert
        self._raise_window = raise_window
        self._tray: TrayLike | None = None
        self.sent = 0

    def _make_tray(self) -> QSystemTrayIcon:
        studio_icon: QIcon = icon("studio")
        tray = QSystemTrayIcon(studio_icon, self)
        tray.setObjectName("taskTrayIcon")
        tray.setToolTip(APP_NAME)
        if self._raise_window is not None:
            raise_window = self._raise_window
            tray.activated.connect(lambda _reason: raise_window())
            tray.messageClicked.connect(raise_window)
        tray.show()
        return tray

    def notify(self, task: TaskRecord) -> bool:
        """Send the notice for ``task`` unless the window is active; True if sent."""
        if self._window.isActiveWindow():
            return False
        title, text, kind = notice_for(task)
        if self._tray_available():
            if self._tray is None:
                self._tray = self._tray_factory()
            self._tray.showMessage(title, text, kind, 8000)
        else:
            self._alert(self._window, 0)
        self.sent += 1
        return True
