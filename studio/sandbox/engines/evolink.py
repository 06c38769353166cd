"""The Evolink Seed-Audio 1.0 imitation: speech from text and voices (providers.md §4).

Qt-free. :func:`install` puts two routes on an engine site's server, named after the
spec's operation ids so tests can arm faults by name: ``create``
(``POST /v1/audios/generations``) and ``detail`` (``GET /v1/tasks/{id}``).

The protocol is seed 004's: bearer auth; the submit answers with the task object
(``created``, ``id`` "task-unified-…", ``model``, ``object`` "audio.generation.task",
``progress``, ``status``, ``task_info``, ``type`` "audio", ``usage``); the detail route
returns the same object, plus ``results`` (URL strings) once ``completed`` or
``error: {code, message}`` once ``failed``. HTTP errors use the envelope
``{"error": {"code", "message", "type"}}`` with the seed's codes. Jobs move
``pending`` → ``processing`` → ``completed`` over ``config.task_seconds``; a prompt
containing ``FAILME`` fails with ``generation_failed_no_content``, one containing
``POLICYME`` with ``content_policy_violation``.

Speech is synthesized deterministically (render_speech) from the prompt, the rates and
the voice: each ``@audio N`` citation switches to reference N; text before any citation
uses the first reference (or the model's own voice when there is none). Rendering is
lazy, on the first poll that finds the job finished.

Threads: every handler runs on the server's connection thread for its request,
concurrently with others. Shared state lives in ``site.server.state["evolink"]`` under
``site.server.lock``; synthesis and encoding run outside that lock, with a per-task
lock so one job is rendered once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from studio.core.errors import FieldProblem, RequestInvalidError
from studio.engines.evolink import MODEL, SPEC
from studio.sandbox.app import EngineSite
from studio.sandbox.clock import TaskTimeline
from studio.sandbox.engines.common import SANDBOX_KEY, Once, bearer_authorised, installed
from studio.sandbox.server import BadJson, SandboxRequest, SandboxResponse, json_response
from studio.sandbox.synth import EncodeError, encode, render_speech
from studio.sandbox.synth.seeding import stable_int
from studio.sandbox.synth.speech import MAX_SECONDS

__all__ = [
    "CREDITS_RESERVED",
    "ENGINE_ID",
    "FAIL_WORD",
    "POLICY_WORD",
    "STATES",
    "EvolinkSandbox",
    "install",
    "render_request",
    "sandbox_of",
    "speech_segments",
]

ENGINE_ID = "evolink"
STATES = ("pending", "processing", "completed")
FAIL_WORD = "FAILME"
POLICY_WORD = "POLICYME"
# Reserved "by the duration cap, settled later" [seed 004]; the seed's example value.
CREDITS_RESERVED = 9.6
_STATE_KEY = "evolink"
_DEFAULTS: dict[str, Any] = {
    "format": "wav",
    "sample_rate": 24000,
    "speech_rate": 1.0,
    "loudness_rate": 1.0,
    "pitch_rate": 0,
}
# Result link extension and Content-Type per requested format.
_FILES = {
    "wav": ("wav", "audio/wav"),
    "mp3": ("mp3", "audio/mpeg"),
    "pcm": ("pcm", "audio/L16"),
    "ogg_opus": ("ogg", "audio/ogg"),
}
# Same grammar as the adapter's citation check: "@audio 2", "@Audio2", "@音频2".
_CITATION = re.compile(r"@(?:audio|音频)[ \u3000]?(\d+)", re.IGNORECASE)
_MODEL_VOICE = "seed-audio-default"


# --------------------------------------------------------------------------- state


@dataclass
class _Task:
    task_id: str
    params: dict[str, Any]
    created: int  # unix seconds, as the answer states it
    created_mono: float
    timeline: TaskTimeline
    # Decided at submit (the trigger words), reported once the job ends.
    failure: tuple[str, str] | None = None
    # The result links, rendered by the first poll that finds the job finished.
    results: Once[list[str]] = field(default_factory=Once)


@dataclass
class _Store:
    tasks: dict[str, _Task] = field(default_factory=dict)


# --------------------------------------------------------------------------- answers


def _error(status: int, code: str, message: str, kind: str) -> SandboxResponse:
    """Evolink's HTTP error envelope."""
    return json_response({"error": {"code": code, "message": message, "type": kind}}, status)


def _invalid(problems: list[FieldProblem]) -> SandboxResponse:
    """A 400 naming every broken field; a missing prompt gets the seed's own answer."""
    if any(p.field == "prompt" and p.rule == "is required" for p in problems):
        return _error(
            400, "missing_text", "Missing required parameter: prompt", "invalid_request_error"
        )
    listed = "; ".join(f"{p.field} {p.rule}" for p in problems)
    return _error(
        400, "invalid_parameters", f"Invalid parameters: {listed}", "invalid_request_error"
    )


def speech_segments(prompt: str, references: list[str]) -> list[tuple[str, str]]:
    """The prompt cut at its citations: (text, voice) pairs, in order.

    Text before the first citation is spoken by the first reference (the model's own
    voice when there is none); ``@audio N`` switches to reference N. Pure; any thread.
    """
    voices = [_voice_key(ref) for ref in references]
    current = voices[0] if voices else _MODEL_VOICE
    segments: list[tuple[str, str]] = []
    position = 0
    for match in _CITATION.finditer(prompt):
        segments.append((prompt[position : match.start()], current))
        number = int(match.group(1))
        if 1 <= number <= len(voices):
            current = voices[number - 1]
        position = match.end()
    segments.append((prompt[position:], current))
    return [(text.strip(), voice) for text, voice in segments if text.strip()]


def _voice_key(reference: str) -> str:
    """A preset id is the voice; a reference-audio URL clones "its" voice, by address.

    The query is left out so a re-signed link to the same recording is the same voice.
    """
    if "://" not in reference:
        return reference
    parts = urlsplit(reference)
    return "clone-" + hashlib.sha256(f"{parts.netloc}{parts.path}".encode()).hexdigest()[:16]


def _private_callback(url: str) -> bool:
    """Evolink refuses callbacks to loopback and private networks [seed 004]."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


# --------------------------------------------------------------------------- the engine


class EvolinkSandbox:
    """Evolink's routes on one engine site. Build it with :func:`install`.

    Args:
        site: the engine site (server, media store, config) to serve on.
    """

    def __init__(self, site: EngineSite) -> None:
        self.site = site
        self.server = site.server
        self.media = site.media
        with self.server.lock:
            self.server.state[_STATE_KEY] = _Store()
            self.server.state[SANDBOX_KEY] = self
        create, detail = SPEC.operation("generations"), SPEC.operation("detail")
        self.server.route(create.method, create.path, self._create, name=create.id)
        self.server.route(detail.method, detail.path, self._detail, name=detail.id)

    @property
    def _store(self) -> _Store:
        store: _Store = self.server.state[_STATE_KEY]
        return store

    def task_ids(self) -> list[str]:
        """Every job created so far, oldest first. Any thread."""
        with self.server.lock:
            return list(self._store.tasks)

    # -- request plumbing (connection threads) ---------------------------------------

    def _authorised(self, request: SandboxRequest) -> bool:
        """Bearer token check. Runs on the connection thread."""
        return bearer_authorised(request, self.site.config.credentials.api_keys.get(ENGINE_ID, ""))

    def _create(self, request: SandboxRequest) -> SandboxResponse:
        """``POST /v1/audios/generations``. Runs on the connection thread."""
        if not self._authorised(request):
            return _error(401, "unauthorized", "Invalid or expired token", "authentication_error")
        try:
            document = request.json()
        except BadJson as exc:
            return _error(
                400, "invalid_request", f"Invalid JSON body: {exc}", "invalid_request_error"
            )
        if not isinstance(document, dict):
            return _error(
                400, "invalid_request", "The body must be a JSON object", "invalid_request_error"
            )
        try:
            params = SPEC.operation("generations").validate(document)
        except RequestInvalidError as exc:
            return _invalid(exc.problems)
        callback = params.get("callback_url")
        if isinstance(callback, str) and _private_callback(callback):
            return _invalid(
                [FieldProblem("callback_url", "must not point to a private or loopback address")]
            )
        created_wall = time.time()
        task = _Task(
            task_id=f"task-unified-{int(created_wall)}-{secrets.token_hex(4)}",
            params={**_DEFAULTS, **params},
            created=int(created_wall),
            created_mono=time.monotonic(),
            timeline=TaskTimeline(self.site.config.task_seconds, STATES),
        )
        prompt = str(params["prompt"])
        if POLICY_WORD in prompt:
            task.failure = (
                "content_policy_violation",
                "The request was rejected by the content safety policy",
            )
        elif FAIL_WORD in prompt:
            task.failure = ("generation_failed_no_content", "The model generated no audio")
        with self.server.lock:
            self._store.tasks[task.task_id] = task
        return json_response(self._task_object(task, "pending", 0.0))

    def _detail(self, request: SandboxRequest) -> SandboxResponse:
        """``GET /v1/tasks/{id}``. Runs on the connection thread."""
        if not self._authorised(request):
            return _error(401, "unauthorized", "Invalid or expired token", "authentication_error")
        task_id = request.params.get("id", "")
        with self.server.lock:
            task = self._store.tasks.get(task_id)
        if task is None:
            return _error(404, "task_not_found", f"Task not found: {task_id}", "not_found_error")
        point = task.timeline.at(time.monotonic() - task.created_mono)
        if not point.finished:
            return json_response(self._task_object(task, point.state, point.progress))
        if task.failure is not None:
            return json_response(self._task_object(task, "failed", 1.0))
        try:
            results = self._finish(task)
        except EncodeError as exc:
            task.failure = ("service_error", f"Audio encoding failed: {exc}")
            return json_response(self._task_object(task, "failed", 1.0))
        return json_response(self._task_object(task, "completed", 1.0, results))

    def _task_object(
        self, task: _Task, status: str, fraction: float, results: list[str] | None = None
    ) -> dict[str, Any]:
        """The task object of seed 004, plus ``results`` / ``error`` at the end."""
        remaining = task.timeline.remaining_s(task.created_mono)
        body: dict[str, Any] = {
            "created": task.created,
            "id": task.task_id,
            "model": MODEL,
            "object": "audio.generation.task",
            # 100 only once it really ended, like the vendor's bar.
            "progress": 100 if status in ("completed", "failed") else min(99, int(fraction * 100)),
            "status": status,
            "task_info": {
                # No cancel endpoint is documented; only a queued job could be.
                "can_cancel": status == "pending",
                "estimated_time": 0 if math.isinf(remaining) else math.ceil(remaining),
                "audio_type": "audio_generation",
            },
            "type": "audio",
            "usage": {"credits_reserved": CREDITS_RESERVED},
        }
        if status == "completed":
            body["results"] = results or []
        elif status == "failed" and task.failure is not None:
            body["error"] = {"code": task.failure[0], "message": task.failure[1]}
        return body

    # -- rendering (connection threads, outside the server lock) -----------------------

    def _finish(self, task: _Task) -> list[str]:
        """The result links, rendered and encoded on the first call.

        Runs on a connection thread; holds only the task's own lock while working.
        """
        return list(task.results.get(lambda: self._render(task)))

    def _render(self, task: _Task) -> list[str]:
        audio = render_request(task.params)
        rate = int(task.params["sample_rate"])
        fmt = str(task.params["format"])
        ext, content_type = _FILES[fmt]
        if fmt == "pcm":
            content_type = f"audio/L16; rate={rate}; channels=1"
        data = encode(audio, rate, fmt)
        return [self.media.put(data, content_type, ext, "speech")]


def render_request(params: Mapping[str, Any]) -> np.ndarray:
    """The speech for a validated request (defaults filled in): mono float32 (1, n).

    Deterministic: the same prompt, voices, image and rates give the same samples.
    Pure (CPU-bound); runs on the caller's thread.
    """
    prompt = str(params["prompt"])
    references = [str(ref) for ref in params.get("audio_references") or ()]
    images = [str(url) for url in params.get("image_urls") or ()]
    rate = int(params.get("sample_rate", 24000))
    # There is no seed field: the request itself is the seed; an image changes it.
    image_keys = [_voice_key(url) for url in images]
    pieces = []
    for index, (text, voice) in enumerate(speech_segments(prompt, references)):
        seed = stable_int("evolink-speech", text, voice, index, *image_keys) % 2**32
        pieces.append(
            render_speech(
                text,
                seed,
                speech_rate=float(params.get("speech_rate", 1.0)),
                pitch_semitones=float(params.get("pitch_rate", 0)),
                loudness=float(params.get("loudness_rate", 1.0)),
                sample_rate=rate,
                voice=voice,
            )
        )
    if not pieces:  # only citations, no words: a short breath of silence
        return np.zeros((1, rate // 5), dtype=np.float32)
    # Each piece is capped at 120 s by render_speech; the whole answer is too [seed 004].
    return np.concatenate(pieces, axis=1)[:, : int(MAX_SECONDS * rate)]


# --------------------------------------------------------------------------- entry points


def install(site: EngineSite) -> None:
    """Put Evolink's routes on ``site``. Call before the server starts (any thread)."""
    EvolinkSandbox(site)


def sandbox_of(site: EngineSite) -> EvolinkSandbox:
    """The imitation installed on ``site`` (tests use it to count jobs). Any thread."""
    return installed(site, EvolinkSandbox)
