"""Message events and the normalised inbound-message view.

Six dispatch types carry a message a bot may answer: C2C, group @, group (all), channel,
channel @ and guild DM (gateway.md §6.1).  Each becomes its own class so that an
application can ``match`` on it, and each exposes the same :class:`InboundMessage` as
``.message``: the scope, the id a reply goes to, the author, the text, attachments and a
quoted message, whatever the scene's payload spelled them as.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from .._values import ChatScope
from ..errors import Invalid
from ..events import Dispatch
from ._base import ModelEvent
from ._common import (
    Attachment,
    TimestampValue,
    expect_object,
    opt_bool,
    opt_id,
    opt_ids,
    opt_int,
    opt_list,
    opt_object,
    opt_str,
    opt_strs,
    opt_timestamp,
    parse_attachments,
    req_id,
    req_object,
)

__all__ = [
    "ArkData",
    "Author",
    "C2CMessageCreate",
    "ChannelAtMessageCreate",
    "ChannelMessageCreate",
    "DirectMessageCreate",
    "GroupAtMessageCreate",
    "GroupMessageCreate",
    "GuildMember",
    "GuildMessageEvent",
    "InboundMessage",
    "Mention",
    "MessageDelete",
    "MessageElement",
    "MessageEvent",
    "MessageScene",
    "QuotedMessage",
    "ReferenceIndex",
    "parse_c2c_message",
    "parse_direct_message",
    "parse_group_message",
    "parse_guild_message",
    "parse_message_delete",
]

#: gateway.md §6.2: ``message_type`` 103 means ``msg_elements[0]`` is a quoted message.
QUOTE_MESSAGE_TYPE = 103
#: ``msg_elements`` nest (an element may carry its own, c2c_message_create.md MsgElement);
#: deeper levels than this are not modelled (they stay in ``raw``).
_MAX_ELEMENT_DEPTH: Final = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Author:
    """Every id and name the scene's author object carried (gateway.md §6.3)."""

    id: str | None = None
    user_openid: str | None = None
    member_openid: str | None = None
    union_openid: str | None = None
    username: str | None = None
    bot: bool = False
    avatar: str | None = None
    #: ``member`` / ``admin`` / ``owner`` in groups (one SDK only).
    member_role: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mention:
    """One mentioned user.

    Group messages give ``scope`` (``"single"``/``"all"``), ``member_openid`` and
    ``is_you``; guild messages give a User object (``id``, ``username``, ``bot``), where
    ``is_you`` stays ``None`` (gateway.md §6.2, §6.5).
    """

    id: str | None = None
    member_openid: str | None = None
    username: str | None = None
    bot: bool = False
    is_you: bool | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ArkData:
    """``ark_data`` of a ``message_type`` 3 message (an ARK card the user sent, C2C and
    groups; c2c_message_create.md ARKData): ``ark_type`` (``miniapp``, ``feed``,
    ``forward_msg`` …), its display name, the prompt text and the card's ``fields``
    (``title``, ``desc``, ``jump_url`` …) as sent."""

    ark_type: str | None = None
    ark_name: str | None = None
    prompt: str | None = None
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageElement:
    """One entry of ``msg_elements`` (c2c_message_create.md MsgElement): a quoted,
    parallel or forwarded message inside this one.  Only what the element carried is
    known; ``elements`` are its own nested entries."""

    msg_idx: str | None = None
    content: str = ""
    message_type: int | None = None
    author_id: str | None = None
    author_name: str | None = None
    author_is_bot: bool | None = None
    attachments: tuple[Attachment, ...] = ()
    ark_data: ArkData | None = None
    elements: tuple[MessageElement, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotedMessage(MessageElement):
    """The message a ``message_type`` 103 message quotes: its ``msg_elements[0]``
    (gateway.md §6.2, rest.md §10.7)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageScene:
    """``message_scene`` of a C2C or group message: ``source`` and the ``ext`` entries
    (``key=value`` strings such as ``msg_idx=REFIDX_…``) with the known keys read out.

    ``auth_token`` is what the docs call the scene's authentication token; it is kept out
    of ``repr`` (so is ``ext``, which carries it), like every credential.
    """

    source: str | None = None
    ext: tuple[str, ...] = field(default=(), repr=False)
    msg_idx: str | None = None
    ref_msg_idx: str | None = None
    auth_token: str | None = field(default=None, repr=False)

    def get(self, key: str) -> str | None:
        """The value of the first ``ext`` entry ``key=value`` with a non-empty value, or
        ``None``."""
        for item in self.ext:
            name, sep, value = item.partition("=")
            if sep and name.strip() == key and value.strip():
                return value.strip()
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceIndex:
    """The ``REFIDX_…`` indices of ``message_scene.ext`` (gateway.md §6.2).

    ``msg_idx`` names this message, ``ref_msg_idx`` the one it quotes.
    """

    msg_idx: str | None = None
    ref_msg_idx: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A message in the same shape whatever scene it came from.

    ``chat_id`` is where a reply goes (rest.md §2.1); ``msg_id`` is ``d.id``, the
    ``msg_id`` of a passive reply and the key to deduplicate on (gateway.md §6.2);
    ``event_id`` is the frame ``id``.  ``author_id`` is the scene's own id for the
    author: ``user_openid`` in C2C, ``member_openid`` in groups, the User ``id`` in guilds
    (each falling back to ``author.id``).  ``timestamp`` is the value as sent, ``time``
    the parsed aware date-time or ``None``.
    """

    event_type: str
    scope: ChatScope
    chat_id: str
    msg_id: str
    event_id: str | None
    author_id: str
    author: Author
    content: str = ""
    guild_id: str | None = None
    channel_id: str | None = None
    mentions: tuple[Mention, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    quoted: QuotedMessage | None = None
    timestamp: TimestampValue = None
    time: datetime | None = None
    message_type: int | None = None
    reference_index: ReferenceIndex | None = None
    #: Every ``msg_elements`` entry (``quoted`` is the first, for a 103 message).
    elements: tuple[MessageElement, ...] = ()
    scene: MessageScene | None = None
    ark_data: ArkData | None = None

    @property
    def author_name(self) -> str | None:
        return self.author.username

    @property
    def is_bot(self) -> bool:
        return self.author.bot


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEvent(ModelEvent):
    """Base of the six message events; ``message`` is the normalised view."""

    message: InboundMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class C2CMessageCreate(MessageEvent):
    """``C2C_MESSAGE_CREATE``: a user wrote to the bot one-to-one (gateway.md §6.5)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupAtMessageCreate(MessageEvent):
    """``GROUP_AT_MESSAGE_CREATE``: a group message that @-mentions the bot.

    ``message.content`` has the leading whitespace the platform leaves where it removed
    the mention trimmed (gateway.md §6.2); ``raw["content"]`` keeps the original.
    """

    group_openid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMessageCreate(MessageEvent):
    """``GROUP_MESSAGE_CREATE``: any group message (SDK-only event, gateway.md §6.1).

    A message that @-mentions the bot may also arrive as :class:`GroupAtMessageCreate`;
    deduplicate on ``message.msg_id``.
    """

    group_openid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GuildMember:
    """The ``member`` object of a guild message: the author's membership in the guild."""

    nick: str | None = None
    roles: tuple[str, ...] = ()
    joined_at: TimestampValue = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GuildMessageEvent(MessageEvent):
    """Base of the guild Message object events (gateway.md §6.5).

    ``seq_in_channel`` orders messages within a channel; ``reference_message_id`` is
    ``message_reference.message_id`` (the message this one replies to).
    """

    guild_id: str | None
    channel_id: str | None
    member: GuildMember | None = None
    seq_in_channel: str | None = None
    reference_message_id: str | None = None
    mention_everyone: bool = False
    edited_timestamp: TimestampValue = None
    #: ``Message.seq``: documented both as deprecated since 2022-08-01 and as the sort
    #: key, so it is kept as sent (``seq_in_channel`` replaces it).  Not the frame ``seq``.
    message_seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelMessageCreate(GuildMessageEvent):
    """``MESSAGE_CREATE``: any message in a guild channel (private-domain bots)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelAtMessageCreate(GuildMessageEvent):
    """``AT_MESSAGE_CREATE``: a channel message that @-mentions the bot.

    The content keeps the mention markup (``<@!botid>``) as sent (gateway.md §6.5).
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectMessageCreate(GuildMessageEvent):
    """``DIRECT_MESSAGE_CREATE``: a guild direct message.

    ``guild_id`` is the DM session's own pseudo-guild, the id a reply goes to;
    ``src_guild_id`` is the guild the DM started from (gateway.md §6.5).
    """

    src_guild_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDelete(ModelEvent):
    """``MESSAGE_DELETE``, ``PUBLIC_MESSAGE_DELETE``, ``DIRECT_MESSAGE_DELETE``: a guild
    message was recalled; ``op_user_id`` is who did it (gateway.md §6.5)."""

    scope: ChatScope
    message_id: str
    channel_id: str | None = None
    guild_id: str | None = None
    author_id: str | None = None
    author_name: str | None = None
    author_is_bot: bool | None = None
    op_user_id: str | None = None


# --- parsing ----------------------------------------------------------------------------


def _author(d: dict[str, Any]) -> Author:
    a = req_object(d, "author", "d")
    p = "d.author"
    return Author(
        id=opt_id(a, "id", p),
        user_openid=opt_id(a, "user_openid", p),
        member_openid=opt_id(a, "member_openid", p),
        union_openid=opt_id(a, "union_openid", p),
        username=opt_str(a, "username", p),
        bot=opt_bool(a, "bot", p) or False,
        avatar=opt_str(a, "avatar", p),
        member_role=opt_str(a, "member_role", p),
    )


def _mentions(d: dict[str, Any]) -> tuple[Mention, ...]:
    items = opt_list(d, "mentions", "d")
    if not items:
        return ()
    result = []
    for index, item in enumerate(items):
        p = f"d.mentions[{index}]"
        m = expect_object(item, p)
        result.append(Mention(
            id=opt_id(m, "id", p),
            member_openid=opt_id(m, "member_openid", p),
            username=opt_str(m, "username", p),
            bot=opt_bool(m, "bot", p) or False,
            is_you=opt_bool(m, "is_you", p),
            scope=opt_str(m, "scope", p),
        ))
    return tuple(result)


def _ark_data(d: dict[str, Any], path: str) -> ArkData | None:
    a = opt_object(d, "ark_data", path)
    if a is None:
        return None
    p = path + ".ark_data"
    fields = opt_object(a, "fields", p) or {}
    return ArkData(ark_type=opt_str(a, "ark_type", p), ark_name=opt_str(a, "ark_name", p),
                   prompt=opt_str(a, "prompt", p), fields=MappingProxyType(dict(fields)))


def _elements(d: dict[str, Any], path: str, depth: int = 0) -> tuple[MessageElement, ...]:
    items = opt_list(d, "msg_elements", path)
    if not items or depth >= _MAX_ELEMENT_DEPTH:
        return ()
    result = []
    for index, item in enumerate(items):
        p = f"{path}.msg_elements[{index}]"
        e = expect_object(item, p)
        a = opt_object(e, "author", p) or {}
        pa = p + ".author"
        result.append(MessageElement(
            msg_idx=opt_id(e, "msg_idx", p),
            content=opt_str(e, "content", p) or "",
            message_type=opt_int(e, "message_type", p),
            author_id=(opt_id(a, "member_openid", pa) or opt_id(a, "user_openid", pa)
                       or opt_id(a, "id", pa)),
            author_name=opt_str(a, "username", pa),
            author_is_bot=opt_bool(a, "bot", pa),
            attachments=parse_attachments(e, p),
            ark_data=_ark_data(e, p),
            elements=_elements(e, p, depth + 1),
        ))
    return tuple(result)


def _quoted(elements: tuple[MessageElement, ...], message_type: int | None
            ) -> QuotedMessage | None:
    if message_type != QUOTE_MESSAGE_TYPE or not elements:
        # A quote marker without the element: nothing to show, not a broken message.
        return None
    first = elements[0]
    return QuotedMessage(**{name: getattr(first, name)
                            for name in MessageElement.__dataclass_fields__})


def _scene(d: dict[str, Any]) -> MessageScene | None:
    scene = opt_object(d, "message_scene", "d")
    if scene is None:
        return None
    found = MessageScene(ext=opt_strs(scene, "ext", "d.message_scene"))
    # gateway.md §6.2: entries look like "ref_msg_idx=REFIDX_…" / "msg_idx=REFIDX_…";
    # the autogen pages add "auth_token=…".
    return MessageScene(source=opt_str(scene, "source", "d.message_scene"), ext=found.ext,
                        msg_idx=found.get("msg_idx"), ref_msg_idx=found.get("ref_msg_idx"),
                        auth_token=found.get("auth_token"))


def _reference_index(d: dict[str, Any], scene: MessageScene | None,
                     quoted: QuotedMessage | None) -> ReferenceIndex | None:
    msg_idx = scene.msg_idx if scene is not None else None
    ref_msg_idx = scene.ref_msg_idx if scene is not None else None
    if msg_idx is None:
        msg_idx = opt_id(d, "msg_idx", "d")  # NB models a top-level msg_idx (§6.2)
    if ref_msg_idx is None and quoted is not None:
        ref_msg_idx = quoted.msg_idx
    if msg_idx is None and ref_msg_idx is None:
        return None
    return ReferenceIndex(msg_idx=msg_idx, ref_msg_idx=ref_msg_idx)


def _inbound(
    dispatch: Dispatch,
    d: dict[str, Any],
    *,
    scope: ChatScope,
    chat_id: str,
    author: Author,
    author_id: str,
    content: str,
    mentions: tuple[Mention, ...],
    guild_id: str | None = None,
    channel_id: str | None = None,
) -> InboundMessage:
    message_type = opt_int(d, "message_type", "d")
    elements = _elements(d, "d")
    quoted = _quoted(elements, message_type)
    scene = _scene(d)
    timestamp, time = opt_timestamp(d, "timestamp", "d")
    return InboundMessage(
        event_type=dispatch.type,
        scope=scope,
        chat_id=chat_id,
        msg_id=req_id(d, "id", "d"),
        event_id=dispatch.id,
        author_id=author_id,
        author=author,
        content=content,
        guild_id=guild_id,
        channel_id=channel_id,
        mentions=mentions,
        attachments=parse_attachments(d, "d"),
        quoted=quoted,
        timestamp=timestamp,
        time=time,
        message_type=message_type,
        reference_index=_reference_index(d, scene, quoted),
        elements=elements,
        scene=scene,
        ark_data=_ark_data(d, "d"),
    )


def parse_c2c_message(dispatch: Dispatch) -> C2CMessageCreate:
    d = expect_object(dispatch.data, "d")
    author = _author(d)
    # gateway.md §6.5: the reply target is author.user_openid (author.id carries the same
    # value in captures, so it is the fallback).
    user = author.user_openid or author.id
    if not user:
        raise Invalid("d.author: no user_openid or id (the reply target)")
    message = _inbound(dispatch, d, scope=ChatScope.C2C, chat_id=user, author=author,
                       author_id=user, content=opt_str(d, "content", "d") or "",
                       mentions=_mentions(d))
    return C2CMessageCreate(type=dispatch.type, event_id=dispatch.id, seq=dispatch.seq,
                            raw=dispatch.data, message=message)


def parse_group_message(dispatch: Dispatch) -> GroupAtMessageCreate | GroupMessageCreate:
    d = expect_object(dispatch.data, "d")
    # gateway.md §6.2: group_id carries the same value as group_openid in captures.
    group = opt_id(d, "group_openid", "d") or opt_id(d, "group_id", "d")
    if not group:
        raise Invalid("d.group_openid: missing")
    author = _author(d)
    member = author.member_openid or author.id
    if not member:
        raise Invalid("d.author: no member_openid or id")
    content = opt_str(d, "content", "d") or ""
    at = dispatch.type == "GROUP_AT_MESSAGE_CREATE"
    if at:
        # gateway.md §6.2: the platform removes the @bot mention and usually leaves the
        # space that followed it (" status please").
        content = content.lstrip()
    message = _inbound(dispatch, d, scope=ChatScope.GROUP, chat_id=group, author=author,
                       author_id=member, content=content, mentions=_mentions(d))
    if at:
        return GroupAtMessageCreate(type=dispatch.type, event_id=dispatch.id, seq=dispatch.seq,
                                    raw=dispatch.data, message=message, group_openid=group)
    return GroupMessageCreate(type=dispatch.type, event_id=dispatch.id, seq=dispatch.seq,
                              raw=dispatch.data, message=message, group_openid=group)


def _guild_author(d: dict[str, Any]) -> Author:
    author = _author(d)
    if not author.id:
        raise Invalid("d.author.id: missing")
    return author


def _guild_member(d: dict[str, Any]) -> GuildMember | None:
    m = opt_object(d, "member", "d")
    if m is None:
        return None
    roles = opt_ids(m, "roles", "d.member")
    joined_at, _ = opt_timestamp(m, "joined_at", "d.member")
    return GuildMember(nick=opt_str(m, "nick", "d.member"), roles=roles, joined_at=joined_at)


def _guild_fields(d: dict[str, Any]) -> dict[str, Any]:
    reference = opt_object(d, "message_reference", "d")
    edited, _ = opt_timestamp(d, "edited_timestamp", "d")
    return {
        "member": _guild_member(d),
        "seq_in_channel": opt_id(d, "seq_in_channel", "d"),
        "reference_message_id": (opt_id(reference, "message_id", "d.message_reference")
                                 if reference is not None else None),
        "mention_everyone": opt_bool(d, "mention_everyone", "d") or False,
        "edited_timestamp": edited,
        "message_seq": opt_int(d, "seq", "d"),
    }


def parse_guild_message(dispatch: Dispatch) -> ChannelMessageCreate | ChannelAtMessageCreate:
    d = expect_object(dispatch.data, "d")
    channel = req_id(d, "channel_id", "d")
    guild = opt_id(d, "guild_id", "d")
    author = _guild_author(d)
    assert author.id is not None  # checked by _guild_author
    message = _inbound(dispatch, d, scope=ChatScope.CHANNEL, chat_id=channel, author=author,
                       author_id=author.id, content=opt_str(d, "content", "d") or "",
                       mentions=_mentions(d), guild_id=guild, channel_id=channel)
    cls: type[ChannelAtMessageCreate] | type[ChannelMessageCreate] = (
        ChannelAtMessageCreate if dispatch.type == "AT_MESSAGE_CREATE" else ChannelMessageCreate)
    return cls(type=dispatch.type, event_id=dispatch.id, seq=dispatch.seq, raw=dispatch.data,
               message=message, guild_id=guild, channel_id=channel, **_guild_fields(d))


def parse_direct_message(dispatch: Dispatch) -> DirectMessageCreate:
    d = expect_object(dispatch.data, "d")
    # gateway.md §6.5: a DM reply goes to the DM session's guild_id (rest.md §2.1).
    guild = req_id(d, "guild_id", "d")
    channel = opt_id(d, "channel_id", "d")
    author = _guild_author(d)
    assert author.id is not None
    message = _inbound(dispatch, d, scope=ChatScope.DM, chat_id=guild, author=author,
                       author_id=author.id, content=opt_str(d, "content", "d") or "",
                       mentions=_mentions(d), guild_id=guild, channel_id=channel)
    return DirectMessageCreate(
        type=dispatch.type, event_id=dispatch.id, seq=dispatch.seq, raw=dispatch.data,
        message=message, guild_id=guild, channel_id=channel,
        src_guild_id=opt_id(d, "src_guild_id", "d"), **_guild_fields(d))


def parse_message_delete(dispatch: Dispatch) -> MessageDelete:
    d = expect_object(dispatch.data, "d")
    m = req_object(d, "message", "d")
    p = "d.message"
    a = opt_object(m, "author", p) or {}
    op_user = opt_object(d, "op_user", "d") or {}
    return MessageDelete(
        type=dispatch.type, event_id=dispatch.id, seq=dispatch.seq, raw=dispatch.data,
        scope=ChatScope.DM if dispatch.type == "DIRECT_MESSAGE_DELETE" else ChatScope.CHANNEL,
        message_id=req_id(m, "id", p),
        channel_id=opt_id(m, "channel_id", p),
        guild_id=opt_id(m, "guild_id", p),
        author_id=opt_id(a, "id", p + ".author"),
        author_name=opt_str(a, "username", p + ".author"),
        author_is_bot=opt_bool(a, "bot", p + ".author"),
        op_user_id=opt_id(op_user, "id", "d.op_user"),
    )
