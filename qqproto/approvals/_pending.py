"""The open questions of one bot and the taps that answer them, sans-IO.

:class:`PendingApprovals` hands out a :class:`Question` (its key, its message with the
keyboard, its deadline) for each ask, and turns every tap on one of its keyboards into
exactly one outcome: :class:`Resolved` (the decision and who decided) or
:class:`Refused` (with the interaction ACK code to send, rest.md §5.6).  Deadlines follow
the timer contract: ``get_timer()`` / ``handle_timer(now)`` return the questions that
expired as :class:`Expired`.

Who may decide (as the seed adapter checks it, rest.md §6.4 item 5): in a C2C chat the
user of the chat; in a group the member asked (or one of the approvers the application
named), in that group; in a guild channel or guild DM the same, in that channel or DM.
A question resolves at most once; a later tap by someone allowed is a duplicate (code
3), one by anybody else has no permission (4) and one on a question that expired,
was withdrawn or is unknown gets "operation failed" (1, the docs' generic failure:
they list no code for an expired button).

Keys: the button data names the question (``approve:<key>:…``).  A fresh opaque key
(from the injected ``random.Random``) is used unless the request brings a
``session_key`` that fits the 64-byte budget and names no question this table still
remembers, so a tap on an old message never answers a new question.
"""

from __future__ import annotations

import enum
import heapq
import random
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Final, assert_never

from .._fsm import StateMachine
from .._log import BotLogger, bot_logger
from .._values import ChatScope
from ..errors import TooManyQuestionsError
from ..models import InteractionCreate, MessageEvent
from ..rest import InteractionResult, Markdown, OutgoingMessage
from ._codec import ApprovalData, ConfirmationData, Decision, fits_budget, parse_button_data
from ._keyboards import approval_keyboard, confirmation_keyboard
from ._render import ApprovalRequest, check_timeout, confirmation_markdown

__all__ = [
    "DEFAULT_CONFIRMATION_TIMEOUT",
    "TRANSITIONS",
    "Audience",
    "Expired",
    "PendingApprovals",
    "Question",
    "QuestionInput",
    "QuestionKind",
    "QuestionState",
    "RefusalReason",
    "Refused",
    "Resolved",
]

#: The question keys' generator when none is given: one for the process (a
#: ``random.Random`` holds 2.5 kB of state, and a host runs many bots; the keys only
#: need to differ, the operator check is what guards a question).
_SHARED_RNG: Final = random.Random()

DEFAULT_CONFIRMATION_TIMEOUT: Final = 60.0


class QuestionKind(enum.Enum):
    APPROVAL = "approval"
    CONFIRMATION = "confirmation"


class QuestionState(enum.Enum):
    OPEN = "open"
    RESOLVED = "resolved"
    EXPIRED = "expired"
    #: The question never reached the chat (sending it failed) or the asker gave up.
    WITHDRAWN = "withdrawn"


class QuestionInput(enum.Enum):
    AUTHORISED_TAP = "authorised tap"
    DEADLINE = "deadline"
    WITHDRAW = "withdraw"


#: A question's life: one way in, three ways out, nothing after.
TRANSITIONS: Final = {
    (QuestionState.OPEN, QuestionInput.AUTHORISED_TAP): QuestionState.RESOLVED,
    (QuestionState.OPEN, QuestionInput.DEADLINE): QuestionState.EXPIRED,
    (QuestionState.OPEN, QuestionInput.WITHDRAW): QuestionState.WITHDRAWN,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Audience:
    """Who is asked and where: the chat (``scope``, ``chat_id``, and for a channel its
    ``guild_id`` when known), the user asked and the other ``approvers`` who may decide.
    In a C2C chat the chat id is the user's openid, so the two must agree."""

    scope: ChatScope
    chat_id: str
    user_id: str
    approvers: tuple[str, ...] = ()
    guild_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", ChatScope(self.scope))
        object.__setattr__(self, "approvers", tuple(self.approvers))
        for name in ("chat_id", "user_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"Audience.{name} must be a non-empty string")
        if not all(isinstance(a, str) and a for a in self.approvers):
            raise ValueError("approvers must be non-empty strings")
        if self.scope is ChatScope.C2C and self.user_id != self.chat_id:
            raise ValueError("in a C2C chat the user asked is the chat's user")

    @classmethod
    def of(cls, event: MessageEvent | InteractionCreate, *,
           approvers: Iterable[str] = ()) -> Audience:
        """The author of a message, or whoever tapped, in the chat it happened in."""
        if isinstance(event, MessageEvent):
            m = event.message
            return cls(scope=m.scope, chat_id=m.chat_id, user_id=m.author_id,
                       approvers=tuple(approvers),
                       guild_id=m.guild_id if m.scope is ChatScope.CHANNEL else None)
        scope, chat, user = event.scope, event.chat_id, event.operator_id
        if scope is None or not chat or not user:
            raise ValueError(f"interaction {event.id!r} does not say who tapped where")
        return cls(scope=scope, chat_id=chat, user_id=user, approvers=tuple(approvers),
                   guild_id=event.guild_id if scope is ChatScope.CHANNEL else None)

    @property
    def deciders(self) -> tuple[str, ...]:
        """The user asked, then the approvers (no repeats)."""
        return tuple(dict.fromkeys((self.user_id, *self.approvers)))


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """One open question: send ``message`` (markdown and keyboard) to the audience."""

    key: str
    kind: QuestionKind
    audience: Audience
    asked_at: float
    deadline: float
    message: OutgoingMessage = field(repr=False)
    allow_always: bool = False


class RefusalReason(enum.Enum):
    """Why a tap on a question's button resolved nothing, and the ACK code for it."""

    NOT_ALLOWED = "not allowed"
    ALREADY_DECIDED = "already decided"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def ack(self) -> InteractionResult:
        return _ACKS[self]


# rest.md §5.6.
_ACKS: Final = {
    RefusalReason.NOT_ALLOWED: InteractionResult.NO_PERMISSION,
    RefusalReason.ALREADY_DECIDED: InteractionResult.DUPLICATE,
    RefusalReason.EXPIRED: InteractionResult.FAILED,
    RefusalReason.UNKNOWN: InteractionResult.FAILED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """An authorised tap decided ``question``; ACK it with success."""

    question: Question
    decision: Decision
    operator_id: str
    interaction_id: str

    @property
    def ack(self) -> InteractionResult:
        return InteractionResult.SUCCESS


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """A tap on a question's button that decided nothing; ACK it with ``ack``."""

    interaction_id: str
    reason: RefusalReason
    operator_id: str | None
    question: Question | None = None

    @property
    def ack(self) -> InteractionResult:
        return self.reason.ack


@dataclass(frozen=True, slots=True, kw_only=True)
class Expired:
    """Nobody allowed answered ``question`` before its deadline."""

    question: Question

    @property
    def decision(self) -> Decision:
        return Decision.TIMEOUT


def authorised(question: Question, tap: InteractionCreate) -> bool:
    """Whether ``tap`` comes from someone who may decide, in the question's chat."""
    a, operator = question.audience, tap.operator_id
    if operator is None or operator not in a.deciders:
        return False
    match a.scope:
        case ChatScope.C2C:
            # The docs' own C2C example carries no user_openid (rest.md §5 item 3): the
            # operator, which must be the chat's user, is then all there is to check.
            return tap.scene == "c2c" and operator == a.chat_id \
                and (not tap.chat_id or tap.chat_id == a.chat_id)
        case ChatScope.GROUP:
            return tap.scene == "group" and tap.group_openid == a.chat_id
        case ChatScope.CHANNEL:
            # Channel ids are unique across guilds; the guild is compared when both
            # sides know it.
            return tap.scene == "guild" and tap.channel_id == a.chat_id and (
                not a.guild_id or not tap.guild_id or tap.guild_id == a.guild_id)
        case ChatScope.DM:
            return tap.scene == "guild" and tap.guild_id == a.chat_id
        case _:  # pragma: no cover - mypy proves this unreachable
            assert_never(a.scope)


class _Entry:
    __slots__ = ("fsm", "question")

    def __init__(self, question: Question, log: BotLogger) -> None:
        self.question = question
        self.fsm = StateMachine(f"question {question.key}", QuestionState.OPEN, TRANSITIONS,
                                log)


class PendingApprovals:
    """The open questions (see the module docstring).  Not thread-safe: a driver that
    calls it from several threads holds one lock around every call.

    ``max_open`` bounds the open questions (more raise :class:`TooManyQuestionsError`);
    ``remember`` bounds how many closed ones are kept to answer late taps precisely.
    """

    def __init__(self, *, app_id: str | None = None, rng: random.Random | None = None,
                 max_open: int = 1000, remember: int = 1000) -> None:
        if max_open < 1 or remember < 0:
            raise ValueError("max_open must be at least 1 and remember at least 0")
        self.max_open = max_open
        self.remember = remember
        self._rng = rng if rng is not None else _SHARED_RNG
        self._log = bot_logger("qqproto.approvals", app_id)
        self._open: dict[str, _Entry] = {}
        self._closed: OrderedDict[str, _Entry] = OrderedDict()
        self._deadlines: list[tuple[float, int, str]] = []
        self._counter = 0

    def __len__(self) -> int:
        return len(self._open)

    def __repr__(self) -> str:
        return f"PendingApprovals(open={len(self._open)}, remembered={len(self._closed)})"

    # -- asking -----------------------------------------------------------------------
    def ask_approval(self, request: ApprovalRequest, audience: Audience, *, now: float,
                     timeout: float | None = None) -> Question:
        """Open an approval; send ``question.message`` to the audience."""
        if timeout is not None:
            request = replace(request, timeout=check_timeout(timeout))
        key = self._new_key(request.session_key, QuestionKind.APPROVAL)
        keyboard = approval_keyboard(key, allow_always=request.allow_always,
                                     scope=audience.scope, users=audience.deciders)
        message = OutgoingMessage(markdown=Markdown(request.to_markdown()), keyboard=keyboard)
        return self._open_question(key, QuestionKind.APPROVAL, audience, message, now=now,
                                   timeout=request.timeout, allow_always=request.allow_always)

    def ask_confirmation(self, text: str | Markdown, audience: Audience, *, now: float,
                         timeout: float = DEFAULT_CONFIRMATION_TIMEOUT) -> Question:
        """Open a yes/no question (``text`` plain, or markdown of your own)."""
        timeout = check_timeout(timeout)
        markdown = confirmation_markdown(text, timeout)
        key = self._new_key(None, QuestionKind.CONFIRMATION)
        keyboard = confirmation_keyboard(key, scope=audience.scope, users=audience.deciders)
        message = OutgoingMessage(markdown=markdown, keyboard=keyboard)
        return self._open_question(key, QuestionKind.CONFIRMATION, audience, message,
                                   now=now, timeout=timeout)

    def _new_key(self, preferred: str | None, kind: QuestionKind) -> str:
        if preferred is not None and self._usable(preferred, kind):
            return preferred
        while True:
            key = f"q{self._rng.getrandbits(48):012x}"
            if self._usable(key, kind):
                return key

    def _usable(self, key: str, kind: QuestionKind) -> bool:
        longest = (ApprovalData(key, Decision.ALLOW_ALWAYS) if kind is QuestionKind.APPROVAL
                   else ConfirmationData(key, True)).encode()
        return fits_budget(longest) and key not in self._open and key not in self._closed

    def _open_question(self, key: str, kind: QuestionKind, audience: Audience,
                       message: OutgoingMessage, *, now: float, timeout: float,
                       allow_always: bool = False) -> Question:
        if len(self._open) >= self.max_open:
            raise TooManyQuestionsError(f"{len(self._open)} questions are open already "
                                        f"(max_open={self.max_open})")
        question = Question(key=key, kind=kind, audience=audience, asked_at=now,
                            deadline=now + timeout, message=message,
                            allow_always=allow_always)
        self._open[key] = _Entry(question, self._log)
        self._counter += 1
        heapq.heappush(self._deadlines, (question.deadline, self._counter, key))
        return question

    # -- taps ------------------------------------------------------------------------
    def receive_tap(self, tap: InteractionCreate, *, now: float) -> Resolved | Refused | None:
        """The outcome of ``tap``; ``None`` when its button data is not a question's
        (the application's own buttons, and the seed's keyless ``update_prompt:y|n``)."""
        data = parse_button_data(tap.button_data)
        if data is None or data.key is None:
            return None
        kind = (QuestionKind.APPROVAL if isinstance(data, ApprovalData)
                else QuestionKind.CONFIRMATION)
        entry = self._open.get(data.key) or self._closed.get(data.key)
        if entry is None or entry.question.kind is not kind:
            return self._refuse(tap, RefusalReason.UNKNOWN, None)
        question = entry.question
        if not authorised(question, tap):
            return self._refuse(tap, RefusalReason.NOT_ALLOWED, question)
        state = entry.fsm.state
        if state is QuestionState.RESOLVED:
            return self._refuse(tap, RefusalReason.ALREADY_DECIDED, question)
        if state is not QuestionState.OPEN or now >= question.deadline:
            # Past the deadline it stays open until handle_timer() reports it.
            return self._refuse(tap, RefusalReason.EXPIRED, question)
        if isinstance(data, ApprovalData):
            decision = data.decision
            if decision is Decision.ALLOW_ALWAYS and not question.allow_always:
                return self._refuse(tap, RefusalReason.UNKNOWN, question)  # never offered
        else:
            decision = Decision.ALLOW_ONCE if data.yes else Decision.DENY
        self._close(question.key, QuestionInput.AUTHORISED_TAP)
        assert tap.operator_id is not None  # authorised() checked it
        return Resolved(question=question, decision=decision, operator_id=tap.operator_id,
                        interaction_id=tap.id)

    @staticmethod
    def _refuse(tap: InteractionCreate, reason: RefusalReason,
                question: Question | None) -> Refused:
        return Refused(interaction_id=tap.id, reason=reason, operator_id=tap.operator_id,
                       question=question)

    # -- time and endings ---------------------------------------------------------------
    def get_timer(self) -> float | None:
        """The earliest deadline of an open question, or ``None``."""
        heap = self._deadlines
        while heap and heap[0][2] not in self._open:
            heapq.heappop(heap)  # resolved or withdrawn since
        return heap[0][0] if heap else None

    def handle_timer(self, now: float) -> list[Expired]:
        """Expire every open question whose deadline is ``now`` or earlier."""
        expired = []
        while (when := self.get_timer()) is not None and when <= now:
            _, _, key = heapq.heappop(self._deadlines)
            expired.append(Expired(question=self._close(key, QuestionInput.DEADLINE)))
        return expired

    def expire(self, key: str) -> Expired | None:
        """End the open question ``key`` now, as if its deadline had passed (a waiter
        whose own clock reached the deadline, or an asker that gave up)."""
        if key not in self._open:
            return None
        return Expired(question=self._close(key, QuestionInput.DEADLINE))

    def withdraw(self, key: str) -> None:
        """Forget the open question ``key`` without an outcome (its message could not be
        sent); a tap on it later is refused as expired."""
        if key in self._open:
            self._close(key, QuestionInput.WITHDRAW)

    def state_of(self, key: str) -> QuestionState | None:
        """The state of a question this table knows, or ``None``."""
        entry = self._open.get(key) or self._closed.get(key)
        return entry.fsm.state if entry is not None else None

    def open_questions(self) -> tuple[Question, ...]:
        return tuple(entry.question for entry in self._open.values())

    def _close(self, key: str, how: QuestionInput) -> Question:
        entry = self._open.pop(key)
        entry.fsm.fire(how)
        if self.remember:
            self._closed[key] = entry
            while len(self._closed) > self.remember:
                self._closed.popitem(last=False)
        return entry.question
