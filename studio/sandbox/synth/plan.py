"""A song's plan: every musical decision, made before any sample is rendered.

Edits (extend, replace, cover, swaps) derive a new plan from the parent's plan and render
it, so the child shares the parent's tempo, key, progression and melody where it should.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.sandbox.synth.seeding import rng_for, stable_int
from studio.sandbox.synth.text import section_blocks
from studio.sandbox.synth.theory import Chord, key_name, words

DEFAULT_FORM = (("Intro", 2), ("Verse 1", 8), ("Chorus", 8), ("Verse 2", 8), ("Chorus", 8),
                ("Bridge", 4), ("Chorus", 8), ("Outro", 4))
_ADJECTIVES = ("Neon", "Quiet", "Golden", "Paper", "Velvet", "Electric", "Silver", "Lonely",
               "Midnight", "Wild", "Hollow", "Bright")
_NOUNS = ("Harbor", "Skyline", "Echoes", "Rivers", "Satellites", "Avenue", "Horizon", "Static",
          "Gardens", "Lanterns", "Tides", "Signals")


@dataclass(frozen=True)
class Note:
    """One sung syllable: start and length in seconds, MIDI pitch, vowel and onset consonant."""

    start: float
    dur: float
    midi: float
    vowel: str
    onset: str


@dataclass(frozen=True)
class Section:
    """A part of the form, with the lyric lines sung in it."""

    name: str
    start: float
    end: float
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timbre:
    """Sound choices: which kit, grooves, instruments and voice the song uses."""

    kit_seed: int
    groove_seed: int
    kick_hz: float
    snare_hz: float
    hat_decay: float
    drum_pattern: int
    swing: float
    bass_pattern: int
    bass_harmonics: int
    pad_style: str
    pad_harmonics: int
    pad_detune: float
    voice_seed: int
    voice_center: int
    formant_shift: float
    vibrato_hz: float
    vibrato_depth: float
    lofi: bool


@dataclass(frozen=True)
class SongPlan:
    """Everything needed to render a song, deterministically."""

    prompt: str
    seed: int
    lyrics: str
    instrumental: bool
    sample_rate: int
    duration_s: float
    tempo_bpm: float
    key_root: int
    mode: str
    progression: tuple[Chord, ...]
    sections: tuple[Section, ...]
    melody: tuple[Note, ...]
    timbre: Timbre
    title: str

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bar_s(self) -> float:
        return 4.0 * self.beat_s

    @property
    def key(self) -> str:
        return key_name(self.key_root, self.mode)

    @property
    def n_samples(self) -> int:
        return round(self.duration_s * self.sample_rate)

    def chord_at(self, t: float) -> Chord:
        """The chord sounding at ``t`` seconds (one chord per bar, looping)."""
        return self.progression[int(t // self.bar_s) % len(self.progression)]

    def section_at(self, t: float) -> Section:
        for section in self.sections:
            if section.start <= t < section.end:
                return section
        return self.sections[-1]


def make_timbre(prompt: str, seed: int, salt: str = "") -> Timbre:
    """Sound choices from the prompt's words and a hash of (prompt, seed)."""
    rng = rng_for("timbre", prompt, seed, salt)
    found = words(prompt)
    lofi = bool(found & {"lofi", "lo-fi", "vinyl", "tape"})
    if found & {"ambient", "dreamy", "cinematic"}:
        pad_style = "pad"
    elif found & {"piano", "jazz", "ballad", "lofi"}:
        pad_style = "keys"
    elif found & {"edm", "dance", "techno", "house", "synth", "synthwave"}:
        pad_style = "pluck"
    else:
        pad_style = ("pad", "keys", "pluck")[int(rng.integers(0, 3))]
    if found & {"dance", "edm", "house", "techno", "disco"}:
        pattern = 2
    elif found & {"hiphop", "trap", "rap", "lofi"}:
        pattern = 3
    elif found & {"ballad", "slow", "ambient"}:
        pattern = 4
    else:
        pattern = int(rng.integers(0, 5))
    bright = 0 if lofi else (3 if found & {"rock", "metal", "bright", "punk"} else 1)
    female = bool(found & {"female", "woman", "girl", "soprano"})
    male = bool(found & {"male", "man", "baritone", "bass"}) and not female
    center = 67 if female else 55 if male else int(rng.integers(55, 68))
    return Timbre(
        kit_seed=stable_int("kit", prompt, seed, salt),
        groove_seed=stable_int("groove", prompt, seed, salt),
        kick_hz=float(rng.uniform(42, 60)),
        snare_hz=float(rng.uniform(160, 240)),
        hat_decay=float(rng.uniform(0.02, 0.05)),
        drum_pattern=pattern,
        swing=float(rng.uniform(0.08, 0.22)) if (lofi or found & {"jazz", "swing"}) else 0.0,
        bass_pattern=int(rng.integers(0, 4)),
        bass_harmonics=int(rng.integers(1, 4)) + bright,
        pad_style=pad_style,
        pad_harmonics=int(rng.integers(3, 6)) + bright,
        pad_detune=float(rng.uniform(4, 12)),
        voice_seed=stable_int("voice", prompt, seed, salt),
        voice_center=center,
        formant_shift=float(np.clip(0.9 + (center - 55) * 0.018 + rng.uniform(-0.04, 0.04),
                                    0.85, 1.25)),
        vibrato_hz=float(rng.uniform(4.5, 6.0)),
        vibrato_depth=float(rng.uniform(0.004, 0.012)),
        lofi=lofi,
    )


def build_sections(
    lyrics: str, bar_s: float, duration_s: float, *, offset_s: float = 0.0, intro: bool = True
) -> tuple[Section, ...]:
    """Sections from ``[Tag]`` lines in the lyrics, else a stock form, clipped to the length.

    A tagged section lasts two bars per lyric line (at least four bars). When the form ends
    before the song does, the chorus comes back (or an instrumental part), then an outro.
    Times start at ``offset_s`` (for extensions, which also skip the intro).
    """
    blocks = section_blocks(lyrics)
    layout: list[tuple[str, tuple[str, ...], int]] = []
    if any(name for name, _ in blocks):
        for name, block in blocks:
            layout.append((name or "Verse", tuple(block), max(4, 2 * len(block))))
        if intro and not layout[0][0].lower().startswith("intro"):
            layout.insert(0, ("Intro", (), 2))
    else:
        untagged = blocks[0][1] if blocks else []
        chunks = [tuple(untagged[i : i + 4]) for i in range(0, len(untagged), 4)]
        sung = 0
        for name, bars in DEFAULT_FORM[0 if intro else 1 :]:
            chunk: tuple[str, ...] = ()
            if chunks and name not in ("Intro", "Outro"):
                chunk = chunks[sung % len(chunks)]
                sung += 1
            layout.append((name, chunk, max(bars, 2 * len(chunk))))
    chorus = next((item for item in layout if "chorus" in item[0].lower() and item[1]), None)
    sections: list[Section] = []
    t = offset_s
    stop = offset_s + duration_s - 1e-6
    for name, lines, bars in layout:
        if t >= stop:
            break
        end = t + bars * bar_s
        sections.append(Section(name, t, min(end, offset_s + duration_s), lines))
        t = end
    while t < stop:
        remaining_bars = (offset_s + duration_s - t) / bar_s
        if remaining_bars <= 6:
            name, lines, bars = "Outro", (), 8
        else:
            name, lines, bars = chorus or ("Instrumental", (), 8)
        end = t + bars * bar_s
        sections.append(Section(name, t, min(end, offset_s + duration_s), lines))
        t = end
    return tuple(sections)


def suggest_title(prompt: str, lyrics: str, seed: int) -> str:
    """A title: the first words of the lyrics, else two words chosen from the seed."""
    for _, lines in section_blocks(lyrics):
        for line in lines:
            picked = [w.strip(".,!?;:\"'") for w in line.split()[:4]]
            text = " ".join(w for w in picked if w)
            if text:
                return text[:1].upper() + text[1:]
    rng = rng_for("title", prompt, seed)
    return f"{_ADJECTIVES[int(rng.integers(0, 12))]} {_NOUNS[int(rng.integers(0, 12))]}"
