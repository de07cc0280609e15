"""Backpressure between the gateway and the handlers: :class:`Backlog`.

Every driver counts the handler calls it has handed out and not seen finish (tasks on
asyncio and trio, jobs on the threaded driver's worker pool).  At
``Settings.limits.max_pending_events`` it stops reading from the gateway socket — the
kernel's receive buffer fills, TCP's window closes, the platform holds the rest — and
tells the session (:meth:`~qqproto.gateway.GatewaySession.set_reading_paused`); once half
of them are done it reads again.  The halfway mark keeps a bot that is just at the limit
from flapping between the two.

Heartbeats keep flowing meanwhile: the timer is not the socket, so the session still
sends op 1 on time, and because the ACKs now wait unread in the socket, the session does
not count a missing ACK against the connection until reading resumes.
"""

from __future__ import annotations

__all__ = ["Backlog"]


class Backlog:
    """Handler calls in flight, and whether reading is paused because of them."""

    __slots__ = ("limit", "paused", "pending")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending = 0
        self.paused = False

    def started(self) -> bool:
        """One more call in flight; ``True`` when reading must pause now."""
        self.pending += 1
        if not self.paused and self.pending >= self.limit:
            self.paused = True
            return True
        return False

    def finished(self) -> bool:
        """One call done; ``True`` when reading may resume now."""
        self.pending -= 1
        if self.paused and self.pending <= self.limit // 2:
            self.paused = False
            return True
        return False
