"""Child process of the S1 benchmark: show a window, exit at its first paint.

`ours` starts the real studio window on a fresh data folder; `peer` shows a bare
QMainWindow. The parent times process start to exit for each.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow


class FirstPaint(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            QApplication.instance().quit()
        return False


def main(which: str) -> int:
    if which == "ours":
        os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
        from studio.context import open_context
        from studio.paths import resolve_paths
        from studio.qt.app import create_application
        from studio.qt.main_window import MainWindow

        app = create_application()
        data = tempfile.mkdtemp(prefix="studio-bench-")
        context = open_context(resolve_paths(data))
        window: QMainWindow = MainWindow(context)
    else:
        app = QApplication(sys.argv[:1])
        window = QMainWindow()
        window.resize(1360, 860)
    watcher = FirstPaint()
    window.installEventFilter(watcher)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
