"""Reconnect delays: exponential backoff with "equal jitter".

``delay(n) = min(cap, base * factor**n) * (1 - jitter + jitter * r)`` with ``r`` from the
injected :class:`random.Random`, so a seeded generator gives a reproducible schedule
(gateway.md §8.5 lists what other SDKs do; none of them jitter, so many bots restarted
by the same platform incident reconnect in lockstep).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """The schedule; ``attempt`` 0 is the first retry after a healthy connection."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1 or self.cap < self.base:
            raise ValueError("backoff needs 0 <= base <= cap and factor >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must be within [0, 1]")

    def ceiling(self, attempt: int) -> float:
        """The delay before jitter."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        # Cap the exponent so huge attempt counts cannot overflow a float.
        return min(self.cap, self.base * self.factor ** min(attempt, 64))

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling * (1.0 - self.jitter + self.jitter * rng.random())
