"""The TTAPI imitation spoken to with raw httpx: strictness, job states, links, real audio."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest

from studio.sandbox.app import EngineSite
from studio.sandbox.engines.ttapi import job_ids
from studio.sandbox.synth import decode_wav
from tests.sandbox_support import FAST, running_site

KEY = {"TT-API-KEY": "sandbox-ttapi-key"}
V1 = "/producer/v1"
LYRICS = "[Verse]\nLight the lamps along the shore\nHold the line forever more\n[Chorus]\nOh oh\n"
SR = 44100


@pytest.fixture(scope="module")
def site() -> Iterator[EngineSite]:
    # Jobs take a tenth of a second here: these tests chain several of them.
    with running_site("ttapi", replace(FAST, task_seconds=0.1)) as running:
        yield running


@pytest.fixture
def http(site: EngineSite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, timeout=httpx.Timeout(10.0)) as client:
        yield client


def submit(http: httpx.Client, op: str, body: dict[str, Any]) -> str:
    answer = http.post(f"{V1}/{op}", json=body, headers=KEY)
    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope["status"] == "SUCCESS" and envelope["message"] == "success"
    job_id: str = envelope["data"]["jobId"]
    return job_id


def fetch(http: httpx.Client, job_id: str) -> dict[str, Any]:
    answer = http.get(f"{V1}/fetch", params={"jobId": job_id}, headers=KEY)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def finish(http: httpx.Client, job_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = fetch(http, job_id)
        if body["status"] in ("SUCCESS", "FAILED"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.03)


def finish_all(http: httpx.Client, job_ids: list[str]) -> list[dict[str, Any]]:
    """Poll several jobs at once, so their renders run side by side on the server."""
    with ThreadPoolExecutor(max_workers=len(job_ids)) as pool:
        return list(pool.map(lambda job_id: finish(http, job_id), job_ids))


def songs(http: httpx.Client, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Finished songs' musics[0] entries, one per request (all submitted first)."""
    jobs = [submit(http, "music", {"sound_prompt": "indie pop", **extra}) for extra in requests]
    items = []
    for body in finish_all(http, jobs):
        assert body["status"] == "SUCCESS", body
        items.append(body["data"]["musics"][0])
    return items


def song(http: httpx.Client, **extra: Any) -> dict[str, Any]:
    """A finished song's musics[0] entry."""
    return songs(http, extra)[0]


def refused(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "FAILED" and body["data"] is None
    message: str = body["message"]
    return message


def audio_of(http: httpx.Client, url: str) -> tuple[np.ndarray, bytes]:
    data = httpx.get(url, timeout=10.0).content
    return (decode_wav(data)[0] if data[:4] == b"RIFF" else np.zeros(0)), data


# --------------------------------------------------------------------------- strictness


@pytest.mark.parametrize("headers", [{}, {"TT-API-KEY": "wrong"}, {"Authorization": "Bearer x"}])
def test_auth_header_must_be_the_key(http: httpx.Client, headers: dict[str, str]) -> None:
    message = refused(http.post(f"{V1}/music", json={"sound_prompt": "x"}, headers=headers), 401)
    assert "TT-API-KEY" in message
    refused(http.get(f"{V1}/fetch", params={"jobId": "x"}, headers=headers), 401)


@pytest.mark.parametrize(
    ("op", "body", "field"),
    [
        ("music", {"sound_prompt": "x", "tempo": 120}, "tempo"),  # unknown field
        ("extend", {"sound_prompt": "x", "starts": 3}, "music_id"),  # missing
        ("download", {"music_id": "m"}, "format"),  # missing
        ("music", {}, "sound_prompt or lyrics_text"),  # neither given
        ("music", {"sound_prompt": "x", "weirdness": 1.5}, "weirdness"),  # out of range
        ("music", {"sound_prompt": "x", "sound_strength": 0.1}, "sound_strength"),
        ("music", {"sound_prompt": "x", "mv": "FUZZ-9.9"}, "mv"),  # bad enum
        ("cover", {"music_id": "m", "sound_prompt": "x", "mv": "Lyria 3 preview"}, "mv"),
        ("download", {"music_id": "m", "format": "flac"}, "format"),
        ("generate-video", {"music_id": "m", "preset": "fancy"}, "preset"),
        ("music", {"sound_prompt": "x", "seed": 42}, "seed"),  # TTAPI's seed is a string
        ("music", {"sound_prompt": "x", "instrumental": "yes"}, "instrumental"),
        ("upload", {"audio_url": "ftp://host/a.mp3"}, "audio_url"),
        ("replace", {"music_id": "m", "sound_prompt": "x", "starts": 5, "ends": 2}, "ends"),
    ],
)
def test_invalid_bodies_get_400_naming_the_field(
    http: httpx.Client, op: str, body: dict[str, Any], field: str
) -> None:
    message = refused(http.post(f"{V1}/{op}", json=body, headers=KEY), 400)
    assert message.startswith(f"{field}:"), message


def test_body_must_be_a_json_object(http: httpx.Client) -> None:
    bad = {**KEY, "Content-Type": "application/json"}
    assert "JSON" in refused(http.post(f"{V1}/music", content=b"{nope", headers=bad), 400)
    assert "object" in refused(http.post(f"{V1}/music", json=["x"], headers=KEY), 400)
    assert "jobId" in refused(http.get(f"{V1}/fetch", headers=KEY), 400)


def test_unknown_ids_and_paths(http: httpx.Client) -> None:
    assert "not found" in refused(
        http.get(f"{V1}/fetch", params={"jobId": "nope"}, headers=KEY), 404
    )
    body = {"music_id": "nope", "sound_prompt": "x"}
    assert "nope" in refused(http.post(f"{V1}/cover", json=body, headers=KEY), 404)
    refused(http.post(f"{V1}/teleport", json={}, headers=KEY), 404)
    answer = http.get(f"{V1}/music", headers=KEY)
    refused(answer, 405)
    assert answer.headers["Allow"] == "POST"


# --------------------------------------------------------------------------- job states


def test_states_progress_and_fields() -> None:
    with (
        running_site("ttapi", replace(FAST, task_seconds=0.8)) as site,
        httpx.Client(base_url=site.base_url, timeout=10.0) as http,
    ):
        job_id = submit(http, "music", {"sound_prompt": "slow piano", "lyrics_text": LYRICS,
                                        "seed": "7", "title": "Shore"})  # fmt: skip
        seen: list[str] = []
        while not seen or seen[-1] != "SUCCESS":
            body = fetch(http, job_id)
            assert body["jobId"] == body["data"]["jobId"] == job_id
            word, data = body["status"], body["data"]
            if word != "SUCCESS":
                assert word in ("PENDING_QUEUE", "ON_QUEUE") and body["message"] is None
                assert data["progress"].endswith("%") and 0 <= int(data["progress"][:-1]) < 100
                item = data["musics"][0]
                assert item["musicId"] and item["audioUrl"] is None and item["title"] is None
            if not seen or seen[-1] != word:
                seen.append(word)
            time.sleep(0.02)
        assert seen == ["PENDING_QUEUE", "ON_QUEUE", "SUCCESS"]
        data = body["data"]
        assert (data["action"], data["progress"], data["quota"], data["mv"]) == (
            "music", "100%", "5", "FUZZ-2.0")  # fmt: skip
        item = data["musics"][0]
        assert (item["title"], item["seed"], item["durations"]) == ("Shore", "7", "8.00")
        assert item["lyrics"] == LYRICS and item["videoUrl"] is None
        assert item["createdAt"].endswith("Z")
        image = httpx.get(item["imageUrl"], timeout=10.0)
        assert image.content.startswith(b"\x89PNG") and image.headers["Content-Type"] == "image/png"
        audio = httpx.get(item["audioUrl"], timeout=10.0).content
        assert audio[:3] == b"ID3" or audio[:2] in (b"\xff\xfb", b"\xff\xf3")
        assert len(audio) > 50_000


def test_failme_fails_the_job(http: httpx.Client) -> None:
    job_id = submit(http, "music", {"sound_prompt": "please FAILME now"})
    body = finish(http, job_id)
    assert body["status"] == "FAILED" and "FAILME" in body["message"]
    assert body["data"]["musics"] is None and body["data"]["quota"] == "0"
    assert "FAILME" in refused(http.post(f"{V1}/lyrics", json={"prompt": "FAILME"}, headers=KEY),
                               400)  # fmt: skip


def test_edits_need_a_finished_parent(http: httpx.Client) -> None:
    job_id = submit(http, "music", {"sound_prompt": "FAILME"})
    # A queued job already names its take (as TTAPI's ON_QUEUE example does).
    music_id = fetch(http, job_id)["data"]["musics"][0]["musicId"]
    extend = {"music_id": music_id, "starts": 2, "sound_prompt": "more"}
    early = refused(http.post(f"{V1}/extend", json=extend, headers=KEY), 400)
    assert "not succeeded" in early
    assert finish(http, job_id)["status"] == "FAILED"
    late = refused(http.post(f"{V1}/extend", json=extend, headers=KEY), 400)
    assert "failed" in late
    lyrics = http.post(f"{V1}/lyrics", json={"prompt": "rain"}, headers=KEY).json()["data"]
    text_only = fetch(http, lyrics["jobId"])["data"]["musics"][0]["musicId"]
    answer = http.post(f"{V1}/stems", json={"music_id": text_only}, headers=KEY)
    assert "no audio" in refused(answer, 400)


def test_lyrics_are_synchronous_deterministic_and_fetchable(http: httpx.Client) -> None:
    answers = [
        http.post(f"{V1}/lyrics", json={"prompt": "summer rain on the harbor"}, headers=KEY)
        for _ in range(2)
    ]
    first, second = (answer.json()["data"] for answer in answers)
    assert first["lyrics"] == second["lyrics"] and first["title"] == second["title"]
    assert first["jobId"] != second["jobId"]
    assert "[Verse 1]" in first["lyrics"] and "[Chorus]" in first["lyrics"]
    body = fetch(http, first["jobId"])
    assert body["status"] == "SUCCESS" and body["data"]["action"] == "lyrics"
    assert body["data"]["musics"][0]["lyrics"] == first["lyrics"]


# --------------------------------------------------------------------------- links & audio


def test_links_expire_like_s3_and_fetch_reissues_them() -> None:
    with (
        running_site("ttapi", replace(FAST, link_ttl_s=0.2)) as site,
        httpx.Client(base_url=site.base_url, timeout=10.0) as http,
    ):
        item = song(http)
        assert httpx.get(item["audioUrl"], timeout=5.0).status_code == 200
        expires = int(parse_qs(urlsplit(item["audioUrl"]).query)["X-Expires"][0])
        time.sleep(max(0.0, expires - time.time()) + 0.05)
        stale = httpx.get(item["audioUrl"], timeout=5.0)
        assert stale.status_code == 403 and b"Request has expired" in stale.content
        assert httpx.get(item["imageUrl"], timeout=5.0).status_code == 403
        job_id = next(j for j in job_ids(site))
        fresh = fetch(http, job_id)["data"]["musics"][0]["audioUrl"]
        assert fresh != item["audioUrl"]
        assert httpx.get(fresh, timeout=5.0).status_code == 200


def test_stems_sum_to_the_mix(http: httpx.Client) -> None:
    parent = song(http, lyrics_text=LYRICS, seed="3")
    pid = parent["musicId"]
    stems_body, export_body, mp3_body = finish_all(http, [
        submit(http, "stems", {"music_id": pid}),
        submit(http, "download", {"music_id": pid, "format": "wav"}),
        submit(http, "download", {"music_id": pid, "format": "mp3"}),
    ])  # fmt: skip
    stems, export = stems_body["data"]["musics"], export_body["data"]["musics"]
    suffixes = [item["title"].rsplit(" (", 1)[1].rstrip(")") for item in stems]
    assert suffixes == ["Vocals", "Drums", "Bass", "Other"]
    assert all(item["title"].startswith(parent["title"]) for item in stems)
    assert len({item["musicId"] for item in stems}) == 4
    assert len(export) == 1 and export[0]["musicId"] == parent["musicId"]
    assert urlsplit(export[0]["audioUrl"]).path.endswith(".wav")
    mix, _ = audio_of(http, export[0]["audioUrl"])
    parts = [audio_of(http, item["audioUrl"])[0] for item in stems]
    assert mix.shape == (2, 8 * SR) and all(part.shape == mix.shape for part in parts)
    assert float(np.abs(sum(parts) - mix).max()) <= 1e-3
    assert all(float(np.abs(part).max()) > 0.01 for part in parts)
    assert urlsplit(mp3_body["data"]["musics"][0]["audioUrl"]).path.endswith(".mp3")


def test_same_request_same_audio(http: httpx.Client) -> None:
    asked = {"sound_prompt": "dream pop", "lyrics_text": LYRICS}
    first, again, other, plain, plain_again = songs(
        http,
        {**asked, "seed": "11"},
        {**asked, "seed": "11"},
        {**asked, "seed": "12"},
        {"sound_prompt": "dream pop"},
        {"sound_prompt": "dream pop"},
    )
    assert first["musicId"] != again["musicId"]
    assert audio_of(http, first["audioUrl"])[1] == audio_of(http, again["audioUrl"])[1]
    assert audio_of(http, first["audioUrl"])[1] != audio_of(http, other["audioUrl"])[1]
    # No seed: one is derived from the request, reported, and the same next time.
    assert plain["seed"] == plain_again["seed"] and plain["seed"].isdigit()
    assert audio_of(http, plain["audioUrl"])[1] == audio_of(http, plain_again["audioUrl"])[1]


def _wavs(http: httpx.Client, *music_ids: str) -> list[np.ndarray]:
    jobs = [submit(http, "download", {"music_id": mid, "format": "wav"}) for mid in music_ids]
    return [audio_of(http, body["data"]["musics"][0]["audioUrl"])[0]
            for body in finish_all(http, jobs)]  # fmt: skip


def test_edits_relate_to_their_parent(http: httpx.Client) -> None:
    parent = song(http, lyrics_text=LYRICS, seed="5")
    pid = parent["musicId"]
    bodies = finish_all(http, [
        submit(http, "extend", {"music_id": pid, "starts": 4, "sound_prompt": "more"}),
        submit(http, "replace", {"music_id": pid, "starts": 2, "ends": 5,
                                 "lyrics_text": "[Verse]\nNew words here"}),
        submit(http, "vocals-swap", {"music_id": pid, "sound_prompt": "choir"}),
    ])  # fmt: skip
    extend, replaced, swapped = (body["data"]["musics"][0] for body in bodies)
    assert extend["durations"] == "12.00" and replaced["durations"] == "8.00"
    assert extend["title"] == parent["title"]
    original, longer, patched = _wavs(http, pid, extend["musicId"], replaced["musicId"])
    assert longer.shape == (2, 12 * SR)
    assert np.array_equal(longer[:, : 4 * SR], original[:, : 4 * SR])
    assert np.array_equal(patched[:, : 2 * SR], original[:, : 2 * SR])
    assert np.array_equal(patched[:, 5 * SR :], original[:, 5 * SR :])
    assert not np.array_equal(patched[:, 3 * SR : 4 * SR], original[:, 3 * SR : 4 * SR])
    # A vocals swap keeps the backing: its drums stem is the parent's, sample for sample.
    stem_sets = finish_all(http, [submit(http, "stems", {"music_id": m})
                                  for m in (pid, swapped["musicId"])])  # fmt: skip
    drums = [audio_of(http, body["data"]["musics"][1]["audioUrl"])[0] for body in stem_sets]
    vocals = [audio_of(http, body["data"]["musics"][0]["audioUrl"])[0] for body in stem_sets]
    assert np.array_equal(drums[0], drums[1])
    assert not np.array_equal(vocals[0], vocals[1])


def test_upload_takes_own_links_only(http: httpx.Client) -> None:
    parent = song(http, seed="9")
    own = finish(http, submit(http, "upload", {"audio_url": parent["audioUrl"]}))
    assert own["status"] == "SUCCESS" and own["data"]["quota"] == "0"
    item = own["data"]["musics"][0]
    assert item["musicId"] != parent["musicId"]
    assert float(item["durations"]) == pytest.approx(8.0, abs=0.1)
    cover, foreign = finish_all(http, [
        submit(http, "cover", {"music_id": item["musicId"], "sound_prompt": "jazz"}),
        submit(http, "upload", {"audio_url": "https://example.com/a.mp3"}),
    ])  # fmt: skip
    assert cover["status"] == "SUCCESS"
    assert foreign["status"] == "FAILED" and "could not fetch" in foreign["message"]


def test_generate_video_is_a_real_mp4(site: EngineSite, http: httpx.Client) -> None:
    job_id = submit(http, "music", {"sound_prompt": "synthwave", "seed": "4"})
    parent = finish(http, job_id)["data"]["musics"][0]
    answer = http.post(f"{V1}/generate-video", json={"music_id": parent["musicId"]}, headers=KEY)
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["status"] == "complete"
    video = httpx.get(data["videoUrl"], timeout=10.0)
    assert video.content[4:8] == b"ftyp" and video.headers["Content-Type"] == "video/mp4"
    # The take now shows its video too.
    assert fetch(http, job_id)["data"]["musics"][0]["videoUrl"]
    assert job_id in job_ids(site)
