"""What the TTAPI imitation makes besides songs: lyrics, music videos, decoded uploads.

Qt-free and stateless. Every function is deterministic in its inputs (the same prompt
gives the same lyrics, the same audio and cover give the same video bytes) and may be
called from any thread; the sandbox calls them on server connection threads, outside
the server lock, because the ffmpeg ones take a few hundred milliseconds.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np

from studio.sandbox.synth import EncodeError, decode_wav
from studio.sandbox.synth.encode import run_ffmpeg
from studio.sandbox.synth.seeding import rng_for

__all__ = ["SAMPLE_RATE", "VIDEO_SIZES", "decode_audio", "make_video", "write_lyrics"]

# Every render in this sandbox runs at the synth's default rate; uploads are resampled
# to it so edits can splice them with rendered material.
SAMPLE_RATE = 44100

# --------------------------------------------------------------------------- lyrics

_STOPWORDS = frozenset((
    "a", "an", "and", "the", "of", "to", "in", "on", "for", "with", "about", "from", "into",
    "over", "under", "by", "at", "is", "are", "be", "song", "songs", "music", "track",
    "style", "vibe", "vibes", "feat", "featuring", "like", "some", "very", "that", "this",
))  # fmt: skip
_IMAGES = (
    "neon",
    "river",
    "midnight",
    "engine",
    "paper",
    "thunder",
    "window",
    "harbor",
    "ember",
    "satellite",
    "velvet",
    "highway",
    "lantern",
    "static",
    "tide",
    "signal",
)
_VERBS = (
    "chase",
    "hold",
    "burn",
    "carry",
    "follow",
    "break",
    "light",
    "call",
    "fold",
    "wake",
    "run",
    "sing",
)
_PLACES = (
    "the city",
    "the shoreline",
    "the open road",
    "the back of the room",
    "the last train",
    "the rooftop",
    "the morning",
    "the radio",
)
_VERSE = (
    "{Verb} the {image} down to {place}",
    "Every {topic} I {verb} is a {image} in the dark",
    "I keep the {topic} where the {image} is",
    "{Place}, and the {topic} in my hands",
    "We {verb} the {topic} till the {image} fades",
    "Nothing but the {image} and the {topic} tonight",
)
_CHORUS = (
    "Oh {topic}, {verb} me through {place}",
    "{Topic}, {topic}, don't let the {image} go",
    "We are the {image}, we are the {topic}",
    "{Verb} it loud, {verb} it slow",
)
_BRIDGE = (
    "And if the {image} breaks, I'll {verb} again",
    "Somewhere past {place} the {topic} waits",
)
_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def _topics(prompt: str) -> list[str]:
    """The prompt's content words, in order and without repeats (at most four)."""
    found: list[str] = []
    for word in _WORD.findall(prompt.lower()):
        if word not in _STOPWORDS and word not in found:
            found.append(word)
    return found[:4]


def write_lyrics(prompt: str) -> tuple[str, str]:
    """A title and section-tagged lyrics about ``prompt``; the same prompt, the same text.

    The lyrics use TTAPI's tags (``[Verse 1]``, ``[Chorus]``…) so they drive the song
    form when sent back as ``lyrics_text``. Any thread.
    """
    rng = rng_for("ttapi-lyrics", prompt)
    topics = _topics(prompt) or [str(rng.choice(_IMAGES))]

    def pick(options: tuple[str, ...]) -> str:
        return options[int(rng.integers(0, len(options)))]

    def line(templates: tuple[str, ...]) -> str:
        topic, image, verb, place = (
            pick(tuple(topics)),
            pick(_IMAGES),
            pick(_VERBS),
            pick(_PLACES),
        )
        text = pick(templates).format(
            topic=topic,
            Topic=topic.capitalize(),
            image=image,
            verb=verb,
            Verb=verb.capitalize(),
            place=place,
            Place=place.capitalize(),
        )
        return text[:1].upper() + text[1:]

    verse1 = [line(_VERSE) for _ in range(4)]
    pre = [line(_VERSE) for _ in range(2)]
    chorus = [line(_CHORUS) for _ in range(4)]
    verse2 = [line(_VERSE) for _ in range(4)]
    bridge = [line(_BRIDGE) for _ in range(2)]
    parts = [
        ("Verse 1", verse1),
        ("Pre-Chorus", pre),
        ("Chorus", chorus),
        ("Verse 2", verse2),
        ("Pre-Chorus", pre),
        ("Chorus", chorus),
        ("Bridge", bridge),
        ("Final Chorus", chorus),
        ("Outro", verse1[:1] + chorus[:1]),
    ]
    lyrics = "\n\n".join(f"[{name}]\n" + "\n".join(lines) for name, lines in parts)
    title = " ".join(word.capitalize() for word in topics[:3])
    return title, lyrics


# --------------------------------------------------------------------------- audio in


def decode_audio(data: bytes) -> np.ndarray:
    """Any audio file ffmpeg reads, as planar float32 stereo (2, n) at ``SAMPLE_RATE``.

    WAV at the right rate is read directly; everything else goes through the bundled
    ffmpeg. Blocking; any thread.

    Raises:
        EncodeError: not audio, or no samples in it.
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            audio, rate = decode_wav(data)
        except Exception:  # a broken header: let ffmpeg have a go
            audio, rate = np.zeros((0, 0), np.float32), 0
        if rate == SAMPLE_RATE and audio.shape[1] > 0:
            return np.ascontiguousarray(audio[[0, -1]] if audio.shape[0] != 2 else audio)
    raw = run_ffmpeg(
        ["-i", "pipe:0", "-vn", "-f", "f32le", "-ac", "2", "-ar", str(SAMPLE_RATE), "pipe:1"], data
    )
    samples = np.frombuffer(raw, dtype="<f4")
    if samples.size < 2:
        raise EncodeError("the file holds no audio")
    samples = samples[: samples.size - samples.size % 2]
    return np.ascontiguousarray(samples.reshape(-1, 2).T.astype(np.float32))


# --------------------------------------------------------------------------- video

# Frame size per ``preset``: the imitation's only difference between TTAPI's three
# styles. Small and at 2 frames per second, so a video takes well under a second.
VIDEO_SIZES = {"simple": 256, "player": 320, "modern": 384}
# libx264 is in the bundled ffmpeg; mpeg4 is the fallback of any ffmpeg build.
_VIDEO_CODECS = (
    ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage"],
    ["-c:v", "mpeg4", "-q:v", "5"],
)


def make_video(mix: np.ndarray, sample_rate: int, cover_png: bytes, preset: str) -> bytes:
    """An MP4: the cover as a still picture over the song's audio (AAC). Blocking; any thread.

    Raises:
        EncodeError: ffmpeg could not make it.
    """
    size = VIDEO_SIZES.get(preset, VIDEO_SIZES["simple"])
    audio = np.ascontiguousarray(np.asarray(mix, dtype=np.float32).T).astype("<f4").tobytes()
    problem: EncodeError | None = None
    with tempfile.TemporaryDirectory(prefix="studio-video-") as folder:
        image = Path(folder) / "cover.png"
        image.write_bytes(cover_png)
        target = Path(folder) / "video.mp4"
        for codec in _VIDEO_CODECS:
            try:
                run_ffmpeg(
                    [
                        "-loop",
                        "1",
                        "-framerate",
                        "2",
                        "-i",
                        str(image),
                        "-f",
                        "f32le",
                        "-ar",
                        str(sample_rate),
                        "-ac",
                        str(mix.shape[0]),
                        "-i",
                        "pipe:0",
                        "-vf",
                        f"scale={size}:{size}",
                        *codec,
                        "-pix_fmt",
                        "yuv420p",
                        "-r",
                        "2",
                        "-c:a",
                        "aac",
                        "-b:a",
                        "96k",
                        "-shortest",
                        "-movflags",
                        "+faststart",
                        "-threads",
                        "1",
                        # bitexact: no encoder version strings, so the bytes repeat exactly.
                        "-fflags",
                        "+bitexact",
                        "-flags:a",
                        "+bitexact",
                        "-y",
                        str(target),
                    ],
                    audio,
                )
            except EncodeError as exc:
                problem = exc
                continue
            return target.read_bytes()
    raise problem or EncodeError("no video codec available")
