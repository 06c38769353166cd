"""U3: a canary API key used through the whole CLI flow at DEBUG never reaches disk or output.

The key is ``sk-CANARY-<hex>``, set as ``STUDIO_TTAPI_API_KEY`` and accepted by a
sandbox in this test process. After generating, deriving stems, writing lyrics,
listing, resuming and a refused call (a sandbox that rejects the key), every
file under the data folder (library, WAL, logs, archive, settings) and every
command's stdout and stderr are searched for the key and for its random part.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from studio.sandbox.app import Sandbox, SandboxConfig, SandboxCredentials
from tests.cli.support import Result, run_studio, sandbox_env


def test_canary_key_never_leaks_with_debug_logging(tmp_path: Path) -> None:
    token = secrets.token_hex(16)
    canary = f"sk-CANARY-{token}"
    creds = SandboxCredentials(
        api_keys={
            "ttapi": canary,
            "mountsea": "sandbox-mountsea-key",
            "kling": "sandbox-kling-key",
            "evolink": "sandbox-evolink-key",
        }
    )
    config = SandboxConfig(task_seconds=0.3, link_ttl_s=600.0, song_seconds=4.0, credentials=creds)
    data = tmp_path / "data"
    results: list[Result] = []

    def studio(*args: str, env: dict[str, str]) -> Result:
        result = run_studio(data, "--log-level", "debug", *args, env=env)
        results.append(result)
        return result

    with Sandbox(config) as sandbox, Sandbox(SandboxConfig(task_seconds=0.3)) as refusing:
        env = {**sandbox_env(sandbox), "STUDIO_POLL_SECONDS": "0.2"}
        song = studio("generate", "--engine", "ttapi", "--op", "music", "--param",
                      "sound_prompt=canary song", "--wait", "--json", env=env)  # fmt: skip
        assert song.returncode == 0, song
        take_id = song.json()["takes"][0]["id"]
        stems = studio("generate", "--engine", "ttapi", "--op", "stems", "--parent",
                       str(take_id), "--wait", env=env)  # fmt: skip
        assert stems.returncode == 0, stems
        lyrics = studio("generate", "--engine", "ttapi", "--op", "lyrics", "--param",
                        "prompt=a canary in a mine", "--json", env=env)  # fmt: skip
        assert lyrics.returncode == 0, lyrics
        started = studio("generate", "--engine", "ttapi", "--op", "music", "--param",
                         "lyrics_text=la la la", env=env)  # fmt: skip
        assert started.returncode == 0, started
        assert studio("resume", env=env).returncode == 0
        for listing in (("tasks",), ("tasks", "--json"), ("takes",), ("takes", "--json")):
            assert studio(*listing, env=env).returncode == 0
        # The same key refused by another engine: the 401 path, its message and log.
        refused_env = {**env, "STUDIO_TTAPI_BASE_URL": refusing.base_url("ttapi")}
        refused = studio("generate", "--engine", "ttapi", "--op", "music", "--param",
                         "sound_prompt=refused", "--wait", "--json", env=refused_env)  # fmt: skip
        assert refused.returncode == 1, refused
        assert refused.json()["state"] == "failed"
        sent = [
            entry
            for entry in sandbox.sites["ttapi"].server.requests_log
            + refusing.sites["ttapi"].server.requests_log
            if canary in dict(entry.headers).values()
        ]

    # The scan would prove nothing if the key had not been used.
    assert len(sent) >= 6, "the canary key never reached the engine"
    log_text = (data / "logs" / "studio.log").read_text(errors="replace")
    assert " DEBUG " in log_text

    needles = (canary.encode(), token.encode())
    files = [path for path in data.rglob("*") if path.is_file()]
    assert any(path.suffix == ".sqlite3" for path in files)
    assert any(path.suffix == ".mp3" for path in files)
    leaks = [str(path) for path in files if any(n in path.read_bytes() for n in needles)]
    assert leaks == [], f"the canary key was written to {leaks}"
    for result in results:
        for stream in (result.stdout, result.stderr):
            assert canary not in stream and token not in stream, f"leaked by {result.args}"
