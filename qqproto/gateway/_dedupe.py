"""A bounded memory of recently seen event ids, and the key a dispatch is known by.

The platform may push the same event twice and replays every event after the Resume seq
(gateway.md §6.2, §8.2), so the session drops an id it has seen within ``window`` seconds.
Memory is bounded by ``capacity`` ids; the oldest is forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict

from ..events import Dispatch

__all__ = ["RecentIds", "dedupe_key"]


def dedupe_key(event: Dispatch) -> str | None:
    """The event id (gateway.md §3.1), else ``type:d.id`` (§6.2); ``None`` if neither."""
    if event.id:
        return event.id
    data = event.data
    if type(data) is dict:
        inner = data.get("id")
        if isinstance(inner, str) and inner:
            return f"{event.type}:{inner}"
    return None


class RecentIds:
    """``seen(key, now)`` answers "was this key seen recently?" and remembers it."""

    __slots__ = ("_capacity", "_oldest", "_seen", "_window")

    def __init__(self, *, capacity: int = 10_000, window: float = 3600.0) -> None:
        if capacity < 1 or window <= 0:
            raise ValueError("capacity must be >= 1 and window > 0")
        self._capacity = capacity
        self._window = window
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._oldest = float("inf")  # time of the oldest entry, or inf when empty

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: object) -> bool:
        return key in self._seen

    def seen(self, key: str, now: float) -> bool:
        seen = self._seen
        first = seen.get(key)
        if first is not None:
            if now - first < self._window:
                return True
            del seen[key]
        seen[key] = now
        if len(seen) > self._capacity:
            # ``_oldest`` may now be older than the real oldest entry: harmless, _expire
            # corrects it the next time it looks.
            seen.popitem(last=False)
        elif self._oldest == float("inf"):
            self._oldest = now
        if now - self._oldest >= self._window:
            self._expire(now)
        return False

    def _expire(self, now: float) -> None:
        """Drop entries older than the window from the old end; amortised O(1)."""
        seen = self._seen
        while seen:
            oldest_key, oldest = next(iter(seen.items()))
            if now - oldest < self._window:
                self._oldest = oldest
                return
            del seen[oldest_key]
        self._oldest = float("inf")
