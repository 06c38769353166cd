"""Command-line interface: options of the `studio` command (Qt-free).

With no command, `studio` opens the main window. Headless commands drive the
same core as the GUI. This module is the parser and the dispatch only; the
commands live in studio/cli_commands.py, their output in studio/cli_output.py
and their hold on the data folder in studio/cli_session.py. Command names,
flags, environment variables, JSON fields and exit codes are a fixed contract
(issue 4).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from studio import APP_NAME, __version__
from studio.paths import DATA_DIR_ENV

LOG_LEVELS = ("debug", "info", "warning", "error")
# The engine ids of the contract (studio/engines/catalog.py); listed here so
# `--help` does not import the engine specs.
ENGINE_IDS = ("ttapi", "mountsea", "kling", "evolink")

_EXIT_CODES = (
    "Exit codes: 0 the task is done (listings: printed); 1 a task ended otherwise "
    "(failed, needs attention, expired, cancelled), or Studio is already using the data "
    "folder; 2 bad input (the message names the field and the rule)."
)
_SHARED_FOLDER = (
    "Commands take the data folder's lock, like the window: while Studio's window (or "
    "another command) uses the folder, a command refuses to run (exit 1) instead of "
    "sharing the library."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio",
        description=(
            f"{APP_NAME}: compose songs, sound effects and voice with cloud AI audio "
            "engines (TTAPI, Mountsea, Kling, Evolink). Every result is archived locally "
            "the moment it exists."
        ),
        epilog=(
            f"Environment: {DATA_DIR_ENV} sets the data folder like --data-dir. "
            "Without a secure system keyring, keys are read from STUDIO_TTAPI_API_KEY, "
            "STUDIO_MOUNTSEA_API_KEY, STUDIO_EVOLINK_API_KEY, and STUDIO_KLING_ACCESS_KEY + "
            "STUDIO_KLING_SECRET_KEY (or STUDIO_KLING_API_KEY). STUDIO_<ENGINE>_BASE_URL "
            "(e.g. STUDIO_TTAPI_BASE_URL) overrides an engine's address. STUDIO_SANDBOX=1 is "
            "--sandbox; STUDIO_SANDBOX_TASK_SECONDS sets how long its jobs take; "
            "STUDIO_POLL_SECONDS pins the seconds between polls (tests against a local "
            f"sandbox). {_SHARED_FOLDER}"
        ),
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument(
        "--data-dir",
        metavar="PATH",
        help=f"keep the library, settings, logs and archive under PATH (default: the "
        f"platform's user data folder, or ${DATA_DIR_ENV})",
    )
    parser.add_argument(
        "--offscreen",
        action="store_true",
        help="run the window without a display (tests, screenshots); same as "
        "QT_QPA_PLATFORM=offscreen",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="how much to write to the log file (default: info)",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        default=False,
        help="point every engine (even one with a key) at the built-in offline sandbox, "
        "started for the command's duration: synthesized audio, no account, nothing paid; "
        "same as STUDIO_SANDBOX=1. Its jobs live only as long as the command: a take made "
        "under an earlier --sandbox command cannot be a --parent, and a task left unfinished "
        "by one ends in needs attention when resumed",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_task_commands(commands)
    sandbox = commands.add_parser(
        "sandbox", help="the offline engines (no account, synthesized audio)"
    )
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND")
    sandbox_commands.required = True
    serve = sandbox_commands.add_parser(
        "serve",
        help="run the four offline engines on loopback and print their base URLs",
        description="Run the four offline engines (TTAPI, Mountsea, Kling, Evolink) on "
        "127.0.0.1 until interrupted, and print each one's base URL and demo key.",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="first port; the engines take N, N+1, N+2, N+3 (default: free ports)",
    )
    serve.add_argument(
        "--task-seconds",
        type=float,
        default=6.0,
        metavar="S",
        help="how long each job takes (default: 6)",
    )
    serve.add_argument(
        "--link-ttl",
        type=float,
        default=3600.0,
        metavar="S",
        help="seconds before a result link expires (default: 3600)",
    )
    return parser


def _add_json(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--json", action="store_true", help="print one JSON document instead of a table"
    )
    # The global options are also accepted after the command (`studio tasks
    # --data-dir X`); SUPPRESS keeps the global value when they are not repeated.
    command.add_argument("--data-dir", metavar="PATH", default=argparse.SUPPRESS, help="as above")


def _add_sandbox(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--sandbox", action="store_true", default=argparse.SUPPRESS,
        help="as the global --sandbox",
    )  # fmt: skip


def _add_task_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The task engine's commands (issue 4's contract)."""
    engines = commands.add_parser(
        "engines",
        help="list every engine's operations and fields",
        description="List every engine's operations and their fields, from the engine "
        "specs (* = required). Status calls (TTAPI fetch, Mountsea tasks, Kling query, "
        "Evolink detail) are listed as such: Studio makes them itself to follow a job, "
        "and `generate` does not accept them.",
    )
    _add_json(engines)

    generate = commands.add_parser(
        "generate",
        help="submit one task to an engine",
        description="Submit one task. The request is checked against the engine's spec "
        "first (exit 2 naming the field and the rule); then the task is stored before it "
        "is sent, and sent once. Without --wait the command returns once the engine has "
        "the job (exit 0; `studio resume` follows it); with --wait it polls and archives "
        "until the task ends.",
        epilog=f"{_EXIT_CODES} {_SHARED_FOLDER}",
    )
    generate.add_argument("--engine", required=True, choices=ENGINE_IDS, help="the engine to use")
    generate.add_argument(
        "--op",
        required=True,
        metavar="OP",
        help="the engine's operation: TTAPI music, lyrics, extend, cover, variation, "
        "replace, vocals-swap, instrumentals-swap, stems, download, upload, generate-video; "
        "Mountsea audios, upload, stems, download, download-video; Kling text-to-audio; "
        "Evolink generations",
    )
    generate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a request field by the engine's own name (sound_prompt, soundPrompt, "
        "duration, audio_references…); the value is read as the field's type (numbers, "
        "true/false, lists as a,b or a JSON list). Repeat for each field",
    )
    generate.add_argument(
        "--parent",
        type=int,
        metavar="TAKE_ID",
        help="the local take to work on (see `studio takes`): fills the operation's "
        "parent field (music_id, audioId) with that take's engine id",
    )
    generate.add_argument(
        "--wait", action="store_true", help="poll and archive until the task ends"
    )
    _add_json(generate)
    _add_sandbox(generate)

    tasks = commands.add_parser(
        "tasks",
        help="list the task ledger",
        description="List every task, newest first, with its state, error and takes.",
        epilog=_SHARED_FOLDER,
    )
    _add_json(tasks)

    resume = commands.add_parser(
        "resume",
        help="carry every unfinished task on to its end",
        description="Resume every unfinished task and wait until each has ended: tasks "
        "whose submit was never confirmed are reconciled (Kling is asked by the task's "
        "key; on the other engines the task needs attention, as the job may exist) and "
        "never sent again; submitted and running tasks are polled; succeeded ones are "
        "archived. Tasks that need attention or expired are left to you.",
        epilog=f"{_EXIT_CODES} Exit 0 means every resumed task is done. {_SHARED_FOLDER}",
    )
    _add_json(resume)
    _add_sandbox(resume)

    takes = commands.add_parser(
        "takes",
        help="list the archived takes with their local files and stems",
        description="List every take, newest first, with its files (by format) and stems "
        "on disk, and its parent take.",
        epilog=_SHARED_FOLDER,
    )
    _add_json(takes)


def run_command(args: argparse.Namespace) -> int:
    """Run a headless command (anything but the GUI); the process exit code."""
    if args.command == "sandbox" and args.sandbox_command == "serve":
        from studio.sandbox.serve import serve_forever

        return serve_forever(
            port=args.port, task_seconds=args.task_seconds, link_ttl_s=args.link_ttl
        )
    from studio import cli_commands

    commands = {
        "engines": cli_commands.run_engines,
        "generate": cli_commands.run_generate,
        "tasks": cli_commands.run_tasks,
        "resume": cli_commands.run_resume,
        "takes": cli_commands.run_takes,
    }
    command = commands.get(args.command)
    if command is None:
        raise ValueError(f"unknown command {args.command!r}")
    try:
        return command(args)
    except BrokenPipeError:
        # `studio tasks | head`: the reader left. Python would complain again while
        # flushing stdout at exit, so point it at nothing first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def log_level(name: str) -> int:
    """The logging level for a --log-level choice."""
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise ValueError(f"--log-level: must be one of {', '.join(LOG_LEVELS)}")
    return level
