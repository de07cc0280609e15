"""Stores for what outlives a process (DESIGN.md §3a): session snapshots, processed
event ids, webhook replay ids, shard leases and caches.

Every store implements :class:`Store` (keys and values with lifetimes, compare-and-set);
:func:`open_store` opens the one a URL names — ``memory:`` (default), ``file:PATH`` (one
process), ``sqlite:PATH`` (one machine, several processes) or ``redis://…`` (several
machines, through redis-py).  What to keep and for how long is decided by the core
(:mod:`qqproto.stores`); the bots call stores on worker threads, never on their loop.
"""

from __future__ import annotations

from qqproto.stores import StoreLocation, parse_store_url

from ._base import Store
from ._file import FileStore
from ._memory import MemoryStore
from ._redis import RedisStore
from ._slots import EventClaims, SessionSlot, SnapshotWriter, new_owner_id
from ._sqlite import SqliteStore

__all__ = [
    "EventClaims",
    "FileStore",
    "MemoryStore",
    "RedisStore",
    "SessionSlot",
    "SnapshotWriter",
    "SqliteStore",
    "Store",
    "new_owner_id",
    "open_store",
]


def open_store(url: str | StoreLocation) -> Store:
    """The store ``url`` names (see :func:`qqproto.stores.parse_store_url`)."""
    location = parse_store_url(url)
    if location.kind == "file":
        return FileStore(location.target)
    if location.kind == "sqlite":
        return SqliteStore(location.target)
    if location.kind == "redis":
        return RedisStore(location.target)
    return MemoryStore()
