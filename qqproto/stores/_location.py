"""Where a bot's lasting state is kept, named by one URL (DESIGN.md §3a).

``memory:`` (the default: nothing outlives the process), ``file:PATH`` (one JSON file,
one process), ``sqlite:PATH`` (one machine, several processes) and ``redis://…`` /
``rediss://…`` / ``unix://…`` (several machines).  Parsing is pure: the driver opens
the store a :class:`StoreLocation` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["MEMORY", "StoreKind", "StoreLocation", "parse_store_url"]

StoreKind = Literal["memory", "file", "sqlite", "redis"]
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A parsed store URL: its ``kind`` and ``target`` (a path, or the Redis URL)."""

    kind: StoreKind
    target: str = ""

    def __str__(self) -> str:
        if self.kind == "redis":
            return _redacted(self.target)
        return f"{self.kind}:{self.target}"

    @property
    def shared(self) -> bool:
        """Whether other processes see what this store keeps (sqlite, Redis)."""
        return self.kind in ("sqlite", "redis")


#: The default: kept in the process, gone when it exits.
MEMORY: Final = StoreLocation("memory")


def parse_store_url(url: str | StoreLocation) -> StoreLocation:
    """``memory:``, ``file:PATH``, ``sqlite:PATH``, ``redis://…``; ``ValueError`` for
    anything else (a path is required for file and sqlite)."""
    if isinstance(url, StoreLocation):
        return url
    text = url.strip()
    if text in ("memory", "memory:"):
        return MEMORY
    if text.startswith(_REDIS_SCHEMES):
        return StoreLocation("redis", text)
    for kind in ("file", "sqlite"):
        prefix = f"{kind}:"
        if text.startswith(prefix):
            path = text[len(prefix):]
            if path.startswith("//"):  # file:///abs/path, sqlite:///abs/path
                path = path[2:]
            if not path:
                raise ValueError(f"store URL {url!r} names no path ({kind}:PATH)")
            return StoreLocation(kind, path)
    raise ValueError(f"unknown store URL {_redacted(text)!r}: use memory:, file:PATH, "
                     "sqlite:PATH or redis://HOST[:PORT][/DB]")


def _redacted(url: str) -> str:
    """The URL without a password (``redis://user:secret@host`` → ``redis://user:***@host``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user, colon, _ = auth.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"
