"""Cover art: a deterministic abstract PNG (gradient and soft circles), no imaging library."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from studio.sandbox.synth.seeding import rng_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def encode_png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB image (height, width, 3) as PNG bytes."""
    height, width, _ = rgb.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8),
                           np.ascontiguousarray(rgb, dtype=np.uint8).reshape(height, -1)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def render_cover_png(prompt: str, seed: int, size: int = 512) -> bytes:
    """A ``size``×``size`` cover: a two-colour gradient at a seeded angle with soft circles
    and rings from a seeded palette. Same (prompt, seed, size) → same bytes."""
    if not 1 <= size <= 4096:
        raise ValueError("size must be between 1 and 4096")
    rng = rng_for("cover", prompt, seed)
    hues = rng.uniform(0, 1, 3)
    palette = [_hsv(h, rng.uniform(0.45, 0.9), rng.uniform(0.35, 0.95)) for h in hues]
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.clip((np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5)) + 0.5, 0, 1)
    image = palette[0] * (1 - ramp[..., None]) + palette[1] * ramp[..., None]
    for _ in range(int(rng.integers(3, 8))):
        cx, cy, radius = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.35)
        distance = np.hypot(x - cx, y - cy)
        if rng.random() < 0.6:
            alpha = np.clip((radius - distance) / 0.01, 0, 1) * rng.uniform(0.35, 0.8)
        else:
            alpha = np.clip(1 - np.abs(distance - radius) / 0.012, 0, 1) * 0.9
        colour = palette[2] if rng.random() < 0.7 else palette[int(rng.integers(0, 2))] * 0.6
        image = image * (1 - alpha[..., None]) + colour * alpha[..., None]
    return encode_png(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))[i]
    return np.array(rgb)
