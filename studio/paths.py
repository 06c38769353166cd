"""Where the studio keeps its files on this machine.

Qt-free on purpose: the CLI and the tests resolve the same folders as the GUI.
Platform conventions come from platformdirs; ``STUDIO_DATA_DIR`` or
``--data-dir`` put *everything* (database, settings, logs, archive, cache)
under one folder, which is how tests and portable installs stay isolated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from studio import APP_ID, APP_NAME

DATA_DIR_ENV = "STUDIO_DATA_DIR"


@dataclass(frozen=True)
class StudioPaths:
    """The folders of one studio installation."""

    data_dir: Path
    config_dir: Path
    log_dir: Path
    cache_dir: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "library.sqlite3"

    @property
    def backup_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def default_archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def preferences_file(self) -> Path:
        return self.config_dir / "preferences.json"

    @property
    def ui_state_file(self) -> Path:
        return self.config_dir / "ui-state.ini"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "studio.log"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "studio.lock"

    def ensure(self) -> None:
        """Create every folder, private to the user (0700) where the OS allows."""
        for folder in (self.data_dir, self.config_dir, self.log_dir, self.cache_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def resolve_paths(data_dir: str | os.PathLike[str] | None = None) -> StudioPaths:
    """Resolve the folders: explicit argument, then ``STUDIO_DATA_DIR``, then the platform.

    Args:
        data_dir: the ``--data-dir`` value, if the user gave one.
    """
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    if chosen is not None:
        root = Path(chosen).expanduser().resolve()
        return StudioPaths(
            data_dir=root,
            config_dir=root / "config",
            log_dir=root / "logs",
            cache_dir=root / "cache",
        )
    return StudioPaths(
        data_dir=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        cache_dir=Path(platformdirs.user_cache_dir(APP_ID, appauthor=False)),
    )
