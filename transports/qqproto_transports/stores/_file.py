"""``file:PATH``: one JSON file for one process; replaced atomically on every change.

Fit for a session snapshot and a few leases or cache entries; every write rewrites the
file, so it is not meant for per-event dedupe marks (use sqlite or Redis for those).
Lifetimes are on the wall clock, so they hold across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._base import TtlTable

__all__ = ["FileStore"]

log = logging.getLogger("qqproto_transports")
_FORMAT = 1


class FileStore:
    """A :class:`~qqproto_transports.stores.Store` in one JSON file; an unreadable file
    is logged and started afresh."""

    shared = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._table = TtlTable(time.time)
        self._table.entries = self._read()
        self._table.purge()

    def __repr__(self) -> str:
        return f"FileStore({str(self.path)!r})"

    def _read(self) -> dict[str, tuple[str, float | None]]:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable store file %s: %s", self.path, exc)
            return {}
        entries = data.get("entries") if isinstance(data, dict) else None
        if data.get("format") != _FORMAT or not isinstance(entries, dict):
            log.warning("ignoring store file %s: not a qqproto store", self.path)
            return {}
        table: dict[str, tuple[str, float | None]] = {}
        for key, entry in entries.items():
            if (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                    and (entry[1] is None or isinstance(entry[1], int | float))):
                table[key] = (entry[0], entry[1])
        return table

    def _write(self) -> None:
        body = {"format": _FORMAT,
                "entries": {key: [value, expires]
                            for key, (value, expires) in self._table.entries.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".store-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> str | None:
        return self._table.get(key)

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return self._table.get_many(keys)

    def set(self, key: str, value: str, *, ttl: float | None = None) -> None:
        with self._table.lock:
            self._table.set(key, value, ttl=ttl)
            self._write()

    def add(self, key: str, value: str, *, ttl: float | None = None) -> bool:
        return self.swap(key, None, value, ttl=ttl)

    def swap(self, key: str, expected: str | None, value: str, *,
             ttl: float | None = None) -> bool:
        with self._table.lock:
            if not self._table.swap(key, expected, value, ttl=ttl):
                return False
            self._write()
            return True

    def delete(self, key: str, *, expected: str | None = None) -> bool:
        with self._table.lock:
            if not self._table.delete(key, expected=expected):
                return False
            self._write()
            return True

    def close(self) -> None:
        """Nothing is held open between calls."""
