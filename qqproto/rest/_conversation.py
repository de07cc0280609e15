"""Answering what a user did: the glue between the models and the REST side.

:func:`reply_to` turns "say this back to that message" (or "to that button tap") into
the REST calls that do it: the endpoint for the chat's scope, ``msg_id`` (a message) or
``event_id`` (a tap, rest.md §5.9) for a passive reply, a fresh ``msg_seq`` per part from
the :class:`~qqproto.rest.ReplyContext`, long text split at safe boundaries (rest.md
§2.4, §2.5, §11.5).  Drivers and applications share it, so no driver ever decides where
a reply goes.
"""

from __future__ import annotations

from .._values import ChatScope
from ..models import InboundMessage, InteractionCreate, MessageEvent
from ._call import RestCall
from ._client import RestClient
from ._messages import AuditPending, MessageSent, OutgoingMessage
from ._replies import ReplyContext

__all__ = ["reply_to"]


def reply_to(rest: RestClient, replies: ReplyContext,
             event: MessageEvent | InboundMessage | InteractionCreate,
             answer: OutgoingMessage | str, *, now: float,
             ) -> list[RestCall[MessageSent | AuditPending]]:
    """The calls (run them in order) that answer ``event`` with ``answer``.

    The reply window opens when the event is first seen by ``replies``; call
    ``replies.received(...)`` on arrival for exact windows, otherwise it opens at
    ``now``.  A tap whose scene or chat is unknown cannot be answered: ``ValueError``.
    """
    outgoing = OutgoingMessage(content=answer) if isinstance(answer, str) else answer
    if isinstance(event, InteractionCreate):
        scope, chat_id, event_id = event.scope, event.chat_id, event.event_id
        if scope is None or not chat_id or not event_id:
            raise ValueError(f"interaction {event.id!r} does not say where to reply "
                             "(no scene, chat id or event id)")
        replies.received(scope, now=now, event_id=event_id)
        return rest.send_split(scope, chat_id, outgoing, now=now, replies=replies,
                               event_id=event_id)
    message = event.message if isinstance(event, MessageEvent) else event
    scope = ChatScope(message.scope)
    replies.received(scope, now=now, msg_id=message.msg_id)
    return rest.send_split(scope, message.chat_id, outgoing, now=now, replies=replies,
                           msg_id=message.msg_id)
