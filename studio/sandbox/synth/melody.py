"""The vocal melody: lyric syllables placed on the beat grid, on the chords' tones."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from studio.sandbox.synth.plan import Note, Section
from studio.sandbox.synth.text import syllables
from studio.sandbox.synth.theory import SCALES, Chord

_STEPS = np.array([-2, -1, 0, 1, 2])
_STEP_P = np.array([0.12, 0.33, 0.16, 0.29, 0.10])
LINE_BARS = 2


def compose_melody(
    sections: Sequence[Section],
    progression: Sequence[Chord],
    key_root: int,
    mode: str,
    tempo_bpm: float,
    center_midi: int,
    rng: np.random.Generator,
    duration_s: float,
) -> tuple[Note, ...]:
    """One note per syllable; each lyric line takes two bars, starting on a downbeat.

    Lines of up to 12 syllables move in eighths, longer ones in sixteenths (at most 24
    syllables are sung). Pitches walk the scale near ``center_midi``, land on a chord tone
    on every beat, and the last syllable of a line rests on the chord's root.
    """
    beat = 60.0 / tempo_bpm
    bar = 4 * beat
    scale = SCALES[mode]
    pitches = [m for m in range(center_midi - 8, center_midi + 11) if (m - key_root) % 12 in scale]
    notes: list[Note] = []
    index = len(pitches) // 2
    for section in sections:
        for line_no, line in enumerate(section.lines):
            t0 = section.start + line_no * LINE_BARS * bar
            if t0 >= section.end - beat:
                break
            sung = syllables(line)[:24]
            if not sung:
                continue
            slot = beat / 2 if len(sung) <= 12 else beat / 4
            for j, syl in enumerate(sung):
                start = t0 + j * slot
                last = j == len(sung) - 1
                length = max(slot, t0 + 1.75 * bar - start) if last else slot * 0.92
                end = min(start + length, section.end, duration_s)
                if end - start < 0.04:
                    break
                chord = progression[int(start // bar) % len(progression)]
                tones = {(chord.root + iv) % 12 for iv in chord.intervals}
                index = int(np.clip(index + rng.choice(_STEPS, p=_STEP_P), 0, len(pitches) - 1))
                if last:
                    tones = {chord.root}
                if last or (j * slot) % beat < 1e-9:
                    index = _nearest(pitches, index, tones)
                notes.append(Note(start, end - start, float(pitches[index]), syl.vowel, syl.onset))
    return tuple(notes)


def _nearest(pitches: list[int], index: int, pitch_classes: set[int]) -> int:
    """Index of the pitch nearest ``index`` whose pitch class is in ``pitch_classes``."""
    candidates = [i for i, m in enumerate(pitches) if m % 12 in pitch_classes]
    if not candidates:
        return index
    return min(candidates, key=lambda i: (abs(i - index), i))
