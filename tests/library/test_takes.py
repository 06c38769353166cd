"""Takes, files and stems: TakeStore over the schema's tables."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from studio.library import Library
from studio.library.takes import RAW_LIMIT, TakeStore, strip_url
from tests.library.support import FakeClock

SIGNED = "https://cdn.example.com/a/b/take.mp3?X-Expires=1&X-Signature=abcdef0123456789"
SHA = "ab" * 32


@pytest.fixture
def store(library: Library, clock: FakeClock) -> TakeStore:
    return TakeStore(library, clock=clock)


def make_task(library: Library, client_key: str = "k1") -> int:
    with library.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO tasks (client_key, engine, operation, params_json) "
            "VALUES (?, 'ttapi', 'music', '{}')",
            (client_key,),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def test_add_take_round_trips(store: TakeStore, library: Library, clock: FakeClock) -> None:
    task_id = make_task(library)
    parent = store.add_take(engine="ttapi", operation="music", title="Parent")
    take = store.add_take(
        engine="ttapi",
        operation="extend",
        task_id=task_id,
        model="chirp-v4",
        remote_id="m-1",
        parent_take_id=parent.id,
        title="Night drive",
        prompt="synthwave",
        lyrics="[Verse]\n夜のドライブ",
        params={"mv": "chirp-v4", "tags": ["a"]},
        seed=1234,
        duration_s=95.5,
        cost="10",
        raw_json={"id": "m-1", "audio_url": SIGNED},
        image_url="https://cdn.example.com/c.png?sig=secretsecret#frag",
    )
    assert take.id and take.task_id == task_id and take.parent_take_id == parent.id
    assert take.seed == "1234" and take.duration_s == 95.5 and take.cost == "10"
    assert take.params == {"mv": "chirp-v4", "tags": ["a"]}
    assert take.image_url == "https://cdn.example.com/c.png"
    assert take.raw_json is not None and "abcdef0123456789" not in take.raw_json
    assert json.loads(take.raw_json)["id"] == "m-1"
    assert take.created_at == clock.now
    assert take.archive_state == "pending" and take.rating == 0 and not take.favourite
    assert store.get(take.id) == take
    assert store.get(9999) is None
    assert store.takes_for_task(task_id) == [take]
    assert store.find_by_remote_id("ttapi", "m-1") == take
    assert store.find_by_remote_id("mountsea", "m-1") is None
    assert [t.id for t in store.all_takes()] == [take.id, parent.id]


def test_same_task_and_remote_id_is_refused(store: TakeStore, library: Library) -> None:
    task_id = make_task(library)
    store.add_take(engine="ttapi", operation="music", task_id=task_id, remote_id="m-1")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_take(engine="ttapi", operation="music", task_id=task_id, remote_id="m-1")
    # Nothing half-written: still one take.
    assert len(store.takes_for_task(task_id)) == 1


def test_raw_json_capped_and_odd_values_tolerated(store: TakeStore) -> None:
    take = store.add_take(
        engine="kling",
        operation="text-to-audio",
        raw_json="x" * (RAW_LIMIT + 100),
        duration_s=float("nan"),
        title=None,
        seed="",
    )
    assert take.raw_json is not None and len(take.raw_json) == RAW_LIMIT
    assert take.duration_s is None and take.title == "" and take.seed is None
    assert store.add_take(engine="kling", operation="x", duration_s=-1).duration_s is None
    with pytest.raises(ValueError):
        store.add_take(engine="kling", operation="x", params={"bad": float("nan")})
    with pytest.raises(ValueError):
        store.add_take(engine="kling", operation="x", archive_state="done")  # type: ignore[arg-type]


def test_files_and_stems(store: TakeStore, tmp_path: Path, clock: FakeClock) -> None:
    take = store.add_take(engine="ttapi", operation="stems")
    mix = store.add_file(
        take.id,
        "audio",
        "MP3",
        SIGNED,
        tmp_path / "Song.mp3",
        1234,
        SHA.upper(),
        clock.now,
    )
    assert mix.format == "mp3" and mix.remote_url == "https://cdn.example.com/a/b/take.mp3"
    assert mix.local_path == tmp_path / "Song.mp3" and mix.sha256 == SHA
    assert mix.downloaded_at == clock.now and mix.size_bytes == 1234
    pending = store.add_file(take.id, "stem", None, SIGNED)
    assert pending.local_path is None and pending.downloaded_at is None
    stem = store.add_stem(take.id, "vocals", pending.id)
    assert stem.file_id == pending.id and stem.offset_samples == 0
    assert store.stems_for(take.id) == {"vocals": pending}

    done = store.record_download(
        pending.id,
        local_path=tmp_path / "Song - vocals.wav",
        size_bytes=10,
        sha256=SHA,
        downloaded_at=clock.now,
        remote_url="https://cdn.example.com/fresh.wav?X-Signature=zzzzzzzzzz",
    )
    assert done.local_path == tmp_path / "Song - vocals.wav"
    assert done.remote_url == "https://cdn.example.com/fresh.wav"
    assert store.files_for(take.id) == [mix, done]
    # Recording the stem again re-points it; it never duplicates.
    again = store.add_stem(take.id, "vocals", done.id)
    assert again.id == stem.id
    assert [s.name for s in store.stem_rows(take.id)] == ["vocals"]
    assert store.recorded_names(tmp_path) == {"Song.mp3", "Song - vocals.wav"}
    assert store.recorded_names(tmp_path / "other") == set()


def test_file_checks(store: TakeStore, tmp_path: Path, clock: FakeClock) -> None:
    take = store.add_take(engine="ttapi", operation="music")
    store.add_file(take.id, "cover", "png", None, tmp_path / "a.png")
    with pytest.raises(sqlite3.IntegrityError):  # one path, one row: nothing overwritten
        store.add_file(take.id, "cover", "png", None, tmp_path / "a.png")
    with pytest.raises(ValueError):
        store.add_file(take.id, "mix", "mp3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.add_file(take.id, "audio", "mp3", sha256="nothex")
    with pytest.raises(ValueError):
        store.add_file(take.id, "audio", "../x")
    with pytest.raises(ValueError):
        store.add_file(take.id, "audio", "mp3", size_bytes=-1)
    with pytest.raises(sqlite3.IntegrityError):
        store.add_file(9999, "audio", "mp3")
    with pytest.raises(KeyError):
        store.record_download(
            9999, local_path=tmp_path / "z", size_bytes=1, sha256=SHA, downloaded_at=clock.now
        )
    with pytest.raises(ValueError):
        store.add_stem(take.id, "  ")


def test_archive_state(store: TakeStore) -> None:
    take = store.add_take(engine="ttapi", operation="music")
    for state in ("archived", "partial", "expired", "missing", "pending"):
        store.set_archive_state(take.id, state)  # type: ignore[arg-type]
        refreshed = store.get(take.id)
        assert refreshed is not None and refreshed.archive_state == state
    with pytest.raises(ValueError):
        store.set_archive_state(take.id, "gone")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        store.set_archive_state(9999, "archived")


def test_deleting_a_take_removes_its_files_and_stems(store: TakeStore, library: Library) -> None:
    take = store.add_take(engine="ttapi", operation="stems")
    row = store.add_file(take.id, "stem", "wav")
    store.add_stem(take.id, "drums", row.id)
    with library.transaction() as conn:
        conn.execute("DELETE FROM takes WHERE id = ?", (take.id,))
    assert store.files_for(take.id) == [] and store.stems_for(take.id) == {}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (SIGNED, "https://cdn.example.com/a/b/take.mp3"),
        ("https://user:pw@host:8443/x.png?a=1#f", "https://host:8443/x.png"),
        ("http://[::1]:9000/m/a.wav?X-Signature=1", "http://[::1]:9000/m/a.wav"),
        ("https://host:badport/x?sig=1", "https://host:badport/x"),
        ("cover.png", "cover.png"),
    ],
)
def test_strip_url(url: str, expected: str) -> None:
    assert strip_url(url) == expected
    assert strip_url(None) is None
