"""Small values that several packages name: where a message goes, what a file is, and
the ``file_info`` an upload yields.

They sit below every package (events, errors, models, rest, upload) so that each can
use them without importing another package, which keeps the import graph acyclic.
Import them from :mod:`qqproto` (``ChatScope``, ``FileType``) or :mod:`qqproto.rest`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ChatScope",
    "FileType",
    "UploadedMedia",
]


class ChatScope(enum.StrEnum):
    """Where a message was said or goes, which decides the endpoint (rest.md §2.1).

    One enum for both directions: an inbound message's ``scope`` is the scope its reply
    uses, and the values (``"c2c"``, ``"group"``, ``"channel"``, ``"dm"``) are the scene
    names the platform and the command line use.
    """

    #: One-to-one chat with a user; the chat id is the user's ``user_openid``.
    C2C = "c2c"
    #: A QQ group; the chat id is the ``group_openid``.
    GROUP = "group"
    #: A guild text channel; the chat id is the ``channel_id``.
    CHANNEL = "channel"
    #: A guild direct message; the chat id is the DM session's own ``guild_id``.
    DM = "dm"

    @property
    def is_guild(self) -> bool:
        """True for the guild scopes (channel and guild DM)."""
        return self in (ChatScope.CHANNEL, ChatScope.DM)


class FileType(enum.IntEnum):
    """``file_type`` of a media upload (rest.md §3.2)."""

    IMAGE = 1
    VIDEO = 2
    VOICE = 3
    FILE = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadedMedia:
    """A ``file_info`` to send with msg_type 7 (rest.md §3.5).  ``ttl`` seconds until it
    expires (0 = long-lived); ``message_id`` is set when ``srv_send_msg`` sent it."""

    file_info: str
    file_uuid: str | None = None
    ttl: int = 0
    message_id: str | None = None
    raw_url: str | None = None
