"""The task service: submit, follow, archive and resume every paid request.

Runs on the asyncio loop (qasync's loop on the Qt thread in the GUI, a plain
loop in the CLI and tests): every method is called on that thread, every wait
is awaited and nothing blocks, so the window stays live. Qt-free: views listen
to the ledger (row changes) and to :attr:`TaskService.events` (engine paused,
archive progress). It never touches Qt objects and never writes outside the
library and the archive folder (through the archiver).

Nothing paid for is lost (faults.md J1–J8, P1–P4, S6, U2):

* a task's row is committed before its POST; the remote id the moment it comes;
* a request that may have reached the engine is never sent again on our own;
  "try again" is the user's explicit act and makes a new task with a new key;
* quitting at any point leaves rows that :meth:`TaskService.resume_all` picks up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from studio.core.remote import RemoteStatus
from studio.core.task_states import TaskState
from studio.engines.client import EngineClient
from studio.library.timestamps import utc_now
from studio.tasks.archive_step import Refresh, TaskArchiver, verdict
from studio.tasks.cadence import DEFAULT_POLICY, TaskPolicy
from studio.tasks.events import ArchiveProgress, ServiceEvents
from studio.tasks.ledger import TaskChange, TaskLedger, TaskRecord
from studio.tasks.moves import settle
from studio.tasks.poller import Poller
from studio.tasks.submitter import SendOutcome, Submitter

__all__ = ["TaskService"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


class TaskService:
    """Every task's life after the Generate click.

    Args:
        ledger: the task ledger (same thread).
        clients: the shared client of an engine (``EngineConnections.client``).
        archiver: saves a succeeded task's files (``archive_with(Archiver(...))``).
        policy: cadences, deadlines, caps and backoffs (tests pass tiny ones).
        clock: aware UTC now.
        sleep: every wait of the service (tests may pass a fast one).
        rng: the jitter source.
    """

    def __init__(
        self,
        ledger: TaskLedger,
        clients: Callable[[str], EngineClient],
        archiver: TaskArchiver,
        *,
        policy: TaskPolicy = DEFAULT_POLICY,
        clock: Callable[[], datetime] = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.ledger = ledger
        self.events = ServiceEvents()
        self._clients = clients
        self._archiver = archiver
        self._policy = policy
        self._clock = clock
        rng = rng or random.Random()
        self._submitter = Submitter(ledger, clients, policy, sleep=sleep, rng=rng, clock=clock)
        self._poller = Poller(
            ledger, clients, policy, self.events, self._start_archive,
            clock=clock, sleep=sleep, rng=rng,
        )  # fmt: skip
        self._sending: set[int] = set()  # tasks whose POST this process is sending
        self._archiving: dict[int, asyncio.Task[None]] = {}
        self._archive_limit: asyncio.Semaphore | None = None
        self._changed: asyncio.Event | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start polling on the running loop. Call :meth:`resume_all` once after it."""
        self._poller.start()
        if self._unsubscribe is None:
            self._unsubscribe = self.ledger.subscribe(self._on_change)

    async def stop(self) -> None:
        """Stop polling and archiving (for quitting). Rows keep their states, so a
        later :meth:`resume_all` picks everything up (U2); ``.part`` files resume."""
        await self._poller.stop()
        jobs = list(self._archiving.values())
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError):
                await job
        self._archiving.clear()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @property
    def paused_engines(self) -> dict[str, str]:
        """Engines whose polling waits for a new key, with the reason."""
        return self._poller.paused()

    def resume_engine(self, engine: str) -> None:
        """Poll the engine again (the user set a new key, or asked to retry)."""
        self._poller.resume(engine)

    # ------------------------------------------------------------------ submitting
    async def submit(
        self,
        engine: str,
        operation: str,
        params: Mapping[str, Any],
        *,
        parent_take_id: int | None = None,
        retry_of: int | None = None,
    ) -> TaskRecord:
        """Validate, commit the intent, send once, and follow the job.

        Returns the task as the submit left it: submitted (followed from now on),
        archiving (a synchronous result; archived in the background), failed
        (refused: nothing was created, the prompt is kept) or needs attention
        (the job may exist; nothing is resent without the user).

        Raises:
            RequestInvalidError: the request breaks the engine's rules; nothing stored.
            KeyError: an unknown engine or operation; nothing stored.
        """
        self._submitter.validate(engine, operation, params)
        task = self.ledger.create(
            engine, operation, params, parent_take_id=parent_take_id,
            retry_of_task_id=retry_of, deadline=self._policy.deadline(engine, operation),
        )  # fmt: skip
        self._sending.add(task.id)
        try:
            outcome = await self._submitter.send(task)
        finally:
            self._sending.discard(task.id)
        self._carry_on(outcome)
        return self.ledger.get(task.id)

    async def try_again(self, task_id: int) -> TaskRecord:
        """A new task with the same request, a new client key, linked to the old one.

        The old task is left as it is (it may still exist at the engine).

        Raises:
            ValueError: the task is still being followed (cancel it first).
        """
        old = self.ledger.get(task_id)
        if old.state.is_active:
            raise ValueError("this task is still in progress; cancel it before trying again")
        return await self.submit(
            old.engine, old.operation, old.params,
            parent_take_id=old.parent_take_id, retry_of=old.id,
        )  # fmt: skip

    def cancel(self, task_id: int) -> TaskRecord:
        """Stop following a task (engines have no cancel call; a running job still
        runs and is charged). Finished tasks are left as they are."""
        self._poller.forget(task_id)
        job = self._archiving.pop(task_id, None)
        if job is not None:
            job.cancel()
        return settle(self.ledger, task_id, TaskState.CANCELLED) or self.ledger.get(task_id)

    # ------------------------------------------------------------------ resuming
    async def resume_all(self) -> None:
        """Pick up every unfinished task after a start (or a crash).

        ``submitting`` rows are reconciled, never resent (J3); submitted and
        running tasks are polled soon; archiving tasks are asked again for fresh
        links, then archived (the archiver skips what is already saved).
        """
        for task in self.ledger.in_states([TaskState.SUBMITTING]):
            if task.id in self._sending:
                continue
            outcome = await self._submitter.reconcile(
                task, detail="Studio stopped before the engine's answer was stored"
            )
            self._carry_on(outcome)
        for task in self.ledger.in_states(
            [TaskState.SUBMITTED, TaskState.RUNNING, TaskState.ARCHIVING]
        ):
            if task.id in self._archiving:
                continue
            if task.state is TaskState.ARCHIVING and not self._can_poll(task):
                self._archive_stored(task)
            else:
                self._poller.follow(task)

    async def check_again(self, task_id: int) -> TaskRecord:
        """Ask the engine about a task once more, now (needs attention, expired).

        An unconfirmed submit is looked up by its client key where the engine can
        (Kling). A task past its deadline is polled once with a fresh deadline and
        followed again if still running. An active task is just polled soon.
        """
        task = self.ledger.get(task_id)
        if task.state is TaskState.SUBMITTING and task.id not in self._sending:
            # Left by an earlier run and not resumed yet: reconcile it now.
            self._carry_on(await self._submitter.reconcile(task, detail="checked again"))
            return self.ledger.get(task_id)
        if task.state.is_active:
            if task.state is not TaskState.SUBMITTING:
                self._poller.follow(task, delay=0)
            return task
        if task.state not in (TaskState.NEEDS_ATTENTION, TaskState.EXPIRED):
            return task
        if task.remote_id is None:
            outcome = await self._submitter.reconcile(task, detail="checked again")
            self._carry_on(outcome)
            return self.ledger.get(task_id)
        if not self._can_poll(task):
            if task.state is TaskState.NEEDS_ATTENTION:
                return task
            status = self._submitter.synchronous_result(task)
            moved = settle(self.ledger, task.id, TaskState.ARCHIVING) if status else None
            if moved is not None and status is not None:
                self._start_archive(task.id, status)
            return self.ledger.get(task_id)
        if task.state is TaskState.NEEDS_ATTENTION:
            fresh = self._clock() + self._policy.deadline(task.engine, task.operation)
            task = self.ledger.update(task.id, deadline_at=fresh)
        return await self._poller.poll_now(task)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no task is active (nor being archived); False after ``timeout`` s.

        For the CLI's ``--wait``/``resume`` and tests. Tasks of a paused engine
        stay active, so this then waits for the timeout.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        changed = self._changed = self._changed or asyncio.Event()
        while True:
            changed.clear()
            if not self._archiving and not self._sending and not self.ledger.active():
                return True
            left = end - loop.time()
            if left <= 0:
                return False
            # Woken by every row change; the short cap also covers rows changed by
            # another process (the CLI and the GUI share the library).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(left, 0.5))

    # ------------------------------------------------------------------ internals
    def _on_change(self, change: TaskChange) -> None:
        if self._changed is not None:
            self._changed.set()

    def _can_poll(self, task: TaskRecord) -> bool:
        if not task.remote_id:
            return False
        operation = self._clients(task.engine).adapter.operation(task.operation)
        return not operation.synchronous

    def _carry_on(self, outcome: SendOutcome) -> None:
        """After a send or reconcile: follow a submitted job, archive a result."""
        task = outcome.task
        if task.state is TaskState.SUBMITTED:
            self._poller.follow(task)
        elif task.state is TaskState.ARCHIVING:
            if outcome.status is not None:
                self._start_archive(task.id, outcome.status)
            else:
                self._archive_stored(task)

    def _archive_stored(self, task: TaskRecord) -> None:
        """Archive a synchronous result from its stored answer (after a restart)."""
        status = self._submitter.synchronous_result(task)
        if status is None:
            settle(
                self.ledger, task.id, TaskState.NEEDS_ATTENTION,
                last_error="The engine's answer could not be read again after a restart; "
                "its files were not saved.",
            )  # fmt: skip
            return
        self._start_archive(task.id, status)

    def _start_archive(self, task_id: int, status: RemoteStatus) -> None:
        """Archive in the background (the poller must not wait for downloads)."""
        if task_id in self._archiving:
            return
        job = asyncio.get_running_loop().create_task(
            self._archive(task_id, status), name=f"studio-archive-{task_id}"
        )
        self._archiving[task_id] = job
        job.add_done_callback(lambda _: self._archive_done(task_id, job))

    def _archive_done(self, task_id: int, job: asyncio.Task[None]) -> None:
        if self._archiving.get(task_id) is job:
            del self._archiving[task_id]
        if self._changed is not None:
            self._changed.set()

    def _refresh_for(self, task: TaskRecord) -> Refresh | None:
        if not self._can_poll(task) or task.remote_id is None:
            return None
        client, operation, remote_id = self._clients(task.engine), task.operation, task.remote_id

        async def refresh() -> RemoteStatus:
            return await client.poll(operation, remote_id)

        return refresh

    async def _archive(self, task_id: int, status: RemoteStatus) -> None:
        if self._archive_limit is None:
            self._archive_limit = asyncio.Semaphore(max(1, self._policy.archive_concurrency))
        async with self._archive_limit:
            task = self.ledger.get(task_id)
            if task.state is not TaskState.ARCHIVING:
                return
            self.events.emit(ArchiveProgress(task_id, "started"))
            try:
                outcome = await self._archiver(task, status, self._refresh_for(task))
            except asyncio.CancelledError:
                raise  # quitting: the row stays "archiving" and is resumed
            except Exception as exc:
                log.exception("task %d: archiving failed", task_id)
                message = f"Files not saved: {exc}"
                settle(self.ledger, task_id, TaskState.NEEDS_ATTENTION, last_error=message)
                self.events.emit(ArchiveProgress(task_id, "finished", message))
                return
            result = verdict(outcome)
            settle(self.ledger, task_id, result.state, last_error=result.message)
            detail = result.message or f"{len(outcome.take_ids)} take(s) saved"
            self.events.emit(ArchiveProgress(task_id, "finished", detail))
