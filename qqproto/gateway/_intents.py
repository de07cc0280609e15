"""Gateway intents: the Identify ``intents`` bitmask (gateway.md §5 and §6.1)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = ["EVENT_INTENTS", "Intents", "intents_for"]


class Intents(enum.IntFlag):
    """Every intent bit the platform or an SDK documents (gateway.md §5).

    Names follow the official documentation; bits 18, 19 and 24 are documented only by
    SDKs and bit 23 by one SDK, which the member docstrings say.
    """

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    #: Private-domain bots only.
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGE = 1 << 12
    #: SDK-only bit (BOTPY, NB, NET).
    OPEN_FORUMS_EVENT = 1 << 18
    #: SDK-only bit (BOTPY, NB, NET).
    AUDIO_OR_LIVE_CHANNEL_MEMBER = 1 << 19
    #: Single source (BOTGO).
    ENTER_AIO = 1 << 23
    #: SDK-only bit (NB, NET).
    GROUP_MEMBER = 1 << 24
    GROUP_AND_C2C_EVENT = 1 << 25
    INTERACTION = 1 << 26
    MESSAGE_AUDIT = 1 << 27
    #: Private-domain bots only.
    FORUMS_EVENT = 1 << 28
    AUDIO_ACTION = 1 << 29
    PUBLIC_GUILD_MESSAGES = 1 << 30

    @classmethod
    def default(cls) -> Intents:
        """C2C + group, guild @-messages, guild DMs and interactions (1174409216).

        The preset of the reference SDK and every agent adapter (gateway.md §5).
        """
        return (cls.GROUP_AND_C2C_EVENT | cls.PUBLIC_GUILD_MESSAGES | cls.DIRECT_MESSAGE
                | cls.INTERACTION)

    @classmethod
    def parse(cls, text: str) -> Intents:
        """``"GROUP_AND_C2C_EVENT|INTERACTION"``, ``"1174409216"`` or ``"default"``."""
        text = text.strip()
        if not text:
            raise ValueError("empty intents")
        if text.isascii() and text.isdigit():
            value = int(text)
            if value >> 31:
                raise ValueError(f"intents {value} has bits beyond 30")
            return cls(value)
        result = cls(0)
        for name in text.replace(",", "|").split("|"):
            key = name.strip().upper()
            if key == "DEFAULT":
                result |= cls.default()
            elif key in cls.__members__:
                result |= cls.__members__[key]
            else:
                raise ValueError(f"unknown intent {name.strip()!r}")
        return result


_I = Intents
# gateway.md §6.1: which intent gates each dispatch type.
_TABLE: Final[dict[str, Intents]] = {}
for _intent, _names in (
    (_I.GUILDS, "GUILD_CREATE GUILD_UPDATE GUILD_DELETE CHANNEL_CREATE CHANNEL_UPDATE "
                "CHANNEL_DELETE"),
    (_I.GUILD_MEMBERS, "GUILD_MEMBER_ADD GUILD_MEMBER_UPDATE GUILD_MEMBER_REMOVE"),
    (_I.GUILD_MESSAGES, "MESSAGE_CREATE MESSAGE_DELETE"),
    (_I.GUILD_MESSAGE_REACTIONS, "MESSAGE_REACTION_ADD MESSAGE_REACTION_REMOVE"),
    (_I.DIRECT_MESSAGE, "DIRECT_MESSAGE_CREATE DIRECT_MESSAGE_DELETE"),
    (_I.OPEN_FORUMS_EVENT, "OPEN_FORUM_THREAD_CREATE OPEN_FORUM_THREAD_UPDATE "
                           "OPEN_FORUM_THREAD_DELETE OPEN_FORUM_POST_CREATE "
                           "OPEN_FORUM_POST_DELETE OPEN_FORUM_REPLY_CREATE "
                           "OPEN_FORUM_REPLY_DELETE"),
    (_I.AUDIO_OR_LIVE_CHANNEL_MEMBER, "AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER "
                                      "AUDIO_OR_LIVE_CHANNEL_MEMBER_EXIT"),
    (_I.ENTER_AIO, "ENTER_AIO"),
    (_I.GROUP_MEMBER, "GROUP_MEMBER_ADD GROUP_MEMBER_REMOVE"),
    (_I.GROUP_AND_C2C_EVENT, "C2C_MESSAGE_CREATE FRIEND_ADD FRIEND_DEL C2C_MSG_REJECT "
                             "C2C_MSG_RECEIVE GROUP_AT_MESSAGE_CREATE GROUP_ADD_ROBOT "
                             "GROUP_DEL_ROBOT GROUP_MSG_REJECT GROUP_MSG_RECEIVE "
                             "SUBSCRIBE_MESSAGE_STATUS GROUP_MESSAGE_CREATE "
                             # autogen/event/group_join_request.md: 1<<25
                             "GROUP_JOIN_REQUEST"),
    (_I.INTERACTION, "INTERACTION_CREATE"),
    (_I.MESSAGE_AUDIT, "MESSAGE_AUDIT_PASS MESSAGE_AUDIT_REJECT"),
    (_I.FORUMS_EVENT, "FORUM_THREAD_CREATE FORUM_THREAD_UPDATE FORUM_THREAD_DELETE "
                      "FORUM_POST_CREATE FORUM_POST_DELETE FORUM_REPLY_CREATE "
                      "FORUM_REPLY_DELETE FORUM_PUBLISH_AUDIT_RESULT"),
    (_I.AUDIO_ACTION, "AUDIO_START AUDIO_FINISH AUDIO_ON_MIC AUDIO_OFF_MIC"),
    (_I.PUBLIC_GUILD_MESSAGES, "AT_MESSAGE_CREATE PUBLIC_MESSAGE_DELETE"),
):
    for _name in _names.split():
        _TABLE[_name] = _intent

#: Dispatch type → the intent that enables it.  READY/RESUMED need none.
EVENT_INTENTS: Final[Mapping[str, Intents]] = MappingProxyType(_TABLE)


def intents_for(event_types: Iterable[str]) -> Intents:
    """The smallest intent mask that delivers every event type in ``event_types``.

    ``READY`` and ``RESUMED`` need no intent; an unknown type raises ``ValueError`` (a typo
    would otherwise silently subscribe to nothing).
    """
    result = Intents(0)
    for name in event_types:
        if name in ("READY", "RESUMED"):
            continue
        try:
            result |= EVENT_INTENTS[name]
        except KeyError:
            raise ValueError(f"unknown event type {name!r}") from None
    return result
