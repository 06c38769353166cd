"""Reaching the system keyring safely: which backend to trust, and calls that cannot hang.

Qt-free. Split from studio/secrets.py, which decides what to store where; this
module only knows keyring backends and threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

_T = TypeVar("_T")


class _Outcome(Generic[_T]):
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: _T | None = None
        self.error: BaseException | None = None


class BoundedCaller:
    """Runs one keyring call at a time on a daemon thread, waiting at most ``timeout``.

    A call that overruns is abandoned, not killed (Python cannot); while it is
    still stuck, further calls fail at once instead of piling up threads.
    """

    def __init__(self, timeout: float, timeout_error: Callable[[], Exception]) -> None:
        self.timeout = timeout
        self._timeout_error = timeout_error  # builds the exception raised on a timeout
        self._lock = threading.Lock()
        self._stuck: threading.Thread | None = None

    def call(self, function: Callable[[], _T]) -> _T:
        if not self._lock.acquire(timeout=self.timeout):
            raise self._timeout_error()
        try:
            if self._stuck is not None:
                if self._stuck.is_alive():
                    raise self._timeout_error()
                self._stuck = None
            outcome: _Outcome[_T] = _Outcome()

            def run() -> None:
                try:
                    outcome.value = function()
                except BaseException as exc:  # handed to the waiting thread
                    outcome.error = exc
                finally:
                    outcome.done.set()

            worker = threading.Thread(target=run, name="studio-keyring", daemon=True)
            worker.start()
            if not outcome.done.wait(self.timeout):
                self._stuck = worker
                raise self._timeout_error()
        finally:
            self._lock.release()
        if outcome.error is not None:
            raise outcome.error
        return cast(_T, outcome.value)  # _T itself may allow None


def backend_name(backend: KeyringBackend) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def insecure_reason(backend: KeyringBackend) -> str | None:
    """Why ``backend`` must not hold keys, or None when it is a real system keyring."""
    kind = type(backend)
    module = kind.__module__
    lowered = kind.__qualname__.lower()
    if isinstance(backend, fail.Keyring):
        return "no keyring service was found"
    if isinstance(backend, null.Keyring):
        return "the keyring is disabled"
    in_file = f"the only keyring available, {kind.__qualname__}, keeps keys in a file"
    if module == "keyrings.alt" or module.startswith(("keyrings.alt.", "keyrings.cryptfile")):
        return in_file
    if "file" in module.lower().split(".") or any(
        word in lowered for word in ("plaintext", "encrypted", "cryptfile")
    ):
        return in_file
    return None


@dataclass(frozen=True)
class Assessment:
    backend: KeyringBackend | None  # the backend to use; None when insecure
    name: str
    reason: str | None


def assess(current: KeyringBackend) -> Assessment:
    """Pick the backend to use. Touches backends' classes only: never prompts."""
    if isinstance(current, chainer.ChainerBackend):
        members: list[KeyringBackend] = list(current.backends)
        secure = [member for member in members if insecure_reason(member) is None]
        if secure:
            # Use the best real keyring directly, so a write can never fall
            # through to a plaintext file further down the chain.
            return Assessment(secure[0], backend_name(secure[0]), None)
        if not members:
            return Assessment(None, backend_name(current), "no keyring service was found")
        names = ", ".join(backend_name(member) for member in members)
        reasons = [insecure_reason(member) for member in members]
        return Assessment(None, names, reasons[0])
    return Assessment(
        current if insecure_reason(current) is None else None,
        backend_name(current),
        insecure_reason(current),
    )
