"""Songs: deterministic, musical metadata, stems that sum to the mix, fast."""

from __future__ import annotations

import time

import numpy as np
import pytest

from studio.sandbox.synth import STEM_NAMES, SongRender, decode_wav, encode, render_song
from studio.sandbox.synth.plan import build_sections

LYRICS = """[Verse 1]
Walking down the empty street tonight
Every window holds a little light
[Chorus]
Sing it loud, sing it clear
We are here, we are here
"""


@pytest.fixture(scope="module")
def song() -> SongRender:
    return render_song("upbeat pop, female vocals", LYRICS, 7, duration_s=12.0)


def test_same_inputs_give_identical_samples(song: SongRender) -> None:
    again = render_song("upbeat pop, female vocals", LYRICS, 7, duration_s=12.0)
    for name in STEM_NAMES:
        assert np.array_equal(song.stems[name], again.stems[name])
    assert encode(song.mix, 44100, "wav") == encode(again.mix, 44100, "wav")


def test_a_different_seed_gives_a_different_song(song: SongRender) -> None:
    other = render_song("upbeat pop, female vocals", LYRICS, 8, duration_s=12.0)
    assert not np.array_equal(song.mix, other.mix)


def test_stems_are_planar_float32_and_the_mix_is_their_sum(song: SongRender) -> None:
    assert set(song.stems) == {"vocals", "drums", "bass", "other"}
    n = round(12.0 * 44100)
    for stem in song.stems.values():
        assert stem.dtype == np.float32
        assert stem.shape == (2, n)
        assert np.abs(stem).max() > 0.01
    assert song.mix.shape == (2, n)
    assert np.array_equal(song.mix, sum(song.stems[name] for name in STEM_NAMES))
    assert np.abs(song.mix).max() < 0.9


def test_decoded_24_bit_stems_sum_to_the_decoded_mix(song: SongRender) -> None:
    mix, rate = decode_wav(encode(song.mix, 44100, "wav", bits=24))
    assert rate == 44100
    total = np.zeros_like(mix, dtype=np.float64)
    for name in STEM_NAMES:
        decoded, _ = decode_wav(encode(song.stems[name], 44100, "wav", bits=24))
        total += decoded
    assert mix.shape == song.mix.shape
    assert np.abs(mix - total).max() <= 1e-3


def test_metadata_follows_the_lyrics_tags(song: SongRender) -> None:
    names = [name for name, _, _ in song.sections]
    assert names[:3] == ["Intro", "Verse 1", "Chorus"]
    assert song.sections[0][1] == 0.0
    assert song.sections[-1][2] == pytest.approx(12.0)
    for (_, _, end), (_, start, _) in zip(song.sections, song.sections[1:], strict=False):
        assert end == pytest.approx(start)
    assert len(song.progression) == 4
    assert song.key.split()[1] in {"major", "minor"}
    assert song.title == "Walking down the empty"
    # One note per syllable, sung inside the sections that have lines.
    assert len(song.plan.melody) > 10


def test_prompt_words_nudge_tempo_and_mode() -> None:
    assert render_song("a song at 93 bpm", "", 1, duration_s=2.0).tempo_bpm == 93
    assert render_song("bpm 140 techno", "", 1, duration_s=2.0).tempo_bpm == 140
    assert render_song("slow sad ballad", "", 1, duration_s=2.0).tempo_bpm <= 80
    assert render_song("fast punk", "", 1, duration_s=2.0).tempo_bpm >= 120
    assert render_song("dark minor mood", "", 3, duration_s=2.0).key.endswith("minor")
    assert render_song("happy major tune", "", 3, duration_s=2.0).key.endswith("major")
    assert render_song("jazz in A minor", "", 3, duration_s=2.0).key == "A minor"


def test_default_form_without_tags() -> None:
    sections = build_sections("one line here\nanother line there", 2.0, 60.0)
    assert [s.name for s in sections][:3] == ["Intro", "Verse 1", "Chorus"]
    assert sections[1].lines == ("one line here", "another line there")
    assert sections[0].lines == ()
    assert sections[-1].end == pytest.approx(60.0)
    long = build_sections("[Chorus]\nla la", 2.0, 200.0)
    assert [s.name for s in long][:3] == ["Intro", "Chorus", "Chorus"]
    assert long[-1].name == "Outro"
    assert long[-1].end == pytest.approx(200.0)


def test_instrumental_has_silent_vocals() -> None:
    song = render_song("lo-fi", LYRICS, 4, duration_s=4.0, instrumental=True)
    assert not song.stems["vocals"].any()
    assert song.stems["drums"].any()
    assert song.plan.timbre.lofi


def test_a_30_second_song_renders_fast() -> None:
    start = time.perf_counter()
    song = render_song("energetic dance", LYRICS, 11)
    elapsed = time.perf_counter() - start
    assert song.mix.shape == (2, 30 * 44100)
    assert elapsed < 2.0
