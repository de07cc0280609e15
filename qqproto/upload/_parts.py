"""The bookkeeping of the upload saga: one part's life and one OpenAPI request's attempts.

A :class:`Part` goes read → ``PUT`` → ``upload_part_finish`` and knows its own retry
schedule (rest.md §4.14, §4.17, §4.18); an :class:`ApiOp` is one OpenAPI request
(prepare, a part's finish, complete) with the token it last carried and its attempts.
"""

from __future__ import annotations

import enum
from typing import Final

from .._http import HttpRequest
from .._secret import Secret
from ..errors import ApiError
from ..rest._errors import UPLOAD_CHANNEL_BUSY
from ._plan import PartPlan

__all__ = ["FINISH_BACKOFF", "FINISH_BUSY_DELAY", "PUT_BACKOFF", "ApiOp", "Part", "PartState"]

PUT_BACKOFF: Final = (1.0, 2.0)  # rest.md §4.14: 3 attempts
FINISH_BUSY_DELAY: Final = 1.0  # rest.md §4.17
FINISH_BACKOFF: Final = (1.0, 2.0)  # rest.md §4.18 (TS): other retryable errors, twice


class PartState(enum.Enum):
    WAITING = enum.auto()
    READING = enum.auto()
    PUTTING = enum.auto()
    PUT_BACKOFF = enum.auto()
    FINISHING = enum.auto()
    FINISH_BACKOFF = enum.auto()
    DONE = enum.auto()


class Part:
    """One part of the plan: its bytes while they are needed, its md5, its retries."""

    __slots__ = ("data", "finish_retries", "finish_since", "md5", "plan", "put_failures",
                 "state")

    def __init__(self, plan: PartPlan) -> None:
        self.plan = plan
        self.state = PartState.WAITING
        self.data: bytes | None = None
        self.md5 = ""
        self.put_failures = 0
        self.finish_since = 0.0
        self.finish_retries = 0

    def put_failed(self, now: float) -> float | None:
        """Count a failed ``PUT``: when to try again, or ``None`` after the third
        attempt (rest.md §4.14)."""
        self.put_failures += 1
        if self.put_failures > len(PUT_BACKOFF):
            return None
        self.state = PartState.PUT_BACKOFF
        return now + PUT_BACKOFF[self.put_failures - 1]

    def finish_failed(self, error: ApiError, now: float, retry_timeout: float) -> float | None:
        """When to send ``upload_part_finish`` again after ``error``, or ``None`` to give up:
        every second while the channel is busy, until the server's ``retry_timeout``
        since the ``PUT`` succeeded (rest.md §4.17); other retryable errors twice
        (§4.18)."""
        if error.code == UPLOAD_CHANNEL_BUSY:
            if now - self.finish_since < retry_timeout:
                self.state = PartState.FINISH_BACKOFF
                return now + FINISH_BUSY_DELAY
        elif error.retryable and self.finish_retries < len(FINISH_BACKOFF):
            self.state = PartState.FINISH_BACKOFF
            at = now + FINISH_BACKOFF[self.finish_retries]
            self.finish_retries += 1
            return at
        return None


class ApiOp:
    """One OpenAPI request of the saga (prepare, a part's finish, complete)."""

    __slots__ = ("attempts", "kind", "part", "request", "retried_auth", "used_token")

    def __init__(self, kind: str, request: HttpRequest, part: Part | None = None) -> None:
        self.kind = kind
        self.request = request
        self.part = part
        self.retried_auth = False
        self.used_token: Secret | None = None
        self.attempts = 0
