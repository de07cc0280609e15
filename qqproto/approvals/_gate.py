"""What happens to an inbound message or tap before any handler sees it.

:class:`Gate` is the one decision the drivers execute for every dispatch a user sends
(``BotApi._plan_delivery``): first the :class:`~qqproto.approvals.AccessPolicy`, then the
open questions.  Its :class:`Admission` says whether the handlers get the event, which
code the tap is ACKed with (rest.md §5.5–5.6), and which question it answered:

=====================================  ==========  =========================
the event                              handlers    ACK
=====================================  ==========  =========================
refused by the access policy           no          4 no permission (a tap)
a tap that decides an open question    no          0 success
a tap on an open question, not allowed no          4 no permission
a tap on a decided question            yes         3 duplicate
a tap on an expired/unknown question   yes         1 operation failed
any other tap                          yes         0 when ``auto_ack``
any other message                      yes         —
=====================================  ==========  =========================

A dispatch whose payload does not parse (:class:`~qqproto.models.MalformedEvent`) says
nobody knows who sent it: with a policy it is refused, without one it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..events import Event
from ..models import EVENT_CLASSES, InteractionCreate, MalformedEvent, MessageEvent
from ..rest import InteractionResult
from ._access import AccessPolicy
from ._pending import PendingApprovals, RefusalReason, Refused, Resolved

__all__ = ["SUBJECT_TYPES", "Admission", "Gate"]

#: The dispatch types a user sends the bot (every message model and the tap), read from
#: the models' own table so that a new message type is covered the day it is added.
SUBJECT_TYPES: Final = frozenset(
    name for name, cls in EVENT_CLASSES.items()
    if issubclass(cls, MessageEvent | InteractionCreate))
_TAP: Final = "INTERACTION_CREATE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """The gate's answer for one event (see the module docstring)."""

    deliver: bool
    ack: InteractionResult | None = None
    outcome: Resolved | Refused | None = None
    #: True when the access policy refused the event.
    refused_by_policy: bool = False


DELIVER: Final = Admission(deliver=True)


class Gate:
    """The access policy and the open questions, applied before any handler."""

    def __init__(self, *, questions: PendingApprovals, access: AccessPolicy | None = None,
                 auto_ack: bool = True) -> None:
        self.questions = questions
        self.access = access
        self.auto_ack = auto_ack

    def needs_model(self, event_type: str) -> bool:
        """Whether :meth:`admit` needs the parsed model of a dispatch of this type (every
        tap; every message when there is a policy); else the event is delivered."""
        return event_type == _TAP or (self.access is not None and event_type in SUBJECT_TYPES)

    def admit(self, event: Event, *, now: float) -> Admission:
        """The admission of a parsed dispatch (see the module docstring)."""
        is_tap = getattr(event, "type", None) == _TAP
        if self.access is not None and (
                (isinstance(event, MalformedEvent) and event.type in SUBJECT_TYPES)
                or not self.access.admits(event)):
            return Admission(deliver=False, refused_by_policy=True,
                             ack=InteractionResult.NO_PERMISSION if is_tap else None)
        if not isinstance(event, InteractionCreate):
            if is_tap and self.auto_ack:
                return Admission(deliver=True, ack=InteractionResult.SUCCESS)
            return DELIVER
        outcome = self.questions.receive_tap(event, now=now)
        if outcome is None:
            return Admission(deliver=True,
                             ack=InteractionResult.SUCCESS if self.auto_ack else None)
        consumed = isinstance(outcome, Resolved) or \
            outcome.reason is RefusalReason.NOT_ALLOWED
        return Admission(deliver=not consumed, ack=outcome.ack, outcome=outcome)
