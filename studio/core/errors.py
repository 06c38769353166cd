"""Errors the user can act on: each carries one sentence written for a musician.

Engine adapters map HTTP statuses and engine codes to these (providers.md);
the task engine decides from the type whether to back off, pause, or stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class StudioError(Exception):
    """Base of our errors; ``message`` is safe to show (no keys, no signed URLs)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldProblem:
    """One broken rule of a request: the field and the rule, in words."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class RequestInvalidError(StudioError):
    """A request broke the engine's declared limits; caught before anything was sent."""

    def __init__(self, operation: str, problems: list[FieldProblem]) -> None:
        self.operation = operation
        self.problems = problems
        listed = "; ".join(str(problem) for problem in problems)
        super().__init__(f"{operation}: {listed}")


class EngineError(StudioError):
    """The engine refused or failed a call.

    Attributes:
        engine: engine id ("ttapi", …); ``engine_name`` is its display name.
        http_status: the HTTP status, when there was an answer.
        code: the engine's own error code, as text.
        retryable: backing off and trying again may succeed (rate limit, queue full,
            server trouble). Never means "resubmit a POST that may have arrived".
        retry_after: seconds the engine asked us to wait, when it said.
        raw: the answer's body (JSON or capped text) for the library.
    """

    retryable = False
    # "{engine}" is replaced by the engine's display name.
    summary = "{engine} refused the request."

    def __init__(
        self,
        engine: str,
        detail: str | None = None,
        *,
        engine_name: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        raw: Any = None,
    ) -> None:
        self.engine = engine
        self.detail = detail
        self.http_status = http_status
        self.code = code
        self.retry_after = retry_after
        self.raw = raw
        headline = self.summary.format(engine=engine_name or engine)
        message = headline if not detail else f"{headline} ({detail})"
        super().__init__(message)


class AuthenticationError(EngineError):
    summary = "{engine} did not accept the API key; check it in Settings."


class BillingError(EngineError):
    summary = "Your {engine} account has no credit or quota left for this."


class PermissionDeniedError(EngineError):
    summary = "Your {engine} account is not allowed to use this."


class RateLimitError(EngineError):
    retryable = True
    summary = "{engine} is asking Studio to slow down; it will wait and try again."


class QueueFullError(EngineError):
    retryable = True
    summary = "{engine}'s queue for your account is full; Studio will try again shortly."


class ConcurrencyLimitError(EngineError):
    retryable = True
    summary = "Too many {engine} jobs are running on your account; Studio will try again shortly."


class ContentPolicyError(EngineError):
    summary = "{engine} refused the prompt under its content policy; edit it and try again."


class EngineValidationError(EngineError):
    summary = "{engine} rejected a parameter."


class NotFoundError(EngineError):
    summary = "{engine} does not know this job or take."


class ServerError(EngineError):
    retryable = True
    summary = "{engine} had a server problem."


class UnexpectedAnswerError(EngineError):
    summary = "Unexpected answer from {engine}."
