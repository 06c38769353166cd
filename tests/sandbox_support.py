"""Running one imitated engine for a test, and driving it through the real client."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from studio.engines.client import EngineClient
from studio.engines.registry import create_adapter
from studio.net.retry import Backoff
from studio.sandbox.app import EngineSite, SandboxConfig, SandboxCredentials, make_site

T = TypeVar("T")

# Jobs finish almost at once in tests; links live long unless a test shortens them.
FAST = SandboxConfig(task_seconds=0.3, link_ttl_s=600.0, song_seconds=8.0)


@contextmanager
def running_site(engine_id: str, config: SandboxConfig = FAST) -> Iterator[EngineSite]:
    """Start one engine's sandbox server on a free loopback port; stop it afterwards."""
    site = make_site(engine_id, config)
    site.server.start()
    try:
        yield site
    finally:
        site.server.stop()


def sandbox_credentials(engine_id: str, creds: SandboxCredentials | None = None) -> dict[str, str]:
    """The credential fields the studio would send to the sandbox for this engine."""
    return (creds or SandboxCredentials()).fields_for(engine_id)


def client_for(site: EngineSite, credentials: Mapping[str, str] | None = None) -> EngineClient:
    """The studio's real engine client, pointed at the sandbox site (create it on the loop)."""
    given = dict(credentials or sandbox_credentials(site.engine_id))
    fast = Backoff(base=0.01, cap=0.05, max_attempts=3)
    return EngineClient(create_adapter(site.engine_id), site.base_url, lambda: given, backoff=fast)


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine on a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
