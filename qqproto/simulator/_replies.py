"""Passive-reply bookkeeping: which inbound message or event a bot may still answer.

rest.md §2.4: a message is a reply when it names ``msg_id`` (an inbound message) or
``event_id`` (an inbound event).  The simulator remembers every inbound message id and
event id it pushed, with the chat it belongs to and when it was pushed, and checks each
reply against the rules:

* the id must be known and belong to the same chat (else ``40034024`` / ``40034025``),
* the event type must allow replies in that scene (else ``40034027``, rest.md §2.2),
* the window: C2C 60 min, group / channel / DM 5 min (else ``40034005`` / ``40034026``),
* ``(id, msg_seq)`` may be used once (``msg_seq`` defaults to 1) (else ``40054005``),
* at most 4 replies per id in C2C and 5 in a group (else ``40034128``).

Where sources disagree the stricter reading is taken, so a bot that passes here passes
on the platform: C2C allows 4 replies (OD2; OD says 5) and a typing notice (msg_type 6)
uses a reply slot (undocumented, rest.md §2.8).  The store is bounded (oldest ids are
forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["ReplyBook", "ReplyError", "reply_scope_of"]

# rest.md §2.4 table.
REPLY_WINDOW: Final[Mapping[str, float]] = {
    "c2c": 3600.0, "group": 300.0, "channel": 300.0, "dm": 300.0,
}
MAX_REPLIES: Final[Mapping[str, int]] = {"c2c": 4, "group": 5}
# rest.md §2.2 (event_id row): the events a passive reply may name, per scene.
_EVENT_REPLIES: Final[Mapping[str, frozenset[str]]] = {
    "c2c": frozenset({"INTERACTION_CREATE", "C2C_MSG_RECEIVE", "FRIEND_ADD"}),
    "group": frozenset({"INTERACTION_CREATE", "GROUP_ADD_ROBOT", "GROUP_MSG_RECEIVE"}),
}

# rest.md §7.6 and §5.9.
MSG_ID_INVALID: Final = 40034024
REPLY_WINDOW_EXPIRED: Final = 40034005
REPLY_COUNT_EXCEEDED: Final = 40034128
DUPLICATE_MSG_SEQ: Final = 40054005
EVENT_ID_INVALID: Final = 40034025
EVENT_ID_EXPIRED: Final = 40034026
EVENT_NOT_REPLYABLE: Final = 40034027


class ReplyError(Exception):
    """A reply the platform would refuse; ``code`` is the business code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Inbound:
    __slots__ = ("at", "event_type", "replies", "scope", "seqs", "target")

    def __init__(self, scope: str, target: str, at: float, event_type: str | None) -> None:
        self.scope = scope
        self.target = target
        self.at = at
        self.event_type = event_type
        self.replies = 0
        self.seqs: set[int] = set()


def _get(d: Any, *path: str) -> str | None:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d if isinstance(d, str) and d else None


def reply_scope_of(event_type: str, d: Any) -> tuple[str, str] | None:
    """``(scope, chat)`` a reply to this event goes to, or ``None`` (gateway.md §6.5)."""
    if event_type == "C2C_MESSAGE_CREATE":
        chat = _get(d, "author", "user_openid")
        return ("c2c", chat) if chat else None
    if event_type in ("GROUP_AT_MESSAGE_CREATE", "GROUP_MESSAGE_CREATE",
                      "GROUP_ADD_ROBOT", "GROUP_MSG_RECEIVE"):
        chat = _get(d, "group_openid")
        return ("group", chat) if chat else None
    if event_type in ("FRIEND_ADD", "C2C_MSG_RECEIVE"):
        chat = _get(d, "openid")
        return ("c2c", chat) if chat else None
    if event_type in ("AT_MESSAGE_CREATE", "MESSAGE_CREATE"):
        chat = _get(d, "channel_id")
        return ("channel", chat) if chat else None
    if event_type == "DIRECT_MESSAGE_CREATE":
        chat = _get(d, "guild_id")
        return ("dm", chat) if chat else None
    if event_type == "INTERACTION_CREATE":
        scene = _get(d, "scene")
        key = {"c2c": "user_openid", "group": "group_openid", "guild": "channel_id"}.get(
            scene or "")
        chat = _get(d, key) if key else None
        if chat and scene:
            return ("channel" if scene == "guild" else scene, chat)
    return None


_MESSAGE_TYPES: Final = frozenset({"C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE",
                                   "GROUP_MESSAGE_CREATE", "AT_MESSAGE_CREATE",
                                   "MESSAGE_CREATE", "DIRECT_MESSAGE_CREATE"})


class ReplyBook:
    """Remembers inbound ids (at most ``limit`` of each kind) and judges replies."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._messages: OrderedDict[str, _Inbound] = OrderedDict()
        self._events: OrderedDict[str, _Inbound] = OrderedDict()

    def _put(self, store: OrderedDict[str, _Inbound], key: str, item: _Inbound) -> None:
        store[key] = item
        if len(store) > self._limit:
            store.popitem(last=False)

    def remember(self, event_type: str, event_id: str, d: Any, now: float) -> None:
        """Note a pushed dispatch: its frame id (and an interaction's ``d.id``) as event
        ids, a message's ``d.id`` as a msg_id."""
        where = reply_scope_of(event_type, d)
        if where is None:
            return
        scope, chat = where
        self._put(self._events, event_id, _Inbound(scope, chat, now, event_type))
        own_id = _get(d, "id")
        if own_id is None:
            return
        if event_type in _MESSAGE_TYPES:
            self._put(self._messages, own_id, _Inbound(scope, chat, now, None))
        elif event_type == "INTERACTION_CREATE":
            # gateway.md §6.5: the interaction id is "also usable as event_id".
            self._put(self._events, own_id, _Inbound(scope, chat, now, event_type))

    def knows_interaction(self, interaction_id: str) -> bool:
        item = self._events.get(interaction_id)
        return item is not None and item.event_type == "INTERACTION_CREATE"

    def check(self, *, scope: str, chat: str, msg_id: str | None, event_id: str | None,
              msg_seq: int | None, now: float) -> None:
        """Raise :class:`ReplyError` when the reply is not allowed; else count it."""
        if msg_id is not None:
            item = self._messages.get(msg_id)
            if item is None or item.scope != scope or item.target != chat:
                raise ReplyError(MSG_ID_INVALID, "msg_id invalid or out of scope")
            expired_code = REPLY_WINDOW_EXPIRED
        elif event_id is not None:
            item = self._events.get(event_id)
            if item is None or item.scope != scope or item.target != chat:
                raise ReplyError(EVENT_ID_INVALID, "event_id invalid")
            allowed = _EVENT_REPLIES.get(scope)
            if allowed is not None and item.event_type not in allowed:
                raise ReplyError(EVENT_NOT_REPLYABLE, "this event does not allow replies")
            expired_code = EVENT_ID_EXPIRED
        else:
            return
        if now - item.at > REPLY_WINDOW[scope]:
            raise ReplyError(expired_code, "passive reply window expired")
        if scope in MAX_REPLIES:
            seq = 1 if msg_seq is None else msg_seq
            if seq in item.seqs:
                raise ReplyError(DUPLICATE_MSG_SEQ, "duplicate msg_seq for this msg_id")
            if item.replies >= MAX_REPLIES[scope]:
                raise ReplyError(REPLY_COUNT_EXCEEDED, "passive reply count exceeded")
            item.seqs.add(seq)
        item.replies += 1
