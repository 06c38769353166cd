"""TTAPI Producer imitated on loopback: ``/producer/v1/…`` as providers.md §1 describes it.

Qt-free. :func:`install` registers one route per operation of ``ttapi_spec.SPEC`` (named
by the operation id: "music", "fetch", … so tests arm faults with those names) and a
catch-all that answers unknown ``/producer/v1`` paths in TTAPI's envelope.

Strictness: the ``TT-API-KEY`` header must be the sandbox key (else HTTP 401); bodies go
through the same ``OperationSpec.validate`` as the studio's adapter (else HTTP 400 whose
message names the field); a ``music_id`` must exist (else HTTP 404) and its job must have
succeeded. Every refusal is TTAPI's ``{"status":"FAILED","message":…,"data":null}``.

Jobs move ``PENDING_QUEUE`` → ``ON_QUEUE`` → ``SUCCESS`` over ``config.task_seconds``. Any
text field containing the word ``FAILME`` makes the job end ``FAILED`` (and a lyrics call
answer 400), so failure paths are testable. Audio is rendered on the first fetch that
sees a job finished (ttapi_jobs). lyrics and generate-video answer at once.

Threads: handlers run on the server's connection threads, concurrently; shared state is
read and written under ``site.server.lock`` only, and rendering/ffmpeg run outside it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from studio.core.errors import RequestInvalidError
from studio.engines.spec import OperationSpec
from studio.engines.ttapi_spec import DEFAULT_MODEL, PATH_PREFIX, SPEC
from studio.sandbox.app import EngineSite
from studio.sandbox.engines.common import same_secret
from studio.sandbox.engines.ttapi_content import decode_audio, make_video, write_lyrics
from studio.sandbox.engines.ttapi_jobs import (
    STATE_KEY,
    Job,
    Music,
    Recipe,
    TtapiState,
    derived_seed,
    ensure_built,
    job_body,
    new_timeline,
    render_music,
    state_of,
    upload_render,
)
from studio.sandbox.server import BadJson, SandboxRequest, SandboxResponse, json_response
from studio.sandbox.synth import STEM_NAMES, EncodeError, render_cover_png
from studio.sandbox.synth.seeding import stable_int

__all__ = ["AUTH_HEADER", "FAIL_TRIGGER", "QUOTA", "install", "job_ids"]

AUTH_HEADER = "TT-API-KEY"
FAIL_TRIGGER = "FAILME"
# Credits per job. The vendor states no prices; the seed's examples show "5" for a song
# and "1" for lyrics; upload, fetch and generate-video are marked free.
QUOTA: Mapping[str, str] = {
    "music": "5", "extend": "5", "cover": "5", "variation": "5", "replace": "5",
    "vocals-swap": "5", "instrumentals-swap": "5", "stems": "3", "download": "1",
    "upload": "0", "lyrics": "1",
}  # fmt: skip
# Edits need the parent's audio; "ends" closer than this to "starts" leaves nothing.
_MIN_SPAN_S = 0.1

Submit = Callable[[OperationSpec, dict[str, Any]], SandboxResponse]


def install(site: EngineSite) -> None:
    """Put TTAPI's routes on ``site.server``. Call once, before the server starts."""
    with site.server.lock:
        site.server.state[STATE_KEY] = TtapiState()
    api = _Api(site)
    for op in SPEC.operations:
        site.server.route(op.method, op.path, api.handler(op), name=op.id)
    site.server.route("*", rf"^{PATH_PREFIX}(?:/.*)?$", api.unknown_path, name="ttapi-unknown")


def job_ids(site: EngineSite) -> list[str]:
    """Every job id the site has accepted, oldest first (tests count jobs). Any thread."""
    with site.server.lock:
        return list(state_of(site).jobs)


# --------------------------------------------------------------------------- envelopes


def _failed(message: str, status: int, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    """TTAPI's refusal: ``{"status":"FAILED","message":…,"data":null}``."""
    return json_response({"status": "FAILED", "message": message, "data": None}, status, headers)


def _ok(data: Mapping[str, Any]) -> SandboxResponse:
    return json_response({"status": "SUCCESS", "message": "success", "data": dict(data)})


class _Refusal(Exception):
    """A check failed; ``response`` is the envelope to answer with."""

    def __init__(self, response: SandboxResponse) -> None:
        super().__init__("refused")
        self.response = response


def _refuse(message: str, status: int = 400) -> _Refusal:
    return _Refusal(_failed(message, status))


# --------------------------------------------------------------------------- handlers


class _Api:
    """The route handlers of one site; every method runs on a connection thread."""

    def __init__(self, site: EngineSite) -> None:
        self.site = site
        self.lock = site.server.lock
        self._submits: dict[str, Submit] = {
            "music": self._music, "lyrics": self._lyrics, "extend": self._edit,
            "cover": self._edit, "variation": self._edit, "replace": self._edit,
            "vocals-swap": self._edit, "instrumentals-swap": self._edit,
            "stems": self._stems, "download": self._download, "upload": self._upload,
            "generate-video": self._video,
        }  # fmt: skip

    @property
    def state(self) -> TtapiState:
        return state_of(self.site)

    def handler(self, op: OperationSpec) -> Callable[[SandboxRequest], SandboxResponse]:
        """The route handler for ``op``: auth, body checks, then the operation itself."""

        def handle(request: SandboxRequest) -> SandboxResponse:
            try:
                self._check_key(request)
                if op.id == "fetch":
                    return self._fetch(op.validate(dict(request.query)))
                return self._submits[op.id](op, op.validate(self._body(request)))
            except RequestInvalidError as exc:
                return _failed("; ".join(str(problem) for problem in exc.problems), 400)
            except _Refusal as refusal:
                return refusal.response

        return handle

    def unknown_path(self, request: SandboxRequest) -> SandboxResponse:
        """A path under /producer/v1 with no operation (404), or the wrong method (405)."""
        for op in SPEC.operations:
            if op.path == request.path:
                allow = "GET, HEAD" if op.method == "GET" else op.method
                return _failed(f"method {request.method} not allowed", 405, {"Allow": allow})
        return _failed(f"no such endpoint: {request.path}", 404)

    # -- checks ------------------------------------------------------------------

    def _check_key(self, request: SandboxRequest) -> None:
        given = request.headers.get(AUTH_HEADER)
        # Read per request: a test may swap the accepted keys on the shared config.
        expected = self.site.config.credentials.api_keys.get("ttapi", "")
        if not given:
            raise _refuse(f"missing {AUTH_HEADER} header", 401)
        if not same_secret(given, expected):
            raise _refuse(f"invalid {AUTH_HEADER}", 401)

    @staticmethod
    def _body(request: SandboxRequest) -> dict[str, Any]:
        try:
            body = request.json()
        except BadJson:
            raise _refuse("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _refuse("the request body must be a JSON object")
        return body

    def _parent(self, music_id: str, action: str) -> Music:
        """The take ``music_id`` names, which must have finished with audio.

        TTAPI states it for extend; here every edit needs it, since an edit is made from
        the parent's audio, which does not exist before its job succeeds.
        """
        with self.lock:
            music = self.state.musics.get(music_id)
            job = self.state.jobs.get(music.job_id) if music else None
            failure = job.failure if job else None
        if music is None or job is None:
            raise _refuse(f"music_id {music_id} not found", 404)
        if not job.timeline.since(job.created_at).finished:
            raise _refuse(
                f"music_id {music_id}: its job has not succeeded yet; "
                f"{action} needs a finished take"
            )
        if failure is not None:
            raise _refuse(f"music_id {music_id}: its job failed, there is no audio")
        if music.recipe is None:
            raise _refuse(f"music_id {music_id} has no audio (it is a lyrics job)")
        return music

    @staticmethod
    def _trigger(params: Mapping[str, Any]) -> str | None:
        if any(isinstance(v, str) and FAIL_TRIGGER in v for v in params.values()):
            return f"generation failed: the model gave up on this request ({FAIL_TRIGGER})"
        return None

    @staticmethod
    def _seed(params: Mapping[str, Any], *parts: object) -> tuple[int, str]:
        """The seed to render with and the string to report; derived when none is given."""
        given = params.get("seed")
        if isinstance(given, str):
            # int() refuses over ~4300 digits; a hash keeps any digit string usable.
            return (int(given) if len(given) <= 18 else stable_int(given)), given
        seed = derived_seed(*parts)
        return seed, str(seed)

    # -- jobs --------------------------------------------------------------------

    def _create(
        self,
        job_id: str,
        action: str,
        params: Mapping[str, Any],
        mv: str,
        music_ids: list[str],
        new: list[Music],
        *,
        export: str | None = None,
        failure: str | None = None,
        total_s: float | None = None,
    ) -> Job:
        timeline = new_timeline(self.site, total_s)
        job = Job(
            job_id,
            action,
            mv,
            QUOTA.get(action, "0"),
            params.get("hook_url"),
            music_ids,
            timeline,
            timeline.now(),
            time.time(),
            failure or self._trigger(params),
            export,
        )
        with self.lock:
            self.state.jobs[job_id] = job
            for music in new:
                self.state.musics[music.music_id] = music
        return job

    def _music(self, op: OperationSpec, params: dict[str, Any]) -> SandboxResponse:
        prompt = params.get("sound_prompt", "")
        lyrics_text = params.get("lyrics_text", "")
        instrumental = bool(params.get("instrumental", False))
        # Without lyrics TTAPI writes its own; the sandbox does too, from the prompt.
        sung = "" if instrumental else lyrics_text or write_lyrics(prompt)[1]
        seed, seed_text = self._seed(params, "music", prompt, lyrics_text, instrumental)
        seconds = self.site.config.song_seconds
        job_id, music_id = _new_id(), _new_id()
        recipe = Recipe(
            "song",
            prompt=prompt,
            lyrics=sung,
            seed=seed,
            instrumental=instrumental,
            extra_s=seconds,
        )
        mv = params.get("mv", DEFAULT_MODEL)
        music = Music(
            music_id,
            job_id,
            recipe,
            params.get("title"),
            sung,
            seed_text,
            prompt or None,
            seconds,
            mv,
        )
        self._create(job_id, op.id, params, mv, [music_id], [music])
        return _ok({"jobId": job_id})

    def _edit(self, op: OperationSpec, params: dict[str, Any]) -> SandboxResponse:
        """extend, cover, variation, replace and the two swaps: one new take from a parent."""
        parent = self._parent(params["music_id"], op.id)
        prompt = params.get("sound_prompt", "")
        instrumental = bool(params.get("instrumental", False))
        lyrics_text = "" if instrumental else params.get("lyrics_text", "")
        starts = float(params.get("starts", 30.0 if op.id == "extend" else 0.0))
        ends = float(params["ends"]) if "ends" in params else None
        seed, seed_text = self._seed(
            params, op.id, parent.music_id, prompt, lyrics_text, instrumental, starts, ends
        )
        duration = parent.duration_s
        if op.id == "extend":
            duration = min(starts, parent.duration_s) + self.site.config.song_seconds
        elif op.id == "replace":
            end = parent.duration_s if ends is None else min(ends, parent.duration_s)
            if end - starts < _MIN_SPAN_S:
                raise _refuse(
                    f"starts: must be before the end of the take "
                    f"({parent.duration_s:.2f} s, got {starts:g} s)"
                )
        sung = parent.lyrics
        if lyrics_text and op.id == "extend":
            sung = f"{parent.lyrics}\n\n{lyrics_text}".strip()
        elif lyrics_text and op.id == "vocals-swap":
            sung = lyrics_text
        recipe = Recipe(
            op.id,
            parent=parent.music_id,
            prompt=prompt,
            lyrics=lyrics_text,
            seed=seed,
            starts=starts,
            ends=ends,
            extra_s=self.site.config.song_seconds,
        )
        job_id, music_id = _new_id(), _new_id()
        with self.lock:
            parent_title = parent.title  # set by the caller or once the parent was built
        mv = params.get("mv", parent.mv)
        music = Music(
            music_id,
            job_id,
            recipe,
            params.get("title") or parent_title,
            sung,
            seed_text,
            prompt or parent.sound,
            duration,
            mv,
        )
        self._create(job_id, op.id, params, mv, [music_id], [music])
        return _ok({"jobId": job_id})

    def _stems(self, op: OperationSpec, params: dict[str, Any]) -> SandboxResponse:
        parent = self._parent(params["music_id"], op.id)
        job_id = _new_id()
        stems = [
            Music(
                _new_id(),
                job_id,
                Recipe("stem", parent=parent.music_id, stem=name),
                None,
                parent.lyrics,
                parent.seed,
                parent.sound,
                parent.duration_s,
                parent.mv,
            )
            for name in STEM_NAMES
        ]
        self._create(job_id, op.id, params, parent.mv, [m.music_id for m in stems], stems)
        return _ok({"jobId": job_id})

    def _download(self, op: OperationSpec, params: dict[str, Any]) -> SandboxResponse:
        parent = self._parent(params["music_id"], op.id)
        job_id = _new_id()
        # An export is the same take in a file: the entry keeps the take's musicId.
        self._create(
            job_id, op.id, params, parent.mv, [parent.music_id], [], export=params["format"]
        )
        return _ok({"jobId": job_id})

    def _upload(self, op: OperationSpec, params: dict[str, Any]) -> SandboxResponse:
        """Take in audio by URL; offline, only this sandbox's own result links can be read.

        Anything else becomes a job that fails with "could not fetch", as TTAPI's would
        when its fetch of the URL fails.
        """
        job_id, music_id = _new_id(), _new_id()
        url = params["audio_url"]
        data, failure = self._own_media(url)
        recipe: Recipe | None = None
        duration, seed = 0.0, 0
        if data is not None:
            seed = derived_seed("upload", hashlib.sha256(data).hexdigest())
            try:
                audio = decode_audio(data)  # ffmpeg; outside the lock
            except EncodeError as exc:
                failure = f"could not decode audio_url: {exc}"
            else:
                render = upload_render(audio, seed)
                duration, recipe = render.duration_s, Recipe("upload")
                with self.lock:
                    self.state.uploads[music_id] = render
        music = Music(
            music_id, job_id, recipe, "Uploaded audio", "", str(seed), None, duration, DEFAULT_MODEL
        )
        self._create(job_id, op.id, params, DEFAULT_MODEL, [music_id], [music], failure=failure)
        return _ok({"jobId": job_id})

    def _own_media(self, url: str) -> tuple[bytes | None, str | None]:
        """The bytes behind one of this site's media links, or (None, why not)."""
        parts, base = urlsplit(url), urlsplit(self.site.base_url)
        if parts.port != base.port or parts.hostname not in (base.hostname, "localhost"):
            return None, (
                "could not fetch audio_url: the offline sandbox reads only its own result links"
            )
        expires = parse_qs(parts.query).get("X-Expires", [""])[0]
        if expires.isdigit() and time.time() > int(expires):
            return None, "could not fetch audio_url: HTTP 403 (the link has expired)"
        try:
            return self.site.media.data_for(url), None
        except KeyError:
            return None, "could not fetch audio_url: HTTP 404"

    def _lyrics(self, op: OperationSpec, params: dict[str, Any]) -> SandboxResponse:
        """Synchronous: the lyrics come back at once; the job is also fetchable, as TTAPI's is."""
        prompt = params["prompt"]
        if FAIL_TRIGGER in prompt:
            raise _refuse(f"could not write lyrics for this prompt ({FAIL_TRIGGER})")
        title, lyrics = write_lyrics(prompt)
        job_id, music_id = _new_id(), _new_id()
        music = Music(music_id, job_id, None, title, lyrics, None, None, 0.0, DEFAULT_MODEL)
        self._create(job_id, op.id, params, DEFAULT_MODEL, [music_id], [music], total_s=0.0)
        return _ok({"jobId": job_id, "title": title, "lyrics": lyrics})

    def _video(self, op: OperationSpec, params: dict[str, Any]) -> SandboxResponse:
        """Synchronous: a small real MP4 of the take's cover over its audio."""
        parent = self._parent(params["music_id"], op.id)
        preset = params.get("preset", "simple")
        key = (parent.music_id, preset)
        with self.lock:
            link = self.state.videos.get(key)
        if link is None:
            render = render_music(self.site, parent.music_id)
            title = parent.title or render.title
            cover = render_cover_png(render.plan.prompt or title, render.plan.seed, size=256)
            try:
                mp4 = make_video(render.mix, render.sample_rate, cover, preset)
            except EncodeError as exc:
                raise _refuse(f"video generation failed: {exc}", 500) from None
            made = self.site.media.put(mp4, "video/mp4", "mp4", title)
            with self.lock:
                link = self.state.videos.setdefault(key, made)
                self.state.latest_video[parent.music_id] = link
        return _ok({"videoUrl": self.site.media.refresh(link), "status": "complete"})

    def _fetch(self, params: dict[str, Any]) -> SandboxResponse:
        job_id = str(params["jobId"]).strip()
        with self.lock:
            job = self.state.jobs.get(job_id)
        if job is None:
            raise _refuse(f"job not found: {job_id}", 404)
        if job.timeline.since(job.created_at).finished:
            ensure_built(self.site, job)  # renders on first sight; outside the lock
        return json_response(job_body(self.site, job))


def _new_id() -> str:
    return str(uuid.uuid4())
