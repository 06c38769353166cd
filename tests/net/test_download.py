"""Downloads: resume, sniffing, caps, expiry, slow drip, disk errors (faults D1–D8)."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import random
import re
import stat
import time
import tracemalloc
from pathlib import Path

import httpx
import pytest

from studio.net.client import make_download_client
from studio.net.download import DownloadResult, download
from studio.net.errors import (
    ContentRejectedError,
    DiskError,
    DownloadHTTPError,
    DownloadIncompleteError,
    InsecureURLError,
    LinkExpiredError,
    RangeMismatchError,
    ResponseTooLargeError,
)
from tests.net.conftest import run
from tests.net.fault_server import FaultServer, Seen, reset, respond, write_body, write_head

AUDIO = b"ID3\x04\x00\x00\x00\x00\x00\x00" + random.Random(5).randbytes(200_000)
ETAG = '"v1-abc"'
AUDIO_KINDS = {"audio"}


def fetch(
    url: str,
    dest: Path,
    *,
    max_bytes: int = 10 << 20,
    read_timeout: float = 2.0,
    overall_deadline: float = 8.0,
    **kwargs: object,
) -> DownloadResult:
    async def go() -> DownloadResult:
        async with make_download_client() as client:
            return await download(
                client,
                url,
                dest,
                expected_kinds=AUDIO_KINDS,
                max_bytes=max_bytes,
                read_timeout=read_timeout,
                overall_deadline=overall_deadline,
                **kwargs,  # type: ignore[arg-type]
            )

    return run(go())


def serve_file(
    server: FaultServer,
    body: bytes = AUDIO,
    *,
    cut_first_at: int | None = None,
    ignore_range: bool = False,
    bad_range: bool = False,
) -> None:
    """Serve ``body`` with an ETag; honour Range + If-Range like S3 does."""

    async def handler(req: Seen, writer: asyncio.StreamWriter) -> None:
        ranged = re.fullmatch(r"bytes=(\d+)-", req.headers.get("range", ""))
        if ranged and not ignore_range and req.headers.get("if-range") == ETAG:
            start = int(ranged.group(1))
            if bad_range:
                start += 10
            headers = {
                "Content-Length": str(len(body) - start),
                "Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}",
                "ETag": ETAG,
            }
            write_head(writer, 206, headers)
            await write_body(writer, memoryview(body)[start:])
            return
        write_head(
            writer,
            200,
            {"Content-Length": str(len(body)), "ETag": ETAG, "Content-Type": "audio/mpeg"},
        )
        if cut_first_at is not None and len(server.requests()) == 1:
            writer.write(body[:cut_first_at])
            await writer.drain()
            await asyncio.sleep(0.05)
            reset(writer)
            return
        await write_body(writer, body)

    server.route("/file.mp3", handler)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir())


def test_plain_download(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server)
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "take.mp3"
    result = fetch(
        f"{server.url}/file.mp3?X-Amz-Signature=abc",
        dest,
        progress=lambda got, total: seen.append((got, total)),
    )
    assert dest.read_bytes() == AUDIO
    assert result.size == len(AUDIO) and result.sha256 == hashlib.sha256(AUDIO).hexdigest()
    assert result.detected == "mp3" and result.content_type == "audio/mpeg"
    assert not result.resumed
    assert leftovers(dest) == ["take.mp3"]
    if os.name != "nt":
        assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert seen[-1] == (len(AUDIO), len(AUDIO))
    assert server.requests()[0].headers["accept-encoding"] == "identity"


def test_existing_destination_never_overwritten(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server)
    dest = tmp_path / "take.mp3"
    dest.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        fetch(f"{server.url}/file.mp3", dest)
    assert dest.read_bytes() == b"mine" and server.requests() == []


def test_cut_mid_body_then_resume(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server, cut_first_at=70_000)
    dest = tmp_path / "take.mp3"
    with pytest.raises(DownloadIncompleteError) as info:
        fetch(f"{server.url}/file.mp3", dest)
    assert info.value.expected == len(AUDIO)
    part = tmp_path / "take.mp3.part"
    assert not dest.exists() and 0 < part.stat().st_size < len(AUDIO)
    assert info.value.received == part.stat().st_size

    result = fetch(f"{server.url}/file.mp3", dest)
    assert result.resumed and dest.read_bytes() == AUDIO
    assert result.sha256 == hashlib.sha256(AUDIO).hexdigest()
    second = server.requests()[1]
    assert second.headers["range"] == f"bytes={info.value.received}-"
    assert second.headers["if-range"] == ETAG
    assert leftovers(dest) == ["take.mp3"]


def test_resume_answered_200_restarts(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server, cut_first_at=50_000, ignore_range=True)
    dest = tmp_path / "take.mp3"
    with pytest.raises(DownloadIncompleteError):
        fetch(f"{server.url}/file.mp3", dest)
    result = fetch(f"{server.url}/file.mp3", dest)
    assert not result.resumed and dest.read_bytes() == AUDIO
    assert "range" in server.requests()[1].headers


def test_wrong_content_range_aborts_and_deletes(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server, cut_first_at=50_000, bad_range=True)
    dest = tmp_path / "take.mp3"
    with pytest.raises(DownloadIncompleteError):
        fetch(f"{server.url}/file.mp3", dest)
    with pytest.raises(RangeMismatchError, match="wrong place"):
        fetch(f"{server.url}/file.mp3", dest)
    assert leftovers(dest) == []


def test_part_without_validator_is_not_spliced(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server)
    dest = tmp_path / "take.mp3"
    (tmp_path / "take.mp3.part").write_bytes(b"stale bytes of another file")
    result = fetch(f"{server.url}/file.mp3", dest)
    assert not result.resumed and dest.read_bytes() == AUDIO
    assert "range" not in server.requests()[0].headers


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"<!DOCTYPE html><html><body>Access denied</body></html>", "HTML page"),
        (b'{"error": {"code": 500}}', "JSON document"),
        (b"#EXTM3U\n#EXTINF:10,\nhttp://example.com/a.ts\n", "HLS playlist"),
        (b'<?xml version="1.0"?><MPD></MPD>', "DASH manifest"),
        (b"ffconcat version 1.0\nfile 'a.wav'\n", "ffmpeg concat list"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 600, "PNG image"),  # media, but not audio
    ],
)
def test_wrong_content_rejected(
    server: FaultServer, tmp_path: Path, body: bytes, name: str
) -> None:
    serve_file(server, body)
    dest = tmp_path / "take.mp3"
    with pytest.raises(ContentRejectedError) as info:
        fetch(f"{server.url}/file.mp3", dest)
    assert name in info.value.message and f"({len(body)} bytes)" in info.value.message
    assert info.value.detected == name and info.value.size == len(body)
    assert leftovers(dest) == []


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_expired_link(server: FaultServer, tmp_path: Path, status: int) -> None:
    async def expired(req: Seen, writer: asyncio.StreamWriter) -> None:
        xml = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        await respond(writer, status, xml, {"Content-Type": "application/xml"})

    server.route("/file.mp3", expired)
    with pytest.raises(LinkExpiredError) as info:
        fetch(f"{server.url}/file.mp3?X-Amz-Signature=deadbeef", tmp_path / "take.mp3")
    assert info.value.status_code == status and "deadbeef" not in info.value.message
    assert leftovers(tmp_path / "take.mp3") == []


def test_expired_body_with_200(server: FaultServer, tmp_path: Path) -> None:
    serve_file(
        server, b"<?xml version='1.0'?><Error><Message>Request has expired</Message></Error>"
    )
    with pytest.raises(LinkExpiredError):
        fetch(f"{server.url}/file.mp3", tmp_path / "take.mp3")


def test_server_error_is_retryable_http_error(server: FaultServer, tmp_path: Path) -> None:
    async def busy(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 503, b"busy", {"Retry-After": "7"})

    server.route("/file.mp3", busy)
    with pytest.raises(DownloadHTTPError) as info:
        fetch(f"{server.url}/file.mp3", tmp_path / "take.mp3")
    assert info.value.retryable and info.value.retry_after == 7.0


def _drip(server: FaultServer, every: float) -> None:
    async def drip(req: Seen, writer: asyncio.StreamWriter) -> None:
        write_head(writer, 200, {"Content-Length": str(len(AUDIO)), "ETag": ETAG})
        writer.write(AUDIO[:1024])
        await writer.drain()
        for i in range(1024, len(AUDIO)):
            await asyncio.sleep(every)
            writer.write(AUDIO[i : i + 1])
            await writer.drain()

    server.route("/file.mp3", drip)


def test_slow_drip_read_timeout_keeps_part(server: FaultServer, tmp_path: Path) -> None:
    _drip(server, every=5.0)
    dest = tmp_path / "take.mp3"
    started = time.monotonic()
    with pytest.raises(DownloadIncompleteError):
        fetch(f"{server.url}/file.mp3", dest, read_timeout=0.3)
    assert time.monotonic() - started < 3.0
    assert (tmp_path / "take.mp3.part").stat().st_size == 1024  # resumable later


def test_slow_drip_overall_deadline(server: FaultServer, tmp_path: Path) -> None:
    _drip(server, every=0.02)
    started = time.monotonic()
    with pytest.raises(DownloadIncompleteError, match="no finish within"):
        fetch(
            f"{server.url}/file.mp3", tmp_path / "take.mp3", read_timeout=1.0, overall_deadline=0.5
        )
    assert time.monotonic() - started < 3.0
    assert (tmp_path / "take.mp3.part").exists()


def test_endless_body_capped_memory_flat(server: FaultServer, tmp_path: Path) -> None:
    async def endless(req: Seen, writer: asyncio.StreamWriter) -> None:
        write_head(writer, 200, {"Transfer-Encoding": "chunked"})
        block = AUDIO[:65536]
        while True:
            writer.write(b"%x\r\n%s\r\n" % (len(block), block))
            await writer.drain()

    server.route("/file.mp3", endless)
    dest = tmp_path / "take.mp3"
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError):
            fetch(f"{server.url}/file.mp3", dest, max_bytes=8 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    assert leftovers(dest) == []


def test_announced_oversize_refused_before_reading(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server)
    with pytest.raises(ResponseTooLargeError):
        fetch(f"{server.url}/file.mp3", tmp_path / "take.mp3", max_bytes=1000)
    assert leftovers(tmp_path / "take.mp3") == []


def test_large_download_memory_flat(server: FaultServer, tmp_path: Path) -> None:
    big = AUDIO[:65536] * 256  # 16 MiB

    serve_file(server, big)
    tracemalloc.start()
    try:
        result = fetch(f"{server.url}/file.mp3", tmp_path / "big.mp3", max_bytes=64 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size == len(big)
    assert peak < 4 << 20


def test_disk_full_removes_part(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_file(server)
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        # Only our .part fills the "disk"; the loop's own pipes keep working.
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    dest = tmp_path / "take.mp3"
    with pytest.raises(DiskError) as info:
        fetch(f"{server.url}/file.mp3", dest)
    assert str(tmp_path / "take.mp3.part") in info.value.message
    assert "No space left on device" in info.value.message and info.value.errno == errno.ENOSPC
    assert leftovers(dest) == []


def test_unwritable_folder(
    server: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_file(server)
    real_open = os.open

    def read_only(path: object, flags: int, *args: int, **kw: object) -> int:
        if str(path).endswith(".part") and flags & os.O_WRONLY:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(DiskError, match="Read-only file system"):
        fetch(f"{server.url}/file.mp3", tmp_path / "take.mp3")
    monkeypatch.undo()
    assert leftovers(tmp_path / "take.mp3") == []


def test_validate_hook(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server)
    checked: list[Path] = []
    dest = tmp_path / "take.mp3"
    fetch(f"{server.url}/file.mp3", dest, validate=checked.append)
    assert checked == [tmp_path / "take.mp3.part"]

    def broken(path: Path) -> None:
        raise ValueError("decoder: truncated frame")

    dest2 = tmp_path / "take2.mp3"
    with pytest.raises(ContentRejectedError, match="truncated frame"):
        fetch(f"{server.url}/file.mp3", dest2, validate=broken)
    assert not dest2.exists() and not (tmp_path / "take2.mp3.part").exists()


def test_redirect_to_insecure_cdn_refused(server: FaultServer, tmp_path: Path) -> None:
    async def bounce(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 302, b"", {"Location": "http://cdn.example.com/f.mp3?sig=x"})

    server.route("/file.mp3", bounce)
    with pytest.raises(InsecureURLError) as info:
        fetch(f"{server.url}/file.mp3", tmp_path / "take.mp3")
    assert "sig=x" not in info.value.message


def test_insecure_url_refused_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(InsecureURLError):
        fetch("http://cdn.example.com/f.mp3", tmp_path / "take.mp3")


def test_download_client_timeout_is_kept() -> None:
    client = make_download_client(timeout=httpx.Timeout(3.0))
    assert client.timeout.connect == 3.0
    run(client.aclose())


def test_expired_link_keeps_part_for_a_fresh_url(server: FaultServer, tmp_path: Path) -> None:
    """D4 after D1: the engine mints a new URL; the same object resumes."""
    serve_file(server, cut_first_at=60_000)

    async def expired(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 403, b"<Error><Message>Request has expired</Message></Error>")

    server.route("/old.mp3", expired)
    dest = tmp_path / "take.mp3"
    with pytest.raises(DownloadIncompleteError):
        fetch(f"{server.url}/file.mp3", dest)
    with pytest.raises(LinkExpiredError):
        fetch(f"{server.url}/old.mp3", dest)
    assert (tmp_path / "take.mp3.part").exists()
    result = fetch(f"{server.url}/file.mp3?fresh=1", dest)
    assert result.resumed and dest.read_bytes() == AUDIO


def test_416_discards_part(server: FaultServer, tmp_path: Path) -> None:
    serve_file(server, cut_first_at=60_000)
    dest = tmp_path / "take.mp3"
    with pytest.raises(DownloadIncompleteError):
        fetch(f"{server.url}/file.mp3", dest)

    async def unsatisfiable(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 416, b"", {"Content-Range": "bytes */10"})

    server.route("/file.mp3", unsatisfiable)
    with pytest.raises(RangeMismatchError):
        fetch(f"{server.url}/file.mp3", dest)
    assert leftovers(dest) == []
