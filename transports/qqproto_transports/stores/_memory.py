"""``memory:``: the default store, kept in the process and gone when it exits."""

from __future__ import annotations

from ._base import TtlTable

__all__ = ["MemoryStore"]


class MemoryStore(TtlTable):
    """A :class:`~qqproto_transports.stores.Store` in this process's memory."""

    shared = False

    def __repr__(self) -> str:
        return f"MemoryStore({len(self.entries)} keys)"

    def close(self) -> None:
        with self.lock:
            self.entries.clear()
