"""Edits of a rendered song that really relate to it: extend, replace, cover, variation, swaps.

Every edit builds a new plan from the parent's (same tempo, key and progression), renders
what changes, and splices stems so untouched samples are the parent's own; the mix is
always recomputed as the sum of the stems.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from studio.sandbox.synth.melody import compose_melody
from studio.sandbox.synth.plan import Note, Section, SongPlan, Timbre, build_sections, make_timbre
from studio.sandbox.synth.seeding import rng_for, stable_int
from studio.sandbox.synth.song import STEM_NAMES, SongRender, assemble, render_plan
from studio.sandbox.synth.text import section_blocks

EXTEND_CROSSFADE_S = 0.03
_VOICE_FIELDS = ("voice_seed", "voice_center", "formant_shift", "vibrato_hz", "vibrato_depth")


def _melody_for(plan: SongPlan, sections: tuple[Section, ...], label: str, seed: int
                ) -> tuple[Note, ...]:
    if plan.instrumental:
        return ()
    return compose_melody(sections, plan.progression, plan.key_root, plan.mode, plan.tempo_bpm,
                          plan.timbre.voice_center, rng_for("melody", label, plan.lyrics, seed),
                          plan.duration_s)


def _groove_variant(timbre: Timbre, seed: int, label: str) -> Timbre:
    """Same kit and voice, different grooves and chord style."""
    rng = rng_for(label, "groove", seed)
    styles = ("pad", "keys", "pluck")
    return replace(
        timbre,
        groove_seed=stable_int(label, "groove", seed),
        drum_pattern=(timbre.drum_pattern + 1 + int(rng.integers(0, 4))) % 5,
        bass_pattern=(timbre.bass_pattern + 1 + int(rng.integers(0, 3))) % 4,
        pad_style=styles[(styles.index(timbre.pad_style) + 1 + int(rng.integers(0, 2))) % 3],
    )


def _samples(parent: SongRender, seconds: float) -> int:
    return int(np.clip(round(seconds * parent.sample_rate), 0, parent.mix.shape[1]))


def extend_song(
    parent: SongRender,
    from_s: float,
    seed: int,
    extra_s: float,
    *,
    lyrics: str = "",
) -> SongRender:
    """The parent up to ``from_s``, then ``extra_s`` more seconds in the same tempo and key.

    Samples before ``from_s`` are the parent's own; the new part fades in over 30 ms against
    the parent's continuation (if any). Without ``lyrics`` the extension sings the parent's
    last sung lines again (a chorus reprise).
    """
    if extra_s <= 0:
        raise ValueError("extra_s must be positive")
    old = parent.plan
    from_s = float(np.clip(from_s, 0.0, parent.duration_s))
    if not lyrics:
        sung = [s for s in old.sections if s.lines and s.start < from_s]
        lyrics = "[Chorus]\n" + "\n".join(sung[-1].lines) if sung else ""
    kept = tuple(replace(s, end=min(s.end, from_s)) for s in old.sections if s.start < from_s)
    added = build_sections(lyrics, old.bar_s, extra_s, offset_s=from_s, intro=False)
    plan = replace(old, duration_s=from_s + extra_s, sections=kept + added,
                   lyrics=(old.lyrics + "\n" + lyrics).strip())
    new_notes = _melody_for(plan, added, "extend", seed)
    plan = replace(plan, melody=tuple(n for n in old.melody if n.start < from_s) + new_notes)
    fresh = render_plan(plan)
    cut = _samples(parent, from_s)
    overlap = min(round(EXTEND_CROSSFADE_S * old.sample_rate), parent.mix.shape[1] - cut)
    stems: dict[str, np.ndarray] = {}
    for name in STEM_NAMES:
        out = fresh[name]
        out[:, :cut] = parent.stems[name][:, :cut]
        if overlap > 0:
            w = np.linspace(0.0, 1.0, overlap, endpoint=False, dtype=np.float32)
            old_part = parent.stems[name][:, cut : cut + overlap]
            out[:, cut : cut + overlap] = old_part * (1 - w) + out[:, cut : cut + overlap] * w
        stems[name] = out
    return assemble(stems, plan)


def replace_section(
    parent: SongRender,
    start_s: float,
    end_s: float,
    seed: int,
    *,
    lyrics: str = "",
    crossfade_s: float = 0.05,
) -> SongRender:
    """New music inside [start_s, end_s), the parent's samples outside it.

    Inside, the melody is recomposed (on ``lyrics`` if given) and the grooves and chord style
    change; ``crossfade_s`` ramps at both ends of the span (inside it) hide the seams.
    """
    old = parent.plan
    first, last = _samples(parent, start_s), _samples(parent, end_s)
    if last <= first:
        raise ValueError("the span to replace is empty")
    lines = tuple(line for _, block in section_blocks(lyrics) for line in block)
    sections = tuple(
        replace(s, lines=lines) if lines and s.start < end_s and s.end > start_s else s
        for s in old.sections
    )
    plan = replace(old, sections=sections, timbre=_groove_variant(old.timbre, seed, "replace"))
    inside = [n for n in _melody_for(plan, sections, "replace", seed) if start_s <= n.start < end_s]
    outside = [n for n in old.melody if not start_s <= n.start < end_s]
    plan = replace(plan, melody=tuple(sorted(outside + inside, key=lambda n: n.start)))
    fresh = render_plan(plan)
    ramp = min(round(crossfade_s * old.sample_rate), (last - first) // 2)
    w = np.ones(last - first, dtype=np.float32)
    if ramp:
        w[:ramp] = np.linspace(0.0, 1.0, ramp, endpoint=False)
        w[-ramp:] = np.linspace(1.0, 0.0, ramp + 1)[1:]
    stems: dict[str, np.ndarray] = {}
    for name in STEM_NAMES:
        out = parent.stems[name].copy()
        span = slice(first, last)
        out[:, span] = parent.stems[name][:, span] * (1 - w) + fresh[name][:, span] * w
        stems[name] = out
    return assemble(stems, replace(plan, timbre=old.timbre))


def cover_song(parent: SongRender, prompt: str, seed: int) -> SongRender:
    """The same melody, progression, tempo and form in a new sound chosen by ``prompt``."""
    timbre = make_timbre(prompt, seed, "cover")
    plan = replace(parent.plan, prompt=prompt, seed=seed, timbre=timbre)
    return assemble(render_plan(plan), plan)


def variation(parent: SongRender, seed: int) -> SongRender:
    """Same key, tempo, progression, form and sound; new melody and grooves."""
    old = parent.plan
    plan = replace(old, seed=seed, timbre=_groove_variant(old.timbre, seed, "variation"))
    plan = replace(plan, melody=_melody_for(plan, plan.sections, "variation", seed))
    return assemble(render_plan(plan), plan)


def swap_vocals(parent: SongRender, seed: int, *, lyrics: str = "") -> SongRender:
    """A new singer and melody (on ``lyrics`` if given); the other stems are the parent's."""
    old = parent.plan
    fresh = make_timbre(old.prompt, seed, "swap-vocals")
    timbre = replace(old.timbre, **{f: getattr(fresh, f) for f in _VOICE_FIELDS})
    plan = replace(old, timbre=timbre, instrumental=old.instrumental and not lyrics)
    if lyrics:
        lines = tuple(line for _, block in section_blocks(lyrics) for line in block)
        plan = replace(plan, lyrics=lyrics, sections=tuple(
            replace(s, lines=lines[:4]) if s.lines or "verse" in s.name.lower() else s
            for s in old.sections))
    plan = replace(plan, melody=_melody_for(plan, plan.sections, "swap-vocals", seed))
    stems = {name: parent.stems[name].copy() for name in STEM_NAMES}
    stems.update(render_plan(plan, ("vocals",)))
    return assemble(stems, plan)


def swap_instrumental(parent: SongRender, seed: int, *, prompt: str = "") -> SongRender:
    """New drums, bass and chords (in the sound of ``prompt`` if given); vocals kept."""
    old = parent.plan
    fresh = make_timbre(prompt or old.prompt, seed, "swap-instrumental")
    timbre = replace(fresh, **{f: getattr(old.timbre, f) for f in _VOICE_FIELDS})
    plan = replace(old, timbre=timbre, prompt=prompt or old.prompt)
    stems = render_plan(plan, ("drums", "bass", "other"))
    stems["vocals"] = parent.stems["vocals"].copy()
    return assemble(stems, plan)
