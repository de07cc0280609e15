"""The reconnect policy: its knobs, and the counting it does when a connection ends or an
attempt fails (gateway.md §7, §8.5–§8.7).

:class:`ReconnectPolicy` is plain configuration; :class:`Attempts` is the policy's memory
(failures, quick disconnects and failed resumes in a row) and answers the three questions
the supervisor asks after every end: was it a failure, is it time to identify afresh,
how long to wait.  The supervisor carries the answers out.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .._log import BotLogger
from ..events import ConnectionEnded, EndCause, NextStep
from ._backoff import Backoff

__all__ = ["Attempts", "ReconnectPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """The knobs of the reconnect policy; defaults cite the fact sheet.

    - ``backoff``: delays between attempts (§8.5).
    - ``healthy_after``: a connection open this long resets the backoff.
    - ``reconnect_at_once``: the first reconnect after a connection that went live (READY
      or RESUMED) goes at once — an abrupt drop of a working connection costs a round
      trip, not a backoff; backoff and jitter start from the next failure in a row, and
      at most one reconnect per ``healthy_after`` seconds goes at once, so a connection
      that keeps dropping as soon as it is up still backs off (§8.5, §8.6).
    - ``quick_disconnect``/``quick_disconnect_limit``: a connection that ends this soon
      after opening (and was not asked to reconnect by the server) is "quick"; it counts
      as a failure for the backoff, and this many in a row log a warning (§8.6 — other
      SDKs stop for good here, which leaves bots dead; a quick disconnect says nothing
      about the session, so the session is kept).
    - ``max_resume_failures``: resumes that end before RESUMED, in a row, before falling
      back to Identify (§8.7 notes SDKs that loop on Resume forever).
    - ``max_resume_age``: a persisted snapshot older than this is not resumed (§8.3).
    - ``connect_timeout``: TCP/TLS connect; ``http_grace``: extra wait past an HTTP
      request's own timeout before the session gives up on the driver's answer.
    - ``max_consecutive_failures``: stop after this many failed attempts (None: never).
    """

    backoff: Backoff = field(default_factory=Backoff)
    healthy_after: float = 30.0
    reconnect_at_once: bool = True
    quick_disconnect: float = 5.0
    quick_disconnect_limit: int = 3
    max_resume_failures: int = 2
    max_resume_age: float = 3600.0
    connect_timeout: float = 20.0
    http_grace: float = 5.0
    max_consecutive_failures: int | None = None


class Attempts:
    """What the policy remembers between connections, and the decisions drawn from it."""

    __slots__ = ("_at_once_at", "_live_end", "_log", "_policy", "_rng", "failures",
                 "quick_disconnects", "resume_failures")

    def __init__(self, policy: ReconnectPolicy, rng: random.Random, log: BotLogger) -> None:
        self._policy = policy
        self._rng = rng
        self._log = log
        self.failures = 0
        self.quick_disconnects = 0
        self.resume_failures = 0
        #: When a reconnect last went at once; whether the last end was of a live one.
        self._at_once_at = -math.inf
        self._live_end = False

    def connection_ended(self, end: ConnectionEnded, *, opened_at: float,
                         live_at: float | None, now: float) -> None:
        """Count an ended connection towards the backoff and the quick-disconnect warning.

        ``live_at`` is when READY or RESUMED arrived (``None``: the connection never got
        that far)."""
        policy = self._policy
        live = live_at is not None
        self._live_end = live
        healthy = live_at is not None and now - live_at >= policy.healthy_after
        # The server asked for this reconnect (gateway.md §4.6, §7.3): not a failure.
        requested = live and (
            end.cause is EndCause.RECONNECT_REQUESTED
            or (end.cause is EndCause.SERVER_CLOSED and end.close_code == 4009)
            or (end.cause is EndCause.INVALID_SESSION and end.next_step is NextStep.RESUME))
        if healthy or requested:
            self.failures = 0
        else:
            self.failures += 1
        if not requested and (not live or now - opened_at < policy.quick_disconnect):
            self.quick_disconnects += 1
            if self.quick_disconnects == policy.quick_disconnect_limit:
                # gateway.md §8.6: usually missing permissions or intents.  Other SDKs stop
                # for good here; a bot that stops is dead for hours, so keep backing off.
                self._log.warning("%d quick disconnects in a row: check the bot's intents "
                                  "and permissions", self.quick_disconnects)
        else:
            self.quick_disconnects = 0

    def resume_failed(self) -> bool:
        """Count a resume that ended before RESUMED; ``True`` when the session should be
        dropped and identified afresh (gateway.md §8.7)."""
        self.resume_failures += 1
        if self.resume_failures >= self._policy.max_resume_failures:
            self._log.warning("resume failed %d times in a row; identifying afresh",
                              self.resume_failures)
            return True
        return False

    def attempt_failed(self) -> None:
        """Count a failed step (token or discovery request, connect, proxy)."""
        self.failures += 1

    def delay_after_failure(self) -> float:
        """The wait after a failed step: the backoff for the failures so far."""
        return self._policy.backoff.delay(self.failures - 1, self._rng)

    def delay_after_end(self, retry_after: float, now: float) -> float:
        """The wait after an ended connection: none for the first end of a live connection
        (``reconnect_at_once``), else the backoff, or longer if the close code asks for it
        (gateway.md §7.3, 4008)."""
        policy = self._policy
        if (policy.reconnect_at_once and self._live_end and retry_after <= 0
                and self.failures <= 1 and now - self._at_once_at >= policy.healthy_after):
            self._at_once_at = now
            return 0.0
        return max(retry_after, policy.backoff.delay(self.failures, self._rng))

    def gave_up(self) -> bool:
        """Whether ``max_consecutive_failures`` is exceeded."""
        limit = self._policy.max_consecutive_failures
        return limit is not None and self.failures > limit
