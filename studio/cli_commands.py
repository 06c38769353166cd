"""The headless commands: engines, generate, tasks, resume, takes (issue 4's CLI contract).

Qt-free. Each ``run_*`` function takes the parsed arguments and returns the
process exit code: 0 when the task is done (or a listing was printed), 1 when
a task ended otherwise or the command could not run, 2 on bad input (the
message names the field and the rule). With ``--json`` exactly one JSON
document goes to stdout; messages for people go to stderr.

Commands drive the same core as the window (TaskService, ledger, archiver),
on a plain asyncio loop on the main thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from studio.cli_output import (
    engine_doc,
    engines_table,
    is_status_call,
    print_json,
    take_doc,
    takes_table,
    task_doc,
    task_summary,
    tasks_table,
)
from studio.cli_session import (
    EXIT_NOT_DONE,
    EXIT_OK,
    CommandError,
    Session,
    command_session,
    run_async,
    sandbox_requested,
)
from studio.core.errors import FieldProblem, RequestInvalidError
from studio.core.task_states import TaskState
from studio.engines.catalog import engine_info
from studio.engines.connections import Route
from studio.engines.registry import SPECS, create_adapter, spec_for
from studio.engines.spec import OperationSpec
from studio.tasks.ledger import TaskChange, TaskRecord

if TYPE_CHECKING:
    from studio.tasks.service import TaskService

__all__ = [
    "EXIT_INTERRUPTED",
    "parse_params",
    "run_engines",
    "run_generate",
    "run_resume",
    "run_takes",
    "run_tasks",
    "submittable_operations",
]

# A shell's convention for "stopped by Ctrl+C"; the task rows stay for `studio resume`.
EXIT_INTERRUPTED = 130
# How often a waiting command looks at the ledger when no change woke it.
_WAIT_TICK_S = 0.5


def _level(args: argparse.Namespace) -> int:
    """The log file's level for ``--log-level``."""
    # Imported here: studio.cli imports this module lazily in its dispatch, and
    # the parser module stays free of everything a command pulls in.
    from studio.cli import log_level

    return log_level(args.log_level)


def _fail(error: CommandError, as_json: bool) -> int:
    """Report a command error: sentence (and problems) on stderr, JSON on stdout."""
    print(f"studio: {error.message}", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem.field}: {problem.rule}", file=sys.stderr)
    if as_json:
        print_json(
            {
                "error": error.message,
                "problems": [{"field": p.field, "rule": p.rule} for p in error.problems],
                "exit_code": error.exit_code,
            }
        )
    return error.exit_code


def _guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, turning its refusals and interruptions into exit codes."""
    as_json = bool(getattr(args, "json", False))
    try:
        return run(args)
    except CommandError as exc:
        return _fail(exc, as_json)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(
            "studio: interrupted. Every task keeps its state; `studio resume` carries on.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


# --------------------------------------------------------------------------- engines


def submittable_operations(engine: str) -> list[str]:
    """The operations ``generate --op`` accepts for an engine (status calls left out)."""
    return [op.id for op in spec_for(engine).operations if not is_status_call(op)]


def run_engines(args: argparse.Namespace) -> int:
    """``studio engines [--json]``: every engine's operations and fields, from the specs.

    Reads no data folder and no key, so it works anywhere, even beside a running GUI.
    """
    specs = list(SPECS.values())
    if args.json:
        print_json({"engines": [engine_doc(spec) for spec in specs]})
    else:
        print(engines_table(specs))
    return EXIT_OK


# --------------------------------------------------------------------------- generate


def _operation(engine: str, op_id: str) -> OperationSpec:
    spec = spec_for(engine)
    known = ", ".join(submittable_operations(engine))
    try:
        op = spec.operation(op_id)
    except KeyError:
        raise CommandError(
            f"--op: {spec.info.name} has no operation {op_id!r} (known: {known})"
        ) from None
    if is_status_call(op):
        raise CommandError(
            f"--op: {op_id!r} is a status call that Studio makes itself to follow a job; "
            f"it cannot be submitted. {spec.info.name} operations: {known}"
        )
    return op


def parse_params(op: OperationSpec, pairs: Iterable[str]) -> dict[str, Any]:
    """``--param KEY=VALUE`` texts → values coerced by the engine's spec.

    Raises:
        CommandError: a pair without ``=``, a field given twice, an unknown field or a
            value that does not fit its type (every problem listed, exit 2).
    """
    params: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(FieldProblem(pair, "must be written KEY=VALUE"))
            continue
        if name in params:
            problems.append(FieldProblem(name, "is given twice"))
            continue
        try:
            params[name] = op.parse_param(name, text)
        except RequestInvalidError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CommandError(f"--param: invalid request for {op.label}", problems=problems)
    return params


def _validate(engine: str, op: OperationSpec, params: dict[str, Any]) -> None:
    """Check the request exactly as the submit will (the adapter's build is pure)."""
    try:
        create_adapter(engine).build_submit(op.id, params, client_key="0" * 32)
    except RequestInvalidError as exc:
        raise CommandError(f"invalid request for {op.label}", problems=exc.problems) from None


# A stand-in parent id while the request is checked before the library is opened.
_PARENT_PLACEHOLDER = "parent-take"


def run_generate(args: argparse.Namespace) -> int:
    """``studio generate``: check, commit, send once; with ``--wait`` follow and archive."""
    return _guarded(_generate, args)


def _generate(args: argparse.Namespace) -> int:
    engine: str = args.engine
    op = _operation(engine, args.op)
    params = parse_params(op, args.param or [])
    field = op.parent_field
    if args.parent is not None and field is None:
        raise CommandError(f"--parent: {op.id} does not work on an existing take")
    if field is not None:
        if args.parent is not None and field in params:
            raise CommandError(
                f"--parent and --param {field}: give the parent take one way, not both"
            )
        if args.parent is None and field not in params:
            raise CommandError(
                f"{op.id} works on an existing take: give --parent TAKE_ID (a take from "
                f"`studio takes`), or --param {field}=<the engine's id>",
                problems=[FieldProblem(field, "is required (the parent take)")],
            )
    # Bad input is refused before the data folder is touched.
    check = dict(params)
    if field is not None and args.parent is not None:
        check[field] = _PARENT_PLACEHOLDER
    _validate(engine, op, check)

    sandbox = sandbox_requested(args.sandbox)
    with command_session(args.data_dir, log_level=_level(args), sandbox=sandbox) as session:
        _require_route(session, engine)
        parent_take_id = _resolve_parent(session, engine, op, params, args.parent)
        _validate(engine, op, params)
        task = run_async(_submit(session, engine, op.id, params, parent_take_id, args))
        doc = task_doc(task, session.context.takes)
        paused = _paused_reason(session, task.engine)
    if args.json:
        print_json(doc)
    else:
        print(task_summary(doc))
    if paused:
        print(f"studio: polling of {engine} is paused: {paused}", file=sys.stderr)
    if task.state is TaskState.DONE:
        return EXIT_OK
    if not args.wait and task.state.is_active:
        if not args.json:
            print("Not waiting: `studio resume` follows it to the end.", file=sys.stderr)
        return EXIT_OK
    return EXIT_NOT_DONE


def _require_route(session: Session, engine: str) -> None:
    """Refuse, before any row is stored, to submit to an engine that has no key.

    Raises:
        CommandError: exit 1, naming the variables to set or ``--sandbox``.
    """
    if session.context.connections.route(engine) is not Route.UNAVAILABLE:
        return
    info = engine_info(engine)
    ways = " + ".join(f.env_var(engine) for f in info.credential_sets[0])
    for group in info.credential_sets[1:]:
        ways += " (or " + " + ".join(f.env_var(engine) for f in group) + ")"
    raise CommandError(
        f"No {info.name} key is set: save one in Studio's Settings or set {ways}; "
        "or try it with --sandbox (offline, nothing paid).",
        EXIT_NOT_DONE,
    )


def _resolve_parent(
    session: Session,
    engine: str,
    op: OperationSpec,
    params: dict[str, Any],
    parent: int | None,
) -> int | None:
    """Fill the operation's parent field from a local take; the take's id for the ledger."""
    field = op.parent_field
    if field is None:
        return None
    takes = session.context.takes
    if parent is None:
        # The engine's id was given directly; link the local take if we have it.
        found = takes.find_by_remote_id(engine, str(params[field]))
        return None if found is None else found.id
    take = takes.get(parent)
    if take is None:
        raise CommandError(
            f"--parent: there is no take {parent} (see `studio takes`)",
            problems=[FieldProblem(field, f"take {parent} does not exist")],
        )
    if take.engine != engine:
        raise CommandError(
            f"--parent: take {parent} was made by {take.engine}, not {engine}; an engine "
            "only works on its own takes",
            problems=[FieldProblem(field, f"take {parent} belongs to {take.engine}")],
        )
    if not take.remote_id:
        raise CommandError(
            f"--parent: take {parent} has no {engine} id, so {engine} cannot find it",
            problems=[FieldProblem(field, f"take {parent} has no engine id")],
        )
    params[field] = take.remote_id
    return take.id


def _paused_reason(session: Session, engine: str) -> str | None:
    service = session.task_service_if_built()
    return None if service is None else service.paused_engines.get(engine)


async def _submit(
    session: Session,
    engine: str,
    operation: str,
    params: dict[str, Any],
    parent_take_id: int | None,
    args: argparse.Namespace,
) -> TaskRecord:
    service = session.task_service()
    ledger = service.ledger
    unsubscribe = None if args.json else ledger.subscribe(_progress_printer())
    service.start()
    try:
        task = await service.submit(engine, operation, params, parent_take_id=parent_take_id)
        # A synchronous answer (lyrics) is archived right away even without --wait:
        # the result exists and leaving it unsaved would only defer the download.
        if args.wait or task.state is TaskState.ARCHIVING:
            await _wait_until_ended(service, [task.id])
        return ledger.get(task.id)
    finally:
        await _shutdown(session, service)
        if unsubscribe is not None:
            unsubscribe()


async def _shutdown(session: Session, service: TaskService) -> None:
    """Stop following (rows keep their states) and close the engines' connections."""
    try:
        await service.stop()
    finally:
        await session.context.connections.aclose()


def _progress_printer() -> Callable[[TaskChange], None]:
    """A ledger listener that tells a person on stderr when a task changes state."""

    def show(change: TaskChange) -> None:
        if "state" not in change.changed:
            return
        task = change.task
        line = f"task {task.id}: {task.state.value}"
        if task.remote_id and task.state is TaskState.SUBMITTED:
            line += f" ({task.remote_id})"
        print(line, file=sys.stderr, flush=True)

    return show


async def _wait_until_ended(service: TaskService, task_ids: Sequence[int]) -> None:
    """Return when none of the tasks is active, or none can move without the user.

    A task of an engine whose polling is paused (its key was refused) stays
    active forever; waiting for it would hang the command, so it ends the wait.
    The local deadline of each operation bounds every other wait (needs attention).
    """
    ledger = service.ledger
    changed = asyncio.Event()
    unsubscribe = ledger.subscribe(lambda _change: changed.set())
    try:
        while True:
            changed.clear()
            pending = [task for task in map(ledger.get, task_ids) if task.state.is_active]
            if not pending:
                return
            paused = service.paused_engines
            if paused and all(task.engine in paused for task in pending):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), _WAIT_TICK_S)
    finally:
        unsubscribe()


# --------------------------------------------------------------------------- listings


def run_tasks(args: argparse.Namespace) -> int:
    """``studio tasks [--json]``: the ledger, newest first, each task with its takes."""
    return _guarded(_tasks, args)


def _tasks(args: argparse.Namespace) -> int:
    with command_session(args.data_dir, log_level=_level(args), sandbox=False) as session:
        ctx = session.context
        docs = [task_doc(task, ctx.takes) for task in ctx.ledger.all()]
    if args.json:
        print_json({"tasks": docs})
    else:
        print(tasks_table(docs))
    return EXIT_OK


def run_takes(args: argparse.Namespace) -> int:
    """``studio takes [--json]``: the archived takes, newest first, with files and stems."""
    return _guarded(_takes, args)


def _takes(args: argparse.Namespace) -> int:
    with command_session(args.data_dir, log_level=_level(args), sandbox=False) as session:
        ctx = session.context
        docs = [take_doc(take, ctx.takes) for take in ctx.takes.all_takes()]
    if args.json:
        print_json({"takes": docs})
    else:
        print(takes_table(docs))
    return EXIT_OK


# --------------------------------------------------------------------------- resume


def run_resume(args: argparse.Namespace) -> int:
    """``studio resume``: reconcile, poll and archive every unfinished task to its end."""
    return _guarded(_resume, args)


def _resume(args: argparse.Namespace) -> int:
    sandbox = sandbox_requested(args.sandbox)
    with command_session(args.data_dir, log_level=_level(args), sandbox=sandbox) as session:
        ctx = session.context
        task_ids = [task.id for task in ctx.ledger.active()]
        paused = run_async(_resume_all(session, task_ids, quiet=args.json))
        docs = [task_doc(ctx.ledger.get(task_id), ctx.takes) for task_id in task_ids]
    if args.json:
        print_json({"tasks": docs, "paused_engines": paused})
    elif docs:
        print(tasks_table(docs))
    else:
        print("Nothing to resume: every task has ended.")
    for engine, reason in paused.items():
        print(f"studio: polling of {engine} is paused: {reason}", file=sys.stderr)
    done = all(doc["state"] == TaskState.DONE.value for doc in docs)
    return EXIT_OK if done else EXIT_NOT_DONE


async def _resume_all(session: Session, task_ids: list[int], *, quiet: bool) -> dict[str, str]:
    service = session.task_service()
    unsubscribe = None if quiet else service.ledger.subscribe(_progress_printer())
    service.start()
    try:
        await service.resume_all()
        await _wait_until_ended(service, task_ids)
        return service.paused_engines
    finally:
        await _shutdown(session, service)
        if unsubscribe is not None:
            unsubscribe()
