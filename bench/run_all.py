"""`make bench`: run every benchmark script in bench/ and print their ratio lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = ["s1_startup.py", "n1_download.py", "l1_load.py"]


def main() -> int:
    here = Path(__file__).parent
    print("ID  ours  peer  ratio  target  verdict")
    failed = 0
    for script in BENCHMARKS:
        failed += subprocess.run([sys.executable, str(here / script)]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
