"""HS256 JSON Web Tokens with the standard library, and Kling's token minter.

Kling authenticates with a short-lived JWT signed by the account's SecretKey
(providers.md, section 3). A JWT library would be a dependency for forty lines
of ``hmac`` + ``base64``, so the encoding lives here; ``decode_hs256`` is the
inverse, used by the tests and by the sandbox to check tokens it receives.

Every token minted is registered with :func:`studio.logs.register_secret`, so a
token that reaches a log line (an httpx debug record, a traceback) is redacted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import threading
from collections.abc import Mapping
from typing import Any

from studio import logs

__all__ = [
    "NOT_BEFORE_SKEW_S",
    "RENEW_MARGIN_S",
    "TOKEN_LIFETIME_S",
    "JwtError",
    "KlingTokenMinter",
    "b64url_decode",
    "b64url_encode",
    "decode_hs256",
    "encode_hs256",
]

# Kling's documented claims: exp = now + 1800, nbf = now - 5.
TOKEN_LIFETIME_S = 1800
NOT_BEFORE_SKEW_S = 5
# A token is renewed when less than this remains, so one minted just before a
# slow upload or a long poll round cannot expire while the request is in flight.
RENEW_MARGIN_S = 300

_HEADER: dict[str, str] = {"alg": "HS256", "typ": "JWT"}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class JwtError(ValueError):
    """A token that cannot be accepted.

    Attributes:
        reason: ``"malformed"``, ``"signature"``, ``"not_yet_valid"`` or
            ``"expired"``: the sandbox maps the last two to Kling's codes
            1003 and 1004.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def b64url_encode(data: bytes) -> str:
    """Base64url without ``=`` padding, as RFC 7515 requires for JWT segments."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url_encode`; raises JwtError on anything not base64url."""
    # urlsafe_b64decode silently skips foreign characters; a token must not
    # verify after being mangled, so the alphabet is checked first.
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise JwtError("malformed", "not a base64url segment")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise JwtError("malformed", "not a base64url segment") from None


def _compact_json(value: Mapping[str, Any]) -> bytes:
    # No spaces, keys in insertion order: the same claims always give the same token.
    return json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _sign(signing_input: bytes, secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def encode_hs256(claims: Mapping[str, Any], secret: str | bytes) -> str:
    """Sign ``claims`` into a compact JWT with HMAC-SHA256.

    Args:
        claims: the payload; must be JSON-serialisable.
        secret: the signing key (text is encoded as UTF-8).

    Returns:
        ``header.payload.signature``, each segment base64url without padding.
    """
    header = b64url_encode(_compact_json(_HEADER))
    signing_input = f"{header}.{b64url_encode(_compact_json(claims))}"
    signature = _sign(signing_input.encode("ascii"), secret)
    return f"{signing_input}.{b64url_encode(signature)}"


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, UnicodeDecodeError):
        raise JwtError("malformed", f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise JwtError("malformed", f"the {what} is not a JSON object")
    return value


def _number_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise JwtError("malformed", f"claim {name} is not a number")
    return float(value)


def decode_hs256(
    token: str, secret: str | bytes, *, now: float | None = None, leeway_s: float = 0.0
) -> dict[str, Any]:
    """Verify an HS256 token and return its claims.

    Args:
        token: the compact JWT.
        secret: the key it must be signed with.
        now: when given (unix seconds), ``nbf`` and ``exp`` are checked too.
        leeway_s: clock difference tolerated in those checks.

    Returns:
        The payload's claims.

    Raises:
        JwtError: malformed token, another algorithm (``none`` included), a wrong
            signature, or (with ``now``) a token not yet valid or expired.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("malformed", "a JWT has three dot-separated parts")
    header = _json_object(parts[0], "header")
    # Only HS256: accepting the header's own choice of algorithm is the classic
    # "alg: none" forgery.
    if header.get("alg") != "HS256":
        raise JwtError("malformed", "the algorithm is not HS256")
    expected = _sign(f"{parts[0]}.{parts[1]}".encode("ascii"), secret)
    if not hmac.compare_digest(expected, b64url_decode(parts[2])):
        raise JwtError("signature", "the signature does not match")
    claims = _json_object(parts[1], "payload")
    if now is not None:
        not_before = _number_claim(claims, "nbf")
        expires = _number_claim(claims, "exp")
        if not_before is not None and now + leeway_s < not_before:
            raise JwtError("not_yet_valid", "the token is not valid yet")
        if expires is not None and now - leeway_s >= expires:
            raise JwtError("expired", "the token has expired")
    return claims


class KlingTokenMinter:
    """Mints and caches the JWT Kling expects for one AccessKey/SecretKey pair.

    ``token(now)`` returns the cached token until less than ``renew_margin_s``
    of its life remains, then mints a new one. Call :meth:`invalidate` when
    Kling answers 401 with code 1003/1004 (token not yet valid / expired), so
    the next call mints afresh. Thread-safe.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        lifetime_s: int = TOKEN_LIFETIME_S,
        renew_margin_s: int = RENEW_MARGIN_S,
    ) -> None:
        """Create a minter.

        Args:
            access_key: Kling AccessKey, sent as the ``iss`` claim.
            secret_key: Kling SecretKey, the HMAC key; never leaves the process.
            lifetime_s: seconds from minting to ``exp``.
            renew_margin_s: renew when fewer seconds than this remain.

        Raises:
            ValueError: an empty key, or a margin that leaves no usable lifetime.
        """
        if not access_key or not secret_key:
            raise ValueError("both the AccessKey and the SecretKey are needed")
        if not 0 <= renew_margin_s < lifetime_s:
            raise ValueError("renew_margin_s must be at least 0 and below lifetime_s")
        self.access_key = access_key
        self._secret_key = secret_key
        self.lifetime_s = lifetime_s
        self.renew_margin_s = renew_margin_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._not_before = 0
        self._expires = 0

    def __repr__(self) -> str:
        # The default repr would print the SecretKey into tracebacks and logs.
        return f"KlingTokenMinter(access_key={self.access_key!r}, secret_key=<hidden>)"

    @property
    def expires_at(self) -> int | None:
        """``exp`` of the cached token (unix seconds), or None when none is cached."""
        return self._expires if self._token is not None else None

    def needs_renewal(self, now: float) -> bool:
        """Whether :meth:`token` would mint a new token at ``now``."""
        with self._lock:
            return self._stale(now)

    def _stale(self, now: float) -> bool:
        if self._token is None:
            return True
        if now >= self._expires - self.renew_margin_s:
            return True
        # The clock went back past the token's nbf (e.g. NTP corrected a fast
        # clock): the server would now call it "not yet valid" (1003).
        return now < self._not_before

    def token(self, now: float) -> str:
        """The bearer token to send at ``now`` (unix seconds), minting it if needed."""
        with self._lock:
            token = self._token
            if token is None or self._stale(now):
                issued = math.floor(now)
                not_before = issued - NOT_BEFORE_SKEW_S
                expires = issued + self.lifetime_s
                claims = {"iss": self.access_key, "exp": expires, "nbf": not_before}
                token = encode_hs256(claims, self._secret_key)
                # Registered before anyone can log it.
                logs.register_secret(token)
                self._token, self._not_before, self._expires = token, not_before, expires
            return token

    def invalidate(self) -> None:
        """Forget the cached token (after Kling rejected it); the next call mints anew."""
        with self._lock:
            self._token = None
