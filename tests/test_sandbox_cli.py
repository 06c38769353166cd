"""`studio sandbox serve`: four engines on loopback, usable by the studio's own client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx


def test_serve_prints_urls_answers_and_stops_cleanly() -> None:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "sandbox", "serve", "--task-seconds", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert process.stdout is not None
        assert "offline engines" in process.stdout.readline()
        urls = {}
        for _ in range(4):
            engine, url, *key = process.stdout.readline().split()
            urls[engine] = (url, key)
        assert set(urls) == {"ttapi", "mountsea", "kling", "evolink"}
        url, key = urls["evolink"]
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.post(
            f"{url}/v1/audios/generations",
            json={"model": "doubao-seed-audio-1-0", "prompt": "Hello from the sandbox"},
            headers={"Authorization": f"Bearer {key[-1]}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] in {"pending", "processing"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "Sandbox stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_port_is_named() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "studio", "sandbox", "serve", "--port", "80"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "--port" in result.stderr
