"""Formant voice: vowels as harmonic series shaped by formant peaks, consonants as noise.

Additive synthesis (a few dozen sines per segment) keeps it vectorized and filter-free.
"""

from __future__ import annotations

import numpy as np

# (F1, F2, F3) in Hz for an adult voice; scaled by a per-voice formant shift.
FORMANTS = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (300.0, 2200.0, 2950.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (320.0, 870.0, 2240.0),
}
_BANDWIDTHS = (90.0, 110.0, 160.0)
_GAINS = (1.0, 0.55, 0.28)
FRICATIVES = set("sfzhcxjv")
PLOSIVES = set("ptkbdgq")


def voiced(
    f0: np.ndarray,
    vowel: str,
    sample_rate: int,
    *,
    formant_shift: float = 1.0,
    max_hz: float = 4500.0,
) -> np.ndarray:
    """A vowel sung or spoken along the pitch curve ``f0`` (Hz per sample); peak about 1."""
    if f0.size == 0:
        return np.zeros(0)
    phase = 2.0 * np.pi * np.cumsum(f0) / sample_rate
    mean_f0 = float(np.mean(f0))
    count = max(1, int(min(max_hz, 0.45 * sample_rate) // max(mean_f0, 40.0)))
    k = np.arange(1, count + 1, dtype=np.float64)
    freqs = k * mean_f0
    envelope = np.zeros(count)
    for formant, bandwidth, gain in zip(FORMANTS.get(vowel, FORMANTS["a"]), _BANDWIDTHS, _GAINS,
                                        strict=True):
        centre = formant * formant_shift
        envelope += gain / (1.0 + ((freqs - centre) / bandwidth) ** 2)
    amps = (envelope + 0.02) * k**-0.5
    amps /= amps.sum()
    out: np.ndarray = amps @ np.sin(np.outer(k, phase))
    return out * 1.6


def consonant(onset: str, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A short noise burst for the onset consonant: hiss for fricatives, a click for plosives;
    empty for voiced onsets (nasals, liquids), which the vowel's attack stands in for."""
    if onset in FRICATIVES:
        length, decay, bright = 0.06, 0.03, 2
    elif onset in PLOSIVES:
        length, decay, bright = 0.018, 0.006, 1
    else:
        return np.zeros(0)
    n = max(1, int(length * sample_rate))
    noise = rng.standard_normal(n + bright)
    for _ in range(bright):
        noise = np.diff(noise)
    t = np.arange(n) / sample_rate
    burst: np.ndarray = noise[:n] * np.exp(-t / decay) * (0.12 if bright == 2 else 0.25)
    return burst


def envelope(n: int, sample_rate: int, attack: float, release: float) -> np.ndarray:
    """Linear attack and release ramps over ``n`` samples (shortened for short notes)."""
    env = np.ones(n)
    a = min(int(attack * sample_rate), n // 2)
    r = min(int(release * sample_rate), n - a)
    if a:
        env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    if r:
        env[n - r :] = np.linspace(1.0, 0.0, r)
    return env
