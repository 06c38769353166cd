"""Kling text-to-audio adapter: requests, validation, every status and code, lists, auth."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.core.errors import (
    AuthenticationError,
    BillingError,
    ConcurrencyLimitError,
    ContentPolicyError,
    EngineError,
    EngineValidationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestInvalidError,
    ServerError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteState, RemoteStatus
from studio.engines.adapter import Answer
from studio.engines.jwt import decode_hs256
from studio.engines.kling import (
    KNOWN_CODES,
    LOOKUP_PAGE_SIZE,
    SPEC,
    IpNotAllowedError,
    KlingAdapter,
    KlingStatus,
    TokenExpiredError,
    find_by_client_key,
)

NOW = 1_700_000_000.0
PAIR = {"access_key": "AK-0123456789", "secret_key": "SK-abcdefghij"}


@pytest.fixture
def adapter() -> KlingAdapter:
    return KlingAdapter()


def ok(data: Any, status: int = 200) -> Answer:
    return Answer(status, {"code": 0, "message": "SUCCEED", "request_id": "req-1", "data": data})


def task(status: str | None = "succeed", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_id": "t-1",
        "task_status": status,
        "task_status_msg": "",
        "task_info": {"external_task_id": "ck-1"},
        "created_at": 1722769557708,
        "updated_at": 1722769557708,
    }
    body.update(extra)
    return body


def problems(adapter: KlingAdapter, params: dict[str, Any]) -> list[str]:
    with pytest.raises(RequestInvalidError) as caught:
        adapter.build_submit("text-to-audio", params, client_key="ck-1")
    return [str(problem) for problem in caught.value.problems]


# --------------------------------------------------------------------------- spec + requests


def test_spec_declares_create_and_a_free_query() -> None:
    create = SPEC.operation("text-to-audio")
    assert [f.name for f in create.fields] == ["prompt", "duration", "callback_url"]
    assert create.field("prompt").required and create.field("prompt").max_length == 200
    duration = create.field("duration")
    assert (duration.minimum, duration.maximum, duration.step, duration.default) == (
        3.0,
        10.0,
        0.1,
        5.0,
    )
    assert create.field("callback_url").advanced and not create.field("callback_url").required
    assert create.paid
    query = SPEC.operation("query")
    assert not query.paid
    assert (query.method, query.path) == ("GET", "/v1/audio/text-to-audio/{id}")


def test_create_request_carries_the_client_key(adapter: KlingAdapter) -> None:
    request = adapter.build_submit(
        "text-to-audio", {"prompt": "rain on a tin roof", "duration": 5}, client_key="ck-42"
    )
    assert (request.method, request.path) == ("POST", "/v1/audio/text-to-audio")
    assert not request.idempotent
    assert request.json == {
        "prompt": "rain on a tin roof",
        "duration": 5.0,
        "external_task_id": "ck-42",
    }
    assert isinstance(request.json["duration"], float)
    assert request.query == {}


def test_callback_is_sent_only_when_given(adapter: KlingAdapter) -> None:
    params = {"prompt": "door creak", "duration": 3.3, "callback_url": "https://example.com/cb"}
    request = adapter.build_submit("text-to-audio", params, client_key="ck")
    assert request.json is not None
    assert request.json["callback_url"] == "https://example.com/cb"
    empty = adapter.build_submit("text-to-audio", {**params, "callback_url": ""}, client_key="ck")
    assert empty.json is not None and "callback_url" not in empty.json


def test_external_task_id_is_not_a_user_field(adapter: KlingAdapter) -> None:
    found = problems(adapter, {"prompt": "x", "duration": 5.0, "external_task_id": "mine"})
    assert any(p.startswith("external_task_id:") for p in found)


def test_a_client_key_is_required(adapter: KlingAdapter) -> None:
    with pytest.raises(ValueError, match="external_task_id"):
        adapter.build_submit("text-to-audio", {"prompt": "x", "duration": 5.0}, client_key="")


def test_prompt_limit(adapter: KlingAdapter) -> None:
    adapter.build_submit("text-to-audio", {"prompt": "é" * 200, "duration": 5.0}, client_key="ck")
    (found,) = problems(adapter, {"prompt": "a" * 201, "duration": 5.0})
    assert found.startswith("prompt:") and "200" in found


def test_required_fields(adapter: KlingAdapter) -> None:
    found = problems(adapter, {"prompt": "  ", "duration": None})
    assert "prompt: is required" in found and "duration: is required" in found


@pytest.mark.parametrize("duration", [2.9, 10.1, 5.05, 0, -3, 11, float("nan"), "5", True])
def test_bad_durations_are_rejected(adapter: KlingAdapter, duration: Any) -> None:
    (found,) = problems(adapter, {"prompt": "x", "duration": duration})
    assert found.startswith("duration:")


@given(tenths=st.integers(min_value=30, max_value=100))
def test_every_on_grid_duration_is_accepted(tenths: int) -> None:
    request = KlingAdapter().build_submit(
        "text-to-audio", {"prompt": "boom", "duration": tenths / 10}, client_key="ck"
    )
    assert request.json is not None and request.json["duration"] == tenths / 10
    # One decimal on the wire, never 3.3000000000000003.
    assert len(json.dumps(request.json["duration"]).split(".")[1]) == 1


@given(
    duration=st.one_of(
        st.floats(max_value=2.999, allow_nan=False),
        st.floats(min_value=10.001, allow_nan=False),
    )
)
def test_out_of_range_durations_name_the_field(duration: float) -> None:
    with pytest.raises(RequestInvalidError) as caught:
        KlingAdapter().build_submit(
            "text-to-audio", {"prompt": "x", "duration": duration}, client_key="c"
        )
    assert [p.field for p in caught.value.problems] == ["duration"]


def test_query_request(adapter: KlingAdapter) -> None:
    request = adapter.build_submit("query", {"id": "abc/../x?y"}, client_key="")
    assert (request.method, request.path) == ("GET", "/v1/audio/text-to-audio/abc%2F..%2Fx%3Fy")
    assert request.idempotent and request.json is None
    with pytest.raises(RequestInvalidError):
        adapter.build_submit("query", {"id": ""}, client_key="")


def test_poll_request(adapter: KlingAdapter) -> None:
    request = adapter.build_poll("text-to-audio", "8620 3/x")
    assert (request.method, request.path) == ("GET", "/v1/audio/text-to-audio/8620%203%2Fx")
    assert request.idempotent
    assert adapter.build_poll("text-to-audio", "..").path == "/v1/audio/text-to-audio/%2E%2E"
    with pytest.raises(ValueError):
        adapter.build_poll("text-to-audio", "")
    with pytest.raises(KeyError):
        adapter.build_poll("nope", "t-1")


def test_list_and_lookup_requests(adapter: KlingAdapter) -> None:
    request = adapter.build_list(3, 500)
    assert (request.method, request.path) == ("GET", "/v1/audio/text-to-audio")
    assert request.query == {"pageNum": "3", "pageSize": "500"}
    lookup = adapter.build_lookup("ck-1")
    assert lookup.query == {"pageNum": "1", "pageSize": str(LOOKUP_PAGE_SIZE)}


@pytest.mark.parametrize(
    ("page", "size"), [(0, 30), (1001, 30), (1, 0), (1, 501), (True, 30), (1, 2.0), (-1, -1)]
)
def test_list_bounds(adapter: KlingAdapter, page: Any, size: Any) -> None:
    with pytest.raises(ValueError):
        adapter.build_list(page, size)


@pytest.mark.parametrize(("page", "size"), [(1, 1), (1000, 500), (1, 30)])
def test_list_bounds_inclusive(adapter: KlingAdapter, page: int, size: int) -> None:
    assert adapter.build_list(page, size).query["pageSize"] == str(size)


# --------------------------------------------------------------------------- answers


def test_submit_answer_gives_task_id_and_initial_state(adapter: KlingAdapter) -> None:
    data = {
        "task_id": "t-77",
        "task_info": {"external_task_id": "ck-1"},
        "task_status": "submitted",
        "created_at": 1722769557708,
        "updated_at": 1722769557708,
    }
    result = adapter.parse_submit("text-to-audio", ok(data))
    assert result.remote_id == "t-77"
    assert isinstance(result.status, KlingStatus)
    assert result.status.state is RemoteState.QUEUED
    assert result.status.external_task_id == "ck-1"
    assert result.status.raw["request_id"] == "req-1"


@pytest.mark.parametrize("data", [None, {}, {"task_id": ""}, {"task_id": None}, [], "t-1"])
def test_submit_without_task_id_is_unexpected(adapter: KlingAdapter, data: Any) -> None:
    with pytest.raises(UnexpectedAnswerError):
        adapter.parse_submit("text-to-audio", ok(data))


def test_numeric_task_id_is_kept_as_text(adapter: KlingAdapter) -> None:
    assert adapter.parse_submit("text-to-audio", ok({"task_id": 123})).remote_id == "123"


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("submitted", RemoteState.QUEUED),
        ("processing", RemoteState.RUNNING),
        ("succeed", RemoteState.SUCCEEDED),
        ("failed", RemoteState.FAILED),
        ("SUCCEED", RemoteState.SUCCEEDED),
        ("paused", RemoteState.UNKNOWN),
        ("succeeded", RemoteState.UNKNOWN),  # not Kling's word: never guess success
        ("", RemoteState.UNKNOWN),
        (None, RemoteState.UNKNOWN),
        (7, RemoteState.UNKNOWN),
    ],
)
def test_every_status_maps(adapter: KlingAdapter, word: Any, state: RemoteState) -> None:
    status = adapter.parse_poll("text-to-audio", ok(task(word)))
    assert status.state is state
    assert status.remote_id == "t-1"
    assert status.engine_status == (word if isinstance(word, str) else None)


def test_success_with_audios(adapter: KlingAdapter) -> None:
    audios = [
        {
            "id": "a-1",
            "url_mp3": "https://cdn.example/a.mp3?sig=1",
            "url_wav": "https://cdn.example/a.wav?sig=1",
            "duration_mp3": "5.04",
            "duration_wav": "5.0",
        },
        {
            "id": "a-2",
            "url_wav": "https://cdn.example/b.wav",
            "duration_mp3": "n/a",
            "duration_wav": "4.5",
        },
        {"id": "a-3"},  # no URL: nothing to download
        "junk",
    ]
    status = adapter.parse_poll(
        "text-to-audio",
        ok(task("succeed", task_result={"audios": audios}, final_unit_deduction="1.5")),
    )
    assert status.state is RemoteState.SUCCEEDED
    assert status.cost == "1.5"
    assert [take.remote_id for take in status.outputs] == ["a-1", "a-2"]
    first, second = status.outputs
    assert first.audio_urls == {
        "mp3": "https://cdn.example/a.mp3?sig=1",
        "wav": "https://cdn.example/a.wav?sig=1",
    }
    assert first.duration_s == pytest.approx(5.04)
    assert first.raw == audios[0]
    assert second.audio_urls == {"wav": "https://cdn.example/b.wav"}
    assert second.duration_s == pytest.approx(4.5)


def test_failure_reason(adapter: KlingAdapter) -> None:
    status = adapter.parse_poll("text-to-audio", ok(task("failed", task_status_msg="content risk")))
    assert status.state is RemoteState.FAILED
    assert status.engine_message == "content risk"
    assert status.outputs == []


@pytest.mark.parametrize(
    "result", [None, [], {"audios": None}, {"audios": {}}, {"audios": [None, 1, []]}]
)
def test_odd_results_give_no_outputs(adapter: KlingAdapter, result: Any) -> None:
    assert adapter.parse_poll("text-to-audio", ok(task(task_result=result))).outputs == []


def test_query_operation_parses_like_a_poll(adapter: KlingAdapter) -> None:
    result = adapter.parse_submit("query", ok(task("processing")))
    assert result.remote_id == "t-1"
    assert result.status is not None and result.status.state is RemoteState.RUNNING


# --------------------------------------------------------------------------- errors


CODE_TABLE: list[tuple[int, int, type[EngineError], bool]] = [
    (1000, 401, AuthenticationError, False),
    (1001, 401, AuthenticationError, False),
    (1002, 401, AuthenticationError, False),
    (1003, 401, TokenExpiredError, False),
    (1004, 401, TokenExpiredError, False),
    (1100, 429, BillingError, False),
    (1101, 429, BillingError, False),
    (1102, 429, BillingError, False),
    (1103, 403, PermissionDeniedError, False),
    (1200, 400, EngineValidationError, False),
    (1201, 400, EngineValidationError, False),
    (1202, 404, NotFoundError, False),
    (1203, 404, NotFoundError, False),
    (1300, 400, ContentPolicyError, False),
    (1301, 400, ContentPolicyError, False),
    (1302, 429, RateLimitError, True),
    (1303, 429, ConcurrencyLimitError, True),
    (1304, 429, IpNotAllowedError, False),
    (5000, 500, ServerError, True),
    (5001, 503, ServerError, True),
    (5002, 504, ServerError, True),
]


def test_the_table_covers_every_known_code() -> None:
    assert sorted(code for code, *_ in CODE_TABLE) == sorted(KNOWN_CODES)


@pytest.mark.parametrize(("code", "http", "kind", "retryable"), CODE_TABLE)
def test_every_code(
    adapter: KlingAdapter, code: int, http: int, kind: type[EngineError], retryable: bool
) -> None:
    body = {"code": code, "message": "engine says no", "request_id": "r-9"}
    answer = Answer(http, body, headers={"retry-after": "12"})
    error = adapter.error_for(answer)
    assert type(error) is kind
    assert error.retryable is retryable
    assert (error.code, error.http_status, error.retry_after) == (str(code), http, 12.0)
    assert error.engine == "kling"
    assert "Kling text-to-audio" in error.message and "engine says no" in error.message
    assert error.raw == body
    # The code decides even when a gateway says 200.
    assert type(adapter.error_for(Answer(200, body))) is kind
    with pytest.raises(kind):
        adapter.parse_poll("text-to-audio", answer)


def test_token_problems_are_authentication_errors_the_caller_can_renew() -> None:
    error = KlingAdapter().error_for(Answer(401, {"code": 1004, "message": "token expired"}))
    assert isinstance(error, TokenExpiredError) and isinstance(error, AuthenticationError)
    assert "clock" in error.message or "time" in error.message


def test_ip_allow_list_says_so() -> None:
    error = KlingAdapter().error_for(Answer(429, {"code": 1304, "message": "ip"}))
    assert isinstance(error, PermissionDeniedError) and not error.retryable
    assert "allow-list" in error.message


def test_billing_429_is_not_retryable() -> None:
    error = KlingAdapter().error_for(Answer(429, {"code": 1102, "message": "pack used up"}))
    assert isinstance(error, BillingError) and not error.retryable


@pytest.mark.parametrize(
    ("code", "http", "kind"),
    [
        (9999, 401, AuthenticationError),
        (9999, 402, BillingError),
        (9999, 403, PermissionDeniedError),
        (9999, 404, NotFoundError),
        (9999, 400, EngineValidationError),
        (9999, 429, RateLimitError),
        (9999, 500, ServerError),
        (9999, 503, ServerError),
        (9999, 418, EngineError),
        (0, 502, ServerError),
        (None, 404, NotFoundError),
        ("1302", 429, RateLimitError),  # code as text
        (1302.0, 429, RateLimitError),
        (9999, 200, EngineError),  # an unknown refusal dressed as success
        (9999, 302, UnexpectedAnswerError),
    ],
)
def test_unknown_codes_fall_back_to_http_status(
    adapter: KlingAdapter, code: Any, http: int, kind: type[EngineError]
) -> None:
    error = adapter.error_for(Answer(http, {"code": code, "message": "m"}))
    assert type(error) is kind


@pytest.mark.parametrize("body", [{"code": 0, "data": {}}, {"data": {}}, {"code": "0"}])
def test_success_envelopes_are_not_errors(adapter: KlingAdapter, body: Any) -> None:
    assert adapter.error_for(Answer(200, body)) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_seconds(adapter: KlingAdapter, value: str, seconds: float | None) -> None:
    answer = Answer(429, {"code": 1302, "message": "slow"}, headers={"Retry-After": value})
    error = adapter.error_for(answer)
    assert error is not None and error.retry_after == seconds


def test_html_pages_are_unexpected_and_capped(adapter: KlingAdapter) -> None:
    page = "<html><body>" + "x" * 10_000 + "</body></html>"
    error = adapter.error_for(Answer(200, page, is_json=False))
    assert isinstance(error, UnexpectedAnswerError) and not error.retryable
    assert "Unexpected answer from Kling text-to-audio" in error.message
    assert isinstance(error.raw, str) and len(error.raw) <= 4096
    gateway = adapter.error_for(Answer(503, "<html>busy</html>", {"Retry-After": "30"}, False))
    assert isinstance(gateway, UnexpectedAnswerError)
    assert gateway.retryable and gateway.retry_after == 30.0 and gateway.http_status == 503
    assert not UnexpectedAnswerError.retryable  # the class default is untouched


@pytest.mark.parametrize(
    "body", [[1, 2], "text", 3, None, {"code": [1]}, {"code": "x"}, {"code": True}, {"code": 1.5}]
)
def test_wrong_types_are_unexpected(adapter: KlingAdapter, body: Any) -> None:
    with pytest.raises(UnexpectedAnswerError):
        adapter.parse_poll("text-to-audio", Answer(200, body))


def test_engine_messages_are_capped_and_redacted(adapter: KlingAdapter) -> None:
    leaked = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.sig " + "y" * 2000
    error = adapter.error_for(Answer(400, {"code": 1201, "message": leaked}))
    assert error is not None
    assert "eyJ" not in error.message and len(error.message) < 700


# --------------------------------------------------------------------------- lists


def test_list_and_find_by_client_key(adapter: KlingAdapter) -> None:
    tasks = [
        task("succeed", task_id="t-1", task_info={"external_task_id": "ck-1"}),
        task("processing", task_id="t-2", task_info={"external_task_id": "ck-2"}),
        task("submitted", task_id="t-3", task_info=None),
        task("submitted", task_id=None),  # no id: cannot be refreshed, dropped
        "junk",
    ]
    statuses = adapter.parse_list(ok(tasks))
    assert [s.remote_id for s in statuses] == ["t-1", "t-2", "t-3"]
    assert [s.state for s in statuses] == [
        RemoteState.SUCCEEDED,
        RemoteState.RUNNING,
        RemoteState.QUEUED,
    ]
    assert statuses[1].raw == tasks[1]  # each keeps its own task, not the whole page
    found = find_by_client_key(statuses, "ck-2")
    assert found is not None and found.remote_id == "t-2"
    assert isinstance(found, KlingStatus) and found.external_task_id == "ck-2"
    assert find_by_client_key(statuses, "ck-9") is None
    assert find_by_client_key(statuses, "") is None


def test_find_by_client_key_reads_raw_of_plain_statuses() -> None:
    plain = [
        RemoteStatus(RemoteState.UNKNOWN, remote_id="a", raw={"task_info": {}}),
        RemoteStatus(
            RemoteState.QUEUED, remote_id="b", raw={"task_info": {"external_task_id": "ck-b"}}
        ),
        RemoteStatus(
            RemoteState.QUEUED,
            remote_id="c",
            raw={"code": 0, "data": {"task_info": {"external_task_id": "ck-c"}}},
        ),
    ]
    assert find_by_client_key(plain, "ck-b") is plain[1]
    assert find_by_client_key(plain, "ck-c") is plain[2]


def test_empty_and_odd_lists(adapter: KlingAdapter) -> None:
    assert adapter.parse_list(ok([])) == []
    assert adapter.parse_list(ok(None)) == []
    with pytest.raises(UnexpectedAnswerError):
        adapter.parse_list(ok({"task_id": "t-1"}))
    with pytest.raises(RateLimitError):
        adapter.parse_list(Answer(429, {"code": 1302, "message": "slow"}))


# --------------------------------------------------------------------------- tolerance

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "code",
        "message",
        "data",
        "task_id",
        "task_status",
        "task_status_msg",
        "task_info",
        "external_task_id",
        "task_result",
        "audios",
        "url_mp3",
        "url_wav",
        "duration_mp3",
        "duration_wav",
        "final_unit_deduction",
        "id",
    ]
)
# Shapes close to Kling's, so the parsers' inner branches are reached too.
KLINGISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["succeed", "failed", "submitted", "processing", "5.0", "https://x/a"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=30,
)


@given(
    body=st.one_of(JSON, KLINGISH, st.fixed_dictionaries({"code": st.just(0), "data": KLINGISH})),
    status=st.sampled_from([200, 201, 400, 401, 404, 429, 500, 503, 302]),
    is_json=st.booleans(),
    retry_after=st.text(max_size=8),
)
def test_parsers_never_raise_anything_but_engine_errors(
    body: Any, status: int, is_json: bool, retry_after: str
) -> None:
    adapter = KlingAdapter()
    answer = Answer(status, body, headers={"Retry-After": retry_after}, is_json=is_json)
    error = adapter.error_for(answer)
    assert error is None or isinstance(error, EngineError)
    for parse in (
        lambda: adapter.parse_poll("text-to-audio", answer),
        lambda: adapter.parse_submit("text-to-audio", answer),
        lambda: adapter.parse_list(answer),
    ):
        try:
            result = parse()
        except EngineError:
            continue
        assert result is not None
    try:
        status_ = adapter.parse_poll("text-to-audio", answer)
    except EngineError:
        return
    assert isinstance(status_.state, RemoteState)


# --------------------------------------------------------------------------- auth


def bearer(headers: dict[str, str]) -> str:
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def test_key_pair_gives_a_jwt_and_beats_an_api_key(adapter: KlingAdapter) -> None:
    token = bearer(adapter.auth_headers({**PAIR, "api_key": "aggregator-key-1"}, NOW))
    claims = decode_hs256(token, PAIR["secret_key"], now=NOW)
    assert claims == {"iss": PAIR["access_key"], "exp": NOW + 1800, "nbf": NOW - 5}


def test_api_key_alone(adapter: KlingAdapter) -> None:
    assert adapter.auth_headers({"api_key": " aggregator-key-1 "}, NOW) == {
        "Authorization": "Bearer aggregator-key-1"
    }


def test_half_a_pair_falls_back_to_the_api_key(adapter: KlingAdapter) -> None:
    headers = adapter.auth_headers({"access_key": "AK", "api_key": "aggregator-key-1"}, NOW)
    assert bearer(headers) == "aggregator-key-1"


@pytest.mark.parametrize(
    ("credentials", "named"),
    [
        ({}, "AccessKey and SecretKey, or an API key"),
        ({"access_key": "AK", "secret_key": "  ", "api_key": ""}, "SecretKey is missing"),
        ({"secret_key": "SK"}, "AccessKey is missing"),
    ],
)
def test_missing_credentials(
    adapter: KlingAdapter, credentials: dict[str, str], named: str
) -> None:
    with pytest.raises(AuthenticationError) as caught:
        adapter.auth_headers(credentials, NOW)
    assert named in caught.value.message
    assert "Kling text-to-audio" in caught.value.message


def test_token_is_reused_then_renewed_after_expiry(adapter: KlingAdapter) -> None:
    first = bearer(adapter.auth_headers(PAIR, NOW))
    assert bearer(adapter.auth_headers(PAIR, NOW + 600)) == first
    later = bearer(adapter.auth_headers(PAIR, NOW + 1600))  # under 5 minutes left
    assert later != first
    assert decode_hs256(later, PAIR["secret_key"], now=NOW + 1600)["exp"] == NOW + 1600 + 1800
    # Another pair gets its own token, and the first pair's cache survives.
    other = bearer(adapter.auth_headers({"access_key": "AK-2", "secret_key": "SK-2"}, NOW + 1600))
    assert decode_hs256(other, "SK-2")["iss"] == "AK-2"
    assert bearer(adapter.auth_headers(PAIR, NOW + 1601)) == later


def test_invalidate_tokens_after_a_token_error(adapter: KlingAdapter) -> None:
    first = bearer(adapter.auth_headers(PAIR, NOW))
    error = adapter.error_for(Answer(401, {"code": 1004, "message": "expired"}))
    assert isinstance(error, TokenExpiredError)
    adapter.invalidate_tokens()
    renewed = bearer(adapter.auth_headers(PAIR, NOW + 1))
    assert renewed != first
    assert decode_hs256(renewed, PAIR["secret_key"], now=NOW + 1)["iss"] == PAIR["access_key"]
