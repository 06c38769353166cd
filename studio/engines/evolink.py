"""Evolink Seed-Audio 1.0: speech and voices, with preset or reference voices (providers.md §4).

``POST /v1/audios/generations`` answers with the task object itself (seed 004), and
``GET /v1/tasks/{id}`` returns the same object plus ``results`` (URL strings) or
``error:{code, message}``. Reference audio is cited in the prompt as ``@audio N`` /
``@音频N``; a citation of a reference that is not there is caught here, before a
paid request is sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from studio.core.errors import (
    AuthenticationError,
    BillingError,
    ContentPolicyError,
    EngineError,
    EngineValidationError,
    FieldProblem,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnexpectedAnswerError,
)
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
from studio.engines.catalog import EVOLINK
from studio.engines.spec import EngineSpec, FieldSpec, FieldType, OperationSpec

__all__ = [
    "CLIENT_TASK_ERRORS",
    "FORMATS",
    "MAX_REFERENCES",
    "MODEL",
    "PRESET_VOICES",
    "SAMPLE_RATES",
    "SERVER_TASK_ERRORS",
    "SPEC",
    "EvolinkAdapter",
    "citations",
    "parse_task",
    "task_error",
]

MODEL = "doubao-seed-audio-1-0"
FORMATS = ("wav", "mp3", "pcm", "ogg_opus")
SAMPLE_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
MAX_REFERENCES = 3

# Preset voices offered in the composer. Evolink lists ~288 ids; only the ids our
# reference documents name are shipped, so none is a guess. Users may type any id.
PRESET_VOICES: tuple[tuple[str, str], ...] = (
    ("zh_female_vv_uranus_bigtts", "Chinese female voice (Evolink's example voice)"),
)

# --------------------------------------------------------------------------- spec

# "@audio 2", "@Audio2", "@音频2", "@音频 2": one optional space (ASCII or ideographic).
_CITATION = re.compile(r"@(?:audio|音频)[ \u3000]?(\d+)", re.IGNORECASE)
# Preset voice ids are ``voice_type`` tokens such as zh_female_vv_uranus_bigtts;
# anything with spaces or slashes is a typo or a local path, not an id.
_VOICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def citations(prompt: str) -> list[int]:
    """The reference numbers a prompt cites (``@audio 1`` → 1), in order of appearance."""
    return [int(match.group(1)) for match in _CITATION.finditer(prompt)]


def _check_citations(params: Mapping[str, Any]) -> list[FieldProblem]:
    """Every ``@audio N`` / ``@音频N`` must name one of the given audio_references."""
    prompt = params.get("prompt")
    if not isinstance(prompt, str):
        return []
    references = params.get("audio_references") or ()
    count = len(references) if isinstance(references, list | tuple) else 0
    problems: list[FieldProblem] = []
    for number in dict.fromkeys(citations(prompt)):  # each number once, in order
        if 1 <= number <= count:
            continue
        if count == 0:
            found = "but no audio_references are given"
        else:
            found = f"but audio_references has only {count} item{'s' if count > 1 else ''}"
        problems.append(
            FieldProblem(
                "prompt",
                f"cites @audio {number} {found}; each @audio N / @音频N must name an "
                f"existing reference (N from 1 to {MAX_REFERENCES}, in the list's order)",
            )
        )
    return problems


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_references(params: Mapping[str, Any]) -> list[FieldProblem]:
    """Each reference is a preset voice id or an http(s) link to reference audio."""
    problems = []
    for index, item in enumerate(params.get("audio_references") or (), start=1):
        if not isinstance(item, str):
            continue
        text = item.strip()
        looks_like_url = "://" in text or text.lower().startswith(("http:", "https:", "www."))
        if looks_like_url and not _is_http_url(text):
            problems.append(
                FieldProblem("audio_references", f"item {index} must be an http(s):// URL")
            )
        elif not looks_like_url and not _VOICE_ID.fullmatch(text):
            problems.append(
                FieldProblem(
                    "audio_references",
                    f"item {index} must be a preset voice id (letters, digits, _ . -) "
                    "or an http(s):// URL of reference audio",
                )
            )
    return problems


def _check_images(params: Mapping[str, Any]) -> list[FieldProblem]:
    """The reference image must be a link Evolink can fetch."""
    problems = []
    for index, item in enumerate(params.get("image_urls") or (), start=1):
        if isinstance(item, str) and not _is_http_url(item.strip()):
            problems.append(FieldProblem("image_urls", f"item {index} must be an http(s):// URL"))
    return problems


_RATE_HELP = "0.5 to 2.0 in steps of 0.01; 1 is normal."

_CREATE = OperationSpec(
    id="generations",
    label="Generate speech",
    method="POST",
    path="/v1/audios/generations",
    fields=(
        FieldSpec(
            "model",
            "Model",
            FieldType.CHOICE,
            required=True,
            choices=(MODEL,),
            default=MODEL,
        ),
        FieldSpec(
            "prompt",
            "Text",
            FieldType.TEXT,
            required=True,
            max_length=1500,
            help="What to say, or how. Cite reference voices as @audio 1 … @audio 3.",
        ),
        FieldSpec(
            "audio_references",
            "Voices",
            FieldType.LIST,
            max_length=MAX_REFERENCES,
            item_max_length=2048,
            help="Up to 3 preset voice ids or links to reference audio (≤ 30 s, ≤ 10 MB).",
        ),
        FieldSpec(
            "image_urls",
            "Reference image",
            FieldType.LIST,
            max_length=1,
            item_max_length=2048,
            help="One image (jpeg, png, webp) whose mood guides the audio.",
            advanced=True,
        ),
        FieldSpec("format", "Format", FieldType.CHOICE, choices=FORMATS, default="wav"),
        FieldSpec(
            "sample_rate",
            "Sample rate (Hz)",
            FieldType.CHOICE,
            choices=SAMPLE_RATES,
            default=24000,
            advanced=True,
        ),
        FieldSpec(
            "speech_rate",
            "Speed",
            FieldType.NUMBER,
            default=1.0,
            minimum=0.5,
            maximum=2.0,
            step=0.01,
            help=_RATE_HELP,
        ),
        FieldSpec(
            "loudness_rate",
            "Loudness",
            FieldType.NUMBER,
            default=1.0,
            minimum=0.5,
            maximum=2.0,
            step=0.01,
            help=_RATE_HELP,
        ),
        FieldSpec(
            "pitch_rate",
            "Pitch (semitones)",
            FieldType.INTEGER,
            default=0,
            minimum=-12,
            maximum=12,
            help="-12 (an octave down) to 12 (an octave up).",
        ),
        FieldSpec(
            "callback_url",
            "Callback URL",
            FieldType.URL,
            max_length=2048,
            https_only=True,
            help="Only for a server of your own; Studio polls without it.",
            advanced=True,
        ),
    ),
    mutually_exclusive=(("audio_references", "image_urls"),),
    extra_checks=(_check_references, _check_images, _check_citations),
    help="Speech or voice up to 120 seconds, from text, reference voices or an image.",
)

_DETAIL = OperationSpec(
    id="detail",
    label="Task status",
    method="GET",
    path="/v1/tasks/{id}",
    fields=(FieldSpec("id", "Task id", FieldType.STRING, required=True),),
    synchronous=True,
    paid=False,
    help="Ask Evolink about a job (what polling does).",
)

SPEC = EngineSpec(info=EVOLINK, operations=(_CREATE, _DETAIL))

# --------------------------------------------------------------------------- statuses

_STATES: dict[str, RemoteState] = {
    "pending": RemoteState.QUEUED,
    "processing": RemoteState.RUNNING,
    "completed": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    # Not a status of the task schema, but the callback docs name it as an end state.
    "cancelled": RemoteState.FAILED,
    "canceled": RemoteState.FAILED,
}

# Task error codes (Evolink's error-code reference). Client-side: the request must
# change before trying again. Server-side: "retry later"; the task engine decides,
# a failed task is never resubmitted automatically.
CLIENT_TASK_ERRORS: Mapping[str, type[EngineError]] = {
    "content_policy_violation": ContentPolicyError,
    "invalid_parameters": EngineValidationError,
    "image_processing_error": EngineValidationError,
    "image_dimension_mismatch": EngineValidationError,
    "request_cancelled": EngineError,
}
SERVER_TASK_ERRORS = frozenset(
    {
        "generation_failed_no_content",
        "service_error",
        "generation_timeout",
        "resource_exhausted",
        # Evolink's own upstream quota, not the user's balance (that is HTTP 402
        # insufficient_quota at submit), so it is a server-side "try later".
        "quota_exceeded",
        "service_unavailable",
        "resource_not_found",
        "unknown_error",
    }
)
_RETRY_LATER = "a problem on Evolink's side; submitting again later may work"

# HTTP error envelope ``{"error": {code, message, type}}``: the code says most, then
# the HTTP status, then the type (seed 004's examples plus Evolink's common types).
_HTTP_CODES: dict[str, type[EngineError]] = {
    "missing_text": EngineValidationError,
    "invalid_request": EngineValidationError,
    "invalid_parameters": EngineValidationError,
    "content_policy_violation": ContentPolicyError,
    "unauthorized": AuthenticationError,
    "insufficient_quota": BillingError,
    "model_access_denied": PermissionDeniedError,
    "rate_limit_exceeded": RateLimitError,
    "internal_error": ServerError,
}
_HTTP_TYPES: dict[str, type[EngineError]] = {
    "invalid_request_error": EngineValidationError,
    "request_too_large_error": EngineValidationError,
    "authentication_error": AuthenticationError,
    "insufficient_quota": BillingError,
    "insufficient_quota_error": BillingError,
    "permission_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "rate_limit_error": RateLimitError,
    "api_error": ServerError,
    "internal_server_error": ServerError,
    "upstream_error": ServerError,
    "service_unavailable_error": ServerError,
}

# Result links carry no format field; the extension says it, else the default "wav".
_EXTENSION_FORMATS = {"wav": "wav", "mp3": "mp3", "pcm": "pcm", "ogg": "ogg", "opus": "ogg"}
_DEFAULT_FORMAT = "wav"
# Keys of usage that may state the credits actually charged; the documented
# credits_reserved (an estimate, settled later) is the fallback.
_COST_KEYS = ("credits_used", "credits_consumed", "credits_charged", "credits", "credits_reserved")
_MAX_DETAIL = 300


# --------------------------------------------------------------------------- adapter


class EvolinkAdapter(BearerKeyAdapter):
    """Evolink's protocol: bearer auth; the submit answer is already a task status."""

    spec = SPEC

    def build_submit(
        self, operation_id: str, params: Mapping[str, Any], *, client_key: str
    ) -> ApiRequest:
        """Validate and build a request.

        The model is always sent (it is required). Rates are rounded to the 0.01
        grid so a slider's 1.2500000001 goes out as 1.25. ``client_key`` is unused:
        Evolink has no field for a client id, so a lost answer cannot be looked up.
        """
        op = self.operation(operation_id)
        values = normalise(op, params)
        if op.id == "generations" and not given(values.get("model")):
            values["model"] = MODEL
        body = op.validate(values)
        if op.id == "detail":
            return self.build_poll(operation_id, str(body["id"]))
        for name in ("speech_rate", "loudness_rate"):
            if name in body:
                body[name] = round(float(body[name]), 2)
        return ApiRequest(op.method, op.path, json=body)

    def parse_submit(self, operation_id: str, answer: Answer) -> SubmitResult:
        """The submit answer is the task object: its id, and its status at once."""
        status = self.parse_poll(operation_id, answer)
        if status.remote_id is None:
            raise unexpected(EVOLINK, "the answer has no task id", answer)
        return SubmitResult(remote_id=status.remote_id, status=status)

    def build_poll(self, operation_id: str, remote_id: str) -> ApiRequest:
        """``GET /v1/tasks/{id}``; the id is quoted so it cannot change the path."""
        return ApiRequest("GET", _DETAIL.path.replace("{id}", quote(remote_id, safe="")))

    def parse_poll(self, operation_id: str, answer: Answer) -> RemoteStatus:
        """Read a task object; a failed task is a FAILED status, not an exception.

        Raises:
            EngineError: the HTTP status means an error, or the body is not a task.
        """
        error = self.error_for(answer)
        if error is not None:
            raise error
        if not isinstance(answer.body, Mapping):
            raise unexpected(EVOLINK, "the answer is not a JSON object", answer)
        return parse_task(answer.body)

    def error_for(self, answer: Answer) -> EngineError | None:
        """Map an HTTP answer to an error; a 2xx JSON answer is success."""
        status = answer.status
        if 200 <= status < 300:
            if not answer.is_json:
                return unexpected(EVOLINK, "the answer was not JSON", answer)
            return None
        envelope = answer.body.get("error") if isinstance(answer.body, Mapping) else None
        code = message = kind = None
        if isinstance(envelope, Mapping):
            code = _text(envelope.get("code"))
            message = clean(envelope.get("message"))
            kind = clean(envelope.get("type"))
        elif isinstance(answer.body, Mapping):
            message = clean(answer.body.get("message")) or clean(envelope)
        cls = (
            _HTTP_CODES.get(code or "")
            or HTTP_STATUS_ERRORS.get(status)
            or (ServerError if 500 <= status < 600 else None)
            or _HTTP_TYPES.get(kind or "")
            or UnexpectedAnswerError
        )
        detail = safe_detail(message, _MAX_DETAIL) if message else None
        return http_error(EVOLINK, cls, answer, detail, code=code)


def parse_task(body: Mapping[str, Any]) -> RemoteStatus:
    """Normalise one task object (submit answer, poll answer or callback body).

    Public so a stored raw answer can be re-read by a later version. Never raises.
    """
    word = body.get("status")
    engine_status = word if isinstance(word, str) else None
    state = _STATES.get((engine_status or "").strip().lower(), RemoteState.UNKNOWN)
    status = RemoteStatus(
        state=state,
        remote_id=_text(body.get("id")),
        progress=_progress(body.get("progress")),
        engine_status=engine_status,
        cost=_cost(body.get("usage")),
        raw=dict(body),
    )
    if state is RemoteState.SUCCEEDED:
        status.progress = 1.0
        status.outputs = _outputs(body.get("results"))
        if not status.outputs:
            status.engine_message = "Evolink finished, but Studio found no result to save."
    elif state is RemoteState.FAILED:
        _describe_failure(status, body.get("error"), engine_status or "")
    return status


def task_error(status: RemoteStatus) -> EngineError | None:
    """The typed error a FAILED status stands for, for the user-facing sentence.

    Client-side codes map to their own type (content policy, validation); the
    server-side ones to a retryable ServerError. None for a status that did not fail.
    """
    if status.state is not RemoteState.FAILED:
        return None
    code = status.error_code or ""
    cls: type[EngineError] = CLIENT_TASK_ERRORS.get(code, EngineError)
    if code in SERVER_TASK_ERRORS:
        cls = ServerError
    return cls(
        EVOLINK.id,
        status.engine_message,
        engine_name=EVOLINK.name,
        code=status.error_code,
        raw=status.raw,
    )


# --------------------------------------------------------------------------- helpers


def _describe_failure(status: RemoteStatus, error: Any, word: str) -> None:
    code = message = None
    if isinstance(error, Mapping):
        code = _text(error.get("code"))
        message = clean(error.get("message"))
    elif isinstance(error, str):
        message = clean(error)
    if code is None and word.strip().lower() in ("cancelled", "canceled"):
        code = "request_cancelled"
    status.error_code = code
    if message:
        message = safe_detail(message, _MAX_DETAIL)
    elif code == "request_cancelled":
        message = "The job was cancelled."
    else:
        message = "Evolink could not finish the job."
    if code in SERVER_TASK_ERRORS:
        message = f"{message} ({_RETRY_LATER})"
    status.engine_message = message


def _outputs(results: Any) -> list[TakeOutput]:
    """One take per utterance: URLs of different formats join a take, a repeat starts one."""
    if not isinstance(results, list):
        results = [results]
    takes: list[TakeOutput] = []
    for item in results:
        url = http_url(item)
        if url is None and isinstance(item, Mapping):
            url = http_url(item.get("url")) or http_url(item.get("audio_url"))
        if url is None:
            continue
        fmt = _format_of(url)
        if not takes or fmt in takes[-1].audio_urls:
            takes.append(TakeOutput(raw=[]))
        takes[-1].audio_urls[fmt] = url
        takes[-1].raw.append(item)
    return takes


def _format_of(url: str) -> str:
    name = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    return _EXTENSION_FORMATS.get(extension, _DEFAULT_FORMAT)


def _progress(value: Any) -> float | None:
    """Evolink reports 0–100; Studio keeps 0–1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        return None
    return min(max(float(value) / 100.0, 0.0), 1.0)


def _cost(usage: Any) -> str | None:
    if not isinstance(usage, Mapping):
        return None
    for key in _COST_KEYS:
        value = usage.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and math.isfinite(value):
            return f"{value:g}"
        if isinstance(value, str) and value.strip():
            return value.strip()[:32]
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
