"""API clients and ``send``: retry rules, caps, redirects (faults J1, J4–J6, J8–J10, P4)."""

from __future__ import annotations

import asyncio
import logging
import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from studio.logs import REDACTED, redact
from studio.net.client import make_api_client, make_download_client, send
from studio.net.errors import (
    InsecureURLError,
    NotSentError,
    OutcomeUnknownError,
    RedirectRefusedError,
    ResponseTooLargeError,
    RetriesExhaustedError,
)
from studio.net.retry import Backoff
from tests.net.conftest import SleepRecorder, run
from tests.net.fault_server import FaultServer, Seen, closed_port, reset, respond, write_head

KEY = "sk-CANARY-0123456789abcdef"
FAST = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0)


def policy(attempts: int = 4) -> Backoff:
    return Backoff(base=0.1, cap=1.0, max_attempts=attempts, rng=random.Random(0))


def api(base_url: str) -> httpx.AsyncClient:
    return make_api_client(base_url, auth_headers={"TT-API-KEY": KEY}, timeout=FAST)


async def call(
    base_url: str,
    method: str,
    path: str,
    *,
    idempotent: bool,
    sleeps: SleepRecorder,
    attempts: int = 4,
    max_body: int = 1 << 20,
) -> httpx.Response:
    async with api(base_url) as client:
        body = b'{"prompt": "x"}' if method == "POST" else None
        request = client.build_request(method, path, content=body)
        return await send(
            client,
            request,
            idempotent=idempotent,
            backoff=policy(attempts),
            max_body=max_body,
            sleep=sleeps,
        )


# -- clients -----------------------------------------------------------------


def test_api_client_refuses_plain_http_off_loopback() -> None:
    with pytest.raises(InsecureURLError, match="https"):
        make_api_client("http://api.example.com", auth_headers={"k": KEY})
    with pytest.raises(InsecureURLError):
        make_api_client("ftp://127.0.0.1/")


def test_api_client_settings_and_secret_registration() -> None:
    secret = "tok-" + "z" * 20

    async def check() -> None:
        client = make_api_client(
            "http://127.0.0.1:9", auth_headers={"Authorization": f"Bearer {secret}"}
        )
        async with client:
            assert client.follow_redirects is False
            assert client.timeout.read is not None and client.timeout.connect is not None

    run(check())
    assert redact(f"token {secret} leaked") == f"token {REDACTED} leaked"


def test_request_to_http_off_loopback_refused(sleeps: SleepRecorder) -> None:
    async def go() -> None:
        async with api("http://127.0.0.1:9") as client:
            request = client.build_request("GET", "http://api.example.com/x?sig=abc")
            await send(client, request, idempotent=True, backoff=policy(), max_body=10)

    with pytest.raises(InsecureURLError) as info:
        run(go())
    assert "sig=abc" not in info.value.message


# -- provably not sent (J1) ----------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connection_refused_retried_then_not_sent(method: str, sleeps: SleepRecorder) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(NotSentError) as info:
        run(call(url, method, "/tasks?sig=s3cr3t", idempotent=method == "GET", sleeps=sleeps))
    assert len(sleeps.delays) == 3  # four attempts, three waits
    assert "s3cr3t" not in info.value.message and KEY not in info.value.message


def test_post_resent_only_until_the_network_returns() -> None:
    """Refused twice, then the engine comes up: exactly one remote job (J1)."""
    port = closed_port()
    engine = FaultServer(port=port)

    async def ok(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b'{"task_id": "t1"}')

    engine.route("/submit", ok)
    waits: list[float] = []

    async def sleep_then_start(delay: float) -> None:
        waits.append(delay)
        if len(waits) == 2:
            engine.start()

    async def go() -> httpx.Response:
        async with api(f"http://127.0.0.1:{port}") as client:
            request = client.build_request("POST", "/submit", content=b"{}")
            return await send(
                client,
                request,
                idempotent=False,
                backoff=policy(),
                max_body=1000,
                sleep=sleep_then_start,
            )

    try:
        response = run(go())
    finally:
        engine.stop()
    assert response.json() == {"task_id": "t1"}
    assert len(engine.requests("POST")) == 1
    assert len(waits) == 2


# -- Retry-After (J5, P4) --------------------------------------------------------


def _busy_then_ok(server: FaultServer, retry_after: str | None, status: int = 429) -> None:
    async def handler(req: Seen, writer: asyncio.StreamWriter) -> None:
        if len(server.requests(path="/poll")) == 1:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            await respond(writer, status, b"slow down", headers)
        else:
            await respond(writer, 200, b'{"status": "done"}')

    server.route("/poll", handler)


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("3", 3.0, 3.1),
        ("100000", 300.0, 300.1),  # huge: clamped
        ("soon", 0.0, 0.1),  # garbage: computed backoff (base 0.1, first attempt)
        ("-4", 0.0, 0.1),  # negative: computed backoff
        (None, 0.0, 0.1),
    ],
)
def test_429_honours_retry_after_seconds(
    server: FaultServer, sleeps: SleepRecorder, header: str | None, low: float, high: float
) -> None:
    _busy_then_ok(server, header)
    response = run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps))
    assert response.status_code == 200
    assert len(sleeps.delays) == 1
    assert low <= sleeps.delays[0] <= high


def test_429_honours_retry_after_http_date(server: FaultServer, sleeps: SleepRecorder) -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    _busy_then_ok(server, format_datetime(when, usegmt=True), status=503)
    assert run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps)).is_success
    assert 17.0 <= sleeps.delays[0] <= 20.2


def test_503_forever_is_bounded(server: FaultServer, sleeps: SleepRecorder) -> None:
    async def busy(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 503, b"busy", {"Retry-After": "1"})

    server.route("/poll", busy)
    with pytest.raises(RetriesExhaustedError) as info:
        run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps, attempts=5))
    assert len(server.requests("GET", "/poll")) == 5
    assert info.value.response.status_code == 503 and info.value.response.content == b"busy"
    assert info.value.retry_after == 1.0 and info.value.attempts == 5
    assert len(sleeps.delays) == 4


# -- never resend a POST that may have arrived (J2, J4) ---------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_post_error_status_returned_unretried(
    server: FaultServer, sleeps: SleepRecorder, status: int
) -> None:
    async def fail(req: Seen, writer: asyncio.StreamWriter) -> None:
        page = b"<html><body><h1>Oops</h1></body></html>"
        await respond(writer, status, page, {"Content-Type": "text/html", "Retry-After": "1"})

    server.route("/submit", fail)
    response = run(call(server.url, "POST", "/submit", idempotent=False, sleeps=sleeps))
    assert response.status_code == status
    assert response.content.startswith(b"<html>")  # raw body kept for the engine layer
    assert len(server.requests("POST")) == 1
    assert sleeps.delays == []


def _slow(server: FaultServer, path: str) -> None:
    async def processed_then_silent(req: Seen, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # the job exists; the answer never comes in time

    server.route(path, processed_then_silent)


def test_post_read_timeout_is_outcome_unknown(server: FaultServer, sleeps: SleepRecorder) -> None:
    _slow(server, "/submit")
    with pytest.raises(OutcomeUnknownError, match="may have been received"):
        run(call(server.url, "POST", "/submit", idempotent=False, sleeps=sleeps))
    assert len(server.requests("POST")) == 1
    assert sleeps.delays == []


def test_get_read_timeout_is_retried(server: FaultServer, sleeps: SleepRecorder) -> None:
    _slow(server, "/poll")
    with pytest.raises(OutcomeUnknownError):
        run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps, attempts=3))
    assert len(server.requests("GET")) == 3


@pytest.mark.parametrize("how", ["rst", "close"])
def test_post_reset_mid_body_is_outcome_unknown(
    server: FaultServer, sleeps: SleepRecorder, how: str
) -> None:
    async def cut(req: Seen, writer: asyncio.StreamWriter) -> None:
        write_head(writer, 200, {"Content-Length": "1000"})
        writer.write(b'{"task_id": "t')
        await writer.drain()
        await asyncio.sleep(0.05)
        if how == "rst":
            reset(writer)
        else:
            writer.close()

    server.route("/submit", cut)
    with pytest.raises(OutcomeUnknownError):
        run(call(server.url, "POST", "/submit", idempotent=False, sleeps=sleeps))
    assert len(server.requests("POST")) == 1


def test_reset_before_answer_retried_for_get(server: FaultServer, sleeps: SleepRecorder) -> None:
    async def flaky(req: Seen, writer: asyncio.StreamWriter) -> None:
        if len(server.requests()) == 1:
            reset(writer)
        else:
            await respond(writer, 200, b"{}")

    server.route("/poll", flaky)
    assert run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps)).content == b"{}"
    assert len(server.requests()) == 2


# -- size cap before parsing (J8) -------------------------------------------------------

FIFTY_MB = 50 * 1024 * 1024


@pytest.mark.parametrize("announced", [True, False])
def test_50_mb_body_is_capped(server: FaultServer, sleeps: SleepRecorder, announced: bool) -> None:
    async def huge(req: Seen, writer: asyncio.StreamWriter) -> None:
        if announced:
            write_head(writer, 200, {"Content-Length": str(FIFTY_MB)})
            block = b"{" + b" " * 65535
            for _ in range(FIFTY_MB // len(block)):
                writer.write(block)
                await writer.drain()
            return
        write_head(writer, 200, {"Transfer-Encoding": "chunked"})
        block = b" " * 65536
        for _ in range(FIFTY_MB // len(block)):
            writer.write(b"%x\r\n%s\r\n" % (len(block), block))
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    server.route("/poll", huge)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLargeError) as info:
            run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps, max_body=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    assert len(server.requests()) == 1  # not retried
    assert info.value.limit == 1 << 20 and len(info.value.head) <= 1 << 20
    if not announced:
        assert len(info.value.head) == 1 << 20  # the capped raw body, for keeping


def test_html_error_page_with_200_is_returned_for_the_engine_to_judge(
    server: FaultServer, sleeps: SleepRecorder
) -> None:
    async def page(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(
            writer, 200, b"<!doctype html><title>Gateway</title>", {"Content-Type": "text/html"}
        )

    server.route("/poll", page)
    response = run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps))
    assert response.headers["content-type"] == "text/html"
    assert response.text.startswith("<!doctype html>")


def test_gzip_body_is_decoded_once(server: FaultServer, sleeps: SleepRecorder) -> None:
    import gzip

    async def zipped(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, gzip.compress(b'{"ok": true}'), {"Content-Encoding": "gzip"})

    server.route("/poll", zipped)
    assert run(call(server.url, "GET", "/poll", idempotent=True, sleeps=sleeps)).json() == {
        "ok": True
    }


# -- redirects (J9) -------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["other", "http://api.example.com/steal?sig=abc"])
def test_api_redirect_refused_and_no_key_leaks(
    server: FaultServer, other_server: FaultServer, sleeps: SleepRecorder, target: str
) -> None:
    location = f"{other_server.url}/collect?sig=abc" if target == "other" else target

    async def bounce(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 307, b"", {"Location": location})

    server.route("/submit", bounce)
    with pytest.raises(RedirectRefusedError) as info:
        run(call(server.url, "POST", "/submit", idempotent=False, sleeps=sleeps))
    assert server.requests()[0].headers["tt-api-key"] == KEY  # the engine itself got it
    assert other_server.requests() == []
    assert "sig=abc" not in info.value.message and info.value.status_code == 307
    assert len(server.requests()) == 1


def test_download_client_has_no_credentials_and_checks_hops(
    server: FaultServer, other_server: FaultServer
) -> None:
    async def bounce(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 302, b"", {"Location": f"{other_server.url}/file"})

    async def insecure(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 302, b"", {"Location": "http://cdn.example.com/file?sig=1"})

    async def file(req: Seen, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b"data")

    server.route("/a", bounce)
    server.route("/b", insecure)
    other_server.route("/file", file)

    async def go() -> None:
        async with make_download_client(timeout=FAST) as client:
            response = await client.get(f"{server.url}/a")
            assert response.content == b"data"
            with pytest.raises(InsecureURLError):
                await client.get(f"{server.url}/b")

    run(go())
    for seen in server.requests() + other_server.requests():
        assert not any("key" in h or h == "authorization" for h in seen.headers)


def test_debug_logs_carry_no_key_or_query(
    server: FaultServer, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    _busy_then_ok(server, "0")
    with caplog.at_level(logging.DEBUG):
        run(call(server.url, "GET", "/poll?sig=s3cr3t", idempotent=True, sleeps=sleeps))
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("studio.net")]
    assert ours and all("s3cr3t" not in m for m in ours)
    assert KEY not in caplog.text  # not even httpx's own records carry header values
