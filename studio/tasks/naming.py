"""Safe, portable, unique file names for archived takes (faults F1, F2, D9).

Qt-free and pure apart from :func:`unique_path`, which lists one folder. Both run
on whatever thread calls them (the archiver calls them on the asyncio loop: a
folder listing is cheap next to a download).

A title comes from an engine or a user and may be anything: ``../../.bashrc``,
``CON``, a right-to-left override (U+202E) that makes ``.mp3`` read as ``.exe``,
or 1000 characters. The name we build from it must be one plain file name on
Linux, macOS (case-insensitive, normalisation-insensitive APFS/HFS+) and Windows
(reserved device names, no trailing dots or spaces, ``<>:"/\\|?*`` forbidden).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection
from pathlib import Path

__all__ = ["MAX_STEM_BYTES", "is_reserved_name", "name_key", "safe_file_stem", "unique_path"]

# ext4/APFS/NTFS allow 255 bytes (or UTF-16 units) per name. A stem of 120 CJK
# characters is 360 UTF-8 bytes, so characters alone are not a bound. 180 bytes
# leaves room for " - instrumental (999).flac" and a ".part" suffix. UTF-8 bytes
# are never fewer than UTF-16 units, so this bounds NTFS too.
MAX_STEM_BYTES = 180

# Windows refuses these as a name or as the part before the first dot ("nul.mp3"),
# in any case, even with trailing spaces ("NUL .txt"). COM/LPT with superscript
# digits are reserved too since Windows 10.
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{dev}{n}" for dev in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]}
)
# Forbidden on Windows (and "/" everywhere); a run of them becomes one "_".
_FORBIDDEN = re.compile(r'[<>:"|?*]+')
_SEPARATORS = re.compile(r"[/\\]+")
_SPACES = re.compile(r"\s+")
_UNDERSCORES = re.compile(r"_{2,}")
# Unicode categories dropped outright: controls, format characters (bidi
# overrides and isolates, zero-width joiners, soft hyphen, tag characters),
# surrogates (not encodable as UTF-8) and unassigned code points (an older or
# newer Unicode on another OS may reject or renormalise them).
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn"})
# Characters trimmed from the ends: a leading "." hides the file and "-" reads as
# an option to ffmpeg (F2); Windows strips trailing dots and spaces silently.
_LEAD_TRIM = " ._-"
_TRAIL_TRIM = " ._"
_EXT = re.compile(r"[A-Za-z0-9]{1,10}")


def is_reserved_name(name: str) -> bool:
    """Whether Windows treats ``name`` (with or without an extension) as a device.

    Pure; any thread.
    """
    base = name.split(".", 1)[0].rstrip(" ")
    return base.upper() in _RESERVED


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category in _DROPPED_CATEGORIES:
            # A tab or newline separated words; keep them apart.
            kept.append(" " if char in "\t\n\r\v\f" else "")
        elif category in ("Zs", "Zl", "Zp"):
            kept.append(" ")
        else:
            kept.append(char)
    text = "".join(kept)
    # Path components made only of dots ("..", ".") are what makes a traversal;
    # drop them with the separators instead of keeping ".._.._".
    parts = [p for p in _SEPARATORS.split(text) if p.strip(" .")]
    text = "_".join(p.strip(" ") for p in parts)
    text = _FORBIDDEN.sub("_", text)
    text = _SPACES.sub(" ", text)
    return _UNDERSCORES.sub("_", text)


def _fit(text: str, max_len: int) -> str:
    text = text[:max_len]
    while len(text.encode("utf-8")) > MAX_STEM_BYTES:
        text = text[:-1]
    # Cutting may expose a trailing space or dot; Windows would strip it.
    return text.lstrip(_LEAD_TRIM).rstrip(_TRAIL_TRIM)


def safe_file_stem(title: str, *, fallback: str = "take", max_len: int = 120) -> str:
    """One safe, portable file name stem (no extension) for any title.

    Pure; any thread. NFC-normalised; controls and bidi/format characters
    removed; separators and Windows-forbidden characters become ``_``; no leading
    ``.``/``-``, no trailing dots or spaces; never a Windows device name; at most
    ``max_len`` characters and :data:`MAX_STEM_BYTES` UTF-8 bytes. Letters of any
    script are kept (``夜のドライブ`` stays as it is). Idempotent.

    Args:
        title: any text (an engine's or a user's title).
        fallback: used when nothing usable is left; made safe the same way, and
            ``"take"`` if even that is empty.
        max_len: the longest stem in characters (at least 1).

    Raises:
        ValueError: ``max_len`` is below 1.
    """
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    stem = _fit(_clean(title), max_len)
    if not stem:
        stem = _fit(_clean(fallback), max_len) or _fit("take", max_len)
    if is_reserved_name(stem):
        # Prefixing keeps the title readable ("_CON") and breaks the device match.
        # Device names are short ASCII, so the byte cap cannot bite here.
        stem = "_" + stem[: max_len - 1]
    return stem


def name_key(name: str) -> str:
    """The form in which two file names collide on a case-insensitive file system.

    APFS/HFS+ and NTFS compare names case-insensitively, and macOS also compares
    them normalisation-insensitively, so "Song", "song" and "SONG" are one file.
    """
    return unicodedata.normalize("NFC", name).casefold()


def unique_path(folder: Path, stem: str, ext: str, *, taken: Collection[str] = ()) -> Path:
    """A path ``folder/<stem>.<ext>`` that does not exist yet, adding " (2)", " (3)"….

    Runs on the calling thread (lists ``folder`` once). Names are compared
    case-insensitively (faults D9), so "Song.mp3" is taken when "song.mp3" exists.
    A leftover ``<name>.part`` does not take the name: the downloader resumes it
    when the same file is fetched again, and refuses to splice another object's
    bytes onto it (If-Range).

    Args:
        folder: the destination folder (missing counts as empty).
        stem: the name stem; passed through :func:`safe_file_stem` again, so any
            text is safe here.
        ext: the extension, with or without its dot: 1–10 ASCII letters/digits.
        taken: more names (full file names) to treat as existing, e.g. the
            destinations of downloads still in flight.

    Returns:
        A path whose parent is ``folder`` and whose name is free.

    Raises:
        ValueError: ``ext`` is not a plain extension, or the result would not
            lie directly inside ``folder`` (cannot happen with a safe stem; the
            check is the last line of defence).
    """
    ext = ext.removeprefix(".").lower()
    if not _EXT.fullmatch(ext):
        raise ValueError(f"not a plain file extension: {ext!r}")
    stem = safe_file_stem(stem)
    try:
        existing = {name_key(name) for name in os.listdir(folder)}
    except FileNotFoundError:
        existing = set()
    existing |= {name_key(name) for name in taken}
    candidate = f"{stem}.{ext}"
    counter = 1
    while name_key(candidate) in existing:
        counter += 1
        candidate = f"{stem} ({counter}).{ext}"
    path = folder / candidate
    base = Path(os.path.realpath(folder))
    if Path(os.path.realpath(path)).parent != base or path.name != candidate:
        raise ValueError(f"file name {candidate!r} would leave the folder {folder}")
    return path
