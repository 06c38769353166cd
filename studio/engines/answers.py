"""Reading helpers the engine adapters share: headers, keys, safe engine text. No I/O.

Each adapter reads its own engine's envelopes; what is the same for all of them
lives here so a fix (a header that splits, a signed link in an error sentence)
lands once:

* :func:`header` / :func:`retry_after`: case-insensitive header lookup, and
  ``Retry-After`` read by :func:`studio.net.retry.parse_retry_after` (clamped).
* :func:`api_key` / :func:`bearer`: the ``api_key`` credential checked so it
  cannot split a header, and the bearer header built from it.
* :func:`safe_detail`: engine text made safe to show (one line, redacted, capped).
* :func:`unexpected`: the UnexpectedAnswerError for an answer of the wrong shape.
* small value readers (:func:`clean`, :func:`http_url`, :func:`given`,
  :func:`normalise`) that several adapters spelled identically.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from studio.core import errors
from studio.core.errors import AuthenticationError, EngineError, UnexpectedAnswerError
from studio.engines.adapter import Answer, EngineAdapter
from studio.engines.catalog import EngineInfo
from studio.engines.spec import FieldType, OperationSpec
from studio.logs import redact
from studio.net.retry import MAX_RETRY_AFTER, parse_retry_after

__all__ = [
    "HTTP_STATUS_ERRORS",
    "BearerKeyAdapter",
    "api_key",
    "bearer",
    "clean",
    "given",
    "has_control_characters",
    "header",
    "http_error",
    "http_url",
    "normalise",
    "retry_after",
    "safe_detail",
    "unexpected",
]

# What a plain HTTP status means for engines whose error bodies say little more
# (Evolink's fallback after its codes, Mountsea's only mapping).
HTTP_STATUS_ERRORS: Mapping[int, type[EngineError]] = {
    400: errors.EngineValidationError,
    401: errors.AuthenticationError,
    402: errors.BillingError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    413: errors.EngineValidationError,
    422: errors.EngineValidationError,
    429: errors.RateLimitError,
}

# RFC 9110 delay-seconds (a fraction tolerated), as studio.net.retry reads them.
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


# --------------------------------------------------------------------------- headers


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The first header called ``name``, whatever its case; None when absent or not text."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def retry_after(
    answer: Answer, *, dates: bool = True, maximum: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds the answer's ``Retry-After`` asks for, clamped; None if absent or garbage.

    Args:
        answer: the engine's answer (its headers are looked up case-insensitively).
        dates: also read the HTTP-date form against the current time. Kling and
            TTAPI pass False: they report only delay-seconds and leave a date to
            the transport (studio/net), as their tests pin.
        maximum: the clamp, in seconds (the transport's own by default).
    """
    value = header(answer.headers, "Retry-After")
    if not dates and (value is None or not _DELAY_SECONDS.fullmatch(value.strip())):
        return None
    return parse_retry_after(value, maximum=maximum)


# --------------------------------------------------------------------------- keys


def has_control_characters(text: str) -> bool:
    """True if ``text`` holds a line break or another control character (C0 or DEL)."""
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


def api_key(engine: EngineInfo, credentials: Mapping[str, str]) -> str:
    """The ``api_key`` credential, stripped, checked so it can be sent in a header.

    Raises:
        AuthenticationError: no key is set, or it holds line breaks or control
            characters (a pasted key with a line break would split the header and
            leak into logs). The message never repeats the key.
    """
    key = (credentials.get("api_key") or "").strip()
    if not key:
        raise AuthenticationError(engine.id, "no API key is set (api_key)", engine_name=engine.name)
    if has_control_characters(key):
        raise AuthenticationError(
            engine.id,
            "the API key (api_key) contains line breaks or control characters",
            engine_name=engine.name,
        )
    return key


def bearer(token: str) -> dict[str, str]:
    """``Authorization: Bearer <token>``."""
    return {"Authorization": f"Bearer {token}"}


class BearerKeyAdapter(EngineAdapter):
    """An adapter whose engine takes the ``api_key`` credential as a bearer token."""

    def auth_headers(self, credentials: Mapping[str, str], now: float) -> dict[str, str]:
        """Bearer header from the ``api_key`` credential; the key never expires.

        Raises:
            AuthenticationError: no key is set, or it cannot be sent in a header.
        """
        return bearer(api_key(self.spec.info, credentials))


# --------------------------------------------------------------------------- text


def safe_detail(text: str, limit: int) -> str:
    """An engine's message made safe to show: one line, redacted, at most ``limit`` characters.

    Redaction (studio.logs.redact) removes signed-URL query strings, bearer
    tokens, JWTs and registered keys; it runs before the cut so a secret cannot
    escape by being cut in half. A cut text ends in "…" and stays within ``limit``.
    """
    text = redact(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unexpected(
    engine: EngineInfo, detail: str, answer: Answer, **extra: Any
) -> UnexpectedAnswerError:
    """The error for an answer that is not what the protocol says.

    ``raw`` is the answer's body unless ``extra`` gives one (a capped copy, say);
    ``extra`` may add any other EngineError field (``code``…).
    """
    extra.setdefault("raw", answer.body)
    return UnexpectedAnswerError(
        engine.id, detail, engine_name=engine.name, http_status=answer.status, **extra
    )


def http_error(
    engine: EngineInfo,
    cls: type[EngineError],
    answer: Answer,
    detail: str | None,
    *,
    code: str | None = None,
) -> EngineError:
    """The ``cls`` error an HTTP error answer means, with its status, code and Retry-After.

    A body that is not JSON and gave no ``detail`` is described as "HTTP n, not
    JSON"; the raw body is kept as it came (the transport capped it already).
    """
    if detail is None and not answer.is_json:
        detail = f"HTTP {answer.status}, not JSON"
    return cls(
        engine.id,
        detail,
        engine_name=engine.name,
        http_status=answer.status,
        code=code,
        retry_after=retry_after(answer),
        raw=answer.body,
    )


# --------------------------------------------------------------------------- values


def clean(value: Any) -> str | None:
    """Stripped non-blank text, else None."""
    return value.strip() if isinstance(value, str) and value.strip() else None


def http_url(value: Any) -> str | None:
    """An http(s) link, stripped; None for anything else."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    return url if url.lower().startswith(("https://", "http://")) else None


def given(value: Any) -> bool:
    """Like the spec's rule: None and blank text count as "not given"."""
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def normalise(op: OperationSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Strip stray whitespace from one-line fields and list items pasted by hand."""
    values = dict(params)
    for spec in op.fields:
        value = values.get(spec.name)
        if spec.type in (FieldType.STRING, FieldType.URL) and isinstance(value, str):
            values[spec.name] = value.strip()
        elif spec.type is FieldType.LIST and isinstance(value, list | tuple):
            values[spec.name] = [v.strip() if isinstance(v, str) else v for v in value]
    return values
