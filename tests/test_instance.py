"""The single-instance lock: one holder per data folder; released when the holder dies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.instance import AlreadyRunningError, SingleInstanceLock


def test_second_lock_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    first = SingleInstanceLock(tmp_path / "studio.lock")
    first.acquire()
    try:
        with pytest.raises(AlreadyRunningError, match="already running") as caught:
            SingleInstanceLock(tmp_path / "studio.lock").acquire()
        assert str(tmp_path) in str(caught.value)
    finally:
        first.release()
    with SingleInstanceLock(tmp_path / "studio.lock") as again:
        assert again.held
    assert (tmp_path / "studio.lock").stat().st_mode & 0o077 == 0


def test_other_folders_have_their_own_lock_and_channel(tmp_path: Path) -> None:
    one = SingleInstanceLock(tmp_path / "a" / "studio.lock")
    two = SingleInstanceLock(tmp_path / "b" / "studio.lock")
    with one, two:
        assert one.channel_name != two.channel_name


def test_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    lock_file = tmp_path / "studio.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from studio.instance import SingleInstanceLock
            lock = SingleInstanceLock(__import__('pathlib').Path({str(lock_file)!r}))
            lock.acquire()
            print('held', flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunningError):
            SingleInstanceLock(lock_file).acquire()
    finally:
        holder.kill()
        holder.wait()
    with SingleInstanceLock(lock_file) as lock:
        assert lock.held
