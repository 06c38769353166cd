"""How often and how long the task engine asks the engines: cadence, backoff, deadlines.

Qt-free and pure: nothing here sleeps or does I/O, so it may be used from any
thread. Randomness comes from the ``random.Random`` the caller passes, so tests
can pin every delay.

The numbers follow providers.md ("poll every 3–5 s, back off for long tasks")
and design.md ("Facts": poll at the engines' cadence, cap concurrency), and
faults.md P2 (a local deadline sends a stuck task to "needs attention").
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from studio.net.retry import MAX_RETRY_AFTER

__all__ = ["DEFAULT_POLICY", "Cadence", "ErrorBackoff", "TaskPolicy"]


@dataclass(frozen=True)
class Cadence:
    """When to ask about a running job again.

    The first question comes ``first`` seconds after the submit; each later gap
    is ``growth`` times the one before, up to ``longest``: a 15-second sound
    effect is checked a few times quickly, a 3-minute song is not asked about
    every 3 seconds for its whole life. Every gap is spread by ±``jitter`` so
    tasks submitted together do not poll together forever.
    """

    first: float = 3.0
    growth: float = 1.4
    longest: float = 20.0
    jitter: float = 0.2

    def delay(self, polls: int, rng: random.Random) -> float:
        """Seconds before the next poll, after ``polls`` polls so far (0 before the first)."""
        exponent = min(max(polls, 0), 64)  # bounded: growth**64 is already past any cap
        base = min(self.longest, self.first * (self.growth**exponent))
        return max(0.0, base * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter))


@dataclass(frozen=True)
class ErrorBackoff:
    """Per-task wait after a failed poll (429, 5xx, timeouts: faults P4).

    Only the failing task waits longer; the others keep their cadence. A
    server's ``Retry-After`` wins (clamped), with jitter so many tasks told the
    same number do not come back together.
    """

    base: float = 5.0
    cap: float = 120.0
    jitter: float = 0.2
    retry_after_max: float = MAX_RETRY_AFTER

    def delay(self, failures: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1-based)."""
        spread = rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.retry_after_max) * spread + self.base * 0.1
        exponent = min(max(failures - 1, 0), 32)
        return min(self.cap, self.base * (2.0**exponent)) * spread


def _default_cadences() -> dict[str, Cadence]:
    # Songs take ~30 s to minutes; effects and speech ~15 s (providers.md table).
    return {
        "ttapi": Cadence(first=4.0, longest=20.0),
        "mountsea": Cadence(first=4.0, longest=20.0),
        "kling": Cadence(first=3.0, longest=15.0),
        "evolink": Cadence(first=3.0, longest=15.0),
    }


def _default_deadlines() -> dict[str, timedelta]:
    return {
        "ttapi": timedelta(minutes=30),
        "mountsea": timedelta(minutes=30),
        "kling": timedelta(minutes=10),
        "evolink": timedelta(minutes=10),
    }


@dataclass(frozen=True)
class TaskPolicy:
    """Every number the task service works by; tests pass tiny ones.

    Attributes:
        cadences: per engine id; ``default_cadence`` for engines not listed.
        deadlines: per ``"engine"`` or ``"engine/operation"`` (the latter wins);
            past it a task goes to "needs attention", never to "failed".
        default_deadline: for engines not listed.
        concurrency: simultaneous polls per engine (``default_concurrency`` else).
        error_backoff: per-task wait after a failed poll.
        bulk_min: due tasks of one engine that make a list call worth it (Kling).
        bulk_window: seconds ahead a list call looks: tasks due that soon ride
            along in it, so jittered due times do not split one call into many.
        list_page_size: tasks asked for in one list call (Kling allows 500).
        refusal_attempts: sends of one submit refused with "busy" (429, 499,
            1302/1303: no job was created) before the task fails.
        refusal_backoff: the wait between those sends.
        archive_concurrency: tasks archived at once (each downloads its files).
    """

    cadences: Mapping[str, Cadence] = field(default_factory=_default_cadences)
    default_cadence: Cadence = field(default_factory=Cadence)
    deadlines: Mapping[str, timedelta] = field(default_factory=_default_deadlines)
    default_deadline: timedelta = timedelta(minutes=30)
    concurrency: Mapping[str, int] = field(default_factory=dict)
    default_concurrency: int = 4
    error_backoff: ErrorBackoff = field(default_factory=ErrorBackoff)
    bulk_min: int = 2
    bulk_window: float = 3.0
    list_page_size: int = 100
    refusal_attempts: int = 4
    refusal_backoff: ErrorBackoff = field(default_factory=lambda: ErrorBackoff(10.0, 120.0))
    archive_concurrency: int = 2

    def cadence(self, engine: str) -> Cadence:
        return self.cadences.get(engine, self.default_cadence)

    def deadline(self, engine: str, operation: str) -> timedelta:
        """How long a task of this operation may take before the user is asked to look."""
        return self.deadlines.get(
            f"{engine}/{operation}", self.deadlines.get(engine, self.default_deadline)
        )

    def limit(self, engine: str) -> int:
        return max(1, self.concurrency.get(engine, self.default_concurrency))


DEFAULT_POLICY = TaskPolicy()
