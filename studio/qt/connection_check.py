"""Settings' "Test connection": is the address right, and does the engine take the key?

Runs on the qasync loop (GUI thread, awaiting httpx). With a key, it makes a
harmless authenticated read through the engine's own client; without one, it
only checks that the server answers (sending no credentials).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from studio.core.errors import EngineError
from studio.engines.client import EngineClient
from studio.engines.registry import create_adapter
from studio.logs import redact
from studio.net.errors import TransportError


@dataclass(frozen=True)
class ConnectionReport:
    ok: bool
    message: str


async def check_reachable(base_url: str, timeout_s: float = 10.0) -> ConnectionReport:
    """GET the base URL without credentials and describe what answered."""
    host = urlsplit(base_url).netloc
    started = time.perf_counter()
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.get(base_url)
    except httpx.ConnectError as exc:
        return ConnectionReport(False, f"Could not connect to {host}: {redact(str(exc))}")
    except httpx.TimeoutException:
        return ConnectionReport(False, f"{host} did not answer within {timeout_s:.0f} s.")
    except httpx.HTTPError as exc:
        return ConnectionReport(False, f"Talking to {host} failed: {redact(str(exc))}")
    elapsed_ms = (time.perf_counter() - started) * 1000
    return ConnectionReport(
        True,
        f"{host} answered (HTTP {response.status_code}) in {elapsed_ms:.0f} ms. "
        "The key is checked on the first request to the engine.",
    )


async def check_engine(
    engine_id: str, base_url: str, credentials: dict[str, str]
) -> ConnectionReport:
    """Ask the engine, with these credentials, for something free and harmless."""
    host = urlsplit(base_url).netloc
    started = time.perf_counter()
    try:
        client = EngineClient(create_adapter(engine_id), base_url, lambda: credentials)
    except TransportError as exc:
        return ConnectionReport(False, exc.message)
    try:
        await client.check_credentials()
    except EngineError as exc:
        return ConnectionReport(False, exc.message)
    except TransportError as exc:
        return ConnectionReport(False, f"Could not talk to {host}: {exc.message}")
    finally:
        await client.aclose()
    elapsed_ms = (time.perf_counter() - started) * 1000
    name = client.adapter.spec.info.name
    return ConnectionReport(True, f"{name} at {host} accepted the key ({elapsed_ms:.0f} ms).")
