"""Typed events: a :class:`~qqproto.events.Dispatch` in, a frozen dataclass out.

The gateway (and the webhook receiver) hand the application generic dispatches whose
``data`` is whatever JSON the server sent.  :func:`parse_event` turns one into the class
for its type (:data:`EVENT_CLASSES`), never raising: a bad payload gives a
:class:`MalformedEvent`, an unknown type an :class:`UnknownEvent`.  Every message event
carries the same normalised :class:`InboundMessage` as ``.message``.
"""

from __future__ import annotations

from .._values import ChatScope
from ..errors import ModelError
from ._base import MalformedEvent, ModelEvent, UnknownEvent
from ._common import Attachment, TimestampValue, normalise_url, parse_timestamp
from ._guild import (
    AudioEvent,
    AudioLiveMemberEvent,
    ChannelEvent,
    ForumEvent,
    GuildEvent,
    GuildMemberEvent,
    OpenForumEvent,
    ReactionEvent,
)
from ._interaction import InteractionCreate
from ._lifecycle import (
    C2CLifecycleEvent,
    C2CMsgReceive,
    C2CMsgReject,
    EnterAio,
    FriendAdd,
    FriendDel,
    GroupAddRobot,
    GroupDelRobot,
    GroupLifecycleEvent,
    GroupMemberAdd,
    GroupMemberEvent,
    GroupMemberRemove,
    GroupMsgReceive,
    GroupMsgReject,
    MessageAuditEvent,
    MessageAuditPass,
    MessageAuditReject,
    SubscribeMessageStatus,
    SubscriptionResult,
)
from ._messages import (
    Author,
    C2CMessageCreate,
    ChannelAtMessageCreate,
    ChannelMessageCreate,
    DirectMessageCreate,
    GroupAtMessageCreate,
    GroupMessageCreate,
    GuildMember,
    GuildMessageEvent,
    InboundMessage,
    Mention,
    MessageDelete,
    MessageEvent,
    QuotedMessage,
    ReferenceIndex,
)
from ._parse import EVENT_CLASSES, ParsedEvent, inbound_message, parse_event, parse_event_strict

__all__ = [
    "EVENT_CLASSES",
    "Attachment",
    "AudioEvent",
    "AudioLiveMemberEvent",
    "Author",
    "C2CLifecycleEvent",
    "C2CMessageCreate",
    "C2CMsgReceive",
    "C2CMsgReject",
    "ChannelAtMessageCreate",
    "ChannelEvent",
    "ChannelMessageCreate",
    "ChatScope",
    "DirectMessageCreate",
    "EnterAio",
    "ForumEvent",
    "FriendAdd",
    "FriendDel",
    "GroupAddRobot",
    "GroupAtMessageCreate",
    "GroupDelRobot",
    "GroupLifecycleEvent",
    "GroupMemberAdd",
    "GroupMemberEvent",
    "GroupMemberRemove",
    "GroupMessageCreate",
    "GroupMsgReceive",
    "GroupMsgReject",
    "GuildEvent",
    "GuildMember",
    "GuildMemberEvent",
    "GuildMessageEvent",
    "InboundMessage",
    "InteractionCreate",
    "MalformedEvent",
    "Mention",
    "MessageAuditEvent",
    "MessageAuditPass",
    "MessageAuditReject",
    "MessageDelete",
    "MessageEvent",
    "ModelError",
    "ModelEvent",
    "OpenForumEvent",
    "ParsedEvent",
    "QuotedMessage",
    "ReactionEvent",
    "ReferenceIndex",
    "SubscribeMessageStatus",
    "SubscriptionResult",
    "TimestampValue",
    "UnknownEvent",
    "inbound_message",
    "normalise_url",
    "parse_event",
    "parse_event_strict",
    "parse_timestamp",
]
