"""Mountsea Producer: spec, request building, status mapping, tolerant parsing, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.errors import (
    AuthenticationError,
    BillingError,
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
from studio.engines.mountsea import (
    SPEC,
    UPLOAD_EXTENSIONS,
    MountseaAdapter,
    outputs_for,
)

ADAPTER = MountseaAdapter()
OPERATIONS = ("audios", "upload", "stems", "download", "download-video", "tasks")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
# Keys the parsers look for, so arbitrary JSON reaches the interesting branches.
known_keys = st.sampled_from(
    [
        "taskId",
        "status",
        "result",
        "errorMessage",
        "errorCode",
        "traceId",
        "audioId",
        "audioUrl",
        "id",
        "url",
        "format",
        "videoUrl",
        "stems",
        "data",
        "message",
        "error",
        "duration",
        "isFlagged",
        "vocals",
    ]
)
shaped_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["completed", "failed", "https://cdn.example/a.wav", "pending"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(known_keys, children, max_size=6)
    ),
    max_leaves=25,
)


def build(operation: str, **params: Any) -> Any:
    return ADAPTER.build_submit(operation, params, client_key="ck-1")


def problems_of(operation: str, **params: Any) -> list[tuple[str, str]]:
    with pytest.raises(RequestInvalidError) as caught:
        build(operation, **params)
    return [(problem.field, problem.rule) for problem in caught.value.problems]


def poll(operation: str, body: Any, status: int = 200, **kw: Any) -> Any:
    return ADAPTER.parse_poll(operation, Answer(status, body, **kw))


# --------------------------------------------------------------------------- spec


def test_spec_declares_every_operation() -> None:
    assert [op.id for op in SPEC.operations] == list(OPERATIONS)
    assert SPEC.info.id == "mountsea"
    assert SPEC.operation("upload").paid is False
    assert SPEC.operation("tasks").paid is False
    for op_id in ("stems", "download", "download-video"):
        op = SPEC.operation(op_id)
        assert op.parent_field == "audioId"
        assert op.field("audioId").required
    assert not SPEC.operation("audios").needs_parent
    assert SPEC.operation("download").field("format").default == "m4a"
    assert SPEC.operation("download").field("format").choices == ("mp3", "m4a", "wav")
    assert SPEC.operation("download-video").field("preset").default == "modern"
    model = SPEC.operation("audios").field("model")
    assert model.choices == ("Lyria 3 Pro",)
    assert model.default == "Lyria 3 Pro"


# --------------------------------------------------------------------------- building


def test_audios_request_carries_action_and_model() -> None:
    request = build(
        "audios",
        soundPrompt="dreamy synth-pop",
        lyrics="[Verse]\nla la",
        title="Night Drive",
        seed=42,
        makeInstrumental=False,
        imageUrl="https://img.example/cover.jpg",
    )
    assert request.method == "POST"
    assert request.path == "/producer/audios"
    assert request.json == {
        "action": "create_music",
        "model": "Lyria 3 Pro",
        "soundPrompt": "dreamy synth-pop",
        "lyrics": "[Verse]\nla la",
        "title": "Night Drive",
        "seed": 42,
        "makeInstrumental": False,
        "imageUrl": "https://img.example/cover.jpg",
    }
    assert not request.idempotent


def test_audios_lyrics_alone_is_enough() -> None:
    request = build("audios", lyrics="hello")
    assert request.json == {"action": "create_music", "model": "Lyria 3 Pro", "lyrics": "hello"}


def test_audios_needs_prompt_or_lyrics() -> None:
    problems = problems_of("audios", title="x")
    assert problems == [("soundPrompt or lyrics", "give at least one of them")]
    assert problems_of("audios", soundPrompt="   ", lyrics="")[0][0] == "soundPrompt or lyrics"


def test_audios_rejects_other_models() -> None:
    [(field, rule)] = problems_of("audios", soundPrompt="x", model="FUZZ-2.0")
    assert field == "model"
    assert "Lyria 3 Pro" in rule


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"title": "t" * 81}, "title", "at most 80 characters"),
        ({"seed": 1.5}, "seed", "whole number"),
        ({"seed": "12"}, "seed", "whole number"),
        ({"seed": True}, "seed", "whole number"),
        ({"makeInstrumental": "yes"}, "makeInstrumental", "true or false"),
        ({"imageUrl": "ftp://x/y.png"}, "imageUrl", "http(s)"),
        ({"imageUrl": "not a url"}, "imageUrl", "http(s)"),
        ({"action": "extend"}, "action", "not a field"),
    ],
)
def test_audios_field_rules(params: dict[str, Any], field: str, words: str) -> None:
    problems = problems_of("audios", soundPrompt="x", **params)
    assert any(f == field and words in rule for f, rule in problems), problems


@given(st.text(min_size=1, max_size=80).filter(str.strip))
def test_title_up_to_80_characters_is_accepted(title: str) -> None:
    # One-line fields are sent stripped, like a form would.
    assert build("audios", soundPrompt="x", title=title).json["title"] == title.strip()


@given(st.text(min_size=81, max_size=200).filter(lambda t: len(t.strip()) > 80))
def test_title_over_80_characters_is_rejected_naming_title(title: str) -> None:
    assert [f for f, _ in problems_of("audios", soundPrompt="x", title=title)] == ["title"]


@given(st.integers())
def test_any_whole_seed_is_accepted(seed: int) -> None:
    assert build("audios", soundPrompt="x", seed=seed).json["seed"] == seed


@given(st.floats().filter(lambda x: not float(x).is_integer()))
def test_fractional_seed_is_rejected_naming_seed(seed: float) -> None:
    [(field, _)] = problems_of("audios", soundPrompt="x", seed=seed)
    assert field == "seed"


@pytest.mark.parametrize("extension", UPLOAD_EXTENSIONS)
def test_upload_accepts_each_audio_type(extension: str) -> None:
    url = f"https://files.example/take{extension.upper()}?X-Amz-Signature=abc"
    request = build("upload", audioUrl=f"  {url} ")
    assert request.path == "/producer/upload"
    assert request.json == {"audioUrl": url}


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://files.example/take.mp4", "ending in one of .mp3"),
        ("https://files.example/take", "ending in one of"),
        ("https://files.example/take.txt?name=a.mp3", "ending in one of"),
        ("file:///home/me/take.mp3", "http(s)"),
        ("take.mp3", "http(s)"),
    ],
)
def test_upload_rejects_other_links(url: str, words: str) -> None:
    [(field, rule)] = problems_of("upload", audioUrl=url)
    assert field == "audioUrl"
    assert words in rule


def test_upload_needs_a_url() -> None:
    assert problems_of("upload") == [("audioUrl", "is required")]


def test_stems_request() -> None:
    request = build("stems", audioId="aud_1")
    assert (request.method, request.path, request.json) == (
        "POST",
        "/producer/stems",
        {"audioId": "aud_1"},
    )
    assert problems_of("stems") == [("audioId", "is required")]


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "wav", None])
def test_download_request(fmt: str | None) -> None:
    params: dict[str, Any] = {"audioId": "aud_1"}
    if fmt:
        params["format"] = fmt
    request = ADAPTER.build_submit("download", params, client_key="k")
    assert request.path == "/producer/download"
    assert request.json == params


def test_download_rejects_unknown_format() -> None:
    [(field, rule)] = problems_of("download", audioId="a", format="flac")
    assert field == "format"
    assert "mp3, m4a, wav" in rule


@pytest.mark.parametrize("preset", ["modern", "player", "simple"])
def test_download_video_request(preset: str) -> None:
    request = build("download-video", audioId="a", preset=preset)
    assert request.path == "/producer/download-video"
    assert request.json == {"audioId": "a", "preset": preset}
    [(field, _)] = problems_of("download-video", audioId="a", preset="retro")
    assert field == "preset"


def test_poll_and_tasks_requests() -> None:
    for op in OPERATIONS:
        request = ADAPTER.build_poll(op, "task 1&x")
        assert request.method == "GET"
        assert request.path == "/producer/tasks"
        assert request.query == {"taskId": "task 1&x"}
        assert request.idempotent
    request = build("tasks", taskId="t-9")
    assert (request.method, request.path, request.query, request.json) == (
        "GET",
        "/producer/tasks",
        {"taskId": "t-9"},
        None,
    )


def test_parse_param_for_cli() -> None:
    audios = SPEC.operation("audios")
    assert audios.parse_param("seed", "17") == 17
    assert audios.parse_param("makeInstrumental", "yes") is True
    assert SPEC.operation("download").parse_param("format", "wav") == "wav"


# --------------------------------------------------------------------------- auth


def test_bearer_auth() -> None:
    assert ADAPTER.auth_headers({"api_key": " sk-1 "}, 0) == {"Authorization": "Bearer sk-1"}


@pytest.mark.parametrize("credentials", [{}, {"api_key": ""}, {"api_key": "a\nb"}])
def test_auth_without_usable_key(credentials: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError) as caught:
        ADAPTER.auth_headers(credentials, 0)
    assert "a\nb" not in caught.value.message
    assert caught.value.engine == "mountsea"


# --------------------------------------------------------------------------- submit


@pytest.mark.parametrize("status", [200, 201])
@pytest.mark.parametrize("op", ["audios", "upload", "stems", "download", "download-video"])
def test_submit_answers_task_id(status: int, op: str) -> None:
    result = ADAPTER.parse_submit(op, Answer(status, {"taskId": "t-1"}))
    assert result.remote_id == "t-1"
    assert result.status is None


@pytest.mark.parametrize("body", [{"taskId": 123}, {"data": {"taskId": "123"}}, {"task_id": "123"}])
def test_submit_tolerates_id_variants(body: dict[str, Any]) -> None:
    assert ADAPTER.parse_submit("audios", Answer(200, body)).remote_id == "123"


@pytest.mark.parametrize("body", [{}, {"taskId": None}, [], "ok", {"taskId": ""}])
def test_submit_without_task_id_is_unexpected(body: Any) -> None:
    with pytest.raises(UnexpectedAnswerError):
        ADAPTER.parse_submit("audios", Answer(201, body))


def test_tasks_operation_answers_status_at_once() -> None:
    body = {"taskId": "t", "status": "completed", "result": {"url": "https://x/a.wav"}}
    result = ADAPTER.parse_submit("tasks", Answer(200, body))
    assert result.remote_id == "t"
    assert result.status is not None
    assert result.status.state is RemoteState.SUCCEEDED
    assert result.status.outputs[0].download_url or result.status.outputs[0].audio_urls


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("pending", RemoteState.QUEUED),
        ("ready", RemoteState.QUEUED),
        ("assigned", RemoteState.RUNNING),
        ("processing", RemoteState.RUNNING),
        ("completed", RemoteState.SUCCEEDED),
        ("failed", RemoteState.FAILED),
        ("timeout", RemoteState.FAILED),
        ("cancelled", RemoteState.FAILED),
        ("PROCESSING", RemoteState.RUNNING),
        ("paused", RemoteState.UNKNOWN),
        ("", RemoteState.UNKNOWN),
        (None, RemoteState.UNKNOWN),
        (3, RemoteState.UNKNOWN),
    ],
)
def test_every_status_value_maps(word: Any, state: RemoteState) -> None:
    body = {"taskId": "t-1", "status": word, "result": None}
    status = poll("audios", body)
    assert status.state is state
    assert status.remote_id == "t-1"
    assert status.raw == body
    assert status.engine_status == (word if isinstance(word, str) else None)


def test_missing_status_is_unknown() -> None:
    assert poll("stems", {"taskId": "t"}).state is RemoteState.UNKNOWN


def test_failure_keeps_message_code_and_trace() -> None:
    body = {
        "taskId": "t",
        "status": "failed",
        "errorMessage": "Audio rejected by moderation",
        "errorCode": 40012,
        "traceId": "tr-abc",
    }
    status = poll("audios", body)
    assert status.state is RemoteState.FAILED
    assert status.engine_message == "Audio rejected by moderation"
    assert status.error_code == "40012"
    assert status.raw["traceId"] == "tr-abc"


@pytest.mark.parametrize("word", ["failed", "timeout", "cancelled"])
def test_failure_without_message_still_says_something(word: str) -> None:
    status = poll("download", {"taskId": "t", "status": word, "errorCode": None})
    assert status.engine_message
    assert status.error_code is None


# --------------------------------------------------------------------------- results


def done(op: str, result: Any) -> Any:
    return poll(op, {"taskId": "t", "status": "completed", "result": result})


def test_audios_result() -> None:
    status = done(
        "audios",
        {
            "audioId": "aud_1",
            "audioUrl": "https://cdn.example/aud_1.wav?sig=1",
            "duration": 182.5,
            "title": "Night Drive",
        },
    )
    [take] = status.outputs
    assert status.progress == 1.0
    assert take.remote_id == "aud_1"
    assert take.audio_urls == {"wav": "https://cdn.example/aud_1.wav?sig=1"}
    assert take.duration_s == 182.5
    assert take.title == "Night Drive"


def test_audios_result_older_spelling_and_lists() -> None:
    [take] = done("audios", {"id": "a", "url": "https://cdn.example/x", "duration": "30"}).outputs
    assert take.remote_id == "a"
    assert take.audio_urls == {"mp3": "https://cdn.example/x"}
    assert take.duration_s == 30.0
    listed = done(
        "audios",
        [
            {"audioId": "a", "audioUrl": "https://c/a.mp3"},
            {"audioId": "b", "audioUrl": "https://c/b.m4a", "imageUrl": "https://c/b.jpg"},
            "junk",
        ],
    ).outputs
    assert [take.remote_id for take in listed] == ["a", "b"]
    assert listed[1].audio_urls == {"m4a": "https://c/b.m4a"}
    assert listed[1].image_url == "https://c/b.jpg"
    wrapped = done("audios", {"audios": [{"audioId": "c", "audioUrl": "https://c/c.mp3"}]})
    assert [take.remote_id for take in wrapped.outputs] == ["c"]


def test_upload_result() -> None:
    status = done(
        "upload",
        {
            "id": "aud_up",
            "url": "https://cdn.example/up.mp3",
            "lyrics": "hello world",
            "isFlagged": False,
            "transcriptionJobId": "tj-1",
        },
    )
    [take] = status.outputs
    assert take.remote_id == "aud_up"
    assert take.lyrics == "hello world"
    assert take.audio_urls == {"mp3": "https://cdn.example/up.mp3"}
    assert status.engine_message is None
    flagged = done("upload", {"id": "x", "isFlagged": True})
    assert flagged.engine_message == "Mountsea flagged the uploaded audio."


def test_stems_result_takes_every_url_valued_key() -> None:
    result = {
        "vocals": "https://cdn.example/v.wav",
        "drums": "https://cdn.example/d.wav",
        "bass": "https://cdn.example/b.wav",
        "other": "https://cdn.example/o.wav",
        "piano": "https://cdn.example/p.wav",
        "note": "not a url",
        "count": 5,
    }
    [take] = done("stems", result).outputs
    assert take.stems == {k: v for k, v in result.items() if isinstance(v, str) and "://" in v}
    [nested] = done("stems", {"stems": [{"name": "vocals", "url": "https://c/v.wav"}]}).outputs
    assert nested.stems == {"vocals": "https://c/v.wav"}


def test_download_result() -> None:
    [take] = done("download", {"url": "https://cdn.example/song.wav?t=1", "format": "WAV"}).outputs
    assert take.download_url == "https://cdn.example/song.wav?t=1"
    assert take.download_format == "wav"
    [guessed] = done("download", {"url": "https://cdn.example/song.m4a"}).outputs
    assert guessed.download_format == "m4a"


def test_download_video_result() -> None:
    [take] = done("download-video", {"preset": "modern", "videoUrl": "https://c/v.mp4"}).outputs
    assert take.video_url == "https://c/v.mp4"
    assert take.raw["preset"] == "modern"


@pytest.mark.parametrize("op", ["audios", "upload", "stems", "download", "download-video"])
@pytest.mark.parametrize("result", [None, {}, [], "https://x/y.mp3", 5, {"url": 3}])
def test_completed_without_readable_result_says_so(op: str, result: Any) -> None:
    status = done(op, result)
    assert status.state is RemoteState.SUCCEEDED
    assert status.outputs == []
    assert status.engine_message


def test_unknown_operation_guesses_from_shape() -> None:
    assert outputs_for("tasks", {"videoUrl": "https://c/v.mp4"})[0].video_url
    assert outputs_for("tasks", {"url": "https://c/a.wav", "format": "wav"})[0].download_url
    assert outputs_for("tasks", {"id": "u", "isFlagged": False})[0].remote_id == "u"
    assert outputs_for("tasks", {"audioId": "a", "audioUrl": "https://c/a.mp3"})[0].audio_urls
    assert outputs_for("tasks", {"vocals": "https://c/v.wav"})[0].stems == {
        "vocals": "https://c/v.wav"
    }


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, EngineValidationError),
        (401, AuthenticationError),
        (402, BillingError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, EngineValidationError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, UnexpectedAnswerError),
        (302, UnexpectedAnswerError),
    ],
)
def test_http_errors(status: int, cls: type[EngineError]) -> None:
    body = {"statusCode": status, "message": ["audioId must be a string"], "error": "Bad"}
    for parse in (ADAPTER.parse_submit, ADAPTER.parse_poll):
        with pytest.raises(cls) as caught:
            parse("stems", Answer(status, body))
        assert type(caught.value) is cls
        assert caught.value.http_status == status
        assert caught.value.detail == "audioId must be a string"
        assert caught.value.raw == body
        assert "Mountsea Producer" in caught.value.message


def test_rate_limit_carries_retry_after() -> None:
    with pytest.raises(RateLimitError) as caught:
        ADAPTER.parse_submit("audios", Answer(429, {}, headers={"retry-after": "12"}))
    assert caught.value.retryable
    assert caught.value.retry_after == 12.0
    assert caught.value.detail is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("1.5", 1.5), ("99999", 300.0), ("soon", None), ("-3", None), ("", None)],
)
def test_retry_after_values(value: str, expected: float | None) -> None:
    with pytest.raises(RateLimitError) as caught:
        ADAPTER.parse_poll("audios", Answer(429, {}, headers={"Retry-After": value}))
    assert caught.value.retry_after == expected


def test_retry_after_http_date_in_the_past_means_now() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    with pytest.raises(ServerError) as caught:
        ADAPTER.parse_poll("audios", Answer(503, {}, headers=headers))
    assert caught.value.retry_after == 0.0


@pytest.mark.parametrize(
    ("body", "detail", "code"),
    [
        ({"message": "Insufficient credits"}, "Insufficient credits", None),
        ({"errorMessage": "bad id", "errorCode": 1001}, "bad id", "1001"),
        ({"error": {"message": "nested", "code": "E1"}}, "nested", "E1"),
        ({"error": "Payment Required"}, "Payment Required", None),
        ({"msg": "short"}, "short", None),
        ({}, None, None),
        ([], None, None),
    ],
)
def test_error_bodies_are_read_tolerantly(body: Any, detail: str | None, code: str | None) -> None:
    error = ADAPTER.error_for(Answer(402, body))
    assert isinstance(error, BillingError)
    assert error.detail == detail
    assert error.code == code


def test_error_detail_hides_signed_queries_and_is_capped() -> None:
    body = {"message": "cannot fetch https://bucket.example/a.mp3?X-Amz-Signature=SECRET " * 20}
    error = ADAPTER.error_for(Answer(400, body))
    assert error is not None
    assert "SECRET" not in error.message
    assert len(error.detail or "") <= 300


def test_html_error_page() -> None:
    error = ADAPTER.error_for(Answer(502, "<html>Bad gateway</html>", is_json=False))
    assert isinstance(error, ServerError)
    assert error.detail == "HTTP 502, not JSON"
    ok_but_html = ADAPTER.error_for(Answer(200, "<html>hi</html>", is_json=False))
    assert isinstance(ok_but_html, UnexpectedAnswerError)
    assert ADAPTER.error_for(Answer(200, {"taskId": "t"})) is None


@pytest.mark.parametrize("body", [[], "text", None, 5])
def test_poll_of_non_object_is_unexpected(body: Any) -> None:
    with pytest.raises(UnexpectedAnswerError):
        poll("audios", body)


# --------------------------------------------------------------------------- tolerance


@settings(max_examples=300)
@given(
    op=st.sampled_from((*OPERATIONS, "unknown-op")),
    status=st.sampled_from([200, 201, 204, 400, 401, 402, 404, 429, 499, 500, 503, 302]),
    body=shaped_json | json_values,
    is_json=st.booleans(),
    headers=st.dictionaries(st.sampled_from(["Retry-After", "x"]), st.text(max_size=30)),
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
    outputs_for(op, body)


@settings(max_examples=200)
@given(result=shaped_json)
def test_completed_with_arbitrary_result_is_succeeded(result: Any) -> None:
    for op in OPERATIONS:
        status = done(op, result)
        assert status.state is RemoteState.SUCCEEDED
        for take in status.outputs:
            urls = [*take.audio_urls.values(), *take.stems.values()]
            urls += [u for u in (take.download_url, take.video_url, take.image_url) if u]
            assert all(url.startswith(("http://", "https://")) for url in urls)
