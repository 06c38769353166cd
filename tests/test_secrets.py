"""The credential store under every keyring the studio can meet (faults.md S1–S5)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from studio.engines.catalog import ENGINES, EngineInfo, engine_info
from studio.logs import REDACTED, redact
from studio.secrets import (
    MAX_KEY_LENGTH,
    SERVICE,
    CredentialError,
    CredentialStore,
    InvalidKeyError,
    KeyNotSavedError,
    KeyringAccessError,
    KeyringTimeoutError,
    KeySource,
    normalize_key,
)
from tests.memory_keyring import MemoryKeyring

KEY = "tt-0123456789abcdefXYZ"


# --------------------------------------------------------------------------- test backends
# ``viable = False`` keeps these out of keyring's own backend discovery.


class RecordingBackend(KeyringBackend):
    """Fails the test if the store ever touches it."""

    priority: ClassVar[float] = 1
    viable = False

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append("get")
        raise AssertionError("an insecure backend was read")

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append("set")
        raise AssertionError("an insecure backend was written")

    def delete_password(self, service: str, username: str) -> None:
        self.calls.append("delete")
        raise AssertionError("an insecure backend was touched")


class PlaintextKeyring(RecordingBackend):
    """Looks like keyrings.alt's plaintext file backend."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class EncryptedKeyring(RecordingBackend):
    """Like keyrings.alt's encrypted file: it would ask for a password in a terminal."""


EncryptedKeyring.__module__ = "keyrings.alt.file"


class SilentKeyring(KeyringBackend):
    """Looks secure, "succeeds" on set and keeps nothing."""

    priority: ClassVar[float] = 1
    viable = False

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        return None

    def delete_password(self, service: str, username: str) -> None:
        return None


class HangingKeyring(MemoryKeyring):
    """A locked collection: every call blocks until ``release`` is set."""

    viable = False

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.entered += 1
        self.release.wait()
        return super().get_password(service, username)

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entered += 1
        self.release.wait()
        super().set_password(service, username, password)


class LockedKeyring(MemoryKeyring):
    viable = False

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("collection is locked")


def _chainer(members: list[KeyringBackend]) -> chainer.ChainerBackend:
    class FakeChainer(chainer.ChainerBackend):
        backends = members
        viable = False

    return FakeChainer()


@pytest.fixture
def hanging() -> Iterator[HangingKeyring]:
    # Installed by each test itself: the isolation guard checks the backend
    # when the test body starts.
    backend = HangingKeyring()
    yield backend
    backend.release.set()  # let the abandoned daemon threads finish


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# --------------------------------------------------------------------------- S1: no keyring


def test_fail_backend_is_session_only_with_one_notice(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    store = CredentialStore()

    assert not store.is_secure
    assert store.backend_name == "keyring.backends.fail.Keyring"
    assert store.notice is not None
    assert "No secure keyring" in store.notice
    assert "session only" in store.notice
    assert "STUDIO_TTAPI_API_KEY" in store.notice
    assert "STUDIO_KLING_SECRET_KEY" in store.notice
    assert store.take_notice() == store.notice
    assert store.take_notice() is None  # said once

    result = store.set("ttapi", "api_key", KEY)
    assert result.where is KeySource.SESSION
    assert result.session_only
    assert "session only" in result.message
    assert store.get("ttapi", "api_key") == KEY
    assert store.source("ttapi", "api_key") is KeySource.SESSION
    assert store.is_configured("ttapi")
    assert _files_under(tmp_path) == []  # nothing written to disk silently

    store.delete("ttapi", "api_key")
    assert store.get("ttapi", "api_key") is None
    assert not store.is_configured("ttapi")


def test_fail_backend_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setenv("STUDIO_TTAPI_API_KEY", f"  {KEY}\n")
    store = CredentialStore()
    assert store.get("ttapi", "api_key") == KEY
    assert store.source("ttapi", "api_key") is KeySource.ENVIRONMENT
    assert store.is_configured("ttapi")
    # A key entered in the session wins over the environment.
    store.set("ttapi", "api_key", "session-key-123456")
    assert store.get("ttapi", "api_key") == "session-key-123456"


def test_secure_store_has_no_notice() -> None:
    store = CredentialStore()
    assert store.is_secure
    assert store.notice is None
    assert store.take_notice() is None
    assert store.backend_name.endswith("MemoryKeyring")


# --------------------------------------------------------------------------- S2: null backend


def test_null_backend_is_insecure() -> None:
    keyring.set_keyring(null.Keyring())
    store = CredentialStore()
    assert not store.is_secure
    assert store.notice is not None and "disabled" in store.notice
    assert store.set("mountsea", "api_key", KEY).where is KeySource.SESSION
    assert store.get("mountsea", "api_key") == KEY


def test_backend_that_keeps_nothing_is_caught_by_read_back() -> None:
    keyring.set_keyring(SilentKeyring())
    store = CredentialStore()
    assert store.is_secure  # it looks like a real keyring

    with pytest.raises(KeyNotSavedError) as caught:
        store.set("evolink", "api_key", KEY)
    message = str(caught.value)
    assert "was not saved" in message
    assert "Evolink" in message and "API key" in message
    assert KEY not in message
    assert caught.value.kept_for_session
    # Never a false success, but the user can work this session.
    assert store.get("evolink", "api_key") == KEY
    assert store.source("evolink", "api_key") is KeySource.SESSION


# --------------------------------------------------------------------------- S3: plaintext


@pytest.mark.parametrize("backend_class", [PlaintextKeyring, EncryptedKeyring])
def test_keyrings_alt_backend_is_never_used(backend_class: type[RecordingBackend]) -> None:
    backend = backend_class()
    keyring.set_keyring(backend)
    store = CredentialStore()
    assert not store.is_secure
    assert store.backend_name == f"keyrings.alt.file.{backend_class.__qualname__}"
    assert store.notice is not None and "file" in store.notice

    assert store.set("ttapi", "api_key", KEY).where is KeySource.SESSION
    assert store.get("ttapi", "api_key") == KEY
    assert store.get("kling", "access_key") is None
    store.delete("ttapi", "api_key")
    assert backend.calls == []


def test_chainer_of_insecure_or_no_backends_is_insecure() -> None:
    alt = PlaintextKeyring()
    for members in ([], [alt], [null.Keyring(), alt]):
        keyring.set_keyring(_chainer(members))
        store = CredentialStore()
        assert not store.is_secure
        assert store.notice is not None
        store.set("ttapi", "api_key", KEY)
    assert alt.calls == []


def test_chainer_uses_its_secure_member_directly() -> None:
    alt = PlaintextKeyring()
    memory = MemoryKeyring()
    keyring.set_keyring(_chainer([memory, alt]))
    store = CredentialStore()
    assert store.is_secure
    assert store.backend_name.endswith("MemoryKeyring")
    assert store.set("ttapi", "api_key", KEY).where is KeySource.KEYRING
    assert memory.secrets[(SERVICE, "ttapi.api_key")] == KEY
    assert alt.calls == []


# --------------------------------------------------------------------------- S4: hangs


def test_hanging_keyring_times_out_then_fails_fast(hanging: HangingKeyring) -> None:
    keyring.set_keyring(hanging)
    store = CredentialStore(timeout=0.2)
    assert store.is_secure

    started = time.monotonic()
    with pytest.raises(KeyringTimeoutError) as caught:
        store.get("ttapi", "api_key")
    assert time.monotonic() - started < 1.5
    assert "not responding" in str(caught.value)

    started = time.monotonic()
    with pytest.raises(KeyringTimeoutError):
        store.get("kling", "api_key")
    assert time.monotonic() - started < 0.15  # no second wait
    assert hanging.entered == 1  # no thread piled up

    # Once the keyring answers, the store works again.
    hanging.secrets[(SERVICE, "ttapi.api_key")] = KEY
    hanging.release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            assert store.get("ttapi", "api_key") == KEY
            break
        except KeyringTimeoutError:
            time.sleep(0.01)
    else:
        pytest.fail("the store did not recover after the keyring answered")


def test_hanging_keyring_on_set_keeps_key_for_session(hanging: HangingKeyring) -> None:
    keyring.set_keyring(hanging)
    store = CredentialStore(timeout=0.2)
    with pytest.raises(KeyringTimeoutError) as caught:
        store.set("ttapi", "api_key", KEY)
    assert caught.value.kept_for_session
    assert "session only" in str(caught.value)
    assert KEY not in str(caught.value)
    # The session copy answers without touching the stuck keyring.
    assert store.get("ttapi", "api_key") == KEY


def test_hanging_keyring_falls_back_to_environment(
    hanging: HangingKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(hanging)
    monkeypatch.setenv("STUDIO_TTAPI_API_KEY", KEY)
    store = CredentialStore(timeout=0.2)
    assert store.get("ttapi", "api_key") == KEY
    assert store.source("ttapi", "api_key") is KeySource.ENVIRONMENT


def test_hanging_backend_lookup_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def stuck() -> KeyringBackend:
        release.wait()
        return MemoryKeyring()

    monkeypatch.setattr(keyring, "get_keyring", stuck)
    try:
        started = time.monotonic()
        store = CredentialStore(timeout=0.2)
        assert time.monotonic() - started < 1.5
        assert not store.is_secure
        assert store.notice is not None and "not responding" in store.notice
        assert store.set("ttapi", "api_key", KEY).where is KeySource.SESSION
    finally:
        release.set()


def test_locked_keyring_error_is_user_facing() -> None:
    keyring.set_keyring(LockedKeyring())
    store = CredentialStore()
    with pytest.raises(KeyringAccessError) as caught:
        store.set("ttapi", "api_key", KEY)
    assert "locked" in str(caught.value)
    assert caught.value.kept_for_session
    assert store.get("ttapi", "api_key") == KEY
    with pytest.raises(KeyringAccessError):
        store.get("kling", "api_key")


# --------------------------------------------------------------------------- environment


@pytest.mark.parametrize("engine", ENGINES, ids=lambda engine: engine.id)
def test_environment_fallback_for_every_engine(
    engine: EngineInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(fail.Keyring())
    info = engine_info(engine.id)
    store = CredentialStore()
    assert not store.is_configured(info.id)
    for index, field in enumerate(info.credential_fields):
        monkeypatch.setenv(field.env_var(info.id), f' "{info.id}-{field.name}-{index:08d}" ')
    for index, field in enumerate(info.credential_fields):
        assert store.get(info.id, field) == f"{info.id}-{field.name}-{index:08d}"
        assert store.source(info.id, field.name) is KeySource.ENVIRONMENT
    assert store.is_configured(info.id)


def test_environment_variable_names() -> None:
    kling = engine_info("kling")
    names = {field.env_var("kling") for field in kling.credential_fields}
    assert names == {"STUDIO_KLING_ACCESS_KEY", "STUDIO_KLING_SECRET_KEY", "STUDIO_KLING_API_KEY"}


def test_kling_needs_a_whole_credential_set(monkeypatch: pytest.MonkeyPatch) -> None:
    store = CredentialStore()
    monkeypatch.setenv("STUDIO_KLING_ACCESS_KEY", "ak-1234567890")
    assert not store.is_configured("kling")
    monkeypatch.setenv("STUDIO_KLING_SECRET_KEY", "sk-abcdefghijkl")
    assert store.is_configured("kling")
    monkeypatch.delenv("STUDIO_KLING_ACCESS_KEY")
    assert not store.is_configured("kling")
    store.set("kling", "api_key", KEY)  # the aggregator's single bearer key
    assert store.is_configured("kling")


def test_malformed_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    secret_part = "ENVSECRETPART"
    monkeypatch.setenv("STUDIO_TTAPI_API_KEY", f"abc {secret_part}")
    store = CredentialStore()
    with pytest.raises(InvalidKeyError) as caught:
        store.get("ttapi", "api_key")
    message = str(caught.value)
    assert "STUDIO_TTAPI_API_KEY" in message and "space" in message
    assert secret_part not in message
    assert not store.is_configured("ttapi")


# --------------------------------------------------------------------------- S5: normalisation


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("  abcd1234efgh  ", "abcd1234efgh"),
        ("abcd1234efgh\r\n", "abcd1234efgh"),
        ('"abcd1234efgh"', "abcd1234efgh"),
        ("'abcd1234efgh'\n", "abcd1234efgh"),
        (" “abcd1234efgh” ", "abcd1234efgh"),
        ("Bearer abcd1234efgh", "abcd1234efgh"),
        # Unmatched quotes are not a pair: they stay (the vendor will judge).
        ("\"abcd1234efgh'", "\"abcd1234efgh'"),
    ],
)
def test_normalisation_accepts(pasted: str, expected: str) -> None:
    assert normalize_key(pasted) == expected


SECRET_PART = "SECRETPART9876"


@pytest.mark.parametrize(
    ("pasted", "rule"),
    [
        (f"abc {SECRET_PART}", "a space"),
        (f"abc\t{SECRET_PART}", "a space"),
        (f"abc\n{SECRET_PART}", "a line break"),
        (f"abc\r\nX-Other: {SECRET_PART}", "a line break"),  # header injection
        (f"abc\x00{SECRET_PART}", "a control character"),
        (f"abc\x1b{SECRET_PART}", "a control character"),
        (f"abcé{SECRET_PART}", "outside plain ASCII"),
        (f"abc\u200b{SECRET_PART}", "outside plain ASCII"),
        (SECRET_PART * 800, "too long"),  # ~10 KB
        ("", "empty"),
        ("   \n ", "empty"),
        ('""', "empty"),
    ],
)
def test_normalisation_rejects_with_precise_message(pasted: str, rule: str) -> None:
    store = CredentialStore()
    with pytest.raises(InvalidKeyError) as caught:
        store.set("kling", "secret_key", pasted)
    message = str(caught.value)
    assert message.startswith("The Kling text-to-audio SecretKey ")
    assert rule in message
    assert SECRET_PART not in message
    assert SECRET_PART not in repr(caught.value)
    assert isinstance(caught.value, CredentialError)
    assert isinstance(caught.value, ValueError)
    assert store.get("kling", "secret_key") is None  # nothing stored


def test_length_limit_is_inclusive() -> None:
    assert normalize_key("a" * MAX_KEY_LENGTH) == "a" * MAX_KEY_LENGTH
    with pytest.raises(InvalidKeyError, match="too long"):
        normalize_key("a" * (MAX_KEY_LENGTH + 1))


# --------------------------------------------------------------------------- secure keyring


def test_read_back_success_with_system_keyring(isolated: MemoryKeyring) -> None:
    store = CredentialStore()
    result = store.set("kling", "secret_key", f"  {KEY}  ")
    assert result.where is KeySource.KEYRING
    assert not result.session_only
    assert "saved in the system keyring" in result.message
    assert isolated.secrets[(SERVICE, "kling.secret_key")] == KEY
    assert store.get("kling", "secret_key") == KEY
    assert store.source("kling", "secret_key") is KeySource.KEYRING

    # Another store (the next start of the app) finds it.
    assert CredentialStore().get("kling", "secret_key") == KEY

    store.delete("kling", "secret_key")
    assert (SERVICE, "kling.secret_key") not in isolated.secrets
    assert store.get("kling", "secret_key") is None
    store.delete("kling", "secret_key")  # deleting twice is fine


def test_keyring_beats_environment(
    isolated: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STUDIO_TTAPI_API_KEY", "env-key-1234567")
    store = CredentialStore()
    assert store.source("ttapi", "api_key") is KeySource.ENVIRONMENT
    store.set("ttapi", "api_key", KEY)
    assert store.get("ttapi", "api_key") == KEY
    assert store.source("ttapi", "api_key") is KeySource.KEYRING


def test_cache_refresh(isolated: MemoryKeyring) -> None:
    store = CredentialStore()
    assert store.get("ttapi", "api_key") is None
    isolated.secrets[(SERVICE, "ttapi.api_key")] = KEY  # edited outside the app
    store.clear_cache()
    assert store.get("ttapi", "api_key") == KEY


def test_malformed_keyring_value_is_normalised_or_refused(isolated: MemoryKeyring) -> None:
    isolated.secrets[(SERVICE, "ttapi.api_key")] = f" {KEY}\n"
    isolated.secrets[(SERVICE, "mountsea.api_key")] = f"{KEY}\r\nX-Injected: 1"
    store = CredentialStore()
    assert store.get("ttapi", "api_key") == KEY
    with pytest.raises(InvalidKeyError, match="stored in the system keyring") as caught:
        store.get("mountsea", "api_key")
    assert KEY not in str(caught.value)
    assert not store.is_configured("mountsea")


def test_unknown_engine_or_field() -> None:
    store = CredentialStore()
    with pytest.raises(KeyError):
        store.get("nope", "api_key")
    with pytest.raises(KeyError):
        store.get("ttapi", "secret_key")


# --------------------------------------------------------------------------- never leaks


def test_key_never_in_repr_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = "zzPLAINKEY0123456789"
    store = CredentialStore()
    result = store.set("ttapi", "api_key", key)
    assert key not in repr(store)
    assert key not in repr(result)
    assert key not in caplog.text
    # Registered with the redactor: even a bare occurrence is removed.
    assert redact(f"<<{key}>>") == f"<<{REDACTED}>>"


def test_environment_key_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "envPLAINKEY0123456789"
    monkeypatch.setenv("STUDIO_EVOLINK_API_KEY", key)
    CredentialStore().get("evolink", "api_key")
    assert redact(f"x{key}y") == f"x{REDACTED}y"


# --------------------------------------------------------------------------- async


def test_async_helpers_run_off_the_loop_thread(isolated: MemoryKeyring) -> None:
    store = CredentialStore()

    async def scenario() -> None:
        result = await store.aset("mountsea", "api_key", KEY)
        assert result.where is KeySource.KEYRING
        assert await store.aget("mountsea", "api_key") == KEY
        assert await store.asource("mountsea", "api_key") is KeySource.KEYRING
        assert await store.ais_configured("mountsea")
        await store.adelete("mountsea", "api_key")
        assert await store.aget("mountsea", "api_key") is None
        assert not await store.ais_configured("mountsea")

    asyncio.run(scenario())


def test_async_get_keeps_the_loop_live_while_keyring_hangs(hanging: HangingKeyring) -> None:
    keyring.set_keyring(hanging)
    store = CredentialStore(timeout=0.3)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def scenario() -> None:
        task = asyncio.create_task(ticker())
        with pytest.raises(KeyringTimeoutError):
            await store.aget("ttapi", "api_key")
        task.cancel()

    asyncio.run(scenario())
    assert ticks >= 10  # the loop kept running during the 0.3 s wait
