"""Every request the adapters emit validates against the vendors' own OpenAPI schemas.

The schemas come from the vendor pages kept in ``seeds/`` (fenced ```yaml blocks,
four backticks because the YAML itself contains ``` fences). The spec's enums and
ranges are also checked against the schemas, so a vendor change shows up here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.errors import (
    AuthenticationError,
    BillingError,
    EngineError,
    EngineValidationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from studio.engines import evolink, mountsea
from studio.engines.adapter import Answer, ApiRequest

SEEDS = Path(__file__).parent / "seeds"
# A fence of three or more backticks whose info string starts with "yaml", closed by
# the same number of backticks at the start of a line (inner, indented ``` stay inside).
_FENCE = re.compile(r"^(?P<fence>`{3,})yaml[^\n]*\n(?P<body>.*?)^(?P=fence)(?!`)", re.M | re.S)

MOUNTSEA = mountsea.MountseaAdapter()
EVOLINK = evolink.EvolinkAdapter()
VOICE = "zh_female_vv_uranus_bigtts"


# --------------------------------------------------------------------------- loading


def yaml_blocks(name: str) -> list[dict[str, Any]]:
    text = (SEEDS / name).read_text(encoding="utf-8")
    return [yaml.safe_load(match.group("body")) for match in _FENCE.finditer(text)]


@cache
def openapi(name: str) -> dict[str, Any]:
    [document] = [block for block in yaml_blocks(name) if "openapi" in block]
    return document


def resolve(node: Any, document: Mapping[str, Any]) -> Any:
    """Inline every local ``$ref`` (sibling keys such as ``description`` are kept)."""
    if isinstance(node, list):
        return [resolve(item, document) for item in node]
    if not isinstance(node, Mapping):
        return node
    if "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        merged = {**resolve(target, document), **{k: v for k, v in node.items() if k != "$ref"}}
        return resolve(merged, document)
    return {key: resolve(value, document) for key, value in node.items()}


def request_schema(name: str, path: str) -> dict[str, Any]:
    document = openapi(name)
    body = document["paths"][path]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    resolved: dict[str, Any] = resolve(schema, document)
    return resolved


def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``multipleOf`` on the decimal text we send, not on binary floats.

    jsonschema divides floats (1.13 / 0.01 = 112.99999999999999 fails), but the
    wire carries the JSON text "1.13", which is an exact multiple of 0.01.
    """
    if not validator.is_type(instance, "number"):
        return
    quotient = Decimal(repr(instance)) / Decimal(repr(divisor))
    if quotient != quotient.to_integral_value():
        yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {divisor!r}")


DecimalValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"multipleOf": _multiple_of}
)


def assert_valid(request: ApiRequest, schema: dict[str, Any]) -> None:
    assert request.method == "POST"
    assert request.json is not None
    # What goes on the wire is JSON text: validate that, not the Python objects.
    sent = json.loads(json.dumps(request.json))
    DecimalValidator.check_schema(schema)
    errors = sorted(DecimalValidator(schema).iter_errors(sent), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    # The schemas allow extra properties; we still never send a field they do not name.
    assert set(sent) <= set(schema["properties"]), set(sent) - set(schema["properties"])


def test_every_seed_has_one_openapi_document() -> None:
    for name in ("mountsea_download.md", "mountsea_stems.md", "evolink_generations.md"):
        document = openapi(name)
        assert document["openapi"].startswith("3.")
    # The Evolink page nests a ``` block inside the YAML: the four-backtick fence holds it.
    security = openapi("evolink_generations.md")["components"]["securitySchemes"]
    assert "Authorization: Bearer" in security["bearerAuth"]["description"]


def test_decimal_multiple_of_is_exact() -> None:
    schema = {"type": "number", "multipleOf": 0.01}
    assert DecimalValidator(schema).is_valid(1.13)
    assert DecimalValidator(schema).is_valid(2)
    assert not DecimalValidator(schema).is_valid(1.131)


# --------------------------------------------------------------------------- Mountsea


DOWNLOAD = request_schema("mountsea_download.md", "/producer/download")
STEMS = request_schema("mountsea_stems.md", "/producer/stems")


@pytest.mark.parametrize("fmt", [None, "mp3", "m4a", "wav"])
@pytest.mark.parametrize("audio_id", ["aud_1", "  spaced-id  ", "0"])
def test_download_requests_match_the_vendor_schema(fmt: str | None, audio_id: str) -> None:
    params = {"audioId": audio_id} | ({"format": fmt} if fmt else {})
    request = MOUNTSEA.build_submit("download", params, client_key="k")
    assert request.path == "/producer/download"
    assert_valid(request, DOWNLOAD)


@pytest.mark.parametrize("audio_id", ["aud_1", "x", " 123 "])
def test_stems_requests_match_the_vendor_schema(audio_id: str) -> None:
    request = MOUNTSEA.build_submit("stems", {"audioId": audio_id}, client_key="k")
    assert request.path == "/producer/stems"
    assert_valid(request, STEMS)


@settings(max_examples=100)
@given(
    audio_id=st.text(min_size=1, max_size=40).filter(str.strip),
    fmt=st.sampled_from(mountsea.DOWNLOAD_FORMATS) | st.none(),
)
def test_any_valid_download_request_matches(audio_id: str, fmt: str | None) -> None:
    params = {"audioId": audio_id} | ({"format": fmt} if fmt else {})
    assert_valid(MOUNTSEA.build_submit("download", params, client_key="k"), DOWNLOAD)
    assert_valid(MOUNTSEA.build_submit("stems", {"audioId": audio_id}, client_key="k"), STEMS)


def test_mountsea_spec_agrees_with_the_schemas() -> None:
    download = mountsea.SPEC.operation("download")
    fmt = DOWNLOAD["properties"]["format"]
    assert tuple(fmt["enum"]) == download.field("format").choices
    assert fmt["default"] == download.field("format").default
    assert set(DOWNLOAD["required"]) == {f.name for f in download.fields if f.required}
    assert set(DOWNLOAD["properties"]) == {f.name for f in download.fields}
    stems = mountsea.SPEC.operation("stems")
    assert set(STEMS["required"]) == {f.name for f in stems.fields if f.required}
    assert set(STEMS["properties"]) == {f.name for f in stems.fields}
    for op_id, name in (("download", "mountsea_download.md"), ("stems", "mountsea_stems.md")):
        op = mountsea.SPEC.operation(op_id)
        assert op.path in openapi(name)["paths"]
        assert openapi(name)["servers"][0]["url"] == mountsea.SPEC.info.default_base_url


def test_mountsea_submit_answer_schema_is_what_the_adapter_reads() -> None:
    responses = openapi("mountsea_download.md")["paths"]["/producer/download"]["post"]["responses"]
    assert {"200", "201"} <= set(responses)
    task_id = resolve(
        responses["201"]["content"]["application/json"]["schema"], openapi("mountsea_download.md")
    )
    assert task_id["required"] == ["taskId"]
    assert MOUNTSEA.parse_submit("download", Answer(201, {"taskId": "t"})).remote_id == "t"


# --------------------------------------------------------------------------- Evolink


GENERATIONS = request_schema("evolink_generations.md", "/v1/audios/generations")
CREATE = evolink.SPEC.operation("generations")

REPRESENTATIVE: list[dict[str, Any]] = [
    {"prompt": "欢迎使用音频生成服务，今天天气真不错。"},
    {"prompt": "x" * 1500},
    {"prompt": "各位听众朋友，大家好。", "audio_references": [VOICE], "speech_rate": 1.25},
    {"prompt": "@音频1 你好呀", "audio_references": ["https://example.com/ref-voice.mp3"]},
    {
        "prompt": "@音频1 你好呀，@audio 2 今天过得怎么样？@audio3",
        "audio_references": [VOICE, "https://example.com/a.mp3", "https://example.com/b.wav"],
    },
    {"prompt": "用画面里的氛围合成一段旁白。", "image_urls": ["https://example.com/scene.jpg"]},
    *({"prompt": "fmt", "format": fmt} for fmt in evolink.FORMATS),
    *({"prompt": "rate", "sample_rate": rate} for rate in evolink.SAMPLE_RATES),
    *(
        {"prompt": "r", name: value}
        for name in ("speech_rate", "loudness_rate")
        for value in (0.5, 0.51, 1, 1.0, 1.13, 1.99, 2, 2.0)
    ),
    *({"prompt": "p", "pitch_rate": pitch} for pitch in (-12, -1, 0, 1, 12)),
    {"prompt": "cb", "callback_url": "https://your-domain.com/webhooks/audio-completed"},
    {
        "prompt": "@audio1 all of it",
        "audio_references": [VOICE],
        "format": "ogg_opus",
        "sample_rate": 8000,
        "speech_rate": 0.5,
        "loudness_rate": 2.0,
        "pitch_rate": 12,
        "callback_url": "https://h.example/" + "a" * 2000,
        "model": evolink.MODEL,
    },
]


@pytest.mark.parametrize("params", REPRESENTATIVE, ids=lambda p: ",".join(sorted(p)))
def test_generation_requests_match_the_vendor_schema(params: dict[str, Any]) -> None:
    request = EVOLINK.build_submit("generations", params, client_key="k")
    assert request.path == "/v1/audios/generations"
    assert_valid(request, GENERATIONS)


def test_vendor_examples_are_accepted_and_rebuilt_identically() -> None:
    post = openapi("evolink_generations.md")["paths"]["/v1/audios/generations"]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert len(examples) == 5
    for example in examples.values():
        request = EVOLINK.build_submit("generations", example["value"], client_key="k")
        assert request.json == example["value"]
        assert_valid(request, GENERATIONS)


hundredths = st.integers(50, 200).map(lambda n: n / 100)
references = st.lists(
    st.sampled_from([VOICE, "https://example.com/ref.mp3", "voice_b", "https://x.example/r.wav"]),
    min_size=1,
    max_size=3,
)


@st.composite
def generation_params(draw: st.DrawFn) -> dict[str, Any]:
    params: dict[str, Any] = {}
    mode = draw(st.sampled_from(["text", "voices", "image"]))
    # Random text must not cite by accident: only the citations drawn below may.
    prompt = draw(st.text(min_size=1, max_size=200).filter(str.strip)).replace("@", "at ")
    if mode == "voices":
        refs = draw(references)
        params["audio_references"] = refs
        cited = draw(st.lists(st.integers(1, len(refs)), max_size=3))
        prompt = " ".join([*(f"@audio{n}" for n in cited), prompt])
    elif mode == "image":
        params["image_urls"] = ["https://example.com/scene.png"]
    params["prompt"] = prompt[:1500]
    optional = {
        "format": st.sampled_from(evolink.FORMATS),
        "sample_rate": st.sampled_from(evolink.SAMPLE_RATES),
        "speech_rate": hundredths,
        "loudness_rate": hundredths,
        "pitch_rate": st.integers(-12, 12),
        "callback_url": st.just("https://hooks.example/a"),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            params[name] = draw(strategy)
    return params


@settings(max_examples=300)
@given(generation_params())
def test_any_valid_generation_request_matches(params: dict[str, Any]) -> None:
    assert_valid(EVOLINK.build_submit("generations", params, client_key="k"), GENERATIONS)


def test_evolink_spec_agrees_with_the_schema() -> None:
    props = GENERATIONS["properties"]
    assert set(props) == {f.name for f in CREATE.fields}
    assert set(GENERATIONS["required"]) == {f.name for f in CREATE.fields if f.required}
    assert tuple(props["model"]["enum"]) == CREATE.field("model").choices
    assert props["model"]["default"] == CREATE.field("model").default == evolink.MODEL
    assert props["prompt"]["maxLength"] == CREATE.field("prompt").max_length
    assert props["audio_references"]["maxItems"] == CREATE.field("audio_references").max_length
    assert props["image_urls"]["maxItems"] == CREATE.field("image_urls").max_length
    for name in ("format", "sample_rate"):
        assert tuple(props[name]["enum"]) == CREATE.field(name).choices
        assert props[name]["default"] == CREATE.field(name).default
    for name in ("speech_rate", "loudness_rate", "pitch_rate"):
        field = CREATE.field(name)
        assert props[name]["minimum"] == field.minimum
        assert props[name]["maximum"] == field.maximum
        assert props[name]["default"] == field.default
        assert props[name].get("multipleOf") == field.step
    assert props["pitch_rate"]["type"] == "integer"
    assert CREATE.field("pitch_rate").type.value == "integer"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        ("400", EngineValidationError),
        ("401", AuthenticationError),
        ("402", BillingError),
        ("403", PermissionDeniedError),
        ("429", RateLimitError),
        ("500", ServerError),
    ],
)
def test_every_error_example_in_the_seed_maps(status: str, cls: type[EngineError]) -> None:
    post = openapi("evolink_generations.md")["paths"]["/v1/audios/generations"]["post"]
    example = post["responses"][status]["content"]["application/json"]["example"]
    error = EVOLINK.error_for(Answer(int(status), example))
    assert type(error) is cls
    assert error.code == example["error"]["code"]
    assert error.detail == example["error"]["message"]


def test_every_error_status_in_the_seed_is_covered() -> None:
    post = openapi("evolink_generations.md")["paths"]["/v1/audios/generations"]["post"]
    listed = {int(code) for code in post["responses"] if code != "200"}
    assert listed == {400, 401, 402, 403, 429, 500}


def test_submit_answer_example_parses() -> None:
    schema = openapi("evolink_generations.md")["components"]["schemas"]["SeedAudioResponse"]
    example = {
        name: prop["example"]
        for name, prop in resolve(schema, openapi("evolink_generations.md"))["properties"].items()
        if "example" in prop
    }
    example |= {"status": "pending", "object": "audio.generation.task"}
    example["task_info"] = {"can_cancel": True, "estimated_time": 15, "audio_type": "x"}
    example["usage"] = {"credits_reserved": 9.6}
    result = EVOLINK.parse_submit("generations", Answer(200, example))
    assert result.remote_id == "task-unified-1775200000-abcd1234"
    assert result.status is not None and result.status.cost == "9.6"
    statuses = resolve(schema, openapi("evolink_generations.md"))["properties"]["status"]["enum"]
    for word in statuses:
        state = evolink.parse_task({**example, "status": word}).state
        assert state.value != "unknown", word
