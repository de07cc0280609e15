"""``file_info`` reuse across restarts and processes: what a store keeps, and for how long.

An upload's ``file_info`` may be sent again within its ``ttl`` (rest.md §3.5; ``0`` =
long-lived), by any process of the same bot.  :class:`StoredFileInfo` is the value a
driver writes to the bot's store (under
:meth:`StoreKeys.file_info <qqproto.stores.StoreKeys.file_info>`) and reads back on an
in-memory miss: a small JSON object ::

    {"expires_at":1700003600,"file_info":"…","file_uuid":"…","ttl":3600,"v":1}

``expires_at`` is the platform's end of the ``file_info`` (unix seconds, rounded down;
``null`` for long-lived media).  The key lives ``ttl`` minus the cache's margin (a
``file_info`` that close to its end is not offered, an upload is cheaper than a send
that fails on the way); a long-lived one lives :data:`LONG_LIVED_LIFETIME`.  A value
that is not exactly this shape — wrong version, a missing or extra field, a boolean or
fractional number, NaN, a duplicate key, an oversized text — is unreadable:
:meth:`StoredFileInfo.decode` answers ``None`` and the driver uploads as usual.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

from .._numbers import parse_int
from .._values import UploadedMedia
from ._reuse import EXPIRY_MARGIN

__all__ = ["LONG_LIVED_LIFETIME", "StoredFileInfo"]

#: How long a store keeps a long-lived (``ttl`` 0) ``file_info``: 30 days.  The platform
#: names no end for it (rest.md §3.5); a bound keeps an entry nobody sends again from
#: living forever, and a send refused as expired (304080) uploads again anyway.
LONG_LIVED_LIFETIME: Final = 30 * 86400.0
_VERSION: Final = 1
_FIELDS: Final = frozenset({"v", "file_info", "file_uuid", "ttl", "expires_at"})
#: Longer values are not parsed at all (a file_info is a few hundred characters).
_MAX_VALUE: Final = 16384
_MAX_TTL: Final = 10**9
_MAX_UNIX: Final = 2**42


class _Unreadable(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _Unreadable("duplicate key")
    return data


def _constant(name: str) -> Any:
    raise _Unreadable(name)  # NaN, Infinity: not a number this value may hold


def _text(value: object) -> str | None:
    """``value`` when it is a non-empty string that UTF-8 can carry (no lone
    surrogates), else ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


@dataclass(frozen=True, slots=True)
class StoredFileInfo:
    """One upload's answer as a store keeps it: ``media`` and the unix time its
    ``file_info`` ends (``None``: long-lived)."""

    media: UploadedMedia
    expires_at: int | None

    @classmethod
    def learned(cls, media: UploadedMedia, *, unix_now: float) -> StoredFileInfo:
        """What an upload answered at ``unix_now`` (its ``ttl`` counts from then)."""
        expires_at = math.floor(unix_now + media.ttl) if media.ttl > 0 else None
        return cls(UploadedMedia(file_info=media.file_info, file_uuid=media.file_uuid,
                                 ttl=media.ttl), expires_at)

    def lifetime(self, *, unix_now: float, margin: float = EXPIRY_MARGIN) -> float | None:
        """The store key's lifetime in seconds: what is left of the ``ttl`` minus
        ``margin`` (:data:`LONG_LIVED_LIFETIME` for long-lived media); ``None`` when it
        is not worth storing (nothing left past the margin)."""
        if self.expires_at is None:
            return LONG_LIVED_LIFETIME
        left = self.expires_at - unix_now - margin
        return left if left > 0 else None

    def usable(self, *, unix_now: float, margin: float = EXPIRY_MARGIN) -> bool:
        """Whether it may still be offered (more than ``margin`` seconds left)."""
        return self.expires_at is None or unix_now < self.expires_at - margin

    def encode(self) -> str:
        """The stored value: compact JSON, keys sorted, ASCII only."""
        return json.dumps({"v": _VERSION, "file_info": self.media.file_info,
                           "file_uuid": self.media.file_uuid, "ttl": self.media.ttl,
                           "expires_at": self.expires_at},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False)

    @classmethod
    def decode(cls, value: object) -> StoredFileInfo | None:
        """The value :meth:`encode` wrote, or ``None`` for anything else (never
        raises)."""
        if not isinstance(value, str) or len(value) > _MAX_VALUE:
            return None
        try:
            data = json.loads(value, object_pairs_hook=_pairs, parse_constant=_constant)
        except (_Unreadable, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or set(data) != _FIELDS:
            return None
        version = data["v"]
        if type(version) is not int or version != _VERSION:
            return None
        file_info = _text(data["file_info"])
        file_uuid = data["file_uuid"]
        ttl = parse_int(data["ttl"], minimum=0, maximum=_MAX_TTL)
        if file_info is None or ttl is None or not isinstance(data["ttl"], int):
            return None
        if file_uuid is not None and _text(file_uuid) is None:
            return None
        raw_expiry = data["expires_at"]
        if raw_expiry is None:
            expires_at = None
        else:
            expires_at = parse_int(raw_expiry, minimum=0, maximum=_MAX_UNIX)
            if expires_at is None or not isinstance(raw_expiry, int):
                return None
        if (ttl == 0) != (expires_at is None):  # long-lived exactly when it has no end
            return None
        return cls(UploadedMedia(file_info=file_info, file_uuid=file_uuid, ttl=ttl),
                   expires_at)
