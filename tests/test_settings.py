"""Preferences: validated base URLs and archive folder, atomic JSON, bad files survived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.settings import (
    Preferences,
    PreferencesStore,
    SettingError,
    validate_archive_dir,
    validate_base_url,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.ttapi.io",
        "https://api.ttapi.io/",
        "http://localhost:8080",
        "http://127.0.0.1:9000/sandbox",
        "http://127.8.9.1",
        "http://[::1]:8000",
    ],
)
def test_accepted_base_urls(url: str) -> None:
    assert validate_base_url(url) == url.strip().rstrip("/")


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("", "must not be empty"),
        ("api.ttapi.io", "must start with https://"),
        ("ftp://api.ttapi.io", "must start with https://"),
        ("http://api.ttapi.io", "plain http:// is allowed only for localhost"),
        ("http://10.0.0.5", "plain http:// is allowed only for localhost"),
        ("https://user:pw@api.ttapi.io", "user name or password"),
        ("https://api.ttapi.io/?key=1", "query"),
        ("https://", "must name a host"),
        ("https://api.ttapi.io:99999", "invalid port"),
    ],
)
def test_refused_base_urls_name_field_and_rule(url: str, rule: str) -> None:
    with pytest.raises(SettingError) as caught:
        validate_base_url(url, "TTAPI Producer base URL")
    assert str(caught.value).startswith("TTAPI Producer base URL: ")
    assert rule in str(caught.value)


def test_archive_folder_rules(tmp_path: Path) -> None:
    assert validate_archive_dir(str(tmp_path / "new")) == tmp_path / "new"
    with pytest.raises(SettingError, match="absolute"):
        validate_archive_dir("relative/dir")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(SettingError, match="not a folder"):
        validate_archive_dir(str(a_file))


def test_round_trip_and_default_is_not_stored(tmp_path: Path) -> None:
    store = PreferencesStore(tmp_path / "config" / "preferences.json")
    prefs = Preferences()
    prefs.set_base_url("kling", "https://api-beijing.klingai.com/")
    prefs.set_base_url("ttapi", "https://api.ttapi.io")  # the default: not an override
    prefs.archive_dir = tmp_path / "archive"
    store.save(prefs)
    raw = json.loads(store.path.read_text())
    assert raw["base_urls"] == {"kling": "https://api-beijing.klingai.com"}
    loaded = store.load()
    assert loaded.base_url("kling") == "https://api-beijing.klingai.com"
    assert loaded.base_url("ttapi") == "https://api.ttapi.io"
    assert loaded.archive_folder(tmp_path / "default") == tmp_path / "archive"
    assert store.notices == []
    assert not list(store.path.parent.glob("*.part"))


def test_damaged_or_hand_edited_file_falls_back_with_notices(tmp_path: Path) -> None:
    path = tmp_path / "preferences.json"
    path.write_text(json.dumps({
        "base_urls": {"ttapi": "http://evil.example", "nobody": "https://x.y", "kling": 5},
        "archive_dir": "not/absolute",
    }))
    store = PreferencesStore(path)
    prefs = store.load()
    assert prefs.base_url("ttapi") == "https://api.ttapi.io"
    assert prefs.archive_dir is None
    assert len(store.notices) == 2
    assert "TTAPI Producer base URL" in store.notices[0]

    path.write_text("{ truncated")
    broken = PreferencesStore(path)
    assert broken.load() == Preferences()
    assert "could not be read" in broken.notices[0]


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="known: ttapi, mountsea, kling, evolink"):
        Preferences().base_url("suno")
