"""Every fault kind of studio/sandbox/faults.py, over real loopback sockets.

Each test asserts both what the client sees and what the server did (handler ran or
not, request logged, counters), since that pair is what the J/P/D cases rely on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import httpx
import pytest

from studio.sandbox.faults import (
    DELETE,
    combine,
    deep_merge,
    delay_after,
    delay_before,
    html_error,
    huge_body,
    malformed_json,
    override_json,
    reset_after,
    reset_before,
    slow_body,
    status,
    truncated_body,
)
from studio.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer, json_response

TIMEOUT = httpx.Timeout(5.0)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    srv = SandboxServer("faults")

    def create(request: SandboxRequest) -> SandboxResponse:
        with srv.lock:
            jobs = srv.state.setdefault("jobs", [])
            jobs.append(request.body)
            job_id = f"job-{len(jobs)}"
        return json_response({"code": 0, "data": {"task_id": job_id, "task_status": "submitted"}})

    def query(request: SandboxRequest) -> SandboxResponse:
        return json_response(
            {
                "code": 0,
                "data": {"task_id": request.params["id"], "task_status": "processing"},
                "items": [{"status": "a"}, {"status": "b"}, 3],
            }
        )

    srv.route("POST", "/v1/tasks", create, name="create")
    srv.route("GET", "/v1/tasks/{id}", query, name="query")
    with srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT) as c:
        yield c


def _jobs(server: SandboxServer) -> int:
    with server.lock:
        return len(server.state.get("jobs", []))


def _create(client: httpx.Client, server: SandboxServer) -> httpx.Response:
    return client.post(server.url("/v1/tasks"), json={"prompt": "rain"})


# -- answers instead of the engine ---------------------------------------------------


@pytest.mark.parametrize("retry_after", ["3", formatdate(time.time() + 5, usegmt=True), "soon!"])
def test_status_429_with_retry_after_passes_the_header_untouched(
    server: SandboxServer, client: httpx.Client, retry_after: str
) -> None:
    server.faults.add("create", status(429, headers={"Retry-After": retry_after}))
    answer = _create(client, server)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == retry_after
    assert answer.json() == {"error": "Too Many Requests", "status": 429}
    assert _jobs(server) == 0
    entry = server.requests_log[-1]
    assert (entry.fault, entry.handled, entry.status) == ("status", False, 429)
    # Used up: the next POST reaches the engine.
    assert _create(client, server).status_code == 200
    assert _jobs(server) == 1


def test_status_with_an_engine_json_body_and_nonstandard_code(
    server: SandboxServer, client: httpx.Client
) -> None:
    server.faults.add("create", status(429, {"code": 1303, "message": "parallel task over"}))
    server.faults.add("create", status(499, {"code": 499, "message": "queue full"}))
    first = _create(client, server)
    assert (first.status_code, first.json()["code"]) == (429, 1303)
    assert first.headers["content-type"] == "application/json"
    second = _create(client, server)
    assert (second.status_code, second.json()["message"]) == (499, "queue full")
    assert _jobs(server) == 0


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_status_5xx_with_text_body(server: SandboxServer, client: httpx.Client, code: int) -> None:
    server.faults.add("query", status(code, "upstream exploded"))
    answer = client.get(server.url("/v1/tasks/1"))
    assert answer.status_code == code
    assert answer.text == "upstream exploded"
    assert answer.headers["content-type"].startswith("text/plain")


def test_status_after_the_handler_ran(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("create", status(500, run_handler=True))
    assert _create(client, server).status_code == 500
    assert _jobs(server) == 1  # the job exists although the client saw a 500
    assert server.requests_log[-1].handled is True


def test_html_error_page(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("query", html_error(502))
    answer = client.get(server.url("/v1/tasks/1"))
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.startswith("<!DOCTYPE html>")
    assert "502 Bad Gateway" in answer.text


def test_malformed_json(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("query", malformed_json())
    answer = client.get(server.url("/v1/tasks/1"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.content == b'{"status": "SUCC'
    with pytest.raises(json.JSONDecodeError):
        answer.json()
    # Correct length: the connection stays usable.
    assert client.get(server.url("/v1/tasks/1")).json()["code"] == 0


def test_malformed_json_after_creating_the_job(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("create", malformed_json(run_handler=True))
    assert _create(client, server).content == b'{"status": "SUCC'
    assert _jobs(server) == 1


def test_huge_body_streams_junk_with_a_length(server: SandboxServer, client: httpx.Client) -> None:
    size = 3 * 1024 * 1024 + 7
    server.faults.add("query", huge_body(size))
    with client.stream("GET", server.url("/v1/tasks/1")) as answer:
        assert answer.headers["content-length"] == str(size)
        received = b"".join(answer.iter_bytes())
    assert len(received) == size
    assert received.startswith(b'{"data": [{"id": ')
    with pytest.raises(json.JSONDecodeError):
        json.loads(received)


def test_huge_body_without_length_ends_at_close(
    server: SandboxServer, client: httpx.Client
) -> None:
    server.faults.add("query", huge_body(100_000, declare_length=False))
    answer = client.get(server.url("/v1/tasks/1"))
    assert "content-length" not in answer.headers
    assert len(answer.content) == 100_000


# -- wire-level faults ----------------------------------------------------------------


def test_truncated_body_with_content_length(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("query", truncated_body(at=10))
    with pytest.raises(httpx.RemoteProtocolError, match="received 10 bytes"):
        client.get(server.url("/v1/tasks/1"))
    assert client.get(server.url("/v1/tasks/1")).status_code == 200


def test_truncated_body_without_content_length_looks_complete(
    server: SandboxServer, client: httpx.Client
) -> None:
    full = client.get(server.url("/v1/tasks/1")).content
    server.faults.add("query", truncated_body(fraction=0.5, declare_length=False))
    answer = client.get(server.url("/v1/tasks/1"))
    assert answer.status_code == 200
    assert "content-length" not in answer.headers
    assert answer.content == full[: len(full) // 2]


def test_slow_body_drips(server: SandboxServer, client: httpx.Client) -> None:
    full = client.get(server.url("/v1/tasks/1")).content
    server.faults.add("query", slow_body(len(full) // 4 + 1, 0.05))
    started = time.monotonic()
    with client.stream("GET", server.url("/v1/tasks/1")) as answer:
        pieces = list(answer.iter_raw())
    assert time.monotonic() - started >= 0.12  # three gaps between four pieces
    assert b"".join(pieces) == full


def test_slow_body_trips_a_client_read_timeout(server: SandboxServer) -> None:
    server.faults.add("query", slow_body(1, 1.0))
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as c, pytest.raises(httpx.ReadTimeout):
        c.get(server.url("/v1/tasks/1"))


def test_reset_before_never_processes(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("create", reset_before())
    with pytest.raises(httpx.TransportError):
        _create(client, server)
    assert _jobs(server) == 0
    entry = server.requests(method="POST")[-1]
    assert (entry.fault, entry.handled, entry.status, entry.body) == (
        "reset_before",
        False,
        None,
        b"",
    )
    assert _create(client, server).status_code == 200


def test_reset_after_creates_the_job_but_never_answers(
    server: SandboxServer, client: httpx.Client
) -> None:
    server.faults.add("create", reset_after())
    with pytest.raises(httpx.TransportError):
        _create(client, server)
    assert _jobs(server) == 1
    entry = server.requests(method="POST")[-1]
    assert (entry.fault, entry.handled, entry.status) == ("reset_after", True, None)
    assert len(server.requests(method="POST")) == 1  # exactly one POST reached the engine


def test_delay_before_times_out_before_the_job_exists(server: SandboxServer) -> None:
    server.faults.add("create", delay_before(0.6))
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as c:
        with pytest.raises(httpx.ReadTimeout):
            _create(c, server)
        assert _jobs(server) == 0  # the client gave up while no job existed...
    assert server.wait_for_requests(lambda log: log[-1].handled, timeout=5)
    assert _jobs(server) == 1  # ...and a slow queue still created it later


def test_delay_before_with_drop_never_creates_the_job(server: SandboxServer) -> None:
    server.faults.add("create", delay_before(0.1, drop=True))
    with httpx.Client(timeout=TIMEOUT) as c, pytest.raises(httpx.TransportError):
        _create(c, server)
    assert _jobs(server) == 0
    assert server.requests_log[-1].handled is False


def test_delay_before_answers_normally_when_the_client_waits(
    server: SandboxServer, client: httpx.Client
) -> None:
    server.faults.add("query", delay_before(0.15))
    started = time.monotonic()
    assert client.get(server.url("/v1/tasks/1")).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_delay_after_times_out_after_the_job_exists(server: SandboxServer) -> None:
    server.faults.add("create", delay_after(0.6))
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as c, pytest.raises(httpx.ReadTimeout):
        _create(c, server)
    assert _jobs(server) == 1
    assert server.requests_log[-1].handled is True


# -- JSON patches (unknown status values, P1) -------------------------------------------


def test_override_json_sets_an_unknown_status(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("query", override_json({"data": {"task_status": "paused"}}))
    answer = client.get(server.url("/v1/tasks/7"))
    assert answer.json()["data"] == {"task_id": "7", "task_status": "paused"}
    assert int(answer.headers["content-length"]) == len(answer.content)


@pytest.mark.parametrize("value", ["", None])
def test_override_json_empty_and_null(
    server: SandboxServer, client: httpx.Client, value: str | None
) -> None:
    server.faults.add("query", override_json({"data": {"task_status": value}}))
    assert client.get(server.url("/v1/tasks/7")).json()["data"]["task_status"] == value


def test_override_json_delete_and_lists(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("query", override_json({"code": DELETE, "items": {"status": "x"}}))
    document = client.get(server.url("/v1/tasks/7")).json()
    assert "code" not in document
    assert document["items"] == [{"status": "x"}, {"status": "x"}, 3]


def test_deep_merge_leaves_its_inputs_alone() -> None:
    target = {"a": {"b": 1, "c": 2}, "d": [1]}
    patch = {"a": {"b": 9, "new": {"x": DELETE, "y": 1}}, "d": "s"}
    assert deep_merge(target, patch) == {"a": {"b": 9, "c": 2, "new": {"y": 1}}, "d": "s"}
    assert target == {"a": {"b": 1, "c": 2}, "d": [1]}
    assert deep_merge([{"k": 1}, "z"], {"k": 2}) == [{"k": 2}, "z"]
    assert deep_merge(1, None) is None


# -- rules: times, forever, order, matching, counters ---------------------------------


def test_times_n_then_normal(server: SandboxServer, client: httpx.Client) -> None:
    rule = server.faults.add("query", status(503), times=2)
    codes = [client.get(server.url("/v1/tasks/1")).status_code for _ in range(4)]
    assert codes == [503, 503, 200, 200]
    assert (rule.fired, rule.remaining) == (2, 0)
    assert server.faults.fired("query") == 2
    assert server.faults.fired(kind="status") == 2
    assert server.faults.pending() == 0


def test_forever_until_removed(server: SandboxServer, client: httpx.Client) -> None:
    rule = server.faults.add("query", status(503), times=None)
    assert [client.get(server.url("/v1/tasks/1")).status_code for _ in range(5)] == [503] * 5
    assert rule.fired == 5
    assert rule.remaining is None
    server.faults.remove(rule)
    assert client.get(server.url("/v1/tasks/1")).status_code == 200
    assert rule.fired == 5


def test_rules_fire_in_the_order_they_were_added(
    server: SandboxServer, client: httpx.Client
) -> None:
    server.faults.add("create", status(429, headers={"Retry-After": "1"}))
    server.faults.add("create", status(500), times=2)
    server.faults.add("create", status(502))
    codes = [_create(client, server).status_code for _ in range(5)]
    assert codes == [429, 500, 500, 502, 200]
    assert [e.fault for e in server.requests_log] == ["status"] * 4 + [None]


def test_rule_matching_by_pattern_wildcard_and_method(
    server: SandboxServer, client: httpx.Client
) -> None:
    server.faults.add("/v1/tasks/{id}", status(404))
    server.faults.add("^/v1/tasks$", status(400))
    assert client.get(server.url("/v1/tasks/9")).status_code == 404
    assert _create(client, server).status_code == 400
    server.faults.add("*", status(418), method="GET")
    assert _create(client, server).status_code == 200  # POST: not matched
    assert client.get(server.url("/nowhere")).status_code == 418  # unrouted paths too


def test_unknown_route_name_and_bad_times_are_refused(server: SandboxServer) -> None:
    with pytest.raises(ValueError, match="no route named 'creat'"):
        server.faults.add("creat", status(500))
    with pytest.raises(ValueError):
        server.faults.add("create", status(500), times=0)


def test_clear_disarms_everything(server: SandboxServer, client: httpx.Client) -> None:
    server.faults.add("query", status(500), times=None)
    server.faults.clear()
    assert server.faults.rules == []
    assert client.get(server.url("/v1/tasks/1")).status_code == 200


def test_counters_are_exact_under_concurrency(server: SandboxServer) -> None:
    rule = server.faults.add("query", status(503), times=7)
    codes: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=TIMEOUT) as c:
            for _ in range(5):
                code = c.get(server.url("/v1/tasks/1")).status_code
                with lock:
                    codes.append(code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(codes) == 30
    assert codes.count(503) == 7
    assert rule.fired == 7


def test_combine_applies_each_part(server: SandboxServer) -> None:
    server.faults.add("create", combine(delay_after(0.1), reset_after()))
    started = time.monotonic()
    with httpx.Client(timeout=TIMEOUT) as c, pytest.raises(httpx.TransportError):
        _create(c, server)
    assert time.monotonic() - started >= 0.1
    assert _jobs(server) == 1
    assert server.requests_log[-1].fault == "delay_after+reset_after"
    assert server.faults.fired(kind="delay_after+reset_after") == 1
