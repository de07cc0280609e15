"""The heartbeat schedule of one gateway connection (gateway.md §8.1).

:class:`Heartbeat` knows when the next heartbeat is due and whether the last one was
acknowledged; a heartbeat still unanswered when the next falls due marks a zombie
connection.  Sending the frame and ending the connection are the connection's job.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_HEARTBEAT_FACTOR", "MIN_HEARTBEAT_PERIOD", "Heartbeat"]

#: gateway.md §8.1: the reference SDK beats at 0.8 x the Hello interval; sending early
#: costs one small frame, sending late costs the connection.
DEFAULT_HEARTBEAT_FACTOR: Final = 0.8
#: A Hello interval below this (hostile or broken server) is raised to it.
MIN_HEARTBEAT_PERIOD: Final = 0.1


class Heartbeat:
    """``due`` is when the next heartbeat goes out (``None``: not beating)."""

    __slots__ = ("awaiting_ack", "due", "period", "sent_at")

    def __init__(self) -> None:
        self.due: float | None = None
        self.period: float | None = None
        self.sent_at: float | None = None
        self.awaiting_ack = False

    def start(self, interval: float, factor: float, now: float) -> None:
        """Hello arrived with ``interval`` seconds: the first beat is one period away."""
        period = max(interval * factor, MIN_HEARTBEAT_PERIOD)
        self.period = period
        self.due = now + period

    def sent(self, now: float) -> None:
        self.sent_at = now
        self.awaiting_ack = True

    def acknowledged(self, now: float) -> float | None:
        """An ACK arrived; the round trip of the last heartbeat, if one was sent."""
        self.awaiting_ack = False
        return None if self.sent_at is None else now - self.sent_at

    def reschedule(self, now: float) -> None:
        """The beat due now went out: the next is one period later, without a burst of
        catch-up beats if the caller was late."""
        assert self.due is not None
        period = self.period or MIN_HEARTBEAT_PERIOD
        nxt = self.due + period
        self.due = nxt if nxt > now else now + period
