"""The import contract covers every Qt-free module, including ones added later."""

from __future__ import annotations

import tomllib
from pathlib import Path

import studio

# The Qt layer, and the bootstrap that starts it.
QT_ALLOWED = {"studio.qt", "studio.__main__"}


def test_every_module_outside_the_qt_layer_is_under_the_contract() -> None:
    pyproject = Path(studio.__file__).parents[1] / "pyproject.toml"
    config = tomllib.loads(pyproject.read_text())
    contract = next(
        c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "forbidden"
    )
    assert {"PySide6", "qasync", "studio.qt"} <= set(contract["forbidden_modules"])
    covered = set(contract["source_modules"])
    package_dir = Path(studio.__file__).parent
    top_level = {
        f"studio.{path.stem if path.is_file() else path.name}"
        for path in package_dir.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert top_level - QT_ALLOWED - covered == set()
