"""Speech-like audio for the Seed-Audio sandbox: formant syllables with prosody and pauses."""

from __future__ import annotations

import numpy as np

from studio.sandbox.synth.seeding import rng_for
from studio.sandbox.synth.text import syllables
from studio.sandbox.synth.voice import consonant, envelope, voiced

MAX_SECONDS = 120.0
SYLLABLE_S = 0.19


def _voice_params(voice: str) -> tuple[float, float]:
    """Base pitch (Hz) and formant shift of a voice id; deterministic per id."""
    rng = rng_for("speech-voice", voice)
    lower = voice.lower()
    if any(w in lower for w in ("female", "woman", "girl")):
        base = rng.uniform(190, 235)
    elif any(w in lower for w in ("male", "man", "boy")):
        base = rng.uniform(95, 135)
    else:
        base = rng.uniform(100, 230)
    return float(base), float(np.clip(0.9 + (base - 100) / 650 + rng.uniform(-0.03, 0.03),
                                      0.85, 1.2))


def render_speech(
    text: str,
    seed: int,
    *,
    speech_rate: float = 1.0,
    pitch_semitones: float = 0,
    loudness: float = 1.0,
    sample_rate: int = 24000,
    voice: str = "",
) -> np.ndarray:
    """Mono float32 (1, n) speech-like audio: one formant vowel per syllable (CJK: per
    character), onset consonants as noise, falling pitch over each phrase, and pauses at
    punctuation. Length grows with the text and shrinks with ``speech_rate``; capped at
    120 s. ``voice`` picks the base pitch and formants.
    """
    rate = float(np.clip(speech_rate, 0.25, 4.0))
    base_hz, shift = _voice_params(voice)
    base_hz *= 2.0 ** (pitch_semitones / 12.0)
    rng = rng_for("speech", text, seed, voice)
    cap = int(MAX_SECONDS * sample_rate)
    sylls = syllables(text)
    lengths = rng.uniform(0.8, 1.25, size=len(sylls)) * SYLLABLE_S / rate
    total = int((lengths.sum() + sum(s.pause_after for s in sylls) / rate + 0.2) * sample_rate)
    out = np.zeros(min(max(total, int(0.2 * sample_rate)), cap))
    pos = int(0.05 * sample_rate)
    phrase_start = 0
    for i, syl in enumerate(sylls):
        n = int(lengths[i] * sample_rate)
        if pos + n > out.size:
            break
        # Declination: pitch falls through a phrase and resets after a pause.
        progress = min(1.0, (pos - phrase_start) / (2.5 * sample_rate))
        accent = 1.0 + 0.08 * float(rng.standard_normal())
        start_hz = base_hz * accent * (1.12 - 0.2 * progress)
        f0 = np.linspace(start_hz, start_hz * 0.94, n)
        burst = consonant(syl.onset, sample_rate, rng)
        head = min(burst.size, out.size - pos)
        out[pos : pos + head] += burst[:head]
        pos += head // 2
        n = min(n, out.size - pos)
        out[pos : pos + n] += voiced(f0[:n], syl.vowel, sample_rate, formant_shift=shift,
                                     max_hz=3800.0) * envelope(n, sample_rate, 0.025, 0.045) * 0.4
        pos += n + int(syl.pause_after / rate * sample_rate)
        if syl.pause_after >= 0.2:
            phrase_start = pos
    out = out[: min(out.size, max(pos + int(0.1 * sample_rate), int(0.2 * sample_rate)))]
    out *= float(np.clip(loudness, 0.0, 2.0))
    return np.clip(out, -0.99, 0.99).astype(np.float32)[np.newaxis, :]
