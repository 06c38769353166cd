"""One headless command's hold on the studio: the lock, the open context, the sandbox, the loop.

Qt-free. Every command that reads or writes the library goes through
:func:`command_session`, so the CLI and the GUI never share a database at the
same time (the single-instance lock), every command logs to the same file, and
``--sandbox`` means the same thing everywhere: *every* engine talks to the
offline sandbox started in this process, even engines that have a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from studio.context import AppContext, open_context
from studio.core.errors import FieldProblem
from studio.engines.connections import EngineConnections
from studio.instance import AlreadyRunningError, SingleInstanceLock
from studio.library.database import LibraryTooNewError
from studio.paths import resolve_paths
from studio.sandbox.app import SandboxConfig
from studio.tasks.cadence import DEFAULT_POLICY, Cadence, ErrorBackoff, TaskPolicy

if TYPE_CHECKING:
    from studio.tasks.service import TaskService

__all__ = [
    "EXIT_NOT_DONE",
    "EXIT_OK",
    "EXIT_USAGE",
    "POLL_SECONDS_ENV",
    "SANDBOX_ENV",
    "SANDBOX_TASK_SECONDS_ENV",
    "CommandError",
    "Session",
    "command_session",
    "run_async",
    "sandbox_requested",
    "task_policy",
]

T = TypeVar("T")

SANDBOX_ENV = "STUDIO_SANDBOX"
# How long each sandbox job takes under --sandbox (tests and demos want it short).
SANDBOX_TASK_SECONDS_ENV = "STUDIO_SANDBOX_TASK_SECONDS"
# Seconds between polls of every engine, instead of the engines' own cadence
# (tests against a local sandbox; never needed against the real services).
POLL_SECONDS_ENV = "STUDIO_POLL_SECONDS"

# Exit codes of the contract: 0 done, 1 ended otherwise (or refused to run), 2 bad input.
EXIT_OK = 0
EXIT_NOT_DONE = 1
EXIT_USAGE = 2

_TRUE_WORDS = {"1", "true", "yes", "on"}


class CommandError(Exception):
    """A command cannot go on; ``message`` is for the user, ``exit_code`` for the shell.

    Attributes:
        problems: the broken rules of a request (field and rule), when that is the cause.
    """

    def __init__(
        self, message: str, exit_code: int = EXIT_USAGE, problems: list[FieldProblem] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.problems = list(problems or [])


def _env_number(name: str) -> float | None:
    """A non-negative number from the environment, or None when unset.

    Raises:
        CommandError: the variable is set to something that is not such a number.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise CommandError(f"{name}: must be a number of seconds (got {raw!r})") from None
    if not math.isfinite(value) or value < 0:
        raise CommandError(f"{name}: must be a number of seconds ≥ 0 (got {raw!r})")
    return value


def sandbox_requested(flag: bool) -> bool:
    """``--sandbox`` given, or ``STUDIO_SANDBOX`` set to a true word (1, true, yes, on)."""
    return flag or os.environ.get(SANDBOX_ENV, "").strip().lower() in _TRUE_WORDS


def sandbox_config() -> SandboxConfig:
    """The in-process sandbox's settings: the defaults, with the job length from the env."""
    seconds = _env_number(SANDBOX_TASK_SECONDS_ENV)
    return SandboxConfig() if seconds is None else SandboxConfig(task_seconds=seconds)


def task_policy(*, sandbox: bool, sandbox_seconds: float | None = None) -> TaskPolicy:
    """The task service's numbers for a command.

    The engines' own cadence (seconds between polls) is right for the real
    services; the loopback sandbox has no rate limit, so under ``--sandbox`` a
    command asks every half second or so instead of keeping the user waiting.
    A sandbox job never outlives its command's sandbox, so under ``--sandbox`` a
    task's local deadline is short too: a job the sandbox no longer knows (sent
    by an earlier command) goes to "needs attention" within a minute or two
    instead of being polled for half an hour. ``STUDIO_POLL_SECONDS`` pins the
    gap between polls for every engine (tests against a local sandbox).

    Args:
        sandbox: the command runs under ``--sandbox``.
        sandbox_seconds: how long a sandbox job takes (its ``task_seconds``).
    """
    policy = DEFAULT_POLICY
    if sandbox:
        seconds = SandboxConfig().task_seconds if sandbox_seconds is None else sandbox_seconds
        policy = replace(
            policy,
            cadences={},
            default_cadence=Cadence(first=0.5, growth=1.3, longest=2.0, jitter=0.2),
            deadlines={},
            default_deadline=timedelta(seconds=max(60.0, 10 * seconds)),
            error_backoff=ErrorBackoff(base=0.5, cap=5.0),
        )
    pinned = _env_number(POLL_SECONDS_ENV)
    if pinned is not None:
        # A floor, so "0" means "as fast as sensible", not a loop that never yields.
        pinned = max(pinned, 0.05)
        cadence = Cadence(first=pinned, growth=1.0, longest=pinned, jitter=0.2)
        policy = replace(policy, cadences={}, default_cadence=cadence)
    return policy


@dataclass
class Session:
    """What a command works with: the open context and how its engines are reached."""

    context: AppContext
    sandbox: bool
    policy: TaskPolicy
    _service: TaskService | None = field(default=None, init=False, repr=False)

    def task_service(self) -> TaskService:
        """The session's task service, built on the running loop with the CLI's policy."""
        self._service = self.context.task_service(self.policy)
        return self._service

    def task_service_if_built(self) -> TaskService | None:
        """The task service if a command built one (to read what it learnt), else None."""
        return self._service


@contextlib.contextmanager
def command_session(data_dir: str | None, *, log_level: int, sandbox: bool) -> Iterator[Session]:
    """Hold the data folder for one command, with the library open.

    Args:
        data_dir: ``--data-dir`` (None: ``STUDIO_DATA_DIR`` or the platform's folder).
        log_level: the log file's level.
        sandbox: route every engine to an in-process sandbox, stopped afterwards.

    Raises:
        CommandError: the GUI (or another command) holds the folder (exit 1), the
            library is from a newer Studio (exit 2), or the sandbox cannot start (exit 1).
    """
    config = sandbox_config() if sandbox else None
    policy = task_policy(
        sandbox=sandbox, sandbox_seconds=None if config is None else config.task_seconds
    )
    paths = resolve_paths(data_dir)
    lock = SingleInstanceLock(paths.lock_file)
    try:
        lock.acquire()
    except AlreadyRunningError:
        raise CommandError(
            f"Studio is already using the data folder {paths.data_dir} (its window, or "
            "another studio command). Commands do not share the library with a running "
            "Studio: quit it first, or use another --data-dir.",
            EXIT_NOT_DONE,
        ) from None
    try:
        try:
            ctx = open_context(paths, log_level=log_level)
        except LibraryTooNewError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        try:
            if config is not None:
                _force_sandbox(ctx, config)
            yield Session(ctx, sandbox=sandbox, policy=policy)
        finally:
            ctx.close()
    finally:
        lock.release()


def _force_sandbox(ctx: AppContext, config: SandboxConfig) -> None:
    """Swap the context's connections for ones that send everything to a fresh sandbox."""
    # A sandbox the preferences may have started is replaced: one per command,
    # with the command's settings. ctx.close() stops the new one.
    ctx.connections.stop_sandbox()
    connections = EngineConnections(ctx.preferences, ctx.credentials, force_sandbox=True)
    try:
        connections.start_sandbox(config)
    except OSError as exc:
        raise CommandError(
            f"The offline sandbox could not start ({exc.strerror or exc}).", EXIT_NOT_DONE
        ) from None
    ctx.connections = connections


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine on a fresh loop; SIGTERM cancels it like Ctrl+C.

    Cancelling (rather than dying) lets the command stop its service and close
    its connections; the ledger keeps every row, so ``studio resume`` goes on.
    """

    async def main() -> T:
        task = asyncio.current_task()
        if task is not None and sys.platform != "win32":
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coro

    return asyncio.run(main())
