"""The contract every engine adapter fulfils: build requests, read answers. No I/O.

Adapters are pure: they turn (operation, parameters) into an ``ApiRequest`` and
an engine's answer (status code, headers, decoded JSON body) into a
``SubmitResult``, ``RemoteStatus`` or ``EngineError``. The transport
(studio/net) sends; the task engine (studio/tasks) decides when. Keeping the
adapters free of I/O makes every status value and error code testable as data.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from studio.core.errors import EngineError
from studio.core.remote import RemoteStatus
from studio.engines.spec import EngineSpec, OperationSpec


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP call to an engine, relative to its base URL; auth is added by the sender."""

    method: str  # "GET" / "POST"
    path: str  # e.g. "/producer/v1/music"
    json: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        """GETs may be retried; a POST that may have arrived must never be resent."""
        return self.method.upper() == "GET"


@dataclass(frozen=True)
class Answer:
    """An engine's HTTP answer as the adapter sees it: decoded, size-capped already."""

    status: int
    body: Any  # decoded JSON, or the (capped) text when the body was not JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    is_json: bool = True


@dataclass(frozen=True)
class SubmitResult:
    """What a submit told us: the engine's job id, and the result at once if synchronous."""

    remote_id: str | None
    status: RemoteStatus | None = None  # set for synchronous operations (and Evolink's echo)


class EngineAdapter(abc.ABC):
    """One engine's protocol. Subclasses declare ``spec`` and implement the parsers."""

    spec: EngineSpec

    @property
    def engine_id(self) -> str:
        return self.spec.info.id

    def operation(self, operation_id: str) -> OperationSpec:
        return self.spec.operation(operation_id)

    @abc.abstractmethod
    def auth_headers(self, credentials: Mapping[str, str], now: float) -> dict[str, str]:
        """Headers that authenticate a call at time ``now`` (unix seconds).

        ``credentials`` maps credential field names ("api_key", "access_key",
        "secret_key") to values. Raises AuthenticationError when none fits.
        """

    @abc.abstractmethod
    def build_submit(
        self, operation_id: str, params: Mapping[str, Any], *, client_key: str
    ) -> ApiRequest:
        """Validate ``params`` against the spec and build the submit request.

        ``client_key`` is the studio's own id for the task (Kling sends it as
        ``external_task_id`` so a lost answer can be found again).
        Raises RequestInvalidError naming each field and rule.
        """

    @abc.abstractmethod
    def parse_submit(self, operation_id: str, answer: Answer) -> SubmitResult:
        """Read a submit's answer. Raises the EngineError the answer means."""

    @abc.abstractmethod
    def build_poll(self, operation_id: str, remote_id: str) -> ApiRequest:
        """The request that asks for a job's state."""

    @abc.abstractmethod
    def parse_poll(self, operation_id: str, answer: Answer) -> RemoteStatus:
        """Read a poll's answer. Unknown status words give RemoteState.UNKNOWN.

        Raises the EngineError the answer means (e.g. 404 → NotFoundError).
        """

    @abc.abstractmethod
    def error_for(self, answer: Answer) -> EngineError | None:
        """The error an answer means, or None if it is a success envelope."""

    # Engines that can find a job by our client key or refresh many jobs in one call
    # (Kling) override these; the others cannot.
    def build_lookup(self, client_key: str) -> ApiRequest | None:
        """A request that finds a job by the studio's client key, if the engine has one."""
        return None

    def build_list(self, page: int, page_size: int) -> ApiRequest | None:
        """A request listing recent jobs (to refresh many at once), if the engine has one."""
        return None

    def parse_list(self, answer: Answer) -> list[RemoteStatus]:
        """Read a list answer; each status carries its remote_id."""
        raise NotImplementedError(f"{self.spec.info.name} has no list endpoint")
