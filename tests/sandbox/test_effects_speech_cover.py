"""Sound effects, speech and cover art: exact lengths, determinism, valid PNGs."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from studio.sandbox.synth import render_cover_png, render_effect, render_speech


@pytest.mark.parametrize(
    ("prompt", "duration"),
    [
        ("rain on a roof", 3.0),
        ("thunder", 4.5),
        ("bell chime", 5.0),
        ("laser beep", 7.3),
        ("footsteps and clicks", 10.0),
        ("something odd", 3.21),
    ],
)
def test_effect_has_the_exact_duration(prompt: str, duration: float) -> None:
    audio = render_effect(prompt, 5, duration)
    assert audio.shape == (2, round(duration * 44100))
    assert audio.dtype == np.float32
    assert 0.5 < np.abs(audio).max() <= 0.81
    assert abs(audio[:, 0]).max() < 1e-3  # faded in
    assert abs(audio[:, -1]).max() < 1e-3  # faded out


def test_effect_is_deterministic_and_shaped_by_the_prompt() -> None:
    a = render_effect("rain", 1, 3.0)
    assert a.tobytes() == render_effect("rain", 1, 3.0).tobytes()
    assert a.tobytes() != render_effect("rain", 2, 3.0).tobytes()

    # Thunder is low: most of its energy sits below 300 Hz; rain's does not.
    def low_share(audio: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(audio[0])) ** 2
        freqs = np.fft.rfftfreq(audio.shape[1], 1 / 44100)
        return float(spectrum[freqs < 300].sum() / spectrum.sum())

    assert low_share(render_effect("thunder", 1, 3.0)) > 0.5
    assert low_share(a) < 0.1


def test_speech_length_scales_with_text_and_rate() -> None:
    short = render_speech("Hello there.", 1)
    long = render_speech("Hello there. This sentence is quite a lot longer, with a pause.", 1)
    fast = render_speech(
        "Hello there. This sentence is quite a lot longer, with a pause.", 1, speech_rate=2.0
    )
    assert short.shape[0] == 1
    assert short.dtype == np.float32
    assert long.shape[1] > 2.5 * short.shape[1]
    assert 0.4 < fast.shape[1] / long.shape[1] < 0.65
    assert np.abs(long).max() > 0.1


def test_speech_handles_cjk_and_is_capped() -> None:
    chinese = render_speech("你好，世界。今天天气很好。", 3)
    assert 1.5 < chinese.shape[1] / 24000 < 6
    capped = render_speech("word " * 1000, 3)
    assert capped.shape[1] <= 120 * 24000


def test_speech_voice_and_pitch_change_the_sound() -> None:
    text = "The quick brown fox."
    base = render_speech(text, 1, voice="narrator-1")
    assert base.tobytes() == render_speech(text, 1, voice="narrator-1").tobytes()
    assert base.tobytes() != render_speech(text, 1, voice="narrator-2").tobytes()
    assert base.tobytes() != render_speech(text, 1, voice="narrator-1", pitch_semitones=4).tobytes()
    quiet = render_speech(text, 1, voice="narrator-1", loudness=0.5)
    assert np.abs(quiet).max() == pytest.approx(np.abs(base).max() * 0.5, rel=1e-3)


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, payload = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF
        chunks.append((kind, payload))
        pos += 12 + length
    return chunks


def test_cover_is_a_valid_deterministic_png() -> None:
    png = render_cover_png("synthwave night", 9, size=64)
    chunks = _chunks(png)
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour) == (64, 64, 8, 2)
    pixels = np.frombuffer(zlib.decompress(chunks[1][1]), np.uint8).reshape(64, 1 + 64 * 3)
    assert not pixels[:, 0].any()  # filter type 0 on every row
    assert pixels[:, 1:].std() > 5  # not a flat colour
    assert png == render_cover_png("synthwave night", 9, size=64)
    assert png != render_cover_png("synthwave night", 10, size=64)
