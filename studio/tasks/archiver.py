"""Archive a finished task's results: every file, at once, under safe, unique names.

Qt-free. :meth:`Archiver.archive` runs on the asyncio loop of the thread that
owns the library (qasync's loop on the GUI thread, the CLI's main loop): the
database writes are short and stay on that thread (sqlite3's same-thread check);
the downloader moves hashing, validation and fsync to worker threads, and lyrics
are written in one. Nothing here touches Qt.

Order of work, so that a crash at any point loses nothing (faults D1–D9):

1. every output's take row is created (or found again: same task and remote id)
   *before* any download, so prompt, lyrics, seed and raw JSON survive even when
   every link is dead;
2. each take's files download concurrently (bounded) through the resumable,
   validated downloader into ``<archive>/<engine>/<title>[ - <stem>].<ext>``; a
   file row is recorded the moment its file has its final name;
3. a dead link asks the engine once for fresh links (``refresh``), then the file
   is declared expired, its remote row kept;
4. the take's ``archive_state`` says how much is local.

Running it again for the same task skips what is already recorded and on disk,
resumes a leftover ``.part`` (same name, same order) and never duplicates a take.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import posixpath
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from studio.core.remote import RemoteStatus, TakeOutput
from studio.library.takes import ArchiveState, FileKind, Take, TakeFile, TakeStore
from studio.library.timestamps import utc_now
from studio.logs import redact
from studio.net.client import make_download_client
from studio.net.download import DownloadResult, download
from studio.net.errors import (
    DiskError,
    DownloadIncompleteError,
    LinkExpiredError,
    RangeMismatchError,
    TransportError,
)
from studio.net.partfile import disk_error, part_paths, publish, remove, sync_close, write_all
from studio.tasks.naming import name_key, safe_file_stem, unique_path

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ArchiveOutcome",
    "ArchiveRequest",
    "Archiver",
]

log = logging.getLogger(__name__)

# A long 24-bit WAV is a few hundred MB and a video more; an endless body stops here.
DEFAULT_MAX_BYTES = 2 << 30
# Per take: the engines' CDNs throttle parallel fetches, and 3 keeps a slow stem
# from holding up the mix while not opening a connection per stem.
DEFAULT_CONCURRENCY = 3
# A cut body is resumed at once this many times before it is left for a re-run.
_RESUME_RETRIES = 2
# A name taken between choosing it and publishing (another process) is re-chosen.
_NAME_RETRIES = 3

_TITLE_KEYS = ("title",)
_PROMPT_KEYS = ("prompt", "gpt_description_prompt", "sound_prompt", "soundPrompt", "text")
_LYRICS_KEYS = ("lyrics",)
_MODEL_KEYS = ("model", "mv", "model_name", "modelName")
_VIDEO_FORMATS = frozenset({"mp4", "m4v", "mov", "webm", "mkv"})
# What sniffing found → the extensions that fit it (first is the one to use).
_EXT_FOR_DETECTED: dict[str, tuple[str, ...]] = {
    "mp3": ("mp3",),
    "WAV": ("wav", "wave"),
    "FLAC": ("flac",),
    "Ogg": ("ogg", "opus", "oga"),
    "M4A": ("m4a", "mp4", "aac"),
    "AAC": ("aac", "m4a"),
    "MP4": ("mp4", "m4a", "m4v", "mov"),
    "MP4 video": ("mp4", "m4v", "mov"),
    "WebM/Matroska": ("webm", "mkv", "weba"),
    "PNG image": ("png",),
    "JPEG image": ("jpg", "jpeg"),
    "WebP image": ("webp",),
}
_DEFAULT_EXT: dict[FileKind, str] = {
    "audio": "mp3", "stem": "mp3", "cover": "jpg", "video": "mp4", "lyrics": "txt",
    "export": "bin",
}  # fmt: skip

Refresh = Callable[[], Awaitable[RemoteStatus]]
ClientFactory = Callable[[], httpx.AsyncClient]
AudioValidator = Callable[[Path], None]


@dataclass(frozen=True)
class ArchiveRequest:
    """What the ledger knows about the task whose results are archived.

    Attributes:
        engine: engine id ("ttapi"…), also the archive sub-folder.
        operation: the engine operation ("music"…).
        task_id: the ledger row; None for results not from a task (then takes are
            not deduplicated by the database).
        params: the request's parameters, copied to each take.
        parent_take_id: the take this task extended/covered, if any.
        title: fallback title when an output has none.
        prompt: the prompt, kept with each take.
        lyrics: fallback lyrics when an output has none.
        model: the model/version used, if known.
    """

    engine: str
    operation: str
    task_id: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    parent_take_id: int | None = None
    title: str = ""
    prompt: str = ""
    lyrics: str = ""
    model: str | None = None

    @classmethod
    def from_params(
        cls,
        *,
        engine: str,
        operation: str,
        params: Mapping[str, Any],
        task_id: int | None = None,
        parent_take_id: int | None = None,
    ) -> ArchiveRequest:
        """Build a request, reading title/prompt/lyrics/model from the engine's fields.

        The field names are the engines' own (providers.md): ``title``, ``prompt``,
        ``gpt_description_prompt``, ``sound_prompt``/``soundPrompt``, ``text``,
        ``lyrics``, ``model``/``mv``.
        """

        def first(keys: tuple[str, ...]) -> str:
            for key in keys:
                value = params.get(key)
                if isinstance(value, str) and value.strip():
                    return value
            return ""

        return cls(
            engine=engine,
            operation=operation,
            task_id=task_id,
            params=dict(params),
            parent_take_id=parent_take_id,
            title=first(_TITLE_KEYS),
            prompt=first(_PROMPT_KEYS),
            lyrics=first(_LYRICS_KEYS),
            model=first(_MODEL_KEYS) or None,
        )


@dataclass
class ArchiveOutcome:
    """What one :meth:`Archiver.archive` run achieved.

    Attributes:
        take_ids: every take of the task (created now or found again), in output order.
        files_archived: files downloaded (or written) by this run.
        files_kept: files already on disk from an earlier run, skipped.
        expired: "title: file" for each file whose link died (metadata kept).
        errors: user-facing messages, one per problem; already redacted.
        disk_error: set when writing failed (disk full, read-only, not a folder):
            archiving stopped; the caller should move the task to needs_attention.
        states: each take's archive_state after this run.
    """

    take_ids: list[int] = field(default_factory=list)
    files_archived: int = 0
    files_kept: int = 0
    expired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    disk_error: str | None = None
    states: dict[int, ArchiveState] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every file of every take is on disk and nothing went wrong."""
        return (
            not self.errors
            and not self.expired
            and self.disk_error is None
            and all(state == "archived" for state in self.states.values())
        )


@dataclass(frozen=True)
class _Planned:
    """One file an output offers."""

    kind: FileKind
    fmt: str | None  # the engine's format key (audio), the export format, or None
    url: str | None  # None for lyrics, which are written from text
    label: str  # user-facing: "mp3 audio", "stem “vocals”"…
    stem_name: str | None = None
    text: str | None = None


@dataclass
class _TakeRun:
    """The state of archiving one take (on the loop)."""

    take: Take
    index: int
    title: str  # user-facing
    name_stem: str  # safe file stem from the title
    folder: Path
    client: httpx.AsyncClient
    refresher: _Refresher
    local: int = 0
    expired: int = 0
    vanished: int = 0


class _Refresher:
    """Asks the engine for fresh links at most once per archive run (on the loop)."""

    def __init__(self, refresh: Refresh | None) -> None:
        self._refresh = refresh
        self._lock = asyncio.Lock()
        self._done = False
        self._status: RemoteStatus | None = None
        self.error: str | None = None

    async def status(self) -> RemoteStatus | None:
        if self._refresh is None:
            return None
        # Several files of a take expire together; the lock makes them share one call.
        async with self._lock:
            if not self._done:
                try:
                    self._status = await self._refresh()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # The engine's error text can quote a URL; redact before keeping it.
                    self.error = redact(f"Could not get fresh links from the engine: {exc}")
                    log.warning("%s", self.error)
                self._done = True
        return self._status


def _plan(output: TakeOutput, lyrics: str) -> list[_Planned]:
    """Every file the output offers, in a fixed order (so a re-run picks the same names)."""
    planned: list[_Planned] = []
    for fmt, url in output.audio_urls.items():
        if url:
            planned.append(_Planned("audio", fmt, url, f"{fmt} audio"))
    for name, url in output.stems.items():
        if url:
            planned.append(_Planned("stem", None, url, f"stem “{name}”", stem_name=name))
    if output.image_url:
        planned.append(_Planned("cover", None, output.image_url, "cover image"))
    if output.video_url:
        planned.append(_Planned("video", None, output.video_url, "video"))
    if output.download_url:
        export = output.download_format
        label = f"download ({export})" if export else "download"
        planned.append(_Planned("export", export, output.download_url, label))
    if lyrics.strip():
        planned.append(_Planned("lyrics", "txt", None, "lyrics", text=lyrics))
    return planned


def _existing(
    planned: _Planned, files: list[TakeFile], stems: dict[str, TakeFile]
) -> TakeFile | None:
    """The row recorded for ``planned`` by an earlier run, if any."""
    if planned.kind == "stem":
        return stems.get(planned.stem_name or "")
    for row in files:
        if row.kind != planned.kind:
            continue
        # A take has one mix per format; cover, video, export and lyrics are one each.
        if planned.kind == "audio" and row.format != _format_key(planned.fmt):
            continue
        return row
    return None


def _format_key(fmt: str | None) -> str | None:
    """The engine's format key as the files table stores it (and a re-run matches it)."""
    if not fmt:
        return None
    return re.sub(r"[^a-z0-9_]", "", fmt.lower())[:16] or None


def _plain_ext(text: str | None) -> str | None:
    if not text:
        return None
    ext = text.strip().lower().removeprefix(".")
    return ext if ext.isascii() and ext.isalnum() and len(ext) <= 10 else None


def _url_ext(url: str | None) -> str | None:
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    return _plain_ext(posixpath.splitext(path)[1])


def _ext_for(planned: _Planned) -> str:
    if planned.kind in ("audio", "export"):
        return _plain_ext(planned.fmt) or _url_ext(planned.url) or _DEFAULT_EXT[planned.kind]
    return _url_ext(planned.url) or _DEFAULT_EXT[planned.kind]


def _expected_kinds(planned: _Planned) -> frozenset[str]:
    if planned.kind == "cover":
        return frozenset({"image"})
    if planned.kind == "video":
        return frozenset({"video"})
    if planned.kind == "export":
        return frozenset({"audio", "video"})
    return frozenset({"audio"})


def _fresh_url(status: RemoteStatus | None, run: _TakeRun, planned: _Planned) -> str | None:
    """The same file's link in a re-fetched status: same output (remote id), same slot."""
    if status is None:
        return None
    output: TakeOutput | None = None
    if run.take.remote_id is not None:
        output = next((o for o in status.outputs if o.remote_id == run.take.remote_id), None)
    elif run.index < len(status.outputs):
        output = status.outputs[run.index]
    if output is None:
        return None
    if planned.kind == "audio":
        return output.audio_urls.get(planned.fmt or "")
    if planned.kind == "stem":
        return output.stems.get(planned.stem_name or "")
    if planned.kind == "cover":
        return output.image_url
    if planned.kind == "video":
        return output.video_url
    if planned.kind == "export":
        return output.download_url
    return None


def _write_text_file(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` through a ``.part`` (worker thread; no database)."""
    part, meta = part_paths(dest)
    try:
        fd = os.open(
            part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600
        )
    except OSError as exc:
        raise disk_error(part, exc, part) from exc
    try:
        write_all(fd, data)
    except OSError as exc:
        os.close(fd)
        raise disk_error(part, exc, part) from exc
    try:
        sync_close(fd)
        publish(part, dest)
    except FileExistsError:
        remove(part)
        raise
    except OSError as exc:
        raise disk_error(dest, exc, part) from exc
    remove(meta)


class _Failure(Exception):
    """One file could not be archived (not a disk error); the message is user-facing."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.expired = expired


class Archiver:
    """Downloads every output of finished tasks into the archive folder.

    Create and use it on the asyncio loop of the library's thread.

    Args:
        takes: the take repository (same thread as the loop).
        archive_dir: the archive root; files go to ``<archive_dir>/<engine>/``.
        download_client_factory: builds a credential-free download client; one
            per :meth:`archive` call, closed at its end.
        max_bytes: the largest file accepted.
        read_timeout: the longest wait for any single read (slow drip, D7).
        overall_deadline: the longest one file may take, in seconds.
        validate_audio: checks a downloaded audio file (decode, duration) in a
            worker thread; raising rejects the file (D2).
        concurrency: parallel downloads per take.
    """

    def __init__(
        self,
        takes: TakeStore,
        archive_dir: Path,
        download_client_factory: ClientFactory = make_download_client,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        read_timeout: float = 30.0,
        overall_deadline: float = 3600.0,
        validate_audio: AudioValidator | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._takes = takes
        # Absolute: rows record absolute paths, whatever the working directory later.
        self._archive_dir = Path(archive_dir).absolute()
        self._client_factory = download_client_factory
        self._max_bytes = max_bytes
        self._read_timeout = read_timeout
        self._overall_deadline = overall_deadline
        self._validate_audio = validate_audio
        self._concurrency = concurrency
        # Destinations of downloads in flight, per folder (name keys): two files
        # titled alike must not both pick "Song.mp3" before either exists (D9).
        self._in_flight: dict[Path, set[str]] = {}

    async def archive(
        self,
        task: ArchiveRequest,
        status: RemoteStatus,
        *,
        refresh: Refresh | None = None,
    ) -> ArchiveOutcome:
        """Archive every output of ``status`` for ``task``; safe to run again.

        Runs on the loop; returns when every file is local, failed or expired, or
        at the first disk error. Cancelling keeps every ``.part`` for a re-run.

        Args:
            task: what the ledger knows about the task.
            status: the engine's successful answer with the outputs.
            refresh: re-fetches the task for fresh links (called at most once);
                None when the engine cannot give new links.

        Returns:
            The outcome; ``complete`` is True only when everything is local.
        """
        outcome = ArchiveOutcome()
        runs_takes = self._takes_for(task, status)
        outcome.take_ids = [take.id for take, _ in runs_takes]
        for take, _ in runs_takes:
            outcome.states[take.id] = take.archive_state
        if not runs_takes:
            return outcome
        folder = self._archive_dir / safe_file_stem(task.engine, fallback="engine")
        refresher = _Refresher(refresh)
        try:
            await asyncio.to_thread(self._make_folder, folder)
        except DiskError as exc:
            outcome.disk_error = exc.message
            outcome.errors.append(f"Archiving stopped: {exc.message}")
            return outcome
        async with self._client_factory() as client:
            for index, (take, output) in enumerate(runs_takes):
                title = take.title or task.title
                run = _TakeRun(
                    take=take,
                    index=index,
                    title=title or take.remote_id or f"take {take.id}",
                    name_stem=safe_file_stem(title, fallback=take.remote_id or "take"),
                    folder=folder,
                    client=client,
                    refresher=refresher,
                )
                stopped = await self._archive_take(run, output, take.lyrics, outcome)
                if stopped:
                    break
        if refresher.error is not None:
            outcome.errors.append(refresher.error)
        return outcome

    # -- takes ---------------------------------------------------------------

    def _takes_for(
        self, task: ArchiveRequest, status: RemoteStatus
    ) -> list[tuple[Take, TakeOutput]]:
        """Find or create every output's take, all in one transaction, before any download."""
        outputs = list(status.outputs)
        existing = self._takes.takes_for_task(task.task_id) if task.task_id is not None else []
        by_remote = {t.remote_id: t for t in existing if t.remote_id is not None}
        # Outputs without a remote id are not deduplicated by the schema (NULLs are
        # distinct); match them to this task's id-less takes in output order.
        anonymous = [t for t in existing if t.remote_id is None]
        cost = status.cost if len(outputs) == 1 else None  # a task's cost, not per take
        result: list[tuple[Take, TakeOutput]] = []
        seen: set[str] = set()
        with self._takes.library.transaction():
            for output in outputs:
                found: Take | None
                if output.remote_id is not None:
                    if output.remote_id in seen:
                        continue  # an engine listing one result twice: archive it once
                    seen.add(output.remote_id)
                    found = by_remote.get(output.remote_id)
                else:
                    found = anonymous.pop(0) if anonymous else None
                if found is None:
                    found = self._takes.add_take(
                        engine=task.engine,
                        operation=task.operation,
                        task_id=task.task_id,
                        model=task.model,
                        remote_id=output.remote_id,
                        parent_take_id=task.parent_take_id,
                        title=output.title or task.title,
                        prompt=task.prompt,
                        lyrics=output.lyrics or task.lyrics,
                        params=task.params,
                        seed=output.seed,
                        duration_s=output.duration_s,
                        cost=cost,
                        raw_json=output.raw,
                        image_url=output.image_url,
                    )
                result.append((found, output))
        return result

    @staticmethod
    def _make_folder(folder: Path) -> None:
        """Create the engine folder (worker thread)."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
        except OSError as exc:
            cause = exc.strerror or type(exc).__name__
            raise DiskError(
                f"Cannot create the archive folder {folder}: {cause}",
                path=str(folder),
                errno=exc.errno,
            ) from exc

    async def _archive_take(
        self, run: _TakeRun, output: TakeOutput, lyrics: str, outcome: ArchiveOutcome
    ) -> bool:
        """Download the take's files concurrently; return True when a disk error stopped it."""
        files = self._takes.files_for(run.take.id)
        stems = self._takes.stems_for(run.take.id)
        planned = _plan(output, lyrics)
        todo: list[tuple[_Planned, TakeFile | None]] = []
        for item in planned:
            row = _existing(item, files, stems)
            if row is not None and row.local_path is not None:
                if row.local_path.is_file():
                    run.local += 1
                    outcome.files_kept += 1
                    continue
                run.vanished += 1  # recorded but deleted since: fetch it again
            todo.append((item, row))
        limit = asyncio.Semaphore(self._concurrency)
        stopped = False

        async def one(item: _Planned, row: TakeFile | None) -> None:
            async with limit:
                await self._archive_file(run, item, row, outcome)

        # Local text first and alone: a worker-thread write cancelled by a sibling's
        # disk error would finish anyway and leave a file with no row.
        local = [(item, row) for item, row in todo if item.kind == "lyrics"]
        remote = [(item, row) for item, row in todo if item.kind != "lyrics"]
        try:
            for item, row in local:
                await one(item, row)
        except DiskError as exc:
            stopped = self._stop(outcome, exc)
        if not stopped:
            try:
                async with asyncio.TaskGroup() as group:
                    for item, row in remote:
                        group.create_task(one(item, row))
            except* DiskError as caught:
                stopped = self._stop(outcome, caught.exceptions[0])
        state = self._state_of(run, len(planned))
        self._takes.set_archive_state(run.take.id, state)
        outcome.states[run.take.id] = state
        return stopped

    @staticmethod
    def _stop(outcome: ArchiveOutcome, exc: BaseException) -> bool:
        message = exc.message if isinstance(exc, DiskError) else str(exc)
        outcome.disk_error = message
        outcome.errors.append(f"Archiving stopped: {message}")
        log.warning("archiving stopped: %s", message)
        return True

    @staticmethod
    def _state_of(run: _TakeRun, planned: int) -> ArchiveState:
        if run.local == planned:
            return "archived"
        if run.local > 0:
            return "partial"
        if run.expired:
            return "expired"
        if run.vanished:
            return "missing"
        return "pending"

    # -- files ---------------------------------------------------------------

    async def _archive_file(
        self, run: _TakeRun, item: _Planned, row: TakeFile | None, outcome: ArchiveOutcome
    ) -> None:
        """Fetch one file and record it; failures are recorded, disk errors propagate."""
        try:
            if item.kind == "lyrics":
                path, size, digest, url = await self._write_lyrics(run, item)
            else:
                result, url = await self._download(run, item)
                path, size, digest = await self._fix_extension(run, item, result)
        except _Failure as failure:
            if failure.expired:
                run.expired += 1
                outcome.expired.append(f"{run.title}: {item.label}")
            outcome.errors.append(failure.message)
            if row is None:
                # Keep the knowledge that this file existed, and where (unsigned).
                kept = self._takes.add_file(
                    run.take.id, item.kind, self._format_of(item, None), item.url
                )
                if item.stem_name is not None:
                    self._takes.add_stem(run.take.id, item.stem_name, kept.id)
            return
        now = utc_now()
        if row is not None:
            recorded = self._takes.record_download(
                row.id, local_path=path, size_bytes=size, sha256=digest, downloaded_at=now,
                remote_url=url,
            )  # fmt: skip
        else:
            recorded = self._takes.add_file(
                run.take.id, item.kind, self._format_of(item, path), url, path, size, digest, now
            )
        if item.stem_name is not None:
            self._takes.add_stem(run.take.id, item.stem_name, recorded.id)
        run.local += 1
        outcome.files_archived += 1

    @staticmethod
    def _format_of(item: _Planned, path: Path | None) -> str | None:
        # The audio format is the engine's key (what a re-run matches on); other
        # kinds record what the file turned out to be.
        if item.kind == "audio":
            return _format_key(item.fmt)
        if path is not None:
            return _plain_ext(path.suffix)
        return _plain_ext(item.fmt) or _url_ext(item.url)

    def _name_stem(self, run: _TakeRun, item: _Planned) -> str:
        if item.kind == "stem":
            return f"{run.name_stem} - {safe_file_stem(item.stem_name or '', fallback='stem')}"
        if item.kind == "export":
            # The export often has the same format as the mix; keep them apart by name.
            return f"{run.name_stem} - export"
        return run.name_stem

    def _reserve(self, run: _TakeRun, stem: str, ext: str) -> Path:
        """Choose a free name and hold it until the download ends (on the loop)."""
        held = self._in_flight.setdefault(run.folder, set())
        taken = held | {name_key(n) for n in self._takes.recorded_names(run.folder)}
        dest = unique_path(run.folder, stem, ext, taken=taken)
        held.add(name_key(dest.name))
        return dest

    def _release(self, run: _TakeRun, dest: Path) -> None:
        self._in_flight.get(run.folder, set()).discard(name_key(dest.name))

    async def _download(self, run: _TakeRun, item: _Planned) -> tuple[DownloadResult, str]:
        """Download ``item`` with one link refresh and a few resumes; raise _Failure."""
        url = item.url or ""
        refreshed = False
        resumes = _RESUME_RETRIES
        names = _NAME_RETRIES
        validate = self._validate_audio
        if item.kind in ("cover", "video") or (
            item.kind == "export" and (_plain_ext(item.fmt) or "") in _VIDEO_FORMATS
        ):
            validate = None
        where = f"“{run.title}”: the {item.label}"
        while True:
            dest = self._reserve(run, self._name_stem(run, item), _ext_for(item))
            try:
                result = await download(
                    run.client,
                    url,
                    dest,
                    expected_kinds=_expected_kinds(item),
                    max_bytes=self._max_bytes,
                    read_timeout=self._read_timeout,
                    overall_deadline=self._overall_deadline,
                    validate=validate,
                )
            except LinkExpiredError as exc:
                fresh = None
                if not refreshed:
                    refreshed = True
                    fresh = _fresh_url(await run.refresher.status(), run, item)
                if fresh and fresh != url:
                    log.info("%s link expired; retrying with a fresh link", item.label)
                    url = fresh
                    continue
                raise _Failure(
                    f"{where} could not be downloaded: the link has expired "
                    f"(HTTP {exc.status_code}) and the engine gave no fresh one. "
                    "The take's details are kept.",
                    expired=True,
                ) from exc
            except (DownloadIncompleteError, RangeMismatchError) as exc:
                if resumes > 0:
                    resumes -= 1
                    continue
                raise _Failure(f"{where} could not be downloaded: {exc.message}") from exc
            except FileExistsError as exc:
                # Another program took the name between choosing and publishing.
                if names > 0:
                    names -= 1
                    continue
                raise _Failure(f"{where} could not be saved: {dest} exists") from exc
            except DiskError:
                raise
            except TransportError as exc:
                raise _Failure(f"{where} could not be downloaded: {exc.message}") from exc
            finally:
                self._release(run, dest)
            return result, url

    async def _fix_extension(
        self, run: _TakeRun, item: _Planned, result: DownloadResult
    ) -> tuple[Path, int, str]:
        """Give the file the extension its content has (a PNG cover under .jpg, say)."""
        path = result.path
        fitting = _EXT_FOR_DETECTED.get(result.detected)
        current = path.suffix.removeprefix(".").lower()
        if fitting is None or current in fitting:
            return path, result.size, result.sha256
        dest = self._reserve(run, path.stem, fitting[0])
        try:
            # publish() links then unlinks: it never replaces an existing file.
            await asyncio.to_thread(publish, path, dest)
        except OSError as exc:
            # The content is safe under its first name; a wrong suffix is cosmetic.
            log.debug("kept %s under its first name: %s", path.name, type(exc).__name__)
            return path, result.size, result.sha256
        finally:
            self._release(run, dest)
        return dest, result.size, result.sha256

    async def _write_lyrics(self, run: _TakeRun, item: _Planned) -> tuple[Path, int, str, None]:
        """Write the lyrics as UTF-8 text through a ``.part`` (the write in a worker thread)."""
        data = (item.text or "").encode("utf-8")
        names = _NAME_RETRIES
        while True:
            dest = self._reserve(run, self._name_stem(run, item), "txt")
            try:
                await asyncio.to_thread(_write_text_file, dest, data)
            except FileExistsError as exc:
                if names > 0:
                    names -= 1
                    continue
                raise _Failure(
                    f"“{run.title}”: the lyrics could not be saved: {dest} exists"
                ) from exc
            finally:
                self._release(run, dest)
            return dest, len(data), hashlib.sha256(data).hexdigest(), None
