"""The executor of :mod:`qqproto.approvals` for every bot: ask, wait, wake.

The decisions are the core's: :class:`~qqproto.approvals.Gate` says what a tap or a
message admits to (``BotApi._plan_delivery`` runs its answer first),
:class:`~qqproto.approvals.PendingApprovals` who may decide what and when a question
ends.  This module keeps the waiters: ``ask`` opens a question and registers a wake-up
under one lock (the threaded bots deliver on several threads), sends the question as a
passive reply (or an active message to an :class:`~qqproto.approvals.Audience`), and
waits on the runtime's own primitive until the tap or the question's deadline.  The
deadline is the core's (``question.deadline``, on the bot's clock); a waiter that wakes
without an answer ends its question with ``PendingApprovals.expire``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import anyio

from qqproto import Settings
from qqproto.approvals import (
    DELIVER,
    Admission,
    Audience,
    Decision,
    Gate,
    PendingApprovals,
    Question,
    Resolved,
)
from qqproto.events import Dispatch, Event
from qqproto.models import InteractionCreate, MessageEvent, parse_event

__all__ = ["Ask", "Questions", "ask_async", "ask_sync", "confirmed"]

#: Opens the question for an audience at ``now``.
Ask = Callable[[Audience, float], Question]


class _Waiter:
    __slots__ = ("decision", "wake")

    def __init__(self, wake: Callable[[], object]) -> None:
        self.wake = wake
        self.decision: Decision | None = None


class Questions:
    """One bot's open questions, its gate and the askers waiting (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.table = PendingApprovals(app_id=settings.app_id)
        self.gate = Gate(questions=self.table, access=settings.access,
                         auto_ack=settings.auto_ack_interactions)
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiter] = {}

    def admit(self, event: Event, now: float) -> tuple[Admission, Event | None]:
        """The gate's admission of ``event`` and the model it parsed (if it had to)."""
        if not isinstance(event, Dispatch) or not self.gate.needs_model(event.type):
            return DELIVER, None
        parsed = parse_event(event)
        with self._lock:
            admission = self.gate.admit(parsed, now=now)
            if isinstance(admission.outcome, Resolved):
                waiter = self._waiting.get(admission.outcome.question.key)
                if waiter is not None:
                    waiter.decision = admission.outcome.decision
                    waiter.wake()
        return admission, parsed

    def open(self, target: Event | Audience, approvers: Iterable[str], ask: Ask,
             wake: Callable[[], object], now: float) -> Question:
        """Open a question for ``target`` (its author and chat) and register ``wake``."""
        audience = _audience(target, approvers)
        with self._lock:
            question = ask(audience, now)
            self._waiting[question.key] = _Waiter(wake)
        return question

    def settle(self, question: Question, *, sent: bool) -> Decision:
        """The answer once the waiter woke; no answer: the question ends as expired
        (``sent``) or withdrawn (its message never went out)."""
        with self._lock:
            waiter = self._waiting.pop(question.key, None)
            if waiter is not None and waiter.decision is not None:
                return waiter.decision
            if sent:
                self.table.expire(question.key)
            else:
                self.table.withdraw(question.key)
        return Decision.TIMEOUT


def _audience(target: Event | Audience, approvers: Iterable[str]) -> Audience:
    extra = tuple(approvers)
    if isinstance(target, Audience):
        return replace(target, approvers=(*target.approvers, *extra)) if extra else target
    model = parse_event(target) if isinstance(target, Dispatch) else target
    if not isinstance(model, MessageEvent | InteractionCreate):
        raise TypeError("a question answers a message or a button tap, or goes to an "
                        f"Audience; not {type(model).__name__}")
    return Audience.of(model, approvers=extra)


def confirmed(decision: Decision) -> bool | None:
    """A confirmation's answer: yes, no, or ``None`` when nobody answered in time."""
    return None if decision is Decision.TIMEOUT else decision.allowed


async def ask_async(bot: Any, target: Event | Audience, approvers: Iterable[str],
                    ask: Ask) -> Decision:
    """Ask on asyncio or trio (``bot`` is an ``AsyncBotApi``): send, wait, settle."""
    done = anyio.Event()
    question = bot.questions.open(target, approvers, ask, done.set, bot._now())
    sent = False
    try:
        if isinstance(target, Audience):
            await bot.send(target.scope, target.chat_id, question.message)
        else:
            await bot.reply(target, question.message)
        sent = True
        with anyio.move_on_after(max(0.0, question.deadline - bot._now())):
            await done.wait()
    finally:
        decision: Decision = bot.questions.settle(question, sent=sent)
    return decision


def ask_sync(bot: Any, target: Event | Audience, approvers: Iterable[str],
             ask: Ask) -> Decision:
    """Ask from a thread (``bot`` is a ``SyncBotApi``): send, block, settle."""
    done = threading.Event()
    question = bot.questions.open(target, approvers, ask, done.set, bot._now())
    sent = False
    try:
        if isinstance(target, Audience):
            bot.send(target.scope, target.chat_id, question.message)
        else:
            bot.reply(target, question.message)
        sent = True
        done.wait(max(0.0, question.deadline - bot._now()))
    finally:
        decision: Decision = bot.questions.settle(question, sent=sent)
    return decision
