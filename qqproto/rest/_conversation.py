"""Answering an inbound message: the glue between the models and the REST side.

:func:`reply_to` turns "say this back to that message" into the REST calls that do it:
the right endpoint for the message's scope, ``msg_id`` for a passive reply, a fresh
``msg_seq`` per part from the :class:`~qqproto.rest.ReplyContext`, long text split at
safe boundaries (rest.md §2.4, §2.5, §11.5).  Drivers and applications share it, so no
driver ever decides where a reply goes.
"""

from __future__ import annotations

from .._values import ChatScope
from ..models import InboundMessage
from ._call import RestCall
from ._client import RestClient
from ._messages import AuditPending, MessageSent, OutgoingMessage
from ._replies import ReplyContext

__all__ = ["reply_to"]


def reply_to(rest: RestClient, replies: ReplyContext, message: InboundMessage,
             answer: OutgoingMessage | str, *, now: float
             ) -> list[RestCall[MessageSent | AuditPending]]:
    """The calls (run them in order) that answer ``message`` with ``answer``.

    The reply window opens when the message is first seen by ``replies``; call
    ``replies.received(...)`` on arrival for exact windows, otherwise it opens at ``now``.
    """
    scope = ChatScope(message.scope.value)
    outgoing = OutgoingMessage(content=answer) if isinstance(answer, str) else answer
    replies.received(scope, now=now, msg_id=message.msg_id)
    return rest.send_split(scope, message.chat_id, outgoing, now=now, replies=replies,
                           msg_id=message.msg_id)
