"""Polling through the task service against the sandbox engines (faults P1–P4, S6).

Tiny cadences are injected; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from studio.core.task_states import TaskState
from studio.engines.registry import create_adapter
from studio.sandbox import faults
from studio.sandbox.app import EngineSite
from studio.tasks.events import EnginePaused, EngineResumed
from studio.tasks.ledger import TaskChange
from tests.sandbox_support import FAST, run, running_site
from tests.tasks.test_service_support import FAST_POLICY, PARAMS, harness, posts, submit_op


def poll_path(engine: str, remote_id: str = "{id}") -> str:
    """The path a poll of ``remote_id`` goes to (a pattern when left as "{id}")."""
    return create_adapter(engine).build_poll(submit_op(engine), remote_id).path


def polls(site: EngineSite, remote_id: str) -> int:
    return len(site.server.requests("GET", poll_path(site.engine_id, remote_id)))


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "condition not reached in time"
        await asyncio.sleep(0.02)


KLING_POLL = "/v1/audio/text-to-audio/{id}"


def test_p1_unknown_status_keeps_polling_then_done(tmp_path: Path) -> None:
    with running_site("kling", FAST) as site:
        paused = faults.override_json({"data": {"task_status": "paused"}})
        site.server.faults.add(KLING_POLL, paused, times=3, method="GET")

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}) as h:
                seen: list[str | None] = []
                h.ledger.subscribe(lambda change: seen.append(change.task.engine_message))
                task = await h.service.submit("kling", submit_op("kling"), PARAMS["kling"])
                assert await h.service.wait_idle(15)
                assert h.ledger.get(task.id).state is TaskState.DONE
                assert any(m and "paused" in m for m in seen)  # shown while it lasted

        run(main())
        assert site.server.faults.fired() >= 3


def test_p2_deadline_needs_attention_without_storm_then_check_again(tmp_path: Path) -> None:
    policy = dataclasses.replace(FAST_POLICY, deadlines={"kling": timedelta(seconds=0.6)})
    with running_site("kling", FAST) as site:
        stuck = faults.override_json({"data": {"task_status": "processing"}})
        site.server.faults.add(KLING_POLL, stuck, times=None, method="GET")

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}, policy=policy) as h:
                task = await h.service.submit("kling", submit_op("kling"), PARAMS["kling"])
                assert task.remote_id
                await until(lambda: h.ledger.get(task.id).state is TaskState.NEEDS_ATTENTION)
                row = h.ledger.get(task.id)
                assert "Check again" in (row.last_error or "") and row.state is not TaskState.FAILED
                asked = polls(site, task.remote_id)
                await asyncio.sleep(0.4)
                assert polls(site, task.remote_id) == asked  # not polled on its own
                assert await h.service.wait_idle(0.1)
                site.server.faults.clear()  # the engine finished after all
                await h.service.check_again(task.id)
                assert await h.service.wait_idle(10)
                assert h.ledger.get(task.id).state is TaskState.DONE

        run(main())


def test_p3_engine_failure_keeps_reason_and_try_again_links(tmp_path: Path) -> None:
    with running_site("kling", FAST) as site:
        failed = faults.override_json(
            {"data": {"task_status": "failed", "task_status_msg": "no sound could be made"}}
        )
        site.server.faults.add(KLING_POLL, failed, times=None, method="GET")

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}) as h:
                task = await h.service.submit("kling", submit_op("kling"), PARAMS["kling"])
                assert await h.service.wait_idle(10)
                row = h.ledger.get(task.id)
                assert row.state is TaskState.FAILED
                assert "no sound could be made" in (row.last_error or "")
                site.server.faults.clear()
                retry = await h.service.try_again(task.id)
                assert retry.retry_of_task_id == task.id and retry.client_key != row.client_key
                assert retry.params == row.params
                assert await h.service.wait_idle(10)
                assert h.ledger.get(retry.id).state is TaskState.DONE

        run(main())
        assert posts(site) == 2


@pytest.mark.parametrize("code", [429, 503])
def test_p4_one_failing_task_does_not_delay_another(tmp_path: Path, code: int) -> None:
    with running_site("evolink", FAST) as site:

        async def main() -> None:
            async with harness(tmp_path, {"evolink": site}) as h:
                op = submit_op("evolink")
                sick = await h.service.submit("evolink", op, PARAMS["evolink"])
                assert sick.remote_id
                busy = faults.status(code, headers={"Retry-After": "0"})
                site.server.faults.add(poll_path("evolink", sick.remote_id), busy, times=None)
                well = await h.service.submit("evolink", op, {"prompt": "Another voice."})
                await until(lambda: h.ledger.get(well.id).state is TaskState.DONE, 10)
                row = h.ledger.get(sick.id)
                assert row.state.is_active and row.last_error  # backing off, not failed
                site.server.faults.clear()
                assert await h.service.wait_idle(10)
                assert h.ledger.get(sick.id).state is TaskState.DONE

        run(main())


def test_s6_refused_key_pauses_the_engine_until_resumed(tmp_path: Path) -> None:
    with running_site("ttapi", FAST) as site:
        refused = faults.status(401, {"status": "FAILED", "message": "invalid key", "data": None})

        async def main() -> None:
            async with harness(tmp_path, {"ttapi": site}) as h:
                site.server.faults.add(poll_path("ttapi"), refused, times=None, method="GET")
                task = await h.service.submit("ttapi", "music", PARAMS["ttapi"])
                await until(lambda: any(isinstance(e, EnginePaused) for e in h.events))
                assert "ttapi" in h.service.paused_engines
                asked = len(site.server.requests("GET", poll_path("ttapi")))
                await asyncio.sleep(0.3)
                assert len(site.server.requests("GET", poll_path("ttapi"))) == asked
                assert h.ledger.get(task.id).state.is_active  # queued, not failed
                site.server.faults.clear()  # the user set a working key
                h.service.resume_engine("ttapi")
                assert await h.service.wait_idle(10)
                assert h.ledger.get(task.id).state is TaskState.DONE
                assert any(isinstance(e, EngineResumed) for e in h.events)

        run(main())


def test_kling_tasks_are_refreshed_in_bulk(tmp_path: Path) -> None:
    policy = dataclasses.replace(FAST_POLICY, bulk_window=0.3)
    with running_site("kling", FAST) as site:

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}, policy=policy, start=False) as h:
                changes: list[TaskChange] = []
                h.ledger.subscribe(changes.append)
                op = submit_op("kling")
                tasks = [
                    await h.service.submit("kling", op, {"prompt": f"drop {i}", "duration": 3.0})
                    for i in range(20)
                ]
                h.service.start()
                assert await h.service.wait_idle(30)
                assert all(h.ledger.get(t.id).state is TaskState.DONE for t in tasks)

        run(main(), timeout=40)
        lists = len(site.server.requests("GET", "/v1/audio/text-to-audio"))
        singles = len(site.server.requests("GET", KLING_POLL))
        # One call per task per poll would be 20+ (each task is polled at least once).
        assert lists >= 1 and lists + singles <= 8, (lists, singles)
