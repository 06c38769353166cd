"""Command-line interface: options of the `studio` command (Qt-free).

With no command, `studio` opens the main window. Headless commands (export and
friends) are added here by later issues and drive the same core as the GUI.
"""

from __future__ import annotations

import argparse
import logging

from studio import APP_NAME, __version__
from studio.paths import DATA_DIR_ENV

LOG_LEVELS = ("debug", "info", "warning", "error")


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
            "STUDIO_KLING_SECRET_KEY (or STUDIO_KLING_API_KEY)."
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
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


def run_command(args: argparse.Namespace) -> int:
    """Run a headless command (anything but the GUI); the process exit code."""
    if args.command == "sandbox" and args.sandbox_command == "serve":
        from studio.sandbox.serve import serve_forever

        return serve_forever(
            port=args.port, task_seconds=args.task_seconds, link_ttl_s=args.link_ttl
        )
    raise ValueError(f"unknown command {args.command!r}")


def log_level(name: str) -> int:
    """The logging level for a --log-level choice."""
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise ValueError(f"--log-level: must be one of {', '.join(LOG_LEVELS)}")
    return level
