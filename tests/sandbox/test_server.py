"""The sandbox HTTP server: routing, request log, keep-alive, limits, shutdown; the task clock.

Real sockets on loopback with a real httpx client; every call has a timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from studio.sandbox.clock import TaskTimeline
from studio.sandbox.faults import slow_body
from studio.sandbox.server import (
    BadJson,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    bytes_response,
    json_response,
    text_response,
)

TIMEOUT = httpx.Timeout(5.0)


def _echo(request: SandboxRequest) -> SandboxResponse:
    return json_response(
        {
            "method": request.method,
            "path": request.path,
            "params": request.params,
            "query": request.query,
            "route": request.route,
        }
    )


def _create(request: SandboxRequest) -> SandboxResponse:
    try:
        payload = request.json()
    except BadJson as exc:
        return json_response({"code": 400, "message": f"bad json: {exc}"}, 400)
    return json_response({"got": payload}, 201)


def _boom(request: SandboxRequest) -> SandboxResponse:
    raise RuntimeError("engine imitation bug")


def _count(server: SandboxServer) -> None:
    def handler(request: SandboxRequest) -> SandboxResponse:
        with server.lock:
            value = server.state.get("count", 0)
            time.sleep(0.001)  # widen the race window a lock must close
            server.state["count"] = value + 1
        return text_response("ok")

    server.route("POST", "/count", handler, name="count")


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    srv = SandboxServer("test", max_body=4096)
    srv.route("GET", "/v1/tasks/{task_id}", _echo, name="query")
    srv.route("POST", "/v1/tasks", _create, name="create")
    srv.route("GET", r"^/files/(?P<name>[a-z]+)\.(?P<ext>mp3|wav)$", _echo, name="file")
    srv.route("GET", "/blob/{rest:path}", _echo, name="blob")
    srv.route("*", "/any", _echo, name="any")
    srv.route("GET", "/boom", _boom, name="boom")
    srv.route("GET", "/bin", lambda r: bytes_response(b"\x00\x01\x02"), name="bin")
    _count(srv)
    with srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as c:
        yield c


def test_base_url_is_loopback_with_the_bound_port(server: SandboxServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.port > 0
    assert server.url("/x") == server.base_url + "/x"


def test_template_route_passes_decoded_params_and_single_query_values(
    server: SandboxServer, client: httpx.Client
) -> None:
    answer = client.get(server.url("/v1/tasks/abc%20d?x=1&x=2&empty="))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "method": "GET",
        "path": "/v1/tasks/abc%20d",
        "params": {"task_id": "abc d"},
        "query": {"x": "1", "empty": ""},
        "route": "query",
    }


def test_template_param_matches_one_segment_only(
    server: SandboxServer, client: httpx.Client
) -> None:
    assert client.get(server.url("/v1/tasks/a/b")).status_code == 404
    assert client.get(server.url("/blob/a/b/c")).json()["params"] == {"rest": "a/b/c"}


def test_regex_route_uses_named_groups(server: SandboxServer, client: httpx.Client) -> None:
    assert client.get(server.url("/files/song.mp3")).json()["params"] == {
        "name": "song",
        "ext": "mp3",
    }
    assert client.get(server.url("/files/song.ogg")).status_code == 404


def test_unknown_path_is_404_json(server: SandboxServer, client: httpx.Client) -> None:
    answer = client.get(server.url("/nowhere"))
    assert answer.status_code == 404
    assert answer.json() == {"error": "not found"}


def test_wrong_method_is_405_with_allow(server: SandboxServer, client: httpx.Client) -> None:
    answer = client.delete(server.url("/v1/tasks/1"))
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert client.request("PATCH", server.url("/v1/tasks")).status_code == 405


def test_wildcard_method_route(server: SandboxServer, client: httpx.Client) -> None:
    assert client.request("PROPFIND", server.url("/any")).json()["method"] == "PROPFIND"


def test_head_is_served_by_the_get_route_without_a_body(
    server: SandboxServer, client: httpx.Client
) -> None:
    full = client.get(server.url("/bin"))
    head = client.head(server.url("/bin"))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == full.headers["content-length"] == "3"
    # The connection is still usable after a HEAD (no stray body bytes on the wire).
    assert client.get(server.url("/bin")).content == b"\x00\x01\x02"


def test_json_body_and_bad_json(server: SandboxServer, client: httpx.Client) -> None:
    ok = client.post(server.url("/v1/tasks"), json={"prompt": "rain", "n": 2})
    assert ok.status_code == 201
    assert ok.json() == {"got": {"prompt": "rain", "n": 2}}
    bad = client.post(server.url("/v1/tasks"), content=b'{"prompt": ')
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("bad json")
    empty = client.post(server.url("/v1/tasks"))
    assert empty.status_code == 400


def test_chunked_request_body_is_read(server: SandboxServer, client: httpx.Client) -> None:
    def parts() -> Iterator[bytes]:
        yield b'{"prompt":'
        yield b' "wind"}'

    answer = client.post(server.url("/v1/tasks"), content=parts())
    assert answer.status_code == 201
    assert answer.json() == {"got": {"prompt": "wind"}}
    assert server.requests(method="POST")[-1].headers["transfer-encoding"] == "chunked"


def test_body_over_the_cap_is_413_and_the_handler_never_runs(
    server: SandboxServer, client: httpx.Client
) -> None:
    answer = client.post(server.url("/v1/tasks"), content=b"x" * 5000)
    assert answer.status_code == 413
    entry = server.requests(method="POST")[-1]
    assert entry.handled is False
    assert entry.status == 413
    assert entry.body == b""
    # The server is fine afterwards.
    assert client.post(server.url("/v1/tasks"), json={}).status_code == 201


def test_handler_exception_is_a_500_and_the_server_survives(
    server: SandboxServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client.get(server.url("/boom"))
    assert answer.status_code == 500
    assert answer.text == "sandbox handler error: RuntimeError"
    assert "handler boom failed" in caplog.text
    assert client.get(server.url("/v1/tasks/1")).status_code == 200


def test_request_log_records_every_request(server: SandboxServer, client: httpx.Client) -> None:
    before = time.time()
    client.post(
        server.url("/v1/tasks?mode=fast"),
        json={"a": 1},
        headers={"Authorization": "Bearer sk-test", "X-Custom": "v"},
    )
    client.get(server.url("/nowhere"))
    log = server.requests_log
    assert [(e.method, e.path, e.route, e.status) for e in log] == [
        ("POST", "/v1/tasks", "create", 201),
        ("GET", "/nowhere", None, 404),
    ]
    post = log[0]
    assert post.query == {"mode": "fast"}
    assert post.body == b'{"a":1}'
    assert post.headers["authorization"] == "Bearer sk-test"
    assert post.headers["AUTHORIZATION"] == "Bearer sk-test"
    assert "x-custom" in post.headers
    assert post.handled is True
    assert post.fault is None
    assert before <= post.time <= time.time()
    assert log[1].handled is False
    assert len(server.requests(method="post")) == 1
    assert len(server.requests(route="create")) == 1
    assert len(server.requests(path="/nowhere")) == 1
    server.clear_log()
    assert server.requests_log == []


def test_request_log_headers_are_a_copy(server: SandboxServer, client: httpx.Client) -> None:
    client.get(server.url("/v1/tasks/1"), headers={"Range": "bytes=0-"})
    entry = server.requests_log[0]
    snapshot = server.requests_log
    snapshot.clear()  # the snapshot is a list of its own
    assert server.requests_log == [entry]
    assert entry.headers.copy() is not entry.headers


def test_wait_for_requests(server: SandboxServer) -> None:
    def later() -> None:
        time.sleep(0.1)
        with httpx.Client(timeout=TIMEOUT) as c:
            c.get(server.url("/v1/tasks/late"))

    thread = threading.Thread(target=later)
    thread.start()
    assert server.wait_for_requests(lambda log: len(log) == 1, timeout=5.0)
    assert not server.wait_for_requests(lambda log: len(log) == 5, timeout=0.05)
    thread.join(5)


def test_keep_alive_reuses_one_connection(server: SandboxServer, client: httpx.Client) -> None:
    for index in range(5):
        answer = client.get(server.url(f"/v1/tasks/{index}"))
        assert answer.status_code == 200
        assert answer.http_version == "HTTP/1.1"
        assert "close" not in answer.headers.get("connection", "")
    client.post(server.url("/v1/tasks"), json={})
    client.get(server.url("/nowhere"))
    peers = {entry.peer for entry in server.requests_log}
    assert len(peers) == 1


def test_client_connection_close_is_honoured(server: SandboxServer) -> None:
    with httpx.Client(timeout=TIMEOUT) as c:
        for _ in range(2):
            answer = c.get(server.url("/v1/tasks/1"), headers={"Connection": "close"})
            assert answer.status_code == 200
    assert len({entry.peer for entry in server.requests_log}) == 2


def test_shared_state_under_the_lock(server: SandboxServer) -> None:
    def hammer() -> None:
        with httpx.Client(timeout=TIMEOUT) as c:
            for _ in range(10):
                c.post(server.url("/count"))

    threads = [threading.Thread(target=hammer) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert server.state["count"] == 50


def test_duplicate_route_name_is_refused(server: SandboxServer) -> None:
    with pytest.raises(ValueError, match="already registered"):
        server.route("GET", "/other", _echo, name="query")
    assert "query" in server.route_names()
    assert server.route("GET", "/default", _echo) == "GET /default"


def test_start_twice_is_refused_and_stop_is_idempotent() -> None:
    srv = SandboxServer("twice")
    srv.start()
    with pytest.raises(RuntimeError):
        srv.start()
    srv.stop()
    srv.stop()
    with pytest.raises(RuntimeError):
        srv.start()


def test_stop_without_start_releases_the_socket() -> None:
    srv = SandboxServer("never")
    port = srv.port
    srv.stop()
    again = SandboxServer("again", port=port)  # the port is free again
    again.stop()


def test_stop_is_prompt_with_idle_keep_alive_connections() -> None:
    srv = SandboxServer("idle", idle_timeout_s=60)
    srv.route("GET", "/", lambda r: text_response("ok"))
    srv.start()
    with httpx.Client(timeout=TIMEOUT) as c:
        assert c.get(srv.url("/")).text == "ok"
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 1.5
        with pytest.raises(httpx.TransportError):
            c.get(srv.url("/"))


def test_stop_is_prompt_with_a_slow_body_in_flight() -> None:
    srv = SandboxServer("drip")
    srv.route("GET", "/big", lambda r: bytes_response(b"x" * 1000), name="big")
    srv.faults.add("big", slow_body(1, 0.5), times=None)
    srv.start()
    outcome: list[object] = []

    def download() -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(10.0)) as c:
                outcome.append(c.get(srv.url("/big")).content)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=download)
    thread.start()
    assert srv.wait_for_requests(lambda log: any(e.status == 200 for e in log), timeout=5)
    time.sleep(0.2)  # the drip has begun
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 1.5
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.TransportError)


# -- the task clock --------------------------------------------------------------------


class _FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_timeline_walks_through_the_states() -> None:
    timeline = TaskTimeline(10.0, ["submitted", "processing", "succeed"])
    assert timeline.at(0).state == "submitted"
    assert timeline.at(4.9).state == "submitted"
    assert timeline.at(5.0).state == "processing"
    point = timeline.at(7.5)
    assert (point.state, point.index, point.finished) == ("processing", 1, False)
    assert point.progress == pytest.approx(0.75)
    end = timeline.at(10.0)
    assert (end.state, end.progress, end.finished) == ("succeed", 1.0, True)
    assert timeline.at(1e9).state == "succeed"
    assert timeline.at(-5).progress == 0.0


def test_timeline_weights_speed_and_clock() -> None:
    clock = _FakeClock()
    timeline = TaskTimeline(
        60.0, ["queued", "running", "done"], weights=[1, 3], speed=60.0, clock=clock
    )
    created = timeline.now()
    assert timeline.since(created).state == "queued"
    clock.now += 0.3  # 18 s of task time: past the first quarter
    assert timeline.since(created).state == "running"
    assert timeline.remaining_s(created) == pytest.approx(0.7)
    clock.now += 0.7
    assert timeline.since(created).finished


def test_timeline_frozen_and_degenerate_cases() -> None:
    frozen = TaskTimeline(1.0, ["processing", "succeed"], speed=0)
    assert frozen.at(1e6).state == "processing"
    assert frozen.remaining_s(0.0) == float("inf")
    instant = TaskTimeline(0.0, ["pending", "done"])
    assert instant.at(0).finished
    assert TaskTimeline(5.0, ["done"]).at(0).state == "done"
    with pytest.raises(ValueError):
        TaskTimeline(1.0, [])
    with pytest.raises(ValueError):
        TaskTimeline(1.0, ["a", "b"], weights=[1, 2])
