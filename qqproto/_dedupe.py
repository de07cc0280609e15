"""A bounded memory of recently seen event ids.

The platform may push the same event twice and replays every event after the Resume seq
(gateway.md §6.2, §8.2), so the session drops an id it has seen within ``window`` seconds.
Memory is bounded by ``capacity`` ids; the oldest is forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RecentIds"]


class RecentIds:
    """``seen(key, now)`` answers "was this key seen recently?" and remembers it."""

    __slots__ = ("_capacity", "_seen", "_window")

    def __init__(self, *, capacity: int = 10_000, window: float = 3600.0) -> None:
        if capacity < 1 or window <= 0:
            raise ValueError("capacity must be >= 1 and window > 0")
        self._capacity = capacity
        self._window = window
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: object) -> bool:
        return key in self._seen

    def seen(self, key: str, now: float) -> bool:
        seen = self._seen
        first = seen.get(key)
        if first is not None and now - first < self._window:
            return True
        if first is not None:
            del seen[key]
        seen[key] = now
        if len(seen) > self._capacity:
            seen.popitem(last=False)
        # Expire from the old end while it is stale; amortised O(1).
        while seen:
            oldest_key, oldest = next(iter(seen.items()))
            if now - oldest < self._window:
                break
            del seen[oldest_key]
        return False
