"""Evolink Seed-Audio 1.0: spec, citations, request building, statuses, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.errors import (
    AuthenticationError,
    BillingError,
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
from studio.core.remote import RemoteState
from studio.engines.adapter import Answer
from studio.engines.evolink import (
    CLIENT_TASK_ERRORS,
    FORMATS,
    PRESET_VOICES,
    SAMPLE_RATES,
    SERVER_TASK_ERRORS,
    SPEC,
    EvolinkAdapter,
    citations,
    parse_task,
    task_error,
)

ADAPTER = EvolinkAdapter()
VOICE = "zh_female_vv_uranus_bigtts"
TASK = {
    "created": 1775200000,
    "id": "task-unified-1775200000-abcd1234",
    "model": "doubao-seed-audio-1-0",
    "object": "audio.generation.task",
    "progress": 0,
    "status": "pending",
    "task_info": {"can_cancel": True, "estimated_time": 15, "audio_type": "audio_generation"},
    "type": "audio",
    "usage": {"credits_reserved": 9.6},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["id", "status", "progress", "results", "error", "code", "message", "type", "usage"]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


def build(**params: Any) -> Any:
    return ADAPTER.build_submit("generations", params, client_key="ck-1")


def problems_of(**params: Any) -> list[tuple[str, str]]:
    with pytest.raises(RequestInvalidError) as caught:
        build(**params)
    return [(problem.field, problem.rule) for problem in caught.value.problems]


# --------------------------------------------------------------------------- spec


def test_spec_declares_create_and_detail() -> None:
    assert [op.id for op in SPEC.operations] == ["generations", "detail"]
    create = SPEC.operation("generations")
    assert create.mutually_exclusive == (("audio_references", "image_urls"),)
    assert create.field("model").required
    assert create.field("prompt").max_length == 1500
    assert create.field("audio_references").max_length == 3
    assert create.field("image_urls").max_length == 1
    assert create.field("format").choices == FORMATS == ("wav", "mp3", "pcm", "ogg_opus")
    assert create.field("format").default == "wav"
    assert create.field("sample_rate").choices == SAMPLE_RATES
    assert create.field("sample_rate").default == 24000
    assert create.field("callback_url").https_only
    assert create.field("callback_url").max_length == 2048
    detail = SPEC.operation("detail")
    assert (detail.method, detail.path, detail.paid) == ("GET", "/v1/tasks/{id}", False)


def test_preset_voices_only_name_documented_ids() -> None:
    assert (VOICE, PRESET_VOICES[0][1]) in PRESET_VOICES
    for voice_id, description in PRESET_VOICES:
        assert voice_id and description
        build(prompt="@audio1 hi", audio_references=[voice_id])


# --------------------------------------------------------------------------- building


def test_text_only_request() -> None:
    request = build(prompt="欢迎使用音频生成服务")
    assert (request.method, request.path) == ("POST", "/v1/audios/generations")
    assert request.json == {"model": "doubao-seed-audio-1-0", "prompt": "欢迎使用音频生成服务"}
    assert not request.idempotent


def test_full_request() -> None:
    request = build(
        prompt="@音频1 你好呀，@audio 2 今天过得怎么样？",
        audio_references=[VOICE, " https://example.com/ref.mp3 "],
        format="mp3",
        sample_rate=48000,
        speech_rate=1.2500000001,
        loudness_rate=0.85,
        pitch_rate=-12,
        callback_url="https://hooks.example/done",
    )
    assert request.json == {
        "model": "doubao-seed-audio-1-0",
        "prompt": "@音频1 你好呀，@audio 2 今天过得怎么样？",
        "audio_references": [VOICE, "https://example.com/ref.mp3"],
        "format": "mp3",
        "sample_rate": 48000,
        "speech_rate": 1.25,
        "loudness_rate": 0.85,
        "pitch_rate": -12,
        "callback_url": "https://hooks.example/done",
    }


def test_image_request() -> None:
    request = build(prompt="旁白", image_urls=["https://example.com/scene.jpg"])
    assert request.json["image_urls"] == ["https://example.com/scene.jpg"]


def test_detail_and_poll_requests_quote_the_id() -> None:
    request = ADAPTER.build_submit("detail", {"id": "task-unified-1"}, client_key="k")
    assert (request.method, request.path, request.json) == ("GET", "/v1/tasks/task-unified-1", None)
    assert ADAPTER.build_poll("generations", "a/../b?c").path == "/v1/tasks/a%2F..%2Fb%3Fc"
    assert ADAPTER.build_poll("generations", "x").idempotent


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({}, "prompt", "is required"),
        ({"prompt": "x" * 1501}, "prompt", "at most 1500 characters"),
        ({"prompt": "x", "model": "other"}, "model", "doubao-seed-audio-1-0"),
        ({"prompt": "x", "format": "flac"}, "format", "wav, mp3, pcm, ogg_opus"),
        ({"prompt": "x", "sample_rate": 22050}, "sample_rate", "must be one of"),
        ({"prompt": "x", "sample_rate": "24000"}, "sample_rate", "must be one of"),
        ({"prompt": "x", "pitch_rate": 1.5}, "pitch_rate", "whole number"),
        ({"prompt": "x", "speech_rate": 1.255}, "speech_rate", "steps of 0.01"),
        ({"prompt": "x", "callback_url": "http://hooks.example/x"}, "callback_url", "https://"),
        (
            {"prompt": "x", "callback_url": "https://h.example/" + "a" * 2048},
            "callback_url",
            "at most 2048",
        ),
        (
            {"prompt": "x", "audio_references": ["a", "b", "c", "d"]},
            "audio_references",
            "at most 3",
        ),
        ({"prompt": "x", "image_urls": ["https://a/1.png", "https://a/2.png"]}, "image_urls", "1"),
        ({"prompt": "x", "image_urls": ["/tmp/a.png"]}, "image_urls", "http(s)://"),
        ({"prompt": "x", "audio_references": ["ftp://x/a.wav"]}, "audio_references", "http(s)"),
        ({"prompt": "x", "audio_references": ["my voice"]}, "audio_references", "voice id"),
        (
            {"prompt": "x", "audio_references": [VOICE], "image_urls": ["https://a/b.png"]},
            "audio_references and image_urls",
            "only one of them",
        ),
    ],
)
def test_field_rules(params: dict[str, Any], field: str, words: str) -> None:
    problems = problems_of(**params)
    assert any(f == field and words in rule for f, rule in problems), problems


@given(
    name=st.sampled_from(["speech_rate", "loudness_rate"]),
    hundredths=st.integers(min_value=50, max_value=200),
)
def test_rates_on_the_grid_are_accepted(name: str, hundredths: int) -> None:
    value = hundredths / 100
    assert build(prompt="x", **{name: value}).json[name] == round(value, 2)


@given(
    name=st.sampled_from(["speech_rate", "loudness_rate"]),
    value=st.floats(allow_nan=False).filter(lambda x: x < 0.5 or x > 2.0),
)
def test_rates_out_of_range_are_rejected_naming_the_field(name: str, value: float) -> None:
    [(field, rule)] = problems_of(prompt="x", **{name: value})
    assert field == name
    # Infinities are refused as "not finite" by the framework before the range check.
    assert ("0.5" in rule and "2" in rule) or "finite" in rule


@given(
    name=st.sampled_from(["speech_rate", "loudness_rate"]),
    value=st.floats(min_value=0.5, max_value=2.0).filter(
        lambda x: abs(x * 100 - round(x * 100)) > 1e-3
    ),
)
def test_rates_off_the_grid_are_rejected(name: str, value: float) -> None:
    [(field, rule)] = problems_of(prompt="x", **{name: value})
    assert field == name
    assert "steps of 0.01" in rule


@given(st.integers(min_value=-12, max_value=12))
def test_pitch_in_range_is_accepted(pitch: int) -> None:
    assert build(prompt="x", pitch_rate=pitch).json["pitch_rate"] == pitch


@given(st.integers().filter(lambda n: not -12 <= n <= 12))
def test_pitch_out_of_range_is_rejected(pitch: int) -> None:
    [(field, rule)] = problems_of(prompt="x", pitch_rate=pitch)
    assert field == "pitch_rate"
    assert "-12" in rule


@given(st.sampled_from(SAMPLE_RATES))
def test_each_sample_rate_is_accepted(rate: int) -> None:
    assert build(prompt="x", sample_rate=rate).json["sample_rate"] == rate


@given(st.integers().filter(lambda n: n not in SAMPLE_RATES))
def test_other_sample_rates_are_rejected(rate: int) -> None:
    assert [f for f, _ in problems_of(prompt="x", sample_rate=rate)] == ["sample_rate"]


@given(st.text(max_size=1500).filter(str.strip))
def test_prompts_up_to_1500_characters_without_citations_pass(prompt: str) -> None:
    if citations(prompt):
        return
    assert build(prompt=prompt).json["prompt"] == prompt


def test_cli_parsing_of_lists_and_numbers() -> None:
    create = SPEC.operation("generations")
    assert create.parse_param("audio_references", f"{VOICE}, https://x/a.wav") == [
        VOICE,
        "https://x/a.wav",
    ]
    assert create.parse_param("sample_rate", "44100") == 44100
    assert create.parse_param("speech_rate", "1.1") == 1.1


# --------------------------------------------------------------------------- citations


@pytest.mark.parametrize(
    ("prompt", "numbers"),
    [
        ("@audio1 hi", [1]),
        ("@audio 2 hi @Audio3", [2, 3]),
        ("@音频1 你好，@音频 2", [1, 2]),
        ("@音频\u30003", [3]),
        ("@audio  1", []),  # two spaces: not a citation
        ("email me@audio.com", []),
        ("@audio12", [12]),
    ],
)
def test_citations_are_found(prompt: str, numbers: list[int]) -> None:
    assert citations(prompt) == numbers


@pytest.mark.parametrize("count", [1, 2, 3])
def test_citations_within_the_references_pass(count: int) -> None:
    refs = [VOICE, "https://x/a.wav", "https://x/b.mp3"][:count]
    prompt = " ".join(f"@audio {n} line" for n in range(1, count + 1))
    assert build(prompt=prompt, audio_references=refs).json["audio_references"] == refs


@pytest.mark.parametrize(
    ("prompt", "refs", "cited"),
    [
        ("@audio1 hi", [], 1),
        ("@音频2 你好", [VOICE], 2),
        ("@audio 3", [VOICE, "https://x/a.wav"], 3),
        ("@audio4", [VOICE, "https://x/a.wav", "https://x/b.wav"], 4),
        ("@audio0 hi", [VOICE], 0),
    ],
)
def test_citation_of_a_missing_reference_is_rejected(
    prompt: str, refs: list[str], cited: int
) -> None:
    [(field, rule)] = problems_of(prompt=prompt, audio_references=refs)
    assert field == "prompt"
    assert f"@audio {cited}" in rule
    assert "@音频N" in rule and "existing reference" in rule


def test_citation_with_an_image_is_rejected() -> None:
    [(field, rule)] = problems_of(prompt="@audio1 hi", image_urls=["https://x/a.png"])
    assert field == "prompt"
    assert "no audio_references" in rule


@given(count=st.integers(0, 3), cited=st.integers(0, 9), space=st.sampled_from(["", " "]))
def test_citation_rule_matches_the_count(count: int, cited: int, space: str) -> None:
    refs = [f"voice_{i}" for i in range(count)]
    params: dict[str, Any] = {"prompt": f"@audio{space}{cited} hello"}
    if refs:
        params["audio_references"] = refs
    if 1 <= cited <= count:
        build(**params)
    else:
        assert [f for f, _ in problems_of(**params)] == ["prompt"]


# --------------------------------------------------------------------------- auth


def test_bearer_auth() -> None:
    assert ADAPTER.auth_headers({"api_key": "ek-1"}, 0) == {"Authorization": "Bearer ek-1"}
    for credentials in ({}, {"api_key": " "}, {"api_key": "a\r\nX: y"}):
        with pytest.raises(AuthenticationError):
            ADAPTER.auth_headers(credentials, 0)


# --------------------------------------------------------------------------- submit & poll


def test_submit_answer_is_a_task() -> None:
    result = ADAPTER.parse_submit("generations", Answer(200, TASK))
    assert result.remote_id == TASK["id"]
    assert result.status is not None
    assert result.status.state is RemoteState.QUEUED
    assert result.status.progress == 0.0
    assert result.status.cost == "9.6"
    assert result.status.raw == TASK


@pytest.mark.parametrize("body", [{}, {"status": "pending"}, {"id": ""}, [], "ok"])
def test_submit_without_an_id_is_unexpected(body: Any) -> None:
    with pytest.raises(UnexpectedAnswerError):
        ADAPTER.parse_submit("generations", Answer(200, body))


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("pending", RemoteState.QUEUED),
        ("processing", RemoteState.RUNNING),
        ("completed", RemoteState.SUCCEEDED),
        ("failed", RemoteState.FAILED),
        ("cancelled", RemoteState.FAILED),
        ("Processing", RemoteState.RUNNING),
        ("paused", RemoteState.UNKNOWN),
        ("", RemoteState.UNKNOWN),
        (None, RemoteState.UNKNOWN),
        (7, RemoteState.UNKNOWN),
    ],
)
def test_every_status_value_maps(word: Any, state: RemoteState) -> None:
    status = ADAPTER.parse_poll("generations", Answer(200, {**TASK, "status": word}))
    assert status.state is state
    assert status.remote_id == TASK["id"]


@pytest.mark.parametrize(
    ("progress", "expected"),
    [(0, 0.0), (45, 0.45), (100, 1.0), (150, 1.0), (-5, 0.0), (None, None), ("50", None)],
)
def test_progress_is_scaled(progress: Any, expected: float | None) -> None:
    body = {**TASK, "status": "processing", "progress": progress}
    assert ADAPTER.parse_poll("generations", Answer(200, body)).progress == expected


@pytest.mark.parametrize(
    ("usage", "cost"),
    [
        ({"credits_reserved": 9.6}, "9.6"),
        ({"credits_reserved": 9.6, "credits_used": 4.8}, "4.8"),
        ({"credits_reserved": 12}, "12"),
        ({}, None),
        (None, None),
        ({"credits_reserved": True}, None),
    ],
)
def test_cost(usage: Any, cost: str | None) -> None:
    assert parse_task({**TASK, "usage": usage}).cost == cost


def test_completed_results() -> None:
    body = {
        **TASK,
        "status": "completed",
        "progress": 100,
        "results": ["https://files.evolink.example/out/abc.mp3?Expires=1"],
    }
    status = ADAPTER.parse_poll("generations", Answer(200, body))
    assert status.state is RemoteState.SUCCEEDED
    assert status.progress == 1.0
    [take] = status.outputs
    assert take.audio_urls == {"mp3": "https://files.evolink.example/out/abc.mp3?Expires=1"}


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("https://x/a.wav", "wav"),
        ("https://x/a.pcm", "pcm"),
        ("https://x/a.ogg", "ogg"),
        ("https://x/a.opus", "ogg"),
        ("https://x/a", "wav"),
        ("https://x/a.bin?f=.mp3", "wav"),
    ],
)
def test_result_format_is_guessed_from_the_link(url: str, fmt: str) -> None:
    [take] = parse_task({**TASK, "status": "completed", "results": [url]}).outputs
    assert take.audio_urls == {fmt: url}


def test_several_results() -> None:
    results = ["https://x/a.wav", "https://x/a.mp3", "https://x/b.wav", 5, {"url": "https://x/c"}]
    takes = parse_task({**TASK, "status": "completed", "results": results}).outputs
    assert [take.audio_urls for take in takes] == [
        {"wav": "https://x/a.wav", "mp3": "https://x/a.mp3"},
        {"wav": "https://x/b.wav"},
        {"wav": "https://x/c"},
    ]


@pytest.mark.parametrize("results", [None, [], ["not a url"], "https://x/a.wav", {}])
def test_completed_results_read_tolerantly(results: Any) -> None:
    status = parse_task({**TASK, "status": "completed", "results": results})
    assert status.state is RemoteState.SUCCEEDED
    if status.outputs:
        assert status.outputs[0].audio_urls == {"wav": "https://x/a.wav"}
    else:
        assert status.engine_message


# --------------------------------------------------------------------------- task errors


def failed(code: Any, message: Any = "details") -> Any:
    body = {**TASK, "status": "failed", "error": {"code": code, "message": message}}
    return ADAPTER.parse_poll("generations", Answer(200, body))


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("content_policy_violation", ContentPolicyError),
        ("invalid_parameters", EngineValidationError),
        ("image_processing_error", EngineValidationError),
        ("image_dimension_mismatch", EngineValidationError),
    ],
)
def test_client_task_errors(code: str, cls: type[EngineError]) -> None:
    status = failed(code, "Your request was blocked")
    assert status.state is RemoteState.FAILED
    assert status.error_code == code
    assert status.engine_message == "Your request was blocked"
    error = task_error(status)
    assert type(error) is cls
    assert error is not None and not error.retryable
    assert error.code == code


def test_cancelled_task() -> None:
    status = failed("request_cancelled", None)
    assert status.state is RemoteState.FAILED
    assert status.error_code == "request_cancelled"
    assert status.engine_message == "The job was cancelled."
    error = task_error(status)
    assert error is not None and not error.retryable
    bare = parse_task({**TASK, "status": "cancelled"})
    assert bare.error_code == "request_cancelled"


@pytest.mark.parametrize("code", sorted(SERVER_TASK_ERRORS))
def test_server_task_errors_are_retryable_later(code: str) -> None:
    status = failed(code, "Upstream failed")
    assert status.state is RemoteState.FAILED
    assert status.error_code == code
    assert status.engine_message is not None
    assert status.engine_message.startswith("Upstream failed")
    assert "later" in status.engine_message
    error = task_error(status)
    assert isinstance(error, ServerError) and error.retryable


def test_every_documented_task_code_is_classified() -> None:
    documented = {
        "content_policy_violation",
        "invalid_parameters",
        "request_cancelled",
        "generation_failed_no_content",
        "service_error",
        "generation_timeout",
        "resource_exhausted",
        "quota_exceeded",
        "service_unavailable",
        "resource_not_found",
        "unknown_error",
    }
    assert documented <= set(CLIENT_TASK_ERRORS) | SERVER_TASK_ERRORS
    assert not set(CLIENT_TASK_ERRORS) & SERVER_TASK_ERRORS


@pytest.mark.parametrize("error", [None, "boom", {}, {"code": 5}, []])
def test_failure_shapes_read_tolerantly(error: Any) -> None:
    status = parse_task({**TASK, "status": "failed", "error": error})
    assert status.state is RemoteState.FAILED
    assert status.engine_message
    assert task_error(status) is not None
    assert task_error(parse_task(TASK)) is None


def test_failure_message_hides_signed_queries() -> None:
    status = failed("invalid_parameters", "cannot read https://b.example/r.wav?Signature=SECRET")
    assert "SECRET" not in (status.engine_message or "")


# --------------------------------------------------------------------------- HTTP errors


@pytest.mark.parametrize(
    ("status", "code", "kind", "cls"),
    [
        (400, "missing_text", "invalid_request_error", EngineValidationError),
        (401, "unauthorized", "authentication_error", AuthenticationError),
        (402, "insufficient_quota", "insufficient_quota", BillingError),
        (403, "model_access_denied", "invalid_request_error", PermissionDeniedError),
        (404, "task_not_found", "not_found_error", NotFoundError),
        (429, "rate_limit_exceeded", "rate_limit_error", RateLimitError),
        (500, "internal_error", "api_error", ServerError),
        (502, "upstream", "upstream_error", ServerError),
        (503, None, "service_unavailable_error", ServerError),
        (400, "content_policy_violation", "invalid_request_error", ContentPolicyError),
        (413, None, "request_too_large_error", EngineValidationError),
        (418, None, "rate_limit_error", RateLimitError),
        (418, None, None, UnexpectedAnswerError),
    ],
)
def test_http_errors(
    status: int, code: str | None, kind: str | None, cls: type[EngineError]
) -> None:
    body = {"error": {"code": code, "message": "explained", "type": kind}}
    for parse in (ADAPTER.parse_submit, ADAPTER.parse_poll):
        with pytest.raises(cls) as caught:
            parse("generations", Answer(status, body, headers={"Retry-After": "3"}))
        error = caught.value
        assert type(error) is cls
        assert (error.http_status, error.code, error.detail) == (status, code, "explained")
        assert error.retry_after == 3.0
        assert error.raw == body
        assert "Evolink Seed-Audio 1.0" in error.message


def test_numeric_error_code_and_other_shapes() -> None:
    error = ADAPTER.error_for(Answer(400, {"error": {"code": 400, "message": "bad"}}))
    assert isinstance(error, EngineValidationError) and error.code == "400"
    flat = ADAPTER.error_for(Answer(402, {"message": "top up"}))
    assert isinstance(flat, BillingError) and flat.detail == "top up"
    text = ADAPTER.error_for(Answer(401, {"error": "Unauthorized"}))
    assert isinstance(text, AuthenticationError) and text.detail == "Unauthorized"
    html = ADAPTER.error_for(Answer(504, "<html>timeout</html>", is_json=False))
    assert isinstance(html, ServerError) and html.detail == "HTTP 504, not JSON"
    assert isinstance(
        ADAPTER.error_for(Answer(200, "<html>", is_json=False)), UnexpectedAnswerError
    )
    assert ADAPTER.error_for(Answer(200, TASK)) is None


@pytest.mark.parametrize("body", [[], "x", None, 3])
def test_poll_of_non_object_is_unexpected(body: Any) -> None:
    with pytest.raises(UnexpectedAnswerError):
        ADAPTER.parse_poll("generations", Answer(200, body))


# --------------------------------------------------------------------------- tolerance


@settings(max_examples=300)
@given(
    op=st.sampled_from(["generations", "detail", "nope"]),
    status=st.sampled_from([200, 201, 400, 401, 402, 403, 404, 429, 500, 503, 302, 418]),
    body=json_values,
    is_json=st.booleans(),
    headers=st.dictionaries(st.sampled_from(["Retry-After", "retry-after", "x"]), st.text()),
)
def test_arbitrary_answers_never_raise_anything_but_engine_errors(
    op: str, status: int, body: Any, is_json: bool, headers: dict[str, str]
) -> None:
    answer = Answer(status, body, headers=headers, is_json=is_json)
    for parse in (ADAPTER.parse_poll, ADAPTER.parse_submit):
        try:
            result = parse(op, answer)
        except EngineError:
            continue
        assert result is not None
    if isinstance(body, dict):
        status_read = parse_task(body)
        task_error(status_read)
        if status_read.progress is not None:
            assert 0.0 <= status_read.progress <= 1.0
