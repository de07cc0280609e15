"""Guild-side events: guilds, channels, members, reactions, forums and audio.

The fact sheet lists these event names (gateway.md §6.1) but not their payloads in
detail, so each family gets one class whose ``type`` tells the members apart, with the
fields the official guild object models name; everything else stays in ``raw``.  Only
the id that says *what* changed is required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import Invalid
from ..events import Dispatch
from ._base import ModelEvent, envelope
from ._common import (
    TimestampValue,
    expect_object,
    kind,
    opt_bool,
    opt_id,
    opt_ids,
    opt_int,
    opt_object,
    opt_str,
    opt_timestamp,
    req_id,
)

__all__ = [
    "AudioEvent",
    "AudioLiveMemberEvent",
    "ChannelEvent",
    "ForumEvent",
    "GuildEvent",
    "GuildMemberEvent",
    "OpenForumEvent",
    "ReactionEvent",
    "RichText",
    "parse_audio",
    "parse_audio_live_member",
    "parse_channel",
    "parse_forum",
    "parse_guild",
    "parse_guild_member",
    "parse_open_forum",
    "parse_reaction",
    "rich_text_plain",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class GuildEvent(ModelEvent):
    """``GUILD_CREATE`` / ``GUILD_UPDATE`` / ``GUILD_DELETE``: the bot joined a guild,
    the guild changed, the bot left (``d`` is the Guild object; ``guild_id`` is its
    ``id``)."""

    guild_id: str
    name: str | None = None
    owner_id: str | None = None
    member_count: int | None = None
    max_members: int | None = None
    description: str | None = None
    joined_at: TimestampValue = None
    op_user_id: str | None = None
    icon: str | None = None


def parse_guild(dispatch: Dispatch) -> GuildEvent:
    d = expect_object(dispatch.data, "d")
    joined_at, _ = opt_timestamp(d, "joined_at", "d")
    return GuildEvent(
        **envelope(dispatch), guild_id=req_id(d, "id", "d"), name=opt_str(d, "name", "d"),
        owner_id=opt_id(d, "owner_id", "d"), member_count=opt_int(d, "member_count", "d"),
        max_members=opt_int(d, "max_members", "d"),
        description=opt_str(d, "description", "d"), joined_at=joined_at,
        op_user_id=opt_id(d, "op_user_id", "d"), icon=opt_str(d, "icon", "d"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(ModelEvent):
    """``CHANNEL_CREATE`` / ``CHANNEL_UPDATE`` / ``CHANNEL_DELETE`` (``d`` is the
    Channel object; ``channel_id`` is its ``id``)."""

    channel_id: str
    guild_id: str | None = None
    name: str | None = None
    channel_type: int | None = None
    sub_type: int | None = None
    parent_id: str | None = None
    owner_id: str | None = None
    op_user_id: str | None = None


def parse_channel(dispatch: Dispatch) -> ChannelEvent:
    d = expect_object(dispatch.data, "d")
    return ChannelEvent(
        **envelope(dispatch), channel_id=req_id(d, "id", "d"),
        guild_id=opt_id(d, "guild_id", "d"), name=opt_str(d, "name", "d"),
        channel_type=opt_int(d, "type", "d"), sub_type=opt_int(d, "sub_type", "d"),
        parent_id=opt_id(d, "parent_id", "d"), owner_id=opt_id(d, "owner_id", "d"),
        op_user_id=opt_id(d, "op_user_id", "d"))


@dataclass(frozen=True, slots=True, kw_only=True)
class GuildMemberEvent(ModelEvent):
    """``GUILD_MEMBER_ADD`` / ``_UPDATE`` / ``_REMOVE`` (``d`` is a Member object with
    ``guild_id`` and the nested ``user``)."""

    guild_id: str
    user_id: str | None = None
    username: str | None = None
    is_bot: bool | None = None
    nick: str | None = None
    roles: tuple[str, ...] = ()
    joined_at: TimestampValue = None
    op_user_id: str | None = None
    avatar: str | None = None


def parse_guild_member(dispatch: Dispatch) -> GuildMemberEvent:
    d = expect_object(dispatch.data, "d")
    user = opt_object(d, "user", "d") or {}
    roles = opt_ids(d, "roles", "d")
    joined_at, _ = opt_timestamp(d, "joined_at", "d")
    return GuildMemberEvent(
        **envelope(dispatch), guild_id=req_id(d, "guild_id", "d"),
        user_id=opt_id(user, "id", "d.user"), username=opt_str(user, "username", "d.user"),
        is_bot=opt_bool(user, "bot", "d.user"), nick=opt_str(d, "nick", "d"),
        roles=roles, joined_at=joined_at, op_user_id=opt_id(d, "op_user_id", "d"),
        avatar=opt_str(user, "avatar", "d.user"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionEvent(ModelEvent):
    """``MESSAGE_REACTION_ADD`` / ``_REMOVE``: an emoji reaction on a guild message.

    ``target_type``: 0 message, 1 post, 2 comment, 3 reply; ``emoji_type``: 1 system,
    2 emoji character.
    """

    user_id: str | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    target_id: str | None = None
    target_type: int | None = None
    emoji_id: str | None = None
    emoji_type: int | None = None


def parse_reaction(dispatch: Dispatch) -> ReactionEvent:
    d = expect_object(dispatch.data, "d")
    target = opt_object(d, "target", "d") or {}
    emoji = opt_object(d, "emoji", "d") or {}
    return ReactionEvent(
        **envelope(dispatch), user_id=opt_id(d, "user_id", "d"),
        guild_id=opt_id(d, "guild_id", "d"), channel_id=opt_id(d, "channel_id", "d"),
        target_id=opt_id(target, "id", "d.target"),
        target_type=opt_int(target, "type", "d.target"),
        emoji_id=opt_id(emoji, "id", "d.emoji"), emoji_type=opt_int(emoji, "type", "d.emoji"))


#: A forum text field as sent: a string (forum/model.md) or an array of RichObjects
#: (every example on forum.md); see :func:`rich_text_plain`.
RichText: TypeAlias = str | tuple[Any, ...]


def rich_text_plain(value: RichText | None) -> str:
    """The readable text of a forum field: a string as it is; for RichObjects the
    ``text_info.text``, ``channel_info.channel_name`` and ``url_info`` display text (or
    URL) joined in order (the kinds forum.md's examples show); emoji and anything else
    are skipped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    out = []
    for item in value:
        if not isinstance(item, dict):
            continue
        for key, fields in (("text_info", ("text",)), ("url_info", ("display_text", "url")),
                            ("channel_info", ("channel_name",))):
            info = item.get(key)
            if isinstance(info, dict):
                text = next((info[f] for f in fields
                             if isinstance(info.get(f), str) and info[f]), "")
                out.append(text)
                break
    return "".join(out)


def _rich(info: dict[str, Any], key: str, path: str) -> RichText | None:
    # forum/model.md types title/content as string, but every example on forum.md
    # sends arrays of RichObject: both are accepted and kept as sent (an ambiguity of
    # the docs; the array is not interpreted beyond rich_text_plain).
    value = info.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return tuple(value)
    raise Invalid(f"{path}.{key}: expected a string or an array, got {kind(value)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ForumEvent(ModelEvent):
    """``FORUM_THREAD_*``, ``FORUM_POST_*``, ``FORUM_REPLY_*`` and
    ``FORUM_PUBLISH_AUDIT_RESULT`` (private-domain forums).

    The ids come from whichever of ``thread_info``/``post_info``/``reply_info`` the event
    carries, or from the top level for the audit result (``publish_type``, ``result``,
    ``err_msg``).  ``title``/``content`` are kept as sent: a string or a tuple of
    RichObjects; ``title_text``/``content_text`` give their plain text.
    """

    guild_id: str | None = None
    channel_id: str | None = None
    author_id: str | None = None
    thread_id: str | None = None
    post_id: str | None = None
    reply_id: str | None = None
    title: RichText | None = None
    content: RichText | None = None
    date_time: TimestampValue = None
    publish_type: int | None = None
    result: int | None = None
    err_msg: str | None = None

    @property
    def title_text(self) -> str:
        return rich_text_plain(self.title)

    @property
    def content_text(self) -> str:
        return rich_text_plain(self.content)


def parse_forum(dispatch: Dispatch) -> ForumEvent:
    d = expect_object(dispatch.data, "d")
    info: dict[str, Any] = d
    path = "d"
    for key in ("reply_info", "post_info", "thread_info"):
        found = opt_object(d, key, "d")
        if found is not None:
            info, path = found, "d." + key
            break
    date_time, _ = opt_timestamp(info, "date_time", path)
    return ForumEvent(
        **envelope(dispatch), guild_id=opt_id(d, "guild_id", "d"),
        channel_id=opt_id(d, "channel_id", "d"), author_id=opt_id(d, "author_id", "d"),
        thread_id=opt_id(info, "thread_id", path), post_id=opt_id(info, "post_id", path),
        reply_id=opt_id(info, "reply_id", path), title=_rich(info, "title", path),
        content=_rich(info, "content", path), date_time=date_time,
        publish_type=opt_int(d, "type", "d") if path == "d" else None,
        result=opt_int(d, "result", "d"), err_msg=opt_str(d, "err_msg", "d"))


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenForumEvent(ModelEvent):
    """``OPEN_FORUM_*``: the public-domain forum events carry only who and where."""

    guild_id: str | None = None
    channel_id: str | None = None
    author_id: str | None = None


def parse_open_forum(dispatch: Dispatch) -> OpenForumEvent:
    d = expect_object(dispatch.data, "d")
    return OpenForumEvent(
        **envelope(dispatch), guild_id=opt_id(d, "guild_id", "d"),
        channel_id=opt_id(d, "channel_id", "d"), author_id=opt_id(d, "author_id", "d"))


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioEvent(ModelEvent):
    """``AUDIO_START`` / ``AUDIO_FINISH`` (``audio_url``, ``text``) and ``AUDIO_ON_MIC`` /
    ``AUDIO_OFF_MIC`` (``user_id``) in a guild audio channel."""

    guild_id: str | None = None
    channel_id: str | None = None
    audio_url: str | None = None
    text: str | None = None
    user_id: str | None = None


def parse_audio(dispatch: Dispatch) -> AudioEvent:
    d = expect_object(dispatch.data, "d")
    return AudioEvent(
        **envelope(dispatch), guild_id=opt_id(d, "guild_id", "d"),
        channel_id=opt_id(d, "channel_id", "d"), audio_url=opt_str(d, "audio_url", "d"),
        text=opt_str(d, "text", "d"), user_id=opt_id(d, "user_id", "d"))


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioLiveMemberEvent(ModelEvent):
    """``AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER`` / ``_EXIT``: someone joined or left an
    audio or live channel."""

    guild_id: str | None = None
    channel_id: str | None = None
    channel_type: int | None = None
    user_id: str | None = None


def parse_audio_live_member(dispatch: Dispatch) -> AudioLiveMemberEvent:
    d = expect_object(dispatch.data, "d")
    return AudioLiveMemberEvent(
        **envelope(dispatch), guild_id=opt_id(d, "guild_id", "d"),
        channel_id=opt_id(d, "channel_id", "d"), channel_type=opt_int(d, "channel_type", "d"),
        user_id=opt_id(d, "user_id", "d"))
