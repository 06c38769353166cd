"""Pieces the engine imitations share: key checks, finding an installed sandbox, lazy work.

Qt-free. Everything here is safe on any thread; the handlers that use it run on the
server's connection threads.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from studio.sandbox.app import EngineSite
from studio.sandbox.server import SandboxRequest

__all__ = ["Once", "bearer_authorised", "installed", "same_secret"]

T = TypeVar("T")

# Where each imitation keeps itself in ``site.server.state``.
SANDBOX_KEY = "sandbox"


def same_secret(given: str, expected: str) -> bool:
    """A constant-time comparison; an empty ``expected`` (no key configured) matches nothing."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def bearer_authorised(request: SandboxRequest, expected: str) -> bool:
    """True if the request carries ``Authorization: Bearer <expected>`` (scheme in any case)."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and same_secret(token.strip(), expected)


def installed(site: EngineSite, kind: type[T], key: str = SANDBOX_KEY) -> T:
    """The imitation of type ``kind`` installed on ``site`` (tests use it). Any thread.

    Raises:
        TypeError: the site runs another engine's imitation (or none).
    """
    with site.server.lock:
        found = site.server.state.get(key)
    if not isinstance(found, kind):
        raise TypeError(f"{site.engine_id} does not run the {kind.__name__}")
    return found


class Once(Generic[T]):
    """A value worked out once, by the first caller; racing callers wait for it.

    The lazy rendering of a job: the first poll that finds it finished renders
    it under this cell's own lock (never the server's), later polls get the same
    value. If the work raises, nothing is kept and the next caller tries again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._value is None:
                self._value = work()
            return self._value
