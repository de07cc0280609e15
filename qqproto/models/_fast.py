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
* the frozen dataclasses are built without their keyword ``__init__``: the two big ones
  (:class:`Author`, :class:`InboundMessage`) as a *draft* — a plain class with the same
  slots, filled by positional assignment — whose ``__class__`` is then set to the model
  class (Python allows it between classes of identical slots, and the result is the
  same frozen value); the events by setting their slots, as
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
    MessageScene,
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

_SCENE_FIELDS: Final = ("source", "ext", "msg_idx", "ref_msg_idx", "auth_token")
_SCENE_SET: Final = _setters(MessageScene, _SCENE_FIELDS)
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
_STR, _NONE = str, type(None)


class _AuthorDraft:
    """:class:`Author`'s slots, writable; re-classed as an Author once filled."""

    __slots__ = _AUTHOR_FIELDS

    def __init__(self, id: Any, user_openid: Any, member_openid: Any,  # noqa: PLR0917
                 union_openid: Any, username: Any, bot: Any, avatar: Any,
                 member_role: Any) -> None:
        self.id, self.user_openid, self.member_openid = id, user_openid, member_openid
        self.union_openid, self.username, self.bot = union_openid, username, bot
        self.avatar, self.member_role = avatar, member_role


class _MessageDraft:
    """:class:`InboundMessage`'s slots, writable; re-classed once filled."""

    __slots__ = _INBOUND_FIELDS

    def __init__(self, event_type: Any, scope: Any, chat_id: Any, msg_id: Any,  # noqa: PLR0917
                 event_id: Any, author_id: Any, author: Any, content: Any, mentions: Any,
                 attachments: Any, quoted: Any, timestamp: Any, time: Any,
                 message_type: Any, reference_index: Any, elements: Any, scene: Any,
                 ark_data: Any) -> None:
        self.event_type, self.scope, self.chat_id, self.msg_id = (
            event_type, scope, chat_id, msg_id)
        self.event_id, self.author_id, self.author, self.content = (
            event_id, author_id, author, content)
        self.guild_id = self.channel_id = None  # C2C and groups have neither
        self.mentions, self.attachments, self.quoted = mentions, attachments, quoted
        self.timestamp, self.time, self.message_type = timestamp, time, message_type
        self.reference_index, self.elements, self.scene, self.ark_data = (
            reference_index, elements, scene, ark_data)


def _drafts_work() -> bool:
    """Whether a filled draft re-classed is the value the dataclass builds (identical
    slots on this Python); else the fast path stays off."""
    try:
        author = _AuthorDraft("i", "u", None, None, "n", False, None, None)
        author.__class__ = Author  # type: ignore[assignment]
        message = _MessageDraft("T", ChatScope.C2C, "c", "m", None, "u", author, "x", (),
                                (), None, None, None, None, None, (), None, None)
        message.__class__ = InboundMessage  # type: ignore[assignment]
    except TypeError:
        return False
    built: object = author
    built_message: object = message
    return bool(built == Author(id="i", user_openid="u", username="n")
                and built_message == InboundMessage(
                    event_type="T", scope=ChatScope.C2C, chat_id="c", msg_id="m",
                    event_id=None, author_id="u", author=Author(
                        id="i", user_openid="u", username="n"), content="x"))


@functools.lru_cache(maxsize=512)
def _time_of(text: str) -> datetime | None:
    # Same input, same (immutable) answer as the validating parser's reader.
    return parse_timestamp(text)


def _author(a: object) -> Author | None:
    if type(a) is not dict:
        return None
    get = a.get
    author = _AuthorDraft(get("id"), get("user_openid"), get("member_openid"),
                          get("union_openid"), get("username"), get("bot") or False,
                          get("avatar"), get("member_role"))
    # Strings (or null) where the validating parser takes ids and names; a boolean bot.
    for value in (author.id, author.user_openid, author.member_openid, author.union_openid,
                  author.username, author.avatar, author.member_role):
        if type(value) is not _STR and value is not None:
            return None
    bot = a.get("bot")
    if type(bot) is not bool and bot is not None:
        return None
    author.__class__ = Author  # type: ignore[assignment]
    return author  # type: ignore[return-value]


def _fast_scene(d: dict[str, Any]) -> MessageScene | None:
    """``message_scene`` in its usual shape (a ``source`` string, ``ext`` strings),
    built as :func:`._messages._scene` builds it (each known ``ext`` key's first
    non-empty value, stripped); any other shape goes to that helper."""
    scene = d.get("message_scene")
    if type(scene) is not dict:
        return _scene(d)
    source, ext = scene.get("source"), scene.get("ext")
    if type(source) is not _STR and source is not None:
        return _scene(d)
    if ext is None:
        items: tuple[str, ...] = ()
    elif type(ext) is list and all(type(item) is _STR for item in ext):
        items = tuple(ext)
    else:
        return _scene(d)
    found: dict[str, str] = {}
    for item in items:  # gateway.md §6.2: "msg_idx=REFIDX_…", "ref_msg_idx=…", …
        name, sep, value = item.partition("=")
        if sep and (value := value.strip()):
            found.setdefault(name.strip(), value)
    result = _new(MessageScene)
    fields = (source, items, found.get("msg_idx"), found.get("ref_msg_idx"),
              found.get("auth_token"))
    for setter, field_value in zip(_SCENE_SET, fields, strict=True):
        setter(result, field_value)
    return result


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
    scene = None if get("message_scene") is None else _fast_scene(d)
    reference = (None if scene is None and quoted is None and get("msg_idx") is None
                 else _reference_index(d, scene, quoted))
    ark = None if get("ark_data") is None else _ark_data(d, "d")
    m = _MessageDraft(dispatch.type, scope, chat_id, msg_id, dispatch.id, author_id, author,
                      content, mentions, attachments, quoted, timestamp, time, message_type,
                      reference, elements, scene, ark)
    m.__class__ = InboundMessage  # type: ignore[assignment]
    return m  # type: ignore[return-value]


def _event(cls: type[MessageEvent], setters: tuple[_Setter, ...], dispatch: Dispatch,
           message: InboundMessage) -> Any:
    event = _new(cls)
    s_type, s_event_id, s_seq, s_raw, s_message = setters[:5]
    s_type(event, dispatch.type)
    s_event_id(event, dispatch.id)
    s_seq(event, dispatch.seq)
    s_raw(event, dispatch.data)
    s_message(event, message)
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
    return _event(C2CMessageCreate, _C2C_SET, dispatch, message)  # type: ignore[no-any-return]


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
    setters = _GROUP_AT_SET if at else _GROUP_SET
    event = _event(GroupAtMessageCreate if at else GroupMessageCreate, setters, dispatch,
                   message)
    setters[5](event, group)
    return event  # type: ignore[no-any-return]


_ALL_SETTERS: Final = (_C2C_SET, _GROUP_AT_SET, _GROUP_SET, _SCENE_SET)

#: Dispatch type → its fast parser (empty when a model gained a field unknown here).
FAST_PARSERS: Final[dict[str, Callable[[Dispatch], MessageEvent | None]]] = {
    "C2C_MESSAGE_CREATE": _c2c,
    "GROUP_AT_MESSAGE_CREATE": _group,
    "GROUP_MESSAGE_CREATE": _group,
} if all(_ALL_SETTERS) and _drafts_work() else {}


def fast_parse(dispatch: Dispatch) -> ModelEvent | None:
    """The typed event of a well-formed, common-shaped message dispatch; ``None`` when
    the validating parser must decide (anything else).  Never raises."""
    try:
        parser = FAST_PARSERS.get(dispatch.type)
        return None if parser is None else parser(dispatch)
    except Exception:  # a helper's Invalid, an unhashable type name, anything: the
        return None  # validating parser decides (and owns the totality backstop)
