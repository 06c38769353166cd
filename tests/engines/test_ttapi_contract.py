"""Contract: the studio's TtapiAdapter and EngineClient against the TTAPI sandbox, over loopback.

Every operation is submitted through the real client, polled to its end and its outputs
read by the real parser; then the transport rules under faults (retry a poll's 429,
never resend a POST, an unknown status keeps polling).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from studio.core.errors import (
    AuthenticationError,
    EngineValidationError,
    NotFoundError,
    QueueFullError,
    ServerError,
)
from studio.core.remote import RemoteState, RemoteStatus, TakeOutput
from studio.engines.client import EngineClient
from studio.net.errors import OutcomeUnknownError
from studio.sandbox.app import EngineSite
from studio.sandbox.engines.ttapi import job_ids
from studio.sandbox.faults import delay_after, override_json, status
from tests.sandbox_support import FAST, client_for, poll_until_final, run, running_site, short_read

LYRICS = "[Verse]\nLight the lamps along the shore\nHold the line forever more\n[Chorus]\nOh oh\n"


@pytest.fixture(scope="module")
def site() -> Iterator[EngineSite]:
    # Shorter jobs than FAST: the module chains a parent and its edits.
    with running_site("ttapi", replace(FAST, task_seconds=0.15)) as running:
        yield running


@pytest.fixture
def fresh_site() -> Iterator[EngineSite]:
    """A site of its own, for tests that arm faults or count requests."""
    with running_site("ttapi", replace(FAST, task_seconds=0.15)) as running:
        yield running


async def until_final(client: EngineClient, operation: str, remote_id: str) -> RemoteStatus:
    return await poll_until_final(client, operation, remote_id, timeout_s=10, interval_s=0.03)


async def make(client: EngineClient, operation: str, params: dict[str, Any]) -> RemoteStatus:
    submitted = await client.submit(operation, params, client_key="k")
    assert submitted.remote_id and submitted.status is None
    done = await until_final(client, operation, submitted.remote_id)
    assert done.remote_id == submitted.remote_id
    return done


def only_take(found: RemoteStatus) -> TakeOutput:
    assert found.state is RemoteState.SUCCEEDED, found.engine_message
    assert len(found.outputs) == 1, found.outputs
    return found.outputs[0]


@dataclass(frozen=True)
class Parent:
    music_id: str
    take: TakeOutput
    status: RemoteStatus


@pytest.fixture(scope="module")
def parent(site: EngineSite) -> Parent:
    async def go() -> Parent:
        client = client_for(site)
        try:
            found = await make(
                client,
                "music",
                {"sound_prompt": "indie pop", "lyrics_text": LYRICS, "seed": "7", "title": "Shore"},
            )
        finally:
            await client.aclose()
        take = only_take(found)
        assert take.remote_id
        return Parent(take.remote_id, take, found)

    return run(go())


# --------------------------------------------------------------------------- operations


def test_music(parent: Parent) -> None:
    take, found = parent.take, parent.status
    assert found.progress == 1.0 and found.engine_status == "SUCCESS" and found.cost == "5"
    assert take.title == "Shore" and take.lyrics == LYRICS and take.seed == "7"
    assert take.duration_s == pytest.approx(8.0)
    assert list(take.audio_urls) == ["mp3"] and take.image_url and take.video_url is None
    assert httpx.get(take.audio_urls["mp3"], timeout=5.0).status_code == 200
    assert httpx.get(take.image_url, timeout=5.0).content.startswith(b"\x89PNG")


def test_lyrics_is_synchronous_and_fetchable(site: EngineSite) -> None:
    async def go() -> None:
        client = client_for(site)
        try:
            submitted = await client.submit("lyrics", {"prompt": "night drive"}, client_key="k")
            assert submitted.status is not None and submitted.remote_id
            assert submitted.status.state is RemoteState.SUCCEEDED
            take = submitted.status.outputs[0]
            assert take.title and take.lyrics and "[Chorus]" in take.lyrics
            fetched = await client.poll("lyrics", submitted.remote_id)
            assert only_take(fetched).lyrics == take.lyrics
            # The fetch operation itself, submitted like any other.
            direct = await client.submit("fetch", {"jobId": submitted.remote_id}, client_key="k")
            assert direct.status is not None and direct.status.state is RemoteState.SUCCEEDED
            assert direct.remote_id == submitted.remote_id
        finally:
            await client.aclose()

    run(go())


EDITS: dict[str, dict[str, Any]] = {
    "extend": {"starts": 4.0, "sound_prompt": "more", "lyrics_text": "[Chorus]\nAgain"},
    "cover": {"sound_prompt": "jazz trio"},
    "variation": {},
    "replace": {"starts": 2.0, "ends": 5.0, "lyrics_text": "[Verse]\nNew words"},
    "vocals-swap": {"sound_prompt": "choir"},
    "instrumentals-swap": {"sound_prompt": "acoustic", "cover_strength": 0.5},
}


def test_every_edit(site: EngineSite, parent: Parent) -> None:
    async def go() -> dict[str, RemoteStatus]:
        client = client_for(site)
        try:
            done = await asyncio.gather(
                *(make(client, op, {"music_id": parent.music_id, **extra})
                  for op, extra in EDITS.items())
            )  # fmt: skip
        finally:
            await client.aclose()
        return dict(zip(EDITS, done, strict=True))

    results = run(go())
    for op, found in results.items():
        take = only_take(found)
        assert take.remote_id and take.remote_id != parent.music_id, op
        assert take.audio_urls.get("mp3") and take.image_url and take.seed, op
        assert take.title == "Shore", op
        expected = 12.0 if op == "extend" else 8.0
        assert take.duration_s == pytest.approx(expected), op
        assert found.raw["data"]["action"] == op


def test_stems_by_name(site: EngineSite, parent: Parent) -> None:
    async def go() -> RemoteStatus:
        client = client_for(site)
        try:
            return await make(client, "stems", {"music_id": parent.music_id})
        finally:
            await client.aclose()

    take = only_take(run(go()))
    assert set(take.stems) == {"vocals", "drums", "bass", "other"}
    assert take.title == "Shore" and take.duration_s == pytest.approx(8.0)
    assert all(httpx.get(url, timeout=5.0).content[:4] == b"RIFF" for url in take.stems.values())


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_download(site: EngineSite, parent: Parent, fmt: str) -> None:
    async def go() -> RemoteStatus:
        client = client_for(site)
        try:
            return await make(client, "download", {"music_id": parent.music_id, "format": fmt})
        finally:
            await client.aclose()

    take = only_take(run(go()))
    assert take.download_url and take.download_format == fmt and take.audio_urls == {}
    assert take.remote_id == parent.music_id
    head = httpx.get(take.download_url, timeout=5.0).content[:4]
    assert head == b"RIFF" if fmt == "wav" else head != b"RIFF"


def test_upload_then_edit_it(site: EngineSite, parent: Parent) -> None:
    async def go() -> tuple[RemoteStatus, RemoteStatus]:
        client = client_for(site)
        try:
            uploaded = await make(client, "upload", {"audio_url": parent.take.audio_urls["mp3"]})
            new_id = only_take(uploaded).remote_id
            assert new_id and new_id != parent.music_id
            edited = await make(client, "extend", {"music_id": new_id, "starts": 3.0,
                                                   "sound_prompt": "keep going"})  # fmt: skip
            return uploaded, edited
        finally:
            await client.aclose()

    uploaded, edited = run(go())
    assert uploaded.cost == "0"
    assert only_take(uploaded).duration_s == pytest.approx(8.0, abs=0.1)
    assert only_take(edited).duration_s == pytest.approx(11.0, abs=0.1)


def test_generate_video(site: EngineSite, parent: Parent) -> None:
    async def go() -> RemoteStatus | None:
        client = client_for(site)
        try:
            params = {"music_id": parent.music_id, "preset": "player"}
            return (await client.submit("generate-video", params, client_key="k")).status
        finally:
            await client.aclose()

    found = run(go())
    assert found is not None and found.state is RemoteState.SUCCEEDED
    video = found.outputs[0].video_url
    assert video
    assert httpx.get(video, timeout=5.0).content[4:8] == b"ftyp"


def test_failed_job_and_refusals(site: EngineSite, parent: Parent) -> None:
    async def go() -> RemoteStatus:
        client = client_for(site)
        try:
            with pytest.raises(NotFoundError):
                await client.submit("cover", {"music_id": "nope", "sound_prompt": "x"},
                                    client_key="k")  # fmt: skip
            with pytest.raises(NotFoundError):
                await client.poll("music", "no-such-job")
            running = await client.submit("music", {"sound_prompt": "slow"}, client_key="k")
            queued = await client.poll("music", running.remote_id or "")
            assert queued.state in (RemoteState.QUEUED, RemoteState.RUNNING)
            assert queued.outputs and queued.outputs[0].remote_id  # named while queued
            with pytest.raises(EngineValidationError):
                await client.submit("extend", {"music_id": queued.outputs[0].remote_id,
                                               "starts": 1.0, "sound_prompt": "x"},
                                    client_key="k")  # fmt: skip
            return await make(client, "music", {"sound_prompt": "FAILME please"})
        finally:
            await client.aclose()

    failed = run(go())
    assert failed.state is RemoteState.FAILED and failed.outputs == []
    assert failed.engine_message and "FAILME" in failed.engine_message
    wrong = client_for(site, {"api_key": "not-the-key"})

    async def bad_key() -> None:
        try:
            with pytest.raises(AuthenticationError):
                await wrong.poll("music", "x")
        finally:
            await wrong.aclose()

    run(bad_key())


# --------------------------------------------------------------------------- faults


def test_fetch_429_with_retry_after_is_retried(fresh_site: EngineSite) -> None:
    busy = {"status": "FAILED", "message": "too many requests", "data": None}
    fresh_site.server.faults.add("fetch", status(429, busy, {"Retry-After": "1"}))

    async def go() -> float:
        client = client_for(fresh_site)
        try:
            lyrics = await client.submit("lyrics", {"prompt": "x"}, client_key="k")
            started = time.monotonic()
            found = await client.poll("lyrics", lyrics.remote_id or "")
            assert found.state is RemoteState.SUCCEEDED
            return time.monotonic() - started
        finally:
            await client.aclose()

    assert run(go()) >= 0.9  # Retry-After honoured
    assert len(fresh_site.server.requests(method="GET", route="fetch")) == 2


def test_499_on_submit_is_queue_full(fresh_site: EngineSite) -> None:
    full = {"status": "FAILED", "message": "queue is full", "data": None}
    fresh_site.server.faults.add("music", status(499, full))

    async def go() -> None:
        client = client_for(fresh_site)
        try:
            with pytest.raises(QueueFullError) as caught:
                await client.submit("music", {"sound_prompt": "x"}, client_key="k")
            assert caught.value.http_status == 499
        finally:
            await client.aclose()

    run(go())
    assert len(fresh_site.server.requests(method="POST", route="music")) == 1
    assert job_ids(fresh_site) == []


def test_500_on_submit_is_not_retried(fresh_site: EngineSite) -> None:
    fresh_site.server.faults.add("cover", status(500), times=None)

    async def go() -> None:
        client = client_for(fresh_site)
        try:
            with pytest.raises(ServerError):
                await client.submit("cover", {"music_id": "m", "sound_prompt": "x"},
                                    client_key="k")  # fmt: skip
        finally:
            await client.aclose()

    run(go())
    assert len(fresh_site.server.requests(method="POST", route="cover")) == 1


def test_read_timeout_after_the_job_exists_is_outcome_unknown(fresh_site: EngineSite) -> None:
    fresh_site.server.faults.add("music", delay_after(3.0))

    async def go() -> None:
        client = client_for(fresh_site, timeout=short_read(0.3))
        try:
            with pytest.raises(OutcomeUnknownError):
                await client.submit("music", {"sound_prompt": "x"}, client_key="k")
        finally:
            await client.aclose()

    run(go())
    posts = fresh_site.server.requests(method="POST", route="music")
    assert len(posts) == 1 and posts[0].handled
    assert len(job_ids(fresh_site)) == 1  # the job exists: reconcile, never resend


def test_unknown_status_word_is_unknown(fresh_site: EngineSite) -> None:
    fresh_site.server.faults.add("fetch", override_json({"status": "PAUSED_BY_VENDOR"}))

    async def go() -> tuple[RemoteStatus, RemoteStatus]:
        client = client_for(fresh_site)
        try:
            job = await client.submit("music", {"sound_prompt": "x"}, client_key="k")
            odd = await client.poll("music", job.remote_id or "")
            return odd, await until_final(client, "music", job.remote_id or "")
        finally:
            await client.aclose()

    odd, final = run(go())
    assert odd.state is RemoteState.UNKNOWN and odd.engine_status == "PAUSED_BY_VENDOR"
    assert final.state is RemoteState.SUCCEEDED
