"""``parse_event``: a generic :class:`~qqproto.events.Dispatch` in, a typed event out.

Parsing is total (DESIGN.md §2.2): whatever JSON value ``data`` holds, a known type gives
its class or a :class:`MalformedEvent` that says what is wrong, an unknown type gives an
:class:`UnknownEvent`, and nothing raises.  The table below is the single place that maps
a dispatch type (gateway.md §6.1) to its parser and class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, TypeAlias

from ..errors import Invalid, ModelError
from ..events import BotUser, Dispatch, Ready, Resumed
from . import _guild, _interaction, _lifecycle, _messages
from ._base import MalformedEvent, ModelEvent, UnknownEvent
from ._common import expect_object, opt_bool, opt_int, opt_list, opt_str, req_id, req_object
from ._fast import fast_parse
from ._messages import InboundMessage, MessageEvent

__all__ = [
    "EVENT_CLASSES",
    "ParsedEvent",
    "inbound_message",
    "parse_event",
    "parse_event_strict",
]

#: What :func:`parse_event` returns: a model event, or READY/RESUMED as the gateway's own
#: :class:`~qqproto.events.Ready`/:class:`~qqproto.events.Resumed`.
ParsedEvent: TypeAlias = ModelEvent | Ready | Resumed

_Parser: TypeAlias = Callable[[Dispatch], "ParsedEvent"]


def _ready(dispatch: Dispatch) -> Ready:
    # A plain Dispatch("READY") (e.g. recorded, or from another gateway) → the gateway's
    # own Ready value (gateway.md §4.8).
    d = expect_object(dispatch.data, "d")
    user = req_object(d, "user", "d")
    shard = None
    pair = opt_list(d, "shard", "d")
    if pair is not None:
        if len(pair) != 2 or not all(type(x) is int for x in pair):
            raise Invalid("d.shard: expected [shard_id, num_shards]")
        shard = (pair[0], pair[1])
    session_id = opt_str(d, "session_id", "d")
    if not session_id:
        raise Invalid("d.session_id: missing")
    bot = opt_bool(user, "bot", "d.user")
    return Ready(
        type=dispatch.type, seq=dispatch.seq, id=dispatch.id, data=dispatch.data,
        session_id=session_id,
        user=BotUser(id=req_id(user, "id", "d.user"),
                     username=opt_str(user, "username", "d.user") or "",
                     bot=True if bot is None else bot),
        shard=shard, version=opt_int(d, "version", "d"))


def _resumed(dispatch: Dispatch) -> Resumed:
    # gateway.md §3.1: RESUMED's d is the string "" (any value is accepted: nothing in
    # it is used).
    return Resumed(type=dispatch.type, seq=dispatch.seq, id=dispatch.id, data=dispatch.data)


_M, _L, _G = _messages, _lifecycle, _guild

# dispatch type → (parser, class it returns); gateway.md §6.1.
_TABLE: Final[dict[str, tuple[_Parser, type]]] = {
    "READY": (_ready, Ready),
    "RESUMED": (_resumed, Resumed),
    "C2C_MESSAGE_CREATE": (_M.parse_c2c_message, _M.C2CMessageCreate),
    "GROUP_AT_MESSAGE_CREATE": (_M.parse_group_message, _M.GroupAtMessageCreate),
    "GROUP_MESSAGE_CREATE": (_M.parse_group_message, _M.GroupMessageCreate),
    "AT_MESSAGE_CREATE": (_M.parse_guild_message, _M.ChannelAtMessageCreate),
    "MESSAGE_CREATE": (_M.parse_guild_message, _M.ChannelMessageCreate),
    "DIRECT_MESSAGE_CREATE": (_M.parse_direct_message, _M.DirectMessageCreate),
    "MESSAGE_DELETE": (_M.parse_message_delete, _M.MessageDelete),
    "PUBLIC_MESSAGE_DELETE": (_M.parse_message_delete, _M.MessageDelete),
    "DIRECT_MESSAGE_DELETE": (_M.parse_message_delete, _M.MessageDelete),
    "INTERACTION_CREATE": (_interaction.parse_interaction, _interaction.InteractionCreate),
    "FRIEND_ADD": (_L.parse_c2c_lifecycle, _L.FriendAdd),
    "FRIEND_DEL": (_L.parse_c2c_lifecycle, _L.FriendDel),
    "C2C_MSG_REJECT": (_L.parse_c2c_lifecycle, _L.C2CMsgReject),
    "C2C_MSG_RECEIVE": (_L.parse_c2c_lifecycle, _L.C2CMsgReceive),
    "GROUP_ADD_ROBOT": (_L.parse_group_lifecycle, _L.GroupAddRobot),
    "GROUP_DEL_ROBOT": (_L.parse_group_lifecycle, _L.GroupDelRobot),
    "GROUP_MSG_REJECT": (_L.parse_group_lifecycle, _L.GroupMsgReject),
    "GROUP_MSG_RECEIVE": (_L.parse_group_lifecycle, _L.GroupMsgReceive),
    "GROUP_MEMBER_ADD": (_L.parse_group_member, _L.GroupMemberAdd),
    "GROUP_MEMBER_REMOVE": (_L.parse_group_member, _L.GroupMemberRemove),
    "GROUP_JOIN_REQUEST": (_L.parse_group_join_request, _L.GroupJoinRequest),
    "MESSAGE_AUDIT_PASS": (_L.parse_message_audit, _L.MessageAuditPass),
    "MESSAGE_AUDIT_REJECT": (_L.parse_message_audit, _L.MessageAuditReject),
    "SUBSCRIBE_MESSAGE_STATUS": (_L.parse_subscribe_status, _L.SubscribeMessageStatus),
    "ENTER_AIO": (_L.parse_enter_aio, _L.EnterAio),
}
for _names, _entry in (
    ("GUILD_CREATE GUILD_UPDATE GUILD_DELETE", (_G.parse_guild, _G.GuildEvent)),
    ("CHANNEL_CREATE CHANNEL_UPDATE CHANNEL_DELETE", (_G.parse_channel, _G.ChannelEvent)),
    ("GUILD_MEMBER_ADD GUILD_MEMBER_UPDATE GUILD_MEMBER_REMOVE",
     (_G.parse_guild_member, _G.GuildMemberEvent)),
    ("MESSAGE_REACTION_ADD MESSAGE_REACTION_REMOVE", (_G.parse_reaction, _G.ReactionEvent)),
    ("FORUM_THREAD_CREATE FORUM_THREAD_UPDATE FORUM_THREAD_DELETE FORUM_POST_CREATE "
     "FORUM_POST_DELETE FORUM_REPLY_CREATE FORUM_REPLY_DELETE FORUM_PUBLISH_AUDIT_RESULT",
     (_G.parse_forum, _G.ForumEvent)),
    ("OPEN_FORUM_THREAD_CREATE OPEN_FORUM_THREAD_UPDATE OPEN_FORUM_THREAD_DELETE "
     "OPEN_FORUM_POST_CREATE OPEN_FORUM_POST_DELETE OPEN_FORUM_REPLY_CREATE "
     "OPEN_FORUM_REPLY_DELETE", (_G.parse_open_forum, _G.OpenForumEvent)),
    ("AUDIO_START AUDIO_FINISH AUDIO_ON_MIC AUDIO_OFF_MIC", (_G.parse_audio, _G.AudioEvent)),
    ("AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER AUDIO_OR_LIVE_CHANNEL_MEMBER_EXIT",
     (_G.parse_audio_live_member, _G.AudioLiveMemberEvent)),
):
    for _name in _names.split():
        _TABLE[_name] = _entry

#: Dispatch type → the class :func:`parse_event` returns for a well-formed payload.
EVENT_CLASSES: Final[Mapping[str, type]] = MappingProxyType(
    {name: cls for name, (_, cls) in _TABLE.items()})


def _parse(dispatch: Dispatch) -> ParsedEvent | str:
    """The typed event, or the error text for a malformed payload."""
    if type(dispatch) is Dispatch and (event := fast_parse(dispatch)) is not None:
        return event  # the common message shapes, built without the readers (see _fast)
    if isinstance(dispatch, Ready | Resumed):
        return dispatch
    event_type = dispatch.type
    entry = _TABLE.get(event_type) if isinstance(event_type, str) else None
    if entry is None:
        return UnknownEvent(type=event_type, event_id=dispatch.id, seq=dispatch.seq,
                            raw=dispatch.data, dispatch=dispatch)
    try:
        return entry[0](dispatch)
    except Invalid as exc:
        return str(exc)
    except Exception as exc:
        # Backstop for totality: a parser bug must not take the event loop down.  The
        # property tests assert this branch is never reached.
        return f"internal parser error ({type(exc).__name__}); please report this payload"


def parse_event(dispatch: Dispatch) -> ParsedEvent:
    """Turn a dispatch into its typed event; never raises.

    Known type, good payload → its class (see :data:`EVENT_CLASSES`); known type, bad
    payload → :class:`MalformedEvent`; unknown type → :class:`UnknownEvent`.
    :class:`~qqproto.events.Ready` and :class:`~qqproto.events.Resumed` are returned as
    they are.
    """
    result = _parse(dispatch)
    if isinstance(result, str):
        return MalformedEvent(type=dispatch.type, event_id=dispatch.id, seq=dispatch.seq,
                              raw=dispatch.data, error=result, dispatch=dispatch)
    return result


def parse_event_strict(dispatch: Dispatch) -> ParsedEvent:
    """Like :func:`parse_event`, but a malformed payload raises :class:`ModelError`
    (a :class:`ValueError`) whose message names the event type and the bad field."""
    result = _parse(dispatch)
    if isinstance(result, str):
        raise ModelError(f"malformed {dispatch.type} payload: {result}",
                         event_type=dispatch.type, dispatch=dispatch)
    return result


def inbound_message(event: ModelEvent | Dispatch) -> InboundMessage | None:
    """The normalised message of a message event (or of a dispatch, parsed first);
    ``None`` for anything that is not a well-formed message."""
    if isinstance(event, MessageEvent):
        return event.message
    if isinstance(event, Dispatch):
        parsed = parse_event(event)
        if isinstance(parsed, MessageEvent):
            return parsed.message
    return None
