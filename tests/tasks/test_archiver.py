"""The archiver against real loopback downloads with expiring signed links."""

from __future__ import annotations

import errno
import functools
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from studio.core.remote import RemoteState, RemoteStatus, TakeOutput
from studio.library import Library, open_library
from studio.library.takes import TakeStore
from studio.paths import resolve_paths
from studio.sandbox.app import EngineSite
from studio.sandbox.faults import truncated_body
from studio.sandbox.synth.cover import render_cover_png
from studio.sandbox.synth.encode import encode, encode_wav
from studio.tasks.archiver import ArchiveOutcome, Archiver, ArchiveRequest
from tests.sandbox_support import run, running_site

STEMS = ("vocals", "drums", "bass", "other")
LYRICS = "[Verse]\nNeon on the wet road\n夜のドライブ\n"


@functools.cache
def tone(freq: float = 440.0) -> np.ndarray:
    t = np.arange(8000) / 8000.0
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[np.newaxis, :]


@functools.cache
def wav_bytes(freq: float = 440.0) -> bytes:
    return encode_wav(tone(freq), 8000)


@functools.cache
def mp3_bytes() -> bytes:
    return encode(tone(), 8000, "mp3", bitrate_kbps=32)


@functools.cache
def png_bytes() -> bytes:
    return render_cover_png("night drive", 7, size=32)


@pytest.fixture
def site() -> Iterator[EngineSite]:
    with running_site("ttapi") as running:
        yield running


@pytest.fixture
def library() -> Iterator[Library]:
    paths = resolve_paths()  # under the isolated STUDIO_DATA_DIR
    opened = open_library(paths.database, paths.backup_dir)
    yield opened.library
    opened.library.close()


@pytest.fixture
def takes(library: Library) -> TakeStore:
    return TakeStore(library)


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def archiver(takes: TakeStore, archive_dir: Path) -> Archiver:
    return Archiver(takes, archive_dir, read_timeout=5.0, overall_deadline=10.0)


def make_task(library: Library, key: str = "key-1") -> int:
    with library.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO tasks (client_key, engine, operation, params_json, state) "
            "VALUES (?, 'ttapi', 'music', '{}', 'archiving')",
            (key,),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def request(task_id: int | None, **params: object) -> ArchiveRequest:
    given = {"title": "Night Drive", "prompt": "synthwave, 90 bpm", **params}
    return ArchiveRequest.from_params(
        engine="ttapi", operation="music", params=given, task_id=task_id
    )


def succeeded(*outputs: TakeOutput) -> RemoteStatus:
    return RemoteStatus(state=RemoteState.SUCCEEDED, remote_id="job-1", outputs=list(outputs))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def full_output(site: EngineSite, title: str = "Night Drive", remote_id: str = "m-1") -> TakeOutput:
    return TakeOutput(
        remote_id=remote_id,
        title=title,
        audio_urls={
            "mp3": site.media.put(mp3_bytes(), "audio/mpeg", "mp3"),
            "wav": site.media.put(wav_bytes(), "audio/wav", "wav"),
        },
        stems={
            name: site.media.put(wav_bytes(200.0 + i * 100), "audio/wav", "wav")
            for i, name in enumerate(STEMS)
        },
        image_url=site.media.put(png_bytes(), "image/png", "png"),
        lyrics=LYRICS,
        duration_s=1.0,
        seed="42",
        raw={"id": remote_id, "title": title},
    )


def test_full_take_archived(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    task_id = make_task(library)
    outcome = run(archiver.archive(request(task_id), succeeded(full_output(site))), 20)

    assert outcome.complete, outcome.errors
    assert outcome.files_archived == 2 + 4 + 1 + 1 and not outcome.expired
    [take] = takes.takes_for_task(task_id)
    assert outcome.take_ids == [take.id] and outcome.states == {take.id: "archived"}
    assert take.title == "Night Drive" and take.prompt == "synthwave, 90 bpm"
    assert take.lyrics == LYRICS and take.seed == "42" and take.remote_id == "m-1"
    assert take.archive_state == "archived"
    assert take.image_url is not None and "?" not in take.image_url

    folder = archive_dir / "ttapi"
    expected = {
        "Night Drive.mp3": mp3_bytes(),
        "Night Drive.wav": wav_bytes(),
        "Night Drive.png": png_bytes(),
        "Night Drive.txt": LYRICS.encode(),
        **{f"Night Drive - {name}.wav": wav_bytes(200.0 + i * 100) for i, name in enumerate(STEMS)},
    }
    assert files_under(folder) == sorted(expected)
    rows = takes.files_for(take.id)
    assert len(rows) == len(expected)
    for row in rows:
        assert row.local_path is not None and row.local_path.parent == folder
        data = expected[row.local_path.name]
        assert row.local_path.read_bytes() == data
        assert row.sha256 == sha(data) and row.size_bytes == len(data)
        assert row.downloaded_at is not None
        assert row.remote_url is None or "?" not in row.remote_url
    kinds = sorted(row.kind for row in rows)
    assert kinds == ["audio", "audio", "cover", "lyrics", "stem", "stem", "stem", "stem"]
    assert {row.format for row in rows if row.kind == "audio"} == {"mp3", "wav"}
    stems = takes.stems_for(take.id)
    assert sorted(stems) == sorted(STEMS)
    assert stems["drums"].local_path == folder / "Night Drive - drums.wav"


def test_case_only_different_titles_get_distinct_files(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    task_id = make_task(library)
    outputs = [
        TakeOutput(
            remote_id=f"m-{i}",
            title=title,
            audio_urls={"wav": site.media.put(wav_bytes(300.0 + i), "audio/wav", "wav")},
        )
        for i, title in enumerate(["Song", "song", "SONG"])
    ]
    outcome = run(archiver.archive(request(task_id), succeeded(*outputs)), 20)
    assert outcome.complete, outcome.errors
    names = files_under(archive_dir / "ttapi")
    assert names == ["SONG (3).wav", "Song.wav", "song (2).wav"]
    assert len({n.casefold() for n in names}) == 3
    for i, take in enumerate(takes.takes_for_task(task_id)):
        [row] = takes.files_for(take.id)
        assert row.local_path is not None and row.local_path.read_bytes() == wav_bytes(300.0 + i)


def test_hostile_title_lands_inside_the_archive(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, tmp_path: Path
) -> None:
    archive_dir = tmp_path / "deep" / "archive"
    archiver = Archiver(takes, archive_dir)
    output = TakeOutput(
        remote_id="m-1",
        title="../../.bashrc",
        audio_urls={"wav": site.media.put(wav_bytes(), "audio/wav", "wav")},
        lyrics="la la",
    )
    outcome = run(archiver.archive(request(make_task(library)), succeeded(output)), 20)
    assert outcome.complete, outcome.errors
    assert files_under(archive_dir / "ttapi") == ["bashrc.txt", "bashrc.wav"]
    assert not list(tmp_path.rglob(".bashrc*"))
    [take] = takes.all_takes()
    assert take.title == "../../.bashrc", "the title itself is kept as the engine gave it"


def test_expired_link_refreshed_once(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    task_id = make_task(library)
    mp3 = site.media.put(mp3_bytes(), "audio/mpeg", "mp3")
    vocals = site.media.put(wav_bytes(), "audio/wav", "wav")
    site.media.expire(mp3)
    site.media.expire(vocals)
    calls: list[int] = []

    async def refresh() -> RemoteStatus:
        calls.append(1)
        return succeeded(
            TakeOutput(
                remote_id="m-1",
                audio_urls={"mp3": site.media.refresh(mp3)},
                stems={"vocals": site.media.refresh(vocals)},
            )
        )

    output = TakeOutput(
        remote_id="m-1", title="Fresh", audio_urls={"mp3": mp3}, stems={"vocals": vocals}
    )
    outcome = run(archiver.archive(request(task_id), succeeded(output), refresh=refresh), 20)
    assert outcome.complete, outcome.errors
    assert calls == [1], "one re-fetch serves every expired file"
    assert files_under(archive_dir / "ttapi") == ["Fresh - vocals.wav", "Fresh.mp3"]
    [take] = takes.takes_for_task(task_id)
    assert take.archive_state == "archived"


def test_expired_without_refresh_keeps_metadata(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    task_id = make_task(library)
    mp3 = site.media.put(mp3_bytes(), "audio/mpeg", "mp3")
    site.media.expire(mp3)
    output = TakeOutput(remote_id="m-1", title="Gone", audio_urls={"mp3": mp3}, seed="7")
    outcome = run(archiver.archive(request(task_id, lyrics=""), succeeded(output)), 20)

    assert not outcome.complete
    assert outcome.expired == ["Gone: mp3 audio"]
    assert len(outcome.errors) == 1 and "expired" in outcome.errors[0]
    assert "X-Signature" not in outcome.errors[0]
    [take] = takes.takes_for_task(task_id)
    assert take.archive_state == "expired" and outcome.states[take.id] == "expired"
    assert take.title == "Gone" and take.prompt == "synthwave, 90 bpm" and take.seed == "7"
    [row] = takes.files_for(take.id)
    assert row.local_path is None and row.kind == "audio" and row.format == "mp3"
    assert row.remote_url is not None and "?" not in row.remote_url
    assert files_under(archive_dir / "ttapi") == []

    # A refresh that fails, or gives the same dead link, ends the same way.
    async def broken() -> RemoteStatus:
        raise RuntimeError(f"engine down at {mp3}")

    again = run(archiver.archive(request(task_id), succeeded(output), refresh=broken), 20)
    assert again.expired == ["Gone: mp3 audio"]
    assert any("fresh links" in e for e in again.errors)
    assert all("X-Signature" not in e for e in again.errors)


def test_rerun_never_duplicates_and_finishes_what_was_missing(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    task_id = make_task(library)
    first = full_output(site)
    dead_vocals = first.stems["vocals"]
    site.media.expire(dead_vocals)
    anonymous = TakeOutput(
        title="No id", audio_urls={"wav": site.media.put(wav_bytes(), "audio/wav", "wav")}
    )
    status = succeeded(first, anonymous)
    one = run(archiver.archive(request(task_id), status), 20)
    assert not one.complete and one.expired == ["Night Drive: stem “vocals”"]
    assert one.files_archived == 8 and one.states[one.take_ids[0]] == "partial"
    names_before = files_under(archive_dir)

    # The engine gives a fresh link later (e.g. the user pressed "check again").
    first.stems["vocals"] = site.media.refresh(dead_vocals)
    two = run(archiver.archive(request(task_id), status), 20)
    assert two.complete, two.errors
    assert two.take_ids == one.take_ids
    assert two.files_archived == 1 and two.files_kept == 8
    three = run(archiver.archive(request(task_id), status), 20)
    assert three.complete and three.files_archived == 0 and three.files_kept == 9

    assert len(takes.takes_for_task(task_id)) == 2
    [take, other] = takes.takes_for_task(task_id)
    assert len(takes.files_for(take.id)) == 8 and len(takes.files_for(other.id)) == 1
    assert sorted(takes.stems_for(take.id)) == sorted(STEMS)
    assert files_under(archive_dir) == sorted([*names_before, "ttapi/Night Drive - vocals.wav"])


def test_disk_full_stops_and_names_the_path(
    site: EngineSite,
    library: Library,
    takes: TakeStore,
    archiver: Archiver,
    archive_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task_id = make_task(library)
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        # Only our .part files fill the "disk"; the loop's own pipes keep working.
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".part"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    output = TakeOutput(
        remote_id="m-1",
        title="Full",
        audio_urls={
            "mp3": site.media.put(mp3_bytes(), "audio/mpeg", "mp3"),
            "wav": site.media.put(wav_bytes(), "audio/wav", "wav"),
        },
    )
    second = TakeOutput(
        remote_id="m-2",
        title="Later",
        audio_urls={"wav": site.media.put(wav_bytes(), "audio/wav", "wav")},
    )
    outcome = run(archiver.archive(request(task_id), succeeded(output, second)), 20)
    monkeypatch.undo()

    assert outcome.disk_error is not None and not outcome.complete
    assert str(archive_dir / "ttapi" / "Full.") in outcome.disk_error
    assert "No space left on device" in outcome.disk_error
    assert files_under(archive_dir) == [], "no file, not even a .part"
    # Both takes' metadata is kept; the second was never started.
    assert [t.title for t in takes.takes_for_task(task_id)] == ["Full", "Later"]
    assert all(takes.files_for(t) == [] for t in outcome.take_ids)
    assert set(outcome.states.values()) == {"pending"}


def test_archive_folder_is_a_file(
    site: EngineSite, library: Library, takes: TakeStore, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    archiver = Archiver(takes, blocker)
    task_id = make_task(library)
    output = TakeOutput(
        remote_id="m-1",
        title="Song",
        audio_urls={"wav": site.media.put(wav_bytes(), "audio/wav", "wav")},
    )
    outcome = run(archiver.archive(request(task_id), succeeded(output)), 20)
    assert outcome.disk_error is not None and str(blocker / "ttapi") in outcome.disk_error
    assert outcome.errors and not outcome.complete
    [take] = takes.takes_for_task(task_id)
    assert take.title == "Song" and take.archive_state == "pending"
    assert blocker.read_text() == "x"


def test_html_instead_of_audio_is_rejected(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    task_id = make_task(library)
    page = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>" + b" " * 600
    output = TakeOutput(
        remote_id="m-1",
        title="Trap",
        audio_urls={
            "mp3": site.media.put(page, "audio/mpeg", "mp3"),
            "wav": site.media.put(wav_bytes(), "audio/wav", "wav"),
        },
    )
    outcome = run(archiver.archive(request(task_id, lyrics=""), succeeded(output)), 20)
    assert not outcome.complete and not outcome.expired
    [message] = outcome.errors
    assert "HTML page" in message and "mp3 audio" in message
    assert files_under(archive_dir / "ttapi") == ["Trap.wav"]
    [take] = takes.takes_for_task(task_id)
    assert take.archive_state == "partial"
    by_format = {row.format: row for row in takes.files_for(take.id)}
    assert by_format["mp3"].local_path is None
    assert by_format["wav"].local_path == archive_dir / "ttapi" / "Trap.wav"


def test_audio_validator_rejects_damaged_files(
    site: EngineSite, library: Library, takes: TakeStore, archive_dir: Path
) -> None:
    def refuse(path: Path) -> None:
        raise ValueError("decoded 0.0 s of 1.0 s")

    archiver = Archiver(takes, archive_dir, validate_audio=refuse)
    output = TakeOutput(
        remote_id="m-1",
        title="Broken",
        audio_urls={"wav": site.media.put(wav_bytes(), "audio/wav", "wav")},
        image_url=site.media.put(png_bytes(), "image/png", "png"),
    )
    outcome = run(archiver.archive(request(make_task(library)), succeeded(output)), 20)
    assert any("damaged" in e for e in outcome.errors)
    # The cover is not audio: the validator is not asked about it.
    assert files_under(archive_dir / "ttapi") == ["Broken.png"]


def test_cover_gets_the_extension_of_its_content(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    output = TakeOutput(
        remote_id="m-1", title="Art", image_url=site.media.put(png_bytes(), "image/jpeg", "jpg")
    )
    outcome = run(archiver.archive(request(make_task(library)), succeeded(output)), 20)
    assert outcome.complete, outcome.errors
    assert files_under(archive_dir / "ttapi") == ["Art.png"]
    [take] = takes.all_takes()
    [row] = takes.files_for(take.id)
    assert row.kind == "cover" and row.format == "png"


def test_request_reads_the_engines_fields() -> None:
    built = ArchiveRequest.from_params(
        engine="kling",
        operation="text-to-audio",
        params={"sound_prompt": "rain on a tin roof", "model": 3, "mv": "v2", "lyrics": " "},
        task_id=5,
    )
    assert built.prompt == "rain on a tin roof" and built.model == "v2"
    assert built.title == "" and built.lyrics == "" and built.task_id == 5
    assert ArchiveOutcome().complete, "nothing to do is complete"


def test_cut_body_is_resumed_at_once(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    data = wav_bytes(330.0)
    site.server.faults.add("media", truncated_body(at=5000))
    output = TakeOutput(
        remote_id="m-1", title="Cut", audio_urls={"wav": site.media.put(data, "audio/wav", "wav")}
    )
    outcome = run(archiver.archive(request(make_task(library)), succeeded(output)), 20)
    assert outcome.complete, outcome.errors
    assert (archive_dir / "ttapi" / "Cut.wav").read_bytes() == data
    ranges = [r.headers.get("range") for r in site.server.requests_log if r.method == "GET"]
    assert ranges == [None, "bytes=5000-"]


def test_leftover_part_is_resumed_by_a_rerun(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    data = wav_bytes(330.0)
    task_id = make_task(library)
    # Cut every attempt of the first run: the .part stays for later (D1).
    site.server.faults.add("media", truncated_body(at=5000), times=3)
    output = TakeOutput(
        remote_id="m-1", title="Cut", audio_urls={"wav": site.media.put(data, "audio/wav", "wav")}
    )
    first = run(archiver.archive(request(task_id, lyrics=""), succeeded(output)), 20)
    assert not first.complete and not first.expired
    assert "stopped after" in first.errors[0]
    assert files_under(archive_dir / "ttapi") == ["Cut.wav.part", "Cut.wav.part.meta"]
    [take] = takes.takes_for_task(task_id)
    assert take.archive_state == "pending"

    second = run(archiver.archive(request(task_id, lyrics=""), succeeded(output)), 20)
    assert second.complete, second.errors
    assert files_under(archive_dir / "ttapi") == ["Cut.wav"]
    assert (archive_dir / "ttapi" / "Cut.wav").read_bytes() == data
    # Three cut attempts of 5000 bytes each were kept and continued, never restarted.
    ranges = [r.headers.get("range") for r in site.server.requests_log if r.method == "GET"]
    assert ranges == [None, "bytes=5000-", "bytes=10000-", "bytes=15000-"]
    [row] = takes.files_for(take.id)
    assert row.sha256 == sha(data)


def test_odd_format_keys_are_stored_plainly(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    output = TakeOutput(
        remote_id="m-1",
        title="Odd",
        audio_urls={"Audio/MPEG 320": site.media.put(mp3_bytes(), "audio/mpeg", "mp3")},
    )
    status = succeeded(output)
    task_id = make_task(library)
    assert run(archiver.archive(request(task_id), status), 20).complete
    assert files_under(archive_dir / "ttapi") == ["Odd.mp3"]
    [take] = takes.takes_for_task(task_id)
    assert [row.format for row in takes.files_for(take.id)] == ["audiompeg320"]
    again = run(archiver.archive(request(task_id), status), 20)
    assert again.files_archived == 0 and again.files_kept == 1


def test_an_output_listed_twice_is_archived_once(
    site: EngineSite, library: Library, takes: TakeStore, archiver: Archiver, archive_dir: Path
) -> None:
    url = site.media.put(wav_bytes(), "audio/wav", "wav")
    output = TakeOutput(remote_id="m-1", title="Twice", audio_urls={"wav": url})
    task_id = make_task(library)
    outcome = run(archiver.archive(request(task_id, lyrics=""), succeeded(output, output)), 20)
    assert outcome.complete and len(outcome.take_ids) == 1
    assert files_under(archive_dir / "ttapi") == ["Twice.wav"]
