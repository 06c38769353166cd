"""Transport-level errors: what happened on the wire, not what the engine meant.

Qt-free. Engine adapters map HTTP *answers* to engine errors; these classes
cover what the transport itself can tell: whether a request provably never
left (safe to resend), may have reached the server (a POST must not be sent
again: a second POST is a second paid job), or was refused by our own rules.

Every ``message`` passes through :func:`studio.logs.redact`, so a key, a JWT or
a signed URL's query string can never reach a log, a dialog or a database row
through an error.
"""

from __future__ import annotations

import httpx

from studio.logs import redact

__all__ = [
    "ContentRejectedError",
    "DiskError",
    "DownloadError",
    "DownloadHTTPError",
    "DownloadIncompleteError",
    "InsecureURLError",
    "LinkExpiredError",
    "NotSentError",
    "OutcomeUnknownError",
    "RangeMismatchError",
    "RedirectRefusedError",
    "ResponseTooLargeError",
    "RetriesExhaustedError",
    "TransportError",
    "safe_url",
]


def safe_url(url: httpx.URL | str) -> str:
    """Return ``url`` as text fit for a message: no query, no fragment, no user info.

    Signed download URLs carry their signature in the query, so it is dropped
    outright rather than trusting a pattern to find it.
    """
    try:
        parsed = httpx.URL(str(url))
    except Exception:  # an unparseable URL is still worth naming, redacted
        return redact(str(url).split("?", 1)[0])
    host = parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    return redact(f"{parsed.scheme}://{host}{port}{parsed.path}")


class TransportError(Exception):
    """Base of every error raised by :mod:`studio.net`.

    Attributes:
        message: a user-facing sentence, already redacted.
    """

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)


class NotSentError(TransportError):
    """The request provably never reached the server (refused, DNS, connect timeout).

    Always safe to send again, even for a POST that creates a paid job.
    """


class OutcomeUnknownError(TransportError):
    """The request may have reached the server, but no complete answer came back.

    Raised for read/write timeouts, resets and protocol errors after sending
    began. A POST that ends like this must be reconciled, never resent
    (faults J2).
    """


class ResponseTooLargeError(TransportError):
    """The answer's body exceeded the size cap; reading stopped at the cap.

    Attributes:
        limit: the cap in bytes.
        status_code: the HTTP status of the oversized answer.
        head: the first ``limit`` bytes (at most), so the raw body can be kept.
    """

    def __init__(self, message: str, *, limit: int, status_code: int, head: bytes) -> None:
        super().__init__(message)
        self.limit = limit
        self.status_code = status_code
        self.head = head


class RedirectRefusedError(TransportError):
    """An API call was answered with a redirect; API clients never follow one (J9).

    Attributes:
        status_code: the 3xx status.
        location: the redirect target without its query string, or "".
    """

    def __init__(self, message: str, *, status_code: int, location: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.location = location


class InsecureURLError(TransportError):
    """A URL would send data in clear text off this machine, or TLS checks are off (J10)."""


class RetriesExhaustedError(TransportError):
    """An idempotent request kept getting a retryable status (429/5xx) until attempts ran out.

    Attributes:
        response: the last answer, body read (and capped), for the engine layer.
        attempts: how many requests were sent.
        retry_after: the server's last ``Retry-After`` hint in seconds, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        attempts: int,
        retry_after: float | None,
    ) -> None:
        super().__init__(message)
        self.response = response
        self.attempts = attempts
        self.retry_after = retry_after


class DownloadError(TransportError):
    """Base of the errors raised by :func:`studio.net.download.download`."""


class LinkExpiredError(DownloadError):
    """The result link was refused (400/403/404/410 or "Request has expired").

    The caller should ask the engine for a fresh URL (faults D4).

    Attributes:
        status_code: the HTTP status that refused the link.
    """

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class DownloadIncompleteError(DownloadError):
    """The body stopped early (cut, timeout, deadline); the ``.part`` file is kept.

    Calling ``download`` again with the same destination resumes it.

    Attributes:
        received: bytes now in the ``.part`` file.
        expected: the full size, when the server told it.
    """

    def __init__(self, message: str, *, received: int, expected: int | None) -> None:
        super().__init__(message)
        self.received = received
        self.expected = expected


class RangeMismatchError(DownloadError):
    """A resumed answer did not continue our bytes; the ``.part`` was deleted (D3).

    Calling ``download`` again starts from zero.
    """


class ContentRejectedError(DownloadError):
    """The body is not what was asked for (HTML, JSON, a playlist, bad magic bytes).

    The ``.part`` file was deleted (faults D5, F3).

    Attributes:
        detected: the name of what was received, e.g. "HTML page".
        size: bytes received (or announced) when it was rejected.
    """

    def __init__(self, message: str, *, detected: str, size: int) -> None:
        super().__init__(message)
        self.detected = detected
        self.size = size


class DownloadHTTPError(DownloadError):
    """Any other non-success status (5xx, 429, 401, …) for a result link.

    Attributes:
        status_code: the HTTP status.
        retry_after: the server's ``Retry-After`` hint in seconds, if any.
    """

    def __init__(self, message: str, *, status_code: int, retry_after: float | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True for statuses that usually pass (429 and 5xx)."""
        return self.status_code == 429 or self.status_code >= 500


class DiskError(DownloadError):
    """Writing the file failed (disk full, read-only, permission denied, I/O error).

    The ``.part`` file was removed; the message names the path and the cause (D8).

    Attributes:
        path: the file that could not be written.
        errno: the OS error number.
    """

    def __init__(self, message: str, *, path: str, errno: int | None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno
