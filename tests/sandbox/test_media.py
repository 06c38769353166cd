"""Signed, expiring result links: Range, If-Range, HEAD, 403/416, refresh, and media faults."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from studio.sandbox.faults import ignore_range, truncated_body, wrong_content_range
from studio.sandbox.media import MediaStore, parse_range
from studio.sandbox.server import SandboxServer

TIMEOUT = httpx.Timeout(5.0)
DATA = bytes(range(256)) * 40  # 10 240 bytes, every offset distinguishable mod 256


class _FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _FakeClock:
    return _FakeClock()


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer("media") as srv:
        yield srv


@pytest.fixture
def store(server: SandboxServer, clock: _FakeClock) -> MediaStore:
    return MediaStore(server, link_ttl_s=60, secret="test-secret", clock=clock)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as c:
        yield c


@pytest.fixture
def url(store: MediaStore) -> str:
    return store.put(DATA, "audio/mpeg", "mp3", "Night Drive ü")


def test_put_returns_a_signed_url_on_the_server(
    server: SandboxServer, store: MediaStore, url: str, clock: _FakeClock
) -> None:
    parts = urlsplit(url)
    assert url.startswith(server.base_url + "/media/")
    assert parts.path.endswith(".mp3")
    query = parse_qs(parts.query)
    assert int(query["X-Expires"][0]) == int(clock.now + 60)
    assert len(query["X-Signature"][0]) == 64
    assert store.data_for(url) == DATA
    assert len(store) == 1


def test_get_serves_the_whole_file_with_validators(client: httpx.Client, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.content == DATA
    headers = answer.headers
    assert headers["content-type"] == "audio/mpeg"
    assert headers["content-length"] == str(len(DATA))
    assert headers["accept-ranges"] == "bytes"
    assert headers["etag"].startswith('"') and headers["etag"].endswith('"')
    assert headers["last-modified"].endswith("GMT")
    assert "filename*=UTF-8''Night%20Drive%20%C3%BC.mp3" in headers["content-disposition"]


def test_head_has_the_headers_and_no_body(client: httpx.Client, url: str) -> None:
    answer = client.head(url)
    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["content-length"] == str(len(DATA))
    assert answer.headers["accept-ranges"] == "bytes"
    assert client.get(url).content == DATA  # the connection survived the HEAD


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=1000-", 1000, len(DATA) - 1),
        ("bytes=10-19", 10, 19),
        ("bytes=10-999999", 10, len(DATA) - 1),
        ("bytes=-100", len(DATA) - 100, len(DATA) - 1),
        ("bytes=0-0", 0, 0),
    ],
)
def test_range_requests_get_206(
    client: httpx.Client, url: str, header: str, start: int, end: int
) -> None:
    answer = client.get(url, headers={"Range": header})
    assert answer.status_code == 206
    assert answer.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert answer.content == DATA[start : end + 1]
    assert answer.headers["content-length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_unsatisfiable_range_is_416(client: httpx.Client, url: str, header: str) -> None:
    answer = client.get(url, headers={"Range": header})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{len(DATA)}"
    assert b"<Code>InvalidRange</Code>" in answer.content


@pytest.mark.parametrize("header", ["bytes=5-1", "items=0-5", "bytes=0-1,5-6", "bytes=x-"])
def test_unusable_range_is_ignored(client: httpx.Client, url: str, header: str) -> None:
    answer = client.get(url, headers={"Range": header})
    assert answer.status_code == 200
    assert answer.content == DATA


def test_if_range_with_the_etag_or_the_date_resumes(client: httpx.Client, url: str) -> None:
    first = client.head(url)
    for validator in (first.headers["etag"], first.headers["last-modified"]):
        answer = client.get(url, headers={"Range": "bytes=100-", "If-Range": validator})
        assert answer.status_code == 206
        assert answer.content == DATA[100:]


@pytest.mark.parametrize(
    "validator",
    ['"not-the-etag"', 'W/"weak"', formatdate(1_000_000_000, usegmt=True), "garbage"],
)
def test_if_range_mismatch_sends_the_whole_file(
    client: httpx.Client, url: str, validator: str
) -> None:
    answer = client.get(url, headers={"Range": "bytes=100-", "If-Range": validator})
    assert answer.status_code == 200
    assert answer.content == DATA


def test_expired_link_is_403_request_has_expired(
    client: httpx.Client, url: str, clock: _FakeClock
) -> None:
    assert client.get(url).status_code == 200
    clock.now += 61
    answer = client.get(url)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/xml"
    assert b"<Code>AccessDenied</Code>" in answer.content
    assert b"Request has expired" in answer.content
    assert client.head(url).status_code == 403


def test_refresh_issues_a_working_link(
    client: httpx.Client, store: MediaStore, url: str, clock: _FakeClock
) -> None:
    clock.now += 3600
    assert client.get(url).status_code == 403
    fresh = store.refresh(url)
    assert fresh != url
    assert urlsplit(fresh).path == urlsplit(url).path  # same object
    assert client.get(fresh).content == DATA
    assert client.get(url).status_code == 403  # the old link stays dead


def test_expire_all_and_expire_one(client: httpx.Client, store: MediaStore, url: str) -> None:
    other = store.put(b"RIFF....WAVE", "audio/wav", "wav", "other")
    store.expire(other)
    assert client.get(other).status_code == 403
    assert client.get(url).status_code == 200
    store.expire_all()
    assert b"Request has expired" in client.get(url).content
    fresh = store.refresh(url)  # issued in the same second: still distinct, still valid
    assert client.get(fresh).status_code == 200


def test_link_ttl_is_configurable(
    client: httpx.Client, store: MediaStore, clock: _FakeClock
) -> None:
    store.link_ttl_s = 5
    short = store.put(b"abc", "audio/mpeg", "mp3", "short")
    clock.now += 4
    assert client.get(short).status_code == 200
    clock.now += 2
    assert client.get(short).status_code == 403


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())))


def test_bad_signature_is_403_signature_does_not_match(client: httpx.Client, url: str) -> None:
    forged = _with_query(url, **{"X-Signature": "0" * 64})
    answer = client.get(forged)
    assert answer.status_code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer.content
    # Extending one's own link is a forgery too.
    expires = parse_qs(urlsplit(url).query)["X-Expires"][0]
    longer = _with_query(url, **{"X-Expires": str(int(expires) + 86400)})
    assert b"SignatureDoesNotMatch" in client.get(longer).content


def test_missing_signature_is_403(client: httpx.Client, url: str) -> None:
    answer = client.get(_with_query(url, **{"X-Signature": None}))
    assert answer.status_code == 403
    assert b"AccessDenied" in answer.content


def test_unsigned_unknown_object_is_403_and_refresh_refuses_it(
    client: httpx.Client, server: SandboxServer, store: MediaStore
) -> None:
    assert client.get(server.url("/media/nothing.mp3")).status_code == 403  # unsigned
    with pytest.raises(KeyError):
        store.refresh(server.url("/media/nothing.mp3"))
    with pytest.raises(KeyError):
        store.refresh(server.url("/elsewhere/x.mp3"))


def test_other_secret_cannot_sign(server: SandboxServer, clock: _FakeClock) -> None:
    first = MediaStore(server, 60, secret="a", clock=clock, prefix="/a", route_name="a")
    second = MediaStore(server, 60, secret="b", clock=clock, prefix="/b", route_name="b")
    url = first.put(b"x", "audio/mpeg", "mp3", "x")
    moved = url.replace("/a/", "/b/")
    with httpx.Client(timeout=TIMEOUT) as c:
        assert c.get(url).status_code == 200
        assert c.get(moved).status_code == 403
    assert len(second) == 0


def test_query_string_is_kept_out_of_the_log(
    client: httpx.Client, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="studio.sandbox")
    client.get(url)
    signature = parse_qs(urlsplit(url).query)["X-Signature"][0]
    assert "media" in caplog.text
    assert signature not in caplog.text


# -- media faults (D1, D3) -------------------------------------------------------------


def test_truncated_download_then_resume(
    client: httpx.Client, server: SandboxServer, url: str
) -> None:
    server.faults.add("media", truncated_body(at=4000))
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), client.stream("GET", url) as answer:
        assert answer.headers["content-length"] == str(len(DATA))
        for chunk in answer.iter_raw():
            received += chunk
    assert bytes(received) == DATA[:4000]
    etag = client.head(url).headers["etag"]
    rest = client.get(url, headers={"Range": f"bytes={len(received)}-", "If-Range": etag})
    assert rest.status_code == 206
    assert bytes(received) + rest.content == DATA


def test_ignore_range_answers_200_with_everything(
    client: httpx.Client, server: SandboxServer, url: str
) -> None:
    server.faults.add("media", ignore_range())
    answer = client.get(url, headers={"Range": "bytes=100-"})
    assert answer.status_code == 200
    assert "content-range" not in answer.headers
    assert answer.content == DATA
    assert server.requests_log[-1].headers["range"] == "bytes=100-"  # the log saw the ask
    assert client.get(url, headers={"Range": "bytes=100-"}).status_code == 206


def test_wrong_content_range_lies_about_the_offset(
    client: httpx.Client, server: SandboxServer, url: str
) -> None:
    server.faults.add("media", wrong_content_range(shift=5))
    answer = client.get(url, headers={"Range": "bytes=100-199"})
    assert answer.status_code == 206
    assert answer.headers["content-range"] == f"bytes 105-204/{len(DATA)}"
    assert answer.content == DATA[100:200]  # the bytes are the ones asked for


def test_wrong_content_range_leaves_full_answers_alone(
    client: httpx.Client, server: SandboxServer, url: str
) -> None:
    server.faults.add("media", wrong_content_range(), times=None)
    answer = client.get(url)
    assert answer.status_code == 200
    assert "content-range" not in answer.headers


def test_faults_can_target_only_head(client: httpx.Client, server: SandboxServer, url: str) -> None:
    server.faults.add("media", truncated_body(at=0), method="GET")
    assert client.head(url).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(url)


def test_parse_range_unit() -> None:
    assert parse_range("bytes=0-", 10) == (0, 9)
    assert parse_range("BYTES = 2-3", 10) == (2, 3)  # the unit is case-insensitive
    assert parse_range("bytes=-20", 10) == (0, 9)
    assert parse_range("bytes=-", 10) is None
    assert parse_range("bytes=3-3", 10) == (3, 3)
