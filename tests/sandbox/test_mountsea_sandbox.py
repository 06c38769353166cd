"""The Mountsea imitation on its own, over raw HTTP: strict, stateful, real audio.

Raw httpx on purpose: these tests check what the sandbox says on the wire (status
codes, NestJS error bodies, task states), independently of the studio's adapter.
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
from studio.sandbox.engines.mountsea import STATES, SUBMIT_STATUS, sandbox_of
from studio.sandbox.synth import STEM_NAMES, decode_wav
from tests.engines.test_openapi_seeds import openapi, resolve
from tests.sandbox_support import FAST, running_site

KEY = "sandbox-mountsea-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SONG = {"action": "create_music", "soundPrompt": "lofi piano, 80 bpm", "lyrics": "[Verse]\nla la"}
# Short songs and near-instant jobs keep every test here well under a second.
QUICK = SandboxConfig(task_seconds=0.05, link_ttl_s=600.0, song_seconds=3.0)


@pytest.fixture
def site() -> Iterator[EngineSite]:
    with running_site("mountsea", QUICK) as running:
        yield running


@pytest.fixture
def http(site: EngineSite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, headers=AUTH, timeout=10.0) as client:
        yield client


def submit(http: httpx.Client, path: str, body: dict[str, Any]) -> str:
    answer = http.post(path, json=body)
    assert answer.status_code in (200, 201), answer.text
    task_id: str = answer.json()["taskId"]
    return task_id


def finish(http: httpx.Client, task_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll until the job ends; bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task: dict[str, Any] = http.get("/producer/tasks", params={"taskId": task_id}).json()
        if task["status"] in ("completed", "failed"):
            return task
        time.sleep(0.03)
    raise AssertionError(f"task {task_id} did not finish in {timeout} s")


def song(http: httpx.Client, **extra: Any) -> dict[str, Any]:
    task = finish(http, submit(http, "/producer/audios", {**SONG, **extra}))
    assert task["status"] == "completed", task
    result: dict[str, Any] = task["result"]
    return result


def fetch(url: str) -> bytes:
    answer = httpx.get(url, timeout=10.0)  # no credentials: result links are signed
    assert answer.status_code == 200, answer.text
    return answer.content


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"X-API-Key": KEY}],
    ids=["none", "wrong-key", "no-scheme", "other-header"],
)
def test_every_route_refuses_a_wrong_key_with_nests_401(
    site: EngineSite, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=site.base_url, headers=headers) as raw:
        for path in ("/producer/audios", "/producer/stems", "/producer/download-video"):
            answer = raw.post(path, json=SONG)
            assert answer.status_code == 401
            assert answer.json() == {"statusCode": 401, "message": "Unauthorized"}
        answer = raw.get("/producer/tasks", params={"taskId": "x"})
        assert answer.status_code == 401
    assert sandbox_of(site).task_ids() == []


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/producer/audios", {"soundPrompt": "x"}, "action"),
        ("/producer/audios", {**SONG, "action": "extend_music"}, "action"),
        ("/producer/audios", {**SONG, "style": "pop"}, "style"),
        ("/producer/audios", {"action": "create_music", "title": "t"}, "soundPrompt or lyrics"),
        ("/producer/audios", {**SONG, "title": "t" * 81}, "title"),
        ("/producer/audios", {**SONG, "seed": "12"}, "seed"),
        ("/producer/audios", {**SONG, "makeInstrumental": "yes"}, "makeInstrumental"),
        ("/producer/audios", {**SONG, "model": "FUZZ-2.0"}, "model"),
        ("/producer/audios", {**SONG, "imageUrl": "ftp://host/a.png"}, "imageUrl"),
        ("/producer/upload", {}, "audioUrl"),
        ("/producer/upload", {"audioUrl": "https://example.com/notes.txt"}, "audioUrl"),
        ("/producer/stems", {}, "audioId"),
        ("/producer/stems", {"audioId": 42}, "audioId"),
        ("/producer/download", {"audioId": "a", "format": "flac"}, "format"),
        ("/producer/download-video", {"audioId": "a", "preset": "retro"}, "preset"),
    ],
)
def test_requests_outside_the_spec_get_a_400_naming_the_field(
    site: EngineSite, http: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["statusCode"] == 400 and error["error"] == "Bad Request"
    assert isinstance(error["message"], list)
    assert any(message.startswith(field) for message in error["message"]), error
    assert sandbox_of(site).task_ids() == []


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_a_400(http: httpx.Client, content: bytes) -> None:
    answer = http.post(
        "/producer/audios", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["statusCode"] == 400


def test_unknown_songs_and_tasks_are_404s_and_a_missing_task_id_a_400(
    http: httpx.Client,
) -> None:
    for path in ("/producer/stems", "/producer/download", "/producer/download-video"):
        answer = http.post(path, json={"audioId": "no-such-audio"})
        assert answer.status_code == 404
        assert answer.json()["error"] == "Not Found"
    assert http.get("/producer/tasks", params={"taskId": "nope"}).status_code == 404
    missing = http.get("/producer/tasks")
    assert missing.status_code == 400
    assert "taskId" in missing.json()["message"][0]


def test_submit_answers_match_the_seeds_task_id_schema(http: httpx.Client) -> None:
    result = song(http)
    for path, body in [
        ("/producer/stems", {"audioId": result["audioId"]}),
        ("/producer/download", {"audioId": result["audioId"], "format": "mp3"}),
    ]:
        seed = "mountsea_stems.md" if path.endswith("stems") else "mountsea_download.md"
        document = openapi(seed)
        operation = document["paths"][path]["post"]
        answer = http.post(path, json=body)
        assert str(answer.status_code) in operation["responses"]
        schema = operation["responses"][str(answer.status_code)]["content"]
        jsonschema.validate(answer.json(), resolve(schema["application/json"]["schema"], document))
    assert SUBMIT_STATUS["audios"] == 201  # NestJS's default for POST
    assert http.post("/producer/audios", json=SONG).status_code == 201


# --------------------------------------------------------------------------- states


def test_a_job_walks_the_documented_states_in_order() -> None:
    with (
        running_site("mountsea", FAST) as slower,
        httpx.Client(base_url=slower.base_url, headers=AUTH, timeout=10.0) as http,
    ):
        walk_the_states(http)


def walk_the_states(http: httpx.Client) -> None:
    task_id = submit(http, "/producer/audios", SONG)
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        task = http.get("/producer/tasks", params={"taskId": task_id}).json()
        assert set(task) == {
            "taskId", "status", "result", "errorMessage", "errorCode", "traceId",
            "createdAt", "finishedAt",
        }  # fmt: skip
        assert task["taskId"] == task_id
        if not seen or seen[-1] != task["status"]:
            seen.append(task["status"])
        if task["status"] == "completed":
            break
        assert task["result"] is None and task["finishedAt"] is None
        time.sleep(0.01)
    assert seen[-1] == "completed"
    assert [STATES.index(state) for state in seen] == sorted(STATES.index(s) for s in seen)
    assert len(seen) >= 3, seen
    assert task["createdAt"].endswith("Z") and task["finishedAt"] >= task["createdAt"]
    result = task["result"]
    assert set(result) == {"audioId", "audioUrl", "duration", "title"}
    assert result["duration"] == pytest.approx(FAST.song_seconds)
    assert result["title"]
    assert fetch(result["audioUrl"])[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")


def test_failme_fails_with_a_message_a_numeric_code_and_a_trace_id(http: httpx.Client) -> None:
    task = finish(http, submit(http, "/producer/audios", {**SONG, "soundPrompt": "FAILME"}))
    assert task["status"] == "failed"
    assert task["result"] is None
    assert task["errorMessage"]
    assert isinstance(task["errorCode"], int)
    assert task["traceId"]
    assert task["finishedAt"]


def test_polls_repeat_the_same_result(http: httpx.Client) -> None:
    task_id = submit(http, "/producer/audios", SONG)
    first = finish(http, task_id)
    again = http.get("/producer/tasks", params={"taskId": task_id}).json()
    assert again == first


# --------------------------------------------------------------------------- operations


def decoded(url: str) -> np.ndarray:
    samples, rate = decode_wav(fetch(url))
    assert rate == 44100
    return samples


def test_stems_sum_to_the_mix(http: httpx.Client) -> None:
    audio_id = song(http)["audioId"]
    stems = finish(http, submit(http, "/producer/stems", {"audioId": audio_id}))["result"]
    assert set(stems) == set(STEM_NAMES)
    wav = finish(http, submit(http, "/producer/download", {"audioId": audio_id, "format": "wav"}))
    assert wav["result"]["format"] == "wav"
    mix = decoded(wav["result"]["url"])
    total = sum(decoded(stems[name]).astype(np.float64) for name in STEM_NAMES)
    assert mix.shape == (2, round(QUICK.song_seconds * 44100))
    assert np.abs(mix - total).max() <= 1e-3
    # Each stem is a real part of the song, not silence.
    assert all(np.abs(decoded(stems[name])).max() > 0.01 for name in ("drums", "bass"))


def test_downloads_come_in_each_format_with_m4a_the_default(http: httpx.Client) -> None:
    audio_id = song(http)["audioId"]
    magic = {"mp3": (b"ID3", b"\xff\xfb"), "wav": (b"RIFF",), "m4a": (b"\x00\x00\x00",)}
    for fmt in ("mp3", "wav", None):
        body = {"audioId": audio_id} if fmt is None else {"audioId": audio_id, "format": fmt}
        result = finish(http, submit(http, "/producer/download", body))["result"]
        expected = fmt or "m4a"
        assert result["format"] == expected
        data = fetch(result["url"])
        assert data.startswith(magic[expected])
        if expected == "m4a":
            assert data[4:8] == b"ftyp"


def test_download_video_serves_a_real_mp4_with_the_chosen_preset(http: httpx.Client) -> None:
    audio_id = song(http)["audioId"]
    for preset in ("simple", None):
        body = {"audioId": audio_id} if preset is None else {"audioId": audio_id, "preset": preset}
        result = finish(http, submit(http, "/producer/download-video", body))["result"]
        assert result["preset"] == (preset or "modern")
        video = fetch(result["videoUrl"])
        assert video[4:8] == b"ftyp" and b"moov" in video and b"avc1" in video


def test_upload_of_our_own_song_keeps_its_lyrics_and_exact_stems(http: httpx.Client) -> None:
    original = song(http)
    task = finish(http, submit(http, "/producer/upload", {"audioUrl": original["audioUrl"]}))
    result = task["result"]
    assert set(result) == {"id", "url", "lyrics", "isFlagged", "transcriptionJobId"}
    assert result["lyrics"] == SONG["lyrics"] and result["isFlagged"] is False
    assert result["id"] != original["audioId"]
    assert fetch(result["url"]) == fetch(original["audioUrl"])
    stems = finish(http, submit(http, "/producer/stems", {"audioId": result["id"]}))
    assert set(stems["result"]) == set(STEM_NAMES)


def test_an_uploaded_file_of_unknown_origin_splits_into_stems_that_sum_to_it(
    http: httpx.Client,
) -> None:
    audio_id = song(http)["audioId"]
    bass = finish(http, submit(http, "/producer/stems", {"audioId": audio_id}))["result"]["bass"]
    upload = finish(http, submit(http, "/producer/upload", {"audioUrl": bass}))["result"]
    assert upload["lyrics"] == ""
    stems = finish(http, submit(http, "/producer/stems", {"audioId": upload["id"]}))["result"]
    wav = finish(
        http, submit(http, "/producer/download", {"audioId": upload["id"], "format": "wav"})
    )["result"]["url"]
    total = sum(decoded(stems[name]).astype(np.float64) for name in STEM_NAMES)
    assert np.abs(decoded(wav) - total).max() <= 1e-3


@pytest.mark.parametrize(
    "url",
    ["https://example.com/song.mp3", "http://10.1.2.3/song.wav"],
    ids=["internet", "private-http"],
)
def test_uploads_of_links_the_offline_sandbox_cannot_fetch_fail(
    http: httpx.Client, url: str
) -> None:
    task = finish(http, submit(http, "/producer/upload", {"audioUrl": url}))
    assert task["status"] == "failed"
    assert "fetch" in task["errorMessage"].lower()
    assert isinstance(task["errorCode"], int) and task["traceId"]


def test_an_upload_of_an_expired_link_fails(site: EngineSite, http: httpx.Client) -> None:
    url = song(http)["audioUrl"]
    site.media.link_ttl_s = -10.0  # every link issued from now on is already expired
    stale = site.media.refresh(url)
    task = finish(http, submit(http, "/producer/upload", {"audioUrl": stale}))
    assert task["status"] == "failed" and "403" in task["errorMessage"]


def test_a_guide_image_changes_the_song_and_only_its_address_counts(http: httpx.Client) -> None:
    plain = fetch(song(http, seed=5)["audioUrl"])
    image = "https://example.com/mood.png"
    guided = fetch(song(http, seed=5, imageUrl=image)["audioUrl"])
    resigned = fetch(song(http, seed=5, imageUrl=image + "?sig=other")["audioUrl"])
    assert guided != plain
    assert resigned == guided
    task = finish(
        http,
        submit(http, "/producer/audios", {**SONG, "imageUrl": "http://192.168.1.5/a.png"}),
    )
    assert task["status"] == "failed" and "imageUrl" in task["errorMessage"]


def test_result_links_expire_with_a_403_and_a_new_export_gives_a_fresh_one(
    site: EngineSite, http: httpx.Client
) -> None:
    audio_id = song(http)["audioId"]
    body = {"audioId": audio_id, "format": "mp3"}
    url = finish(http, submit(http, "/producer/download", body))["result"]["url"]
    site.media.expire(url)
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert b"Request has expired" in expired.content
    fresh = finish(http, submit(http, "/producer/download", body))["result"]["url"]
    assert fresh != url
    assert fetch(fresh)[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")


# --------------------------------------------------------------------------- determinism


def test_the_same_request_gives_the_same_audio_on_another_sandbox() -> None:
    def render(seed: int) -> tuple[bytes, bytes]:
        with (
            running_site("mountsea", QUICK) as other,
            httpx.Client(base_url=other.base_url, headers=AUTH, timeout=10.0) as client,
        ):
            result = song(client, seed=seed, title="Same")
            wav = finish(
                client,
                submit(
                    client, "/producer/download", {"audioId": result["audioId"], "format": "wav"}
                ),
            )
            return fetch(result["audioUrl"]), fetch(wav["result"]["url"])

    first, again, other = render(11), render(11), render(12)
    assert first == again
    assert first[1] != other[1]
