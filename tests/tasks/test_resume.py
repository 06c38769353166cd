"""Resume and reconcile after a crash: every unfinished task ends right, nothing resent (J3, U2).

The "crash" is simulated by writing ledger rows by hand in the states a killed
process leaves behind, pointing at real jobs in the sandbox, then starting a
fresh service over that library.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from studio.core.task_states import TaskState
from studio.sandbox import faults
from tests.sandbox_support import FAST, run, running_site
from tests.tasks.test_service_support import (
    PARAMS,
    harness,
    posts,
    short_read,
    submit_op,
    submit_path,
)


def test_resume_all_after_a_crash_finishes_everything_without_new_posts(tmp_path: Path) -> None:
    with running_site("kling", FAST) as kling, running_site("evolink", FAST) as evolink:
        sites = {"kling": kling, "evolink": evolink}
        op = submit_op("kling")

        async def crashed() -> dict[str, int]:
            """The rows a killed process leaves behind, with the jobs it had sent."""
            async with harness(tmp_path, sites, start=False) as h:
                ledger, client = h.ledger, h.clients["kling"]

                async def sent(state: TaskState) -> int:
                    row = ledger.create("kling", op, PARAMS["kling"])
                    made = await client.submit(op, row.params, client_key=row.client_key)
                    if state is not TaskState.SUBMITTING:  # killed before storing the id
                        ledger.update(row.id, TaskState.SUBMITTED, remote_id=made.remote_id)
                    if state is TaskState.RUNNING:
                        ledger.update(row.id, TaskState.RUNNING, progress=0.1)
                    if state is TaskState.ARCHIVING:
                        await asyncio.sleep(FAST.task_seconds + 0.2)  # it succeeded meanwhile
                        ledger.update(row.id, TaskState.ARCHIVING)
                    return row.id

                rows = {state.value: await sent(state) for state in (
                    TaskState.SUBMITTING, TaskState.SUBMITTED, TaskState.RUNNING,
                    TaskState.ARCHIVING,
                )}  # fmt: skip
                # Another engine's submit, killed before its answer: no way to look it up.
                rows["evolink"] = ledger.create(
                    "evolink", submit_op("evolink"), PARAMS["evolink"]
                ).id
                return rows

        rows = run(crashed())
        before = (posts(kling), posts(evolink))

        async def restarted() -> None:
            async with harness(tmp_path, sites) as h:
                await h.service.resume_all()
                assert await h.service.wait_idle(20)
                for name in ("submitting", "submitted", "running", "archiving"):
                    row = h.ledger.get(rows[name])
                    assert row.state is TaskState.DONE, (name, row.last_error)
                    assert h.files_of(row.id)
                attention = h.ledger.get(rows["evolink"])
                assert attention.state is TaskState.NEEDS_ATTENTION
                assert "may exist" in (attention.last_error or "")

        run(restarted())
        assert (posts(kling), posts(evolink)) == before  # nothing was sent again


def test_quit_during_submit_then_resume_finds_the_job(tmp_path: Path) -> None:
    with running_site("kling", FAST) as site:
        site.server.faults.add(submit_path("kling"), faults.delay_after(0.5), method="POST")

        async def quit_mid_submit() -> int:
            async with harness(tmp_path, {"kling": site}) as h:
                sending = asyncio.ensure_future(
                    h.service.submit("kling", submit_op("kling"), PARAMS["kling"])
                )
                await asyncio.to_thread(
                    site.server.wait_for_requests, lambda log: len(log) >= 1, 5.0
                )
                await asyncio.sleep(0.1)  # the POST has arrived; its answer is delayed
                sending.cancel()  # the user quits
                rows = h.ledger.all()
                assert [r.state for r in rows] == [TaskState.SUBMITTING]
                return rows[0].id

        task_id = run(quit_mid_submit())

        async def restarted() -> None:
            async with harness(tmp_path, {"kling": site}, timeout=short_read(5.0)) as h:
                await h.service.resume_all()
                assert await h.service.wait_idle(15)
                assert h.ledger.get(task_id).state is TaskState.DONE

        run(restarted())
        assert posts(site) == 1


def test_check_again_finds_an_unconfirmed_kling_submit(tmp_path: Path) -> None:
    with running_site("kling", FAST) as site:
        site.server.faults.add("/v1/audio/text-to-audio", faults.status(503), times=3, method="GET")
        site.server.faults.add(submit_path("kling"), faults.delay_after(1.0), method="POST")

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}, timeout=short_read(0.3)) as h:
                # The answer is lost and the lookup fails (3 tries): the user is asked.
                task = await h.service.submit("kling", submit_op("kling"), PARAMS["kling"])
                assert task.state is TaskState.NEEDS_ATTENTION, task.last_error
                again = await h.service.check_again(task.id)
                assert again.state is TaskState.SUBMITTED and again.remote_id
                assert await h.service.wait_idle(10)
                assert h.ledger.get(task.id).state is TaskState.DONE

        run(main())
        assert posts(site) == 1
