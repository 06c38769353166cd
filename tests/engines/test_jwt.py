"""HS256 encoding checked against an independent computation, and Kling's token renewal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio import logs
from studio.engines.jwt import (
    JwtError,
    KlingTokenMinter,
    b64url_decode,
    b64url_encode,
    decode_hs256,
    encode_hs256,
)

NOW = 1_700_000_000.75


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def test_known_vector_matches_an_independent_hmac() -> None:
    claims = {"iss": "AK-test", "exp": 1_700_001_800, "nbf": 1_699_999_995}
    token = encode_hs256(claims, "SK-secret")

    # Built by hand: the literal header and compact payload Kling's docs describe.
    header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"HS256","typ":"JWT"}
    assert _b64url(b'{"alg":"HS256","typ":"JWT"}') == header
    payload = _b64url(b'{"iss":"AK-test","exp":1700001800,"nbf":1699999995}')
    signature = _b64url(
        hmac.new(b"SK-secret", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    )
    assert token == f"{header}.{payload}.{signature}"
    assert "=" not in token


def test_rfc7515_style_vector() -> None:
    # jwt.io's published example token: an expectation from outside this code base.
    token = encode_hs256(
        {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}, "your-256-bit-secret"
    )
    assert token == (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )


@given(
    claims=st.dictionaries(
        st.text(max_size=10),
        st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20), st.booleans(), st.none()),
        max_size=5,
    ),
    secret=st.text(min_size=1, max_size=40),
)
def test_decode_round_trips_and_rejects_other_secrets(claims: dict[str, Any], secret: str) -> None:
    token = encode_hs256(claims, secret)
    assert decode_hs256(token, secret) == claims
    with pytest.raises(JwtError) as caught:
        decode_hs256(token, secret + "x")
    assert caught.value.reason == "signature"


@given(st.binary(max_size=64))
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.eyJ9.sig",
        # alg "none" must never verify, whatever the signature segment says.
        _b64url(b'{"alg":"none","typ":"JWT"}') + "." + _b64url(b"{}") + ".",
        _b64url(b"[1]") + "." + _b64url(b"{}") + ".x",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(JwtError):
        decode_hs256(token, "secret")


def test_time_checks() -> None:
    token = encode_hs256({"exp": 2000, "nbf": 1000}, "k")
    assert decode_hs256(token, "k", now=1500)["exp"] == 2000
    with pytest.raises(JwtError) as early:
        decode_hs256(token, "k", now=999)
    assert early.value.reason == "not_yet_valid"
    with pytest.raises(JwtError) as late:
        decode_hs256(token, "k", now=2000)
    assert late.value.reason == "expired"
    assert decode_hs256(token, "k", now=2000, leeway_s=5)["nbf"] == 1000


# --------------------------------------------------------------------------- minter


def test_minted_token_has_kling_claims_and_verifies() -> None:
    minter = KlingTokenMinter("my-access-key", "my-secret-key")
    token = minter.token(NOW)
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header == {"alg": "HS256", "typ": "JWT"}
    claims = decode_hs256(token, "my-secret-key", now=NOW)
    assert claims == {"iss": "my-access-key", "exp": 1_700_001_800, "nbf": 1_699_999_995}
    assert minter.expires_at == 1_700_001_800
    assert "my-secret-key" not in repr(minter)


def test_token_is_cached_then_renewed_five_minutes_before_expiry() -> None:
    minter = KlingTokenMinter("ak-123456", "sk-abcdef")
    first = minter.token(NOW)
    assert minter.token(NOW + 60) == first
    # exp is floor(NOW) + 1800; renewal starts 300 s before it.
    last_cached = 1_700_000_000 + 1800 - 300 - 0.001
    assert minter.token(last_cached) == first
    assert not minter.needs_renewal(last_cached)
    assert minter.needs_renewal(last_cached + 0.001)
    renewed = minter.token(last_cached + 0.001)
    assert renewed != first
    assert decode_hs256(renewed, "sk-abcdef")["exp"] == 1_700_000_000 + 1500 + 1800
    # Long after expiry, too.
    assert decode_hs256(minter.token(NOW + 10_000), "sk-abcdef")["exp"] == 1_700_010_000 + 1800


def test_invalidate_forces_a_new_token() -> None:
    minter = KlingTokenMinter("ak-123456", "sk-abcdef")
    first = minter.token(NOW)
    minter.invalidate()
    assert minter.expires_at is None
    second = minter.token(NOW + 1)
    assert second != first
    assert decode_hs256(second, "sk-abcdef")["nbf"] == 1_700_000_001 - 5


def test_clock_going_back_past_nbf_mints_again() -> None:
    minter = KlingTokenMinter("ak-123456", "sk-abcdef")
    first = minter.token(NOW)
    assert minter.token(NOW - 3) == first  # still after nbf
    assert minter.token(NOW - 600) != first


@given(elapsed=st.floats(min_value=0, max_value=5000, allow_nan=False))
def test_a_returned_token_always_has_more_than_the_margin_left(elapsed: float) -> None:
    minter = KlingTokenMinter("ak-123456", "sk-abcdef")
    minter.token(NOW)
    claims = decode_hs256(minter.token(NOW + elapsed), "sk-abcdef", now=NOW + elapsed)
    assert claims["exp"] - (NOW + elapsed) > 300 - 1  # floor() may cost under a second


def test_every_minted_token_is_registered_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[str] = []
    monkeypatch.setattr(logs, "register_secret", registered.append)
    minter = KlingTokenMinter("ak-123456", "sk-abcdef")
    first = minter.token(NOW)
    minter.token(NOW + 1)  # cached: nothing new to register
    second = minter.token(NOW + 5000)
    assert registered == [first, second]


def test_really_registered_tokens_are_redacted() -> None:
    token = KlingTokenMinter("ak-123456", "sk-abcdef").token(NOW)
    # Glued to a word, the generic JWT pattern misses it: only registration hides it.
    assert logs.redact(f"sending x{token} now") == f"sending x{logs.REDACTED} now"


@pytest.mark.parametrize(
    ("access", "secret", "kwargs"),
    [("", "s", {}), ("a", "", {}), ("a", "s", {"renew_margin_s": 1800})],
)
def test_bad_minter_arguments(access: str, secret: str, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        KlingTokenMinter(access, secret, **kwargs)
