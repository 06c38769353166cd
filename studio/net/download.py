"""Download a result file to disk: resumable, size-capped, sniffed, atomic.

Qt-free. :func:`download` runs on the asyncio loop (qasync's, on the GUI
thread, under the app); the few blocking steps that can take long (hashing a
resumed ``.part``, the ``validate`` hook, fsync) go to a worker thread. Chunk
writes stay on the loop: they land in the page cache in microseconds, and a
thread hop per 64 KB chunk would cost more than it saves.

The file is written as ``<dest>.part`` (mode 0600) and gets its final name
only after it was fully received, sniffed and validated (design principle 5:
"no half-written file sits under a final name"). A ``<dest>.part.meta``
sidecar remembers the server's validator (ETag / Last-Modified) and size, so
a later call, even after a restart, can resume with ``Range`` + ``If-Range``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from studio.net.client import check_url
from studio.net.errors import (
    ContentRejectedError,
    DownloadHTTPError,
    DownloadIncompleteError,
    LinkExpiredError,
    RangeMismatchError,
    ResponseTooLargeError,
    safe_url,
)
from studio.net.partfile import (
    disk_error,
    hash_and_head,
    load_meta,
    part_paths,
    publish,
    remove,
    save_meta,
    sync_close,
    write_all,
)
from studio.net.retry import parse_retry_after
from studio.net.sniff import SNIFF_BYTES, Sniffed, sniff

__all__ = ["DownloadResult", "Progress", "Validator", "download"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
Validator = Callable[[Path], None]

# Statuses with which object stores refuse a signed URL whose time is up (or
# whose object was swept): the engine can usually mint a fresh one (D4).
_EXPIRED_STATUSES = {400, 403, 404, 410}
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True)
class DownloadResult:
    """A file safely under its final name.

    Attributes:
        path: the final file.
        size: its size in bytes.
        sha256: hex digest of its bytes.
        content_type: the server's Content-Type header, if any (not trusted).
        resumed: True when an earlier ``.part`` was continued.
        detected: what sniffing found, e.g. "mp3", "PNG image".
    """

    path: Path
    size: int
    sha256: str
    content_type: str | None
    resumed: bool
    detected: str


def _validator_of(response: httpx.Response) -> str | None:
    # If-Range needs a *strong* ETag (RFC 9110 13.1.5); a weak one would make
    # the server ignore the range or, worse, splice a different variant.
    etag = str(response.headers.get("etag", ""))
    if etag and not etag.startswith("W/"):
        return etag
    last_modified = response.headers.get("last-modified")
    return str(last_modified) if last_modified else None


class _Job:
    """The state of one :func:`download` call (runs on the asyncio loop)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        dest: Path,
        expected_kinds: frozenset[str],
        max_bytes: int,
        read_timeout: float,
        progress: Progress | None,
    ) -> None:
        self.client = client
        self.url = url
        self.dest = dest
        self.part, self.meta = part_paths(dest)
        self.expected_kinds = expected_kinds
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.progress = progress
        self.resumed = False
        self.received = 0
        self.total: int | None = None
        self.digest = hashlib.sha256()
        self.head = b""
        self.sniffed: Sniffed | None = None
        self.content_type: str | None = None

    # -- resuming ---------------------------------------------------------

    async def resume_point(self) -> str | None:
        """Return the If-Range validator when the ``.part`` can be continued."""
        try:
            size = self.part.stat().st_size
        except FileNotFoundError:
            remove(self.meta)
            return None
        except OSError as exc:
            raise disk_error(self.part, exc) from exc
        meta = load_meta(self.meta)
        if size == 0 or meta is None or (meta[1] is not None and size >= meta[1]):
            # Without a validator a resumed body could be another object's bytes.
            remove(self.part, self.meta)
            return None
        try:
            self.digest, self.head = await asyncio.to_thread(hash_and_head, self.part)
        except OSError as exc:
            raise disk_error(self.part, exc, self.part, self.meta) from exc
        self.received = size
        self.total = meta[1]
        return meta[0]

    def accept_status(self, response: httpx.Response, validator: str | None) -> bool:
        """Check the answer's status; return True when it continues the ``.part``."""
        status = response.status_code
        where = safe_url(self.url)
        if status in _EXPIRED_STATUSES:
            raise LinkExpiredError(
                f"The download link has expired or was refused (HTTP {status}): {where}",
                status_code=status,
            )
        if status == 416:
            # Our offset is past the object's end: it changed under the same
            # validator, or the .part is stale. Start again next time.
            remove(self.part, self.meta)
            raise RangeMismatchError(
                f"The server could not resume the download (HTTP 416): {where}; "
                "the partial file was discarded, download again"
            )
        if status not in (200, 206):
            raise DownloadHTTPError(
                f"The download failed (HTTP {status}): {where}",
                status_code=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status == 200:
            if validator is not None:
                log.debug("%s: resume answered 200, restarting from zero", where)
            self.restart()
            self.total = _content_length(response)
            return False
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        start = int(match.group(1)) if match else -1
        total = int(match.group(3)) if match and match.group(3) != "*" else None
        if (
            match is None
            or start != self.received
            or total is None
            or int(match.group(2)) != total - 1
            or (self.total is not None and total != self.total)
        ):
            # Never splice bytes that do not provably continue ours (D3).
            remove(self.part, self.meta)
            raise RangeMismatchError(
                f"The server resumed the download at the wrong place "
                f"(Content-Range {response.headers.get('content-range', 'missing')!r}); "
                "the partial file was discarded, download again"
            )
        self.total = total
        return validator is not None

    def restart(self) -> None:
        self.resumed = False
        self.received = 0
        self.digest = hashlib.sha256()
        self.head = b""

    # -- receiving --------------------------------------------------------

    def check_size(self, size: int) -> None:
        if size > self.max_bytes:
            remove(self.part, self.meta)
            raise ResponseTooLargeError(
                f"The download is too large (more than {self.max_bytes} bytes): "
                f"{safe_url(self.url)}",
                limit=self.max_bytes,
                status_code=200,
                head=b"",
            )

    def check_content(self) -> None:
        """Sniff the head once; refuse what is not an expected media kind."""
        if self.sniffed is not None:
            return
        found = sniff(self.head)
        self.sniffed = found
        if found.kinds & self.expected_kinds:
            return
        remove(self.part, self.meta)
        size = self.total if self.total is not None else self.received
        if b"request has expired" in self.head.lower():
            raise LinkExpiredError(
                f"The download link has expired: {safe_url(self.url)}", status_code=200
            )
        wanted = " or ".join(sorted(self.expected_kinds)) or "media"
        raise ContentRejectedError(
            f"Expected {wanted} but received {found.name} ({size} bytes) from {safe_url(self.url)}",
            detected=found.name,
            size=size,
        )

    def take(self, fd: int, chunk: bytes) -> None:
        self.check_size(self.received + len(chunk))
        try:
            write_all(fd, chunk)
        except OSError as exc:
            # fetch() closes the fd and removes the .part (Windows cannot
            # delete an open file).
            raise disk_error(self.part, exc) from exc
        self.digest.update(chunk)
        self.received += len(chunk)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        if len(self.head) >= SNIFF_BYTES:
            self.check_content()
        if self.progress is not None:
            self.progress(self.received, self.total)

    def open_part(self, append: bool) -> int:
        mode = os.O_APPEND if append else os.O_TRUNC
        flags = os.O_WRONLY | os.O_CREAT | mode | getattr(os, "O_BINARY", 0)
        try:
            fd = os.open(self.part, flags, 0o600)
        except OSError as exc:
            raise disk_error(self.part, exc, self.part, self.meta) from exc
        return fd

    async def fetch(self) -> int:
        """Request and stream the body into the ``.part``; return the open fd's final size.

        Raises the module's download errors; keeps the ``.part`` when the body
        merely stopped early.
        """
        validator = await self.resume_point()
        headers = {"Accept-Encoding": "identity"}  # bytes on disk = bytes ranged
        if validator is not None:
            headers["Range"] = f"bytes={self.received}-"
            headers["If-Range"] = validator
        base = self.client.timeout
        timeout = httpx.Timeout(
            connect=base.connect, read=self.read_timeout, write=base.write, pool=base.pool
        )
        async with self.client.stream("GET", self.url, headers=headers, timeout=timeout) as resp:
            append = self.accept_status(resp, validator)
            self.resumed = append
            self.content_type = resp.headers.get("content-type")
            if self.total is not None:
                self.check_size(self.total)
            if not append:
                new_validator = _validator_of(resp)
                remove(self.meta)
                if new_validator is not None:
                    try:
                        save_meta(self.meta, new_validator, self.total)
                    except OSError as exc:
                        raise disk_error(self.meta, exc, self.meta) from exc
            fd = self.open_part(append)
            try:
                await self.stream_into(fd, resp)
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    os.close(fd)
                if not isinstance(exc, (DownloadIncompleteError, asyncio.CancelledError)):
                    remove(self.part, self.meta)  # only a short body is worth resuming
                raise
            try:
                await asyncio.to_thread(sync_close, fd)
            except OSError as exc:
                raise disk_error(self.part, exc, self.part, self.meta) from exc
        return self.received

    async def stream_into(self, fd: int, resp: httpx.Response) -> None:
        try:
            async for chunk in resp.aiter_raw():
                self.take(fd, chunk)
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self.incomplete(f"the connection stopped ({type(exc).__name__})") from exc
        if self.total is not None and self.received < self.total:
            raise self.incomplete("the body was shorter than announced")
        self.check_content()

    def incomplete(self, why: str) -> DownloadIncompleteError:
        of = f" of {self.total}" if self.total is not None else ""
        return DownloadIncompleteError(
            f"The download stopped after {self.received}{of} bytes ({why}); "
            f"it can be resumed: {safe_url(self.url)}",
            received=self.received,
            expected=self.total,
        )


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


async def download(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    expected_kinds: set[str] | frozenset[str],
    max_bytes: int,
    read_timeout: float = 30.0,
    overall_deadline: float = 3600.0,
    validate: Validator | None = None,
    progress: Progress | None = None,
) -> DownloadResult:
    """Download ``url`` to ``dest`` through ``<dest>.part``, resuming an earlier ``.part``.

    Runs on the asyncio loop; ``validate`` runs in a worker thread; ``progress``
    is called on the loop after each chunk with ``(received, total or None)``.
    Cancelling keeps the ``.part`` for a later resume.

    Args:
        client: a credential-free client from
            :func:`studio.net.client.make_download_client` (never an API client:
            signed URLs must not receive our key).
        url: the result URL (https, or http to loopback).
        dest: the final path; it must not exist (naming is the caller's job).
        expected_kinds: media kinds accepted, e.g. ``{"audio"}``.
        max_bytes: the largest file accepted; an endless body stops here.
        read_timeout: the longest wait for any single read (slow drip, D7).
        overall_deadline: the longest the whole call may take, in seconds.
        validate: checks the complete ``.part`` (e.g. decodes the audio); any
            exception rejects the file.
        progress: a progress callback.

    Returns:
        A :class:`DownloadResult` for the file under its final name.

    Raises:
        FileExistsError: ``dest`` already exists.
        InsecureURLError: the URL (or a redirect hop) is http:// off loopback.
        LinkExpiredError: the link was refused; ask the engine for a fresh one.
        DownloadIncompleteError: the body stopped early; call again to resume.
        RangeMismatchError: a resume did not line up; ``.part`` deleted.
        ContentRejectedError: not the expected media, or ``validate`` failed.
        ResponseTooLargeError: larger than ``max_bytes``; ``.part`` deleted.
        DownloadHTTPError: any other status (5xx, 429, …).
        DiskError: the file could not be written; ``.part`` removed.
    """
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(errno.EEXIST, "File exists", str(dest))
    check_url(url)
    job = _Job(client, url, dest, frozenset(expected_kinds), max_bytes, read_timeout, progress)
    deadline = asyncio.timeout(overall_deadline)
    try:
        async with deadline:
            size = await job.fetch()
    except TimeoutError as exc:
        if not deadline.expired():
            raise
        raise job.incomplete(f"no finish within {overall_deadline:g} s") from exc
    if validate is not None:
        try:
            await asyncio.to_thread(validate, job.part)
        except Exception as exc:
            remove(job.part, job.meta)
            name = job.sniffed.name if job.sniffed else "file"
            raise ContentRejectedError(
                f"The downloaded {name} ({size} bytes) is damaged: {exc}",
                detected=name,
                size=size,
            ) from exc
    try:
        await asyncio.to_thread(publish, job.part, dest)
    except FileExistsError:
        raise
    except OSError as exc:
        raise disk_error(dest, exc, job.part, job.meta) from exc
    remove(job.meta)
    log.debug("downloaded %s (%d bytes, resumed=%s)", dest.name, size, job.resumed)
    return DownloadResult(
        path=dest,
        size=size,
        sha256=job.digest.hexdigest(),
        content_type=job.content_type,
        resumed=job.resumed,
        detected=job.sniffed.name if job.sniffed else "unknown data",
    )
