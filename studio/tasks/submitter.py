"""Sending a paid request exactly once, and reconciling one whose answer was lost.

Runs on the asyncio loop (qasync's on the Qt thread in the GUI): every wait is
awaited, nothing blocks. Touches only the ledger and the engine clients; never
Qt, never the poller's schedule (the service hands the outcome over).

The rules (faults.md J1–J8, providers.md "Behaviour the studio owes"):

* the row is committed in ``submitting`` before the POST (TaskLedger.create);
* provably not sent (refused connection, DNS) → the transport already retried;
  then failed, "nothing was sent";
* a refusal that created no job (429, 499 queue full, Kling 1302/1303) → wait
  as told (or back off) and send again, a bounded number of times;
* anything that may have reached the engine (timeout or reset after sending,
  5xx, an unreadable answer) → never sent again: Kling is asked by our client
  key; the other engines go to "needs attention" and the user decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from studio.core.errors import (
    ConcurrencyLimitError,
    EngineError,
    QueueFullError,
    RateLimitError,
    RequestInvalidError,
    ServerError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteState, RemoteStatus
from studio.core.task_states import TaskState
from studio.engines.adapter import Answer
from studio.engines.client import EngineClient
from studio.engines.kling import find_by_client_key
from studio.library.timestamps import utc_now
from studio.net.errors import NotSentError, OutcomeUnknownError, TransportError
from studio.tasks.cadence import TaskPolicy
from studio.tasks.ledger import TaskLedger, TaskRecord
from studio.tasks.moves import settle

__all__ = ["ClientFor", "SendOutcome", "Submitter", "can_look_up"]

log = logging.getLogger(__name__)

ClientFor = Callable[[str], EngineClient]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class SendOutcome:
    """The task after a send or a reconcile; ``status`` is the result to archive, if any."""

    task: TaskRecord
    status: RemoteStatus | None = None


def can_look_up(client: EngineClient) -> bool:
    """Whether the engine can find a job by our client key (Kling's external_task_id)."""
    return client.adapter.build_lookup("probe") is not None


def _refused_without_job(error: EngineError) -> bool:
    # These answers say the engine did not take the job: sending again cannot
    # create a second one (J7: 499/1302/1303 back off and retry; J5: 429).
    if isinstance(error, RateLimitError | QueueFullError | ConcurrencyLimitError):
        return True
    return isinstance(error, UnexpectedAnswerError) and error.http_status == 429


def _maybe_created(error: EngineError) -> bool:
    # A 5xx (J4) or an answer we cannot read (J8) may come from an engine that
    # created the job and then failed to say so.
    if isinstance(error, UnexpectedAnswerError):
        return error.http_status is None or error.http_status != 429
    return isinstance(error, ServerError)


class Submitter:
    """Sends ``submitting`` rows and reconciles the ones whose outcome is unknown.

    Args:
        ledger: the task ledger (same thread).
        clients: the shared client of an engine (EngineConnections.client).
        policy: refusal attempts and backoff.
        sleep: awaited between refused sends (tests pass a fast one).
        rng: jitter source.
        clock: aware UTC now, for ``submitted_at``.
    """

    def __init__(
        self,
        ledger: TaskLedger,
        clients: ClientFor,
        policy: TaskPolicy,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._clients = clients
        self._policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()

    def validate(self, engine: str, operation: str, params: Mapping[str, Any]) -> None:
        """Check the request against the engine's spec; nothing is stored or sent.

        Raises:
            RequestInvalidError: a field breaks a rule (named in the message).
            KeyError: an unknown engine or operation.
        """
        adapter = self._clients(engine).adapter
        # build_submit is pure: it validates exactly what send() will, including
        # the adapter's own cross-field rules. The key is a placeholder.
        adapter.build_submit(operation, params, client_key="0" * 32)

    async def send(self, task: TaskRecord) -> SendOutcome:
        """Send a ``submitting`` task's request and record what came of it."""
        client = self._clients(task.engine)
        name = client.adapter.spec.info.name
        operation = client.adapter.operation(task.operation)
        attempt = 0
        while True:
            attempt += 1
            settle(self._ledger, task.id, attempts=attempt)
            try:
                result = await client.submit(
                    task.operation, task.params, client_key=task.client_key
                )
            except RequestInvalidError as exc:
                # Validated before the row was made; a spec changed under a resumed row.
                return self._finish(task.id, TaskState.FAILED, exc.message)
            except NotSentError as exc:
                return self._finish(
                    task.id,
                    TaskState.FAILED,
                    f"Could not reach {name}; nothing was sent. ({exc.message})",
                )
            except OutcomeUnknownError as exc:
                return await self.reconcile(self._ledger.get(task.id), detail=exc.message)
            except TransportError as exc:
                # Refused by our own rules (insecure URL, redirect): the engine acted on
                # nothing we can see, but a redirect did answer the POST; let the user decide.
                return self._finish(task.id, TaskState.NEEDS_ATTENTION, exc.message)
            except EngineError as exc:
                if _maybe_created(exc):
                    return await self.reconcile(
                        self._ledger.get(task.id), detail=exc.message, raw=exc.raw
                    )
                if _refused_without_job(exc) and attempt < self._policy.refusal_attempts:
                    wait = self._policy.refusal_backoff.delay(attempt, self._rng, exc.retry_after)
                    log.info("task %d: %s refused (%s); sending again in %.1f s",
                             task.id, name, type(exc).__name__, wait)  # fmt: skip
                    settle(self._ledger, task.id, last_error=exc.message)
                    await self._sleep(wait)
                    if self._ledger.get(task.id).state is not TaskState.SUBMITTING:
                        return SendOutcome(self._ledger.get(task.id))  # cancelled meanwhile
                    continue
                # Nothing was created; the prompt stays in the row for editing.
                return self._finish(task.id, TaskState.FAILED, exc.message, raw=exc.raw)
            break
        now = self._clock()
        status = result.status
        if operation.synchronous and status is not None and status.state is RemoteState.SUCCEEDED:
            moved = settle(
                self._ledger, task.id, TaskState.ARCHIVING, remote_id=result.remote_id,
                submitted_at=now, raw_response=status.raw, cost=status.cost, progress=1.0,
                last_error=None,
            )  # fmt: skip
            return SendOutcome(moved or self._ledger.get(task.id), status if moved else None)
        if result.remote_id is None:
            return self._finish(
                task.id,
                TaskState.NEEDS_ATTENTION,
                f"{name} answered without a job id; check your {name} account before trying again.",
                raw=status.raw if status else None,
            )
        moved = settle(
            self._ledger, task.id, TaskState.SUBMITTED, remote_id=result.remote_id,
            submitted_at=now, raw_response=status.raw if status else None, last_error=None,
        )  # fmt: skip
        return SendOutcome(moved or self._ledger.get(task.id))

    async def reconcile(
        self, task: TaskRecord, *, detail: str | None = None, raw: object = None
    ) -> SendOutcome:
        """Find out whether a submit whose answer was lost created a job; never resend.

        Kling is asked by our client key (sent as ``external_task_id``); found →
        submitted with its id. Otherwise the task needs the user's attention.
        Call for a task in ``submitting`` or ``needs_attention`` without a remote id.
        """
        client = self._clients(task.engine)
        name = client.adapter.spec.info.name
        why = f" ({detail})" if detail else ""
        if not can_look_up(client):
            return self._finish(
                task.id,
                TaskState.NEEDS_ATTENTION,
                f"No clear answer from {name} after the request was sent{why}. The job may "
                f"exist at {name}; Studio will not send it again on its own. Check your "
                f"{name} account, then use Try again if it is not there.",
                raw=raw,
            )
        try:
            found = find_by_client_key(await client.lookup(task.client_key), task.client_key)
        except (EngineError, TransportError) as exc:
            return self._finish(
                task.id,
                TaskState.NEEDS_ATTENTION,
                f"No clear answer from {name} after the request was sent{why}, and looking "
                f"the job up failed ({exc.message}). Check again looks once more.",
                raw=raw,
            )
        if found is None or not found.remote_id:
            return self._finish(
                task.id,
                TaskState.NEEDS_ATTENTION,
                f"{name} has no job with this task's key{why}; it was probably not created. "
                "Check again looks once more; Try again sends a new request.",
                raw=raw,
            )
        log.info("task %d: found at %s by its client key", task.id, name)
        moved = settle(
            self._ledger, task.id, TaskState.SUBMITTED, remote_id=found.remote_id,
            submitted_at=self._clock(), raw_response=found.raw, last_error=None,
        )  # fmt: skip
        return SendOutcome(moved or self._ledger.get(task.id))

    def synchronous_result(self, task: TaskRecord) -> RemoteStatus | None:
        """Re-read a synchronous operation's stored answer (to archive it after a restart).

        Returns None when there is no stored answer or it no longer parses.
        """
        if not task.raw_response:
            return None
        client = self._clients(task.engine)
        try:
            body = json.loads(task.raw_response)
            result = client.adapter.parse_submit(task.operation, Answer(200, body))
        except (ValueError, EngineError, KeyError):
            return None
        return result.status

    def _finish(
        self, task_id: int, state: TaskState, message: str, *, raw: object = None
    ) -> SendOutcome:
        values: dict[str, object] = {"last_error": message}
        if raw is not None:
            values["raw_response"] = raw
        moved = settle(self._ledger, task_id, state, **values)
        return SendOutcome(moved or self._ledger.get(task_id))
