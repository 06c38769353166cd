"""The credential store: the only place the studio keeps API keys.

Qt-free. Keys live in the system keyring (service ``"studio"``, user name
``"<engine>.<field>"``, e.g. ``"kling.secret_key"``), never in settings, the
database or a log. When the system has no keyring worth the name (headless
Linux, the ``null`` backend, plaintext ``keyrings.alt`` files) the store says
so once, keeps keys the user enters in memory for this session only, and reads
``STUDIO_<ENGINE>_<FIELD>`` environment variables.

Every keyring call runs on a daemon worker thread bounded by a timeout: a
locked SecretService collection can block forever, and it must block neither
the caller nor interpreter exit. The synchronous methods block the calling
thread for at most that timeout; the GUI uses the ``a…`` coroutines, which
move the work off the event loop's thread.

A key never appears in an exception message, a repr or a log record: every key
stored or read is registered with :func:`studio.logs.register_secret`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from studio import APP_ID
from studio.engines.catalog import ENGINES, CredentialField, EngineInfo, engine_info
from studio.keyring_backend import Assessment, BoundedCaller, assess
from studio.logs import redact, register_secret

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_KEY_LENGTH",
    "SERVICE",
    "CredentialError",
    "CredentialStore",
    "InvalidKeyError",
    "KeyNotSavedError",
    "KeySource",
    "KeyringAccessError",
    "KeyringTimeoutError",
    "SaveResult",
    "normalize_key",
]

log = logging.getLogger(__name__)

SERVICE = APP_ID
DEFAULT_TIMEOUT = 5.0
MAX_KEY_LENGTH = 512

_T = TypeVar("_T")
_QUOTE_PAIRS = (('"', '"'), ("'", "'"), ("`", "`"), ("“", "”"), ("‘", "’"))


# --------------------------------------------------------------------------- errors


class CredentialError(Exception):
    """Base of the store's errors; ``str(error)`` is a sentence for the user.

    Attributes:
        kept_for_session: the key the user entered is usable until the app quits
            although it could not be saved.
    """

    def __init__(self, message: str, *, kept_for_session: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.kept_for_session = kept_for_session


class InvalidKeyError(CredentialError, ValueError):
    """The pasted value is not a plausible key; the message says which rule, never the key."""


class KeyNotSavedError(CredentialError):
    """The keyring accepted the key but did not keep it (read-back differs)."""


class KeyringAccessError(CredentialError):
    """The keyring refused or failed a request."""


class KeyringTimeoutError(KeyringAccessError):
    """The keyring did not answer within the timeout (e.g. a locked collection)."""


# --------------------------------------------------------------------------- results


class KeySource(enum.StrEnum):
    """Where a key was found or put."""

    KEYRING = "keyring"
    SESSION = "session"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class SaveResult:
    """What :meth:`CredentialStore.set` did with a key.

    Attributes:
        where: ``KEYRING`` (saved for good) or ``SESSION`` (until the app quits).
        message: a sentence for the user.
    """

    where: KeySource
    message: str

    @property
    def session_only(self) -> bool:
        return self.where is KeySource.SESSION


# --------------------------------------------------------------------------- normalisation


def _describe(engine: EngineInfo, field: CredentialField) -> str:
    """Names a key at the start of a sentence: "The Kling text-to-audio SecretKey"."""
    return f"The {engine.name} {field.label}"


def _subject(engine: EngineInfo, field: CredentialField) -> str:
    """Names a key inside a sentence: "the Kling text-to-audio SecretKey"."""
    return f"the {engine.name} {field.label}"


def normalize_key(value: str, what: str = "The key") -> str:
    """Clean up a pasted key, or explain precisely why it cannot be one.

    Strips surrounding whitespace, one pair of matching quotes and a leading
    ``Bearer `` (people paste whole header values). What remains must be 1 to
    512 printable ASCII characters without spaces: anything else would be
    rejected by the vendor, or worse, smuggled into an HTTP header.

    Args:
        value: what the user pasted.
        what: how the message names the key, e.g. "The Kling text-to-audio SecretKey".

    Raises:
        InvalidKeyError: naming ``what`` and the rule; the value is never quoted.
    """
    text = value.strip()
    for opening, closing in _QUOTE_PAIRS:
        if len(text) >= 2 and text.startswith(opening) and text.endswith(closing):
            text = text[len(opening) : -len(closing)].strip()
            break
    if text[:7].lower() == "bearer " and len(text) > 7:
        text = text[7:].lstrip()
    if not text:
        raise InvalidKeyError(f"{what} is empty.")
    if len(text) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"{what} is too long ({len(text)} characters; a key has at most "
            f"{MAX_KEY_LENGTH}). Check that only the key was copied."
        )
    for position, char in enumerate(text, start=1):
        if "!" <= char <= "~":
            continue
        if char in "\r\n":
            problem = "a line break"
            hint = "paste the key on one line"
        elif char.isspace():
            problem = "a space"
            hint = "remove the spaces inside it"
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            problem = "a control character"
            hint = "paste the key again as plain text"
        else:
            problem = "a character outside plain ASCII (such as a typographic quote or dash)"
            hint = "copy the key again from the vendor's page"
        raise InvalidKeyError(f"{what} contains {problem} at position {position}; {hint}.")
    return text


def _keyring_timeout_error() -> KeyringTimeoutError:
    return KeyringTimeoutError(
        "The system keyring is not responding (it may be locked or waiting for "
        "you to unlock it). Unlock it and try again."
    )


def _env_var_examples() -> str:
    names = [field.env_var(engine.id) for engine in ENGINES for field in engine.credential_fields]
    return ", ".join(names)


# --------------------------------------------------------------------------- the store


class CredentialStore:
    """Keeps API keys: system keyring, else this session's memory, else the environment.

    Thread-safe. Synchronous methods may block the calling thread for up to
    ``timeout`` seconds and must not run on the GUI thread: use the ``a…``
    coroutines there.

    Attributes:
        backend_name: the keyring backend in use (or found and refused).
        is_secure: keys are written to the system keyring.
        notice: one sentence for the user when keys cannot be saved, else None.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Assess the current keyring backend once (bounded by ``timeout``)."""
        self._caller = BoundedCaller(timeout, _keyring_timeout_error)
        self._lock = threading.Lock()
        self._session: dict[tuple[str, str], str] = {}
        # Keyring reads are cached (None = absent) so engines can ask per request.
        self._cache: dict[tuple[str, str], str | None] = {}
        self._notice_taken = False
        try:
            assessment = self._caller.call(lambda: assess(keyring.get_keyring()))
        except KeyringTimeoutError:
            assessment = Assessment(None, "unknown", "the system keyring is not responding")
        except Exception as exc:
            log.warning("Could not assess the keyring: %s", type(exc).__name__)
            assessment = Assessment(None, "unknown", "the system keyring could not be opened")
        self._backend = assessment.backend
        self.backend_name: str = assessment.name
        self.is_secure: bool = assessment.backend is not None
        self.notice: str | None = None
        if not self.is_secure:
            self.notice = (
                f"No secure keyring is available on this system ({assessment.reason}). "
                "Keys you enter are kept for this session only; you can also set them "
                f"in environment variables ({_env_var_examples()})."
            )
            log.warning("Keyring %s not used: %s", self.backend_name, assessment.reason)
        else:
            log.info("Keys are kept in the system keyring (%s)", self.backend_name)

    def __repr__(self) -> str:
        return f"CredentialStore(backend={self.backend_name!r}, secure={self.is_secure})"

    @property
    def timeout(self) -> float:
        return self._caller.timeout

    def take_notice(self) -> str | None:
        """The notice the first time it is asked for, then None (so the UI says it once)."""
        with self._lock:
            if self._notice_taken:
                return None
            self._notice_taken = True
            return self.notice

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _resolve(
        engine_id: str, field: str | CredentialField
    ) -> tuple[EngineInfo, CredentialField]:
        engine = engine_info(engine_id)
        name = field if isinstance(field, str) else field.name
        for candidate in engine.credential_fields:
            if candidate.name == name:
                return engine, candidate
        known = ", ".join(f.name for f in engine.credential_fields)
        raise KeyError(f"{engine.name} has no credential {name!r} (known: {known})")

    @staticmethod
    def _username(engine: EngineInfo, field: CredentialField) -> str:
        return f"{engine.id}.{field.name}"

    def _keyring_call(self, what: str, function: Callable[[], _T]) -> _T:
        """Run ``function`` on the keyring with the timeout; map failures to our errors."""
        try:
            return self._caller.call(function)
        except CredentialError:
            raise
        except keyring.errors.KeyringLocked as exc:
            raise KeyringAccessError(
                f"The system keyring is locked, so {what} could not be reached. "
                "Unlock it and try again."
            ) from exc
        except Exception as exc:
            detail = redact(str(exc))[:200]
            raise KeyringAccessError(
                f"The system keyring failed while {what} was being accessed "
                f"({type(exc).__name__}: {detail})."
            ) from exc

    def _read_keyring(self, engine: EngineInfo, field: CredentialField) -> str | None:
        if self._backend is None:
            return None
        slot = (engine.id, field.name)
        with self._lock:
            if slot in self._cache:
                return self._cache[slot]
        backend = self._backend
        username = self._username(engine, field)
        value = self._keyring_call(
            _subject(engine, field), lambda: backend.get_password(SERVICE, username)
        )
        if value is not None:
            register_secret(value)
            # Another tool may have put anything there; it must not reach a header.
            value = normalize_key(value, f"{_describe(engine, field)} stored in the system keyring")
        with self._lock:
            self._cache[slot] = value
        return value

    def _read_environment(self, engine: EngineInfo, field: CredentialField) -> str | None:
        variable = field.env_var(engine.id)
        raw = os.environ.get(variable)
        if raw is None or not raw.strip():
            return None
        try:
            value = normalize_key(raw, f"The environment variable {variable}")
        except InvalidKeyError as exc:
            raise InvalidKeyError(
                f"{exc.message} It is not a valid {engine.name} {field.label}."
            ) from None
        register_secret(value)
        return value

    def _lookup(self, engine: EngineInfo, field: CredentialField) -> tuple[str, KeySource] | None:
        slot = (engine.id, field.name)
        with self._lock:
            session_value = self._session.get(slot)
        if session_value is not None:
            return session_value, KeySource.SESSION
        try:
            stored = self._read_keyring(engine, field)
        except KeyringAccessError:
            # A stuck or locked keyring must not hide a key the user exported.
            from_env = self._read_environment(engine, field)
            if from_env is None:
                raise
            log.warning(
                "Keyring unavailable; using %s from the environment",
                field.env_var(engine.id),
            )
            return from_env, KeySource.ENVIRONMENT
        if stored is not None:
            return stored, KeySource.KEYRING
        from_env = self._read_environment(engine, field)
        if from_env is not None:
            return from_env, KeySource.ENVIRONMENT
        return None

    # ------------------------------------------------------------------ public API

    def set(self, engine_id: str, field: str | CredentialField, value: str) -> SaveResult:
        """Store a key the user entered.

        With a secure keyring the key is written, read back and compared; with
        none it is kept in memory for this session only (never written to an
        insecure backend). Blocks up to ``timeout``: not for the GUI thread.

        Raises:
            InvalidKeyError: the value is not a plausible key (nothing stored).
            KeyNotSavedError: the keyring did not keep it; usable this session.
            KeyringAccessError: the keyring failed or timed out; usable this session.
        """
        engine, spec = self._resolve(engine_id, field)
        what = _describe(engine, spec)
        key = normalize_key(value, what)
        register_secret(key)
        slot = (engine.id, spec.name)
        backend = self._backend
        if backend is None:
            with self._lock:
                self._session[slot] = key
            log.info("Keeping %s for this session only", self._username(engine, spec))
            return SaveResult(
                KeySource.SESSION,
                f"{what} is kept for this session only: no secure keyring is available.",
            )

        username = self._username(engine, spec)
        with self._lock:
            # Until the keyring confirms, the session copy lets the user work.
            self._session[slot] = key
            self._cache.pop(slot, None)
        try:
            read_back = self._keyring_call(
                _subject(engine, spec), lambda: _write_and_read(backend, username, key)
            )
        except KeyringAccessError as exc:
            log.warning("Could not save %s in the keyring: %s", username, type(exc).__name__)
            raise type(exc)(
                f"{exc.message} {what} is kept for this session only.", kept_for_session=True
            ) from exc
        if read_back != key:
            log.warning("Keyring %s did not keep %s", self.backend_name, username)
            raise KeyNotSavedError(
                f"{what} was not saved: the system keyring ({self.backend_name}) accepted "
                "it but did not keep it. It is kept for this session only.",
                kept_for_session=True,
            )
        with self._lock:
            self._session.pop(slot, None)
            self._cache[slot] = key
        log.info("Saved %s in the system keyring", username)
        return SaveResult(KeySource.KEYRING, f"{what} is saved in the system keyring.")

    def get(self, engine_id: str, field: str | CredentialField) -> str | None:
        """The key, from this session, the keyring or the environment; None if absent.

        Blocks up to ``timeout`` on the first keyring read: not for the GUI thread.

        Raises:
            KeyringAccessError: the keyring failed and no environment variable is set.
            InvalidKeyError: the environment variable holds something that is not a key.
        """
        engine, spec = self._resolve(engine_id, field)
        found = self._lookup(engine, spec)
        return None if found is None else found[0]

    def source(self, engine_id: str, field: str | CredentialField) -> KeySource | None:
        """Where :meth:`get` finds the key (for the Settings dialog), or None."""
        engine, spec = self._resolve(engine_id, field)
        found = self._lookup(engine, spec)
        return None if found is None else found[1]

    def delete(self, engine_id: str, field: str | CredentialField) -> None:
        """Forget a key in this session and the keyring (environment variables stay).

        Raises:
            KeyringAccessError: the keyring failed or timed out.
        """
        engine, spec = self._resolve(engine_id, field)
        slot = (engine.id, spec.name)
        with self._lock:
            self._session.pop(slot, None)
            self._cache.pop(slot, None)
        backend = self._backend
        if backend is None:
            return
        username = self._username(engine, spec)
        self._keyring_call(_subject(engine, spec), lambda: _delete(backend, username))
        log.info("Deleted %s from the system keyring", username)

    def is_configured(self, engine_id: str) -> bool:
        """True when every field of one of the engine's credential sets has a key.

        A malformed environment variable counts as missing.

        Raises:
            KeyringAccessError: the keyring failed and no environment variable is set.
        """
        engine = engine_info(engine_id)
        for group in engine.credential_sets:
            if all(self._present(engine, field) for field in group):
                return True
        return False

    def _present(self, engine: EngineInfo, field: CredentialField) -> bool:
        try:
            return self._lookup(engine, field) is not None
        except InvalidKeyError:
            return False

    def clear_cache(self) -> None:
        """Forget cached keyring reads (e.g. after the user edited the keyring)."""
        with self._lock:
            self._cache.clear()

    # ------------------------------------------------------------------ async

    async def aset(self, engine_id: str, field: str | CredentialField, value: str) -> SaveResult:
        """:meth:`set` on a worker thread; safe to await on the GUI's event loop."""
        return await asyncio.to_thread(self.set, engine_id, field, value)

    async def aget(self, engine_id: str, field: str | CredentialField) -> str | None:
        """:meth:`get` on a worker thread; safe to await on the GUI's event loop."""
        return await asyncio.to_thread(self.get, engine_id, field)

    async def asource(self, engine_id: str, field: str | CredentialField) -> KeySource | None:
        """:meth:`source` on a worker thread; safe to await on the GUI's event loop."""
        return await asyncio.to_thread(self.source, engine_id, field)

    async def adelete(self, engine_id: str, field: str | CredentialField) -> None:
        """:meth:`delete` on a worker thread; safe to await on the GUI's event loop."""
        await asyncio.to_thread(self.delete, engine_id, field)

    async def ais_configured(self, engine_id: str) -> bool:
        """:meth:`is_configured` on a worker thread; safe to await on the GUI's event loop."""
        return await asyncio.to_thread(self.is_configured, engine_id)


def _write_and_read(backend: KeyringBackend, username: str, key: str) -> str | None:
    backend.set_password(SERVICE, username, key)
    return backend.get_password(SERVICE, username)


def _delete(backend: KeyringBackend, username: str) -> None:
    # Nothing stored is already what the caller wants.
    with contextlib.suppress(keyring.errors.PasswordDeleteError):
        backend.delete_password(SERVICE, username)
