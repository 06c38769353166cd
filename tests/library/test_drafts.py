"""The composer's autosave: DraftStore."""

from __future__ import annotations

import sqlite3

import pytest

from studio.library import Draft, DraftStore, Library, open_library
from tests.library.support import FakeClock, Places


@pytest.fixture
def store(library: Library, clock: FakeClock) -> DraftStore:
    return DraftStore(library, clock=clock)


def test_nothing_saved_yet(store: DraftStore) -> None:
    assert store.load_latest() is None
    assert store.load_latest("ttapi") is None


def test_save_assigns_id_and_time_and_round_trips(store: DraftStore, clock: FakeClock) -> None:
    draft = Draft(
        engine="ttapi",
        operation="music",
        title="Night drive",
        prompt="synthwave, 90 bpm",
        lyrics="[Verse 1]\nNeon on the wet road — 夜",
        params={"mv": "FUZZ-2.0", "weirdness": 0.5, "instrumental": False, "tags": ["a", "b"]},
    )
    saved = store.save(draft)
    assert saved.id is not None
    assert saved.updated_at == clock.now
    assert draft.id is None, "the caller's draft is not mutated"
    assert store.load_latest() == saved
    assert store.load_latest("ttapi") == saved


def test_save_again_updates_the_same_row(
    store: DraftStore, library: Library, clock: FakeClock
) -> None:
    first = store.save(Draft(engine="kling", operation="sfx", prompt="rain"))
    clock.advance(seconds=2)
    second = store.save(Draft(**{**first.__dict__, "prompt": "rain on a tin roof"}))
    assert second.id == first.id
    assert second.updated_at == clock.now
    assert library.connection.execute("SELECT count(*) FROM drafts").fetchone()[0] == 1
    loaded = store.load_latest()
    assert loaded is not None and loaded.prompt == "rain on a tin roof"


def test_latest_per_engine(store: DraftStore, clock: FakeClock) -> None:
    ttapi = store.save(Draft(engine="ttapi", operation="music", prompt="old"))
    clock.advance(minutes=1)
    kling = store.save(Draft(engine="kling", operation="sfx", prompt="new"))
    assert store.load_latest() == kling
    assert store.load_latest("ttapi") == ttapi
    assert store.load_latest("evolink") is None
    clock.advance(minutes=1)
    ttapi = store.save(ttapi)
    assert store.load_latest() == ttapi


def test_saves_in_the_same_millisecond_prefer_the_newest_row(store: DraftStore) -> None:
    store.save(Draft(engine="ttapi", operation="music", prompt="a"))
    b = store.save(Draft(engine="ttapi", operation="music", prompt="b"))
    assert store.load_latest() == b


def test_a_deleted_draft_is_saved_again_under_its_id(store: DraftStore, library: Library) -> None:
    saved = store.save(Draft(engine="ttapi", operation="music", prompt="keep me"))
    with library.transaction() as conn:
        conn.execute("DELETE FROM drafts")
    again = store.save(saved)
    assert again.id == saved.id
    assert store.load_latest() == again


def test_parent_take_must_exist(store: DraftStore, library: Library) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.save(Draft(engine="ttapi", operation="extend", parent_take_id=999))
    with library.transaction() as conn:
        take_id = conn.execute(
            "INSERT INTO takes (engine, operation) VALUES ('ttapi', 'music')"
        ).lastrowid
    saved = store.save(Draft(engine="ttapi", operation="extend", parent_take_id=take_id))
    loaded = store.load_latest()
    assert loaded is not None and loaded.parent_take_id == take_id == saved.parent_take_id
    with library.transaction() as conn:
        conn.execute("DELETE FROM takes")
    loaded = store.load_latest()
    assert loaded is not None and loaded.parent_take_id is None, "the draft outlives its parent"


def test_unserialisable_params_are_refused_before_writing(store: DraftStore) -> None:
    with pytest.raises(ValueError):
        store.save(Draft(engine="ttapi", operation="music", params={"x": float("nan")}))
    with pytest.raises(TypeError):
        store.save(Draft(engine="ttapi", operation="music", params={"x": object()}))
    assert store.load_latest() is None


def test_drafts_survive_reopening(places: Places, clock: FakeClock) -> None:
    with open_library(places.database, places.backup_dir, clock=clock).library as library:
        saved = DraftStore(library, clock=clock).save(
            Draft(engine="evolink", operation="speech", prompt="hello", params={"speech_rate": 1.2})
        )
    with open_library(places.database, places.backup_dir, clock=clock).library as library:
        assert DraftStore(library).load_latest() == saved


def test_a_blank_draft_is_edited_in_place_and_saved(store: DraftStore) -> None:
    """How the composer uses it: start blank (no engine chosen yet), edit, save."""
    draft = store.load_latest() or Draft()
    draft.title = "Untitled"
    draft.prompt = "a calm piano"
    draft = store.save(draft)
    draft.lyrics = "la la"
    draft = store.save(draft)
    assert store.load_latest() == draft
    assert (draft.engine, draft.operation, draft.lyrics) == ("", "", "la la")
