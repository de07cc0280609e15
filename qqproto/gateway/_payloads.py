"""Gateway frames: building the ones a client sends, validating the ones it receives.

Every frame is a JSON object ``{op, d, s, t, id}`` (gateway.md §3.1).  Builders return
the exact text put on the wire (compact JSON, keys in documentation order) so tests can
compare bytes.  :func:`check_frame` turns a decoded frame into a checked :class:`Frame` or raises
:class:`FrameError` naming what is wrong; nothing else escapes it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from .. import _jsoncodec
from .._numbers import parse_number
from ..errors import FrameError
from ..events import BotUser

__all__ = [
    "MAX_HEARTBEAT_INTERVAL",
    "Frame",
    "Op",
    "check_frame",
    "heartbeat_text",
    "identify_text",
    "parse_hello_interval",
    "parse_ready",
    "resume_text",
]


class Op(enum.IntEnum):
    """Gateway opcodes (gateway.md §3.2)."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    RESUME = 6
    RECONNECT = 7
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11
    HTTP_CALLBACK_ACK = 12
    CALLBACK_VALIDATION = 13


_KNOWN_OPS: Final = frozenset(int(op) for op in Op)
#: The longest heartbeat interval (seconds) a Hello is taken at its word for.
MAX_HEARTBEAT_INTERVAL: Final = 60.0




@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame whose envelope fields have been type-checked."""

    op: int
    d: Any
    s: int | None
    t: str | None
    id: str | None


def _is_int(value: object) -> bool:
    return type(value) is int


def check_frame(obj: Any) -> Frame:
    """Check a decoded frame's envelope.

    ``op`` must be an integer; ``s`` an integer or null; ``t`` and ``id`` strings or null;
    op 0 needs a non-empty ``t``.  ``d`` is left as decoded: its shape depends on the op.
    """
    if type(obj) is not dict:
        raise FrameError(f"frame is a JSON {type(obj).__name__}, not an object")
    op = obj.get("op")
    if type(op) is not int:
        raise FrameError("frame has no integer 'op'")
    s = obj.get("s")
    if s is not None and (not _is_int(s) or s < 0):
        raise FrameError("frame 's' is not a non-negative integer")
    t = obj.get("t")
    if t is not None and type(t) is not str:
        raise FrameError("frame 't' is not a string")
    event_id = obj.get("id")
    if event_id is not None and type(event_id) is not str:
        raise FrameError("frame 'id' is not a string")
    if op == 0 and not t:
        raise FrameError("dispatch frame (op 0) has no event type 't'")
    return Frame(op, obj.get("d"), s, t, event_id)


def is_known_op(op: int) -> bool:
    return op in _KNOWN_OPS


def parse_hello_interval(d: Any) -> float:
    """The heartbeat interval of an op 10 Hello, in seconds (the wire unit is ms, §4.1)."""
    if type(d) is not dict:
        raise FrameError("Hello has no 'd' object")
    interval = d.get("heartbeat_interval")
    if isinstance(interval, bool) or not isinstance(interval, int | float):
        raise FrameError("Hello has no numeric 'heartbeat_interval'")
    milliseconds = parse_number(interval, minimum=0.0, maximum=float("inf"))
    if milliseconds is None or milliseconds <= 0:  # also NaN, inf and 10**400
        raise FrameError("Hello 'heartbeat_interval' is not a positive number")
    # §4.1: 41250 or 45000 ms in practice; a longer interval would silence the
    # heartbeats and the zombie check, so it is read as MAX_HEARTBEAT_INTERVAL.
    return min(milliseconds / 1000.0, MAX_HEARTBEAT_INTERVAL)


def parse_ready(d: Any) -> tuple[str, BotUser, tuple[int, int] | None, int | None]:
    """session id, bot user, shard and version from READY's ``d`` (gateway.md §4.8)."""
    if type(d) is not dict:
        raise FrameError("READY 'd' is not an object")
    session_id = d.get("session_id")
    if type(session_id) is not str or not session_id:
        raise FrameError("READY has no 'session_id'")
    user = d.get("user")
    if user is None:
        user = {}
    if type(user) is not dict:
        raise FrameError("READY 'user' is not an object")
    user_id = user.get("id", "")
    if _is_int(user_id):
        user_id = str(user_id)
    username = user.get("username", "")
    if type(user_id) is not str or type(username) is not str:
        raise FrameError("READY 'user' fields have the wrong types")
    bot_user = BotUser(id=user_id, username=username, bot=user.get("bot") is not False)
    shard_raw = d.get("shard")
    shard: tuple[int, int] | None = None
    if (isinstance(shard_raw, list) and len(shard_raw) == 2
            and all(_is_int(x) for x in shard_raw)):
        shard = (shard_raw[0], shard_raw[1])
    version = d.get("version")
    return session_id, bot_user, shard, version if _is_int(version) else None


def _text(payload: dict[str, Any]) -> str:
    return _jsoncodec.dumps(payload).decode("utf-8")


def identify_text(token: str, intents: int, shard: tuple[int, int],
                  properties: dict[str, str]) -> str:
    """op 2 Identify (gateway.md §4.2); ``token`` already has the ``"QQBot "`` prefix."""
    return _text({"op": 2, "d": {"token": token, "intents": intents,
                                 "shard": [shard[0], shard[1]], "properties": properties}})


def resume_text(token: str, session_id: str, seq: int) -> str:
    """op 6 Resume (gateway.md §4.3)."""
    return _text({"op": 6, "d": {"token": token, "session_id": session_id, "seq": seq}})


def heartbeat_text(seq: int | None) -> str:
    """op 1 Heartbeat; ``d`` is the latest seq received or null (gateway.md §4.4)."""
    return _text({"op": 1, "d": seq})
