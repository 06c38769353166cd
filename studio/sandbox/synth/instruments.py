"""The four stems' instruments: drum kit, bass, chords ("other") and the singing voice.

Each renderer takes a plan and returns float64 stereo of the plan's length at a nominal
level (peaks near 1); the song module scales and bounds them. Notes are rendered once per
distinct (pitch, length) and added in place, which keeps a 30 s song well under a second.
"""

from __future__ import annotations

import numpy as np

from studio.sandbox.synth.plan import SongPlan
from studio.sandbox.synth.seeding import rng_for
from studio.sandbox.synth.theory import midi_to_hz
from studio.sandbox.synth.voice import consonant, envelope, voiced

# Sixteen steps per bar: kick, snare, hat.
DRUM_PATTERNS = (
    ("x.......x.......", "....x.......x...", "x.x.x.x.x.x.x.x."),
    ("x.....x.x.......", "....x.......x...", "x.x.x.x.x.x.x.x."),
    ("x...x...x...x...", "....x.......x...", "..x...x...x...x."),
    ("x..x......x.....", "....x.......x..x", "xxxxxxxxxxxxxxxx"),
    ("x.........x.....", "........x.......", "x.x.x.x.x.x.x.x."),
)
# Eighth-note slots per bar: (slot, length in slots, interval above the root).
BASS_PATTERNS = (
    ((0, 3, 0), (4, 3, 0)),
    tuple((i, 1, 0) for i in range(8)),
    ((0, 2, 0), (3, 1, 0), (4, 2, 7), (6, 2, 0)),
    ((0, 3, 0), (3, 2, 0), (6, 1, 12), (7, 1, 7)),
)


def section_energy(name: str) -> float:
    """How busy a section is: intros and bridges thin out, choruses go full."""
    lower = name.lower()
    for word, level in (("intro", 0.4), ("outro", 0.6), ("bridge", 0.6), ("chorus", 1.0),
                        ("hook", 1.0), ("pre", 0.75), ("verse", 0.8)):
        if word in lower:
            return level
    return 0.85


def _add(out: np.ndarray, sound: np.ndarray, start: int, pan: float = 0.0) -> None:
    """Mix a mono ``sound`` into stereo ``out`` at sample ``start`` (cut at the end)."""
    if start >= out.shape[1] or start < 0:
        return
    piece = sound[: out.shape[1] - start]
    out[0, start : start + piece.size] += piece * (1.0 - pan) ** 0.5
    out[1, start : start + piece.size] += piece * (1.0 + pan) ** 0.5


def _kit(plan: SongPlan) -> dict[str, np.ndarray]:
    sr = plan.sample_rate
    tb = plan.timbre
    rng = rng_for("kit", tb.kit_seed)

    def t(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * sr)) / sr

    def hiss(n: int, order: int) -> np.ndarray:
        noise = rng.standard_normal(n + order)
        for _ in range(order):
            noise = np.diff(noise) * 0.5
        return noise[:n]

    tk = t(0.4)
    freq = tb.kick_hz + 110.0 * np.exp(-tk / 0.035)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-tk / 0.16)
    kick[: int(0.004 * sr)] += hiss(int(0.004 * sr), 1) * 0.5
    ts = t(0.28)
    snare = hiss(ts.size, 1) * np.exp(-ts / 0.07) * 0.8 + np.sin(
        2 * np.pi * tb.snare_hz * ts) * np.exp(-ts / 0.05) * 0.6
    th = t(0.09)
    hat = hiss(th.size, 2) * np.exp(-th / tb.hat_decay) * 1.2
    tc = t(1.6)
    crash = hiss(tc.size, 2) * np.exp(-tc / 0.55) * 0.9
    return {"kick": kick, "snare": snare, "hat": hat, "crash": crash}


def render_drums(plan: SongPlan) -> np.ndarray:
    """Kick, snare and hats on a 16-step pattern, thinned or filled by section."""
    sr = plan.sample_rate
    out = np.zeros((2, plan.n_samples))
    kit = _kit(plan)
    kick_p, snare_p, hat_p = DRUM_PATTERNS[plan.timbre.drum_pattern % len(DRUM_PATTERNS)]
    rng = rng_for("groove", plan.timbre.groove_seed)
    step = plan.beat_s / 4
    steps = int(plan.duration_s / step) + 1
    velocity = rng.uniform(0.8, 1.0, size=steps)
    crashed: set[float] = set()
    for i in range(steps):
        t = i * step + (plan.timbre.swing * step if i % 2 else 0.0)
        if t >= plan.duration_s:
            break
        section = plan.section_at(t)
        energy = section_energy(section.name)
        s = i % 16
        start = round(t * sr)
        v = float(velocity[i]) * (0.6 + 0.4 * energy)
        if section.start not in crashed and energy >= 0.8 and t >= section.start > 0:
            crashed.add(section.start)
            _add(out, kit["crash"] * 0.7 * v, start, 0.0)
        if kick_p[s] == "x" and energy > 0.5:
            _add(out, kit["kick"] * v, start)
        if snare_p[s] == "x" and energy > 0.5:
            _add(out, kit["snare"] * v, start, -0.1)
        if hat_p[s] == "x":
            accent = 1.0 if s % 4 == 0 else 0.7
            _add(out, kit["hat"] * v * accent * 0.7, start, 0.3)
    return out


def _tone(freq: float, n: int, sr: int, harmonics: int, rolloff: float, detune: float = 0.0
          ) -> np.ndarray:
    t = np.arange(n) / sr
    k = np.arange(1, harmonics + 1, dtype=np.float64)
    k = k[k * freq < 0.45 * sr]
    amps = k**-rolloff
    wave: np.ndarray = amps @ np.sin(2 * np.pi * np.outer(k, t) * freq * 2 ** (detune / 1200))
    normalised: np.ndarray = wave / amps.sum()
    return normalised


def render_bass(plan: SongPlan) -> np.ndarray:
    """The chord roots on an eighth-note pattern, low register, mono-centred."""
    sr = plan.sample_rate
    out = np.zeros((2, plan.n_samples))
    pattern = BASS_PATTERNS[plan.timbre.bass_pattern % len(BASS_PATTERNS)]
    eighth = plan.beat_s / 2
    cache: dict[tuple[float, int], np.ndarray] = {}
    bars = int(plan.duration_s / plan.bar_s) + 1
    for b in range(bars):
        bar_t = b * plan.bar_s
        if bar_t >= plan.duration_s:
            break
        energy = section_energy(plan.section_at(bar_t).name)
        chord = plan.chord_at(bar_t)
        root = 28 + (chord.root - 4) % 12  # E1..Eb2
        notes = ((0, 8, 0),) if energy < 0.5 else pattern
        for slot, length, interval in notes:
            n = int(length * eighth * sr * 0.95)
            key = (float(root + interval), n)
            if key not in cache:
                tone = _tone(float(midi_to_hz(root + interval)), n, sr,
                             plan.timbre.bass_harmonics, 1.2)
                cache[key] = tone * envelope(n, sr, 0.006, 0.03) * (1.0 - 0.3 * np.arange(n) / n)
            _add(out, cache[key] * (0.7 + 0.3 * energy), round((bar_t + slot * eighth) * sr))
    return out


def render_other(plan: SongPlan) -> np.ndarray:
    """Chords: a detuned pad, comped keys or an arpeggiated pluck, by the timbre's style."""
    sr = plan.sample_rate
    tb = plan.timbre
    out = np.zeros((2, plan.n_samples))
    cache: dict[tuple[float, int, float], np.ndarray] = {}
    bar = plan.bar_s
    beat = plan.beat_s

    def note(midi: float, seconds: float, detune: float) -> np.ndarray:
        n = int(seconds * sr)
        key = (midi, n, detune)
        if key not in cache:
            tone = _tone(float(midi_to_hz(midi)), n, sr, tb.pad_harmonics, 1.5, detune)
            if tb.pad_style == "pad":
                env = envelope(n, sr, min(0.4, seconds / 3), min(0.4, seconds / 3))
            else:
                env = envelope(n, sr, 0.004, 0.05) * np.exp(
                    -np.arange(n) / sr / (0.6 if tb.pad_style == "keys" else 0.18))
            cache[key] = tone * env
        return cache[key]

    bars = int(plan.duration_s / bar) + 1
    for b in range(bars):
        bar_t = b * bar
        if bar_t >= plan.duration_s:
            break
        energy = section_energy(plan.section_at(bar_t).name)
        chord = plan.chord_at(bar_t)
        voicing = [55 + (chord.root + iv - 55) % 12 for iv in chord.intervals]
        level = 0.35 + 0.25 * energy
        if tb.pad_style == "pad":
            for m in voicing:
                for pan, cents in ((-0.6, -tb.pad_detune), (0.6, tb.pad_detune)):
                    _add(out, note(m, bar + 0.3, cents) * level, round(bar_t * sr), pan)
        elif tb.pad_style == "keys":
            for hit in (0.0, 2.0) if energy < 0.9 else (0.0, 1.5, 2.0, 3.5):
                for m in voicing:
                    _add(out, note(m, 1.2, 0.0) * level, round((bar_t + hit * beat) * sr), -0.2)
        else:
            arp = [*voicing, voicing[0] + 12]
            for i in range(8):
                m = arp[i % len(arp)]
                pan = -0.5 if i % 2 else 0.5
                _add(out, note(m, 0.5, 0.0) * level, round((bar_t + i * beat / 2) * sr), pan)
    if tb.lofi:
        rng = rng_for("vinyl", tb.kit_seed)
        n = plan.n_samples
        crackle = (rng.random(n) < 8.0 / sr) * rng.uniform(-0.3, 0.3, n)
        out += crackle + rng.standard_normal(n) * 0.004
    return out


def render_vocals(plan: SongPlan) -> np.ndarray:
    """The melody sung on the lyrics' vowels, with onset consonants and a stereo echo."""
    sr = plan.sample_rate
    tb = plan.timbre
    dry = np.zeros(plan.n_samples)
    if plan.instrumental:
        return np.zeros((2, plan.n_samples))
    rng = rng_for("breath", tb.voice_seed)
    for note in plan.melody:
        start = round(note.start * sr)
        n = min(round(note.dur * sr), plan.n_samples - start)
        if n <= 0:
            continue
        t = np.arange(n) / sr
        ramp = np.clip((t - 0.12) / 0.2, 0.0, 1.0)
        f0 = float(midi_to_hz(note.midi)) * (
            1.0 + tb.vibrato_depth * ramp * np.sin(2 * np.pi * tb.vibrato_hz * t))
        sound = voiced(f0, note.vowel, sr, formant_shift=tb.formant_shift)
        dry[start : start + n] += sound * envelope(n, sr, 0.03, 0.06)
        burst = consonant(note.onset, sr, rng)
        burst_start = max(0, start - burst.size // 2)
        piece = burst[: plan.n_samples - burst_start]
        dry[burst_start : burst_start + piece.size] += piece
    out = np.vstack([dry, dry])
    for channel, beats in ((0, 0.75), (1, 1.0)):
        delay = round(beats * plan.beat_s * sr)
        if 0 < delay < plan.n_samples:
            out[channel, delay:] += dry[:-delay] * 0.22
    return out
