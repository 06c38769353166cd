"""The Evolink imitation on its own, over raw HTTP: strict, stateful, real speech.

Raw httpx on purpose: these tests check what the sandbox says on the wire (the task
object of seed 004, the error envelope and codes), independently of the adapter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest

from studio.sandbox.app import EngineSite, SandboxConfig
from studio.sandbox.engines.evolink import CREDITS_RESERVED, STATES, sandbox_of, speech_segments
from studio.sandbox.synth import decode_wav
from tests.engines.test_openapi_seeds import openapi, resolve
from tests.sandbox_support import FAST, running_site

KEY = "sandbox-evolink-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "doubao-seed-audio-1-0"
VOICE = "zh_female_vv_uranus_bigtts"
BASE = {"model": MODEL, "prompt": "Good evening, and welcome to the late news."}
QUICK = SandboxConfig(task_seconds=0.05, link_ttl_s=600.0, song_seconds=3.0)


@pytest.fixture
def site() -> Iterator[EngineSite]:
    with running_site("evolink", QUICK) as running:
        yield running


@pytest.fixture
def http(site: EngineSite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, headers=AUTH, timeout=10.0) as client:
        yield client


def task_schema() -> dict[str, Any]:
    document = openapi("evolink_generations.md")
    schema: dict[str, Any] = resolve(
        document["components"]["schemas"]["SeedAudioResponse"], document
    )
    return schema


def create(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    answer = http.post("/v1/audios/generations", json={**BASE, **fields})
    assert answer.status_code == 200, answer.text
    task: dict[str, Any] = answer.json()
    return task


def finish(http: httpx.Client, task_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = http.get(f"/v1/tasks/{task_id}").json()
        if task["status"] in ("completed", "failed"):
            return task
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s")


def speech(http: httpx.Client, **fields: Any) -> bytes:
    task = finish(http, create(http, **fields)["id"])
    assert task["status"] == "completed", task
    [url] = task["results"]
    answer = httpx.get(url, timeout=10.0)
    assert answer.status_code == 200
    return answer.content


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Token {KEY}"}],
    ids=["none", "wrong-key", "wrong-scheme"],
)
def test_a_wrong_key_gets_the_seeds_401(site: EngineSite, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=site.base_url, headers=headers) as raw:
        answer = raw.post("/v1/audios/generations", json=BASE)
        assert answer.status_code == 401
        assert answer.json() == {
            "error": {
                "code": "unauthorized",
                "message": "Invalid or expired token",
                "type": "authentication_error",
            }
        }
        assert raw.get("/v1/tasks/task-unified-1-abc").status_code == 401
    assert sandbox_of(site).task_ids() == []


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"model": "doubao-seed-tts-2"}, "model"),
        ({"model": None}, "model"),
        ({"prompt": "x" * 1501}, "prompt"),
        ({"audio_references": [VOICE] * 4}, "audio_references"),
        ({"audio_references": ["a voice with spaces"]}, "audio_references"),
        ({"audio_references": ["ftp://host/ref.wav"]}, "audio_references"),
        ({"image_urls": ["https://a.example/1.png", "https://a.example/2.png"]}, "image_urls"),
        ({"image_urls": ["scene.jpg"]}, "image_urls"),
        ({"format": "flac"}, "format"),
        ({"sample_rate": 22050}, "sample_rate"),
        ({"speech_rate": 2.5}, "speech_rate"),
        ({"speech_rate": 0.4}, "speech_rate"),
        ({"speech_rate": 1.005}, "speech_rate"),
        ({"loudness_rate": 0.49}, "loudness_rate"),
        ({"pitch_rate": 13}, "pitch_rate"),
        ({"pitch_rate": 1.5}, "pitch_rate"),
        ({"callback_url": "http://hooks.example/done"}, "callback_url"),
        ({"callback_url": "https://127.0.0.1/done"}, "callback_url"),
        ({"voice": VOICE}, "voice"),
        # Citations must name a reference that is there.
        ({"prompt": "@audio1 hello"}, "prompt"),
        ({"prompt": "@音频2 你好", "audio_references": [VOICE]}, "prompt"),
        # References and an image are mutually exclusive.
        (
            {"audio_references": [VOICE], "image_urls": ["https://a.example/1.png"]},
            "audio_references and image_urls",
        ),
    ],
)
def test_requests_outside_the_spec_get_a_400_naming_the_field(
    site: EngineSite, http: httpx.Client, fields: dict[str, Any], named: str
) -> None:
    body = {**BASE, **fields}
    answer = http.post("/v1/audios/generations", json={k: v for k, v in body.items() if v})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_parameters"
    assert named in error["message"]
    assert sandbox_of(site).task_ids() == []


def test_a_missing_prompt_gets_the_seeds_own_answer(http: httpx.Client) -> None:
    answer = http.post("/v1/audios/generations", json={"model": MODEL})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": {
            "code": "missing_text",
            "message": "Missing required parameter: prompt",
            "type": "invalid_request_error",
        }
    }


@pytest.mark.parametrize("content", [b"", b"{oops", b"[]"])
def test_a_body_that_is_not_a_json_object_is_a_400(http: httpx.Client, content: bytes) -> None:
    answer = http.post(
        "/v1/audios/generations", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_every_documented_field_at_its_limits_is_accepted(http: httpx.Client) -> None:
    task = create(
        http,
        prompt="@audio1 hello, @音频2 你好 @audio 3 bye",
        audio_references=[VOICE, "https://voices.example/ref.mp3", "en_male_demo"],
        format="pcm",
        sample_rate=8000,
        speech_rate=2.0,
        loudness_rate=0.5,
        pitch_rate=-12,
        callback_url="https://hooks.example/done",
    )
    assert task["status"] == "pending"


def test_an_unknown_task_is_a_404_in_the_error_envelope(http: httpx.Client) -> None:
    answer = http.get("/v1/tasks/task-unified-0-deadbeef")
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found_error"


# --------------------------------------------------------------------------- states


def test_the_task_object_walks_pending_processing_completed() -> None:
    with (
        running_site("evolink", FAST) as slower,
        httpx.Client(base_url=slower.base_url, headers=AUTH, timeout=10.0) as http,
    ):
        first = create(http, format="mp3")
        schema = task_schema()
        jsonschema.validate(first, schema)
        assert first["id"].startswith("task-unified-")
        assert first["object"] == "audio.generation.task" and first["type"] == "audio"
        assert first["model"] == MODEL and first["progress"] == 0
        assert first["usage"] == {"credits_reserved": CREDITS_RESERVED}
        assert first["task_info"]["audio_type"] == "audio_generation"
        assert first["task_info"]["estimated_time"] >= 1
        seen = [first["status"]]
        progress = [first["progress"]]
        deadline = time.monotonic() + 10
        while seen[-1] != "completed" and time.monotonic() < deadline:
            task = http.get(f"/v1/tasks/{first['id']}").json()
            jsonschema.validate(task, schema)
            assert task["id"] == first["id"] and task["created"] == first["created"]
            if task["status"] != seen[-1]:
                seen.append(task["status"])
            progress.append(task["progress"])
            time.sleep(0.01)
    assert seen == list(STATES)
    assert progress == sorted(progress) and progress[-1] == 100
    assert "error" not in task
    [url] = task["results"]
    assert url.startswith(slower.base_url) and ".mp3" in url


@pytest.mark.parametrize(
    ("word", "code"),
    [("FAILME", "generation_failed_no_content"), ("POLICYME", "content_policy_violation")],
)
def test_trigger_words_fail_the_task_with_its_error_code(
    http: httpx.Client, word: str, code: str
) -> None:
    task = finish(http, create(http, prompt=f"Please {word} now")["id"])
    assert task["status"] == "failed"
    assert task["error"]["code"] == code and task["error"]["message"]
    assert "results" not in task


# --------------------------------------------------------------------------- audio


def test_wav_comes_mono_at_the_requested_sample_rate(http: httpx.Client) -> None:
    for rate in (8000, 48000):
        samples, got = decode_wav(speech(http, sample_rate=rate))
        assert got == rate and samples.shape[0] == 1
        assert 0.5 < samples.shape[1] / rate < 10


def test_each_format_is_what_it_says(http: httpx.Client) -> None:
    assert speech(http)[:4] == b"RIFF"  # wav is the default
    assert speech(http, format="mp3")[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    assert speech(http, format="ogg_opus")[:4] == b"OggS"
    pcm = speech(http, format="pcm", sample_rate=16000)
    wav, _ = decode_wav(speech(http, sample_rate=16000))
    assert len(pcm) == 2 * wav.shape[1]  # raw s16le mono, the same samples


def test_rates_voice_and_image_shape_the_speech(http: httpx.Client) -> None:
    def samples(**fields: Any) -> np.ndarray:
        audio, _ = decode_wav(speech(http, **fields))
        return audio

    normal = samples()
    assert samples(speech_rate=2.0).shape[1] < 0.7 * normal.shape[1]
    quiet = samples(loudness_rate=0.5)
    assert np.abs(quiet).max() < 0.7 * np.abs(normal).max()
    assert not np.array_equal(samples(pitch_rate=7), normal)
    assert not np.array_equal(samples(audio_references=[VOICE]), normal)
    assert not np.array_equal(samples(image_urls=["https://a.example/scene.png"]), normal)


def test_citations_switch_voices() -> None:
    refs = ["en_female_a", "https://v.example/clone.wav?sig=1"]
    segments = speech_segments("Hello. @audio2 Hi there. @audio 1 Bye.", refs)
    assert [text for text, _ in segments] == ["Hello.", "Hi there.", "Bye."]
    assert segments[0][1] == segments[2][1] == "en_female_a"
    assert segments[1][1].startswith("clone-")
    # A re-signed link to the same recording is the same voice.
    resigned = refs[1].replace("sig=1", "sig=2")
    assert speech_segments("@audio1 x", [resigned])[0][1] == segments[1][1]
    assert speech_segments("plain", [])[0][1] != speech_segments("plain", refs)[0][1]


def test_result_links_expire_with_a_403(site: EngineSite, http: httpx.Client) -> None:
    task = finish(http, create(http)["id"])
    [url] = task["results"]
    assert httpx.get(url).status_code == 200
    site.media.expire(url)
    expired = httpx.get(url)
    assert expired.status_code == 403 and b"Request has expired" in expired.content


def test_the_same_request_gives_the_same_bytes_on_another_sandbox() -> None:
    def once(**fields: Any) -> bytes:
        with (
            running_site("evolink", QUICK) as other,
            httpx.Client(base_url=other.base_url, headers=AUTH, timeout=10.0) as client,
        ):
            return speech(client, **fields)

    request = {"audio_references": [VOICE], "prompt": "@audio1 Same words, same voice."}
    first = once(**request)
    assert once(**request) == first
    assert once(**{**request, "speech_rate": 1.1}) != first
