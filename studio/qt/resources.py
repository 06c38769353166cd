"""Finding files under resources/ from the Qt layer (source checkout or frozen app)."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon


def resources_dir() -> Path:
    """The resources folder: next to the package, or inside a PyInstaller bundle."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


@cache
def icon(name: str) -> QIcon:
    """An SVG icon from resources/icons by name (without extension)."""
    return QIcon(str(resources_dir() / "icons" / f"{name}.svg"))
