"""The studio's log file, and the redaction every log line passes through.

Qt-free. ``setup_logging`` installs a rotating, user-private log file on the
root logger; a ``RedactingFilter`` sits on every handler we install. The filter
is attached to *handlers*, not loggers, on purpose: a record from a child
logger such as ``httpx`` propagates straight to the root's handlers and never
passes the root logger's own filters.

What is removed (replaced by ``<redacted>``):

* every secret registered at runtime with :func:`register_secret` (the
  credential store registers each key it stores or reads);
* ``Bearer …`` tokens and the value of any header, query or JSON parameter
  whose name ends in key, token, secret, signature, authorization or password
  (``TT-API-KEY: …``, ``api_key=…``, ``"secret_key": "…"``);
* JSON Web Tokens and ``sk-…`` style keys;
* the whole query string of any http(s) URL: signed download URLs carry their
  signature there, and httpx logs every URL in full.

:func:`redact` is public so error messages and the UI can use the same rules.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from io import TextIOWrapper
from logging.handlers import RotatingFileHandler
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "attach_redaction",
    "redact",
    "register_secret",
    "setup_logging",
    "shutdown_logging",
]

REDACTED = "<redacted>"

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
MAX_BYTES = 5 * 1024 * 1024
BACKUP_COUNT = 5
# Shorter registered values would redact ordinary words and numbers.
MIN_SECRET_LENGTH = 8

_secrets_lock = threading.Lock()
# Longest first, so a secret containing another is replaced whole. The tuple is
# replaced, never mutated, so readers need no lock.
_secrets: tuple[str, ...] = ()

# Each pattern starts at a fixed literal or behind a look-behind boundary so
# that a long base64 blob in a debug line costs linear time, not quadratic.
# None of the replacements can match again (the value classes exclude "<"), so
# redacting twice gives the same text as redacting once.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
_URL_QUERY = re.compile(r"(?i)\b(https?://[^\s?#\"'<>]*)\?[^\s#\"'<>]+")
_SENSITIVE_PARAM = re.compile(
    r"""(?ix)
    (?<![\w.-])
    (?P<name>[\w.-]*?(?:key|token|secret|signature|authorization|password|passwd))
    (?![\w-])
    (?P<sep>["']\s*[:=,]\s*|\s*[:=]\s*)   # header colon, "=" or a quoted pair's comma
    (?P<open>(?:b?["'])?)                 # opening quote of a (bytes) string value
    (?P<scheme>(?:bearer|basic|token|digest)\s+)?
    (?!(?:bearer|basic|token|digest)\s|b["'])
    [^\s"'&,;<>(){}\[\]]+
    """
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")

_STUDIO_HANDLER = "_studio_handler"
_REDACTED_MARK = "_studio_redacted"


def register_secret(value: str) -> None:
    """Redact ``value`` wherever it appears in a log line from now on.

    Values shorter than 8 characters are ignored: they would mangle ordinary
    text and are not real API keys. The URL-encoded form is registered too.

    Thread-safe; called by the credential store from worker threads.
    """
    if len(value) < MIN_SECRET_LENGTH:
        return
    global _secrets
    with _secrets_lock:
        forms = set(_secrets) | {value, quote(value, safe="")}
        if len(forms) != len(_secrets):
            _secrets = tuple(sorted(forms, key=len, reverse=True))


def redact(text: str) -> str:
    """Return ``text`` with keys, tokens and signed-URL query strings removed."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _SK_KEY.sub(REDACTED, text)
    text = _URL_QUERY.sub(rf"\1?{REDACTED}", text)
    text = _SENSITIVE_PARAM.sub(rf"\g<name>\g<sep>\g<open>\g<scheme>{REDACTED}", text)
    return _BEARER.sub(rf"\1 {REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, exception and stack text through :func:`redact`.

    The message is formatted first (``record.getMessage()``) and the args are
    cleared, so a secret passed as a %-argument or inside a dict repr is caught
    too. The exception text is pre-computed and ``exc_info`` dropped, so no
    later formatter can render the raw exception again.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _REDACTED_MARK, False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        setattr(record, _REDACTED_MARK, True)
        return True


def attach_redaction(handler: logging.Handler) -> logging.Handler:
    """Add a :class:`RedactingFilter` to ``handler`` unless it has one; returns it."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    return handler


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """A rotating file handler whose files are created 0600 (readable by the user only)."""

    def _open(self) -> TextIOWrapper:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.baseFilename, flags, 0o600)
        _make_private(Path(self.baseFilename), 0o600)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def _make_private(path: Path, mode: int) -> None:
    # Best effort: on Windows chmod only toggles read-only, and a folder the
    # user pointed us at may belong to someone else.
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        os.chmod(path, mode)


def _studio_handlers(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in root.handlers if getattr(h, _STUDIO_HANDLER, None)]


def setup_logging(
    log_file: Path, level: int = logging.INFO, console: bool = False
) -> RotatingFileHandler:
    """Send the root logger to a private, rotating log file (5 MB × 5, UTF-8).

    Idempotent: calling it again with the same file adjusts the level and the
    console handler instead of adding handlers; with another file, the old file
    handler is closed and replaced. Handlers other code installed on the root
    logger get a :class:`RedactingFilter` as well.

    Args:
        log_file: the log file; its folder is created 0700 if missing.
        level: the root logger's level (``logging.DEBUG`` logs httpx traffic).
        console: also log to stderr.

    Returns:
        The file handler.
    """
    root = logging.getLogger()
    log_file = Path(log_file).expanduser().absolute()
    folder = log_file.parent
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _make_private(folder, 0o700)

    formatter = logging.Formatter(LOG_FORMAT)
    file_handler: RotatingFileHandler | None = None
    console_handler: logging.Handler | None = None
    for handler in _studio_handlers(root):
        kind = getattr(handler, _STUDIO_HANDLER)
        if (
            kind == "file"
            and file_handler is None
            and isinstance(handler, RotatingFileHandler)
            and Path(handler.baseFilename) == log_file
        ):
            file_handler = handler
        elif kind == "console" and console and console_handler is None:
            console_handler = handler
        else:
            root.removeHandler(handler)
            handler.close()

    if file_handler is None:
        file_handler = _PrivateRotatingFileHandler(
            log_file,
            maxBytes=MAX_BYTES,
            backupCount=BACKUP_COUNT,
            encoding="utf-8",
            errors="backslashreplace",
        )
        setattr(file_handler, _STUDIO_HANDLER, "file")
        root.addHandler(file_handler)
    if console and console_handler is None:
        console_handler = logging.StreamHandler(sys.stderr)
        setattr(console_handler, _STUDIO_HANDLER, "console")
        root.addHandler(console_handler)
    for handler in _studio_handlers(root):
        handler.setFormatter(formatter)
    for handler in root.handlers:
        attach_redaction(handler)
    root.setLevel(level)
    # Warnings can quote URLs and headers too; route them through the filter.
    logging.captureWarnings(True)
    return file_handler


def shutdown_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed."""
    root = logging.getLogger()
    for handler in _studio_handlers(root):
        root.removeHandler(handler)
        handler.close()
    logging.captureWarnings(False)
