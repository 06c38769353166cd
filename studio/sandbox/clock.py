"""Map the time since a sandbox task was created to the engine's state word and progress.

Qt-free and pure. Each engine imitation builds one :class:`TaskTimeline` with its own
state words (Kling: ``submitted`` → ``processing`` → ``succeed``); ``speed`` lets tests
finish tasks almost at once while a demo takes a few seconds, without touching the
engine code. A timeline never stores per-task data, so it is safe from any thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["TaskTimeline", "TimelinePoint"]


@dataclass(frozen=True)
class TimelinePoint:
    """Where a task stands.

    Attributes:
        state: the engine's state word.
        progress: 0.0 at creation, 1.0 once finished.
        index: the position of ``state`` in the timeline's states.
        finished: True when the last state is reached.
    """

    state: str
    progress: float
    index: int
    finished: bool


class TaskTimeline:
    """States spread over ``total_s`` seconds of (speed-scaled) time.

    The last state is terminal and reached at ``total_s``; the others share the time
    before it in proportion to ``weights`` (equal by default).

    Args:
        total_s: task duration at speed 1.
        states: the engine's state words, in order, the terminal one last.
        weights: relative duration of each non-terminal state.
        speed: time multiplier (1000 for tests, 1 for demos); 0 freezes every task
            in its first state (a stuck job, fault P2).
        clock: monotonic seconds; tests may pass a fake.
    """

    def __init__(
        self,
        total_s: float,
        states: Sequence[str],
        *,
        weights: Sequence[float] | None = None,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not states:
            raise ValueError("a timeline needs at least one state")
        if total_s < 0 or speed < 0:
            raise ValueError("total_s and speed must not be negative")
        shares = list(weights) if weights is not None else [1.0] * (len(states) - 1)
        if len(shares) != len(states) - 1 or any(w < 0 for w in shares):
            raise ValueError("weights: one non-negative value per non-terminal state")
        self.total_s = total_s
        self.states = tuple(states)
        self.speed = speed
        self._clock = clock
        whole = sum(shares) or 1.0
        bounds: list[float] = []
        acc = 0.0
        for share in shares:
            acc += share / whole
            bounds.append(acc)
        self._bounds = bounds  # fraction of total_s at which each state ends

    def now(self) -> float:
        """The clock reading to store as a task's creation time."""
        return self._clock()

    def at(self, elapsed_s: float) -> TimelinePoint:
        """The point reached ``elapsed_s`` real seconds after creation."""
        if self.speed == 0:
            return TimelinePoint(self.states[0], 0.0, 0, len(self.states) == 1)
        scaled = max(0.0, elapsed_s) * self.speed
        fraction = 1.0 if self.total_s == 0 else min(1.0, scaled / self.total_s)
        if fraction >= 1.0:
            return TimelinePoint(self.states[-1], 1.0, len(self.states) - 1, True)
        index = next(i for i, bound in enumerate([*self._bounds, 1.0]) if fraction < bound)
        return TimelinePoint(self.states[index], fraction, index, False)

    def since(self, created_at: float) -> TimelinePoint:
        """The point reached now by a task created at ``created_at`` (from :meth:`now`)."""
        return self.at(self._clock() - created_at)

    def remaining_s(self, created_at: float) -> float:
        """Real seconds until the task created at ``created_at`` finishes (inf if frozen)."""
        if self.speed == 0:
            return float("inf")
        return max(0.0, self.total_s / self.speed - (self._clock() - created_at))
