"""What can go wrong when opening the library, as exceptions the UI can explain."""

from __future__ import annotations

from pathlib import Path


class LibraryError(Exception):
    """Base class of every library database error."""


class LibraryOpenError(LibraryError):
    """The database could not be opened, for a reason other than damage.

    A locked, unreadable or permission-denied file is *not* damaged, so it is
    never moved aside: the message names the file and the cause instead.
    """


class LibraryTooNewError(LibraryError):
    """The database was written by a newer Studio; this one must not touch it (faults L4)."""

    def __init__(self, path: Path, found_version: int, supported_version: int) -> None:
        self.path = path
        self.found_version = found_version
        self.supported_version = supported_version
        super().__init__(
            f"The library {path} has schema version {found_version}, but this Studio "
            f"understands versions up to {supported_version}. It was made by a newer "
            "Studio and has been left untouched: update Studio to open it."
        )


class LibraryMigrationError(LibraryError):
    """A schema migration failed and was rolled back; the file keeps its old version."""

    def __init__(self, path: Path | None, version: int, description: str, cause: str) -> None:
        self.path = path
        self.version = version
        self.description = description
        where = f"the library {path}" if path is not None else "the library"
        super().__init__(
            f"Could not upgrade {where} to schema version {version} ({description}): "
            f"{cause}. Nothing was changed; the library keeps its previous version."
        )


class LibraryBackupError(LibraryError):
    """A backup that must precede a migration could not be written, so nothing was migrated."""
