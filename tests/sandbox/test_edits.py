"""Edits relate to their parent: shared samples are the parent's own, the rest is new."""

from __future__ import annotations

import numpy as np
import pytest

from studio.sandbox.synth import (
    STEM_NAMES,
    SongRender,
    cover_song,
    extend_song,
    render_song,
    replace_section,
    swap_instrumental,
    swap_vocals,
    variation,
)

SR = 44100
LYRICS = "[Verse]\nLight the lamps along the shore\nHold the line forever more\n[Chorus]\nOh oh\n"


@pytest.fixture(scope="module")
def parent() -> SongRender:
    return render_song("indie pop", LYRICS, 3, duration_s=12.0)


def _sums(song: SongRender) -> None:
    assert np.array_equal(song.mix, sum(song.stems[name] for name in STEM_NAMES))
    assert np.abs(song.mix).max() < 0.9


def test_extend_keeps_everything_before_from_s(parent: SongRender) -> None:
    child = extend_song(parent, 8.0, 21, 6.0)
    cut = 8 * SR
    assert child.mix.shape == (2, 14 * SR)
    for name in STEM_NAMES:
        assert np.array_equal(child.stems[name][:, :cut], parent.stems[name][:, :cut])
    assert not np.array_equal(child.mix[:, cut + SR : 12 * SR], parent.mix[:, cut + SR :])
    assert child.tempo_bpm == parent.tempo_bpm
    assert child.key == parent.key
    assert child.progression == parent.progression
    assert child.sections[-1][2] == pytest.approx(14.0)
    assert np.abs(child.mix[:, 13 * SR - SR // 2 : 13 * SR]).max() > 0.01  # it keeps playing
    _sums(child)


def test_extend_from_the_end(parent: SongRender) -> None:
    child = extend_song(parent, parent.duration_s, 5, 4.0)
    assert np.array_equal(child.mix[:, : 12 * SR], parent.mix)
    assert child.mix.shape == (2, 16 * SR)
    _sums(child)


def test_replace_changes_only_the_span(parent: SongRender) -> None:
    child = replace_section(parent, 4.0, 8.0, 9, crossfade_s=0.05)
    first, last, ramp = 4 * SR, 8 * SR, int(0.05 * SR)
    for name in STEM_NAMES:
        assert np.array_equal(child.stems[name][:, :first], parent.stems[name][:, :first])
        assert np.array_equal(child.stems[name][:, last:], parent.stems[name][:, last:])
    inner = slice(first + ramp, last - ramp)
    assert np.abs(child.mix[:, inner] - parent.mix[:, inner]).max() > 0.05
    assert child.mix.shape == parent.mix.shape
    assert child.sections == parent.sections
    _sums(child)


def test_replace_rejects_an_empty_span(parent: SongRender) -> None:
    with pytest.raises(ValueError):
        replace_section(parent, 5.0, 5.0, 1)


def test_cover_keeps_melody_and_harmony_with_a_new_sound(parent: SongRender) -> None:
    child = cover_song(parent, "dark rock, male vocals", 4)
    assert child.plan.melody == parent.plan.melody
    assert (child.tempo_bpm, child.key, child.progression) == (
        parent.tempo_bpm,
        parent.key,
        parent.progression,
    )
    assert child.plan.timbre != parent.plan.timbre
    assert not np.array_equal(child.mix, parent.mix)
    _sums(child)


def test_variation_keeps_key_and_tempo(parent: SongRender) -> None:
    child = variation(parent, 12)
    assert (child.tempo_bpm, child.key, child.progression, child.sections) == (
        parent.tempo_bpm,
        parent.key,
        parent.progression,
        parent.sections,
    )
    assert not np.array_equal(child.mix, parent.mix)
    assert variation(parent, 12).mix.tobytes() == child.mix.tobytes()
    _sums(child)


def test_swap_vocals_keeps_the_instrumental(parent: SongRender) -> None:
    child = swap_vocals(parent, 6)
    for name in ("drums", "bass", "other"):
        assert np.array_equal(child.stems[name], parent.stems[name])
    assert not np.array_equal(child.stems["vocals"], parent.stems["vocals"])
    assert child.stems["vocals"].any()
    _sums(child)


def test_swap_instrumental_keeps_the_vocals(parent: SongRender) -> None:
    child = swap_instrumental(parent, 6, prompt="lo-fi piano")
    assert np.array_equal(child.stems["vocals"], parent.stems["vocals"])
    for name in ("drums", "bass", "other"):
        assert not np.array_equal(child.stems[name], parent.stems[name])
    assert child.tempo_bpm == parent.tempo_bpm
    _sums(child)
