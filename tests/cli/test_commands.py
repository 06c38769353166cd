"""The CLI contract (issue 4): engines, generate, tasks, resume, takes, as subprocesses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio.instance import SingleInstanceLock
from studio.sandbox.app import Sandbox
from tests.cli.support import (
    ENGINES,
    assert_take_files,
    finish,
    run_studio,
    sandbox_env,
    start_studio,
)

TASK_KEYS = {"id", "client_key", "engine", "operation", "state", "remote_id", "error", "takes"}
TAKE_KEYS = {"id", "title", "files", "stems", "parent"}
FAST = {"STUDIO_SANDBOX_TASK_SECONDS": "0.3"}
POLL = {"STUDIO_POLL_SECONDS": "0.2"}

# Each engine's main operation, as a user would type it.
MAIN_OPS: dict[str, tuple[str, ...]] = {
    "ttapi": ("music", "--param", "sound_prompt=lofi piano, rain", "--param", "title=Rain/Day"),
    "mountsea": ("audios", "--param", "soundPrompt=synthwave at night"),
    "kling": ("text-to-audio", "--param", "prompt=rain on a tin roof", "--param", "duration=3"),
    "evolink": (
        "generations", "--param", "model=doubao-seed-audio-1-0", "--param", "prompt=Hello there",
    ),
}  # fmt: skip


def assert_task_shape(task: dict[str, Any]) -> None:
    assert set(task) >= TASK_KEYS, task
    assert isinstance(task["client_key"], str) and len(task["client_key"]) >= 16
    for take in task["takes"]:
        assert set(take) >= TAKE_KEYS, take
        assert isinstance(take["files"], dict) and isinstance(take["stems"], dict)


def test_engines_json_lists_every_engine_with_its_operations_and_fields(tmp_path: Path) -> None:
    result = run_studio(tmp_path / "data", "engines", "--json")
    assert result.returncode == 0, result
    engines = {engine["id"]: engine for engine in result.json()["engines"]}
    assert set(engines) == set(ENGINES)
    submittable = {
        engine: {op["id"] for op in doc["operations"] if op["submittable"]}
        for engine, doc in engines.items()
    }
    assert submittable == {
        "ttapi": {
            "music", "lyrics", "extend", "cover", "variation", "replace", "vocals-swap",
            "instrumentals-swap", "stems", "download", "upload", "generate-video",
        },
        "mountsea": {"audios", "upload", "stems", "download", "download-video"},
        "kling": {"text-to-audio"},
        "evolink": {"generations"},
    }  # fmt: skip
    status_calls = {
        (engine, op["id"])
        for engine, doc in engines.items()
        for op in doc["operations"]
        if op["kind"] == "status"
    }
    assert status_calls == {
        ("ttapi", "fetch"), ("mountsea", "tasks"), ("kling", "query"), ("evolink", "detail"),
    }  # fmt: skip
    ops = {(e, op["id"]): op for e, doc in engines.items() for op in doc["operations"]}
    duration = next(f for f in ops["kling", "text-to-audio"]["fields"] if f["name"] == "duration")
    assert duration["type"] == "number" and duration["required"]
    assert (duration["minimum"], duration["maximum"]) == (3.0, 10.0)
    assert "audio_references" in {f["name"] for f in ops["evolink", "generations"]["fields"]}
    assert "soundPrompt" in {f["name"] for f in ops["mountsea", "audios"]["fields"]}
    assert ops["ttapi", "stems"]["parent_field"] == "music_id"
    assert ops["mountsea", "stems"]["parent_field"] == "audioId"
    # Nothing was opened: listing engines needs no library.
    assert not (tmp_path / "data" / "library.sqlite3").exists()

    table = run_studio(tmp_path / "data", "engines")
    assert table.returncode == 0, table
    assert "sound_prompt" in table.stdout and "status call" in table.stdout


def test_generate_wait_archives_each_engines_main_operation(tmp_path: Path) -> None:
    # Keys and addresses that would fail: --sandbox must route even keyed engines away.
    decoys = {
        "STUDIO_TTAPI_API_KEY": "decoy-key-never-accepted",
        "STUDIO_TTAPI_BASE_URL": "http://127.0.0.1:9",
        **FAST,
    }
    runs = {}
    for engine, (op, *params) in MAIN_OPS.items():
        args = ["generate", "--engine", engine, "--op", op, *params, "--wait", "--json"]
        env = dict(decoys)
        if engine == "evolink":
            env["STUDIO_SANDBOX"] = "1"  # the variable, instead of the flag
        else:
            args.insert(0, "--sandbox")
        # One data folder each: commands on one folder take turns (the lock).
        runs[engine] = (start_studio(tmp_path / engine, *args, env=env), tuple(args))
    for engine, (process, command) in runs.items():
        result = finish(process, command)
        assert result.returncode == 0, result
        task = result.json()
        assert_task_shape(task)
        assert (task["engine"], task["state"], task["error"]) == (engine, "done", None)
        assert task["operation"] == MAIN_OPS[engine][0]
        assert task["remote_id"]
        assert task["takes"], result
        for take in task["takes"]:
            assert take["files"], take
            assert_take_files(take)
            assert take["parent"] is None
        log = tmp_path / engine / "logs" / "studio.log"
        assert log.is_file()


def test_bad_params_exit_2_naming_the_field_and_the_rule(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out_of_range = run_studio(
        data, "generate", "--engine", "kling", "--op", "text-to-audio",
        "--param", "prompt=rain", "--param", "duration=12", "--json",
    )  # fmt: skip
    assert out_of_range.returncode == 2, out_of_range
    assert "duration: must be from 3 to 10" in out_of_range.stderr
    assert out_of_range.json()["problems"] == [
        {"field": "duration", "rule": "must be from 3 to 10 (got 12)"}
    ]
    not_a_number = run_studio(
        data, "generate", "--engine", "kling", "--op", "text-to-audio",
        "--param", "prompt=rain", "--param", "duration=long",
    )  # fmt: skip
    assert not_a_number.returncode == 2, not_a_number
    assert "duration: must be a number" in not_a_number.stderr
    unknown_field = run_studio(
        data, "generate", "--engine", "ttapi", "--op", "music", "--param", "prompt=x"
    )
    assert unknown_field.returncode == 2, unknown_field
    assert "prompt: is not a field of music" in unknown_field.stderr
    missing = run_studio(data, "generate", "--engine", "ttapi", "--op", "music")
    assert missing.returncode == 2, missing
    assert "sound_prompt or lyrics_text: give at least one of them" in missing.stderr
    no_equals = run_studio(data, "generate", "--engine", "kling", "--op", "text-to-audio",
                           "--param", "prompt")  # fmt: skip
    assert no_equals.returncode == 2 and "KEY=VALUE" in no_equals.stderr
    # Refused before the data folder was touched: no ledger row, not even a library.
    assert not (data / "library.sqlite3").exists()


def test_unknown_and_status_operations_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "data"
    unknown = run_studio(data, "generate", "--engine", "ttapi", "--op", "symphony", "--json")
    assert unknown.returncode == 2, unknown
    assert "symphony" in unknown.stderr and "music" in unknown.stderr
    assert "symphony" in unknown.json()["error"]
    status = run_studio(data, "generate", "--engine", "ttapi", "--op", "fetch",
                        "--param", "jobId=1")  # fmt: skip
    assert status.returncode == 2, status
    assert "status call" in status.stderr
    engine = run_studio(data, "generate", "--engine", "suno", "--op", "music")
    assert engine.returncode == 2 and "--engine" in engine.stderr
    no_parent = run_studio(data, "generate", "--engine", "ttapi", "--op", "stems")
    assert no_parent.returncode == 2, no_parent
    assert "--parent" in no_parent.stderr and "music_id" in no_parent.stderr
    stray_parent = run_studio(data, "generate", "--engine", "kling", "--op", "text-to-audio",
                              "--param", "prompt=x", "--param", "duration=3",
                              "--parent", "1")  # fmt: skip
    assert stray_parent.returncode == 2 and "--parent" in stray_parent.stderr


def test_parent_take_feeds_stems_and_listings_show_the_files(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    data = tmp_path / "data"
    env = {**sandbox_env(sandbox), **POLL}
    song = run_studio(data, "generate", "--engine", "ttapi", "--op", "music", "--param",
                      "sound_prompt=dream pop", "--wait", "--json", env=env)  # fmt: skip
    assert song.returncode == 0, song
    take = song.json()["takes"][0]

    missing = run_studio(data, "generate", "--engine", "ttapi", "--op", "stems",
                         "--parent", "999", env=env)  # fmt: skip
    assert missing.returncode == 2 and "no take 999" in missing.stderr
    wrong_engine = run_studio(data, "generate", "--engine", "mountsea", "--op", "stems",
                              "--parent", str(take["id"]), env=env)  # fmt: skip
    assert wrong_engine.returncode == 2 and "ttapi" in wrong_engine.stderr

    stems = run_studio(data, "generate", "--engine", "ttapi", "--op", "stems",
                       "--parent", str(take["id"]), "--wait", "--json", env=env)  # fmt: skip
    assert stems.returncode == 0, stems
    task = stems.json()
    assert_task_shape(task)
    assert task["state"] == "done"
    assert task["params"]["music_id"] == take["remote_id"]
    assert task["parent_take"] == take["id"]
    stem_takes = [t for t in task["takes"] if t["stems"]]
    assert stem_takes, task
    for stem_take in stem_takes:
        assert len(stem_take["stems"]) >= 2
        assert_take_files(stem_take)

    tasks = run_studio(data, "tasks", "--json", env=env)
    assert tasks.returncode == 0, tasks
    listed = tasks.json()["tasks"]
    assert [t["operation"] for t in listed] == ["stems", "music"]  # newest first
    for row in listed:
        assert_task_shape(row)
        assert row["state"] == "done"

    takes = run_studio(data, "takes", "--json", env=env)
    assert takes.returncode == 0, takes
    all_takes = takes.json()["takes"]
    assert {t["id"] for t in all_takes} >= {take["id"], *(t["id"] for t in stem_takes)}
    for listed_take in all_takes:
        assert set(listed_take) >= TAKE_KEYS
        assert_take_files(listed_take)

    human = run_studio(data, "takes", env=env)
    assert human.returncode == 0 and "stem " in human.stdout
    assert run_studio(data, "tasks", env=env).stdout.splitlines()[0].split()[:4] == [
        "ID", "ENGINE", "OPERATION", "STATE",
    ]  # fmt: skip


def test_generate_without_wait_then_resume_finishes_and_archives(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    data = tmp_path / "data"
    env = {**sandbox_env(sandbox), **POLL}
    submitted = []
    for engine in ("kling", "mountsea"):
        op, *params = MAIN_OPS[engine]
        result = run_studio(data, "generate", "--engine", engine, "--op", op, *params,
                            "--json", env=env)  # fmt: skip
        assert result.returncode == 0, result
        task = result.json()
        assert task["state"] == "submitted" and task["remote_id"] and task["takes"] == []
        submitted.append(task["id"])
    listed = run_studio(data, "tasks", "--json", env=env).json()["tasks"]
    assert {t["id"]: t["state"] for t in listed} == dict.fromkeys(submitted, "submitted")

    resumed = run_studio(data, "resume", "--json", env=env)
    assert resumed.returncode == 0, resumed
    document = resumed.json()
    assert sorted(t["id"] for t in document["tasks"]) == sorted(submitted)
    for task in document["tasks"]:
        assert_task_shape(task)
        assert task["state"] == "done"
        for take in task["takes"]:
            assert take["files"]
            assert_take_files(take)

    again = run_studio(data, "resume", "--json", env=env)
    assert again.returncode == 0, again
    assert again.json()["tasks"] == []
    assert "Nothing to resume" in run_studio(data, "resume", env=env).stdout


def test_failed_task_exits_1(tmp_path: Path, sandbox: Sandbox) -> None:
    # The Kling sandbox fails a prompt containing FAILME, with a reason.
    result = run_studio(
        tmp_path / "data", "generate", "--engine", "kling", "--op", "text-to-audio",
        "--param", "prompt=FAILME please", "--param", "duration=3", "--wait", "--json",
        env={**sandbox_env(sandbox), **POLL},
    )  # fmt: skip
    assert result.returncode == 1, result
    task = result.json()
    assert task["state"] == "failed" and task["error"]


def test_commands_refuse_a_folder_the_gui_holds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with SingleInstanceLock(data / "studio.lock"):
        for args in (("tasks",), ("takes", "--json"), ("resume",)):
            result = run_studio(data, *args)
            assert result.returncode == 1, result
            assert "already using the data folder" in result.stderr
    assert run_studio(data, "tasks").returncode == 0


@pytest.mark.parametrize("command", ["generate", "resume", "tasks", "takes", "engines"])
def test_help_documents_the_contract(tmp_path: Path, command: str) -> None:
    result = run_studio(tmp_path, command, "--help")
    assert result.returncode == 0
    assert "--json" in result.stdout
    if command in ("generate", "resume", "tasks", "takes"):
        assert "lock" in result.stdout or "already" in result.stdout


def test_engine_without_a_key_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    op, *params = MAIN_OPS["kling"]
    result = run_studio(data, "generate", "--engine", "kling", "--op", op, *params, "--json")
    assert result.returncode == 1, result
    assert "STUDIO_KLING_ACCESS_KEY" in result.stderr and "--sandbox" in result.stderr
    assert "STUDIO_KLING_ACCESS_KEY" in result.json()["error"]
    assert run_studio(data, "tasks", "--json").json() == {"tasks": []}
