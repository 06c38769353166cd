"""Contract: the studio's Mountsea adapter and client against the sandbox, over loopback.

Every operation goes through the real code path (EngineClient → studio.net → a real
socket → the sandbox), is polled to its end, and its outputs are parsed into the
normalised model. Faults armed on the sandbox's routes play the transport cases:
retried polls, unretried submits, lost answers, junk answers, unknown states.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from studio.core.errors import (
    AuthenticationError,
    NotFoundError,
    ServerError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteState, RemoteStatus, TakeOutput
from studio.engines.client import EngineClient
from studio.net.errors import OutcomeUnknownError
from studio.sandbox.app import EngineSite, SandboxConfig
from studio.sandbox.engines.mountsea import sandbox_of
from studio.sandbox.faults import (
    delay_after,
    html_error,
    malformed_json,
    override_json,
    status,
)
from tests.sandbox_support import client_for, poll_until_final, run, running_site, short_read

CONFIG = SandboxConfig(task_seconds=0.05, link_ttl_s=600.0, song_seconds=3.0)
SONG = {"soundPrompt": "dream pop, 100 bpm", "lyrics": "[Chorus]\nstay awake", "title": "Awake"}


@pytest.fixture
def site() -> Iterator[EngineSite]:
    with running_site("mountsea", CONFIG) as running:
        yield running


async def until_final(client: EngineClient, operation: str, remote_id: str) -> RemoteStatus:
    return await poll_until_final(client, operation, remote_id, timeout_s=10)


async def submit(client: EngineClient, operation: str, params: dict[str, Any]) -> str:
    """Submit and return the job's id (Mountsea always gives one)."""
    submitted = await client.submit(operation, params, client_key="k")
    assert submitted.remote_id
    return submitted.remote_id


async def complete(client: EngineClient, operation: str, params: dict[str, Any]) -> TakeOutput:
    final = await until_final(client, operation, await submit(client, operation, params))
    assert final.state is RemoteState.SUCCEEDED, final
    assert final.progress == 1.0 and final.engine_status == "completed"
    [output] = final.outputs
    return output


def fetch(url: str) -> bytes:
    answer = httpx.get(url, timeout=10.0)
    assert answer.status_code == 200
    return answer.content


# --------------------------------------------------------------------------- operations


def test_every_operation_end_to_end(site: EngineSite) -> None:
    async def scenario() -> dict[str, TakeOutput]:
        client = client_for(site)
        try:
            song = await complete(client, "audios", SONG)
            assert song.remote_id
            parent = {"audioId": song.remote_id}
            return {
                "song": song,
                "guided": await complete(
                    client, "audios", {**SONG, "imageUrl": "https://img.example/a.png"}
                ),
                "stems": await complete(client, "stems", parent),
                "wav": await complete(client, "download", {**parent, "format": "wav"}),
                "default": await complete(client, "download", parent),
                "video": await complete(client, "download-video", {**parent, "preset": "player"}),
                "upload": await complete(client, "upload", {"audioUrl": song.audio_urls["mp3"]}),
            }
        finally:
            await client.aclose()

    out = run(scenario())
    song = out["song"]
    assert set(song.audio_urls) == {"mp3"}
    assert song.title == "Awake" and song.duration_s == pytest.approx(CONFIG.song_seconds)
    assert fetch(song.audio_urls["mp3"])[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    assert out["guided"].remote_id != song.remote_id
    assert set(out["stems"].stems) == {"vocals", "drums", "bass", "other"}
    assert all(fetch(url)[:4] == b"RIFF" for url in out["stems"].stems.values())
    assert out["wav"].download_format == "wav" and out["wav"].download_url
    assert fetch(out["wav"].download_url)[:4] == b"RIFF"
    assert out["default"].download_format == "m4a"
    assert out["video"].video_url and fetch(out["video"].video_url)[4:8] == b"ftyp"
    upload = out["upload"]
    assert upload.remote_id and upload.remote_id != song.remote_id
    assert upload.lyrics == SONG["lyrics"]
    assert set(upload.audio_urls) == {"mp3"}
    assert len(sandbox_of(site).task_ids()) == 7


def test_the_tasks_operation_answers_at_once(site: EngineSite) -> None:
    async def scenario() -> RemoteStatus:
        client = client_for(site)
        try:
            submitted = await client.submit("audios", SONG, client_key="k")
            assert submitted.status is None  # Mountsea's submit carries no state
            task_id = {"taskId": submitted.remote_id}
            looked_up = await client.submit("tasks", task_id, client_key="")
            assert looked_up.remote_id == submitted.remote_id
            assert looked_up.status is not None
            return looked_up.status
        finally:
            await client.aclose()

    state = run(scenario())
    assert state.state in (RemoteState.QUEUED, RemoteState.RUNNING, RemoteState.SUCCEEDED)


def test_a_failed_job_carries_its_message_and_code(site: EngineSite) -> None:
    async def scenario() -> RemoteStatus:
        client = client_for(site)
        try:
            task_id = await submit(client, "audios", {"soundPrompt": "FAILME"})
            return await until_final(client, "audios", task_id)
        finally:
            await client.aclose()

    final = run(scenario())
    assert final.state is RemoteState.FAILED
    assert final.engine_message and "failed" in final.engine_message.lower()
    assert final.error_code and final.error_code.isdigit()


def test_a_wrong_key_and_an_unknown_song_are_typed_errors(site: EngineSite) -> None:
    async def scenario() -> None:
        wrong = client_for(site, {"api_key": "not-the-key"})
        client = client_for(site)
        try:
            with pytest.raises(AuthenticationError):
                await wrong.submit("audios", SONG, client_key="k")
            with pytest.raises(NotFoundError):
                await client.submit("stems", {"audioId": "gone"}, client_key="k")
            with pytest.raises(NotFoundError):
                await client.poll("audios", "no-such-task")
        finally:
            await wrong.aclose()
            await client.aclose()

    run(scenario())
    assert sandbox_of(site).task_ids() == []


# --------------------------------------------------------------------------- faults


def test_a_429_on_a_poll_is_retried_after_retry_after(site: EngineSite) -> None:
    site.server.faults.add(
        "tasks", status(429, {"statusCode": 429, "message": "Too Many Requests"},
                        {"Retry-After": "1"}),
    )  # fmt: skip

    async def scenario() -> tuple[RemoteStatus, float]:
        client = client_for(site)
        try:
            task_id = await submit(client, "audios", SONG)
            started = time.monotonic()
            state = await client.poll("audios", task_id)
            return state, time.monotonic() - started
        finally:
            await client.aclose()

    state, waited = run(scenario())
    assert state.state is not RemoteState.UNKNOWN
    assert waited >= 0.9  # Retry-After honoured, not the 10 ms test backoff
    assert len(site.server.requests(method="GET", route="tasks")) == 2


@pytest.mark.parametrize("code", [500, 503])
def test_a_server_error_on_submit_is_not_retried(site: EngineSite, code: int) -> None:
    site.server.faults.add("audios", status(code), times=None)

    async def scenario() -> None:
        client = client_for(site)
        try:
            with pytest.raises(ServerError) as caught:
                await client.submit("audios", SONG, client_key="k")
            assert caught.value.http_status == code
        finally:
            await client.aclose()

    run(scenario())
    assert len(site.server.requests(method="POST")) == 1


def test_a_read_timeout_after_the_job_was_created_is_an_unknown_outcome(
    site: EngineSite,
) -> None:
    # The handler runs (the job exists), then the answer is held past the read timeout.
    site.server.faults.add("audios", delay_after(3.0))

    async def scenario() -> None:
        client = client_for(site, timeout=short_read(0.3))
        try:
            with pytest.raises(OutcomeUnknownError):
                await client.submit("audios", SONG, client_key="k")
        finally:
            await client.aclose()

    run(scenario())
    assert site.server.wait_for_requests(lambda log: all(entry.handled for entry in log))
    assert len(site.server.requests(method="POST")) == 1
    assert len(sandbox_of(site).task_ids()) == 1


JUNK = {
    "html": html_error(200),  # a captive portal or gateway page, sent as a success
    "json": malformed_json(b'{"taskId": "x", "status": "compl'),
}


@pytest.mark.parametrize("junk", sorted(JUNK))
def test_junk_answers_to_a_submit_are_unexpected(site: EngineSite, junk: str) -> None:
    site.server.faults.add("audios", JUNK[junk])

    async def scenario() -> None:
        client = client_for(site)
        try:
            with pytest.raises(UnexpectedAnswerError):
                await client.submit("audios", SONG, client_key="k")
        finally:
            await client.aclose()

    run(scenario())
    assert len(site.server.requests(method="POST")) == 1


@pytest.mark.parametrize("junk", sorted(JUNK))
def test_junk_answers_to_a_poll_are_unexpected(site: EngineSite, junk: str) -> None:
    site.server.faults.add("tasks", JUNK[junk])

    async def scenario() -> None:
        client = client_for(site)
        try:
            task_id = await submit(client, "audios", SONG)
            with pytest.raises(UnexpectedAnswerError):
                await client.poll("audios", task_id)
        finally:
            await client.aclose()

    run(scenario())


def test_an_html_gateway_error_on_submit_is_a_server_error_sent_once(site: EngineSite) -> None:
    site.server.faults.add("audios", html_error(502))

    async def scenario() -> None:
        client = client_for(site)
        try:
            with pytest.raises(ServerError):
                await client.submit("audios", SONG, client_key="k")
        finally:
            await client.aclose()

    run(scenario())
    assert len(site.server.requests(method="POST")) == 1


def test_an_unknown_status_word_means_unknown_keep_polling(site: EngineSite) -> None:
    site.server.faults.add("tasks", override_json({"status": "paused", "result": None}))

    async def scenario() -> tuple[RemoteStatus, RemoteStatus]:
        client = client_for(site)
        try:
            task_id = await submit(client, "audios", SONG)
            odd = await client.poll("audios", task_id)
            return odd, await until_final(client, "audios", task_id)
        finally:
            await client.aclose()

    odd, final = run(scenario())
    assert odd.state is RemoteState.UNKNOWN and odd.engine_status == "paused"
    assert final.state is RemoteState.SUCCEEDED
