"""The log file and its redaction (faults.md U3: the canary key appears nowhere on disk)."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.logs import (
    REDACTED,
    RedactingFilter,
    redact,
    register_secret,
    setup_logging,
    shutdown_logging,
)
from studio.secrets import CredentialStore

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJpc3MiOiJhay0xMjM0IiwiZXhwIjoxNzAwMDAwMDAwfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
SIGNED_URL = (
    "https://cdn.example.com/results/take-1.mp3"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA1234%2F20240101"
    "&X-Amz-Signature=5f2b7c9d0e1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4"
)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    handlers = list(root.handlers)
    yield
    shutdown_logging()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _read(handler: logging.Handler, path: Path) -> bytes:
    handler.flush()
    return path.read_bytes()


# --------------------------------------------------------------------------- U3 canary


def test_canary_key_never_reaches_the_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "studio.log"
    handler = setup_logging(log_file, level=logging.DEBUG)
    canary = "sk-CANARY-" + secrets.token_hex(16)
    store = CredentialStore()
    store.set("ttapi", "api_key", canary)
    assert store.get("ttapi", "api_key") == canary

    log = logging.getLogger("httpx")  # a child logger: propagates to root's handlers
    log.debug("plain before %s after", canary)
    log.debug("glued-before" + canary + "glued-after")
    log.debug("Authorization: Bearer %s", canary)
    log.debug("TT-API-KEY: %s", canary)
    log.debug("headers %s", {"TT-API-KEY": canary, "Accept": "application/json"})
    log.debug("raw headers %r", [(b"authorization", b"Bearer " + canary.encode())])
    log.debug("body %s", f'{{"api_key": "{canary}", "prompt": "a quiet song"}}')
    log.debug("HTTP Request: GET https://api.ttapi.io/fetch?key=%s&id=42 done", canary)
    log.debug("args %s and %r", canary, (canary, "tuple-neighbour"))
    log.info("positional %(key)s mapping", {"key": canary})
    try:
        raise RuntimeError(f"upstream echoed the key {canary} back")
    except RuntimeError:
        log.exception("submit failed")
    try:
        try:
            raise ValueError(canary)
        except ValueError as inner:
            raise KeyError("wrapped") from inner
    except KeyError as outer:
        log.error("chained failure", exc_info=outer)
    log.debug("with stack %s", canary, stack_info=True)
    logging.getLogger("studio.engines.ttapi").warning("engine said %s", canary)

    data = _read(handler, log_file)
    assert canary.encode() not in data
    assert canary[len("sk-CANARY-") :].encode() not in data
    for kept in (
        b"plain before",
        b"after",
        b"glued-before",
        b"glued-after",
        b"application/json",
        b"a quiet song",
        b"https://api.ttapi.io/fetch?",
        b"done",
        b"tuple-neighbour",
        b"mapping",
        b"submit failed",
        b"RuntimeError: upstream echoed the key",
        b"chained failure",
        b"ValueError",
        b"Stack (most recent call last)",
        b"engine said",
        REDACTED.encode(),
    ):
        assert kept in data, kept


def test_canary_in_second_handler_and_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "sk-CANARY-" + secrets.token_hex(16)
    register_secret(canary)
    handler = setup_logging(tmp_path / "studio.log", level=logging.DEBUG, console=True)
    logging.getLogger("httpcore.http11").debug("send %s", canary)
    data = _read(handler, tmp_path / "studio.log")
    assert canary.encode() not in data
    assert b"send <redacted>" in data
    err = capsys.readouterr().err
    assert "send <redacted>" in err
    assert canary not in err


def test_registered_secret_without_a_recognisable_shape(tmp_path: Path) -> None:
    secret = "Zq" + secrets.token_hex(12)
    register_secret(secret)
    handler = setup_logging(tmp_path / "studio.log")
    logging.getLogger("studio").info("prefix%ssuffix", secret)
    data = _read(handler, tmp_path / "studio.log")
    assert secret.encode() not in data
    assert b"prefix<redacted>suffix" in data


def test_overlapping_secrets_are_replaced_whole() -> None:
    short = "Ov" + secrets.token_hex(6)
    long = short + secrets.token_hex(6)
    register_secret(short)
    register_secret(long)
    assert redact(f"a {long} b {short} c") == f"a {REDACTED} b {REDACTED} c"


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc abcdef") == "abc abcdef"


def test_jwt_and_signed_url_in_the_log(tmp_path: Path) -> None:
    handler = setup_logging(tmp_path / "studio.log", level=logging.DEBUG)
    log = logging.getLogger("httpx")
    log.info('HTTP Request: GET %s "HTTP/1.1 200 OK"', SIGNED_URL)
    log.debug("kling token %s", JWT)
    data = _read(handler, tmp_path / "studio.log").decode()
    assert "X-Amz-Signature" not in data
    assert "5f2b7c9d" not in data
    assert "https://cdn.example.com/results/take-1.mp3?<redacted>" in data
    assert '"HTTP/1.1 200 OK"' in data
    assert "eyJ" not in data
    assert "kling token <redacted>" in data


# --------------------------------------------------------------------------- redact()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-123", "Authorization: Bearer <redacted>"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic <redacted>"),
        ("sent Bearer abcdefgh1234 along", "sent Bearer <redacted> along"),
        ("TT-API-KEY: 1234abcd", "TT-API-KEY: <redacted>"),
        ("x-api-key=zzz; next", "x-api-key=<redacted>; next"),
        ("{'X-Api-Key': 'zzz', 'Accept': '*/*'}", "{'X-Api-Key': '<redacted>', 'Accept': '*/*'}"),
        (
            '{"access_key": "ak", "secret_key": "sk", "prompt": "rain"}',
            '{"access_key": "<redacted>", "secret_key": "<redacted>", "prompt": "rain"}',
        ),
        ("[(b'tt-api-key', b'v4lue')]", "[(b'tt-api-key', b'<redacted>')]"),
        ("api_key=abc&x=1", "api_key=<redacted>&x=1"),
        ("token=bcd", "token=<redacted>"),
        ("signature=ff00 rest", "signature=<redacted> rest"),
        ("key sk-proj-abcdefghijkl end", "key <redacted> end"),
        (f"jwt {JWT}!", "jwt <redacted>!"),
        (
            "GET http://127.0.0.1:8080/a/b?api_key=1&c=2#frag",
            "GET http://127.0.0.1:8080/a/b?<redacted>#frag",
        ),
        ("url='https://h/p?sig=1'", "url='https://h/p?<redacted>'"),
        # Ordinary text survives.
        ("keyring backend: SecretService", "keyring backend: SecretService"),
        ("task-1234567890 submitted", "task-1234567890 submitted"),
        ("GET https://api.ttapi.io/suno/v1/music", "GET https://api.ttapi.io/suno/v1/music"),
        ("tokens: 300", "tokens: 300"),
        (
            "a plain sentence, with commas; and (parens)",
            "a plain sentence, with commas; and (parens)",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # idempotent


def test_redact_is_linear_on_large_blobs() -> None:
    import time

    blob = "QUJD" * 250_000 + " api_key=" + "x" * 100_000
    started = time.monotonic()
    result = redact(blob)
    assert time.monotonic() - started < 2.0
    assert result.endswith("api_key=<redacted>")


def test_filter_survives_bad_format_args() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items %s", ("nan",), None)
    assert RedactingFilter().filter(record)
    assert "%d items" in record.getMessage()


# --------------------------------------------------------------------------- setup


def _studio_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_studio_handler", None)]


def test_setup_is_idempotent(tmp_path: Path) -> None:
    log_file = tmp_path / "studio.log"
    first = setup_logging(log_file)
    second = setup_logging(log_file, level=logging.DEBUG)
    assert first is second
    assert _studio_handlers() == [first]
    assert logging.getLogger().level == logging.DEBUG
    assert sum(isinstance(f, RedactingFilter) for f in first.filters) == 1

    setup_logging(log_file, console=True)
    setup_logging(log_file, console=True)
    assert len(_studio_handlers()) == 2
    setup_logging(log_file)
    assert _studio_handlers() == [first]

    logging.getLogger("studio").warning("exactly once")
    assert _read(first, log_file).count(b"exactly once") == 1

    other = setup_logging(tmp_path / "other.log")
    assert other is not first
    assert _studio_handlers() == [other]


def test_foreign_handlers_get_the_filter(tmp_path: Path) -> None:
    foreign = logging.StreamHandler()
    logging.getLogger().addHandler(foreign)
    setup_logging(tmp_path / "studio.log")
    assert any(isinstance(f, RedactingFilter) for f in foreign.filters)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_log_file_and_folder_are_private(tmp_path: Path) -> None:
    log_file = tmp_path / "new-folder" / "studio.log"
    handler = setup_logging(log_file)
    logging.getLogger("studio").warning("hello")
    handler.flush()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700

    handler.doRollover()  # the fresh file after rotation is private too
    logging.getLogger("studio").warning("after rollover")
    handler.flush()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    rotated = log_file.with_name("studio.log.1")
    assert rotated.exists()
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o600


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_existing_log_file_is_made_private(tmp_path: Path) -> None:
    log_file = tmp_path / "studio.log"
    log_file.write_text("old line\n")
    log_file.chmod(0o644)
    setup_logging(log_file)
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert log_file.read_text().startswith("old line")
