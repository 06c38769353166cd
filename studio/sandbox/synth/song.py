"""Songs: a plan rendered to four stems whose sum is the mix, sample for sample."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.sandbox.synth.instruments import (
    render_bass,
    render_drums,
    render_other,
    render_vocals,
)
from studio.sandbox.synth.melody import compose_melody
from studio.sandbox.synth.plan import SongPlan, Timbre, build_sections, make_timbre, suggest_title
from studio.sandbox.synth.seeding import rng_for
from studio.sandbox.synth.theory import choose_key, choose_progression, choose_tempo

STEM_NAMES = ("vocals", "drums", "bass", "other")
# Each stem is bounded by a soft ceiling; the ceilings add up to 0.88, so the mix (their
# sum) never passes 0.88 and never needs clipping, also after splicing edits together.
_CEILINGS = {"vocals": 0.26, "drums": 0.28, "bass": 0.18, "other": 0.16}
_GAINS = {"vocals": 0.2, "drums": 0.2, "bass": 0.14, "other": 0.1}
_END_FADE_S = 0.4
_RENDERERS = {"vocals": render_vocals, "drums": render_drums, "bass": render_bass,
              "other": render_other}


@dataclass(frozen=True, eq=False)
class SongRender:
    """A rendered song: four planar float32 stems (2, n), their sum, and the plan behind them."""

    stems: dict[str, np.ndarray]
    mix: np.ndarray
    plan: SongPlan

    @property
    def sample_rate(self) -> int:
        return self.plan.sample_rate

    @property
    def duration_s(self) -> float:
        return float(self.mix.shape[1]) / self.plan.sample_rate

    @property
    def tempo_bpm(self) -> float:
        return self.plan.tempo_bpm

    @property
    def key(self) -> str:
        return self.plan.key

    @property
    def progression(self) -> list[str]:
        return [chord.name for chord in self.plan.progression]

    @property
    def sections(self) -> list[tuple[str, float, float]]:
        return [(s.name, s.start, s.end) for s in self.plan.sections]

    @property
    def title(self) -> str:
        return self.plan.title


def mix_of(stems: dict[str, np.ndarray]) -> np.ndarray:
    """The mix: the float32 sum of the stems in a fixed order."""
    total = np.zeros_like(stems[STEM_NAMES[0]], dtype=np.float32)
    for name in STEM_NAMES:
        total += stems[name]
    return total


def assemble(stems: dict[str, np.ndarray], plan: SongPlan) -> SongRender:
    """A render from finished float32 stems; the mix is computed here, never elsewhere."""
    ordered = {name: np.ascontiguousarray(stems[name], dtype=np.float32) for name in STEM_NAMES}
    return SongRender(ordered, mix_of(ordered), plan)


def render_stem(plan: SongPlan, name: str) -> np.ndarray:
    """One stem of ``plan``: rendered, scaled, softly bounded, faded at the end, float32."""
    raw = _RENDERERS[name](plan)
    ceiling = _CEILINGS[name]
    bounded = ceiling * np.tanh(raw * (_GAINS[name] / ceiling))
    fade = min(round(_END_FADE_S * plan.sample_rate), bounded.shape[1])
    if fade:
        bounded[:, -fade:] *= np.linspace(1.0, 0.0, fade)
    return bounded.astype(np.float32)


def render_plan(plan: SongPlan, names: tuple[str, ...] = STEM_NAMES) -> dict[str, np.ndarray]:
    """Render the named stems of a plan."""
    return {name: render_stem(plan, name) for name in names}


def make_plan(
    prompt: str,
    lyrics: str,
    seed: int,
    *,
    duration_s: float,
    sample_rate: int,
    instrumental: bool,
    timbre: Timbre | None = None,
) -> SongPlan:
    """All musical decisions for (prompt, lyrics, seed), each from its own random stream."""
    tempo = choose_tempo(prompt, rng_for("tempo", prompt, seed))
    key_root, mode = choose_key(prompt, rng_for("key", prompt, seed))
    progression = choose_progression(key_root, mode, rng_for("progression", prompt, seed))
    bar_s = 240.0 / tempo
    sections = build_sections(lyrics, bar_s, duration_s)
    timbre = timbre or make_timbre(prompt, seed)
    melody = compose_melody(sections, progression, key_root, mode, tempo, timbre.voice_center,
                            rng_for("melody", prompt, lyrics, seed), duration_s)
    return SongPlan(
        prompt=prompt, seed=seed, lyrics=lyrics, instrumental=instrumental,
        sample_rate=sample_rate, duration_s=duration_s, tempo_bpm=tempo, key_root=key_root,
        mode=mode, progression=progression, sections=sections,
        melody=() if instrumental else melody, timbre=timbre,
        title=suggest_title(prompt, lyrics, seed),
    )


def render_song(
    prompt: str,
    lyrics: str,
    seed: int,
    *,
    duration_s: float = 30.0,
    sample_rate: int = 44100,
    instrumental: bool = False,
) -> SongRender:
    """Render a song from a prompt, lyrics and seed; identical inputs give identical samples.

    Tempo, key, progression and sound come from a hash of (prompt, seed), nudged by prompt
    words ("slow", "fast", "90 bpm", "minor", "major", "lo-fi", "piano"…); sections come from
    ``[Verse]``/``[Chorus]`` tags in the lyrics, else a stock form. Runs on the caller's
    thread (CPU-bound: call it from an executor in async code).
    """
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    plan = make_plan(prompt, lyrics, seed, duration_s=duration_s, sample_rate=sample_rate,
                     instrumental=instrumental)
    return assemble(render_plan(plan), plan)
