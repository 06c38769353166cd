"""Everything a running studio holds open, built once at start by GUI or CLI.

Qt-free: the Qt bootstrap builds this, then hands it to the main window, so
widgets receive services through their constructors and tests inject their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from studio import __version__
from studio.engines.catalog import ENGINES
from studio.engines.connections import EngineConnections
from studio.library.database import Library, open_library
from studio.library.drafts import DraftStore
from studio.library.takes import TakeStore
from studio.logs import setup_logging
from studio.paths import StudioPaths
from studio.secrets import CredentialError, CredentialStore
from studio.settings import Preferences, PreferencesStore
from studio.tasks.ledger import TaskLedger

if TYPE_CHECKING:
    from studio.tasks.cadence import TaskPolicy
    from studio.tasks.service import TaskService

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """The open services of one studio session."""

    paths: StudioPaths
    library: Library
    drafts: DraftStore
    preferences: Preferences
    preferences_store: PreferencesStore
    credentials: CredentialStore
    connections: EngineConnections
    ledger: TaskLedger
    takes: TakeStore
    # Things the user must be told once at start (restored backup, no keyring…).
    notices: list[str] = field(default_factory=list)

    @property
    def archive_dir(self) -> Path:
        return self.preferences.archive_folder(self.paths.default_archive_dir)

    _service: TaskService | None = field(default=None, init=False, repr=False)

    def task_service(self, policy: TaskPolicy | None = None) -> TaskService:
        """The one task service of this session, created on first use.

        Call on the asyncio loop's thread (its engine clients belong to that loop).

        Args:
            policy: cadences, deadlines and caps (the CLI's --sandbox polls faster);
                used when the service is first built.
        """
        if self._service is None:
            # Imported here: the service pulls in httpx and every adapter (~150 ms),
            # which the window's first paint does not need (benchmarks.md S1).
            from studio.tasks.archive_step import archive_with
            from studio.tasks.archiver import Archiver
            from studio.tasks.cadence import DEFAULT_POLICY
            from studio.tasks.service import TaskService

            archiver = Archiver(self.takes, self.archive_dir)
            self._service = TaskService(
                self.ledger,
                self.connections.client,
                archive_with(archiver),
                policy=policy or DEFAULT_POLICY,
            )
        return self._service

    def close(self) -> None:
        self.connections.stop_sandbox()
        self.library.close()


def open_context(paths: StudioPaths, *, log_level: int = logging.INFO) -> AppContext:
    """Create the folders, start logging, open the library, load preferences and keys.

    Raises:
        LibraryTooNewError: the database was written by a newer Studio; it is not touched.
    """
    paths.ensure()
    setup_logging(paths.log_file, level=log_level)
    log.info("Studio %s starting; data folder %s", __version__, paths.data_dir)
    opened = open_library(paths.database, paths.backup_dir)
    notices = list(opened.notices)
    store = PreferencesStore(paths.preferences_file)
    preferences = store.load()
    notices.extend(store.notices)
    credentials = CredentialStore()
    # Read every key once now, before any window exists: the store caches what it
    # read, so the GUI thread later never waits on the keyring for a status check.
    try:
        for engine in ENGINES:
            credentials.is_configured(engine.id)
    except CredentialError as exc:
        notices.append(exc.message)
    notice = credentials.take_notice()
    if notice:
        notices.append(notice)
    connections = EngineConnections(preferences, credentials)
    if preferences.use_sandbox:
        try:
            connections.start_sandbox()
        except OSError as exc:
            notices.append(f"The offline sandbox could not start ({exc.strerror or exc}).")
    for notice in notices:
        log.warning("%s", notice)
    return AppContext(
        paths=paths,
        library=opened.library,
        drafts=DraftStore(opened.library),
        preferences=preferences,
        preferences_store=store,
        credentials=credentials,
        connections=connections,
        ledger=TaskLedger(opened.library),
        takes=TakeStore(opened.library),
        notices=notices,
    )
