"""Short sound effects shaped by the prompt's words (for the Kling text-to-audio sandbox)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from studio.sandbox.synth.seeding import rng_for
from studio.sandbox.synth.theory import words

Layer = Callable[[np.random.Generator, np.ndarray, int], np.ndarray]
PEAK = 0.8


def _shaped_noise(rng: np.random.Generator, n: int, sr: int, low: float, high: float,
                  tilt: float = 0.0) -> np.ndarray:
    """White noise band-limited to [low, high] Hz in the frequency domain (exact length)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sr)
    gain = ((freqs >= low) & (freqs <= high)).astype(np.float64)
    if tilt:
        gain *= (np.maximum(freqs, 20.0) / 1000.0) ** tilt
    out: np.ndarray = np.fft.irfft(spectrum * gain, n)
    result: np.ndarray = out / (np.abs(out).max() + 1e-12)
    return result


def _rain(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    bed = _shaped_noise(rng, t.size, sr, 1500, 9000) * 0.35
    drops = np.zeros(t.size)
    at = rng.integers(0, t.size, size=int(t.size / sr * 40))
    drops[at] = rng.uniform(-1, 1, at.size)
    kernel = np.exp(-np.arange(int(0.004 * sr)) / (0.001 * sr)) * np.sin(
        2 * np.pi * 3000 * np.arange(int(0.004 * sr)) / sr)
    return bed + np.convolve(drops, kernel)[: t.size] * 0.5


def _wind(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    gust = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t + rng.uniform(0, 6))
    return _shaped_noise(rng, t.size, sr, 80, 900, tilt=-0.5) * gust


def _rumble(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    onset = rng.uniform(0.0, 0.15) * t[-1]
    env = np.where(t >= onset, np.exp(-(t - onset) / max(0.6, 0.3 * t[-1])), 0.0)
    crack = np.where(t >= onset, np.exp(-(t - onset) / 0.03), 0.0)
    low = _shaped_noise(rng, t.size, sr, 20, 220)
    return low * env + _shaped_noise(rng, t.size, sr, 500, 6000) * crack * 0.6


def _bell(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    out = np.zeros(t.size)
    base = rng.uniform(350, 900)
    strikes = [0.0, *sorted(rng.uniform(0.3, 0.8, size=int(rng.integers(0, 4))) * t[-1])]
    for strike in strikes:
        tt = np.clip(t - strike, 0.0, None)
        live = t >= strike
        for ratio, decay, amp in ((1.0, 2.5, 1.0), (2.76, 1.2, 0.5), (5.4, 0.6, 0.3),
                                  (8.93, 0.3, 0.2)):
            out += live * amp * np.sin(2 * np.pi * base * ratio * tt) * np.exp(-tt / decay)
    return out


def _sweep(rng: np.random.Generator, t: np.ndarray, sr: int, beep: bool) -> np.ndarray:
    if beep:
        freq = rng.choice([660.0, 880.0, 1000.0, 1320.0])
        gate = (np.floor(t / 0.25) % 2 == 0).astype(np.float64)
        beeps: np.ndarray = np.sin(2 * np.pi * freq * t) * gate * 0.8
        return beeps
    period = rng.uniform(0.2, 0.5)
    phase_t = np.mod(t, period)
    freq = 2400.0 * np.exp(-phase_t / (period / 3)) + 150.0
    tone: np.ndarray = np.sign(np.sin(2 * np.pi * np.cumsum(freq) / sr)) * 0.4
    swept: np.ndarray = tone * np.exp(-phase_t / period)
    return swept


def _steps(rng: np.random.Generator, t: np.ndarray, sr: int, click: bool) -> np.ndarray:
    interval = rng.uniform(0.08, 0.3) if click else rng.uniform(0.45, 0.6)
    out = np.zeros(t.size)
    length = int((0.01 if click else 0.09) * sr)
    burst = _shaped_noise(rng, length, sr, 1500 if click else 60, 8000 if click else 1200)
    burst *= np.exp(-np.arange(length) / (length / 5))
    for start in np.arange(0.05, t[-1], interval):
        i = int(start * sr)
        piece = burst[: t.size - i] * rng.uniform(0.6, 1.0)
        out[i : i + piece.size] += piece
    return out


def _default(rng: np.random.Generator, t: np.ndarray, sr: int) -> np.ndarray:
    freq = rng.uniform(120, 600)
    tone = np.sin(2 * np.pi * freq * t + 3 * np.sin(2 * np.pi * rng.uniform(0.2, 2) * t))
    blend: np.ndarray = tone * 0.6 + _shaped_noise(rng, t.size, sr, 200, 4000) * 0.3
    return blend


_LAYERS: tuple[tuple[frozenset[str], Layer], ...] = (
    (frozenset({"rain", "drizzle", "shower", "water", "river", "stream"}), _rain),
    (frozenset({"wind", "breeze", "storm", "ocean", "waves", "air"}), _wind),
    (frozenset({"explosion", "thunder", "boom", "blast", "rumble", "earthquake"}), _rumble),
    (frozenset({"bell", "bells", "chime", "chimes", "gong", "ding"}), _bell),
    (frozenset({"laser", "zap", "sci-fi", "scifi", "spaceship"}),
     lambda r, t, sr: _sweep(r, t, sr, False)),
    (frozenset({"beep", "beeps", "alarm", "notification", "alert"}),
     lambda r, t, sr: _sweep(r, t, sr, True)),
    (frozenset({"click", "clicks", "tick", "clock", "typing", "keyboard"}),
     lambda r, t, sr: _steps(r, t, sr, True)),
    (frozenset({"footstep", "footsteps", "steps", "walking", "knock", "knocking"}),
     lambda r, t, sr: _steps(r, t, sr, False)),
)


def render_effect(prompt: str, seed: int, duration_s: float, sample_rate: int = 44100
                  ) -> np.ndarray:
    """A stereo float32 (2, n) effect of exactly ``round(duration_s * sample_rate)`` samples.

    Every matching word group of the prompt adds a layer (rain, wind, rumble, bell, laser,
    beep, clicks, footsteps); with none, a noise and tone blend. Fades in and out; the
    peak is normalised to 0.8. Deterministic in (prompt, seed).
    """
    n = round(duration_s * sample_rate)
    if n <= 0:
        raise ValueError("duration_s must be positive")
    found = words(prompt)
    t = np.arange(n) / sample_rate
    layers = [layer for keys, layer in _LAYERS if keys & found] or [_default]
    channels = []
    for side in ("left", "right"):
        mono = np.zeros(n)
        for i, layer in enumerate(layers):
            mono += layer(rng_for("effect", prompt, seed, i, side if i else ""), t, sample_rate)
        channels.append(mono)
    out = np.vstack(channels)
    # Channels share the first layer's randomness (a centred image); later layers differ.
    fade_in = min(round(0.01 * sample_rate), n // 2)
    fade_out = min(round(min(0.3, duration_s / 5) * sample_rate), n - fade_in)
    if fade_in:
        out[:, :fade_in] *= np.linspace(0.0, 1.0, fade_in, endpoint=False)
    if fade_out:
        out[:, n - fade_out :] *= np.linspace(1.0, 0.0, fade_out)
    peak = float(np.abs(out).max())
    if peak > 0:
        out *= PEAK / peak
    return out.astype(np.float32)
