"""Reading TTAPI Producer's answers: fetch bodies into takes, and errors into EngineErrors.

providers.md §1: any field of a fetch body may be null while a job is queued,
numbers such as ``seed`` and ``durations`` arrive as strings, and where stems,
downloads and uploads appear is not documented. So every reader here is
tolerant: a missing or odd field is skipped, never raised on, and each take
keeps the JSON it came from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from studio.core.errors import (
    AuthenticationError,
    BillingError,
    ContentPolicyError,
    EngineError,
    EngineValidationError,
    NotFoundError,
    PermissionDeniedError,
    QueueFullError,
    RateLimitError,
    ServerError,
    UnexpectedAnswerError,
)
from studio.core.remote import RemoteState, TakeOutput
from studio.engines.adapter import Answer
from studio.engines.answers import retry_after, safe_detail
from studio.engines.catalog import TTAPI

ENGINE_ID = TTAPI.id
ENGINE_NAME = TTAPI.name

# Keep error pages short in the library; the transport caps bodies already.
RAW_TEXT_LIMIT = 4000
# An engine message shown to the user in an error sentence.
DETAIL_LIMIT = 300

STATES: Mapping[str, RemoteState] = {
    # Decision: PENDING_QUEUE is waiting for a slot; ON_QUEUE is the vendor's
    # "执行中" (executing), so it counts as running.
    "PENDING_QUEUE": RemoteState.QUEUED,
    "ON_QUEUE": RemoteState.RUNNING,
    "SUCCESS": RemoteState.SUCCEEDED,
    "FAILED": RemoteState.FAILED,
}

AUDIO_EXTENSIONS = ("mp3", "wav", "m4a", "flac", "ogg", "opus", "aac")


# --------------------------------------------------------------------------- values


def text(value: Any) -> str | None:
    """A non-empty string, or None for anything else."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def ident(value: Any) -> str | None:
    """An id or a number the engine may send as a string or a number, as text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than Python will print: not an id
            return None
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else None
    found = text(value)
    return found.strip() if found else None


def number(value: Any) -> float | None:
    """A finite float from a number or numeric string ("183.5"), else None."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def url(value: Any) -> str | None:
    """An http(s) URL string, else None (a relative path or garbage is no link)."""
    found = text(value)
    if found is None:
        return None
    found = found.strip()
    if urlsplit(found).scheme.lower() in ("http", "https"):
        return found
    return None


def progress(value: Any) -> float | None:
    """TTAPI's progress ("42%", "100%", null) as a fraction from 0 to 1.

    Bare numbers are read as percents too, since that is TTAPI's scale.
    """
    if isinstance(value, str):
        value = value.strip().removesuffix("%")
    percent = number(value)
    if percent is None:
        return None
    return min(max(percent / 100.0, 0.0), 1.0)


def audio_format(link: str, default: str = "mp3") -> str:
    """The audio format a URL's file extension names (query strings ignored)."""
    path = urlsplit(link).path.lower()
    extension = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return extension if extension in AUDIO_EXTENSIONS else default


def status_word(body: Mapping[str, Any]) -> str:
    """The envelope's status word, upper-cased; "" when absent or not text."""
    word = body.get("status")
    return word.strip().upper() if isinstance(word, str) else ""


def job_id(body: Mapping[str, Any]) -> str | None:
    """The job id of an envelope: in ``data`` or at the top, ``jobId`` or ``job_id``."""
    data = body.get("data")
    for holder in (data, body):
        if isinstance(holder, Mapping):
            for key in ("jobId", "job_id"):
                found = ident(holder.get(key))
                if found:
                    return found
    return None


def cap_raw(answer: Answer) -> Any:
    """The body to keep with an error: JSON as is, text cut to ``RAW_TEXT_LIMIT``."""
    body = answer.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str) and len(body) > RAW_TEXT_LIMIT:
        return body[:RAW_TEXT_LIMIT] + "…"
    return body


# --------------------------------------------------------------------------- takes


def take_from_item(item: Mapping[str, Any]) -> TakeOutput:
    """One ``musics[]`` entry as a take; unknown or null fields are left empty."""
    take = TakeOutput(
        remote_id=ident(item.get("musicId")) or ident(item.get("music_id")),
        title=text(item.get("title")),
        image_url=url(item.get("imageUrl")),
        video_url=url(item.get("videoUrl")),
        lyrics=text(item.get("lyrics")),
        duration_s=number(item.get("durations")),
        seed=ident(item.get("seed")),
        raw=dict(item),
    )
    if take.duration_s is not None and take.duration_s < 0:
        take.duration_s = None
    audio = url(item.get("audioUrl"))
    if audio:
        take.audio_urls[audio_format(audio)] = audio
    return take


def items(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``musics`` entries that are objects; others stay only in the raw body."""
    musics = data.get("musics")
    if not isinstance(musics, list):
        return []
    return [item for item in musics if isinstance(item, Mapping)]


_STEM_SUFFIX = re.compile(r"^(?P<base>.*?)\s*[(\[](?P<name>[^()\[\]]+)[)\]]\s*$")
_STEM_NAMES = {
    "vocal": "vocals",
    "vocals": "vocals",
    "voice": "vocals",
    "voices": "vocals",
    "drum": "drums",
    "drums": "drums",
    "percussion": "drums",
    "bass": "bass",
    "other": "other",
    "others": "other",
    "instrumental": "instrumental",
    "instrumentals": "instrumental",
    "instrument": "instrumental",
    "accompaniment": "instrumental",
    "backing": "instrumental",
}


def stem_name(title: str | None) -> tuple[str | None, str | None]:
    """("vocals", "My Song") from "My Song (Vocals)"; (None, title) without a suffix."""
    if not title:
        return None, None
    match = _STEM_SUFFIX.match(title)
    if match is None:
        return None, title
    word = match.group("name").strip().lower()
    name = _STEM_NAMES.get(word, re.sub(r"\W+", "_", word).strip("_") or None)
    return name, match.group("base").strip() or None


def stems_take(data: Mapping[str, Any]) -> TakeOutput | None:
    """Stems, whose shape TTAPI does not document, as ONE take with ``stems`` by name.

    Inferred shape: one ``musics[]`` entry per stem, named by a title suffix
    (" (Vocals)", " (Drums)"…). Entries without a suffix get "stem_N"; a
    ``stems`` object (name → URL) on an entry or on ``data`` is merged too.
    """
    entries = items(data)
    take = TakeOutput(raw=data.get("musics"))
    for index, item in enumerate(entries, start=1):
        name, base = stem_name(text(item.get("title")))
        take.title = take.title or base
        take.image_url = take.image_url or url(item.get("imageUrl"))
        take.lyrics = take.lyrics or text(item.get("lyrics"))
        if take.duration_s is None:
            take.duration_s = number(item.get("durations"))
        link = url(item.get("audioUrl"))
        if link:
            _add_stem(take.stems, name or f"stem_{index}", link)
        _merge_stem_map(take.stems, item.get("stems"))
    _merge_stem_map(take.stems, data.get("stems"))
    if not entries and not take.stems:
        return None
    return take


def _add_stem(stems: dict[str, str], name: str, link: str) -> None:
    key, count = name, 1
    while key in stems:
        count += 1
        key = f"{name}_{count}"
    stems[key] = link


def _merge_stem_map(stems: dict[str, str], value: Any) -> None:
    if isinstance(value, Mapping):
        for name, link in value.items():
            found = url(link)
            if isinstance(name, str) and found:
                _add_stem(stems, name.strip().lower() or "stem", found)


def download_take(data: Mapping[str, Any]) -> TakeOutput | None:
    """A server-side export: inferred to be one entry whose ``audioUrl`` is the file.

    Also accepts a ``downloadUrl``/``url`` on the entry or on ``data``, in case
    the real shape differs; the format comes from a ``format`` field or the URL.
    """
    entries = items(data)
    holders: list[Mapping[str, Any]] = [*entries, data]
    for holder in holders:
        for key in ("downloadUrl", "download_url", "audioUrl", "url", "wavUrl", "mp3Url"):
            link = url(holder.get(key))
            if link is None:
                continue
            base = take_from_item(entries[0]) if entries else TakeOutput(raw=dict(data))
            base.audio_urls = {}  # an export is a file to save, not a new take to play
            base.download_url = link
            declared = text(holder.get("format")) or text(data.get("format"))
            base.download_format = (
                declared.strip().lower() if declared else audio_format(link, default="")
            ) or None
            return base
    return take_from_item(entries[0]) if entries else None


def takes(action: str | None, data: Mapping[str, Any]) -> list[TakeOutput]:
    """The outputs of a fetch body's ``data``, shaped by what the job was."""
    if action == "stems":
        found = stems_take(data)
        return [found] if found else []
    if action == "download":
        export = download_take(data)
        return [export] if export else []
    outputs = [take_from_item(item) for item in items(data)]
    if not outputs and any(data.get(key) is not None for key in ("audioUrl", "videoUrl", "lyrics")):
        # No musics list but the result sits on data itself (e.g. a video, lyrics).
        outputs.append(take_from_item(data))
    if action == "upload" and outputs and outputs[0].remote_id is None:
        # The upload's musicId is what later edits need; look for it on data too.
        outputs[0].remote_id = ident(data.get("musicId")) or ident(data.get("music_id"))
    return outputs


# --------------------------------------------------------------------------- errors

_CONTENT_WORDS = (
    "banned",
    "sensitive",
    "policy",
    "violat",
    "prohibit",
    "moderat",
    "inappropriate",
    "nsfw",
    "illegal",
    "unsafe",
    "敏感",
    "违禁",
    "违规",
)
_BILLING_WORDS = ("balance", "insufficient", "quota", "credit", "余额", "额度")
_NOT_FOUND_WORDS = ("not found", "not exist", "no such", "不存在")
_AUTH_WORDS = ("api key", "api-key", "apikey", "unauthorized", "unauthorised", "tt-api-key")
_QUEUE_WORDS = ("queue is full", "queue full", "too many")


def _says(message: str, words: tuple[str, ...]) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in words)


def is_refusal(body: Any) -> bool:
    """A ``{"status":"FAILED","data":null}`` envelope: the call itself was refused.

    A fetch body for a job that failed also says FAILED, but it names the job
    (``jobId``) or carries a ``data`` object: that is a result, not an error.
    """
    if not isinstance(body, Mapping) or status_word(body) != "FAILED":
        return False
    return not isinstance(body.get("data"), Mapping) and job_id(body) is None


def error_for(answer: Answer) -> EngineError | None:
    """The error an answer means, or None for a success envelope or a job record."""
    body = answer.body if answer.is_json else None
    message = text(body.get("message")) if isinstance(body, Mapping) else None
    detail = safe_detail(message, DETAIL_LIMIT) if message else None
    code = _code(body, answer.status)
    status = answer.status

    def make(kind: type[EngineError], note: str | None = detail) -> EngineError:
        return kind(
            ENGINE_ID,
            note,
            engine_name=ENGINE_NAME,
            http_status=status,
            code=code,
            # Delay-seconds only: an HTTP date is left to the transport (studio/net).
            retry_after=retry_after(answer, dates=False),
            raw=cap_raw(answer),
        )

    if 200 <= status < 300:
        if not answer.is_json:
            return make(UnexpectedAnswerError, "the answer was not JSON")
        if not isinstance(body, Mapping):
            return make(UnexpectedAnswerError, "the answer was not a JSON object")
        if is_refusal(body):
            return make(_refusal_kind(message or ""))
        return None
    if status == 400:
        content = _says(message or "", _CONTENT_WORDS)
        return make(ContentPolicyError if content else EngineValidationError)
    kind = _BY_STATUS.get(status)
    if kind is not None:
        return make(kind)
    if status >= 500:
        return make(ServerError)
    if 400 <= status < 500:
        return make(EngineError, detail or f"HTTP {status}")
    # 1xx/3xx: redirects are not followed for API calls, so this is no answer we know.
    return make(UnexpectedAnswerError, f"HTTP {status}: {detail}" if detail else f"HTTP {status}")


_BY_STATUS: Mapping[int, type[EngineError]] = {
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
    499: QueueFullError,
}


def _refusal_kind(message: str) -> type[EngineError]:
    """What a FAILED envelope on HTTP 2xx means, read from its message."""
    for words, kind in (
        (_CONTENT_WORDS, ContentPolicyError),
        (_BILLING_WORDS, BillingError),
        (_AUTH_WORDS, AuthenticationError),
        (_NOT_FOUND_WORDS, NotFoundError),
        (_QUEUE_WORDS, QueueFullError),
    ):
        if _says(message, words):
            return kind
    return EngineValidationError


def _code(body: Any, status: int) -> str:
    """The engine's own ``code`` if it sent one, else the HTTP status as text.

    TTAPI's envelopes carry only a status word, and "FAILED" tells nothing the
    error's type does not, so the HTTP status is the more useful code.
    """
    if isinstance(body, Mapping):
        found = ident(body.get("code"))
        if found:
            return found[:64]
    return str(status)
