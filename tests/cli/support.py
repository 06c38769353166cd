"""Running `python -m studio` as a subprocess with an isolated environment, for CLI tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.sandbox.app import Sandbox, SandboxCredentials

ENGINES = ("ttapi", "mountsea", "kling", "evolink")


def studio_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child studio: its own data folder, no keyring, no stray keys."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("STUDIO_") and not name.startswith("QT_")
    }
    env["STUDIO_DATA_DIR"] = str(data_dir)
    # The child must never read the developer's real keyring.
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def sandbox_env(sandbox: Sandbox, creds: SandboxCredentials | None = None) -> dict[str, str]:
    """Variables that point every engine at a running sandbox, with the keys it accepts.

    This is the vendor route (a key and a base URL), not ``--sandbox``: the sandbox
    lives in the test process and outlives every command, even a killed one.
    """
    creds = creds or sandbox.config.credentials
    env = {f"STUDIO_{engine.upper()}_BASE_URL": url for engine, url in sandbox.base_urls().items()}
    for engine in ("ttapi", "mountsea", "evolink"):
        env[f"STUDIO_{engine.upper()}_API_KEY"] = creds.api_keys[engine]
    env["STUDIO_KLING_ACCESS_KEY"] = creds.kling_access_key
    env["STUDIO_KLING_SECRET_KEY"] = creds.kling_secret_key
    return env


def studio_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "studio", *args]


@dataclass
class Result:
    """A finished child studio."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"not one JSON document: {self}") from exc

    def __str__(self) -> str:
        return (
            f"studio {' '.join(self.args)} → {self.returncode}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def run_studio(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> Result:
    """Run ``python -m studio ARGS`` to its end with an isolated environment."""
    done = subprocess.run(
        studio_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=studio_env(data_dir, env),
    )
    return Result(tuple(args), done.returncode, done.stdout, done.stderr)


def start_studio(
    data_dir: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m studio ARGS`` without waiting (stdout and stderr piped)."""
    return subprocess.Popen(
        studio_command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=studio_env(data_dir, env),
    )


def finish(process: subprocess.Popen[str], args: tuple[str, ...], timeout: float = 60) -> Result:
    """Wait for a started studio and collect its output."""
    stdout, stderr = process.communicate(timeout=timeout)
    return Result(args, process.returncode, stdout, stderr)


def assert_take_files(take: dict[str, Any]) -> None:
    """Every path a take names is absolute and on disk, and not empty."""
    for path in [*take["files"].values(), *take["stems"].values()]:
        assert Path(path).is_absolute(), path
        assert Path(path).is_file(), path
        assert Path(path).stat().st_size > 0, path
