"""Settings' "Test connection": can this machine reach the engine's server?

Runs on the qasync loop (GUI thread, awaiting httpx). It sends no credentials:
authenticated checks belong to each engine's adapter. It answers the first
question a user has when nothing works: is the address right and reachable?
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from studio.logs import redact


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
