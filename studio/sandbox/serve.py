"""`studio sandbox serve`: the offline engines as a standalone process."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from studio.sandbox.app import ENGINE_IDS, Sandbox, SandboxConfig


def serve_forever(*, port: int, task_seconds: float, link_ttl_s: float) -> int:
    """Run the sandbox until SIGINT/SIGTERM; print base URLs and demo keys first.

    Runs on the main thread; the servers run on their own threads.
    """
    if port and not 1024 <= port <= 65532:
        print("--port: must be from 1024 to 65532 (four ports are used)", file=sys.stderr)
        return 2
    if task_seconds < 0 or link_ttl_s <= 0:
        print("--task-seconds must be ≥ 0 and --link-ttl > 0", file=sys.stderr)
        return 2
    config = SandboxConfig(task_seconds=task_seconds, link_ttl_s=link_ttl_s)
    ports = {engine_id: port + index for index, engine_id in enumerate(ENGINE_IDS)} if port else {}
    try:
        sandbox = Sandbox(config, ports=ports)
    except OSError as exc:
        print(f"--port: could not listen on 127.0.0.1 ({exc.strerror or exc})", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    creds = config.credentials
    with sandbox:
        print("Studio sandbox: offline engines with synthesized audio (Ctrl+C to stop)")
        for engine_id, url in sandbox.base_urls().items():
            if engine_id == "kling":
                key = (
                    f"AccessKey {creds.kling_access_key} + SecretKey "
                    f"{creds.kling_secret_key} (or API key {creds.api_keys['kling']})"
                )
            else:
                key = f"API key {creds.api_keys[engine_id]}"
            print(f"  {engine_id:9} {url}   {key}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    print("Sandbox stopped.")
    return 0
