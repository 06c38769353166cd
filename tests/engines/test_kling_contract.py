"""Kling's adapter and the studio's EngineClient against the Kling sandbox, over loopback.

Every operation the studio uses (create, query, poll, recovery by
``external_task_id``, list) through the real transport, plus the error paths the
task engine relies on: a lost create answer, 1302/1303 back-off, token renewal,
refusals and an unknown status word.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from studio.core.errors import (
    ConcurrencyLimitError,
    ContentPolicyError,
    EngineValidationError,
    NotFoundError,
    RateLimitError,
    RequestInvalidError,
)
from studio.core.remote import RemoteState, RemoteStatus
from studio.engines.client import EngineClient
from studio.engines.kling import KlingStatus, TokenExpiredError, find_by_client_key
from studio.net.errors import OutcomeUnknownError
from studio.sandbox.app import EngineSite, SandboxCredentials
from studio.sandbox.engines.kling import BASE_PATH, FAIL_MARKER, POLICY_MARKER, sandbox_of
from studio.sandbox.faults import delay_after, override_json, status
from tests.sandbox_support import (
    FAST_BACKOFF,
    client_for,
    poll_until_final,
    run,
    running_site,
    short_read,
)

# Every loop below is bounded by this many seconds.
WAIT_S = 8.0


@pytest.fixture
def site() -> Iterator[EngineSite]:
    with running_site("kling") as running:
        yield running


async def poll_to_final(client: EngineClient, remote_id: str) -> RemoteStatus:
    return await poll_until_final(client, "text-to-audio", remote_id, timeout_s=WAIT_S)


async def create(
    client: EngineClient, client_key: str, prompt: str = "wind", duration: float = 3.0
) -> tuple[str, RemoteStatus]:
    """Submit a create and return its task id and first status (both must be there)."""
    made = await client.submit(
        "text-to-audio", {"prompt": prompt, "duration": duration}, client_key=client_key
    )
    assert made.remote_id is not None and made.status is not None
    return made.remote_id, made.status


def posts(site: EngineSite) -> list[Any]:
    return site.server.requests(method="POST", path=BASE_PATH)


# --------------------------------------------------------------------------- create → final


@pytest.mark.parametrize("auth", ["key-pair", "reseller-key"])
def test_create_and_poll_to_success_with_outputs(site: EngineSite, auth: str) -> None:
    async def scenario() -> tuple[RemoteStatus, RemoteStatus]:
        credentials = (
            None if auth == "key-pair" else {"api_key": SandboxCredentials().api_keys["kling"]}
        )
        client = client_for(site, credentials)
        try:
            remote_id, first = await create(client, "ck-1", "rain on a tin roof", 4.2)
            return first, await poll_to_final(client, remote_id)
        finally:
            await client.aclose()

    first, final = run(scenario())
    assert first.state is RemoteState.QUEUED and first.engine_status == "submitted"
    assert isinstance(first, KlingStatus) and first.external_task_id == "ck-1"
    assert final.state is RemoteState.SUCCEEDED
    assert final.cost == "1"
    (take,) = final.outputs
    assert set(take.audio_urls) == {"mp3", "wav"}
    assert take.duration_s == pytest.approx(4.2)
    assert take.remote_id
    for url in take.audio_urls.values():
        assert site.media.data_for(url)
    (sent,) = posts(site)
    assert json.loads(sent.body)["external_task_id"] == "ck-1"


def test_query_operation_reads_one_task(site: EngineSite) -> None:
    async def scenario() -> tuple[str, str | None, str | None, RemoteState]:
        client = client_for(site)
        try:
            made_id, _ = await create(client, "ck-q", "bell", 3.0)
            found = await client.submit("query", {"id": made_id}, client_key="")
            # The seed's "task_id or external_task_id, choose one of the two".
            by_key = await client.submit("query", {"id": "ck-q"}, client_key="")
            assert found.status is not None
            return made_id, found.remote_id, by_key.remote_id, found.status.state
        finally:
            await client.aclose()

    made, found, by_key, state = run(scenario())
    assert found == by_key == made
    assert state in (RemoteState.QUEUED, RemoteState.RUNNING, RemoteState.SUCCEEDED)


def test_failed_task_carries_the_engine_reason(site: EngineSite) -> None:
    async def scenario() -> RemoteStatus:
        client = client_for(site)
        try:
            made_id, _ = await create(client, "ck-f", f"boom {FAIL_MARKER}", 3.0)
            return await poll_to_final(client, made_id)
        finally:
            await client.aclose()

    final = run(scenario())
    assert final.state is RemoteState.FAILED
    assert final.engine_message and FAIL_MARKER in final.engine_message
    assert final.outputs == []


# --------------------------------------------------------------------------- refusals


def test_refusals_map_to_typed_errors(site: EngineSite) -> None:
    async def scenario() -> list[type[Exception]]:
        client = client_for(site)
        raised: list[type[Exception]] = []
        try:
            await client.submit(
                "text-to-audio", {"prompt": "wind", "duration": 3.0}, client_key="ck-d"
            )
            attempts: list[tuple[dict[str, Any], str]] = [
                ({"prompt": "wind", "duration": 3.0}, "ck-d"),  # duplicate external id
                ({"prompt": f"{POLICY_MARKER} wind", "duration": 3.0}, "ck-p"),
                ({"prompt": "wind", "duration": 2.9}, "ck-v"),  # caught before sending
            ]
            for params, key in attempts:
                try:
                    await client.submit("text-to-audio", params, client_key=key)
                except Exception as exc:
                    raised.append(type(exc))
            try:
                await client.poll("text-to-audio", "no-such-task")
            except Exception as exc:
                raised.append(type(exc))
        finally:
            await client.aclose()
        return raised

    raised = run(scenario())
    assert raised == [EngineValidationError, ContentPolicyError, RequestInvalidError, NotFoundError]
    assert len(posts(site)) == 3  # the invalid duration never left the studio
    assert len(sandbox_of(site).tasks()) == 1


# --------------------------------------------------------------------------- recovery


def test_lost_create_answer_is_recovered_by_external_task_id(site: EngineSite) -> None:
    site.server.faults.add("text-to-audio", delay_after(3.0))

    async def scenario() -> list[RemoteStatus]:
        client = client_for(site, timeout=short_read(0.5))
        try:
            await client.submit(
                "text-to-audio", {"prompt": "wind", "duration": 3.0}, client_key="ck-r"
            )
            raise AssertionError("the create answer should have been lost")
        except OutcomeUnknownError:
            pass
        try:
            # Another task exists too, so the match has to pick ours out.
            await client.submit(
                "text-to-audio", {"prompt": "rain", "duration": 3.0}, client_key="ck-x"
            )
            return await client.lookup("ck-r")
        finally:
            await client.aclose()

    statuses = run(scenario())
    found = find_by_client_key(statuses, "ck-r")
    assert found is not None
    assert [s for s in statuses if find_by_client_key([s], "ck-r")] == [found]
    (task,) = [t for t in sandbox_of(site).tasks() if t.external_task_id == "ck-r"]
    assert found.remote_id == task.task_id
    assert len(posts(site)) == 2  # never resent
    assert find_by_client_key(statuses, "ck-missing") is None


def test_list_refreshes_many_tasks_in_one_call(site: EngineSite) -> None:
    async def scenario() -> tuple[list[str], list[RemoteStatus]]:
        client = client_for(site)
        try:
            ids: list[str] = []
            for n in range(6):
                made_id, _ = await create(client, f"ck-l{n}", f"click {n}")
                ids.append(made_id)
            await asyncio.sleep(site.config.task_seconds + 0.1)
            site.server.clear_log()
            return ids, await client.list_recent(1, 500)
        finally:
            await client.aclose()

    ids, statuses = run(scenario())
    assert [s.remote_id for s in statuses] == ids[::-1]
    assert all(s.state is RemoteState.SUCCEEDED and s.outputs for s in statuses)
    assert len(site.server.requests(method="GET", path=BASE_PATH)) == 1


# --------------------------------------------------------------------------- retries and tokens


def test_1302_and_1303_on_a_poll_are_retried(site: EngineSite) -> None:
    site.server.faults.add("query", status(429, {"code": 1302, "message": "rate limit"}))
    site.server.faults.add("query", status(429, {"code": 1303, "message": "parallel over"}))

    async def scenario() -> tuple[str, RemoteStatus]:
        client = client_for(site)
        try:
            made_id, _ = await create(client, "ck-b")
            return made_id, await client.poll("text-to-audio", made_id)
        finally:
            await client.aclose()

    remote_id, found = run(scenario())
    assert found.remote_id == remote_id
    queries = site.server.requests(method="GET", route="query")
    assert [q.status for q in queries] == [429, 429, 200]


@pytest.mark.parametrize(("code", "error"), [(1302, RateLimitError), (1303, ConcurrencyLimitError)])
def test_persistent_1302_1303_end_as_their_error(
    site: EngineSite, code: int, error: type[Exception]
) -> None:
    site.server.faults.add("query", status(429, {"code": code, "message": "busy"}), times=None)

    async def scenario() -> None:
        client = client_for(site)
        try:
            await client.poll("text-to-audio", "any-task")
        finally:
            await client.aclose()

    with pytest.raises(error) as caught:
        run(scenario())
    assert getattr(caught.value, "retryable", False)
    assert len(site.server.requests(route="query")) == FAST_BACKOFF.max_attempts


def test_rejected_token_is_renewed_once_and_one_job_is_made(site: EngineSite) -> None:
    expired = {"code": 1004, "message": "Authorization token has expired"}
    site.server.faults.add("text-to-audio", status(401, expired))

    async def scenario() -> str:
        client = client_for(site)
        try:
            made_id, _ = await create(client, "ck-t", "wind", 3.0)
            return made_id
        finally:
            await client.aclose()

    remote_id = run(scenario())
    assert [t.task_id for t in sandbox_of(site).tasks()] == [remote_id]
    assert [p.status for p in posts(site)] == [401, 200]


def test_a_really_expired_token_is_renewed(site: EngineSite) -> None:
    # The first token is signed two hours in the past, so the sandbox itself says
    # 1004; after invalidate_tokens the client signs with the true time.
    readings = iter([time.time() - 7200.0])

    def clock() -> float:
        return next(readings, None) or time.time()

    async def scenario() -> str:
        client = client_for(site, clock=clock)
        try:
            made_id, _ = await create(client, "ck-e", "wind", 3.0)
            return made_id
        finally:
            await client.aclose()

    remote_id = run(scenario())
    assert [t.task_id for t in sandbox_of(site).tasks()] == [remote_id]
    assert [p.status for p in posts(site)] == [401, 200]


def test_a_token_refused_twice_is_reported_not_retried_again(site: EngineSite) -> None:
    site.server.faults.add(
        "text-to-audio", status(401, {"code": 1004, "message": "expired"}), times=2
    )

    async def scenario() -> None:
        client = client_for(site)
        try:
            await client.submit(
                "text-to-audio", {"prompt": "wind", "duration": 3.0}, client_key="ck-2"
            )
        finally:
            await client.aclose()

    with pytest.raises(TokenExpiredError):
        run(scenario())
    assert len(posts(site)) == 2
    assert sandbox_of(site).tasks() == []


# --------------------------------------------------------------------------- tolerance


def test_unknown_status_word_is_unknown_and_polling_goes_on(site: EngineSite) -> None:
    site.server.faults.add("query", override_json({"data": {"task_status": "paused"}}))

    async def scenario() -> tuple[RemoteStatus, RemoteStatus]:
        client = client_for(site)
        try:
            made_id, _ = await create(client, "ck-u", "wind", 3.0)
            odd = await client.poll("text-to-audio", made_id)
            return odd, await poll_to_final(client, made_id)
        finally:
            await client.aclose()

    odd, final = run(scenario())
    assert odd.state is RemoteState.UNKNOWN and odd.engine_status == "paused"
    assert not odd.state.is_final
    assert final.state is RemoteState.SUCCEEDED
