"""TTAPI Producer's operations and fields, declared once (providers.md §1, seed 002).

Every operation of ``https://api.ttapi.io/producer/v1/…`` is listed with each
field's type, default, range, step and choices exactly as the vendor page states
them. Validation, the composer's forms, the CLI and the sandbox all read ``SPEC``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.core.errors import FieldProblem
from studio.engines.catalog import TTAPI
from studio.engines.spec import EngineSpec, FieldSpec, FieldType, OperationSpec

PATH_PREFIX = "/producer/v1"

# The vendor's order; "FUZZ-2.0" is the engine's default.
FUZZ_MODELS: tuple[str, ...] = (
    "FUZZ-2.0 Pro",
    "FUZZ-2.0",
    "FUZZ-2.0 Raw",
    "FUZZ-1.1 Pro",
    "FUZZ-1.0 Pro",
    "FUZZ-1.0",
    "FUZZ-1.1",
    "FUZZ-0.8",
)
# Only ``/music`` accepts Lyria; the edit endpoints list the FUZZ models alone.
MUSIC_MODELS: tuple[str, ...] = (*FUZZ_MODELS, "Lyria 3 preview")
DEFAULT_MODEL = "FUZZ-2.0"
DOWNLOAD_FORMATS: tuple[str, ...] = ("wav", "mp3")
VIDEO_PRESETS: tuple[str, ...] = ("modern", "player", "simple")

# Strengths are sliders in the composer; hundredths are as fine as anyone can hear.
STRENGTH_STEP = 0.01
# Seconds into a take; the vendor's own example is 30.01.
SECONDS_STEP = 0.01


# --------------------------------------------------------------------------- fields


def _music_id() -> FieldSpec:
    return FieldSpec(
        "music_id",
        "Source take",
        FieldType.STRING,
        required=True,
        help="The take to work from (its TTAPI musicId).",
    )


SOUND_PROMPT = FieldSpec(
    "sound_prompt",
    "Style prompt",
    FieldType.TEXT,
    help="Genre, mood, instruments, voice. Give a style prompt, lyrics, or both.",
)
LYRICS_TEXT = FieldSpec(
    "lyrics_text",
    "Lyrics",
    FieldType.TEXT,
    help="Section tags such as [Verse 1] and [Chorus] shape the song. "
    "Ignored when Instrumental is on.",
)
INSTRUMENTAL = FieldSpec(
    "instrumental",
    "Instrumental (no vocals)",
    FieldType.BOOLEAN,
    default=False,
    help="Make a song without singing; any lyrics are ignored.",
)
TITLE = FieldSpec("title", "Title", FieldType.STRING)
COVER_ART_URL = FieldSpec(
    "cover_art_url",
    "Cover art URL",
    FieldType.URL,
    help="A public link to an image for the take's cover.",
    advanced=True,
)
SEED = FieldSpec(
    "seed",
    "Seed",
    # TTAPI takes the seed as a string on the wire, but only digits make sense.
    FieldType.STRING,
    pattern=r"[0-9]+",
    pattern_rule="must contain digits only, e.g. 123456",
    help="The same seed with the same settings gives a similar take. Leave empty for a fresh one.",
    advanced=True,
)
WEIRDNESS = FieldSpec(
    "weirdness",
    "Weirdness",
    FieldType.NUMBER,
    default=0.5,
    minimum=0.0,
    maximum=1.0,
    step=STRENGTH_STEP,
    help="How far from the expected the style may wander.",
)
IS_STORAGE = FieldSpec(
    "is_storage",
    "Keep a copy on TTAPI storage",
    FieldType.BOOLEAN,
    default=False,
    help="Re-host the results on TTAPI's storage so the links last longer.",
    advanced=True,
)
HOOK_URL = FieldSpec(
    "hook_url",
    "Webhook URL",
    FieldType.URL,
    help="Studio checks for results itself; set this only if you run your own server.",
    advanced=True,
)
COVER_STRENGTH = FieldSpec(
    "cover_strength",
    "Cover strength",
    FieldType.NUMBER,
    default=1.0,
    minimum=0.2,
    maximum=1.0,
    step=STRENGTH_STEP,
    help="How closely the new take follows the original.",
)


def _lyrics_strength(default: float) -> FieldSpec:
    return FieldSpec(
        "lyrics_strength",
        "Lyrics adherence",
        FieldType.NUMBER,
        default=default,
        minimum=0.0,
        maximum=1.0,
        step=STRENGTH_STEP,
        help="How closely the singing follows the lyrics.",
    )


def _sound_strength(default: float) -> FieldSpec:
    return FieldSpec(
        "sound_strength",
        "Style adherence",
        FieldType.NUMBER,
        default=default,
        minimum=0.2,
        maximum=1.0,
        step=STRENGTH_STEP,
        help="How closely the music follows the style prompt.",
    )


def _model(choices: tuple[str, ...]) -> FieldSpec:
    return FieldSpec(
        "mv",
        "Model",
        FieldType.CHOICE,
        default=DEFAULT_MODEL,
        choices=choices,
        help="The generation model; FUZZ-2.0 is TTAPI's default.",
    )


def _seconds(
    name: str, label: str, *, required: bool, default: float | None, help: str
) -> FieldSpec:
    return FieldSpec(
        name,
        label,
        FieldType.NUMBER,
        required=required,
        default=default,
        minimum=0.0,
        step=SECONDS_STEP,
        help=help,
    )


def _song_fields(
    *, models: tuple[str, ...] = FUZZ_MODELS, strength_default: float = 0.5, swap: bool = False
) -> tuple[FieldSpec, ...]:
    """The fields shared by music, extend, cover, replace and the two swaps."""
    strengths = (_lyrics_strength(strength_default), _sound_strength(strength_default))
    return (
        SOUND_PROMPT,
        LYRICS_TEXT,
        INSTRUMENTAL,
        _model(models),
        TITLE,
        COVER_ART_URL,
        SEED,
        *strengths,
        *((COVER_STRENGTH,) if swap else ()),
        WEIRDNESS,
        IS_STORAGE,
        HOOK_URL,
    )


# The vendor: "sound_prompt and lyrics_text may not both be empty".
PROMPT_OR_LYRICS: tuple[tuple[str, ...], ...] = (("sound_prompt", "lyrics_text"),)


def _ends_after_starts(given: Mapping[str, Any]) -> list[FieldProblem]:
    """A replaced span must have a length; TTAPI does not say what it does otherwise."""
    starts, ends = given.get("starts"), given.get("ends")
    if isinstance(starts, int | float) and isinstance(ends, int | float) and ends <= starts:
        return [FieldProblem("ends", f"must be after starts ({starts:g} s, got {ends:g} s)")]
    return []


# --------------------------------------------------------------------------- operations


def _path(operation: str) -> str:
    return f"{PATH_PREFIX}/{operation}"


def _swap(op_id: str, label: str, help: str) -> OperationSpec:
    return OperationSpec(
        id=op_id,
        label=label,
        method="POST",
        path=_path(op_id),
        fields=(_music_id(), *_song_fields(strength_default=0.7, swap=True)),
        at_least_one=PROMPT_OR_LYRICS,
        parent_field="music_id",
        help=help,
    )


OPERATIONS: tuple[OperationSpec, ...] = (
    OperationSpec(
        id="music",
        label="New song",
        method="POST",
        path=_path("music"),
        fields=_song_fields(models=MUSIC_MODELS),
        at_least_one=PROMPT_OR_LYRICS,
        help="One song from a style prompt, lyrics, or both.",
    ),
    OperationSpec(
        id="lyrics",
        label="Write lyrics",
        method="POST",
        path=_path("lyrics"),
        fields=(
            FieldSpec(
                "prompt",
                "What the song is about",
                FieldType.TEXT,
                required=True,
                help="A theme or a few lines; TTAPI writes a title and full lyrics.",
            ),
        ),
        synchronous=True,
        help="Lyrics with section tags, ready for a new song.",
    ),
    OperationSpec(
        id="extend",
        label="Extend",
        method="POST",
        path=_path("extend"),
        fields=(
            _music_id(),
            _seconds(
                "starts",
                "Continue from (s)",
                required=True,
                default=30.0,
                help="The second of the source take from which the new part continues.",
            ),
            *_song_fields(),
        ),
        at_least_one=PROMPT_OR_LYRICS,
        parent_field="music_id",
        help="Continue a finished take from a chosen second.",
    ),
    OperationSpec(
        id="cover",
        label="Cover",
        method="POST",
        path=_path("cover"),
        fields=(_music_id(), *_song_fields()),
        at_least_one=PROMPT_OR_LYRICS,
        parent_field="music_id",
        help="A new version of a take in another style.",
    ),
    OperationSpec(
        id="variation",
        label="Variation",
        method="POST",
        path=_path("variation"),
        fields=(_music_id(), IS_STORAGE, HOOK_URL),
        parent_field="music_id",
        help="A similar new song from the take's seed.",
    ),
    OperationSpec(
        id="replace",
        label="Replace a section",
        method="POST",
        path=_path("replace"),
        fields=(
            _music_id(),
            _seconds(
                "starts",
                "Replace from (s)",
                required=False,
                default=None,
                help="Where the replaced section begins, in seconds.",
            ),
            _seconds(
                "ends",
                "Replace until (s)",
                required=False,
                default=None,
                help="Where it ends; leave empty to replace to the end of the take.",
            ),
            *_song_fields(),
        ),
        at_least_one=PROMPT_OR_LYRICS,
        parent_field="music_id",
        extra_checks=(_ends_after_starts,),
        help="Rewrite part of a take and keep the rest.",
    ),
    _swap("vocals-swap", "New vocals", "Keep the backing, sing it anew."),
    _swap("instrumentals-swap", "New backing", "Keep the vocals, play a new backing."),
    OperationSpec(
        id="stems",
        label="Split into stems",
        method="POST",
        path=_path("stems"),
        fields=(_music_id(), HOOK_URL),
        parent_field="music_id",
        help="Separate a take into vocals, drums, bass and the rest.",
    ),
    OperationSpec(
        id="download",
        label="Export WAV / MP3",
        method="POST",
        path=_path("download"),
        fields=(
            _music_id(),
            FieldSpec(
                "format",
                "Format",
                FieldType.CHOICE,
                required=True,
                choices=DOWNLOAD_FORMATS,
                help="WAV for editing (uncompressed), MP3 for sharing (smaller).",
            ),
        ),
        parent_field="music_id",
        help="Ask TTAPI for a file of a take in WAV or MP3.",
    ),
    OperationSpec(
        id="upload",
        label="Upload audio",
        method="POST",
        path=_path("upload"),
        fields=(
            FieldSpec(
                "audio_url",
                "Audio URL",
                FieldType.URL,
                required=True,
                help="A public link to your audio file; TTAPI fetches it from there.",
            ),
            HOOK_URL,
        ),
        paid=False,
        help="Bring your own audio in, to extend or cover it.",
    ),
    OperationSpec(
        id="generate-video",
        label="Music video",
        method="POST",
        path=_path("generate-video"),
        fields=(
            _music_id(),
            FieldSpec(
                "preset",
                "Video style",
                FieldType.CHOICE,
                default="simple",
                choices=VIDEO_PRESETS,
            ),
        ),
        parent_field="music_id",
        synchronous=True,
        # The vendor page marks it 【免费接口】 (free).
        paid=False,
        help="A video of the take with its cover art.",
    ),
    OperationSpec(
        id="fetch",
        label="Check a job",
        method="GET",
        path=_path("fetch"),
        fields=(FieldSpec("jobId", "Job id", FieldType.STRING, required=True),),
        paid=False,
        help="Ask TTAPI for a job's state and results.",
    ),
)

SPEC = EngineSpec(info=TTAPI, operations=OPERATIONS)
