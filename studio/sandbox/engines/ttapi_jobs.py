"""The TTAPI imitation's memory: jobs, takes (musics), and their audio, made lazily.

Qt-free. One :class:`TtapiState` lives in ``site.server.state["ttapi"]``; every read or
write of it holds ``site.server.lock``. Handlers call these functions on server
connection threads, several at once. Audio is rendered the first time a finished job
is fetched; synthesis and encoding run *outside* the server lock (they take tenths of
a second), and each job's one-time build is serialised by its own ``build_lock`` so two
polls of the same job never render it twice while other jobs carry on.

A take is remembered as a :class:`Recipe` (what to render from what), not as samples:
renders sit in a small LRU cache and are recomputed on demand, which is cheap and
exact because the synth is deterministic. Only uploads keep their samples.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.sandbox.app import EngineSite
from studio.sandbox.clock import TaskTimeline
from studio.sandbox.synth import (
    STEM_NAMES,
    EncodeError,
    SongRender,
    cover_song,
    encode,
    extend_song,
    render_cover_png,
    render_song,
    replace_section,
    swap_instrumental,
    swap_vocals,
    variation,
)
from studio.sandbox.synth.seeding import stable_int
from studio.sandbox.synth.song import assemble, make_plan

__all__ = [
    "STATES",
    "STATE_KEY",
    "Item",
    "Job",
    "Music",
    "Recipe",
    "TtapiState",
    "derived_seed",
    "ensure_built",
    "job_body",
    "new_timeline",
    "render_music",
    "state_of",
    "upload_render",
]

STATE_KEY = "ttapi"
# TTAPI's words in order; PENDING_QUEUE waits for a slot, ON_QUEUE is "执行中" (running)
# and gets most of the time, as a real job spends it generating.
STATES = ("PENDING_QUEUE", "ON_QUEUE", "SUCCESS")
_WEIGHTS = (1.0, 3.0)
# Renders of ~30 s songs are ~50 MB of float32 each (four stems and the mix).
_RENDER_CACHE = 12
_COVER_SIZE = 256


@dataclass(frozen=True)
class Recipe:
    """How to render a take: ``kind`` is a song, an edit of ``parent``, a stem or an upload."""

    kind: str
    parent: str | None = None
    prompt: str = ""
    lyrics: str = ""
    seed: int = 0
    instrumental: bool = False
    starts: float = 0.0
    ends: float | None = None
    extra_s: float = 0.0
    stem: str = ""


@dataclass
class Music:
    """One take (``musicId``). ``recipe`` None means text only (a lyrics job).

    ``title`` is the caller's title, or filled from the render once built.
    ``duration_s`` is known at submit time, so edits can check their spans at once.
    """

    music_id: str
    job_id: str
    recipe: Recipe | None
    title: str | None
    lyrics: str
    seed: str | None
    sound: str | None
    duration_s: float
    mv: str


@dataclass
class Item:
    """One built ``musics[]`` entry: plain fields and the media links (refreshed per fetch)."""

    music_id: str
    fields: dict[str, Any]
    audio_url: str | None = None
    image_url: str | None = None


@dataclass
class Job:
    """One job as the fetch endpoint reports it.

    ``failure`` set at submit is revealed when the timeline ends (the job "runs" first);
    a build error sets it too. ``export`` is the format of a download job.
    """

    job_id: str
    action: str
    mv: str
    quota: str
    hook_url: str | None
    music_ids: list[str]
    timeline: TaskTimeline
    created_at: float
    created_wall: float
    failure: str | None = None
    export: str | None = None
    items: list[Item] | None = None
    build_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class TtapiState:
    """Everything the imitation remembers; guarded by ``site.server.lock``."""

    jobs: dict[str, Job] = field(default_factory=dict)
    musics: dict[str, Music] = field(default_factory=dict)
    renders: OrderedDict[str, SongRender] = field(default_factory=OrderedDict)
    uploads: dict[str, SongRender] = field(default_factory=dict)
    # (musicId, preset) -> video link; the take's fetch shows the latest as videoUrl.
    videos: dict[tuple[str, str], str] = field(default_factory=dict)
    latest_video: dict[str, str] = field(default_factory=dict)


def state_of(site: EngineSite) -> TtapiState:
    """The site's state object, made by ``install``. Any thread; read or change what it
    holds only under ``site.server.lock``."""
    state: TtapiState = site.server.state[STATE_KEY]
    return state


def new_timeline(site: EngineSite, total_s: float | None = None) -> TaskTimeline:
    """A timeline over the configured task time (read now, so tests may change it)."""
    seconds = site.config.task_seconds if total_s is None else total_s
    return TaskTimeline(max(0.0, seconds), STATES, weights=_WEIGHTS)


# --------------------------------------------------------------------------- rendering


def upload_render(audio: np.ndarray, seed: int) -> SongRender:
    """An uploaded file as a take: all of it in the "other" stem, a plan for its length.

    The plan (tempo, key, form) is what edits continue in; the stems still sum to the mix.
    Any thread.
    """
    duration = audio.shape[1] / 44100
    plan = make_plan(
        "uploaded audio", "", seed, duration_s=duration, sample_rate=44100, instrumental=True
    )
    silent = np.zeros_like(audio, dtype=np.float32)
    stems = {name: (audio if name == "other" else silent) for name in STEM_NAMES}
    return assemble(stems, plan)


def render_music(site: EngineSite, music_id: str) -> SongRender:
    """The samples of a take, from the cache or rendered now (outside the lock).

    Runs on a connection thread. Two threads may render the same take at once; the
    synth is deterministic, so whichever result is cached first is the same audio.

    Raises:
        KeyError: no such take, or it has no audio (a lyrics job).
    """
    state = state_of(site)
    with site.server.lock:
        if music_id in state.uploads:
            return state.uploads[music_id]
        cached = state.renders.get(music_id)
        if cached is not None:
            state.renders.move_to_end(music_id)
            return cached
        recipe = state.musics[music_id].recipe
    if recipe is None:
        raise KeyError(f"{music_id} has no audio")
    render = _compute(site, recipe)
    with site.server.lock:
        kept = state.renders.setdefault(music_id, render)
        while len(state.renders) > _RENDER_CACHE:
            state.renders.popitem(last=False)
    return kept


def _compute(site: EngineSite, recipe: Recipe) -> SongRender:
    """Render ``recipe`` (its parent first, from the cache when it is there)."""
    if recipe.kind == "song":
        return render_song(
            recipe.prompt,
            recipe.lyrics,
            recipe.seed,
            duration_s=recipe.extra_s,
            instrumental=recipe.instrumental,
        )
    assert recipe.parent is not None, recipe
    parent = render_music(site, recipe.parent)
    kind, seed = recipe.kind, recipe.seed
    if kind == "extend":
        return extend_song(parent, recipe.starts, seed, recipe.extra_s, lyrics=recipe.lyrics)
    if kind == "cover":
        return cover_song(parent, recipe.prompt or parent.plan.prompt, seed)
    if kind == "variation":
        return variation(parent, seed)
    if kind == "replace":
        ends = parent.duration_s if recipe.ends is None else min(recipe.ends, parent.duration_s)
        return replace_section(parent, recipe.starts, ends, seed, lyrics=recipe.lyrics)
    if kind == "vocals-swap":
        return swap_vocals(parent, seed, lyrics=recipe.lyrics)
    if kind == "instrumentals-swap":
        return swap_instrumental(parent, seed, prompt=recipe.prompt)
    if kind == "stem":
        silent = np.zeros_like(parent.mix)
        return assemble(
            {name: parent.stems[name] if name == recipe.stem else silent for name in STEM_NAMES},
            parent.plan,
        )
    raise ValueError(f"unknown recipe kind {kind!r}")


# --------------------------------------------------------------------------- building


def ensure_built(site: EngineSite, job: Job) -> None:
    """Render and encode a finished job's takes once, and put them in the media store.

    Runs on a connection thread, outside the server lock; ``job.build_lock`` keeps a
    second poll of the same job waiting rather than rendering it again. A take that
    cannot be made (an upload ffmpeg cannot read) fails the job with a message.
    """
    with job.build_lock:
        with site.server.lock:
            if job.items is not None or job.failure is not None:
                return
            musics = [state_of(site).musics[mid] for mid in job.music_ids]
        try:
            items = [_build_item(site, job, music) for music in musics]
        except (EncodeError, ValueError, KeyError) as exc:
            with site.server.lock:
                job.failure = f"generation failed: {exc}"
            return
        with site.server.lock:
            job.items = items


def _build_item(site: EngineSite, job: Job, music: Music) -> Item:
    """One take's entry: render, encode, cover. Outside the lock (CPU and ffmpeg)."""
    if music.recipe is None:  # lyrics: text only, the media fields stay null
        return Item(music.music_id, _fields(job, music, music.title, None))
    render = render_music(site, music.music_id)
    title = music.title or render.title
    if music.recipe.kind == "stem" and music.title is None and music.recipe.parent:
        with site.server.lock:
            base = state_of(site).musics[music.recipe.parent].title
        # The adapter finds each stem by this suffix (providers.md: inferred shape).
        title = f"{base or render.title} ({music.recipe.stem.capitalize()})"
    if music.recipe.kind == "stem":
        audio = render.stems[music.recipe.stem]
        fmt = "wav"  # stems are for editing: lossless, so they add up to the mix exactly
    else:
        audio, fmt = render.mix, job.export or "mp3"
    data = encode(audio, render.sample_rate, fmt)
    content_type = "audio/wav" if fmt == "wav" else "audio/mpeg"
    audio_url = site.media.put(data, content_type, fmt, title)
    cover = render_cover_png(render.plan.prompt or title, render.plan.seed, size=_COVER_SIZE)
    image_url = site.media.put(cover, "image/png", "png", title)
    with site.server.lock:
        music.title = title
    return Item(music.music_id, _fields(job, music, title, render.duration_s), audio_url, image_url)


def _fields(job: Job, music: Music, title: str | None, duration: float | None) -> dict[str, Any]:
    created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(job.created_wall))
    millis = int(job.created_wall * 1000) % 1000
    return {
        "title": title,
        "lyrics": music.lyrics,
        "imageId": None,
        "topic": None,
        "sound": music.sound,
        "seed": music.seed,
        # TTAPI sends numbers as strings.
        "durations": None if duration is None else f"{duration:.2f}",
        "createdAt": f"{created}.{millis:03d}Z",
    }


_NULL_ITEM = (
    "title",
    "lyrics",
    "imageUrl",
    "audioUrl",
    "videoUrl",
    "imageId",
    "topic",
    "sound",
    "seed",
    "durations",
    "createdAt",
)


def job_body(site: EngineSite, job: Job) -> dict[str, Any]:
    """The fetch answer for ``job`` as of now (providers.md §1 "Fetch body").

    Runs on a connection thread; takes the server lock itself. Media links are
    re-signed on every fetch, so fetching again is how a client replaces an expired link.
    """
    point = job.timeline.since(job.created_at)
    with site.server.lock:
        failure, items = job.failure, job.items
        latest_video = dict(state_of(site).latest_video)
    if point.finished and failure is not None:
        word, message, progress, quota, musics = "FAILED", failure, None, "0", None
    elif point.finished and items is not None:
        word, message, progress, quota = "SUCCESS", "success", "100%", job.quota
        musics = [_item_json(site, item, latest_video) for item in items]
    else:
        # Not finished, or finished but not built yet (the caller builds first; this
        # branch only shows a job whose build is still running on another thread).
        word = STATES[min(point.index, 1)]
        message, quota = None, job.quota
        progress = f"{min(int(point.progress * 100), 99)}%"
        musics = [{"musicId": mid, **dict.fromkeys(_NULL_ITEM)} for mid in job.music_ids]
    return {
        "status": word,
        "message": message,
        "jobId": job.job_id,
        "data": {
            "jobId": job.job_id,
            "action": job.action,
            "progress": progress,
            "mv": job.mv,
            "quota": quota,
            "hookUrl": job.hook_url,
            "musics": musics,
        },
    }


def _item_json(site: EngineSite, item: Item, videos: dict[str, str]) -> dict[str, Any]:
    video = videos.get(item.music_id)
    return {
        "musicId": item.music_id,
        "title": item.fields["title"],
        "lyrics": item.fields["lyrics"],
        "imageUrl": site.media.refresh(item.image_url) if item.image_url else None,
        "audioUrl": site.media.refresh(item.audio_url) if item.audio_url else None,
        "videoUrl": site.media.refresh(video) if video else None,
        **{
            k: item.fields[k]
            for k in ("imageId", "topic", "sound", "seed", "durations", "createdAt")
        },
    }


def derived_seed(*parts: object) -> int:
    """A seed for a request that names none: a hash of what it asks for.

    So the same request gives the same audio, as the sandbox promises; the answer
    reports it as the take's ``seed``.
    """
    return stable_int("ttapi-seed", *parts) % 2**31
