"""The `studio` command itself: options, single instance, refusal of a newer library."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio import __version__


def studio_env() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    # The child must never read the developer's real keyring.
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env


def run_studio(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studio", *args],
        capture_output=True, text=True, timeout=timeout, env=studio_env(),
    )


def wait_for_log(log_file: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file.exists() and text in log_file.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {log_file}")


def test_version_and_help_need_no_display() -> None:
    version = run_studio("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"Studio {__version__}"
    usage = run_studio("--help")
    assert usage.returncode == 0
    for option in ("--data-dir", "--offscreen", "--version", "STUDIO_DATA_DIR"):
        assert option in usage.stdout


def test_second_studio_raises_the_first_instead_of_sharing_the_library(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log_file = data / "logs" / "studio.log"
    first = subprocess.Popen(
        [sys.executable, "-m", "studio", "--offscreen", "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=studio_env(),
    )
    try:
        wait_for_log(log_file, "main window shown")
        second = run_studio("--offscreen", "--data-dir", str(data))
        assert second.returncode == 0
        assert "already running" in second.stderr
        assert "brought to the front" in second.stderr
        wait_for_log(log_file, "another instance asked to raise the window")
        # A quit (SIGTERM) closes the window like the user would: layout saved, exit 0.
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert (data / "config" / "ui-state.ini").exists()
    assert "main window closed" in log_file.read_text()


def test_library_from_a_newer_studio_is_refused_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = data / "library.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA user_version = 999")
    before = database.read_bytes()
    result = run_studio("--offscreen", "--data-dir", str(data))
    assert result.returncode == 2
    assert "newer" in result.stderr.lower()
    assert database.read_bytes() == before
    assert not Path(f"{database}-wal").exists()


@pytest.mark.parametrize("flag", ["--log-level=verbose"])
def test_bad_option_is_named(flag: str) -> None:
    result = run_studio("--offscreen", flag)
    assert result.returncode == 2
    assert "--log-level" in result.stderr
