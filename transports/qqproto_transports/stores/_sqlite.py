"""``sqlite:PATH``: one database file shared by the processes of one machine.

The standard library's sqlite3 in WAL mode: readers never wait for a writer, and every
compare-and-set runs in an ``IMMEDIATE`` transaction, so two processes can never both
win one key.  Lifetimes are on the wall clock; expired rows are skipped on read and
purged now and then on write.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SqliteStore"]

_SCHEMA = ("CREATE TABLE IF NOT EXISTS qqproto_kv "
           "(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)")
_PURGE_EVERY = 1000


class SqliteStore:
    """A :class:`~qqproto_transports.stores.Store` in an sqlite database file."""

    shared = True

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, serialised by a lock: calls come from worker threads.
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.Lock()
        self._writes = 0
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def _current(self, key: str, now: float) -> str | None:
        row = self._db.execute(
            "SELECT value FROM qqproto_kv WHERE key = ? AND "
            "(expires_at IS NULL OR expires_at > ?)", (key, now)).fetchone()
        return None if row is None else str(row[0])

    def _write(self, key: str, value: str, ttl: float | None, now: float) -> None:
        if ttl is not None and not ttl > 0:
            raise ValueError("ttl must be a positive number of seconds")
        self._db.execute("INSERT OR REPLACE INTO qqproto_kv VALUES (?, ?, ?)",
                         (key, value, None if ttl is None else now + ttl))
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            self._db.execute("DELETE FROM qqproto_kv WHERE expires_at <= ?", (now,))

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._current(key, time.time())

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        with self._lock:
            now = time.time()
            return [self._current(key, now) for key in keys]

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        with self._lock:
            self._write(key, value, ttl, time.time())

    def add(self, key: str, value: str, *, ttl: float | None = None) -> bool:
        return self.swap(key, None, value, ttl=ttl)

    def swap(self, key: str, expected: str | None, value: str, *,
             ttl: float | None = None) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                won = self._current(key, now) == expected
                if won:
                    self._write(key, value, ttl, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return won

    def delete(self, key: str, *, expected: str | None = None) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                current = self._current(key, time.time())
                gone = current is not None and (expected is None or current == expected)
                if gone:
                    self._db.execute("DELETE FROM qqproto_kv WHERE key = ?", (key,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return gone

    def close(self) -> None:
        with self._lock:
            self._db.close()
