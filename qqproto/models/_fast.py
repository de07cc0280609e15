"""The fast path of :func:`~qqproto.models.parse_event` for the messages a busy bot sees.

The validating parsers read every field through the ``opt_*``/``req_*`` readers of
:mod:`._common`, which is what makes parsing total and the errors precise, and costs a
dozen function calls and three dataclass constructors per message.  For the payloads
that dominate traffic — C2C and group messages — this module builds the *same* values
(equal field for field, the same classes) with a fraction of that work:

* the scalars (``id``, ``content``, ``timestamp``, ``message_type``, the author's ids and
  names, the group ids) are checked inline, and only in their usual JSON type (a string
  id, not the number the validating parser would also accept);
* the rarer parts (``attachments``, ``mentions``, ``msg_elements``, ``message_scene``,
  ``ark_data``, ``msg_idx``) go through the very helpers the validating parser uses;
* the frozen dataclasses are built by setting their slots, as
  :func:`qqproto.events.new_dispatch` does;
* a timestamp string is parsed once per distinct value (a bounded cache: the same
  second's messages share it).

It answers ``None`` — and the validating parser decides — for anything else: a payload
key outside the set the validating parser reads for the type, a value of an unusual
type, or any :class:`~qqproto.errors.Invalid` from a helper.  So a malformed payload
still becomes a :class:`~qqproto.models.MalformedEvent` with the validating parser's
message.  ``tests/test_models_fast.py`` proves with hypothesis that whenever this path
answers, its answer equals the validating parser's; if a model class gains a field this
module does not know, the fast path switches itself off (:data:`FAST_PARSERS` is empty)
rather than build an incomplete value, and that test fails until it is taught the field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from typing import Any, Final

from .._values import ChatScope
from ..events import Dispatch
from ._base import ModelEvent
from ._common import parse_attachments, parse_timestamp
from ._messages import (
    Author,
    C2CMessageCreate,
    GroupAtMessageCreate,
    GroupMessageCreate,
    InboundMessage,
    MessageEvent,
    _ark_data,
    _elements,
    _mentions,
    _quoted,
    _reference_index,
    _scene,
)

__all__ = ["FAST_PARSERS", "fast_parse"]

_Setter = Callable[[Any, Any], None]
_new = object.__new__


def _setters(cls: type, names: tuple[str, ...]) -> tuple[_Setter, ...]:
    """The slot setters of ``cls`` for ``names`` (in that order); an empty tuple unless
    ``names`` are exactly the dataclass's fields."""
    if tuple(f.name for f in fields(cls)) != names:
        return ()
    found = []
    for name in names:
        owner = next(k for k in cls.__mro__ if name in k.__dict__)
        found.append(owner.__dict__[name].__set__)
    return tuple(found)


_AUTHOR_FIELDS: Final = ("id", "user_openid", "member_openid", "union_openid", "username",
                         "bot", "avatar", "member_role")
_INBOUND_FIELDS: Final = (
    "event_type", "scope", "chat_id", "msg_id", "event_id", "author_id", "author", "content",
    "guild_id", "channel_id", "mentions", "attachments", "quoted", "timestamp", "time",
    "message_type", "reference_index", "elements", "scene", "ark_data")
_EVENT_FIELDS: Final = ("type", "event_id", "seq", "raw", "message")
_GROUP_FIELDS: Final = (*_EVENT_FIELDS, "group_openid")

_AUTHOR_SET: Final = _setters(Author, _AUTHOR_FIELDS)
_INBOUND_SET: Final = _setters(InboundMessage, _INBOUND_FIELDS)
_C2C_SET: Final = _setters(C2CMessageCreate, _EVENT_FIELDS)
_GROUP_AT_SET: Final = _setters(GroupAtMessageCreate, _GROUP_FIELDS)
_GROUP_SET: Final = _setters(GroupMessageCreate, _GROUP_FIELDS)

#: The keys the validating parsers read (gateway.md §6.2, §6.5); any other key sends
#: the payload down the validating path, which knows what to make of it.
_MESSAGE_KEYS: Final = frozenset({
    "id", "content", "timestamp", "author", "message_type", "mentions", "attachments",
    "msg_elements", "message_scene", "ark_data", "msg_idx"})
_C2C_KEYS: Final = _MESSAGE_KEYS
_GROUP_KEYS: Final = _MESSAGE_KEYS | {"group_openid", "group_id"}
_AUTHOR_STRINGS: Final = frozenset(
    {"id", "user_openid", "member_openid", "union_openid", "username", "avatar",
     "member_role"})
_STR, _NONE = str, type(None)


@functools.lru_cache(maxsize=512)
def _time_of(text: str) -> datetime | None:
    # Same input, same (immutable) answer as the validating parser's reader.
    return parse_timestamp(text)


def _author(a: object) -> Author | None:
    if type(a) is not dict:
        return None
    for key, value in a.items():
        if key in _AUTHOR_STRINGS:
            if type(value) is not _STR and value is not None:
                return None
        elif key == "bot" and type(value) is not bool and value is not None:
            return None
    get = a.get
    author = _new(Author)
    s_id, s_user, s_member, s_union, s_name, s_bot, s_avatar, s_role = _AUTHOR_SET
    s_id(author, get("id"))
    s_user(author, get("user_openid"))
    s_member(author, get("member_openid"))
    s_union(author, get("union_openid"))
    s_name(author, get("username"))
    s_bot(author, get("bot") or False)
    s_avatar(author, get("avatar"))
    s_role(author, get("member_role"))
    return author


def _message(dispatch: Dispatch, d: dict[str, Any], *, scope: ChatScope, chat_id: str,
             author: Author, author_id: str, content: str) -> InboundMessage | None:
    """The InboundMessage of ``d``, or ``None`` to leave it to the validating parser."""
    msg_id = d.get("id")
    if type(msg_id) is not _STR:
        return None
    timestamp = d.get("timestamp")
    if type(timestamp) is _STR:
        time = _time_of(timestamp)
    elif timestamp is None:
        time = None
    else:
        return None
    message_type = d.get("message_type")
    if type(message_type) is not int and message_type is not None:
        return None
    get = d.get
    mentions = () if get("mentions") is None else _mentions(d)
    attachments = () if get("attachments") is None else parse_attachments(d, "d")
    elements = () if get("msg_elements") is None else _elements(d, "d")
    quoted = _quoted(elements, message_type) if elements else None
    scene = None if get("message_scene") is None else _scene(d)
    reference = (None if scene is None and quoted is None and get("msg_idx") is None
                 else _reference_index(d, scene, quoted))
    ark = None if get("ark_data") is None else _ark_data(d, "d")
    m = _new(InboundMessage)
    (s_type, s_scope, s_chat, s_msg, s_event, s_author_id, s_author, s_content, s_guild,
     s_channel, s_mentions, s_attachments, s_quoted, s_timestamp, s_time, s_message_type,
     s_reference, s_elements, s_scene, s_ark) = _INBOUND_SET
    s_type(m, dispatch.type)
    s_scope(m, scope)
    s_chat(m, chat_id)
    s_msg(m, msg_id)
    s_event(m, dispatch.id)
    s_author_id(m, author_id)
    s_author(m, author)
    s_content(m, content)
    s_guild(m, None)
    s_channel(m, None)
    s_mentions(m, mentions)
    s_attachments(m, attachments)
    s_quoted(m, quoted)
    s_timestamp(m, timestamp)
    s_time(m, time)
    s_message_type(m, message_type)
    s_reference(m, reference)
    s_elements(m, elements)
    s_scene(m, scene)
    s_ark(m, ark)
    return m


def _event(cls: type[MessageEvent], setters: tuple[_Setter, ...], dispatch: Dispatch,
           message: InboundMessage, *extra: object) -> MessageEvent:
    event = _new(cls)
    s_type, s_event_id, s_seq, s_raw, s_message, *rest = setters
    s_type(event, dispatch.type)
    s_event_id(event, dispatch.id)
    s_seq(event, dispatch.seq)
    s_raw(event, dispatch.data)
    s_message(event, message)
    for setter, value in zip(rest, extra, strict=True):
        setter(event, value)
    return event


def _c2c(dispatch: Dispatch) -> MessageEvent | None:
    d = dispatch.data
    if type(d) is not dict or not _C2C_KEYS.issuperset(d):
        return None
    author = _author(d.get("author"))
    if author is None:
        return None
    # gateway.md §6.5: the reply target is author.user_openid, author.id the fallback.
    user = author.user_openid or author.id
    content = d.get("content")
    if not user or (type(content) is not _STR and content is not None):
        return None
    message = _message(dispatch, d, scope=ChatScope.C2C, chat_id=user, author=author,
                       author_id=user, content=content or "")
    if message is None:
        return None
    return _event(C2CMessageCreate, _C2C_SET, dispatch, message)


def _group(dispatch: Dispatch) -> MessageEvent | None:
    d = dispatch.data
    if type(d) is not dict or not _GROUP_KEYS.issuperset(d):
        return None
    group = d.get("group_openid")
    if type(group) is not _STR and group is not None:
        return None
    if not group:  # gateway.md §6.2: group_id carries the same value
        group = d.get("group_id")
        if not group or type(group) is not _STR:
            return None
    author = _author(d.get("author"))
    if author is None:
        return None
    member = author.member_openid or author.id
    content = d.get("content")
    if not member or (type(content) is not _STR and content is not None):
        return None
    at = dispatch.type == "GROUP_AT_MESSAGE_CREATE"
    # gateway.md §6.2: the platform removes the @bot mention and leaves the space after it.
    text = (content or "").lstrip() if at else content or ""
    message = _message(dispatch, d, scope=ChatScope.GROUP, chat_id=group, author=author,
                       author_id=member, content=text)
    if message is None:
        return None
    if at:
        return _event(GroupAtMessageCreate, _GROUP_AT_SET, dispatch, message, group)
    return _event(GroupMessageCreate, _GROUP_SET, dispatch, message, group)


_ALL_SETTERS: Final = (_AUTHOR_SET, _INBOUND_SET, _C2C_SET, _GROUP_AT_SET, _GROUP_SET)

#: Dispatch type → its fast parser (empty when a model gained a field unknown here).
FAST_PARSERS: Final[dict[str, Callable[[Dispatch], MessageEvent | None]]] = {
    "C2C_MESSAGE_CREATE": _c2c,
    "GROUP_AT_MESSAGE_CREATE": _group,
    "GROUP_MESSAGE_CREATE": _group,
} if all(_ALL_SETTERS) else {}


def fast_parse(dispatch: Dispatch) -> ModelEvent | None:
    """The typed event of a well-formed, common-shaped message dispatch; ``None`` when
    the validating parser must decide (anything else).  Never raises."""
    try:
        parser = FAST_PARSERS.get(dispatch.type)
        return None if parser is None else parser(dispatch)
    except Exception:  # a helper's Invalid, an unhashable type name, anything: the
        return None  # validating parser decides (and owns the totality backstop)
