"""Music theory for the synthesizer: keys, chords, progressions, and prompt nudges."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Scale degrees (0-based), one chord per bar; the progression loops.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 5, 1, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 2, 6, 5)),
}
_PITCH_CLASS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_WORD = re.compile(r"[a-z0-9#-]+")


@dataclass(frozen=True)
class Chord:
    """A triad: its name, root pitch class (0 = C) and intervals above the root."""

    name: str
    root: int
    intervals: tuple[int, ...]


def chord_on(degree: int, key_root: int, mode: str) -> Chord:
    """The diatonic triad built on ``degree`` of the key."""
    scale = SCALES[mode]
    steps = [degree + 2 * i for i in range(3)]
    pitches = [scale[s % 7] + 12 * (s // 7) for s in steps]
    intervals = tuple(p - pitches[0] for p in pitches)
    qualities: dict[tuple[int, ...], str] = {(0, 4, 7): "", (0, 3, 7): "m", (0, 3, 6): "dim"}
    quality = qualities.get(intervals, "")
    root = (key_root + pitches[0]) % 12
    return Chord(NOTE_NAMES[root] + quality, root, intervals)


def midi_to_hz(midi: float | np.ndarray) -> np.ndarray:
    """Equal-tempered frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return np.asarray(440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0))


def words(prompt: str) -> set[str]:
    """Lower-case words of a prompt, with "lo-fi" also seen as "lofi"."""
    found = set(_WORD.findall(prompt.lower()))
    return found | {w.replace("-", "") for w in found}


def choose_tempo(prompt: str, rng: np.random.Generator) -> float:
    """Tempo in BPM: an explicit "90 bpm" / "bpm 90" wins, then mood words, then chance."""
    match = re.search(r"(\d{2,3})\s*bpm|bpm\s*[:=]?\s*(\d{2,3})", prompt.lower())
    if match:
        return float(np.clip(int(match.group(1) or match.group(2)), 50, 200))
    found = words(prompt)
    if found & {"slow", "ballad", "ambient", "calm", "chill"}:
        low, high = 62, 80
    elif found & {"lofi", "jazz", "hiphop", "hip-hop"}:
        low, high = 72, 92
    elif found & {"fast", "upbeat", "energetic", "dance", "edm", "punk", "techno", "house"}:
        low, high = 120, 150
    else:
        low, high = 86, 128
    return float(rng.integers(low, high + 1))


def choose_key(prompt: str, rng: np.random.Generator) -> tuple[int, str]:
    """Key root pitch class and mode: "in A minor", mood words, or chance."""
    text = prompt.lower()
    match = re.search(r"\b(?:in|key of|key)\s+([a-g])([#b]?)\s*(major|minor|maj|min|m)?\b", text)
    found = words(prompt)
    mode_word = "minor" if found & {"minor", "sad", "dark", "melancholic", "moody"} else ""
    if not mode_word and found & {"major", "happy", "bright", "cheerful", "sunny"}:
        mode_word = "major"
    if match:
        root = _PITCH_CLASS[match.group(1)] + {"#": 1, "b": -1, "": 0}[match.group(2)]
        quality = match.group(3) or ""
        mode = "minor" if quality in ("m", "min", "minor") else ""
        return root % 12, mode or mode_word or "major"
    root = int(rng.integers(0, 12))
    mode = mode_word or ("minor" if rng.random() < 0.45 else "major")
    return root, mode


def choose_progression(key_root: int, mode: str, rng: np.random.Generator) -> tuple[Chord, ...]:
    """One of the stock progressions of the mode, as chords of the key."""
    options = PROGRESSIONS[mode]
    degrees = options[int(rng.integers(0, len(options)))]
    return tuple(chord_on(d, key_root, mode) for d in degrees)


def key_name(key_root: int, mode: str) -> str:
    """Human-readable key, e.g. "A minor"."""
    return f"{NOTE_NAMES[key_root]} {mode}"
