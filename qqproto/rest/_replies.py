"""Passive-reply bookkeeping: ``msg_seq`` allocation, reply windows and reply caps.

A reply is *passive* when it carries the ``msg_id`` (or ``event_id``) it answers
(rest.md §2.4.1).  The platform deduplicates on (``msg_id``, ``msg_seq``), so every reply
to one message needs its own ``msg_seq`` (§2.4.3, ``40054005``).  The reference SDKs draw
it at random (collisions possible, §2.5); :class:`ReplyContext` counts 1, 2, 3 … per
message instead, as the documentation describes ("increment msg_seq").

Each passive reply must also fit the scene's window and cap (§2.4.2):

=========  =========  =====================================================
scene      window     replies per message
=========  =========  =====================================================
c2c        60 min     4 — OD says 5, OD2 says 4: the smaller is taken
group      5 min      5
channel    5 min      no documented cap
dm         5 min      no documented cap
=========  =========  =====================================================

The window is measured from when the application saw the message, which is later than
when the platform stamped it, so a safety margin (10 s by default) closes it early.

When a reply is no longer possible the caller has chosen, up front, what happens
(:class:`OnExhausted`): raise :class:`ReplyExhaustedError`, or hand back an *active*
:class:`Reply` (no ``msg_id``, ``fallback`` says why) — active messages have their own
quotas (§2.4.4).  Nothing is ever dropped silently.

Memory is bounded: at most ``max_tracked`` messages are remembered; expired ones are
dropped first, then the oldest.  A reply to a message that is not tracked (never
registered, or evicted) is treated like an exhausted one with reason ``UNKNOWN``, since
its window and used ``msg_seq`` values cannot be known.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .._values import ChatScope
from ..errors import ExhaustedReason, ReplyExhaustedError

__all__ = ["DEFAULT_REPLY_LIMITS", "DEFAULT_REPLY_WINDOWS", "OnExhausted", "Reply", "ReplyContext"]

#: rest.md §2.4.2 (seconds).
DEFAULT_REPLY_WINDOWS: Final[Mapping[ChatScope, float]] = {
    ChatScope.C2C: 60 * 60.0,
    ChatScope.GROUP: 5 * 60.0,
    ChatScope.CHANNEL: 5 * 60.0,
    ChatScope.DM: 5 * 60.0,
}
#: rest.md §2.4.2: c2c 5 (OD) vs 4 (OD2) — the safe 4; group 5; guild: none documented.
DEFAULT_REPLY_LIMITS: Final[Mapping[ChatScope, int | None]] = {
    ChatScope.C2C: 4,
    ChatScope.GROUP: 5,
    ChatScope.CHANNEL: None,
    ChatScope.DM: None,
}
DEFAULT_SAFETY_MARGIN: Final = 10.0
DEFAULT_MAX_TRACKED: Final = 10_000




class OnExhausted(enum.Enum):
    """What :class:`ReplyContext` does when a passive reply is not possible."""

    RAISE = "raise"  # raise ReplyExhaustedError
    ACTIVE = "active"  # hand back an active Reply with `fallback` set


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """The reply fields of one outgoing message.

    Passive: ``msg_id`` or ``event_id`` with its ``msg_seq``.  Active: both ``None``;
    ``fallback`` is set when the message was meant to be passive and could not be.
    """

    msg_id: str | None = None
    event_id: str | None = None
    msg_seq: int | None = None
    fallback: ExhaustedReason | None = None

    @property
    def passive(self) -> bool:
        return self.msg_id is not None or self.event_id is not None


ACTIVE: Final = Reply()




class _Thread:
    """What is known about one inbound message (mutable, internal)."""

    __slots__ = ("deadline", "limit", "next_seq", "used")

    def __init__(self, deadline: float, limit: int | None) -> None:
        self.deadline = deadline
        self.limit = limit
        self.next_seq = 1
        self.used = 0


def _key(scope: ChatScope | str, msg_id: str | None, event_id: str | None
         ) -> tuple[ChatScope, str, str]:
    if (msg_id is None) == (event_id is None):
        raise ValueError("give exactly one of msg_id and event_id")
    value = msg_id if msg_id is not None else event_id
    if not isinstance(value, str) or not value:
        raise ValueError("msg_id / event_id must be a non-empty string")
    return (ChatScope(scope), "msg_id" if msg_id is not None else "event_id", value)


class ReplyContext:
    """Allocates ``msg_seq`` values and enforces reply windows and caps for many chats.

    ``windows``/``limits`` override the per-scene defaults; the same window and cap apply
    to replies by ``event_id`` (the sheet documents none of their own; §5.9).
    """

    def __init__(
        self,
        *,
        on_exhausted: OnExhausted = OnExhausted.RAISE,
        windows: Mapping[ChatScope, float] | None = None,
        limits: Mapping[ChatScope, int | None] | None = None,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        max_tracked: int = DEFAULT_MAX_TRACKED,
    ) -> None:
        if max_tracked < 1:
            raise ValueError("max_tracked must be at least 1")
        self.on_exhausted = OnExhausted(on_exhausted)
        self.windows = {**DEFAULT_REPLY_WINDOWS, **(windows or {})}
        self.limits = {**DEFAULT_REPLY_LIMITS, **(limits or {})}
        self.safety_margin = safety_margin
        self.max_tracked = max_tracked
        self._threads: OrderedDict[tuple[ChatScope, str, str], _Thread | float] = OrderedDict()
        self._check_at = math.inf

    def __len__(self) -> int:
        return len(self._threads)

    def __repr__(self) -> str:
        return (f"ReplyContext(tracked={len(self._threads)}, "
                f"on_exhausted={self.on_exhausted.name})")

    def received(self, scope: ChatScope | str, *, now: float, msg_id: str | None = None,
                 event_id: str | None = None) -> None:
        """Note an inbound message (or event) at ``now``.  A repeat delivery of the same
        id (rest.md §11.1) keeps the first time and the counters."""
        if type(scope) is ChatScope and event_id is None and type(msg_id) is str and msg_id:
            key = (scope, "msg_id", msg_id)  # _key's answer, once per inbound message
        else:
            key = _key(scope, msg_id, event_id)
        threads = self._threads
        if key in threads:
            return
        deadline = now + self.windows[key[0]] - self.safety_margin
        threads[key] = deadline  # a _Thread once it is answered (see _thread)
        if len(threads) == 1:
            self._check_at = deadline
        if now >= self._check_at or len(threads) > self.max_tracked:
            self._evict(now)

    def _evict(self, now: float) -> None:
        """Drop expired messages from the oldest on, then the oldest beyond the cap;
        ``_check_at`` is the oldest one's deadline, before which there is nothing to do."""
        threads = self._threads
        while threads:
            first = next(iter(threads.values()))
            deadline = first.deadline if isinstance(first, _Thread) else first
            if now < deadline and len(threads) <= self.max_tracked:
                self._check_at = deadline
                return
            threads.popitem(last=False)
        self._check_at = math.inf

    def _thread(self, key: tuple[ChatScope, str, str]) -> _Thread | None:
        """The bookkeeping of a tracked message.  A message is kept as its deadline alone
        until it is first answered (most never are; a float costs the collector nothing)."""
        entry = self._threads.get(key)
        if entry is None or isinstance(entry, _Thread):
            return entry
        thread = self._threads[key] = _Thread(entry, self.limits[key[0]])
        return thread

    def reply(self, scope: ChatScope | str, *, now: float, msg_id: str | None = None,
              event_id: str | None = None, consumes_slot: bool = True) -> Reply:
        """The :class:`Reply` for the next answer to a message, with a fresh ``msg_seq``.

        ``consumes_slot=False`` allocates a ``msg_seq`` without counting against the cap
        (whether typing notices count is undocumented, rest.md §2.8: the default counts).
        """
        return self.replies(scope, count=1, now=now, msg_id=msg_id, event_id=event_id,
                            consumes_slot=consumes_slot)[0]

    def replies(self, scope: ChatScope | str, *, count: int, now: float,
                msg_id: str | None = None, event_id: str | None = None,
                consumes_slot: bool = True) -> list[Reply]:
        """``count`` replies at once (the parts of a split message), all or nothing.

        Under :attr:`OnExhausted.RAISE` nothing is allocated unless all ``count`` fit;
        under :attr:`OnExhausted.ACTIVE` the parts that do not fit come back active.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        key = _key(scope, msg_id, event_id)
        thread = self._thread(key)
        if thread is None:
            return self._exhausted(key, ExhaustedReason.UNKNOWN, count)
        if now >= thread.deadline:
            return self._exhausted(key, ExhaustedReason.EXPIRED, count)
        passive = count
        if consumes_slot and thread.limit is not None:
            passive = min(count, thread.limit - thread.used)
            if passive < count and self.on_exhausted is OnExhausted.RAISE:
                raise ReplyExhaustedError(ExhaustedReason.LIMIT, key[0], key[2])
            thread.used += passive
        out = []
        for _ in range(passive):
            out.append(Reply(msg_id=msg_id, event_id=event_id, msg_seq=thread.next_seq))
            thread.next_seq += 1
        out.extend(Reply(fallback=ExhaustedReason.LIMIT) for _ in range(count - passive))
        return out

    def _exhausted(self, key: tuple[ChatScope, str, str], reason: ExhaustedReason,
                   count: int) -> list[Reply]:
        if self.on_exhausted is OnExhausted.RAISE:
            raise ReplyExhaustedError(reason, key[0], key[2])
        return [Reply(fallback=reason) for _ in range(count)]

    def remaining(self, scope: ChatScope | str, *, now: float, msg_id: str | None = None,
                  event_id: str | None = None) -> int | None:
        """How many passive replies are left (``None``: no cap); 0 when expired/unknown."""
        thread = self._thread(_key(scope, msg_id, event_id))
        if thread is None or now >= thread.deadline:
            return 0
        return None if thread.limit is None else thread.limit - thread.used
