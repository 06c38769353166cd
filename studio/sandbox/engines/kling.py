"""Kling text-to-audio imitated on a sandbox server (providers.md, section 3).

Qt-free. :func:`install` puts these routes on the engine's :class:`SandboxServer`
(the quoted names are what tests pass to ``server.faults.add``):

* ``"text-to-audio"`` ``POST /v1/audio/text-to-audio``: ``prompt`` (≤ 200 characters),
  ``duration`` (3.0–10.0, one decimal), optional ``external_task_id`` (unique per
  account) and ``callback_url`` (accepted and kept; the sandbox never calls out).
* ``"query"`` ``GET /v1/audio/text-to-audio/{id}``: ``id`` is a task id or, when
  no task has that id, an ``external_task_id`` (the seed's "choose one of the two").
* ``"list"`` ``GET /v1/audio/text-to-audio?pageNum=&pageSize=``: newest first.
* ``"wrong_method"``: any other method on those paths, and unknown ``/v1`` paths,
  answer 404 with code 1202 (Kling's "wrong method"), not the server's plain 405.
* ``"media"`` (the site's :class:`MediaStore`): the mp3/wav result links.

Every API answer is Kling's envelope ``{code, message, request_id, data}`` with
``code`` 0 on success and times in milliseconds. Auth is ``Authorization: Bearer
<token>``, the token being the reseller key (``credentials.api_keys["kling"]``) or
an HS256 JWT signed with ``kling_secret_key`` whose ``iss`` is ``kling_access_key``;
both belong to one sandbox account, so they share tasks and external ids.

Test hooks in the prompt: ``FAILME`` makes the task end ``failed`` with a
``task_status_msg``; ``POLICYME`` makes the create answer 400 with code 1301.

Threads: :func:`install` runs on the caller's thread before the server starts;
every handler runs on the server's connection thread for its request, concurrently
with others. Task records live in :class:`KlingSandbox`, reachable as
``site.server.state["kling"]``, and are read and written under ``server.lock``;
each task's audio is rendered once under that task's own lock (never while holding
``server.lock``, so a render does not stall other tasks' polls).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.core.errors import RequestInvalidError
from studio.engines.jwt import JwtError, decode_hs256
from studio.engines.kling import LIST_PAGE_MAX, LIST_PAGE_SIZE_MAX, SPEC
from studio.sandbox.app import EngineSite
from studio.sandbox.clock import TaskTimeline
from studio.sandbox.engines.common import installed, same_secret
from studio.sandbox.server import BadJson, SandboxRequest, SandboxResponse, json_response
from studio.sandbox.synth import EncodeError, encode, render_effect
from studio.sandbox.synth.seeding import stable_int

__all__ = [
    "BASE_PATH",
    "DEFAULT_PAGE_SIZE",
    "FAIL_MARKER",
    "POLICY_MARKER",
    "SAMPLE_RATE",
    "STATES",
    "KlingSandbox",
    "SandboxTask",
    "install",
    "sandbox_of",
]

BASE_PATH = "/v1/audio/text-to-audio"
STATES = ("submitted", "processing", "succeed")
# Share of the task time spent in each non-terminal state: queued briefly, then
# mostly "processing", which is what a client sees from the real service.
_WEIGHTS = (1.0, 3.0)
FAIL_MARKER = "FAILME"
POLICY_MARKER = "POLICYME"
DEFAULT_PAGE_SIZE = 30  # the seed's default for pageSize
SAMPLE_RATE = 44100
# Units charged for a finished effect. The real price table is not documented;
# a fixed, non-zero figure lets the studio show and total a cost.
_UNITS_CHARGED = "1"
_STATE_KEY = "kling"
_DIGITS = re.compile(r"[0-9]{1,9}")
_CREATE = SPEC.operation("text-to-audio")


# --------------------------------------------------------------------------- records


@dataclass
class _Audio:
    """One rendered effect's links; ``issued`` is the wall time they were signed."""

    audio_id: str
    mp3_url: str
    wav_url: str
    seconds: str
    issued: float


@dataclass
class SandboxTask:
    """One task as the sandbox remembers it.

    ``audio`` is written once (under the server lock) by the first read that sees
    the task succeed; every other field is set at creation and never changes.
    """

    task_id: str
    external_task_id: str | None
    prompt: str
    duration: float
    callback_url: str | None
    created_ms: int
    started: float  # the timeline clock at creation
    timeline: TaskTimeline
    fails: bool
    audio: _Audio | None = None
    render_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def state(self) -> tuple[str, int]:
        """The task's state word now, and when it entered that state (unix ms)."""
        point = self.timeline.since(self.started)
        word = point.state
        if point.finished and self.fails:
            word = "failed"
        # The state began at a fixed offset from creation, so updated_at does not
        # depend on when somebody happened to look.
        share = _STATE_STARTS[point.index]
        return word, self.created_ms + round(share * self.timeline.total_s * 1000)


def _state_starts() -> tuple[float, ...]:
    """Fractions of the task time at which each state begins (as TaskTimeline splits it)."""
    whole = sum(_WEIGHTS)
    starts = [0.0]
    for weight in _WEIGHTS:
        starts.append(starts[-1] + weight / whole)
    starts[-1] = 1.0  # the terminal state begins exactly at the end
    return tuple(starts)


_STATE_STARTS = _state_starts()


class _Refusal(Exception):
    """A request Kling refuses: becomes the error envelope ``status`` / ``code``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- the engine


class KlingSandbox:
    """Kling's state and handlers for one sandbox site.

    Methods named ``_handle_*`` run on connection threads; the public read
    helpers (:meth:`tasks`, :meth:`task`) may be called from any thread.
    """

    def __init__(self, site: EngineSite) -> None:
        self.site = site
        self._lock = site.server.lock
        self._tasks: dict[str, SandboxTask] = {}  # insertion order = creation order
        self._by_external: dict[str, str] = {}  # external_task_id -> task_id

    def install(self) -> None:
        """Register the routes on the site's server. Caller's thread, before start."""
        server = self.site.server
        server.route("POST", BASE_PATH, self._handle_create, name="text-to-audio")
        server.route("GET", BASE_PATH, self._handle_list, name="list")
        server.route("GET", BASE_PATH + "/{id}", self._handle_query, name="query")
        # Registered last, so they only catch what the routes above did not.
        server.route("*", r"^/v1(/.*)?$", self._handle_wrong_method, name="wrong_method")

    # ---------------------------------------------------------------- read helpers

    def tasks(self) -> list[SandboxTask]:
        """Every task, oldest first. Any thread."""
        with self._lock:
            return list(self._tasks.values())

    def task(self, task_or_external_id: str) -> SandboxTask | None:
        """The task with this id, else the one created with this external id. Any thread."""
        with self._lock:
            found = self._tasks.get(task_or_external_id)
            if found is None:
                task_id = self._by_external.get(task_or_external_id)
                found = self._tasks.get(task_id) if task_id is not None else None
            return found

    # ---------------------------------------------------------------- handlers

    def _handle_create(self, request: SandboxRequest) -> SandboxResponse:
        """``POST /v1/audio/text-to-audio``. Connection thread."""
        try:
            self._authenticate(request)
            fields = self._create_fields(request)
            task = self._add_task(fields)
        except _Refusal as refusal:
            return _error(refusal)
        word, updated = task.state()
        return _ok(
            {
                "task_id": task.task_id,
                "task_info": {"external_task_id": task.external_task_id or ""},
                "task_status": word,
                "created_at": task.created_ms,
                "updated_at": updated,
            }
        )

    def _handle_query(self, request: SandboxRequest) -> SandboxResponse:
        """``GET /v1/audio/text-to-audio/{id}``. Connection thread."""
        try:
            self._authenticate(request)
            task = self.task(request.params["id"])
            if task is None:
                raise _Refusal(404, 1203, "task not found")
            return _ok(self._task_json(task))
        except _Refusal as refusal:
            return _error(refusal)

    def _handle_list(self, request: SandboxRequest) -> SandboxResponse:
        """``GET /v1/audio/text-to-audio?pageNum=&pageSize=``. Connection thread."""
        try:
            self._authenticate(request)
            page = _page_param(request, "pageNum", 1, LIST_PAGE_MAX)
            size = _page_param(request, "pageSize", DEFAULT_PAGE_SIZE, LIST_PAGE_SIZE_MAX)
            with self._lock:
                newest_first = list(reversed(self._tasks.values()))
            chosen = newest_first[(page - 1) * size : page * size]
            return _ok([self._task_json(task) for task in chosen])
        except _Refusal as refusal:
            return _error(refusal)

    def _handle_wrong_method(self, request: SandboxRequest) -> SandboxResponse:
        """Any other method or /v1 path: Kling's 404 code 1202. Connection thread."""
        try:
            self._authenticate(request)
        except _Refusal as refusal:
            return _error(refusal)
        return _error(_Refusal(404, 1202, f"no such API: {request.method} {request.path}"))

    # ---------------------------------------------------------------- auth

    def _authenticate(self, request: SandboxRequest) -> None:
        """Accept the reseller key or a valid JWT from the key pair; else raise the 401.

        Runs on the connection thread.
        """
        creds = self.site.config.credentials
        header = (request.headers.get("Authorization") or "").strip()
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header or (scheme.lower() == "bearer" and not token):
            raise _Refusal(401, 1001, "Authorization header is empty")
        if scheme.lower() != "bearer":
            raise _Refusal(401, 1002, "Authorization is invalid: expected 'Bearer <token>'")
        api_key = creds.api_keys.get("kling", "")
        if same_secret(token, api_key):
            return
        try:
            claims = decode_hs256(token, creds.kling_secret_key, now=time.time())
        except JwtError as exc:
            if exc.reason == "not_yet_valid":
                raise _Refusal(401, 1003, "Authorization token is not yet valid") from None
            if exc.reason == "expired":
                raise _Refusal(401, 1004, "Authorization token has expired") from None
            raise _Refusal(401, 1002, f"Authorization is invalid: {exc}") from None
        if claims.get("iss") != creds.kling_access_key:
            raise _Refusal(401, 1002, "Authorization is invalid: unknown access key (iss)")
        # Kling documents exp as part of every token; one that never expires is refused.
        if "exp" not in claims:
            raise _Refusal(401, 1002, "Authorization is invalid: the token has no exp")

    # ---------------------------------------------------------------- create

    def _create_fields(self, request: SandboxRequest) -> dict[str, Any]:
        """The validated create body; raises the 400 Kling answers. Connection thread."""
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type.lower() != "application/json":
            raise _Refusal(400, 1200, "invalid request: Content-Type must be application/json")
        try:
            body = request.json()
        except BadJson:
            raise _Refusal(400, 1200, "invalid request: the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _Refusal(400, 1200, "invalid request: the body must be a JSON object")
        params = dict(body)
        # Not a user field in the spec (the adapter fills it with the client key),
        # so it is checked here rather than by the spec's validation.
        external = params.pop("external_task_id", None)
        if external is not None and not isinstance(external, str):
            raise _Refusal(400, 1201, "invalid parameter: external_task_id must be a string")
        try:
            fields = _CREATE.validate(params)
        except RequestInvalidError as exc:
            listed = "; ".join(str(problem) for problem in exc.problems)
            raise _Refusal(400, 1201, f"invalid parameter: {listed}") from None
        # Blank counts as not given, as for every field of the spec; otherwise the
        # id is kept exactly as sent, since the client matches on it byte for byte.
        fields["external_task_id"] = external if external and external.strip() else None
        return fields

    def _add_task(self, fields: Mapping[str, Any]) -> SandboxTask:
        """Create the task, refusing a reused external id or a refused prompt.

        Connection thread; the duplicate check and the insert share one lock hold,
        so two racing creates with the same external id cannot both succeed.
        """
        prompt: str = fields["prompt"]
        external: str | None = fields["external_task_id"]
        config = self.site.config
        with self._lock:
            if external is not None and external in self._by_external:
                raise _Refusal(
                    400, 1201, f"invalid parameter: duplicate external_task_id {external!r}"
                )
            if POLICY_MARKER in prompt:
                raise _Refusal(400, 1301, "content safety check failed: the prompt was refused")
            timeline = TaskTimeline(config.task_seconds, STATES, weights=_WEIGHTS)
            task = SandboxTask(
                task_id=_new_task_id(),
                external_task_id=external,
                prompt=prompt,
                # The spec allows one decimal; 3.3000000000000003 is 3.3.
                duration=round(float(fields["duration"]), 1),
                callback_url=fields.get("callback_url"),
                created_ms=_now_ms(),
                started=timeline.now(),
                timeline=timeline,
                fails=FAIL_MARKER in prompt,
            )
            self._tasks[task.task_id] = task
            if external is not None:
                self._by_external[external] = task.task_id
        return task

    # ---------------------------------------------------------------- task JSON

    def _task_json(self, task: SandboxTask) -> dict[str, Any]:
        """The task object of a query or list answer. Connection thread."""
        word, updated = task.state()
        data: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": word,
            "task_status_msg": "",
            "task_info": {"external_task_id": task.external_task_id or ""},
            "created_at": task.created_ms,
            "updated_at": updated,
        }
        if word == "failed":
            data["task_status_msg"] = (
                f"audio generation failed (the prompt asked the sandbox to fail: {FAIL_MARKER})"
            )
            data["final_unit_deduction"] = "0"  # a failed task is not charged
        elif word == "succeed":
            audio = self._audio(task)
            data["task_result"] = {
                "audios": [
                    {
                        "id": audio.audio_id,
                        "url_mp3": audio.mp3_url,
                        "url_wav": audio.wav_url,
                        "duration_mp3": audio.seconds,
                        "duration_wav": audio.seconds,
                    }
                ]
            }
            data["final_unit_deduction"] = _UNITS_CHARGED
        return data

    def _audio(self, task: SandboxTask) -> _Audio:
        """The task's links: rendered on first use, re-signed once they have expired.

        Connection thread. The task's own lock makes concurrent first polls render
        once; the server lock is only held to read and store the result.
        """
        media = self.site.media
        with task.render_lock:
            with self._lock:
                audio = task.audio
            now = time.time()
            if audio is None:
                audio = self._render(task, now)
            elif now >= audio.issued + media.link_ttl_s:
                # Kling keeps results for 30 days; the sandbox's links are short-lived
                # to exercise link refresh, so a later poll hands out fresh ones.
                audio = _Audio(
                    audio.audio_id,
                    media.refresh(audio.mp3_url),
                    media.refresh(audio.wav_url),
                    audio.seconds,
                    now,
                )
            with self._lock:
                task.audio = audio
            return audio

    def _render(self, task: SandboxTask, now: float) -> _Audio:
        """Synthesize and store the effect as mp3 and wav. Connection thread."""
        # Seeded from the prompt alone: the same prompt and duration always give
        # the same sound, whichever task asked for it.
        samples = render_effect(task.prompt, stable_int("kling", task.prompt), task.duration)
        try:
            mp3 = encode(samples, SAMPLE_RATE, "mp3")
            wav = encode(samples, SAMPLE_RATE, "wav")
        except EncodeError:
            raise _Refusal(500, 5000, "server error: the audio could not be encoded") from None
        name = f"kling-{task.task_id}"
        media = self.site.media
        mp3_url = media.put(mp3, "audio/mpeg", "mp3", name)
        wav_url = media.put(wav, "audio/wav", "wav", name)
        seconds = _seconds_text(samples.shape[1] / SAMPLE_RATE)
        return _Audio(f"{task.task_id}-0", mp3_url, wav_url, seconds, now)


# --------------------------------------------------------------------------- helpers


def _page_param(request: SandboxRequest, name: str, default: int, maximum: int) -> int:
    """A paging query parameter, or the 400 code 1201 naming it. Connection thread."""
    text = request.query.get(name)
    if text is None:
        return default
    value = int(text) if _DIGITS.fullmatch(text) else None
    if value is None or not 1 <= value <= maximum:
        raise _Refusal(
            400,
            1201,
            f"invalid parameter: {name} must be a whole number from 1 to {maximum} (got {text!r})",
        )
    return value


def _seconds_text(seconds: float) -> str:
    """A duration as Kling writes it: a decimal string such as ``"5.0"`` or ``"3.25"``."""
    text = f"{seconds:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _new_task_id() -> str:
    # Kling's ids are opaque strings; a random one also shows the client never
    # relies on their shape.
    return f"sbx{secrets.token_hex(10)}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _envelope(code: int, message: str, data: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": str(uuid.uuid4()), "data": data}


def _ok(data: Any) -> SandboxResponse:
    return json_response(_envelope(0, "SUCCEED", data))


def _error(refusal: _Refusal) -> SandboxResponse:
    return json_response(_envelope(refusal.code, refusal.message, None), refusal.status)


def sandbox_of(site: EngineSite) -> KlingSandbox:
    """The Kling imitation installed on ``site`` (for tests). Any thread."""
    return installed(site, KlingSandbox, _STATE_KEY)


def install(site: EngineSite) -> None:
    """Put Kling's routes on ``site.server``. Caller's thread, before the server starts."""
    engine = KlingSandbox(site)
    site.server.state[_STATE_KEY] = engine
    engine.install()
