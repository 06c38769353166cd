"""A task service wired to sandbox engines on loopback, with tiny cadences (no tests here).

Everything is created on the test's own event loop (clients belong to it) and
closed at the end; sandbox servers are started by the test around it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from studio.engines.client import EngineClient
from studio.engines.registry import create_adapter
from studio.library.database import Library, open_library
from studio.library.takes import TakeStore
from studio.net.retry import Backoff
from studio.sandbox.app import EngineSite
from studio.tasks.archive_step import archive_with
from studio.tasks.archiver import Archiver
from studio.tasks.cadence import Cadence, ErrorBackoff, TaskPolicy
from studio.tasks.events import ServiceEvent
from studio.tasks.ledger import TaskLedger
from studio.tasks.service import TaskService
from tests.sandbox_support import sandbox_credentials

FAST_CADENCE = Cadence(first=0.03, growth=1.5, longest=0.15, jitter=0.2)
FAST_POLICY = TaskPolicy(
    cadences={},
    default_cadence=FAST_CADENCE,
    deadlines={},
    default_deadline=timedelta(minutes=5),
    error_backoff=ErrorBackoff(base=0.05, cap=0.3),
    refusal_backoff=ErrorBackoff(base=0.05, cap=0.2),
)


# Transport retries in tests wait milliseconds, not the real policy's seconds.
FAST_BACKOFF = Backoff(base=0.01, cap=0.05, max_attempts=3)


def short_read(read_s: float) -> httpx.Timeout:
    """Timeouts whose read timeout is ``read_s``: an answer slower than that is lost."""
    return httpx.Timeout(5.0, read=read_s)


def client_for(
    site: EngineSite, base_url: str | None = None, timeout: httpx.Timeout | None = None
) -> EngineClient:
    """The studio's real client for a sandbox engine (create it on the test's loop)."""
    given = sandbox_credentials(site.engine_id)
    return EngineClient(
        create_adapter(site.engine_id),
        base_url or site.base_url,
        lambda: given,
        backoff=FAST_BACKOFF,
        timeout=timeout,
    )


def submit_op(engine: str) -> str:
    """The engine's paid submit operation, read from its spec (ids may be renamed)."""
    if engine == "ttapi":
        return "music"
    if engine == "mountsea":
        return "audios"
    return create_adapter(engine).spec.operations[0].id


def submit_path(engine: str) -> str:
    """The sandbox path of that operation, for arming faults on the POST."""
    return create_adapter(engine).spec.operation(submit_op(engine)).path


PARAMS: dict[str, dict[str, Any]] = {
    "ttapi": {"sound_prompt": "dub techno, warm chords", "title": "Dub Study"},
    "mountsea": {"soundPrompt": "dream pop, 100 bpm", "title": "Awake"},
    "kling": {"prompt": "rain on a tin roof", "duration": 3.0},
    "evolink": {"prompt": "Hello there, this is a test."},
}


def posts(site: EngineSite) -> int:
    """How many submit POSTs the sandbox received."""
    return len(site.server.requests("POST", submit_path(site.engine_id)))


@dataclass
class Harness:
    service: TaskService
    ledger: TaskLedger
    takes: TakeStore
    library: Library
    archive_dir: Path
    clients: dict[str, EngineClient]
    events: list[ServiceEvent] = field(default_factory=list)

    def files_of(self, task_id: int) -> list[Path]:
        paths: list[Path] = []
        for take in self.takes.takes_for_task(task_id):
            paths.extend(f.local_path for f in self.takes.files_for(take.id) if f.local_path)
        return paths


@asynccontextmanager
async def harness(
    tmp_path: Path,
    sites: Mapping[str, EngineSite],
    *,
    policy: TaskPolicy = FAST_POLICY,
    clients: Mapping[str, EngineClient] | None = None,
    timeout: httpx.Timeout | None = None,
    start: bool = True,
) -> AsyncIterator[Harness]:
    """A started service over a fresh library; stopped and closed on exit."""
    opened = open_library(tmp_path / "library.sqlite3", tmp_path / "backups")
    library = opened.library
    made = {engine: client_for(site, timeout=timeout) for engine, site in sites.items()}
    made.update(clients or {})
    ledger = TaskLedger(library)
    takes = TakeStore(library)
    archive_dir = tmp_path / "archive"
    archiver = Archiver(takes, archive_dir)
    service = TaskService(
        ledger, made.__getitem__, archive_with(archiver), policy=policy, rng=random.Random(7)
    )
    h = Harness(service, ledger, takes, library, archive_dir, made)
    service.events.subscribe(h.events.append)
    if start:
        service.start()
    try:
        yield h
    finally:
        await service.stop()
        for client in made.values():
            await client.aclose()
        library.close()
