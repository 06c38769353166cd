"""Contract: the studio's Evolink adapter and client against the sandbox, over loopback.

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
    ContentPolicyError,
    NotFoundError,
    ServerError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteState, RemoteStatus, TakeOutput
from studio.engines.client import EngineClient
from studio.engines.evolink import task_error
from studio.net.errors import OutcomeUnknownError
from studio.sandbox.app import EngineSite, SandboxConfig
from studio.sandbox.engines.evolink import sandbox_of
from studio.sandbox.faults import (
    delay_after,
    html_error,
    malformed_json,
    override_json,
    status,
)
from studio.sandbox.synth import decode_wav
from tests.sandbox_support import client_for, poll_until_final, run, running_site, short_read

CONFIG = SandboxConfig(task_seconds=0.05, link_ttl_s=600.0, song_seconds=3.0)
VOICE = "zh_female_vv_uranus_bigtts"
SPEECH = {"prompt": "@audio 1 Hello there. @音频2 And hello from me.",
          "audio_references": [VOICE, "https://voices.example/me.wav"]}  # fmt: skip


@pytest.fixture
def site() -> Iterator[EngineSite]:
    with running_site("evolink", CONFIG) as running:
        yield running


async def submit(client: EngineClient, params: dict[str, Any]) -> str:
    submitted = await client.submit("generations", params, client_key="k")
    assert submitted.remote_id
    # Evolink's submit answer is the task object itself: a state at once.
    assert submitted.status is not None and submitted.status.state is RemoteState.QUEUED
    return submitted.remote_id


async def until_final(client: EngineClient, remote_id: str) -> RemoteStatus:
    return await poll_until_final(client, "generations", remote_id, timeout_s=10)


def fetch(url: str) -> bytes:
    answer = httpx.get(url, timeout=10.0)
    assert answer.status_code == 200
    return answer.content


# --------------------------------------------------------------------------- operations


def test_create_and_detail_end_to_end(site: EngineSite) -> None:
    async def scenario() -> list[RemoteStatus]:
        client = client_for(site)
        try:
            finals = []
            for params in (
                SPEECH,
                {**SPEECH, "format": "mp3", "sample_rate": 44100, "speech_rate": 1.25},
                {"prompt": "Read this in the mood of the picture.",
                 "image_urls": ["https://img.example/scene.jpg"], "format": "ogg_opus"},
            ):  # fmt: skip
                finals.append(await until_final(client, await submit(client, params)))
            # The detail operation is a synchronous status query.
            looked_up = await client.submit("detail", {"id": finals[0].remote_id}, client_key="")
            assert looked_up.status is not None
            finals.append(looked_up.status)
            return finals
        finally:
            await client.aclose()

    wav, mp3, ogg, looked_up = run(scenario())
    for final in (wav, mp3, ogg):
        assert final.state is RemoteState.SUCCEEDED and final.progress == 1.0
        assert final.cost == "9.6"
    [take] = wav.outputs
    assert set(take.audio_urls) == {"wav"}  # the default format
    samples, rate = decode_wav(fetch(take.audio_urls["wav"]))
    assert rate == 24000 and samples.shape[0] == 1 and samples.shape[1] > rate
    [take] = mp3.outputs
    assert set(take.audio_urls) == {"mp3"}
    assert fetch(take.audio_urls["mp3"])[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    [take] = ogg.outputs
    assert set(take.audio_urls) == {"ogg"} and fetch(take.audio_urls["ogg"])[:4] == b"OggS"
    assert looked_up.state is RemoteState.SUCCEEDED
    assert looked_up.outputs[0].audio_urls == wav.outputs[0].audio_urls


@pytest.mark.parametrize(
    ("word", "code", "error_type"),
    [
        ("FAILME", "generation_failed_no_content", ServerError),
        ("POLICYME", "content_policy_violation", ContentPolicyError),
    ],
)
def test_failed_tasks_map_to_their_error(
    site: EngineSite, word: str, code: str, error_type: type[Exception]
) -> None:
    async def scenario() -> RemoteStatus:
        client = client_for(site)
        try:
            return await until_final(client, await submit(client, {"prompt": f"{word} please"}))
        finally:
            await client.aclose()

    final = run(scenario())
    assert final.state is RemoteState.FAILED
    assert final.error_code == code and final.engine_message
    assert isinstance(task_error(final), error_type)


def test_a_wrong_key_and_an_unknown_task_are_typed_errors(site: EngineSite) -> None:
    async def scenario() -> None:
        wrong = client_for(site, {"api_key": "not-the-key"})
        client = client_for(site)
        try:
            with pytest.raises(AuthenticationError):
                await wrong.submit("generations", SPEECH, client_key="k")
            with pytest.raises(NotFoundError):
                await client.poll("generations", "task-unified-0-00000000")
        finally:
            await wrong.aclose()
            await client.aclose()

    run(scenario())
    assert sandbox_of(site).task_ids() == []


# --------------------------------------------------------------------------- faults


def test_a_429_on_a_poll_is_retried_after_retry_after(site: EngineSite) -> None:
    busy = {"error": {"code": "rate_limit_exceeded", "message": "Too many requests",
                      "type": "rate_limit_error"}}  # fmt: skip
    site.server.faults.add("detail", status(429, busy, {"Retry-After": "1"}))

    async def scenario() -> tuple[RemoteStatus, float]:
        client = client_for(site)
        try:
            task_id = await submit(client, SPEECH)
            started = time.monotonic()
            state = await client.poll("generations", task_id)
            return state, time.monotonic() - started
        finally:
            await client.aclose()

    state, waited = run(scenario())
    assert state.state is not RemoteState.UNKNOWN
    assert waited >= 0.9  # Retry-After honoured, not the 10 ms test backoff
    assert len(site.server.requests(method="GET", route="detail")) == 2


@pytest.mark.parametrize("code", [500, 503])
def test_a_server_error_on_submit_is_not_retried(site: EngineSite, code: int) -> None:
    site.server.faults.add("generations", status(code), times=None)

    async def scenario() -> None:
        client = client_for(site)
        try:
            with pytest.raises(ServerError) as caught:
                await client.submit("generations", SPEECH, client_key="k")
            assert caught.value.http_status == code
        finally:
            await client.aclose()

    run(scenario())
    assert len(site.server.requests(method="POST")) == 1


def test_a_read_timeout_after_the_job_was_created_is_an_unknown_outcome(
    site: EngineSite,
) -> None:
    # The handler runs (the job exists), then the answer is held past the read timeout.
    site.server.faults.add("generations", delay_after(3.0))

    async def scenario() -> None:
        client = client_for(site, timeout=short_read(0.3))
        try:
            with pytest.raises(OutcomeUnknownError):
                await client.submit("generations", SPEECH, client_key="k")
        finally:
            await client.aclose()

    run(scenario())
    assert site.server.wait_for_requests(lambda log: all(entry.handled for entry in log))
    assert len(site.server.requests(method="POST")) == 1
    assert len(sandbox_of(site).task_ids()) == 1


JUNK = {
    "html": html_error(200),  # a captive portal or gateway page, sent as a success
    "json": malformed_json(b'{"id": "task-unified-1", "status": "compl'),
}


@pytest.mark.parametrize("junk", sorted(JUNK))
def test_junk_answers_to_a_submit_are_unexpected(site: EngineSite, junk: str) -> None:
    site.server.faults.add("generations", JUNK[junk])

    async def scenario() -> None:
        client = client_for(site)
        try:
            with pytest.raises(UnexpectedAnswerError):
                await client.submit("generations", SPEECH, client_key="k")
        finally:
            await client.aclose()

    run(scenario())
    assert len(site.server.requests(method="POST")) == 1


@pytest.mark.parametrize("junk", sorted(JUNK))
def test_junk_answers_to_a_poll_are_unexpected(site: EngineSite, junk: str) -> None:
    site.server.faults.add("detail", JUNK[junk])

    async def scenario() -> None:
        client = client_for(site)
        try:
            task_id = await submit(client, SPEECH)
            with pytest.raises(UnexpectedAnswerError):
                await client.poll("generations", task_id)
        finally:
            await client.aclose()

    run(scenario())


def test_an_html_gateway_error_on_submit_is_a_server_error_sent_once(site: EngineSite) -> None:
    site.server.faults.add("generations", html_error(502))

    async def scenario() -> None:
        client = client_for(site)
        try:
            with pytest.raises(ServerError):
                await client.submit("generations", SPEECH, client_key="k")
        finally:
            await client.aclose()

    run(scenario())
    assert len(site.server.requests(method="POST")) == 1


def test_an_unknown_status_word_means_unknown_keep_polling(site: EngineSite) -> None:
    site.server.faults.add("detail", override_json({"status": "queued_for_review"}))

    async def scenario() -> tuple[RemoteStatus, RemoteStatus]:
        client = client_for(site)
        try:
            task_id = await submit(client, SPEECH)
            odd = await client.poll("generations", task_id)
            return odd, await until_final(client, task_id)
        finally:
            await client.aclose()

    odd, final = run(scenario())
    assert odd.state is RemoteState.UNKNOWN and odd.engine_status == "queued_for_review"
    assert final.state is RemoteState.SUCCEEDED
    assert final.outputs and isinstance(final.outputs[0], TakeOutput)
