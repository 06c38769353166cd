"""Retry-After parsing and the jittered exponential backoff policy.

Qt-free and pure: nothing here sleeps or touches the network, so it can be
used from any thread. Randomness comes from an injectable ``random.Random`` so
tests can pin every delay.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

__all__ = ["MAX_RETRY_AFTER", "Backoff", "parse_retry_after"]

# A server asking us to wait an hour is answered by waiting five minutes and
# asking again: a GUI user would rather see "engine busy" than a frozen task.
MAX_RETRY_AFTER = 300.0

# RFC 9110 allows only ASCII digits; a fraction is tolerated because some
# servers send "1.5". float() alone would also accept "1_0", "nan" and "inf".
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_retry_after(
    value: str | None, now: datetime | None = None, *, maximum: float = MAX_RETRY_AFTER
) -> float | None:
    """Turn a ``Retry-After`` header into seconds to wait.

    Accepts delay-seconds (``"120"``) and an HTTP date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``). A date in the past means "now" (0).
    Never raises: anything else (garbage, negative numbers, NaN, empty) gives
    ``None``, and the caller falls back to its computed backoff.

    Args:
        value: the header's value, or None when absent.
        now: the current time for HTTP dates (aware; naive means UTC).
        maximum: the clamp for huge values, in seconds.

    Returns:
        Seconds in ``[0, maximum]``, or None.
    """
    try:
        if value is None:
            return None
        text = value.strip()
        if not text:
            return None
        if _SECONDS.fullmatch(text):
            seconds = float(text)  # a 400-digit number becomes inf: clamped below
        else:
            when = parsedate_to_datetime(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            current = now or datetime.now(UTC)
            if current.tzinfo is None:
                current = current.replace(tzinfo=UTC)
            seconds = (when - current).total_seconds()
            seconds = max(seconds, 0.0)
        if math.isnan(seconds) or seconds < 0:
            return None
        return min(seconds, maximum)
    except Exception:  # parsedate raises ValueError/TypeError/OverflowError by version
        return None


@dataclass(frozen=True)
class Backoff:
    """A bounded, jittered exponential backoff.

    Attributes:
        base: the first delay's scale, in seconds.
        cap: the longest computed delay, in seconds.
        max_attempts: how many requests in all (1 means no retry).
        jitter: ``"full"`` (uniform in ``[0, min(cap, base·2ⁿ)]``) or
            ``"decorrelated"`` (uniform in ``[base, 3·previous]``, capped); both
            spread clients that failed together so they do not return together.
        retry_after_max: the clamp for a server's ``Retry-After``.
        rng: the random source; pass ``random.Random(seed)`` in tests.
    """

    base: float = 0.5
    cap: float = 30.0
    max_attempts: int = 5
    jitter: Literal["full", "decorrelated"] = "full"
    retry_after_max: float = MAX_RETRY_AFTER
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0 or self.max_attempts < 1:
            raise ValueError("Backoff needs base >= 0, cap >= 0 and max_attempts >= 1")

    def delay(
        self, attempt: int, retry_after: float | None = None, previous: float | None = None
    ) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: the attempt that just failed, counting from 1.
            retry_after: the server's hint (already parsed); when given it wins
                over the computed delay, clamped to ``retry_after_max``, plus a
                little jitter so many tasks told "60" do not return together.
            previous: the last delay used, for decorrelated jitter.

        Returns:
            A delay in seconds, never negative.
        """
        if retry_after is not None and retry_after >= 0 and not math.isnan(retry_after):
            told = min(retry_after, self.retry_after_max)
            return told + self.rng.uniform(0.0, min(self.base, self.cap) or 0.0)
        if self.jitter == "decorrelated":
            low = self.base
            high = max(low, 3.0 * (previous if previous is not None else self.base))
            return min(self.cap, self.rng.uniform(low, high))
        exponent = min(max(attempt - 1, 0), 62)  # 2**63 floats fine; bounded anyway
        ceiling = min(self.cap, self.base * (2.0**exponent))
        return self.rng.uniform(0.0, ceiling)
