"""TTAPI Producer: the spec, request building, and answer reading (pure; no network)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.errors import (
    AuthenticationError,
    BillingError,
    ContentPolicyError,
    EngineError,
    EngineValidationError,
    NotFoundError,
    PermissionDeniedError,
    QueueFullError,
    RateLimitError,
    RequestInvalidError,
    ServerError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteState
from studio.engines.adapter import Answer
from studio.engines.spec import FieldSpec, FieldType, OperationSpec
from studio.engines.ttapi import FUZZ_MODELS, MUSIC_MODELS, SPEC, TtapiAdapter
from studio.engines.ttapi_parse import audio_format, progress, stem_name

ADAPTER = TtapiAdapter()
JOB = "d8b553d0-cb53-442d-aae8-bba319ab5d65"
MUSIC = "07d737cf-9509-4132-99f5-a17339bd7462"

SONG_OPS = ("music", "extend", "cover", "replace", "vocals-swap", "instrumentals-swap")
PARENT_OPS = (
    "extend",
    "cover",
    "variation",
    "replace",
    "vocals-swap",
    "instrumentals-swap",
    "stems",
    "download",
    "generate-video",
)

# The smallest valid request of each operation; tests add to it.
BASE: dict[str, dict[str, Any]] = {
    "music": {"sound_prompt": "lofi piano, rainy night"},
    "lyrics": {"prompt": "a song about working out"},
    "extend": {"music_id": MUSIC, "starts": 30.0, "sound_prompt": "keep going"},
    "cover": {"music_id": MUSIC, "sound_prompt": "bossa nova"},
    "variation": {"music_id": MUSIC},
    "replace": {"music_id": MUSIC, "lyrics_text": "[Chorus]\nla la"},
    "vocals-swap": {"music_id": MUSIC, "sound_prompt": "female soul voice"},
    "instrumentals-swap": {"music_id": MUSIC, "sound_prompt": "string quartet"},
    "stems": {"music_id": MUSIC},
    "download": {"music_id": MUSIC, "format": "wav"},
    "upload": {"audio_url": "https://example.com/me.mp3"},
    "generate-video": {"music_id": MUSIC},
    "fetch": {"jobId": JOB},
}


def build(op: str, **params: Any) -> Any:
    return ADAPTER.build_submit(op, {**BASE[op], **params}, client_key="ck-1")


def invalid(op: str, params: dict[str, Any]) -> RequestInvalidError:
    with pytest.raises(RequestInvalidError) as caught:
        ADAPTER.build_submit(op, params, client_key="ck-1")
    return caught.value


def ok(data: Any, *, status: str = "SUCCESS") -> Answer:
    return Answer(200, {"status": status, "message": "success", "data": data})


def fetch_body(status: Any, **data: Any) -> dict[str, Any]:
    return {
        "status": status,
        "message": None,
        "jobId": JOB,
        "data": {"jobId": JOB, "action": "music", "progress": None, "mv": "FUZZ-2.0", **data},
    }


# --------------------------------------------------------------------------- the spec


def test_spec_lists_every_operation_in_the_vendor_order() -> None:
    assert [op.id for op in SPEC.operations] == [
        "music",
        "lyrics",
        "extend",
        "cover",
        "variation",
        "replace",
        "vocals-swap",
        "instrumentals-swap",
        "stems",
        "download",
        "upload",
        "generate-video",
        "fetch",
    ]
    assert SPEC.info.id == "ttapi"
    assert set(BASE) == {op.id for op in SPEC.operations}


@pytest.mark.parametrize("op", SPEC.operations, ids=lambda op: op.id)
def test_every_operation_has_its_path_method_and_flags(op: OperationSpec) -> None:
    assert op.path == f"/producer/v1/{op.id}"
    assert op.method == ("GET" if op.id == "fetch" else "POST")
    assert op.synchronous is (op.id in ("lyrics", "generate-video"))
    assert op.paid is (op.id not in ("upload", "generate-video", "fetch"))
    assert op.parent_field == ("music_id" if op.id in PARENT_OPS else None)
    assert op.label and all(spec.label for spec in op.fields)


@pytest.mark.parametrize("op_id", SONG_OPS)
def test_song_operations_share_the_song_fields(op_id: str) -> None:
    op = SPEC.operation(op_id)
    names = {spec.name for spec in op.fields}
    assert {
        "sound_prompt",
        "lyrics_text",
        "instrumental",
        "mv",
        "title",
        "cover_art_url",
        "seed",
        "lyrics_strength",
        "sound_strength",
        "weirdness",
        "is_storage",
        "hook_url",
    } <= names
    assert op.at_least_one == (("sound_prompt", "lyrics_text"),)
    swap = op_id.endswith("-swap")
    assert ("cover_strength" in names) is swap
    strength = 0.7 if swap else 0.5
    assert op.field("lyrics_strength").default == strength
    assert op.field("sound_strength").default == strength
    assert op.field("weirdness").default == 0.5
    assert op.field("instrumental").default is False
    assert op.field("is_storage").default is False
    assert op.field("mv").default == "FUZZ-2.0"
    assert op.field("mv").choices == (MUSIC_MODELS if op_id == "music" else FUZZ_MODELS)
    assert op.field("sound_prompt").type is FieldType.TEXT
    assert op.field("lyrics_text").type is FieldType.TEXT
    assert op.field("seed").type is FieldType.STRING
    assert op.field("cover_art_url").type is FieldType.URL
    assert op.field("hook_url").type is FieldType.URL


def test_models_match_the_vendor_page() -> None:
    assert FUZZ_MODELS == (
        "FUZZ-2.0 Pro",
        "FUZZ-2.0",
        "FUZZ-2.0 Raw",
        "FUZZ-1.1 Pro",
        "FUZZ-1.0 Pro",
        "FUZZ-1.0",
        "FUZZ-1.1",
        "FUZZ-0.8",
    )
    assert (*FUZZ_MODELS, "Lyria 3 preview") == MUSIC_MODELS


def test_ranges_and_defaults_of_the_numbers() -> None:
    swap = SPEC.operation("vocals-swap")
    assert (swap.field("cover_strength").minimum, swap.field("cover_strength").maximum) == (0.2, 1)
    assert swap.field("cover_strength").default == 1.0
    music = SPEC.operation("music")
    assert (music.field("sound_strength").minimum, music.field("sound_strength").maximum) == (
        0.2,
        1.0,
    )
    assert (music.field("lyrics_strength").minimum, music.field("weirdness").minimum) == (0, 0)
    extend = SPEC.operation("extend")
    assert extend.field("starts").required and extend.field("starts").default == 30.0
    replace = SPEC.operation("replace")
    assert not replace.field("starts").required and not replace.field("ends").required


def test_the_small_operations_have_only_their_own_fields() -> None:
    def names(op_id: str) -> list[str]:
        return [spec.name for spec in SPEC.operation(op_id).fields]

    assert names("variation") == ["music_id", "is_storage", "hook_url"]
    assert names("stems") == ["music_id", "hook_url"]
    assert names("download") == ["music_id", "format"]
    assert names("upload") == ["audio_url", "hook_url"]
    assert names("generate-video") == ["music_id", "preset"]
    assert names("lyrics") == ["prompt"]
    assert names("fetch") == ["jobId"]
    assert SPEC.operation("download").field("format").choices == ("wav", "mp3")
    assert SPEC.operation("download").field("format").required
    preset = SPEC.operation("generate-video").field("preset")
    assert preset.choices == ("modern", "player", "simple") and preset.default == "simple"
    assert SPEC.operation("upload").field("audio_url").required
    assert SPEC.operation("lyrics").field("prompt").required


# --------------------------------------------------------------------------- requests


def test_auth_header_carries_the_key() -> None:
    assert ADAPTER.auth_headers({"api_key": " k-123 "}, now=0.0) == {"TT-API-KEY": "k-123"}


@pytest.mark.parametrize("credentials", [{}, {"api_key": ""}, {"api_key": "  "}, {"other": "x"}])
def test_missing_key_is_an_authentication_error_naming_it(credentials: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError) as caught:
        ADAPTER.auth_headers(credentials, now=0.0)
    assert "api_key" in caught.value.message
    assert caught.value.engine == "ttapi"
    assert "TTAPI Producer" in caught.value.message


def test_a_key_with_a_line_break_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        ADAPTER.auth_headers({"api_key": "abc\r\nX-Evil: 1"}, now=0.0)


SNAPSHOTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "music",
        {
            "sound_prompt": "lofi",
            "lyrics_text": "[Verse 1]\nhi",
            "instrumental": False,
            "mv": "Lyria 3 preview",
            "title": "Night",
            "cover_art_url": "https://example.com/c.png",
            "seed": "42",
            "lyrics_strength": 0.3,
            "sound_strength": 0.2,
            "weirdness": 1,
            "is_storage": True,
        },
        {
            "sound_prompt": "lofi",
            "lyrics_text": "[Verse 1]\nhi",
            "instrumental": False,
            "mv": "Lyria 3 preview",
            "title": "Night",
            "cover_art_url": "https://example.com/c.png",
            "seed": "42",
            "lyrics_strength": 0.3,
            "sound_strength": 0.2,
            "weirdness": 1,
            "is_storage": True,
        },
    ),
    ("lyrics", {"prompt": "rain"}, {"prompt": "rain"}),
    (
        "extend",
        {"music_id": MUSIC, "starts": 42.5, "lyrics_text": "more"},
        {"music_id": MUSIC, "starts": 42.5, "lyrics_text": "more"},
    ),
    (
        "cover",
        {"music_id": MUSIC, "sound_prompt": "jazz", "mv": "FUZZ-1.0"},
        {"music_id": MUSIC, "sound_prompt": "jazz", "mv": "FUZZ-1.0"},
    ),
    ("variation", {"music_id": MUSIC, "is_storage": True}, {"music_id": MUSIC, "is_storage": True}),
    (
        "replace",
        {"music_id": MUSIC, "sound_prompt": "x", "starts": 30.01, "ends": 45},
        {"music_id": MUSIC, "sound_prompt": "x", "starts": 30.01, "ends": 45},
    ),
    (
        "vocals-swap",
        {"music_id": MUSIC, "sound_prompt": "choir", "cover_strength": 0.8},
        {"music_id": MUSIC, "sound_prompt": "choir", "cover_strength": 0.8},
    ),
    (
        "instrumentals-swap",
        {"music_id": MUSIC, "lyrics_text": "la", "sound_strength": 0.7},
        {"music_id": MUSIC, "lyrics_text": "la", "sound_strength": 0.7},
    ),
    ("stems", {"music_id": MUSIC}, {"music_id": MUSIC}),
    ("download", {"music_id": MUSIC, "format": "mp3"}, {"music_id": MUSIC, "format": "mp3"}),
    (
        "upload",
        {"audio_url": "https://example.com/a.wav", "hook_url": "https://me.example/hook"},
        {"audio_url": "https://example.com/a.wav", "hook_url": "https://me.example/hook"},
    ),
    (
        "generate-video",
        {"music_id": MUSIC, "preset": "modern"},
        {"music_id": MUSIC, "preset": "modern"},
    ),
]


@pytest.mark.parametrize(("op", "params", "body"), SNAPSHOTS, ids=[s[0] for s in SNAPSHOTS])
def test_every_operation_builds_its_post(
    op: str, params: dict[str, Any], body: dict[str, Any]
) -> None:
    request = ADAPTER.build_submit(op, params, client_key="ck-1")
    assert request.method == "POST"
    assert request.path == f"/producer/v1/{op}"
    assert request.json == body
    assert request.query == {}
    assert not request.idempotent


def test_fetch_is_a_get_with_the_job_id_in_the_query() -> None:
    request = ADAPTER.build_submit("fetch", {"jobId": JOB}, client_key="ck-1")
    assert (request.method, request.path, request.json) == ("GET", "/producer/v1/fetch", None)
    assert request.query == {"jobId": JOB}
    assert request.idempotent


def test_build_poll_asks_fetch_for_any_operation() -> None:
    for op in SPEC.operations:
        request = ADAPTER.build_poll(op.id, JOB)
        assert (request.method, request.path, request.query) == (
            "GET",
            "/producer/v1/fetch",
            {"jobId": JOB},
        )
    with pytest.raises(RequestInvalidError, match="jobId"):
        ADAPTER.build_poll("music", " ")


def test_unset_fields_are_left_out_and_no_webhook_is_sent_by_default() -> None:
    request = build("music", title="", seed=None, hook_url="", lyrics_text="  ")
    assert request.json == {"sound_prompt": "lofi piano, rainy night"}
    for op in SPEC.operations:
        sent = ADAPTER.build_submit(op.id, BASE[op.id], client_key="ck-1")
        assert "hook_url" not in (sent.json or {}) and "hook_url" not in sent.query


def test_a_webhook_is_sent_when_the_user_sets_one() -> None:
    request = build("stems", hook_url="https://me.example/hook")
    assert request.json == {"music_id": MUSIC, "hook_url": "https://me.example/hook"}


# --------------------------------------------------------------------------- validation


def test_extend_without_a_parent_names_music_id() -> None:
    error = invalid("extend", {"starts": 30.0, "sound_prompt": "x"})
    assert [str(p) for p in error.problems] == ["music_id: is required"]
    assert "music_id" in error.message


def test_extend_needs_starts() -> None:
    error = invalid("extend", {"music_id": MUSIC, "sound_prompt": "x"})
    assert [p.field for p in error.problems] == ["starts"]


@pytest.mark.parametrize("op", SONG_OPS)
def test_prompt_and_lyrics_may_not_both_be_empty(op: str) -> None:
    params = {k: v for k, v in BASE[op].items() if k not in ("sound_prompt", "lyrics_text")}
    error = invalid(op, {**params, "sound_prompt": "", "lyrics_text": "  "})
    assert [p.field for p in error.problems] == ["sound_prompt or lyrics_text"]
    assert "at least one" in error.message


def test_either_prompt_or_lyrics_alone_is_enough() -> None:
    assert build("music").json == {"sound_prompt": "lofi piano, rainy night"}
    assert ADAPTER.build_submit("music", {"lyrics_text": "la"}, client_key="c").json == {
        "lyrics_text": "la"
    }


def test_a_model_outside_the_list_is_refused_and_lyria_only_on_music() -> None:
    error = invalid("music", {**BASE["music"], "mv": "FUZZ-3.0"})
    assert error.problems[0].field == "mv" and "FUZZ-2.0 Pro" in error.problems[0].rule
    assert build("music", mv="Lyria 3 preview").json is not None
    error = invalid("cover", {**BASE["cover"], "mv": "Lyria 3 preview"})
    assert error.problems[0].field == "mv" and "must be one of" in error.problems[0].rule


def test_sound_strength_below_its_floor_names_field_and_range() -> None:
    error = invalid("music", {**BASE["music"], "sound_strength": 0.1})
    assert str(error.problems[0]) == "sound_strength: must be from 0.2 to 1 (got 0.1)"


def test_unknown_field_is_named_with_the_known_ones() -> None:
    error = invalid("variation", {**BASE["variation"], "sound_prompt": "x"})
    assert error.problems[0].field == "sound_prompt"
    assert "is not a field of variation (music_id, is_storage, hook_url)" in error.message


@pytest.mark.parametrize("seed", ["12a", "-5", "1.5", " 12", "٣"])
def test_seed_must_be_digits(seed: str) -> None:
    error = invalid("music", {**BASE["music"], "seed": seed})
    assert error.problems[0].field == "seed" and "digits only" in error.problems[0].rule


def test_seed_is_a_string_on_the_wire() -> None:
    assert build("music", seed="0012345").json == {**BASE["music"], "seed": "0012345"}
    error = invalid("music", {**BASE["music"], "seed": 12345})
    assert error.problems[0].field == "seed" and "must be text" in error.problems[0].rule


def test_seed_problem_is_reported_with_the_others() -> None:
    error = invalid("extend", {"seed": "x"})
    assert {p.field for p in error.problems} >= {"seed", "music_id", "starts"}


def test_replace_span_must_have_a_length() -> None:
    error = invalid("replace", {**BASE["replace"], "starts": 40, "ends": 40})
    assert error.problems[0].field == "ends" and "after starts" in error.problems[0].rule
    assert build("replace", ends=12.5).json == {**BASE["replace"], "ends": 12.5}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("cover_art_url", "ftp://x/y.png", "URL"),
        ("cover_art_url", "not a url", "URL"),
        ("instrumental", "yes", "true or false"),
        ("title", 5, "must be text"),
        ("weirdness", "0.5", "must be a number"),
        ("weirdness", float("nan"), "finite"),
        ("lyrics_strength", 0.555, "steps of 0.01"),
    ],
)
def test_type_rules_name_the_field(field: str, value: Any, rule: str) -> None:
    error = invalid("music", {**BASE["music"], field: value})
    assert error.problems[0].field == field and rule in error.problems[0].rule


def test_upload_needs_a_public_url_and_download_a_format() -> None:
    assert invalid("upload", {"audio_url": "/home/me/song.mp3"}).problems[0].field == "audio_url"
    error = invalid("download", {"music_id": MUSIC, "format": "flac"})
    assert error.problems[0].field == "format" and "wav, mp3" in error.problems[0].rule
    assert invalid("download", {"music_id": MUSIC}).problems[0].field == "format"


def test_lyrics_needs_a_prompt() -> None:
    assert str(invalid("lyrics", {}).problems[0]) == "prompt: is required"


def test_unknown_operation_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="music"):
        ADAPTER.build_submit("remix", {}, client_key="c")


# ---- property: numbers


def _numeric_fields() -> list[tuple[str, FieldSpec]]:
    return [
        (op.id, spec)
        for op in SPEC.operations
        for spec in op.fields
        if spec.type is FieldType.NUMBER
    ]


NUMERIC = _numeric_fields()


def test_every_numeric_field_has_a_range_and_grid() -> None:
    assert {spec.name for _, spec in NUMERIC} == {
        "lyrics_strength",
        "sound_strength",
        "weirdness",
        "cover_strength",
        "starts",
        "ends",
    }
    for _, spec in NUMERIC:
        assert spec.minimum is not None and spec.step == 0.01


def _params_with(op: str, name: str, value: float) -> dict[str, Any]:
    params = {**BASE[op], name: value}
    if op == "replace":
        params.pop("starts" if name == "ends" else "ends", None)
    return params


@pytest.mark.parametrize(("op", "spec"), NUMERIC, ids=[f"{o}.{s.name}" for o, s in NUMERIC])
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_in_range_on_grid_numbers_are_accepted(
    op: str, spec: FieldSpec, data: st.DataObject
) -> None:
    assert spec.minimum is not None and spec.step is not None
    top = spec.maximum if spec.maximum is not None else spec.minimum + 10_000
    steps = round((top - spec.minimum) / spec.step)
    k = data.draw(st.integers(0, steps), label="steps")
    value = round(spec.minimum + k * spec.step, 2)
    request = ADAPTER.build_submit(op, _params_with(op, spec.name, value), client_key="c")
    assert request.json is not None and request.json[spec.name] == value


@pytest.mark.parametrize(("op", "spec"), NUMERIC, ids=[f"{o}.{s.name}" for o, s in NUMERIC])
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_out_of_range_numbers_are_rejected_naming_the_field(
    op: str, spec: FieldSpec, data: st.DataObject
) -> None:
    assert spec.minimum is not None
    below = st.floats(max_value=spec.minimum, exclude_max=True, allow_nan=False)
    if spec.maximum is not None:
        above = st.floats(min_value=spec.maximum, exclude_min=True, allow_nan=False)
        value = data.draw(st.one_of(below, above), label="value")
    else:
        value = data.draw(below, label="value")
    with pytest.raises(RequestInvalidError) as caught:
        ADAPTER.build_submit(op, _params_with(op, spec.name, value), client_key="c")
    assert [p.field for p in caught.value.problems] == [spec.name]
    assert spec.name in caught.value.message


@pytest.mark.parametrize(("op", "spec"), NUMERIC, ids=[f"{o}.{s.name}" for o, s in NUMERIC])
@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_off_grid_numbers_are_rejected_naming_the_field(
    op: str, spec: FieldSpec, data: st.DataObject
) -> None:
    assert spec.minimum is not None and spec.step is not None
    top = spec.maximum if spec.maximum is not None else spec.minimum + 10_000
    k = data.draw(st.integers(0, round((top - spec.minimum) / spec.step) - 1), label="steps")
    value = spec.minimum + (k + 0.5) * spec.step
    with pytest.raises(RequestInvalidError) as caught:
        ADAPTER.build_submit(op, _params_with(op, spec.name, value), client_key="c")
    assert caught.value.problems[0].field == spec.name
    assert "steps of 0.01" in caught.value.problems[0].rule


@settings(max_examples=80)
@given(seed=st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_any_digit_seed_is_accepted(seed: str) -> None:
    assert build("music", seed=seed).json == {**BASE["music"], "seed": seed}


# ---- parse_param


@pytest.mark.parametrize(
    ("op", "name", "text", "value"),
    [
        ("music", "seed", "00123", "00123"),  # STRING stays text: leading zeros survive
        ("music", "sound_prompt", "lofi, piano", "lofi, piano"),  # TEXT
        ("music", "sound_strength", " 0.7 ", 0.7),  # NUMBER
        ("extend", "starts", "30", 30.0),
        ("music", "instrumental", "yes", True),  # BOOLEAN
        ("music", "is_storage", "off", False),
        ("music", "mv", "FUZZ-2.0 Pro", "FUZZ-2.0 Pro"),  # CHOICE
        ("download", "format", "wav", "wav"),
        ("music", "cover_art_url", "https://x.example/a.png", "https://x.example/a.png"),  # URL
    ],
)
def test_parse_param_turns_text_into_the_field_type(
    op: str, name: str, text: str, value: Any
) -> None:
    parsed = SPEC.operation(op).parse_param(name, text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("op", "name", "text"),
    [
        ("music", "sound_strength", "strong"),
        ("music", "instrumental", "maybe"),
        ("music", "mv", "FUZZ-9"),
        ("generate-video", "preset", "fancy"),
        ("music", "tempo", "120"),
    ],
)
def test_parse_param_refusals_name_the_field(op: str, name: str, text: str) -> None:
    with pytest.raises(RequestInvalidError) as caught:
        SPEC.operation(op).parse_param(name, text)
    assert caught.value.problems[0].field == name


# --------------------------------------------------------------------------- submit answers


@pytest.mark.parametrize("key", ["jobId", "job_id"])
def test_submit_answer_gives_the_job_id(key: str) -> None:
    result = ADAPTER.parse_submit("music", ok({key: JOB}))
    assert result.remote_id == JOB and result.status is None


def test_submit_answer_without_a_job_id_is_unexpected() -> None:
    with pytest.raises(UnexpectedAnswerError) as caught:
        ADAPTER.parse_submit("music", ok({"something": 1}))
    assert caught.value.http_status == 200 and caught.value.raw is not None


def test_lyrics_answer_at_once() -> None:
    answer = ok({"jobId": JOB, "title": "Work It Out", "lyrics": "[Verse 1]\nBeat beats"})
    result = ADAPTER.parse_submit("lyrics", answer)
    assert result.remote_id == JOB
    assert result.status is not None and result.status.state is RemoteState.SUCCEEDED
    (take,) = result.status.outputs
    assert (take.title, take.lyrics) == ("Work It Out", "[Verse 1]\nBeat beats")
    assert result.status.raw == answer.body


def test_lyrics_answer_with_only_a_job_id_is_polled() -> None:
    result = ADAPTER.parse_submit("lyrics", ok({"jobId": JOB}))
    assert result.remote_id == JOB and result.status is None


def test_generate_video_answers_at_once() -> None:
    video = "https://storage.googleapis.com/x/song-videos/77ce.mp4"
    result = ADAPTER.parse_submit("generate-video", ok({"videoUrl": video, "status": "complete"}))
    assert result.status is not None and result.status.state is RemoteState.SUCCEEDED
    assert result.status.outputs[0].video_url == video


def test_generate_video_without_a_url_or_job_is_unexpected() -> None:
    with pytest.raises(UnexpectedAnswerError):
        ADAPTER.parse_submit("generate-video", ok({"status": "complete"}))


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("", EngineValidationError),
        ("sound_prompt and lyrics_text cannot both be empty", EngineValidationError),
        ("prompt contains banned words", ContentPolicyError),
        ("Insufficient balance", BillingError),
        ("invalid api key", AuthenticationError),
        ("job not found", NotFoundError),
    ],
)
def test_failed_envelope_on_200_is_the_error_it_says(message: str, kind: type[EngineError]) -> None:
    answer = Answer(200, {"status": "FAILED", "message": message, "data": None})
    with pytest.raises(kind) as caught:
        ADAPTER.parse_submit("music", answer)
    assert type(caught.value) is kind
    assert caught.value.engine == "ttapi" and caught.value.http_status == 200
    assert "TTAPI Producer" in caught.value.message


def test_submit_of_fetch_reads_the_job() -> None:
    body = fetch_body("ON_QUEUE", musics=[{"musicId": MUSIC}])
    result = ADAPTER.parse_submit("fetch", Answer(200, body))
    assert result.remote_id == JOB
    assert result.status is not None and result.status.state is RemoteState.RUNNING


# --------------------------------------------------------------------------- poll answers


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("PENDING_QUEUE", RemoteState.QUEUED),
        ("ON_QUEUE", RemoteState.RUNNING),
        ("SUCCESS", RemoteState.SUCCEEDED),
        ("FAILED", RemoteState.FAILED),
        ("success", RemoteState.SUCCEEDED),
        ("", RemoteState.UNKNOWN),
        (None, RemoteState.UNKNOWN),
        ("paused", RemoteState.UNKNOWN),
        ("RUNNING", RemoteState.UNKNOWN),
        (3, RemoteState.UNKNOWN),
    ],
)
def test_every_status_word_maps(word: Any, state: RemoteState) -> None:
    status = ADAPTER.parse_poll("music", Answer(200, fetch_body(word, musics=None)))
    assert status.state is state
    assert status.engine_status == (word if isinstance(word, str) else None)
    assert status.remote_id == JOB


@pytest.mark.parametrize(
    ("value", "fraction"),
    [
        ("100%", 1.0),
        ("42%", 0.42),
        (" 7 % ", 0.07),
        ("0%", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        (50, 0.5),
        ("150%", 1.0),
        ("-3%", 0.0),
        ("nan%", None),
        (True, None),
        ([1], None),
    ],
)
def test_progress_is_a_fraction(value: Any, fraction: float | None) -> None:
    assert progress(value) == fraction
    status = ADAPTER.parse_poll("music", Answer(200, fetch_body("ON_QUEUE", progress=value)))
    assert status.progress == fraction


def test_success_without_progress_counts_as_complete() -> None:
    status = ADAPTER.parse_poll("music", Answer(200, fetch_body("SUCCESS", progress=None)))
    assert status.progress == 1.0


def test_a_finished_song_becomes_takes() -> None:
    body = fetch_body(
        "SUCCESS",
        progress="100%",
        quota="5",
        musics=[
            {
                "musicId": MUSIC,
                "title": "Work It Out",
                "lyrics": "[Verse 1]\nBeat",
                "imageUrl": "https://cdn.example/i.jpeg",
                "audioUrl": "https://cdn.example/a.mp3?sig=abc",
                "videoUrl": "https://cdn.example/v.mp4",
                "imageId": None,
                "seed": "123456",
                "durations": "183.52",
                "createdAt": "2025-01-01",
            },
            {"musicId": "second", "audioUrl": "https://cdn.example/b.WAV", "durations": 90},
        ],
    )
    status = ADAPTER.parse_poll("music", Answer(200, body))
    assert (status.state, status.cost, status.progress) == (RemoteState.SUCCEEDED, "5", 1.0)
    first, second = status.outputs
    assert first.remote_id == MUSIC and first.title == "Work It Out"
    assert first.audio_urls == {"mp3": "https://cdn.example/a.mp3?sig=abc"}
    assert first.image_url == "https://cdn.example/i.jpeg"
    assert first.video_url == "https://cdn.example/v.mp4"
    assert (first.seed, first.duration_s, first.lyrics) == ("123456", 183.52, "[Verse 1]\nBeat")
    assert first.raw == body["data"]["musics"][0]
    assert second.audio_urls == {"wav": "https://cdn.example/b.WAV"}
    assert second.duration_s == 90.0
    assert status.raw == body


def test_a_queued_job_already_names_its_takes() -> None:
    item = {k: None for k in ("title", "lyrics", "imageUrl", "audioUrl", "seed", "durations")}
    body = fetch_body("ON_QUEUE", quota="5", musics=[{"musicId": MUSIC, **item}])
    (take,) = ADAPTER.parse_poll("music", Answer(200, body)).outputs
    assert take.remote_id == MUSIC and take.audio_urls == {} and take.title is None


def test_odd_fields_are_skipped_not_raised_on() -> None:
    body = fetch_body(
        "SUCCESS",
        quota=7,
        musics=[
            "not an object",
            None,
            {
                "musicId": 991,
                "title": ["x"],
                "audioUrl": "relative/path.mp3",
                "imageUrl": 5,
                "seed": 42,
                "durations": "long",
                "videoUrl": "javascript:alert(1)",
            },
        ],
    )
    status = ADAPTER.parse_poll("music", Answer(200, body))
    (take,) = status.outputs
    assert take.remote_id == "991" and take.seed == "42" and status.cost == "7"
    assert take.title is None and take.audio_urls == {} and take.image_url is None
    assert take.duration_s is None and take.video_url is None


def test_a_failed_job_carries_its_reason() -> None:
    body = fetch_body("FAILED", quota="0", musics=None)
    body["message"] = "job timeout"
    status = ADAPTER.parse_poll("music", Answer(200, body))
    assert status.state is RemoteState.FAILED
    assert status.engine_message == "job timeout" and status.outputs == [] and status.cost == "0"


def test_a_failed_job_without_data_is_still_a_job_result() -> None:
    body = {"status": "FAILED", "message": "job timeout", "jobId": JOB, "data": None}
    status = ADAPTER.parse_poll("music", Answer(200, body))
    assert status.state is RemoteState.FAILED and status.engine_message == "job timeout"


def test_audio_format_is_guessed_from_the_url() -> None:
    assert audio_format("https://x/a.wav?X-Amz-Signature=1.mp3") == "wav"
    assert audio_format("https://x/a.flac") == "flac"
    assert audio_format("https://x/stream") == "mp3"
    assert audio_format("https://x.example.com/a") == "mp3"


# ---- stems, download, upload


def test_stems_become_one_take_with_stems_by_name() -> None:
    names = ["Vocals", "Drums", "Bass", "Other"]
    musics = [
        {"musicId": f"m{i}", "title": f"Work It Out ({name})", "audioUrl": f"https://x/{i}.wav"}
        for i, name in enumerate(names)
    ]
    body = fetch_body("SUCCESS", action="stems", musics=musics)
    status = ADAPTER.parse_poll("stems", Answer(200, body))
    (take,) = status.outputs
    assert take.stems == {
        "vocals": "https://x/0.wav",
        "drums": "https://x/1.wav",
        "bass": "https://x/2.wav",
        "other": "https://x/3.wav",
    }
    assert take.title == "Work It Out" and take.audio_urls == {}
    assert take.raw == musics


def test_stems_tolerate_other_names_and_missing_suffixes() -> None:
    musics = [
        {"title": "Song (Instrumental)", "audioUrl": "https://x/i.mp3"},
        {"title": "Song [vocal]", "audioUrl": "https://x/v.mp3"},
        {"title": "Song (Guitar Solo)", "audioUrl": "https://x/g.mp3"},
        {"title": "Song", "audioUrl": "https://x/m.mp3"},
        {"title": None, "audioUrl": None},
        {"title": "Song (Vocals)", "audioUrl": "https://x/v2.mp3"},
        {"stems": {"Piano": "https://x/p.mp3", "junk": 3}},
    ]
    (take,) = ADAPTER.parse_poll("stems", Answer(200, fetch_body("SUCCESS", musics=musics))).outputs
    assert take.stems == {
        "instrumental": "https://x/i.mp3",
        "vocals": "https://x/v.mp3",
        "guitar_solo": "https://x/g.mp3",
        "stem_4": "https://x/m.mp3",
        "vocals_2": "https://x/v2.mp3",
        "piano": "https://x/p.mp3",
    }


def test_stems_found_through_fetch_by_the_action_field() -> None:
    musics = [{"title": "S (Bass)", "audioUrl": "https://x/b.mp3"}]
    body = fetch_body("SUCCESS", action="stems", musics=musics)
    (take,) = ADAPTER.parse_poll("fetch", Answer(200, body)).outputs
    assert take.stems == {"bass": "https://x/b.mp3"}


@pytest.mark.parametrize(
    ("title", "name", "base"),
    [
        ("A (Vocals)", "vocals", "A"),
        ("Love (Remix) (Drums)", "drums", "Love (Remix)"),
        ("Plain", None, "Plain"),
        (None, None, None),
        ("(Bass)", "bass", None),
    ],
)
def test_stem_name(title: str | None, name: str | None, base: str | None) -> None:
    assert stem_name(title) == (name, base)


def test_stems_with_no_entries_have_no_take() -> None:
    status = ADAPTER.parse_poll("stems", Answer(200, fetch_body("ON_QUEUE", musics=None)))
    assert status.outputs == []


@pytest.mark.parametrize(
    ("item", "url", "fmt"),
    [
        (
            {"musicId": MUSIC, "audioUrl": "https://x/song.wav?sig=1"},
            "https://x/song.wav?sig=1",
            "wav",
        ),
        ({"musicId": MUSIC, "audioUrl": "https://x/song.mp3"}, "https://x/song.mp3", "mp3"),
        ({"downloadUrl": "https://x/file", "format": "WAV"}, "https://x/file", "wav"),
        ({"audioUrl": "https://x/file"}, "https://x/file", None),
    ],
)
def test_download_becomes_a_take_with_the_file(item: dict[str, Any], url: str, fmt: str) -> None:
    body = fetch_body("SUCCESS", action="download", musics=[item])
    (take,) = ADAPTER.parse_poll("download", Answer(200, body)).outputs
    assert take.download_url == url and take.download_format == fmt
    assert take.audio_urls == {}


def test_download_url_on_data_itself_is_found() -> None:
    body = fetch_body("SUCCESS", downloadUrl="https://x/a.mp3", musics=None)
    (take,) = ADAPTER.parse_poll("download", Answer(200, body)).outputs
    assert (take.download_url, take.download_format) == ("https://x/a.mp3", "mp3")


def test_upload_gives_a_take_whose_id_is_a_music_id() -> None:
    musics = [{"musicId": MUSIC, "title": "me", "audioUrl": "https://x/me.mp3"}]
    body = fetch_body("SUCCESS", action="upload", musics=musics)
    (take,) = ADAPTER.parse_poll("upload", Answer(200, body)).outputs
    assert take.remote_id == MUSIC
    assert ADAPTER.build_submit(
        "extend", {"music_id": take.remote_id, "starts": 30.0, "sound_prompt": "x"}, client_key="c"
    ).json == {"music_id": MUSIC, "starts": 30.0, "sound_prompt": "x"}


def test_upload_music_id_on_data_is_used() -> None:
    body = fetch_body("SUCCESS", musicId=MUSIC, audioUrl="https://x/me.mp3", musics=None)
    (take,) = ADAPTER.parse_poll("upload", Answer(200, body)).outputs
    assert take.remote_id == MUSIC


def test_lyrics_job_polled_gives_its_words() -> None:
    body = fetch_body("SUCCESS", action="lyrics", musics=[{"title": "T", "lyrics": "la"}])
    (take,) = ADAPTER.parse_poll("fetch", Answer(200, body)).outputs
    assert (take.title, take.lyrics) == ("T", "la")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "message", "kind", "retryable"),
    [
        (400, "invalid parameter mv", EngineValidationError, False),
        (400, "Your prompt contains banned words", ContentPolicyError, False),
        (400, "sensitive content detected", ContentPolicyError, False),
        (401, "invalid key", AuthenticationError, False),
        (402, "no balance", BillingError, False),
        (403, "account blocked", PermissionDeniedError, False),
        (404, "not found", NotFoundError, False),
        (429, "too many requests", RateLimitError, True),
        (499, "queue full", QueueFullError, True),
        (500, "oops", ServerError, True),
        (502, "bad gateway", ServerError, True),
        (503, "maintenance", ServerError, True),
        (504, "timeout", ServerError, True),
        (418, "teapot", EngineError, False),
        (302, "moved", UnexpectedAnswerError, False),
    ],
)
def test_http_errors_map_to_their_kind(
    status: int, message: str, kind: type[EngineError], retryable: bool
) -> None:
    body = {"status": "FAILED", "message": message, "data": None}
    answer = Answer(status, body)
    error = ADAPTER.error_for(answer)
    assert type(error) is kind
    assert error.engine == "ttapi" and error.http_status == status
    assert error.code == str(status) and error.raw == body
    assert error.retryable is retryable
    assert "TTAPI Producer" in error.message and message in error.message
    for parse in (ADAPTER.parse_submit, ADAPTER.parse_poll):
        with pytest.raises(kind):
            parse("music", answer)


def test_the_engine_code_is_kept_when_sent() -> None:
    error = ADAPTER.error_for(Answer(400, {"code": 10001, "message": "bad", "data": None}))
    assert error is not None and error.code == "10001"


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), (" 2.5 ", 2.5), ("soon", None)])
def test_rate_limit_reads_retry_after_seconds(header: str, seconds: float | None) -> None:
    error = ADAPTER.error_for(Answer(429, {"message": "slow"}, {"retry-after": header}))
    assert isinstance(error, RateLimitError) and error.retry_after == seconds
    error = ADAPTER.error_for(Answer(429, {"message": "slow"}, {"Retry-After": header}))
    assert error is not None and error.retry_after == seconds


def test_retry_after_http_date_is_left_to_the_transport() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    error = ADAPTER.error_for(Answer(429, {"message": "slow"}, headers))
    assert error is not None and error.retry_after is None


def test_html_error_page_is_a_server_error_with_capped_raw() -> None:
    page = "<html>" + "x" * 10_000 + "</html>"
    error = ADAPTER.error_for(Answer(502, page, is_json=False))
    assert isinstance(error, ServerError) and error.code == "502"
    assert isinstance(error.raw, str) and len(error.raw) <= 4001
    assert "<html>" not in error.message  # the page is kept, not shown


@pytest.mark.parametrize(
    ("body", "is_json"),
    [
        ("<html>maintenance</html>", False),
        ('{"status": "SUCC', False),  # truncated
        (["a", "list"], True),
        ("a string", True),
        (None, True),
        (3, True),
    ],
)
def test_a_2xx_that_is_not_a_json_object_is_unexpected(body: Any, is_json: bool) -> None:
    answer = Answer(200, body, is_json=is_json)
    for parse in (ADAPTER.parse_submit, ADAPTER.parse_poll):
        with pytest.raises(UnexpectedAnswerError) as caught:
            parse("music", answer)
        assert caught.value.engine == "ttapi" and caught.value.http_status == 200
        assert caught.value.code == "200"
    error = ADAPTER.error_for(answer)
    assert isinstance(error, UnexpectedAnswerError)
    assert error.raw == body


def test_success_envelopes_and_job_records_are_not_errors() -> None:
    assert ADAPTER.error_for(ok({"jobId": JOB})) is None
    assert ADAPTER.error_for(Answer(200, fetch_body("FAILED", musics=None))) is None


# ---- property: garbage never breaks the poll reader

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ITEM_KEYS = st.sampled_from(
    ["musicId", "title", "lyrics", "imageUrl", "audioUrl", "videoUrl", "seed", "durations", "stems"]
)
ITEM = st.dictionaries(ITEM_KEYS, JSON | st.just("https://x.example/a.mp3"), max_size=9)
DATA = st.fixed_dictionaries(
    {},
    optional={
        "jobId": JSON,
        "action": st.sampled_from(["music", "stems", "download", "upload", "lyrics"]) | JSON,
        "progress": JSON | st.just("42%"),
        "quota": JSON,
        "musics": st.lists(ITEM | JSON, max_size=5) | JSON,
        "stems": st.dictionaries(st.text(max_size=8), JSON) | JSON,
        "downloadUrl": JSON,
    },
)
KNOWN = {"PENDING_QUEUE", "ON_QUEUE", "SUCCESS", "FAILED"}
BODY = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(sorted(KNOWN)) | JSON,
        "message": JSON,
        "jobId": JSON,
        "data": DATA | JSON,
    },
)
OPS = st.sampled_from([op.id for op in SPEC.operations] + ["unknown-op"])


@settings(max_examples=400)
@given(op=OPS, body=BODY | JSON, status=st.sampled_from([200, 201, 400, 429, 499, 500]))
def test_arbitrary_poll_bodies_never_raise_anything_but_engine_errors(
    op: str, body: Any, status: int
) -> None:
    answer = Answer(status, body)
    try:
        result = ADAPTER.parse_poll(op, answer)
    except EngineError as error:
        assert error.engine == "ttapi" and error.http_status == status
        return
    assert 200 <= status < 300
    assert result.state in RemoteState
    assert result.progress is None or 0.0 <= result.progress <= 1.0
    for take in result.outputs:
        assert take.duration_s is None or math.isfinite(take.duration_s)
        assert all(isinstance(v, str) for v in [*take.audio_urls.values(), *take.stems.values()])


@settings(max_examples=200)
@given(word=st.text(max_size=15).filter(lambda w: w.strip().upper() not in KNOWN), data=DATA)
def test_unknown_status_words_are_unknown(word: str, data: dict[str, Any]) -> None:
    status = ADAPTER.parse_poll("music", Answer(200, {"status": word, "data": data}))
    assert status.state is RemoteState.UNKNOWN


@settings(max_examples=200)
@given(op=OPS, body=BODY | JSON)
def test_arbitrary_submit_bodies_never_raise_anything_but_engine_errors(op: str, body: Any) -> None:
    try:
        result = ADAPTER.parse_submit(op, Answer(200, body))
    except EngineError:
        return
    assert result.remote_id or result.status is not None
