"""The close-code table: what each gateway close code lets a session do next.

gateway.md §7.1 is the official table, §7.3 the synthesis this module implements.  Where
the sources disagree (§11 items 5–7) the safe reading is taken: 4009 resumes (DOC), the
configuration errors 4001/4002/4010–4014 stop (DOC table "no/no"), 4914/4915 stop for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..events import ConnectionEnded, EndCause, NextStep

__all__ = ["CloseAdvice", "advice_for_close_code", "describe_close_code", "end_for_close_frame"]

#: gateway.md §7.3 / §8.4: after 4008 the reference SDKs wait 60 s.
RATE_LIMIT_WAIT: Final = 60.0

_DESCRIPTIONS: Final[dict[int, str]] = {
    1000: "normal closure",
    1001: "going away",
    1006: "abnormal closure",
    4000: "unknown error",
    4001: "invalid opcode",
    4002: "invalid payload",
    4003: "not authenticated yet",
    4004: "authentication failed (token invalid or expired)",
    4005: "already authenticated",
    4006: "session id invalid, cannot resume",
    4007: "seq invalid on resume",
    4008: "payloads sent too fast",
    4009: "connection expired, resume",
    4010: "invalid shard",
    4011: "too many guilds on one connection, shard the bot",
    4012: "invalid gateway version",
    4013: "invalid intent",
    4014: "intent not authorised for this bot",
    4914: "bot taken offline (sandbox only)",
    4915: "bot banned",
}

_FATAL: Final = frozenset({4001, 4002, 4010, 4011, 4012, 4013, 4014, 4914, 4915})
_IDENTIFY: Final = frozenset({4006, 4007, *range(4900, 4914)})


@dataclass(frozen=True, slots=True)
class CloseAdvice:
    next_step: NextStep
    retry_after: float = 0.0
    refresh_token: bool = False


def describe_close_code(code: int | None) -> str:
    """A short human description of a close code (no secrets, one line)."""
    if code is None:
        return "no close code"
    if 4900 <= code <= 4913:
        return "gateway internal error"
    return _DESCRIPTIONS.get(code, "unknown close code")


def advice_for_close_code(code: int | None) -> CloseAdvice:
    """gateway.md §7.3, row by row."""
    if code in _FATAL:
        return CloseAdvice(NextStep.STOP)
    if code in _IDENTIFY:
        return CloseAdvice(NextStep.IDENTIFY)
    if code == 4008:
        return CloseAdvice(NextStep.RESUME, retry_after=RATE_LIMIT_WAIT)
    if code == 4004:
        return CloseAdvice(NextStep.RESUME, refresh_token=True)
    # 4009, 1000/1001/1006, network drops and unknown codes: resume when a session exists.
    return CloseAdvice(NextStep.RESUME)


def end_for_close_frame(code: int, reason: str, *, has_session: bool) -> ConnectionEnded:
    """How a connection the server closed with ``code`` ends: the advice of §7.3, except
    that a connection without a session has nothing to resume and identifies."""
    advice = advice_for_close_code(code)
    next_step = advice.next_step
    if next_step is NextStep.RESUME and not has_session:
        next_step = NextStep.IDENTIFY
    return ConnectionEnded(
        cause=EndCause.SERVER_CLOSED, next_step=next_step, close_code=code,
        close_reason=reason, retry_after=advice.retry_after,
        refresh_token=advice.refresh_token, detail=describe_close_code(code))
