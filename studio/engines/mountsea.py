"""Mountsea Producer: songs with Lyria 3 Pro, uploads, stems and exports (providers.md §2).

Every POST answers ``{"taskId": …}`` (HTTP 200 or 201) and the job is polled with
``GET /producer/tasks?taskId=``, whose ``result`` object has a shape that depends on
the operation. Only ``/producer/download`` and ``/producer/stems`` have published
schemas (seeds 000, 001); the other result shapes come from the vendor's prose docs
and older examples, so every parser here is tolerant: it takes what it recognises,
never raises on a shape it does not, and the raw JSON is always kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from studio.core.errors import EngineError, FieldProblem, ServerError, UnexpectedAnswerError
from studio.core.remote import RemoteState, RemoteStatus, TakeOutput
from studio.engines.adapter import Answer, ApiRequest, SubmitResult
from studio.engines.answers import (
    HTTP_STATUS_ERRORS,
    BearerKeyAdapter,
    clean,
    given,
    http_error,
    http_url,
    normalise,
    safe_detail,
    unexpected,
)
from studio.engines.catalog import MOUNTSEA
from studio.engines.spec import EngineSpec, FieldSpec, FieldType, OperationSpec

__all__ = [
    "DOWNLOAD_FORMATS",
    "MODEL",
    "SPEC",
    "UPLOAD_EXTENSIONS",
    "VIDEO_PRESETS",
    "MountseaAdapter",
    "outputs_for",
]

MODEL = "Lyria 3 Pro"
DOWNLOAD_FORMATS = ("mp3", "m4a", "wav")  # seed 000; m4a is the vendor's default
VIDEO_PRESETS = ("modern", "player", "simple")  # modern is the vendor's default
# The file types /producer/upload accepts [doc]. Checked on the URL's path so a
# wrong file is caught before a (free, but slow) round trip.
UPLOAD_EXTENSIONS = (".mp3", ".wav", ".flac", ".m4a", ".aac", ".ogg", ".wma", ".opus")

# --------------------------------------------------------------------------- spec


def _check_upload_extension(params: Mapping[str, Any]) -> list[FieldProblem]:
    """The upload URL must name an audio file of a type Mountsea accepts."""
    url = params.get("audioUrl")
    if not isinstance(url, str):
        return []
    # The path, not the whole URL: signed links carry a query string after the name.
    path = unquote(urlsplit(url.strip()).path).lower()
    if path.endswith(UPLOAD_EXTENSIONS):
        return []
    listed = " ".join(UPLOAD_EXTENSIONS)
    return [FieldProblem("audioUrl", f"must link to an audio file ending in one of {listed}")]


_AUDIO_ID = FieldSpec(
    "audioId",
    "Song",
    FieldType.STRING,
    required=True,
    help="The Mountsea id of the song (a generated take or an upload).",
)

_AUDIOS = OperationSpec(
    id="audios",
    label="Create a song",
    method="POST",
    path="/producer/audios",
    fields=(
        FieldSpec(
            "model",
            "Model",
            FieldType.CHOICE,
            choices=(MODEL,),
            default=MODEL,
            help="Mountsea's current contract offers Lyria 3 Pro only.",
        ),
        FieldSpec(
            "soundPrompt",
            "Style prompt",
            FieldType.TEXT,
            help="Genre, mood, instruments, tempo.",
        ),
        FieldSpec(
            "lyrics",
            "Lyrics",
            FieldType.TEXT,
            help="Section tags such as [Verse] and [Chorus] are understood.",
        ),
        FieldSpec("title", "Title", FieldType.STRING, max_length=80),
        FieldSpec(
            "seed",
            "Seed",
            FieldType.INTEGER,
            help="The same seed and prompt give a similar song.",
            advanced=True,
        ),
        FieldSpec(
            "makeInstrumental",
            "Instrumental",
            FieldType.BOOLEAN,
            default=False,
            help="No vocals.",
        ),
        FieldSpec(
            "imageUrl",
            "Guide image",
            FieldType.URL,
            help="A public image whose mood guides the song.",
            advanced=True,
        ),
    ),
    at_least_one=(("soundPrompt", "lyrics"),),
    constants={"action": "create_music"},
    help="A new song from a style prompt and/or lyrics, optionally guided by an image.",
)

_UPLOAD = OperationSpec(
    id="upload",
    label="Upload a song",
    method="POST",
    path="/producer/upload",
    fields=(
        FieldSpec(
            "audioUrl",
            "Audio URL",
            FieldType.URL,
            required=True,
            help="A public link to an audio file of at most 4 minutes.",
        ),
    ),
    extra_checks=(_check_upload_extension,),
    paid=False,
    help="Bring your own recording into Mountsea so it can be split or exported.",
)

_STEMS = OperationSpec(
    id="stems",
    label="Split into stems",
    method="POST",
    path="/producer/stems",
    fields=(_AUDIO_ID,),
    parent_field="audioId",
    help="Vocals, drums, bass and other instruments as separate files.",
)

_DOWNLOAD = OperationSpec(
    id="download",
    label="Export audio",
    method="POST",
    path="/producer/download",
    fields=(
        _AUDIO_ID,
        FieldSpec(
            "format",
            "Format",
            FieldType.CHOICE,
            choices=DOWNLOAD_FORMATS,
            default="m4a",
            help="mp3 to share, m4a for general use, wav for editing.",
        ),
    ),
    parent_field="audioId",
    help="A file of the song in the chosen format; the link is temporary.",
)

_DOWNLOAD_VIDEO = OperationSpec(
    id="download-video",
    label="Export video",
    method="POST",
    path="/producer/download-video",
    fields=(
        _AUDIO_ID,
        FieldSpec(
            "preset",
            "Style",
            FieldType.CHOICE,
            choices=VIDEO_PRESETS,
            default="modern",
        ),
    ),
    parent_field="audioId",
    help="A 1080p MP4 video of the song; takes a few minutes.",
)

_TASKS = OperationSpec(
    id="tasks",
    label="Task status",
    method="GET",
    path="/producer/tasks",
    fields=(FieldSpec("taskId", "Task id", FieldType.STRING, required=True),),
    synchronous=True,
    paid=False,
    help="Ask Mountsea about a job (what polling does).",
)

SPEC = EngineSpec(
    info=MOUNTSEA,
    operations=(_AUDIOS, _UPLOAD, _STEMS, _DOWNLOAD, _DOWNLOAD_VIDEO, _TASKS),
)

# --------------------------------------------------------------------------- statuses

_STATES: dict[str, RemoteState] = {
    "pending": RemoteState.QUEUED,
    "ready": RemoteState.QUEUED,
    "assigned": RemoteState.RUNNING,
    "processing": RemoteState.RUNNING,
    "completed": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    "timeout": RemoteState.FAILED,
    "cancelled": RemoteState.FAILED,
}

# What to tell the user when a final failure comes without a message of its own.
_FAILURE_WORDS = {
    "failed": "Mountsea could not finish the job.",
    "timeout": "The job took too long on Mountsea's side and was stopped.",
    "cancelled": "The job was cancelled on Mountsea's side.",
}

# Where an audio file's format is not stated, the URL's extension is the best hint;
# the downloader sniffs the bytes anyway, so a wrong guess only affects the label.
_AUDIO_EXTENSIONS = ("mp3", "m4a", "wav", "flac", "aac", "ogg", "opus", "wma")
_FALLBACK_AUDIO_FORMAT = "mp3"
_MAX_DETAIL = 300


# --------------------------------------------------------------------------- adapter


class MountseaAdapter(BearerKeyAdapter):
    """Mountsea Producer's protocol: bearer auth, ``{taskId}`` submits, one task poll."""

    spec = SPEC

    def build_submit(
        self, operation_id: str, params: Mapping[str, Any], *, client_key: str
    ) -> ApiRequest:
        """Validate and build one operation's request.

        ``client_key`` is unused: Mountsea has no field to carry our own id, so a
        lost submit answer cannot be looked up later (the task engine must not
        resubmit; see providers.md, last section).
        """
        op = self.operation(operation_id)
        values = normalise(op, params)
        if op.id == "audios" and not given(values.get("model")):
            # Send the model explicitly so a change of the vendor's default cannot
            # silently switch the user's model.
            values["model"] = MODEL
        body = op.validate(values)
        if op.method == "GET":
            return ApiRequest("GET", op.path, query={k: str(v) for k, v in body.items()})
        return ApiRequest(op.method, op.path, json=body)

    def parse_submit(self, operation_id: str, answer: Answer) -> SubmitResult:
        """Read ``{taskId}``; the status poll (``tasks``) answers with its status at once."""
        error = self.error_for(answer)
        if error is not None:
            raise error
        if operation_id == "tasks":
            status = self.parse_poll(operation_id, answer)
            return SubmitResult(remote_id=status.remote_id, status=status)
        body = _unwrap(answer.body)
        task_id = _text(body.get("taskId")) if body is not None else None
        if task_id is None and body is not None:
            # Older answers and other Mountsea products spell it differently.
            task_id = _text(body.get("task_id")) or _text(body.get("id"))
        if task_id is None:
            raise unexpected(MOUNTSEA, "the answer has no taskId", answer)
        return SubmitResult(remote_id=task_id)

    def build_poll(self, operation_id: str, remote_id: str) -> ApiRequest:
        """``GET /producer/tasks?taskId=…``, the same for every operation."""
        return ApiRequest("GET", _TASKS.path, query={"taskId": remote_id})

    def parse_poll(self, operation_id: str, answer: Answer) -> RemoteStatus:
        """Read a task answer; its ``result`` is parsed according to ``operation_id``.

        Raises:
            EngineError: the HTTP status or body means an error (404 → NotFoundError,
                a body that is not a JSON object → UnexpectedAnswerError).
        """
        error = self.error_for(answer)
        if error is not None:
            raise error
        body = _unwrap(answer.body)
        if body is None:
            raise unexpected(MOUNTSEA, "the task answer is not a JSON object", answer)
        word = body.get("status")
        engine_status = word if isinstance(word, str) else None
        state = _STATES.get((engine_status or "").strip().lower(), RemoteState.UNKNOWN)
        status = RemoteStatus(
            state=state,
            remote_id=_text(body.get("taskId")) or _text(body.get("id")),
            engine_status=engine_status,
            raw=answer.body,
        )
        if state is RemoteState.FAILED:
            status.error_code = _text(body.get("errorCode"))
            status.engine_message = clean(body.get("errorMessage")) or _FAILURE_WORDS.get(
                (engine_status or "").strip().lower(), "Mountsea could not finish the job."
            )
        elif state is RemoteState.SUCCEEDED:
            status.progress = 1.0
            result = body.get("result")
            status.outputs = outputs_for(operation_id, result)
            if not status.outputs:
                # Succeeded is still true; saying so keeps the job from looking lost,
                # and the raw answer lets a later version re-read the result.
                status.engine_message = "Mountsea finished, but Studio found no result to save."
            elif isinstance(result, Mapping) and result.get("isFlagged") is True:
                # Only uploads carry the flag; the take is kept, but the user should know.
                status.engine_message = "Mountsea flagged the uploaded audio."
        return status

    def error_for(self, answer: Answer) -> EngineError | None:
        """Map an HTTP answer to an error; 2xx JSON is success.

        Mountsea's error bodies are not documented; its API is NestJS-shaped
        (``{statusCode, message, error}``, ``message`` possibly a list), so the
        message is looked for under several names.
        """
        status = answer.status
        body = answer.body if answer.is_json else None
        if 200 <= status < 300:
            if not answer.is_json:
                return unexpected(MOUNTSEA, "the answer was not JSON", answer)
            return None
        cls = HTTP_STATUS_ERRORS.get(status)
        if cls is None:
            cls = ServerError if 500 <= status < 600 else UnexpectedAnswerError
        return http_error(MOUNTSEA, cls, answer, _error_message(body), code=_error_code(body))


# --------------------------------------------------------------------------- results


def outputs_for(operation_id: str, result: Any) -> list[TakeOutput]:
    """Turn a completed task's ``result`` into takes, by the operation that made it.

    Public so a stored raw answer can be re-read by a later version. Never raises;
    an unknown ``operation_id`` (e.g. a task looked up by id alone) is parsed by
    guessing from the result's shape.
    """
    parser = _RESULT_PARSERS.get(operation_id, _guess_outputs)
    try:
        return parser(result)
    except (TypeError, ValueError, AttributeError):  # pragma: no cover - defensive
        return []


def _audio_outputs(result: Any) -> list[TakeOutput]:
    outputs = []
    for item in _items(result):
        take = _audio_take(item)
        if take is not None:
            outputs.append(take)
    return outputs


def _items(result: Any) -> list[Mapping[str, Any]]:
    """The song objects in a result: itself, a list of them, or a list under a key."""
    if isinstance(result, list):
        return [item for item in result if isinstance(item, Mapping)]
    if not isinstance(result, Mapping):
        return []
    for key in ("audios", "items", "results", "clips", "musics", "data"):
        inner = result.get(key)
        if isinstance(inner, list):
            return [item for item in inner if isinstance(item, Mapping)]
        if isinstance(inner, Mapping) and key == "data":
            return _items(inner)
    return [result]


def _audio_take(item: Mapping[str, Any]) -> TakeOutput | None:
    remote_id = _first_text(item, "audioId", "id", "musicId")
    urls: dict[str, str] = {}
    url = _first_url(item, "audioUrl", "url", "audio_url", "streamUrl")
    if url is not None:
        urls[_format_of(url)] = url
    # Some answers give one link per format ("wavUrl"); keep each under its format.
    for fmt in _AUDIO_EXTENSIONS:
        extra = http_url(item.get(f"{fmt}Url"))
        if extra is not None:
            urls.setdefault(fmt, extra)
    if remote_id is None and not urls:
        return None
    return TakeOutput(
        remote_id=remote_id,
        title=clean(item.get("title")),
        audio_urls=urls,
        video_url=_first_url(item, "videoUrl", "video_url"),
        image_url=_first_url(item, "imageUrl", "coverUrl", "image_url", "cover_url"),
        lyrics=clean(item.get("lyrics")),
        duration_s=_seconds(item.get("duration")),
        seed=_text(item.get("seed")),
        raw=item,
    )


def _upload_outputs(result: Any) -> list[TakeOutput]:
    if not isinstance(result, Mapping):
        return []
    remote_id = _first_text(result, "id", "audioId")
    url = _first_url(result, "url", "audioUrl")
    if remote_id is None and url is None:
        return []
    return [
        TakeOutput(
            remote_id=remote_id,
            title=clean(result.get("title")),
            audio_urls={_format_of(url): url} if url else {},
            lyrics=clean(result.get("lyrics")),
            duration_s=_seconds(result.get("duration")),
            raw=result,
        )
    ]


def _stem_outputs(result: Any) -> list[TakeOutput]:
    if not isinstance(result, Mapping):
        return []
    stems: dict[str, str] = {}
    source: Any = result.get("stems", result)
    if isinstance(source, list):
        # A list of {name, url} objects is the other plausible shape.
        for entry in source:
            if isinstance(entry, Mapping):
                name = _first_text(entry, "name", "stem", "type", "title")
                url = _first_url(entry, "url", "audioUrl")
                if name and url:
                    stems[name] = url
    elif isinstance(source, Mapping):
        for key, value in source.items():
            url = http_url(value)
            if url is None and isinstance(value, Mapping):
                url = _first_url(value, "url", "audioUrl")
            if url is not None and isinstance(key, str) and key.strip():
                stems[key] = url
    if not stems:
        return []
    return [TakeOutput(remote_id=_first_text(result, "audioId"), stems=stems, raw=result)]


def _download_outputs(result: Any) -> list[TakeOutput]:
    if not isinstance(result, Mapping):
        return []
    url = _first_url(result, "url", "downloadUrl", "audioUrl")
    if url is None:
        return []
    stated = clean(result.get("format"))
    return [
        TakeOutput(
            remote_id=_first_text(result, "audioId"),
            download_url=url,
            download_format=stated.lower() if stated else _format_of(url),
            raw=result,
        )
    ]


def _video_outputs(result: Any) -> list[TakeOutput]:
    if not isinstance(result, Mapping):
        return []
    url = _first_url(result, "videoUrl", "url", "video_url")
    if url is None:
        return []
    return [TakeOutput(remote_id=_first_text(result, "audioId"), video_url=url, raw=result)]


def _guess_outputs(result: Any) -> list[TakeOutput]:
    """Parse a result whose operation is unknown, from the keys it has."""
    if isinstance(result, list):
        return _audio_outputs(result)
    if not isinstance(result, Mapping):
        return []
    if "videoUrl" in result:
        return _video_outputs(result)
    if "isFlagged" in result or "transcriptionJobId" in result:
        return _upload_outputs(result)
    if "id" in result and "url" in result:
        return _upload_outputs(result)  # an upload's {id, url}: the id is a usable audioId
    if "url" in result or "downloadUrl" in result:
        return _download_outputs(result)  # a bare file link is an export
    if any(key in result for key in ("audioId", "audioUrl", "audios", "items", "data")):
        return _audio_outputs(result)
    return _stem_outputs(result)


_RESULT_PARSERS = {
    "audios": _audio_outputs,
    "upload": _upload_outputs,
    "stems": _stem_outputs,
    "download": _download_outputs,
    "download-video": _video_outputs,
}


# --------------------------------------------------------------------------- helpers


def _unwrap(body: Any) -> Mapping[str, Any] | None:
    """The task object, also when a gateway wrapped it in ``{"data": …}``."""
    if not isinstance(body, Mapping):
        return None
    inner = body.get("data")
    if "status" not in body and "taskId" not in body and isinstance(inner, Mapping):
        return inner
    return body


def _text(value: Any) -> str | None:
    """An id or code as text: strings and whole numbers (``errorCode`` is numeric)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first_text(item: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        found = _text(item.get(key))
        if found is not None:
            return found
    return None


def _first_url(item: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        found = http_url(item.get(key))
        if found is not None:
            return found
    return None


def _format_of(url: str) -> str:
    path = urlsplit(url).path.lower()
    extension = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return extension if extension in _AUDIO_EXTENSIONS else _FALLBACK_AUDIO_FORMAT


def _seconds(value: Any) -> float | None:
    """A duration in seconds; numbers may arrive as strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _error_message(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    for key in ("message", "errorMessage", "error", "msg", "detail"):
        value = body.get(key)
        if isinstance(value, Mapping):
            nested = _error_message(value)
            if nested:
                return nested
        elif isinstance(value, list):
            parts = [part.strip() for part in value if isinstance(part, str) and part.strip()]
            if parts:
                return safe_detail("; ".join(parts), _MAX_DETAIL)
        elif isinstance(value, str) and value.strip():
            return safe_detail(value, _MAX_DETAIL)
    return None


def _error_code(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    code = _first_text(body, "errorCode", "code")
    if code is None and isinstance(body.get("error"), Mapping):
        code = _first_text(body["error"], "code", "errorCode")
    return code
