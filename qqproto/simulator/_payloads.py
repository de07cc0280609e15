"""The ``d`` objects of the events a QQ user can cause, shaped like gateway.md §6.5.

Ids come from an injected :class:`random.Random`, so a simulator seeded the same way
produces the same ids, session ids and tokens on every run; timestamps come from the
caller's ``unix_now``.  Builders return fresh dicts that the caller may extend.
"""

from __future__ import annotations

import base64
import functools
import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

__all__ = [
    "IdSource",
    "c2c_message",
    "channel_message",
    "dm_message",
    "group_at_message",
    "interaction",
    "rfc3339",
]

# gateway.md §6.5 / §6: message and interaction timestamps are RFC 3339 with +08:00.
_BEIJING: Final = timezone(timedelta(hours=8))


class IdSource:
    """Deterministic ids from one :class:`random.Random`."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def uuid(self) -> str:
        """A version-4-shaped UUID string (session ids, event ids)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def event_id(self, event_type: str) -> str:
        """``"<TYPE>:<uuid>"`` as in gateway.md §3.1."""
        return f"{event_type}:{self.uuid()}"

    def message_id(self) -> str:
        """``ROBOT1.0_…`` like the platform's message ids (gateway.md §6.2)."""
        raw = self._rng.getrandbits(384).to_bytes(48, "big")
        return "ROBOT1.0_" + base64.urlsafe_b64encode(raw).decode("ascii")

    def hex(self, nbytes: int = 16) -> str:
        """Random hex (tokens, trace ids, openids)."""
        return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def snowflake(self) -> str:
        """A decimal id like guild message / interaction ids."""
        return str(self._rng.randrange(10**17, 10**19))


@functools.lru_cache(maxsize=8)
def _stamp(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).astimezone(_BEIJING).isoformat(timespec="seconds")


def rfc3339(unix_now: float) -> str:
    """``2025-01-02T10:00:00+08:00`` for ``unix_now`` (cached per second: bursts)."""
    return _stamp(int(unix_now))


def _extend(d: dict[str, Any], attachments: Sequence[Mapping[str, Any]] | None,
            extra: Mapping[str, Any] | None) -> dict[str, Any]:
    if attachments:
        d["attachments"] = [dict(a) for a in attachments]
    if extra:
        d.update(extra)
    return d


def c2c_message(*, message_id: str, user_openid: str, content: str, timestamp: str,
                attachments: Sequence[Mapping[str, Any]] | None = None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """C2C_MESSAGE_CREATE: the author carries ``id``, ``user_openid`` and
    ``union_openid`` (gateway.md §6.3: captures show all three with the same value)."""
    d = {
        "id": message_id,
        "content": content,
        "timestamp": timestamp,
        "author": {"id": user_openid, "user_openid": user_openid, "union_openid": user_openid},
    }
    return _extend(d, attachments, extra)


def group_at_message(*, message_id: str, group_openid: str, member_openid: str, content: str,
                     timestamp: str, leading_space: bool = True,
                     attachments: Sequence[Mapping[str, Any]] | None = None,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """GROUP_AT_MESSAGE_CREATE.  The platform strips the @bot mention and usually leaves
    the space that followed it, so ``content`` starts with a space (gateway.md §6.2)."""
    d = {
        "id": message_id,
        "content": (" " + content) if leading_space else content,
        "timestamp": timestamp,
        "group_id": group_openid,
        "group_openid": group_openid,
        "author": {"id": member_openid, "member_openid": member_openid,
                   "union_openid": member_openid},
    }
    return _extend(d, attachments, extra)


def _guild_message(*, message_id: str, channel_id: str, guild_id: str, author_id: str,
                   username: str, content: str, timestamp: str,
                   seq: int) -> dict[str, Any]:
    # gateway.md §6.5: the guild Message object, with a separate member object and the
    # per-channel ordering fields (seq deprecated, seq_in_channel a string).
    return {
        "id": message_id,
        "channel_id": channel_id,
        "guild_id": guild_id,
        "content": content,
        "timestamp": timestamp,
        "author": {"id": author_id, "username": username, "avatar": "", "bot": False},
        "member": {"roles": ["1"], "joined_at": timestamp},
        "seq": seq,
        "seq_in_channel": str(seq),
    }


def channel_message(*, message_id: str, channel_id: str, guild_id: str, author_id: str,
                    content: str, timestamp: str, seq: int, bot_id: str,
                    at_bot: bool = True, username: str = "",
                    attachments: Sequence[Mapping[str, Any]] | None = None,
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """AT_MESSAGE_CREATE (``at_bot``) or MESSAGE_CREATE.  Guild content keeps the mention
    markup ``<@!botid>`` (gateway.md §6.5)."""
    text = f"<@!{bot_id}> {content}" if at_bot else content
    d = _guild_message(message_id=message_id, channel_id=channel_id, guild_id=guild_id,
                       author_id=author_id, username=username or f"user-{author_id}",
                       content=text, timestamp=timestamp, seq=seq)
    if at_bot:
        d["mentions"] = [{"id": bot_id, "username": "", "bot": True}]
    return _extend(d, attachments, extra)


def dm_message(*, message_id: str, guild_id: str, channel_id: str, src_guild_id: str,
               author_id: str, content: str, timestamp: str, seq: int, username: str = "",
               attachments: Sequence[Mapping[str, Any]] | None = None,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """DIRECT_MESSAGE_CREATE: ``guild_id`` is the DM session's own guild (replies go
    there), ``src_guild_id`` the guild it came from (gateway.md §6.5)."""
    d = _guild_message(message_id=message_id, channel_id=channel_id, guild_id=guild_id,
                       author_id=author_id, username=username or f"user-{author_id}",
                       content=content, timestamp=timestamp, seq=seq)
    d["direct_message"] = True
    d["src_guild_id"] = src_guild_id
    return _extend(d, attachments, extra)


_CHAT_TYPES: Final = {"guild": 0, "group": 1, "c2c": 2}


def interaction(*, interaction_id: str, scene: str, timestamp: str, application_id: str,
                button_id: str = "", button_data: str = "", interaction_type: int = 11,
                user_openid: str | None = None, group_openid: str | None = None,
                member_openid: str | None = None, guild_id: str | None = None,
                channel_id: str | None = None, user_id: str | None = None,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """INTERACTION_CREATE for a button tap in ``scene`` ``"c2c"``, ``"group"`` or
    ``"guild"`` (gateway.md §6.5, rest.md §5.2)."""
    if scene not in _CHAT_TYPES:
        raise ValueError(f"scene must be c2c, group or guild, not {scene!r}")
    resolved: dict[str, Any] = {"button_id": button_id, "button_data": button_data}
    d: dict[str, Any] = {
        "id": interaction_id,
        "type": interaction_type,
        "scene": scene,
        "chat_type": _CHAT_TYPES[scene],
        "timestamp": timestamp,
        "application_id": application_id,
        "version": 1,
        "data": {"type": interaction_type, "resolved": resolved},
    }
    if scene == "c2c":
        d["user_openid"] = user_openid or ""
    elif scene == "group":
        d["group_openid"] = group_openid or ""
        d["group_member_openid"] = member_openid or ""
    else:
        d["guild_id"] = guild_id or ""
        d["channel_id"] = channel_id or ""
        resolved["user_id"] = user_id or ""
    if extra:
        d.update(extra)
    return d
