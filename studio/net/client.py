"""The shared httpx clients and the one way API calls are sent.

Qt-free. Everything here runs on the asyncio loop (under the GUI, qasync's
loop on the Qt main thread; in the CLI and tests, a plain loop); none of it
touches Qt objects.

Two kinds of client, never mixed:

* an **API client** per engine: carries the engine's credentials, never
  follows a redirect (a 3xx could hand our key to another host, faults J9),
  always verifies TLS, and refuses plain http off loopback (J10);
* a **download client** with no credentials at all, for result URLs: signed
  URLs must never receive our API key, and they do redirect (to a CDN), so it
  follows redirects but checks every hop's scheme.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Collection, Mapping

import certifi
import httpx

from studio.logs import register_secret
from studio.net.errors import (
    InsecureURLError,
    NotSentError,
    OutcomeUnknownError,
    RedirectRefusedError,
    ResponseTooLargeError,
    RetriesExhaustedError,
    safe_url,
)
from studio.net.retry import Backoff, parse_retry_after
from studio.settings import is_loopback_host

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "RETRYABLE_STATUSES",
    "check_url",
    "make_api_client",
    "make_download_client",
    "send",
]

log = logging.getLogger(__name__)

# Every phase bounded on purpose: httpx's default is 5 s for all four, which
# is too short for a slow engine's answer and too long to notice a dead host.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=30.0, pool=30.0)
# Few connections per engine: the engines rate-limit us anyway, and each poll
# costs CPU on the GUI thread (design.md, "Facts").
DEFAULT_LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=4, keepalive_expiry=30.0)
RETRYABLE_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})
MAX_DOWNLOAD_REDIRECTS = 5

Sleep = Callable[[float], Awaitable[None]]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every client of the process.

    Building a context loads the CA bundle (tens of milliseconds); a client per
    archive run did that on the GUI thread hundreds of times (bench L1).
    Verification is never turned off: certificates and host names are checked.
    """
    return ssl.create_default_context(cafile=certifi.where())


def check_url(url: httpx.URL | str) -> None:
    """Raise :class:`InsecureURLError` unless ``url`` is https, or http to loopback.

    Runs anywhere (pure).
    """
    parsed = httpx.URL(str(url)) if not isinstance(url, httpx.URL) else url
    if parsed.scheme == "https" and parsed.host:
        return
    if parsed.scheme == "http" and parsed.host and is_loopback_host(parsed.host):
        return
    if parsed.scheme == "http":
        raise InsecureURLError(
            f"Refused {safe_url(parsed)}: plain http:// is allowed only for localhost; use https://"
        )
    raise InsecureURLError(f"Refused {safe_url(parsed)}: only https:// URLs are allowed")


def make_api_client(
    base_url: str,
    *,
    auth_headers: Mapping[str, str] | None = None,
    timeout: httpx.Timeout | None = None,
    limits: httpx.Limits | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """Build an engine's API client.

    Call on the asyncio loop's thread (the client's pool belongs to it).

    Args:
        base_url: the engine's base URL (https, or http for loopback only).
        auth_headers: credential headers sent with every request; each value is
            registered with the log redaction first.
        timeout: connect/read/write/pool timeouts (default :data:`DEFAULT_TIMEOUT`).
        limits: connection limits (default :data:`DEFAULT_LIMITS`).
        transport: a custom transport (tests, the sandbox).

    Returns:
        An ``httpx.AsyncClient`` that never follows redirects and always
        verifies TLS. Send through :func:`send`.

    Raises:
        InsecureURLError: http:// to a host that is not loopback, or another scheme.
    """
    check_url(base_url)
    headers = dict(auth_headers or {})
    for value in headers.values():
        register_secret(value)
        # The bare token of "Bearer <token>" too, in case it is logged alone.
        scheme, _, token = value.partition(" ")
        if token and scheme.lower() in {"bearer", "token", "basic"}:
            register_secret(token)
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=timeout or DEFAULT_TIMEOUT,
        limits=limits or DEFAULT_LIMITS,
        follow_redirects=False,
        verify=tls_context(),
        transport=transport,
    )


async def _check_hop(request: httpx.Request) -> None:
    # Runs for the first request and again for every redirect hop: a CDN
    # bouncing us to http:// must not get even an unsigned request.
    check_url(request.url)


def make_download_client(
    *,
    timeout: httpx.Timeout | None = None,
    limits: httpx.Limits | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """Build the credential-free client for result URLs.

    Call on the asyncio loop's thread. It follows up to five redirects and
    checks each hop's scheme (https, or http to loopback only).

    Args:
        timeout: timeouts (default :data:`DEFAULT_TIMEOUT`; ``download`` sets
            its own read timeout per call).
        limits: connection limits (default :data:`DEFAULT_LIMITS`).
        transport: a custom transport (tests).
    """
    return httpx.AsyncClient(
        timeout=timeout or DEFAULT_TIMEOUT,
        limits=limits or DEFAULT_LIMITS,
        follow_redirects=True,
        max_redirects=MAX_DOWNLOAD_REDIRECTS,
        verify=tls_context(),
        transport=transport,
        event_hooks={"request": [_check_hop]},
    )


# Exceptions raised before a single byte of the request was written: the pool
# never handed out a connection, or the connection never opened. ProxyError
# is raised while setting up the tunnel, before our request goes through it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
# Anything else may come after bytes left. WriteTimeout/WriteError included:
# part of the request is on the wire, and a server may act on what it has.
_MAYBE_SENT = (httpx.TransportError, httpx.DecodingError)


async def _read_capped(response: httpx.Response, max_body: int) -> bytes:
    """Read a streamed body, stopping at ``max_body`` decoded bytes.

    The cap counts *decoded* bytes, so a small gzip bomb is caught too.
    """
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_body and not response.headers.get("content-encoding"):
        raise ResponseTooLargeError(
            f"The answer is too large ({int(length)} bytes; the limit is {max_body})",
            limit=max_body,
            status_code=response.status_code,
            head=b"",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_body:
            room = max_body - (size - len(chunk))
            chunks.append(chunk[:room])
            raise ResponseTooLargeError(
                f"The answer is too large (more than {max_body} bytes)",
                limit=max_body,
                status_code=response.status_code,
                head=b"".join(chunks),
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _buffered(response: httpx.Response, body: bytes) -> httpx.Response:
    # A fresh, fully read response. The body is already decoded, so the
    # encoding and length headers of the wire form must not be applied again.
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in {"content-encoding", "content-length", "transfer-encoding"}
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=response.extensions,
    )


async def send(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    idempotent: bool,
    backoff: Backoff,
    max_body: int,
    retry_statuses: Collection[int] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> httpx.Response:
    """Send an API request with bounded retries; return the answer with its body read.

    Runs on the asyncio loop; never touches Qt. Cancelling it closes the
    connection; for a POST the outcome is then unknown, as after a timeout.

    Retry rules (providers.md, "Behaviour the studio owes every engine"):

    * provably not sent (refused, DNS, connect/pool timeout): retried, for
      every method, up to ``backoff.max_attempts`` requests in all;
    * may have been sent (read/write timeout, reset, protocol error): retried
      only when ``idempotent``; otherwise :class:`OutcomeUnknownError` at once;
    * statuses in ``retry_statuses`` (default 429/502/503/504 when idempotent,
      none otherwise): retried honouring ``Retry-After``; a POST's 5xx/429 is
      returned to the engine layer unretried (faults J4).

    The body is read with a cap *before* anything parses it, and the request's
    body must be bytes (httpx can resend those).

    Args:
        client: an API client from :func:`make_api_client`.
        request: the request, e.g. ``client.build_request("GET", "/tasks/1")``.
        idempotent: True for polls and other safe GETs.
        backoff: the retry policy.
        max_body: the largest body accepted, in decoded bytes.
        retry_statuses: statuses to retry; see above.
        sleep: the coroutine used to wait (tests pass a recorder).

    Returns:
        The final answer with ``content`` loaded (any status but 3xx).

    Raises:
        InsecureURLError: the request's URL is http:// off loopback.
        NotSentError: the request was never sent, attempts exhausted.
        OutcomeUnknownError: the request may have reached the server.
        ResponseTooLargeError: the body passed ``max_body`` (not retried).
        RedirectRefusedError: the answer was a redirect (never followed).
        RetriesExhaustedError: an idempotent request kept getting 429/5xx.
    """
    check_url(request.url)
    statuses = frozenset(
        retry_statuses if retry_statuses is not None else (RETRYABLE_STATUSES if idempotent else ())
    )
    where = f"{request.method} {safe_url(request.url)}"
    previous: float | None = None
    attempt = 0
    while True:
        attempt += 1
        last_try = attempt >= backoff.max_attempts
        retry_after: float | None = None
        try:
            response = await client.send(request, stream=True)
            try:
                body = await _read_capped(response, max_body)
            finally:
                await response.aclose()
        except _NOT_SENT as exc:
            log.debug("%s not sent (attempt %d): %s", where, attempt, type(exc).__name__)
            if last_try:
                raise NotSentError(
                    f"Could not reach {safe_url(request.url)}: {_describe(exc)}"
                ) from exc
        except _MAYBE_SENT as exc:
            log.debug("%s outcome unknown (attempt %d): %s", where, attempt, type(exc).__name__)
            if not idempotent or last_try:
                raise OutcomeUnknownError(
                    f"No complete answer from {safe_url(request.url)} ({_describe(exc)}); "
                    "the request may have been received"
                ) from exc
        else:
            if 300 <= response.status_code < 400 and response.status_code != 304:
                location = (
                    safe_url(response.headers.get("location", ""))
                    if (response.headers.get("location"))
                    else ""
                )
                raise RedirectRefusedError(
                    f"{safe_url(request.url)} answered with a redirect "
                    f"(HTTP {response.status_code}{' to ' + location if location else ''}); "
                    "API redirects are never followed",
                    status_code=response.status_code,
                    location=location,
                )
            result = _buffered(response, body)
            log.debug("%s -> %d (%d bytes)", where, result.status_code, len(body))
            if result.status_code not in statuses:
                return result
            retry_after = parse_retry_after(
                result.headers.get("retry-after"), maximum=backoff.retry_after_max
            )
            if last_try:
                raise RetriesExhaustedError(
                    f"{safe_url(request.url)} is still busy (HTTP {result.status_code}) "
                    f"after {attempt} attempts",
                    response=result,
                    attempts=attempt,
                    retry_after=retry_after,
                )
        previous = backoff.delay(attempt, retry_after, previous)
        log.debug("%s retrying in %.2f s", where, previous)
        await sleep(previous)


def _describe(exc: Exception) -> str:
    # The exception text can quote the URL (with its query); name the kind only.
    names = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ConnectError: "connection failed",
        httpx.PoolTimeout: "no free connection",
        httpx.ProxyError: "proxy error",
        httpx.ReadTimeout: "timed out waiting for the answer",
        httpx.WriteTimeout: "timed out sending the request",
        httpx.ReadError: "connection lost while reading",
        httpx.WriteError: "connection lost while sending",
        httpx.RemoteProtocolError: "the server broke the connection",
        httpx.DecodingError: "the answer could not be decoded",
    }
    for kind, text in names.items():
        if isinstance(exc, kind):
            return text
    return type(exc).__name__
