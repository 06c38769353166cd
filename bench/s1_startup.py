"""S1: process start to first painted main window (offscreen), against a bare QMainWindow."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET = 3.0
RUNS = 5
CHILD = Path(__file__).with_name("startup_child.py")


def time_child(which: str) -> float:
    started = time.perf_counter()
    # Qt warns on stderr when the window closes mid-flush; show it only on failure.
    child = subprocess.run(
        [sys.executable, str(CHILD), which], capture_output=True, text=True, timeout=120
    )
    if child.returncode != 0:
        raise RuntimeError(f"S1 {which} child failed: {child.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> int:
    for which in ("ours", "peer"):  # warm-up: page cache, Qt plugin cache
        time_child(which)
    ours = statistics.median(time_child("ours") for _ in range(RUNS))
    peer = statistics.median(time_child("peer") for _ in range(RUNS))
    ratio = ours / peer
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(f"S1  {ours * 1000:.0f}ms  {peer * 1000:.0f}ms  {ratio:.2f}  <={TARGET}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
