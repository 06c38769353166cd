"""Encoding through the bundled ffmpeg: valid files that decode back to the right length."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from studio.sandbox.synth import EncodeError, decode_wav, encode
from studio.sandbox.synth.encode import ffmpeg_exe

SR = 44100
SECONDS = 1.5


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.vstack([left, 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)


def _decoded_seconds(data: bytes) -> float:
    done = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-f",
            "f32le",
            "-ac",
            "1",
            "-ar",
            str(SR),
            "pipe:1",
        ],
        input=data,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return len(done.stdout) / 4 / SR


@pytest.mark.parametrize(
    ("fmt", "magic"),
    [
        ("mp3", (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")),
        ("m4a", (b"ftyp",)),
        ("flac", (b"fLaC",)),
        ("ogg_opus", (b"OggS",)),
        ("wav", (b"RIFF",)),
    ],
)
def test_formats_are_valid_and_decode_to_the_right_length(
    tone: np.ndarray, fmt: str, magic: tuple[bytes, ...]
) -> None:
    data = encode(tone, SR, fmt, bitrate_kbps=128)
    head = data[4:8] if fmt == "m4a" else data
    assert any(head.startswith(m) for m in magic)
    if fmt == "ogg_opus":
        assert b"OpusHead" in data[:200]
    assert abs(_decoded_seconds(data) - SECONDS) <= 0.05


@pytest.mark.parametrize("bits", [16, 24])
def test_wav_round_trips(tone: np.ndarray, bits: int) -> None:
    data = encode(tone, SR, "wav", bits=bits)
    assert data[8:12] == b"WAVE"
    decoded, rate = decode_wav(data)
    assert rate == SR
    assert decoded.shape == tone.shape
    assert np.abs(decoded - tone).max() <= 2.0 ** -(bits - 1)


def test_pcm_is_interleaved_s16le(tone: np.ndarray) -> None:
    data = encode(tone, SR, "pcm")
    frames = np.frombuffer(data, "<i2").reshape(-1, 2)
    assert frames.shape == (tone.shape[1], 2)
    assert np.abs(frames[:, 0] / 32768 - tone[0]).max() < 1e-4


def test_mono_and_errors(tone: np.ndarray) -> None:
    decoded, _ = decode_wav(encode(tone[0], SR, "wav"))
    assert decoded.shape == (1, tone.shape[1])
    with pytest.raises(EncodeError):
        encode(tone, SR, "aiff")
    with pytest.raises(ValueError):
        encode(tone, SR, "wav", bits=12)


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "flac", "ogg_opus"])
def test_encoding_is_deterministic(tone: np.ndarray, fmt: str) -> None:
    assert encode(tone[:, : SR // 4], SR, fmt) == encode(tone[:, : SR // 4], SR, fmt)
