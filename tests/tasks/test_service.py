"""Submitting through the task service, against the sandbox engines (faults J1–J7).

Each test runs real engine servers on loopback with tiny cadences; the sandbox's
request log proves how many paid POSTs were sent and how many jobs were created.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from studio.core.errors import RequestInvalidError
from studio.core.task_states import TaskState
from studio.sandbox import faults
from studio.sandbox.app import EngineSite
from tests.sandbox_support import FAST, run, running_site
from tests.tasks.test_service_support import (
    PARAMS,
    client_for,
    harness,
    posts,
    short_read,
    submit_op,
    submit_path,
)

ENGINES = ["ttapi", "mountsea", "kling", "evolink"]


def created(site: EngineSite) -> int:
    """Submit POSTs whose handler made a job (answered with success, or still sending it)."""
    return sum(
        1
        for r in site.server.requests("POST", submit_path(site.engine_id))
        if r.handled and (r.status is None or 200 <= r.status < 300)
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_submit_poll_archive_done(tmp_path: Path, engine: str) -> None:
    with running_site(engine, FAST) as site:

        async def main() -> None:
            async with harness(tmp_path, {engine: site}) as h:
                task = await h.service.submit(engine, submit_op(engine), PARAMS[engine])
                assert task.state is TaskState.SUBMITTED and task.remote_id
                assert task.submitted_at is not None
                assert await h.service.wait_idle(15)
                done = h.ledger.get(task.id)
                assert done.state is TaskState.DONE, done.last_error
                files = h.files_of(task.id)
                assert files and all(p.is_file() and p.stat().st_size > 0 for p in files)
                assert all(h.archive_dir in p.parents for p in files)
                phases = [getattr(e, "phase", None) for e in h.events]
                assert phases == ["started", "finished"]

        run(main())
        assert posts(site) == 1


def test_synchronous_operation_goes_through_the_ledger(tmp_path: Path) -> None:
    with running_site("ttapi", FAST) as site:

        async def main() -> None:
            async with harness(tmp_path, {"ttapi": site}) as h:
                task = await h.service.submit("ttapi", "lyrics", {"prompt": "a song about rain"})
                assert task.state is TaskState.ARCHIVING
                assert await h.service.wait_idle(10)
                assert h.ledger.get(task.id).state is TaskState.DONE
                assert any(p.suffix == ".txt" for p in h.files_of(task.id))

        run(main())


def test_invalid_request_stores_and_sends_nothing(tmp_path: Path) -> None:
    with running_site("kling", FAST) as site:

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}) as h:
                with pytest.raises(RequestInvalidError, match="duration"):
                    await h.service.submit(
                        "kling", submit_op("kling"), {"prompt": "x", "duration": 99}
                    )
                assert h.ledger.all() == []

        run(main())
        assert site.server.requests_log == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_j1_connection_refused_fails_with_nothing_sent_then_try_again(tmp_path: Path) -> None:
    with running_site("ttapi", FAST) as site:

        async def main() -> None:
            dead = client_for(site, base_url=f"http://127.0.0.1:{_closed_port()}")
            async with harness(tmp_path, {}, clients={"ttapi": dead}) as h:
                task = await h.service.submit("ttapi", "music", PARAMS["ttapi"])
                assert task.state is TaskState.FAILED
                assert "nothing was sent" in (task.last_error or "")
                assert task.params == PARAMS["ttapi"]  # kept for editing
                assert posts(site) == 0
                # The network is back: the user tries again.
                h.clients["ttapi"] = client_for(site)
                retry = await h.service.try_again(task.id)
                assert retry.retry_of_task_id == task.id and retry.client_key != task.client_key
                assert await h.service.wait_idle(15)
                assert h.ledger.get(retry.id).state is TaskState.DONE
                await dead.aclose()

        run(main())
        assert posts(site) == 1


def test_j2_kling_lost_answer_is_found_by_client_key(tmp_path: Path) -> None:
    with running_site("kling", FAST) as site:
        site.server.faults.add(submit_path("kling"), faults.delay_after(1.0), method="POST")

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}, timeout=short_read(0.3)) as h:
                task = await h.service.submit("kling", submit_op("kling"), PARAMS["kling"])
                assert task.state is TaskState.SUBMITTED and task.remote_id
                assert await h.service.wait_idle(15)
                assert h.ledger.get(task.id).state is TaskState.DONE

        run(main())
        assert posts(site) == 1


def test_j2_other_engine_needs_attention_and_is_not_resent(tmp_path: Path) -> None:
    with running_site("evolink", FAST) as site:
        site.server.faults.add(submit_path("evolink"), faults.delay_after(1.0), method="POST")

        async def main() -> None:
            async with harness(tmp_path, {"evolink": site}, timeout=short_read(0.3)) as h:
                task = await h.service.submit("evolink", submit_op("evolink"), PARAMS["evolink"])
                assert task.state is TaskState.NEEDS_ATTENTION
                assert "may exist" in (task.last_error or "")
                assert await h.service.wait_idle(2)  # not followed: nothing active
                # Check again cannot look it up; it stays with the user, unsent.
                again = await h.service.check_again(task.id)
                assert again.state is TaskState.NEEDS_ATTENTION

        run(main())
        assert posts(site) == 1 and created(site) == 1


def test_j4_server_error_on_submit_is_never_resent(tmp_path: Path) -> None:
    with running_site("ttapi", FAST) as site:
        site.server.faults.add(submit_path("ttapi"), faults.status(500), method="POST")

        async def main() -> None:
            async with harness(tmp_path, {"ttapi": site}) as h:
                task = await h.service.submit("ttapi", "music", PARAMS["ttapi"])
                assert task.state is TaskState.NEEDS_ATTENTION
                assert "will not send it again" in (task.last_error or "")

        run(main())
        assert posts(site) == 1


@pytest.mark.parametrize(
    ("engine", "refusal"),
    [
        ("ttapi", faults.status(499, {"status": "FAILED", "message": "queue full", "data": None})),
        ("kling", faults.status(429, {"code": 1303, "message": "concurrency limit"})),
    ],
)
def test_j7_busy_refusal_backs_off_and_creates_one_job(
    tmp_path: Path, engine: str, refusal: faults.Fault
) -> None:
    with running_site(engine, FAST) as site:
        site.server.faults.add(submit_path(engine), refusal, method="POST")

        async def main() -> None:
            async with harness(tmp_path, {engine: site}) as h:
                task = await h.service.submit(engine, submit_op(engine), PARAMS[engine])
                assert task.state is TaskState.SUBMITTED and task.attempts == 2
                assert await h.service.wait_idle(15)
                assert h.ledger.get(task.id).state is TaskState.DONE

        run(main())
        assert posts(site) == 2 and created(site) == 1


def test_j7_busy_for_ever_fails_after_bounded_sends(tmp_path: Path) -> None:
    with running_site("ttapi", FAST) as site:
        site.server.faults.add(submit_path("ttapi"), faults.status(499), times=None, method="POST")

        async def main() -> None:
            async with harness(tmp_path, {"ttapi": site}) as h:
                task = await h.service.submit("ttapi", "music", PARAMS["ttapi"])
                assert task.state is TaskState.FAILED and "queue" in (task.last_error or "")

        run(main())
        assert posts(site) == 4 and created(site) == 0


def test_j7_content_policy_fails_with_the_engine_message_and_keeps_the_prompt(
    tmp_path: Path,
) -> None:
    with running_site("kling", FAST) as site:
        body = {"code": 1301, "message": "prompt violates content safety"}
        site.server.faults.add(submit_path("kling"), faults.status(400, body), method="POST")

        async def main() -> None:
            async with harness(tmp_path, {"kling": site}) as h:
                task = await h.service.submit("kling", submit_op("kling"), PARAMS["kling"])
                assert task.state is TaskState.FAILED
                assert "content policy" in (task.last_error or "")
                assert "content safety" in (task.last_error or "")
                assert h.ledger.get(task.id).params == PARAMS["kling"]

        run(main())
        assert posts(site) == 1


def test_cancel_stops_following(tmp_path: Path) -> None:
    with running_site("mountsea", FAST) as site:

        async def main() -> None:
            async with harness(tmp_path, {"mountsea": site}) as h:
                task = await h.service.submit("mountsea", "audios", PARAMS["mountsea"])
                cancelled = h.service.cancel(task.id)
                assert cancelled.state is TaskState.CANCELLED and cancelled.remote_id
                assert await h.service.wait_idle(1)
                with pytest.raises(ValueError):
                    await h.service.try_again(h.ledger.create("mountsea", "audios", {}).id)

        run(main())
        assert posts(site) == 1
