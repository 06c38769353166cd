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
    return parser


def log_level(name: str) -> int:
    """The logging level for a --log-level choice."""
    level = logging.getLevelName(name.upper())
    if not isinstance(level, int):
        raise ValueError(f"--log-level: must be one of {', '.join(LOG_LEVELS)}")
    return level
