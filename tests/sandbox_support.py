"""Running one imitated engine for a test, and driving it through the real client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from studio.core.remote import RemoteStatus
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


# Retries in tests wait milliseconds, not the real policy's seconds.
FAST_BACKOFF = Backoff(base=0.01, cap=0.05, max_attempts=3)


def client_for(
    site: EngineSite,
    credentials: Mapping[str, str] | None = None,
    *,
    timeout: httpx.Timeout | None = None,
    clock: Callable[[], float] = time.time,
) -> EngineClient:
    """The studio's real engine client, pointed at the sandbox site (create it on the loop).

    ``timeout`` replaces the client's default timeouts (a short read timeout
    loses an answer fast); ``clock`` is the time tokens are signed with.
    """
    given = dict(credentials or sandbox_credentials(site.engine_id))
    return EngineClient(
        create_adapter(site.engine_id),
        site.base_url,
        lambda: given,
        backoff=FAST_BACKOFF,
        timeout=timeout,
        clock=clock,
    )


def short_read(read_s: float) -> httpx.Timeout:
    """Timeouts whose read timeout is ``read_s`` (the client's default is 60 s)."""
    return httpx.Timeout(5.0, read=read_s)


async def poll_until_final(
    client: EngineClient,
    operation: str,
    remote_id: str,
    *,
    timeout_s: float = 10.0,
    interval_s: float = 0.02,
) -> RemoteStatus:
    """Poll as the task engine would until the job's state is final; bounded in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await client.poll(operation, remote_id)
        if found.state.is_final:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{operation} {remote_id} did not finish in {timeout_s} s: {found}"
            )
        await asyncio.sleep(interval_s)


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine on a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
