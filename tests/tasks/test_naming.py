"""Safe, portable, unique file names from hostile titles (faults F1, F2, D9)."""

from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.tasks.naming import (
    MAX_STEM_BYTES,
    is_reserved_name,
    name_key,
    safe_file_stem,
    unique_path,
)

# Never created: resolving a path needs no folder, and hypothesis dislikes tmp_path.
PROPERTY_FOLDER = Path(tempfile.gettempdir()) / "studio-naming-property" / "archive"
FORBIDDEN = set('/\\<>:"|?*')


def assert_safe(stem: str, max_len: int = 120) -> None:
    assert stem, "never empty"
    assert len(stem) <= max_len
    assert len(stem.encode("utf-8")) <= MAX_STEM_BYTES
    assert not FORBIDDEN & set(stem), stem
    assert all(unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Cn"} for c in stem), stem
    assert not stem.startswith(("-", ".")), stem
    assert not stem.endswith((".", " ")), stem
    assert not is_reserved_name(stem) and not is_reserved_name(f"{stem}.mp3"), stem
    assert unicodedata.normalize("NFC", stem) == stem
    path = PROPERTY_FOLDER / f"{stem}.mp3"
    assert Path(os.path.realpath(path)).parent == Path(os.path.realpath(PROPERTY_FOLDER))


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("../../.bashrc", "bashrc"),
        ("/etc/passwd", "etc_passwd"),
        ("C:\\x", "C_x"),
        ("..\\..\\Windows\\System32", "Windows_System32"),
        ("CON", "_CON"),
        ("con", "_con"),
        ("nul.mp3", "_nul.mp3"),
        ("Com1.txt", "_Com1.txt"),
        ("LPT9", "_LPT9"),
        ("AUX .txt", "_AUX .txt"),
        ("", "take"),
        ("   ", "take"),
        ("...", "take"),
        (". .. .", "take"),
        ("-i evil.mp3", "i evil.mp3"),
        ("--version", "version"),
        ("Song. . ", "Song"),
        ("bell\x07and\x00nul\x1b[31m", "bellandnul[31m"),
        ("line one\nline two\ttab", "line one line two tab"),
        ("evil\u202egpj.exe", "evilgpj.exe"),
        ("a\u2066b\u2069c\u200bd\u00ade", "abcde"),
        ("夜のドライブ", "夜のドライブ"),
        ("Ночная поездка", "Ночная поездка"),
        ("caf\u0065\u0301", "caf\u00e9"),
        ("Why? Because: <yes>", "Why_ Because_ _yes"),
        ("AC/DC", "AC_DC"),
        ("  padded  title  ", "padded title"),
    ],
)
def test_hostile_titles(title: str, expected: str) -> None:
    stem = safe_file_stem(title)
    assert stem == expected
    assert_safe(stem)


def test_long_titles_are_cut_by_characters_and_bytes() -> None:
    assert safe_file_stem("x" * 1000) == "x" * 120
    assert len(safe_file_stem("x" * 1000, max_len=40)) == 40
    cjk = safe_file_stem("夜" * 1000)
    assert len(cjk.encode("utf-8")) <= MAX_STEM_BYTES and set(cjk) == {"夜"}
    # A cut that lands on a space or dot must not leave it trailing (Windows).
    assert safe_file_stem("a" * 119 + " b") == "a" * 119
    assert safe_file_stem("a" * 119 + ".b") == "a" * 119


def test_fallback_is_made_safe_too() -> None:
    assert safe_file_stem("", fallback="../x") == "x"
    assert safe_file_stem("", fallback="CON") == "_CON"
    assert safe_file_stem("", fallback="...") == "take"
    with pytest.raises(ValueError):
        safe_file_stem("x", max_len=0)


@pytest.mark.parametrize("name", ["CON", "con.mp3", "NUL .txt", "COM¹", "conin$", "lpt0.x.y"])
def test_reserved_names(name: str) -> None:
    assert is_reserved_name(name)


@pytest.mark.parametrize("name", ["CONSOLE", "nully.mp3", "_CON", "COM10", "my con"])
def test_not_reserved(name: str) -> None:
    assert not is_reserved_name(name)


@settings(max_examples=400, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=200))
def test_any_text_gives_a_safe_stem(title: str, max_len: int) -> None:
    stem = safe_file_stem(title, max_len=max_len)
    assert_safe(stem, max_len)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("./\\ -:CONul\u202e")))
def test_idempotent(title: str) -> None:
    stem = safe_file_stem(title)
    assert safe_file_stem(stem) == stem


@settings(max_examples=200, deadline=None)
@given(st.text(), st.sampled_from(["mp3", "wav", ".png", "TXT"]))
def test_unique_path_stays_inside_for_any_stem(stem: str, ext: str) -> None:
    path = unique_path(PROPERTY_FOLDER, stem, ext)
    assert path.parent == PROPERTY_FOLDER
    assert Path(os.path.realpath(path)).parent == Path(os.path.realpath(PROPERTY_FOLDER))
    assert path.suffix == "." + ext.removeprefix(".").lower()
    assert_safe(path.stem)


def test_unique_path_compares_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "Song.mp3").write_bytes(b"first")
    second = unique_path(tmp_path, "song", "mp3")
    assert second == tmp_path / "song (2).mp3"
    second.write_bytes(b"second")
    (tmp_path / "SONG (3).MP3").write_bytes(b"third")
    assert unique_path(tmp_path, "Song", "mp3") == tmp_path / "Song (4).mp3"
    assert unique_path(tmp_path, "Song", "wav") == tmp_path / "Song.wav"


def test_unique_path_compares_normalisation_insensitively(tmp_path: Path) -> None:
    # macOS may list a name decomposed (NFD) that we would write composed (NFC).
    (tmp_path / unicodedata.normalize("NFD", "Café.mp3")).write_bytes(b"x")
    assert unique_path(tmp_path, "Café", "mp3").name == "Café (2).mp3"
    assert name_key("Café") == name_key(unicodedata.normalize("NFD", "CAFÉ"))


def test_unique_path_honours_names_in_flight(tmp_path: Path) -> None:
    assert unique_path(tmp_path, "Song", "mp3", taken={"SONG.mp3"}).name == "Song (2).mp3"


def test_leftover_part_does_not_take_the_name(tmp_path: Path) -> None:
    # The downloader resumes it (or restarts, if it belongs to another object).
    (tmp_path / "Song.mp3.part").write_bytes(b"half")
    assert unique_path(tmp_path, "Song", "mp3") == tmp_path / "Song.mp3"


def test_unique_path_sanitises_and_checks(tmp_path: Path) -> None:
    assert unique_path(tmp_path, "../../.bashrc", "txt") == tmp_path / "bashrc.txt"
    assert unique_path(tmp_path / "missing", "x", "mp3") == tmp_path / "missing" / "x.mp3"
    for bad in ("", "mp3/../x", "tar.gz", "a" * 11, "m p3"):
        with pytest.raises(ValueError):
            unique_path(tmp_path, "x", bad)
