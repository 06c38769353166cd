"""The poller: asks the engines about running jobs at their cadence, one loop for all.

Runs on the asyncio loop (qasync's on the Qt thread in the GUI, so it must never
block: every wait is awaited, each cycle does a little bookkeeping per due task
and no more). It touches the ledger (same thread) and the engine clients; never
Qt, never the archive folder (the service archives what the poller reports).

How it keeps 500 tasks from stalling the loop (design.md "Facts"):

* each followed task has a due time; one scheduler task sleeps until the
  earliest one (or until woken) instead of a timer per task;
* per-engine concurrency caps (a semaphore each) bound requests in flight;
* Kling's due tasks are refreshed with one list call per cycle; only tasks not
  on that page are asked about one by one;
* a failing task backs off alone (P4); a refused key pauses its engine (S6);
* unchanged answers cause no database write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from studio.core.errors import AuthenticationError, EngineError, PermissionDeniedError
from studio.core.remote import RemoteState, RemoteStatus
from studio.core.task_states import TaskState
from studio.engines.client import EngineClient
from studio.library.timestamps import utc_now
from studio.net.errors import TransportError
from studio.tasks.cadence import TaskPolicy
from studio.tasks.events import EnginePaused, EngineResumed, ServiceEvents
from studio.tasks.ledger import TaskLedger, TaskRecord
from studio.tasks.moves import settle

__all__ = ["LIST_PAGE_SIZE_MAX", "OnSuccess", "Poller"]

log = logging.getLogger(__name__)

# The largest page a list endpoint is asked for (Kling allows 500).
LIST_PAGE_SIZE_MAX = 500

Sleep = Callable[[float], Awaitable[None]]
# Called when a job succeeded and its row is in "archiving": the service archives it.
OnSuccess = Callable[[int, RemoteStatus], None]


@dataclass
class _Followed:
    """A task the poller asks about; loop thread only."""

    task_id: int
    engine: str
    operation: str
    remote_id: str
    due: datetime
    polls: int = 0
    failures: int = 0
    busy: bool = False  # a request about it is in flight


class Poller:
    """Follows tasks with a remote id until the engine says they ended.

    Args:
        ledger: the task ledger (same thread).
        clients: the shared client of an engine.
        policy: cadences, deadlines, concurrency caps, backoff.
        events: where engine pause/resume is announced.
        on_success: called with a task that moved to "archiving" and its status.
        clock: aware UTC now.
        sleep: awaited by the scheduler (tests may pass a fake).
        rng: jitter source.
    """

    def __init__(
        self,
        ledger: TaskLedger,
        clients: Callable[[str], EngineClient],
        policy: TaskPolicy,
        events: ServiceEvents,
        on_success: OnSuccess,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._ledger = ledger
        self._clients = clients
        self._policy = policy
        self._events = events
        self._on_success = on_success
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._followed: dict[int, _Followed] = {}
        self._paused: dict[str, str] = {}  # engine -> why
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._jobs: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------------ following
    def follow(self, task: TaskRecord, delay: float | None = None) -> None:
        """Start (or restart) asking about ``task``; the first poll after ``delay`` seconds
        (default: the engine's first-poll cadence). Tasks without a remote id are ignored."""
        if not task.remote_id:
            return
        if delay is None:
            delay = self._policy.cadence(task.engine).delay(0, self._rng)
        entry = self._followed.get(task.id)
        due = self._clock() + timedelta(seconds=delay)
        if entry is None:
            self._followed[task.id] = _Followed(
                task.id, task.engine, task.operation, task.remote_id, due
            )
        else:
            entry.remote_id = task.remote_id
            entry.due = min(entry.due, due)
        self._poke()

    def forget(self, task_id: int) -> None:
        """Stop asking about a task (cancelled, ended, handed to the archiver)."""
        self._followed.pop(task_id, None)

    def is_following(self, task_id: int) -> bool:
        return task_id in self._followed

    @property
    def followed(self) -> int:
        return len(self._followed)

    # ------------------------------------------------------------------ pausing
    def paused(self) -> dict[str, str]:
        """Engines whose polling is paused, with the reason."""
        return dict(self._paused)

    def pause(self, engine: str, message: str) -> None:
        if engine not in self._paused:
            self._paused[engine] = message
            log.warning("polling of %s paused: %s", engine, message)
            self._events.emit(EnginePaused(engine, message))

    def resume(self, engine: str) -> None:
        """Poll the engine's tasks again, at once (after the user set a new key)."""
        if self._paused.pop(engine, None) is None:
            return
        now = self._clock()
        for entry in self._followed.values():
            if entry.engine == engine:
                entry.due = now
                entry.failures = 0
        self._events.emit(EngineResumed(engine))
        self._poke()

    # ------------------------------------------------------------------ the loop
    def start(self) -> None:
        """Start the scheduler on the running loop (idempotent)."""
        if self._loop_task is None or self._loop_task.done():
            self._wake = asyncio.Event()
            self._loop_task = asyncio.get_running_loop().create_task(
                self._run(), name="studio-poller"
            )

    async def stop(self) -> None:
        """Stop the scheduler and every poll in flight. Rows keep their state (U2)."""
        tasks = [t for t in (self._loop_task, *self._jobs) if t is not None]
        self._loop_task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._jobs.clear()
        for entry in self._followed.values():
            entry.busy = False

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await self._cycle()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug in one cycle must not end polling for every task; the next
                # cycle starts after a pause so a repeating fault cannot spin.
                log.exception("poller cycle failed")
                await self._sleep(1.0)

    async def _cycle(self) -> None:
        """Start the refresh of every due task, then wait for the next due time."""
        assert self._wake is not None
        self._wake.clear()
        now = self._clock()
        due: dict[str, list[_Followed]] = {}
        upcoming: datetime | None = None
        for entry in self._followed.values():
            if entry.busy or entry.engine in self._paused:
                continue
            if entry.due <= now:
                due.setdefault(entry.engine, []).append(entry)
            elif upcoming is None or entry.due < upcoming:
                upcoming = entry.due
        self._add_soon_due(due, now)
        for engine, entries in due.items():
            for entry in entries:
                entry.busy = True
            self._spawn(self._refresh(engine, entries))
        await self._wait(None if upcoming is None else (upcoming - now).total_seconds())

    def _add_soon_due(self, due: dict[str, list[_Followed]], now: datetime) -> None:
        """Let tasks due shortly ride along in a list call that is made anyway."""
        horizon = now + timedelta(seconds=self._policy.bulk_window)
        for engine, entries in due.items():
            if not self._bulk(engine):
                continue
            for entry in self._followed.values():
                if entry.engine == engine and not entry.busy and now < entry.due <= horizon:
                    entries.append(entry)

    def _bulk(self, engine: str) -> bool:
        """Whether the engine refreshes many tasks in one call (Kling's list)."""
        return self._clients(engine).adapter.build_list(1, 1) is not None

    async def _wait(self, seconds: float | None) -> None:
        """Until ``seconds`` pass or something is poked (new task, a poll finished)."""
        assert self._wake is not None
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
        if seconds is not None:
            waiters.add(asyncio.ensure_future(self._sleep(max(0.0, seconds))))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def job() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a poll job failed")
            finally:
                self._poke()

        task = asyncio.get_running_loop().create_task(job())
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    def _limit(self, engine: str) -> asyncio.Semaphore:
        limit = self._limits.get(engine)
        if limit is None:
            limit = self._limits[engine] = asyncio.Semaphore(self._policy.limit(engine))
        return limit

    # ------------------------------------------------------------------ one cycle
    async def _refresh(self, engine: str, entries: list[_Followed]) -> None:
        """Refresh the due tasks of one engine: in bulk where it can, else one by one."""
        try:
            client = self._clients(engine)
            rest = entries
            if len(entries) >= self._policy.bulk_min and self._bulk(engine):
                rest = await self._refresh_by_list(client, entries)
            if rest:
                await asyncio.gather(*(self._poll_one(client, entry) for entry in rest))
        finally:
            for entry in entries:
                entry.busy = False

    async def _refresh_by_list(
        self, client: EngineClient, entries: list[_Followed]
    ) -> list[_Followed]:
        """One list call for many tasks; returns the ones not on the page."""
        size = min(LIST_PAGE_SIZE_MAX, max(self._policy.list_page_size, len(entries) + 20))
        try:
            async with self._limit(client.engine_id):
                statuses = await client.list_recent(1, size)
        except (AuthenticationError, PermissionDeniedError) as exc:
            self.pause(client.engine_id, exc.message)
            return []
        except (EngineError, TransportError) as exc:
            # The list failing says nothing about one task: ask one by one instead.
            log.info("list refresh of %s failed (%s); polling one by one", client.engine_id, exc)
            return entries
        by_id = {status.remote_id: status for status in statuses if status.remote_id}
        rest: list[_Followed] = []
        for entry in entries:
            status = by_id.get(entry.remote_id)
            if status is None:
                rest.append(entry)
            else:
                self._apply(entry, status)
        return rest

    async def _poll_one(self, client: EngineClient, entry: _Followed) -> None:
        try:
            async with self._limit(entry.engine):
                if entry.engine in self._paused or entry.task_id not in self._followed:
                    return
                status = await client.poll(entry.operation, entry.remote_id)
        except (AuthenticationError, PermissionDeniedError) as exc:
            self.pause(entry.engine, exc.message)
        except (EngineError, TransportError) as exc:
            retry_after = exc.retry_after if isinstance(exc, EngineError) else None
            self._poll_failed(entry, exc.message, retry_after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a parser must not stop the other tasks
            log.exception("task %d: polling failed unexpectedly", entry.task_id)
            self._poll_failed(entry, f"unexpected error: {type(exc).__name__}", None)
        else:
            self._apply(entry, status)

    async def poll_now(self, task: TaskRecord) -> TaskRecord:
        """Ask about one task at once and apply the answer (Check again).

        Waits for the engine's concurrency slot like any poll. Raises nothing for
        engine or network trouble: the task's row says what happened.
        """
        self.follow(task, delay=0)
        entry = self._followed.get(task.id)
        if entry is None or entry.busy:
            return self._ledger.get(task.id)
        entry.busy = True
        try:
            await self._poll_one(self._clients(task.engine), entry)
        finally:
            entry.busy = False
            self._poke()
        after = self._ledger.get(task.id)
        if not after.state.is_active:
            # Still needs attention (or expired): asked once, as the user wanted; no
            # automatic polling of it after that (no polling storm, P2).
            self.forget(task.id)
        return after

    # ------------------------------------------------------------------ answers
    def _name(self, engine: str) -> str:
        return self._clients(engine).adapter.spec.info.name

    def _apply(self, entry: _Followed, status: RemoteStatus) -> None:
        """Record what the engine said about a task and decide when to ask next."""
        if entry.task_id not in self._followed:
            return  # forgotten while the request was in flight (cancelled)
        task = self._ledger.get(entry.task_id)
        entry.failures = 0
        if status.state is RemoteState.SUCCEEDED:
            self.forget(entry.task_id)
            moved = settle(
                self._ledger, task.id, TaskState.ARCHIVING, progress=1.0, cost=status.cost,
                raw_response=status.raw, engine_message=status.engine_message, last_error=None,
            )  # fmt: skip
            if moved is not None:
                self._on_success(task.id, status)
            return
        if status.state is RemoteState.FAILED:
            self.forget(entry.task_id)
            name = self._name(task.engine)
            reason = status.engine_message or f"{name} reports that the job failed"
            if status.error_code and status.error_code not in reason:
                reason = f"{reason} (code {status.error_code})"
            # A job that succeeded and now "failed" (during archiving) is not ours
            # to fail: the user looks at it.
            failed = TaskState.FAILED
            if task.state is TaskState.ARCHIVING:
                failed = TaskState.NEEDS_ATTENTION
            settle(self._ledger, task.id, failed, last_error=reason,
                   engine_message=status.engine_message, raw_response=status.raw)  # fmt: skip
            return
        # Queued, running, or a word we do not know (P1): still in progress.
        message = status.engine_message
        if status.state is RemoteState.UNKNOWN and status.engine_status is not None:
            message = message or f"status {status.engine_status!r}"
        target = None
        if task.state in (TaskState.SUBMITTED, TaskState.NEEDS_ATTENTION):
            target = TaskState.RUNNING
        values: dict[str, object] = {"engine_message": message, "last_error": None}
        if status.progress is not None:
            values["progress"] = status.progress
        if target is not None:
            values["raw_response"] = status.raw
        moved = settle(self._ledger, task.id, target, **values)
        if moved is None or not moved.state.is_active:
            self.forget(entry.task_id)  # e.g. an expired task that is not done yet
            return
        entry.polls += 1
        self._next(entry, moved, self._policy.cadence(entry.engine).delay(entry.polls, self._rng))

    def _poll_failed(self, entry: _Followed, message: str, retry_after: float | None) -> None:
        """Back this one task off (P4); the others keep their cadence."""
        entry.failures += 1
        if entry.task_id not in self._followed:
            return
        delay = self._policy.error_backoff.delay(entry.failures, self._rng, retry_after)
        log.info("task %d: poll failed (%s); next try in %.1f s", entry.task_id, message, delay)
        task = settle(self._ledger, entry.task_id, last_error=f"{message} Trying again.")
        if task is not None:
            self._next(entry, task, delay)

    def _next(self, entry: _Followed, task: TaskRecord, delay: float) -> None:
        """Schedule the next poll, unless the task's local deadline has passed (P2)."""
        now = self._clock()
        deadline = task.deadline_at
        if deadline is not None and now >= deadline and task.state is not TaskState.ARCHIVING:
            self.forget(entry.task_id)
            minutes = self._policy.deadline(task.engine, task.operation) / timedelta(minutes=1)
            name = self._name(task.engine)
            settle(
                self._ledger, task.id, TaskState.NEEDS_ATTENTION,
                last_error=f"No final answer from {name} in {minutes:g} minutes. The job may "
                "still finish: Check again asks once more.",
            )  # fmt: skip
            return
        entry.due = now + timedelta(seconds=delay)
