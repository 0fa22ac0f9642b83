"""Capped exponential back-off until a deadline: the one retry schedule of the warehouse.

Every wait for something another process holds (a DuckDB file lock, the write gate, a
release file kept open by a foreign session) and every retried write conflict polls the same
way: try, and if it failed with something worth waiting for and the deadline has not passed,
sleep, double the delay up to a cap, and try again. Callers choose the first delay and the
cap (a local ``flock`` is cheap to poll, a foreign session is not) and whether to jitter the
delays (writers that collided should not retry in step). Imports only the standard library.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

_jitter = secrets.SystemRandom()


@dataclass
class Backoff:
    """Delays ``first, 2 first, 4 first, ...`` capped at ``cap``, until ``deadline``.

    ``deadline`` is a :func:`time.monotonic` instant, so that several waits of one operation
    (the gate, then the file) share one budget of time; :meth:`within` starts one now. With
    ``jitter`` each delay is scaled by a uniform factor in ``[0.5, 1.5)``.
    """

    deadline: float
    first: float
    cap: float
    jitter: bool = False
    _delay: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._delay = self.first

    @classmethod
    def within(cls, wait_s: float, *, first: float, cap: float, jitter: bool = False) -> Backoff:
        """A back-off whose deadline is ``wait_s`` seconds from now."""
        return cls(time.monotonic() + wait_s, first, cap, jitter)

    def expired(self) -> bool:
        """Whether the deadline has passed: the caller stops retrying and raises."""
        return time.monotonic() > self.deadline

    def remaining(self) -> float:
        """Seconds left until the deadline (0 once it has passed)."""
        return max(0.0, self.deadline - time.monotonic())

    def sleep(self) -> None:
        """Wait the next delay of the schedule."""
        delay = self._delay * (0.5 + _jitter.random()) if self.jitter else self._delay
        time.sleep(delay)
        self._delay = min(self.cap, self._delay * 2)
