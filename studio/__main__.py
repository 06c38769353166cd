"""`studio` and `python -m studio`: parse the command line, then run a command or the GUI.

This is the bootstrap that may start Qt; the Qt import happens only after the
arguments are parsed, so `--help` and `--version` work without a display.
"""

from __future__ import annotations

import sys

from studio.cli import build_parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is not None:
        from studio.cli import run_command

        return run_command(args)
    from studio.qt.app import run_gui

    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
