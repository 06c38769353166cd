"""Deterministic random generators keyed by text, so the same request gives the same audio."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_int(*parts: object) -> int:
    """A 64-bit integer derived from ``parts`` that is the same on every run and machine."""
    text = "\x1f".join(repr(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def rng_for(*parts: object) -> np.random.Generator:
    """A PCG64 generator seeded from a SHA-256 of ``parts``.

    Each purpose (tempo, timbre, melody…) passes its own label, so changing one aspect of a
    song never shifts the random stream of another.
    """
    text = "\x1f".join(repr(part) for part in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "big")))
