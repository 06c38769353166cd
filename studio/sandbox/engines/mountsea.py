"""The Mountsea Producer imitation: songs, uploads, stems and exports (providers.md §2).

Qt-free. :func:`install` puts the six routes on an engine site's server, named after
the spec's operation ids so tests can arm faults by name: ``audios``, ``upload``,
``stems``, ``download``, ``download-video`` and ``tasks``.

The protocol is the one the seeds (000 download, 001 stems) and Mountsea's docs give:
bearer auth; every POST answers ``{"taskId": …}`` (201, or 200 where noted); the job is
polled with ``GET /producer/tasks?taskId=`` and walks ``pending`` → ``ready`` →
``assigned`` → ``processing`` → ``completed`` over ``config.task_seconds``. Error bodies
are NestJS-shaped (``{"statusCode", "message", "error"}``), which is what the API is
built with; a prompt containing ``FAILME`` ends ``failed`` with ``errorMessage``, a
numeric ``errorCode`` and a ``traceId``.

Audio is real and deterministic: a song's samples depend only on its prompt, lyrics,
instrumental flag, seed (and guide image); its stems (WAV) sum to its mix. Work is done
lazily, on the first poll that finds a job finished, so a test that never polls never
pays for synthesis.

Threads: every handler runs on the server's connection thread for its request,
concurrently with others. Shared state lives in ``site.server.state["mountsea"]`` and is
read and written under ``site.server.lock``; rendering and encoding run outside that lock
(a per-task lock makes sure one job is finished once), so a slow export never stalls the
polls of other jobs.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
import wave
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from studio.core.errors import FieldProblem, RequestInvalidError
from studio.engines.mountsea import SPEC
from studio.engines.spec import OperationSpec
from studio.sandbox.app import EngineSite
from studio.sandbox.clock import TaskTimeline
from studio.sandbox.engines.common import SANDBOX_KEY, Once, bearer_authorised, installed
from studio.sandbox.server import BadJson, SandboxRequest, SandboxResponse, json_response
from studio.sandbox.synth import (
    STEM_NAMES,
    EncodeError,
    SongRender,
    decode_wav,
    encode,
    render_cover_png,
    render_song,
)
from studio.sandbox.synth.encode import run_ffmpeg
from studio.sandbox.synth.seeding import stable_int

__all__ = [
    "ENGINE_ID",
    "FAIL_WORD",
    "MAX_UPLOAD_SECONDS",
    "STATES",
    "SUBMIT_STATUS",
    "MountseaSandbox",
    "install",
    "sandbox_of",
]

ENGINE_ID = "mountsea"
STATES = ("pending", "ready", "assigned", "processing", "completed")
# A prompt (or lyrics) containing this word makes the job fail, so failure paths can be
# exercised without a fault rule.
FAIL_WORD = "FAILME"
MAX_UPLOAD_SECONDS = 240.0  # "≤ 4 min" [doc]
# providers.md: "Every POST answers {taskId} with 200 or 201". NestJS answers 201 to a
# POST by default; the export routes answer 200 here so clients meet both.
SUBMIT_STATUS = {
    "audios": 201,
    "upload": 201,
    "stems": 200,
    "download": 200,
    "download-video": 201,
}
SAMPLE_RATE = 44100
_STATE_KEY = "mountsea"
_RENDER_CACHE = 2  # a 30 s render is ~50 MB; re-rendering costs ~0.3 s
_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "wma": "audio/x-ms-wma",
}
# Stem bands for audio Studio did not make (an upload): upper edges in Hz. "other" takes
# what is left, so the stems still sum to the mix exactly.
_BANDS = (("bass", 0.0, 250.0), ("vocals", 250.0, 3500.0), ("drums", 3500.0, 24000.0))
_VIDEO_COLOURS = {"modern": "0x14101f", "player": "0x000000", "simple": "0xf2efe9"}

# Error codes of failed jobs (Mountsea's errorCode is numeric; values are ours).
_CODE_GENERATION = 50001
_CODE_FETCH = 40010
_CODE_TOO_LONG = 40011
_CODE_UNREADABLE = 40012


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class _Recipe:
    """Everything a song's samples depend on (render_song's inputs)."""

    prompt: str
    lyrics: str
    seed: int
    instrumental: bool
    duration_s: float


@dataclass
class _Audio:
    """A song Mountsea knows by ``audioId``: generated (a recipe) or uploaded (bytes)."""

    audio_id: str
    title: str
    lyrics: str
    recipe: _Recipe | None = None
    upload: bytes | None = None  # an upload's file, decoded when stems/exports need it


@dataclass(frozen=True)
class _Outcome:
    """How a finished job ended: a ``result`` object, or a failure."""

    result: dict[str, Any] | None = None
    message: str | None = None
    code: int | None = None


@dataclass
class _Task:
    task_id: str
    operation: str
    params: dict[str, Any]
    created_wall: float
    created_mono: float
    timeline: TaskTimeline
    trace_id: str
    # Worked out (synthesis, encoding) by the first poll that finds the job finished;
    # two polls racing on the same job render it once, other jobs are not blocked.
    outcome: Once[_Outcome] = field(default_factory=Once)


@dataclass
class _Store:
    tasks: dict[str, _Task] = field(default_factory=dict)
    audios: dict[str, _Audio] = field(default_factory=dict)
    # (audioId, format) -> a link already issued for that export; refreshed on reuse.
    exports: dict[tuple[str, str], str] = field(default_factory=dict)
    # sha256 of every mix file served -> its audioId, so an upload of our own song is
    # recognised and keeps its exact stems.
    mixes: dict[str, str] = field(default_factory=dict)
    renders: OrderedDict[str, SongRender] = field(default_factory=OrderedDict)


class _Refusal(Exception):
    """A request the engine refuses; carries the ready answer."""

    def __init__(self, response: SandboxResponse) -> None:
        super().__init__(response.status)
        self.response = response


class _JobFailure(Exception):
    """A job that ends ``failed``; message and numeric code go into the task answer."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------- answers


def _nest_error(status: int, message: str | list[str], error: str | None) -> SandboxResponse:
    """A NestJS-style error body, the shape Mountsea's gateway answers with."""
    body: dict[str, Any] = {"statusCode": status, "message": message}
    if error is not None:
        body["error"] = error
    return json_response(body, status)


def _unauthorized() -> SandboxResponse:
    # Exactly what NestJS's AuthGuard sends: no "error" key.
    return _nest_error(401, "Unauthorized", None)


def _bad_request(messages: list[str]) -> SandboxResponse:
    return _nest_error(400, messages, "Bad Request")


def _not_found(message: str) -> SandboxResponse:
    return _nest_error(404, message, "Not Found")


def _iso(ts: float) -> str:
    """Milliseconds ISO 8601 in UTC, the way JavaScript's Date.toJSON() writes it."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return f"{whole}.{int((ts % 1) * 1000):03d}Z"


def _problems_text(problems: list[FieldProblem]) -> list[str]:
    """class-validator words: "<field> <rule>", one string per problem."""
    return [f"{problem.field} {problem.rule}" for problem in problems]


# --------------------------------------------------------------------------- the engine


class MountseaSandbox:
    """Mountsea's routes on one engine site. Build it with :func:`install`.

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
        for op in SPEC.operations:
            handler = self._poll if op.id == "tasks" else self._submit_handler(op)
            self.server.route(op.method, op.path, handler, name=op.id)

    # -- helpers for tests and the CLI (any thread) ---------------------------------

    @property
    def _store(self) -> _Store:
        store: _Store = self.server.state[_STATE_KEY]
        return store

    def task_ids(self) -> list[str]:
        """Every job created so far, oldest first. Any thread."""
        with self.server.lock:
            return list(self._store.tasks)

    def audio_ids(self) -> list[str]:
        """Every audioId known (finished songs and uploads). Any thread."""
        with self.server.lock:
            return list(self._store.audios)

    # -- request plumbing (connection threads) ---------------------------------------

    def _authorised(self, request: SandboxRequest) -> bool:
        """Bearer token check. Runs on the connection thread."""
        return bearer_authorised(request, self.site.config.credentials.api_keys.get(ENGINE_ID, ""))

    def _body(self, request: SandboxRequest, op: OperationSpec) -> dict[str, Any]:
        """The request's JSON checked against the spec; what the job will use.

        Runs on the connection thread.

        Raises:
            _Refusal: a 400 naming the broken field(s).
        """
        try:
            document = request.json()
        except BadJson as exc:
            raise _Refusal(_bad_request([f"Invalid JSON body: {exc}"])) from None
        if not isinstance(document, dict):
            raise _Refusal(_bad_request(["The request body must be a JSON object"]))
        values = dict(document)
        problems: list[FieldProblem] = []
        # Constants (action: create_music) are required on the wire but are not
        # user fields, so the spec's validate() would call them unknown.
        for name, wanted in op.constants.items():
            given = values.pop(name, None)
            if given != wanted:
                problems.append(
                    FieldProblem(name, f"must be one of the following values: {wanted}")
                )
        try:
            checked = op.validate(values)
        except RequestInvalidError as exc:
            problems.extend(exc.problems)
            checked = {}
        if problems:
            raise _Refusal(_bad_request(_problems_text(problems)))
        return {k: v for k, v in checked.items() if k not in op.constants}

    def _submit_handler(self, op: OperationSpec) -> Callable[[SandboxRequest], SandboxResponse]:
        def handle(request: SandboxRequest) -> SandboxResponse:
            return self._submit(op, request)

        return handle

    def _submit(self, op: OperationSpec, request: SandboxRequest) -> SandboxResponse:
        """Create a job. Runs on the connection thread."""
        if not self._authorised(request):
            return _unauthorized()
        try:
            params = self._body(request, op)
        except _Refusal as refusal:
            return refusal.response
        parent = params.get(op.parent_field) if op.parent_field else None
        task = _Task(
            task_id=str(uuid.uuid4()),
            operation=op.id,
            params=params,
            created_wall=time.time(),
            created_mono=time.monotonic(),
            timeline=TaskTimeline(self.site.config.task_seconds, STATES),
            trace_id=uuid.uuid4().hex,
        )
        with self.server.lock:
            store = self._store
            if parent is not None and parent not in store.audios:
                return _not_found(f"Audio {parent} not found")
            store.tasks[task.task_id] = task
        return json_response({"taskId": task.task_id}, SUBMIT_STATUS.get(op.id, 201))

    def _poll(self, request: SandboxRequest) -> SandboxResponse:
        """``GET /producer/tasks?taskId=``. Runs on the connection thread."""
        if not self._authorised(request):
            return _unauthorized()
        task_id = request.query.get("taskId", "").strip()
        if not task_id:
            return _bad_request(["taskId is required"])
        with self.server.lock:
            task = self._store.tasks.get(task_id)
        if task is None:
            return _not_found(f"Task {task_id} not found")
        point = task.timeline.at(time.monotonic() - task.created_mono)
        status = point.state
        outcome: _Outcome | None = None
        if point.finished:
            outcome = self._finish(task)
            status = "failed" if outcome.result is None else "completed"
        finished_at = task.created_wall + task.timeline.total_s if point.finished else None
        return json_response(
            {
                "taskId": task.task_id,
                "status": status,
                "result": outcome.result if outcome else None,
                "errorMessage": outcome.message if outcome else None,
                "errorCode": outcome.code if outcome else None,
                "traceId": task.trace_id if outcome and outcome.result is None else None,
                "createdAt": _iso(task.created_wall),
                "finishedAt": _iso(finished_at) if finished_at is not None else None,
            }
        )

    # -- finishing jobs (connection threads, outside the server lock) ------------------

    def _finish(self, task: _Task) -> _Outcome:
        """The job's outcome, computed on the first call (the lazy synthesis).

        Runs on a connection thread; holds only the task's own lock while working.
        """
        return task.outcome.get(lambda: self._work(task))

    def _work(self, task: _Task) -> _Outcome:
        work = {
            "audios": self._finish_audios,
            "upload": self._finish_upload,
            "stems": self._finish_stems,
            "download": self._finish_download,
            "download-video": self._finish_video,
        }[task.operation]
        try:
            return _Outcome(result=work(task.params))
        except _JobFailure as failure:
            return _Outcome(message=failure.message, code=failure.code)
        except EncodeError as exc:
            return _Outcome(message=f"Audio processing failed: {exc}", code=_CODE_GENERATION)

    def _finish_audios(self, params: Mapping[str, Any]) -> dict[str, Any]:
        prompt = str(params.get("soundPrompt") or "")
        lyrics = str(params.get("lyrics") or "")
        if FAIL_WORD in prompt or FAIL_WORD in lyrics:
            raise _JobFailure(
                "Music generation failed: the model returned no audio", _CODE_GENERATION
            )
        instrumental = bool(params.get("makeInstrumental", False))
        seed_given = params.get("seed")
        # No seed: one derived from the request, so the same request sounds the same.
        seed = (
            int(seed_given)
            if isinstance(seed_given, int)
            else stable_int("mountsea-seed", prompt, lyrics, instrumental) % 2**32
        )
        image_url = params.get("imageUrl")
        if isinstance(image_url, str):
            # The guide image "changes the mood": here, it changes the seed.
            seed = stable_int("mountsea-image", seed, self._image_key(image_url)) % 2**32
        recipe = _Recipe(prompt, lyrics, seed, instrumental, float(self.site.config.song_seconds))
        render = self._render(recipe)
        title = str(params.get("title") or render.title)
        audio = _Audio(str(uuid.uuid4()), title, lyrics, recipe=recipe)
        with self.server.lock:
            self._store.audios[audio.audio_id] = audio
            self._store.renders[audio.audio_id] = render
            self._trim_renders()
        url = self._export(audio, "mp3")
        return {
            "audioId": audio.audio_id,
            "audioUrl": url,
            "duration": round(render.duration_s, 3),
            "title": title,
        }

    def _finish_upload(self, params: Mapping[str, Any]) -> dict[str, Any]:
        url = str(params["audioUrl"])
        data = self._fetch_own(url, "audioUrl")
        ext = urlsplit(url).path.rsplit(".", 1)[-1].lower()
        with self.server.lock:
            known_id = self._store.mixes.get(hashlib.sha256(data).hexdigest())
            known = self._store.audios.get(known_id) if known_id else None
        if known is not None and known.recipe is not None:
            # Our own song came back: it keeps its recipe, so its stems stay exact.
            audio = _Audio(str(uuid.uuid4()), known.title, known.lyrics, recipe=known.recipe)
        else:
            samples = _decode(data)
            if samples.shape[1] / SAMPLE_RATE > MAX_UPLOAD_SECONDS:
                raise _JobFailure("Audio is longer than 4 minutes", _CODE_TOO_LONG)
            audio = _Audio(str(uuid.uuid4()), "Uploaded audio", "", upload=data)
        rehosted = self.media.put(data, _CONTENT_TYPES.get(ext, "audio/mpeg"), ext, audio.title)
        with self.server.lock:
            self._store.audios[audio.audio_id] = audio
        return {
            "id": audio.audio_id,
            "url": rehosted,
            "lyrics": audio.lyrics,
            "isFlagged": False,
            "transcriptionJobId": str(uuid.uuid5(uuid.NAMESPACE_URL, audio.audio_id)),
        }

    def _finish_stems(self, params: Mapping[str, Any]) -> dict[str, Any]:
        audio = self._audio(str(params["audioId"]))
        stems = self._stems(audio)
        result: dict[str, Any] = {}
        for name in STEM_NAMES:
            data = encode(stems[name], SAMPLE_RATE, "wav")
            result[name] = self.media.put(data, "audio/wav", "wav", f"{audio.title} ({name})")
        return result

    def _finish_download(self, params: Mapping[str, Any]) -> dict[str, Any]:
        fmt = str(params.get("format") or "m4a")  # the vendor's default
        audio = self._audio(str(params["audioId"]))
        return {"url": self._export(audio, fmt), "format": fmt}

    def _finish_video(self, params: Mapping[str, Any]) -> dict[str, Any]:
        preset = str(params.get("preset") or "modern")  # the vendor's default
        audio = self._audio(str(params["audioId"]))
        mix = self._mix(audio)
        video = _music_video(mix, audio, preset)
        url = self.media.put(video, "video/mp4", "mp4", f"{audio.title} ({preset})")
        return {"preset": preset, "videoUrl": url}

    # -- audio (connection threads) -----------------------------------------------------

    def _audio(self, audio_id: str) -> _Audio:
        with self.server.lock:
            audio = self._store.audios.get(audio_id)
        if audio is None:  # checked at submit; kept for safety
            raise _JobFailure(f"Audio {audio_id} not found", 40400)
        return audio

    def _render(self, recipe: _Recipe) -> SongRender:
        """Render a song (CPU-bound, ~0.3 s for 30 s), outside the server lock."""
        return render_song(
            recipe.prompt,
            recipe.lyrics,
            recipe.seed,
            duration_s=recipe.duration_s,
            sample_rate=SAMPLE_RATE,
            instrumental=recipe.instrumental,
        )

    def _song(self, audio: _Audio) -> SongRender:
        """A generated song's render, from the small cache or rendered again."""
        assert audio.recipe is not None
        with self.server.lock:
            cached = self._store.renders.get(audio.audio_id)
            if cached is not None:
                self._store.renders.move_to_end(audio.audio_id)
                return cached
        render = self._render(audio.recipe)
        with self.server.lock:
            self._store.renders[audio.audio_id] = render
            self._trim_renders()
        return render

    def _trim_renders(self) -> None:
        """Keep the render cache small. Call with the server lock held."""
        while len(self._store.renders) > _RENDER_CACHE:
            self._store.renders.popitem(last=False)

    def _mix(self, audio: _Audio) -> np.ndarray:
        if audio.recipe is not None:
            return self._song(audio).mix
        assert audio.upload is not None
        return _decode(audio.upload)

    def _stems(self, audio: _Audio) -> dict[str, np.ndarray]:
        if audio.recipe is not None:
            return self._song(audio).stems
        return _band_split(self._mix(audio))

    def _export(self, audio: _Audio, fmt: str) -> str:
        """A fresh link to the mix in ``fmt``; encoded once per song and format."""
        with self.server.lock:
            issued = self._store.exports.get((audio.audio_id, fmt))
        if issued is not None:
            return self.media.refresh(issued)
        data = encode(self._mix(audio), SAMPLE_RATE, fmt)
        url = self.media.put(data, _CONTENT_TYPES[fmt], fmt, audio.title)
        with self.server.lock:
            self._store.exports[(audio.audio_id, fmt)] = url
            self._store.mixes[hashlib.sha256(data).hexdigest()] = audio.audio_id
        return url

    def _fetch_own(self, url: str, name: str) -> bytes:
        """The bytes behind a link of this sandbox's media store, as a fetch would get them.

        Offline, nothing else can be fetched: any other URL fails the job, as does an
        expired or unknown link (a real fetch would get S3's 403/404).
        """
        parts = urlsplit(url)
        own = urlsplit(self.server.base_url)
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
            raise _JobFailure(
                f"Failed to fetch {name}: {parts.scheme}://{parts.netloc} cannot be reached "
                "(offline sandbox: only links it issued can be fetched)",
                _CODE_FETCH,
            )
        expires = parse_qs(parts.query).get("X-Expires", [""])[0]
        if not expires.isdigit() or time.time() > int(expires):
            raise _JobFailure(f"Failed to fetch {name}: HTTP 403 (link expired)", _CODE_FETCH)
        try:
            return self.media.data_for(url)
        except KeyError:
            raise _JobFailure(f"Failed to fetch {name}: HTTP 404", _CODE_FETCH) from None

    def _image_key(self, url: str) -> str:
        """What of a guide image steers the song: its bytes if ours, else its address."""
        parts = urlsplit(url)
        if parts.scheme == "https":
            # The query is left out: a re-signed link to the same image is the same image.
            return f"{parts.netloc}{parts.path}"
        return hashlib.sha256(self._fetch_own(url, "imageUrl")).hexdigest()


# --------------------------------------------------------------------------- pure helpers


def _decode(data: bytes) -> np.ndarray:
    """Any audio file as planar float32 stereo at 44.1 kHz (WAV directly, else ffmpeg).

    Raises:
        _JobFailure: the file is not audio ffmpeg can read.
    """
    try:
        if data[:4] == b"RIFF":
            samples, rate = decode_wav(data)
            if rate == SAMPLE_RATE and samples.shape[0] == 2:
                return samples
        raw = run_ffmpeg(
            ["-i", "pipe:0", "-f", "f32le", "-ac", "2", "-ar", str(SAMPLE_RATE), "pipe:1"], data
        )
    except (EncodeError, ValueError, EOFError, wave.Error) as exc:
        raise _JobFailure(f"The audio file could not be read: {exc}", _CODE_UNREADABLE) from None
    frames = np.frombuffer(raw, dtype="<f4").reshape(-1, 2)
    if frames.size == 0:
        raise _JobFailure("The audio file could not be read: no samples", _CODE_UNREADABLE)
    return np.ascontiguousarray(frames.T, dtype=np.float32)


def _band_split(mix: np.ndarray) -> dict[str, np.ndarray]:
    """Stems for audio without a recipe: frequency bands, "other" the exact remainder."""
    spectrum = np.fft.rfft(mix.astype(np.float64), axis=1)
    freqs = np.fft.rfftfreq(mix.shape[1], 1.0 / SAMPLE_RATE)
    stems: dict[str, np.ndarray] = {}
    for name, low, high in _BANDS:
        mask = (freqs >= low) & (freqs < high)
        stems[name] = np.fft.irfft(spectrum * mask, n=mix.shape[1], axis=1).astype(np.float32)
    rest = mix.astype(np.float32)
    for name, _, _ in _BANDS:
        rest = rest - stems[name]
    stems["other"] = rest
    return stems


def _music_video(mix: np.ndarray, audio: _Audio, preset: str) -> bytes:
    """A small MP4: the song over a still cover (the preset picks the frame's colour).

    libx264 ``ultrafast`` at 1 fps and 320×180 keeps it under a tenth of a second for a
    30 s song; bitexact flags make the bytes repeat.
    """
    seed = audio.recipe.seed if audio.recipe else stable_int("mountsea-upload", audio.audio_id)
    cover = render_cover_png(f"{audio.title} {preset}", seed, size=180)
    track = encode(mix, SAMPLE_RATE, "m4a")
    colour = _VIDEO_COLOURS.get(preset, "0x000000")
    with tempfile.TemporaryDirectory(prefix="studio-sandbox-video-") as folder:
        root = Path(folder)
        (root / "cover.png").write_bytes(cover)
        (root / "audio.m4a").write_bytes(track)
        target = root / "video.mp4"
        run_ffmpeg(
            ["-loop", "1", "-framerate", "1", "-i", str(root / "cover.png"),
             "-i", str(root / "audio.m4a"),
             "-vf", f"pad=320:180:70:0:color={colour},format=yuv420p",
             "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage", "-r", "1",
             "-c:a", "copy", "-shortest", "-movflags", "+faststart", "-threads", "1",
             "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
             "-flags:a", "+bitexact", "-f", "mp4", "-y", str(target)],
            b"",
        )  # fmt: skip
        return target.read_bytes()


# --------------------------------------------------------------------------- entry points


def install(site: EngineSite) -> None:
    """Put Mountsea's routes on ``site``. Call before the server starts (any thread)."""
    MountseaSandbox(site)


def sandbox_of(site: EngineSite) -> MountseaSandbox:
    """The imitation installed on ``site`` (tests use it to count jobs). Any thread."""
    return installed(site, MountseaSandbox)
