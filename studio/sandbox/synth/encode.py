"""Planar float32 audio to file bytes: wav and raw pcm here, mp3/m4a/flac/opus via ffmpeg.

ffmpeg is the one bundled with imageio-ffmpeg, run with an argument list (no shell), fed
f32le on stdin, writing to a temporary file (mp4 and flac headers need seeking).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("wav", "mp3", "m4a", "flac", "ogg_opus", "pcm")
TIMEOUT_S = 120.0
_FFMPEG_ARGS = {
    "mp3": (["-c:a", "libmp3lame", "-f", "mp3"], "out.mp3", True),
    "m4a": (["-c:a", "aac", "-movflags", "+faststart", "-f", "ipod"], "out.m4a", True),
    "flac": (["-c:a", "flac", "-f", "flac"], "out.flac", False),
    "ogg_opus": (["-c:a", "libopus", "-ar", "48000", "-f", "ogg"], "out.opus", True),
}


class EncodeError(RuntimeError):
    """ffmpeg failed or the format is unknown."""


def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def run_ffmpeg(args: list[str], stdin: bytes, timeout: float = TIMEOUT_S) -> bytes:
    """Run ffmpeg quietly with ``args`` (after the executable), return its stdout.

    No console window on Windows. Raises EncodeError with ffmpeg's message on failure.
    """
    extra: dict[str, Any] = {}
    if sys.platform == "win32":
        extra["creationflags"] = subprocess.CREATE_NO_WINDOW
    try:
        done = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args],
            input=stdin, capture_output=True, timeout=timeout, check=False, **extra,
        )
    except subprocess.TimeoutExpired as exc:
        raise EncodeError(f"ffmpeg took longer than {timeout:.0f} s") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()[-500:]
        raise EncodeError(f"ffmpeg failed ({done.returncode}): {message}")
    return bytes(done.stdout)


def _planar(audio: np.ndarray) -> np.ndarray:
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[np.newaxis, :]
    if data.ndim != 2 or data.shape[0] > 8:
        raise ValueError("audio must be planar, shaped (channels, samples)")
    return data


def _to_int(audio: np.ndarray, bits: int) -> np.ndarray:
    full = float(2 ** (bits - 1))
    scaled = np.round(np.clip(audio.astype(np.float64), -1.0, 1.0) * full)
    return np.clip(scaled, -full, full - 1).astype(np.int32)


def encode_wav(audio: np.ndarray, sample_rate: int, bits: int = 16) -> bytes:
    """PCM WAV (16 or 24-bit) with the stdlib ``wave`` module."""
    if bits not in (16, 24):
        raise ValueError("wav bit depth must be 16 or 24")
    data = _planar(audio)
    samples = np.ascontiguousarray(_to_int(data.T, bits))  # interleaved frames
    if bits == 16:
        raw = samples.astype("<i2").tobytes()
    else:
        raw = samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(data.shape[0])
        writer.setsampwidth(bits // 8)
        writer.setframerate(sample_rate)
        writer.writeframes(raw)
    return buffer.getvalue()


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """A PCM WAV (8/16/24/32-bit) as planar float32 (channels, samples) and its rate."""
    with wave.open(io.BytesIO(data), "rb") as reader:
        channels, width = reader.getnchannels(), reader.getsampwidth()
        rate = reader.getframerate()
        raw = reader.readframes(reader.getnframes())
    if width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((bytes3.shape[0], 4), dtype=np.uint8)
        padded[:, 1:] = bytes3  # little-endian: the low byte stays zero, sign comes along
        values = padded.view("<i4").reshape(-1).astype(np.float64) / 2.0**31
    elif width == 1:
        values = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    else:
        dtype = {2: "<i2", 4: "<i4"}[width]
        values = np.frombuffer(raw, dtype=dtype).astype(np.float64) / 2.0 ** (8 * width - 1)
    return values.reshape(-1, channels).T.astype(np.float32), rate


def encode(audio: np.ndarray, sample_rate: int, fmt: str, *, bitrate_kbps: int = 192,
           bits: int = 16) -> bytes:
    """Encode planar audio (channels, samples) to ``fmt``: one of FORMATS.

    ``wav`` honours ``bits`` (16 or 24); ``pcm`` is raw interleaved s16le; lossy formats
    use ``bitrate_kbps``. Blocking (runs ffmpeg): call from an executor in async code.
    """
    data = _planar(audio)
    if fmt == "wav":
        return encode_wav(data, sample_rate, bits)
    if fmt == "pcm":
        return _to_int(data.T, 16).astype("<i2").tobytes()
    if fmt not in _FFMPEG_ARGS:
        raise EncodeError(f"unknown audio format {fmt!r}")
    codec_args, name, lossy = _FFMPEG_ARGS[fmt]
    rate_args = ["-b:a", f"{int(bitrate_kbps)}k"] if lossy else []
    with tempfile.TemporaryDirectory(prefix="studio-encode-") as folder:
        target = Path(folder) / name
        run_ffmpeg(
            ["-f", "f32le", "-ar", str(sample_rate), "-ac", str(data.shape[0]), "-i", "pipe:0",
             "-threads", "1", *codec_args, *rate_args,
             # bitexact: no random Ogg serials or version strings, so bytes repeat exactly.
             "-fflags", "+bitexact", "-flags:a", "+bitexact", "-y", str(target)],
            np.ascontiguousarray(data.T).astype("<f4").tobytes(),
        )
        return target.read_bytes()
