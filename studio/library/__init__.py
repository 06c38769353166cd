"""The library: one SQLite file holding the task ledger, takes, files, drafts, presets.

Qt-free. Open it with :func:`open_library`, which checks, recovers, backs up and
migrates the file and returns the notices the user must see.
"""

from studio.library.backups import Backup
from studio.library.connection import Library
from studio.library.database import OpenResult, open_library
from studio.library.drafts import Draft, DraftStore
from studio.library.errors import (
    LibraryBackupError,
    LibraryError,
    LibraryMigrationError,
    LibraryOpenError,
    LibraryTooNewError,
)
from studio.library.migrations import MIGRATIONS, Migration, latest_version
from studio.library.recovery import Recovery

__all__ = [
    "MIGRATIONS",
    "Backup",
    "Draft",
    "DraftStore",
    "Library",
    "LibraryBackupError",
    "LibraryError",
    "LibraryMigrationError",
    "LibraryOpenError",
    "LibraryTooNewError",
    "Migration",
    "OpenResult",
    "Recovery",
    "latest_version",
    "open_library",
]
