"""Deterministic audio synthesis for the sandbox: songs with stems, effects, speech, covers.

Pure numpy (plus the bundled ffmpeg for lossy encoding); no Qt. Everything is a function of
its inputs: the same prompt, lyrics and seed give the same samples and the same bytes.
"""

from studio.sandbox.synth.cover import render_cover_png
from studio.sandbox.synth.edits import (
    cover_song,
    extend_song,
    replace_section,
    swap_instrumental,
    swap_vocals,
    variation,
)
from studio.sandbox.synth.effects import render_effect
from studio.sandbox.synth.encode import FORMATS, EncodeError, decode_wav, encode
from studio.sandbox.synth.song import STEM_NAMES, SongRender, render_song
from studio.sandbox.synth.speech import render_speech

__all__ = [
    "FORMATS",
    "STEM_NAMES",
    "EncodeError",
    "SongRender",
    "cover_song",
    "decode_wav",
    "encode",
    "extend_song",
    "render_cover_png",
    "render_effect",
    "render_song",
    "render_speech",
    "replace_section",
    "swap_instrumental",
    "swap_vocals",
    "variation",
]
