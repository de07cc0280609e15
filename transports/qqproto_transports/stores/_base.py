"""The one interface every store implements: string keys and values with lifetimes.

Five operations cover everything that outlives a process (session snapshots, processed
event ids, webhook replay ids, shard leases, caches): read, write, write-if-absent,
compare-and-set and compare-and-delete, each key with an optional lifetime in seconds.
Calls block; they are thread-safe, and async drivers run them on a worker thread so a
slow store never delays the event loop or a heartbeat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["Store", "TtlTable"]


@runtime_checkable
class Store(Protocol):
    """Keys and values with lifetimes (``ttl`` seconds; ``None``: kept until deleted)."""

    #: Whether other processes see this store's keys (sqlite, Redis).
    shared: bool

    def get(self, key: str) -> str | None:
        """The value, or ``None`` when absent or expired."""
        ...

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """:meth:`get` for each key, in one round trip where the store allows."""
        ...

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        """Write ``value`` (replacing any) with a fresh lifetime."""
        ...

    def add(self, key: str, value: str, *, ttl: float | None = None) -> bool:
        """Write only when ``key`` is absent (or expired); whether it was written."""
        ...

    def swap(self, key: str, expected: str | None, value: str, *,
             ttl: float | None = None) -> bool:
        """Write only when the current value is ``expected`` (``None``: absent); whether
        it was written.  The lifetime is renewed."""
        ...

    def delete(self, key: str, *, expected: str | None = None) -> bool:
        """Remove ``key`` (only if its value is ``expected``, when given); whether a
        key was removed."""
        ...

    def close(self) -> None:
        """Release connections and files; the store is unusable afterwards."""
        ...


class TtlTable:
    """The in-process table behind the memory and file stores: ``key → (value,
    expires_at)`` under one lock, on the clock ``clock`` (seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.entries: dict[str, tuple[str, float | None]] = {}

    def _live(self, key: str, now: float) -> str | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= now:
            del self.entries[key]
            return None
        return value

    def get(self, key: str) -> str | None:
        with self.lock:
            return self._live(key, self.clock())

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        with self.lock:
            now = self.clock()
            return [self._live(key, now) for key in keys]

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        with self.lock:
            self.entries[key] = (value, _expiry(self.clock(), ttl))

    def add(self, key: str, value: str, *, ttl: float | None = None) -> bool:
        return self.swap(key, None, value, ttl=ttl)

    def swap(self, key: str, expected: str | None, value: str, *,
             ttl: float | None = None) -> bool:
        with self.lock:
            now = self.clock()
            if self._live(key, now) != expected:
                return False
            self.entries[key] = (value, _expiry(now, ttl))
            return True

    def delete(self, key: str, *, expected: str | None = None) -> bool:
        with self.lock:
            current = self._live(key, self.clock())
            if current is None or (expected is not None and current != expected):
                return False
            del self.entries[key]
            return True

    def purge(self) -> None:
        """Drop every expired entry."""
        with self.lock:
            now = self.clock()
            for key in [k for k, (_, exp) in self.entries.items()
                        if exp is not None and exp <= now]:
                del self.entries[key]


def _expiry(now: float, ttl: float | None) -> float | None:
    if ttl is None:
        return None
    if not ttl > 0:
        raise ValueError("ttl must be a positive number of seconds")
    return now + ttl
