"""What outlives a gateway connection: enough to Resume, as plain data.

A snapshot round-trips through :meth:`SessionSnapshot.to_dict` /
:meth:`SessionSnapshot.from_dict` (JSON-compatible), so an application can persist it in
a file, Redis or a database and resume after a restart (gateway.md §4.3, §8.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Final

from ..errors import SnapshotError

__all__ = ["SessionSnapshot"]

_FORMAT: Final = 1




@dataclass(frozen=True, slots=True, kw_only=True)
class SessionSnapshot:
    """Session id and the last sequence number, plus what they were opened with.

    ``seq`` is the seq a Resume sends: the last dispatch the application has *processed*
    (gateway.md §4.3).  ``last_active`` is a Unix time (seconds), set when the snapshot is
    taken by a supervisor that was told the wall clock; it decides whether a persisted
    session is still worth resuming.
    """

    session_id: str
    seq: int | None
    intents: int
    shard: tuple[int, int] = (0, 1)
    bot_user_id: str = ""
    bot_username: str = ""
    last_active: float | None = None

    def with_seq(self, seq: int | None) -> SessionSnapshot:
        return replace(self, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "session_id": self.session_id,
            "seq": self.seq,
            "intents": self.intents,
            "shard": list(self.shard),
            "bot_user_id": self.bot_user_id,
            "bot_username": self.bot_username,
            "last_active": self.last_active,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SessionSnapshot:
        """Validate and rebuild; :class:`SnapshotError` says what is wrong."""
        if not isinstance(data, dict):
            raise SnapshotError("snapshot is not an object")
        if data.get("format") != _FORMAT:
            raise SnapshotError(f"unsupported snapshot format {data.get('format')!r}")
        session_id = data.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise SnapshotError("snapshot has no session_id")
        seq = data.get("seq")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
            raise SnapshotError("snapshot seq is not a non-negative integer")
        intents = data.get("intents")
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0:
            raise SnapshotError("snapshot intents is not a non-negative integer")
        shard = data.get("shard", [0, 1])
        if (not isinstance(shard, list | tuple) or len(shard) != 2
                or not all(_is_int(x) for x in shard) or not 0 <= shard[0] < shard[1]):
            raise SnapshotError("snapshot shard is not [id, count]")
        user_id = data.get("bot_user_id", "")
        username = data.get("bot_username", "")
        if not isinstance(user_id, str) or not isinstance(username, str):
            raise SnapshotError("snapshot bot user fields are not strings")
        last_active = data.get("last_active")
        if last_active is not None and (
            isinstance(last_active, bool) or not isinstance(last_active, int | float)
            or not math.isfinite(last_active)
        ):
            raise SnapshotError("snapshot last_active is not a number")
        return cls(
            session_id=session_id, seq=seq, intents=intents, shard=(shard[0], shard[1]),
            bot_user_id=user_id, bot_username=username,
            last_active=None if last_active is None else float(last_active),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
