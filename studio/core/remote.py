"""What an engine says about a job, normalised across the four engines.

Every adapter parses its engine's answers into these types; the task engine,
the library and the UI never see an engine's own JSON shapes (but the raw JSON
is always kept alongside, so a misread shape can be re-parsed later).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class RemoteState(enum.StrEnum):
    """An engine job's state. UNKNOWN means "keep polling", never success or failure."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in (RemoteState.SUCCEEDED, RemoteState.FAILED)


@dataclass
class TakeOutput:
    """One result of a job: a song, a sound effect, an utterance, a stem set, an export.

    URLs are the engine's (often signed, short-lived) links: archive them at once.
    """

    remote_id: str | None = None  # the engine's id for this take (music_id, audioId…)
    title: str | None = None
    audio_urls: dict[str, str] = field(default_factory=dict)  # format ("mp3") -> URL
    stems: dict[str, str] = field(default_factory=dict)  # stem name ("vocals") -> URL
    download_url: str | None = None  # a server-side export (TTAPI/Mountsea download)
    download_format: str | None = None
    video_url: str | None = None
    image_url: str | None = None  # cover art
    lyrics: str | None = None
    duration_s: float | None = None
    seed: str | None = None
    raw: Any = None  # this item's JSON as the engine sent it


@dataclass
class RemoteStatus:
    """A job's state as of one answer from the engine."""

    state: RemoteState
    remote_id: str | None = None
    progress: float | None = None  # 0.0–1.0 when the engine says
    engine_status: str | None = None  # the engine's own status word, e.g. "ON_QUEUE"
    engine_message: str | None = None  # reason on failure, or the engine's note
    error_code: str | None = None
    cost: str | None = None  # as the engine states it (credits, units); None if unknown
    outputs: list[TakeOutput] = field(default_factory=list)
    raw: Any = None  # the whole answer's JSON
