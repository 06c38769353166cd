"""Text to syllables: what the singing and speaking voices articulate."""

from __future__ import annotations

import re
from dataclasses import dataclass

VOWELS = "aeiou"
_LATIN_VOWELS = {
    **{c: "a" for c in "aàáâãäå"},
    **{c: "e" for c in "eèéêë"},
    **{c: "i" for c in "iìíîïy"},
    **{c: "o" for c in "oòóôõöø"},
    **{c: "u" for c in "uùúûü"},
}
_TOKEN = re.compile(r"[^\W\d_]+|\d+|[.,;:!?。，、！？；：…\n]", re.UNICODE)
_SECTION_TAG = re.compile(r"^\s*\[([^\]]+)\]\s*$")
PAUSES = {",": 0.22, "，": 0.22, "、": 0.18, ";": 0.3, "；": 0.3, ":": 0.3, "：": 0.3,
          ".": 0.45, "。": 0.45, "!": 0.45, "！": 0.45, "?": 0.45, "？": 0.45, "…": 0.5,
          "\n": 0.35}


@dataclass(frozen=True)
class Syllable:
    """One sung or spoken syllable: its vowel (a/e/i/o/u), onset consonant, and the pause
    that follows it (seconds at normal rate; 0 inside a word)."""

    vowel: str
    onset: str
    pause_after: float = 0.0
    word_end: bool = False


def is_cjk(char: str) -> bool:
    """True for Han, kana and Hangul characters: each one is a syllable."""
    code = ord(char)
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF
            or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF)


def _word_syllables(word: str) -> list[Syllable]:
    result: list[Syllable] = []
    latin: list[str] = []

    def flush() -> None:
        if not latin:
            return
        text = "".join(latin).lower()
        groups = list(re.finditer(r"[aàáâãäåeèéêëiìíîïyoòóôõöøuùúûü]+", text))
        if not groups:
            result.append(Syllable("u", text[0]))
        for i, group in enumerate(groups):
            before = text[groups[i - 1].end() if i else 0 : group.start()]
            result.append(Syllable(_LATIN_VOWELS.get(group.group()[0], "a"), before[-1:]))
        latin.clear()

    for char in word:
        if is_cjk(char):
            flush()
            code = ord(char)
            result.append(Syllable(VOWELS[code % 5], "ktsnhmrgdb"[(code // 5) % 10]))
        elif char.isdigit():
            flush()
            result.append(Syllable("i", "t"))
        else:
            latin.append(char)
    flush()
    return result


def syllables(text: str) -> list[Syllable]:
    """Split ``text`` into syllables, marking word ends and pauses at punctuation."""
    result: list[Syllable] = []
    for token in _TOKEN.findall(text):
        if token in PAUSES:
            if result:
                last = result[-1]
                result[-1] = Syllable(last.vowel, last.onset,
                                      max(last.pause_after, PAUSES[token]), True)
            continue
        parts = _word_syllables(token)
        if parts:
            last = parts[-1]
            parts[-1] = Syllable(last.vowel, last.onset, max(last.pause_after, 0.04), True)
        result.extend(parts)
    return result


def section_blocks(lyrics: str) -> list[tuple[str, list[str]]]:
    """Lyrics split at ``[Section]`` tags into (name, lines); untagged text gets name ""."""
    blocks: list[tuple[str, list[str]]] = []
    for raw in lyrics.splitlines():
        line = raw.strip()
        tag = _SECTION_TAG.match(line)
        if tag:
            blocks.append((tag.group(1).strip(), []))
        elif line and not (line.startswith("(") and line.endswith(")")):
            if not blocks:
                blocks.append(("", []))
            blocks[-1][1].append(line)
    return blocks
