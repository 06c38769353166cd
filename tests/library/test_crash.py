"""Writers killed mid-transaction, again and again, lose nothing committed (faults L1)."""

from __future__ import annotations

import os
import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from studio.library import open_library
from tests.library.support import FakeClock, Places

ROWS_PER_BATCH = 40
REPO_ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: commits batches of ROWS_PER_BATCH tasks forever, and
# says which batches committed. "pause" mode stops halfway through a batch.
WRITER = """
import sys, time
from pathlib import Path
from studio.library import open_library

database, backups, writer, mode, rows = sys.argv[1:6]
library = open_library(Path(database), Path(backups)).library
print("open", flush=True)
batch = 0
while True:
    with library.transaction() as conn:
        for i in range(int(rows)):
            conn.execute(
                "INSERT INTO tasks (client_key, engine, operation, params_json) "
                "VALUES (?, ?, 'music', ?)",
                (f"{writer}-{batch}-{i}", f"w{writer}-b{batch}", '{"pad": "%s"}' % ("x" * 900)),
            )
            if mode == "pause" and i == int(rows) // 2:
                print("mid", flush=True)
                time.sleep(60)
    print(f"committed w{writer}-b{batch}", flush=True)
    batch += 1
"""


class Writer:
    """One child process and the lines it printed, read on a thread (portable)."""

    def __init__(self, places: Places, number: int, mode: str) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.committed: list[str] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(places.database),
                str(places.backup_dir),
                str(number),
                mode,
                str(ROWS_PER_BATCH),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            env=_child_env(),
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def wait_for(self, prefix: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line.startswith("committed "):
                self.committed.append(line.split()[1])
            if line.startswith(prefix):
                return

    def kill(self) -> None:
        self.process.kill()  # SIGKILL on POSIX: no cleanup, no atexit, no rollback
        self.process.wait(timeout=30)
        while not self.lines.empty():
            line = self.lines.get()
            if line.startswith("committed "):
                self.committed.append(line.split()[1])


def _child_env() -> dict[str, str]:
    env = dict(os.environ)  # carries the isolated STUDIO_DATA_DIR
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def test_killed_writers_leave_whole_batches_only(places: Places, clock: FakeClock) -> None:
    rng = random.Random(20240501)
    committed: list[str] = []
    paused: list[str] = []
    for round_number in range(10):
        if round_number < 2:
            mode, wait_for = "run", None  # killed while opening, migrating, backing up
        elif round_number % 2:
            mode, wait_for = "pause", "mid"  # killed inside an open transaction
            paused.append(f"w{round_number}-b0")
        else:
            mode, wait_for = "run", "committed"  # killed at a random point of the loop
        writer = Writer(places, round_number, mode)
        if wait_for is None:
            time.sleep(rng.uniform(0.0, 0.1))
        else:
            writer.wait_for(wait_for)
            if mode == "run":
                time.sleep(rng.uniform(0.0, 0.05))
        writer.kill()
        committed.extend(writer.committed)

    result = open_library(places.database, places.backup_dir, clock=clock)
    with result.library as library:
        assert result.notices == (), "a crash is not damage: nothing to recover"
        assert library.integrity_check() == []
        counts = dict(
            library.connection.execute("SELECT engine, count(*) FROM tasks GROUP BY engine")
        )
    assert committed, "the test must see some commits to mean anything"
    assert set(committed) <= set(counts), "a commit that returned was lost"
    assert not set(paused) & set(counts), "a transaction killed halfway left rows"
    assert all(n == ROWS_PER_BATCH for n in counts.values()), f"torn batches: {counts}"
