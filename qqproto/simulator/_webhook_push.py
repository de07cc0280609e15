"""The simulator's webhook pusher: the platform side of the HTTP callback channel, sans-IO.

In webhook mode the platform ``POST``s every event to the bot's callback URL
(gateway.md §9).  :class:`WebhookPusher` plays that part for tests and the simulator:

1. it first checks the URL with an op 13 validation request (§9.4) and accepts the
   answer only if ``signature`` verifies under the key derived from the bot secret;
2. it then sends each event as an op 0 request signed like the platform's (§9.3:
   ``X-Signature-Ed25519`` over ``X-Signature-Timestamp`` + body), with
   ``X-Bot-Appid`` and ``User-Agent: QQBot-Callback`` (§9.1);
3. it reads the answers: op 12 ``d = 0`` (or an empty HTTP 200, NB style, §9.5) means
   delivered; op 12 ``d = 1`` means "deliver it again" and is honoured with a backoff
   (BOTGO's reading, single source); 5xx and transport failures are retried the same
   way; 409 means the bot already has the event; other 4xx answers are final.

Every attempt is re-signed with the ``unix_now`` it is sent at, as a real redelivery
would be.  It is pull-based like :class:`~qqproto.rest.RestCall`: a driver asks
:meth:`WebhookPusher.next_request` for work, performs the request, and reports the
answer with :meth:`~WebhookPusher.receive_response` or
:meth:`~WebhookPusher.request_failed`; :meth:`~WebhookPusher.get_timer` says when a
waiting redelivery falls due.  Every attempt and its outcome is recorded
(:attr:`WebhookPusher.attempts`, a bounded ring); nothing here reads a clock.
"""

from __future__ import annotations

import enum
import math
import random
import string
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from .. import _jsoncodec
from .._fsm import StateMachine
from .._http import HttpRequest, HttpResponse
from .._log import bot_logger
from .._secret import Secret, as_secret
from ..errors import JSONDecodeError, LocalProtocolError
from ..webhook._signing import WebhookKey

__all__ = [
    "JobState",
    "PushAttempt",
    "PushCounters",
    "PushJob",
    "PushKind",
    "PushOutcome",
    "PushRequest",
    "PusherState",
    "WebhookPusher",
    "event_body",
    "signed_headers",
    "validation_body",
]

#: §9.1: the platform's callbacks identify themselves with this User-Agent.
USER_AGENT: Final = "QQBot-Callback"
_TOKEN_ALPHABET: Final = string.ascii_letters + string.digits
#: Statuses worth another attempt: the endpoint is overloaded or timed out.
_TRANSIENT: Final = frozenset({408, 425, 429})


class PusherState(enum.Enum):
    """Whether the callback URL has been checked yet."""

    #: :meth:`WebhookPusher.start` not called yet; events queue up.
    NEW = "new"
    #: The op 13 check is in progress; events queue up.
    VALIDATING = "validating"
    #: Events are being pushed.
    READY = "ready"
    #: The URL failed validation: nothing more is sent.
    FAILED = "failed"


class _Input(enum.Enum):
    VALIDATE = enum.auto()
    SKIP_VALIDATION = enum.auto()
    VALIDATED = enum.auto()
    VALIDATION_FAILED = enum.auto()


_P = PusherState
#: The pusher's transition table.
TRANSITIONS: Final = {
    (_P.NEW, _Input.VALIDATE): _P.VALIDATING,
    (_P.NEW, _Input.SKIP_VALIDATION): _P.READY,
    (_P.VALIDATING, _Input.VALIDATED): _P.READY,
    (_P.VALIDATING, _Input.VALIDATION_FAILED): _P.FAILED,
}


class PushKind(enum.Enum):
    VALIDATION = "validation"
    EVENT = "event"


class PushOutcome(enum.Enum):
    """What one attempt's answer meant."""

    #: op 12 ``d = 0``, or an empty HTTP 200 (NB answers that way, §9.5).
    ACKED = "acked"
    #: op 12 ``d = 1``: the bot asked for a redelivery (§9.5, BOTGO).
    REDELIVER = "redeliver"
    #: 5xx, 408/425/429, a transport failure or an answer that is not op 12.
    RETRY = "retry"
    #: 409: the bot already accepted this event (a duplicate counts as delivered).
    DUPLICATE = "duplicate"
    #: Another 4xx (or 1xx/3xx): the endpoint refused the request; final.
    REJECTED = "rejected"
    #: The op 13 answer proved the endpoint holds the bot secret.
    VALIDATED = "validated"
    #: The op 13 answer was refused (wrong status, token or signature).
    VALIDATION_FAILED = "validation failed"


class JobState(enum.Enum):
    QUEUED = "queued"
    IN_FLIGHT = "in flight"
    #: Waiting for its redelivery time.
    WAITING = "waiting"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    GAVE_UP = "gave up"


_FINAL: Final = frozenset({JobState.DELIVERED, JobState.REJECTED, JobState.GAVE_UP})


@dataclass(slots=True, kw_only=True)
class PushJob:
    """One validation or one event and what became of it (mutable, owned by the pusher)."""

    id: int
    kind: PushKind
    body: bytes
    event_type: str | None = None
    event_id: str | None = None
    plain_token: str | None = None
    event_ts: str | None = None
    state: JobState = JobState.QUEUED
    attempts: int = 0
    not_before: float = -math.inf
    last_outcome: PushOutcome | None = None

    @property
    def finished(self) -> bool:
        return self.state in _FINAL


@dataclass(frozen=True, slots=True, kw_only=True)
class PushRequest:
    """Perform ``request``, then report to the pusher with ``job_id``."""

    job_id: int
    request: HttpRequest
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PushAttempt:
    """The record of one attempt: which job, what came back, what it meant."""

    job_id: int
    kind: PushKind
    event_id: str | None
    attempt: int
    #: The HTTP status, or ``None`` for a transport failure.
    status: int | None
    outcome: PushOutcome
    at: float
    detail: str = ""


@dataclass(slots=True)
class PushCounters:
    events_queued: int = 0
    events_dropped: int = 0
    attempts: int = 0
    delivered: int = 0
    redeliveries: int = 0
    rejected: int = 0
    gave_up: int = 0


def validation_body(plain_token: str, event_ts: str) -> bytes:
    """The op 13 body in the DOC example's key order (§9.6)."""
    return _jsoncodec.dumps({"d": {"plain_token": plain_token, "event_ts": event_ts},
                             "op": 13})


def event_body(event_type: str, d: Any, *, event_id: str | None, seq: int | None) -> bytes:
    """An op 0 body, keys ``op, s, t, id, d`` like a gateway frame (§3.1); ``s`` is left
    out when ``seq`` is ``None`` (webhook deliveries may lack it, §3.1)."""
    frame: dict[str, Any] = {"op": 0}
    if seq is not None:
        frame["s"] = seq
    frame["t"] = event_type
    if event_id is not None:
        frame["id"] = event_id
    frame["d"] = d
    return _jsoncodec.dumps(frame)


def signed_headers(key: WebhookKey, body: bytes, *, timestamp: str,
                   app_id: str) -> tuple[tuple[str, str], ...]:
    """The headers of a platform callback (§9.1), signed over ``timestamp + body`` (§9.3)."""
    return (("Content-Type", "application/json"),
            ("User-Agent", USER_AGENT),
            ("X-Bot-Appid", app_id),
            ("X-Signature-Ed25519", key.sign(timestamp, body)),
            ("X-Signature-Method", "Ed25519"),
            ("X-Signature-Timestamp", timestamp))


class WebhookPusher:
    """Pushes signed callbacks to one URL, validation first (see the module docstring).

    ``max_attempts`` bounds the attempts per event (redeliveries included); attempt *n*
    waits ``retry_delay * retry_factor ** (n - 1)`` seconds (at most
    ``max_retry_delay``) after attempt *n - 1* failed.  At most ``max_in_flight``
    requests are outstanding, at most ``max_queued`` events wait (more are dropped and
    counted), and ``record_limit`` bounds the attempt and finished-job rings.
    ``include_seq=False`` sends events without ``s``.  ``redelivery_urls`` play a load
    balancer in front of several bot instances: attempt *n* of an event goes to
    ``[callback_url, *redelivery_urls][(n - 1) % len]``, so a redelivery lands on
    another instance than the first push.
    """

    def __init__(
        self,
        *,
        callback_url: str,
        secret: str | Secret,
        app_id: str,
        validate_first: bool = True,
        max_attempts: int = 3,
        retry_delay: float = 1.0,
        retry_factor: float = 2.0,
        max_retry_delay: float = 60.0,
        timeout: float = 5.0,
        max_in_flight: int = 1,
        max_queued: int = 10_000,
        include_seq: bool = True,
        record_limit: int = 10_000,
        rng: random.Random | None = None,
        redelivery_urls: tuple[str, ...] = (),
    ) -> None:
        if max_attempts < 1 or max_in_flight < 1 or max_queued < 1 or record_limit < 1:
            raise ValueError("max_attempts, max_in_flight, max_queued and record_limit "
                             "must be at least 1")
        if not (retry_delay >= 0 and retry_factor >= 1 and timeout > 0):
            raise ValueError("retry_delay >= 0, retry_factor >= 1 and timeout > 0 required")
        self.callback_url = callback_url
        self.redelivery_urls = tuple(redelivery_urls)
        self.app_id = str(app_id)
        self._key = WebhookKey(as_secret(secret))
        self.validate_first = validate_first
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.retry_factor = retry_factor
        self.max_retry_delay = max_retry_delay
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.include_seq = include_seq
        self._rng = rng if rng is not None else random.Random(0)
        self._log = bot_logger("qqproto.simulator.webhook", self.app_id)
        self._fsm: StateMachine[PusherState, _Input] = StateMachine(
            "webhook pusher", PusherState.NEW, TRANSITIONS, self._log)
        self.counters = PushCounters()
        #: Every attempt, oldest first (the most recent ``record_limit``).
        self.attempts: deque[PushAttempt] = deque(maxlen=record_limit)
        #: Jobs that reached a final state, oldest first (bounded like ``attempts``).
        self.finished: deque[PushJob] = deque(maxlen=record_limit)
        self._jobs: dict[int, PushJob] = {}  # unfinished, in creation order
        self._validation: PushJob | None = None
        self._next_id = 1
        self._seq = 0

    def __repr__(self) -> str:
        return (f"WebhookPusher(url={self.callback_url!r}, state={self.state.name}, "
                f"pending={len(self._jobs)})")

    @property
    def state(self) -> PusherState:
        return self._fsm.state

    @property
    def pending(self) -> list[PushJob]:
        """Unfinished jobs in creation order."""
        return list(self._jobs.values())

    @property
    def idle(self) -> bool:
        """True when nothing is queued, waiting or in flight."""
        return not self._jobs

    # ------------------------------------------------------------------ producing work

    def start(self, *, plain_token: str | None = None) -> None:
        """Begin: queue the op 13 check (or, without ``validate_first``, go straight to
        pushing).  ``plain_token`` defaults to 20 random letters and digits."""
        if not self.validate_first:
            self._fsm.fire(_Input.SKIP_VALIDATION)
            return
        self._fsm.fire(_Input.VALIDATE)
        token = plain_token if plain_token is not None else "".join(
            self._rng.choice(_TOKEN_ALPHABET) for _ in range(20))
        self._validation = self._add(PushJob(id=0, kind=PushKind.VALIDATION, body=b"",
                                             plain_token=token))

    def push_event(self, event_type: str, d: Any, *, event_id: str | None = None,
                   seq: int | None = None) -> PushJob | None:
        """Queue one op 0 event; ``None`` (and a dropped count) when the queue is full or
        the URL failed validation.

        ``seq`` defaults to the pusher's own counter (1, 2, …) unless ``include_seq`` is
        off.  The body is fixed now; each attempt signs it with its own timestamp.
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string")
        if len(self._jobs) >= self.max_queued or self.state is PusherState.FAILED:
            self.counters.events_dropped += 1
            return None
        if seq is None and self.include_seq:
            self._seq += 1
            seq = self._seq
        body = event_body(event_type, d, event_id=event_id, seq=seq)
        self.counters.events_queued += 1
        return self._add(PushJob(id=0, kind=PushKind.EVENT, body=body, event_type=event_type,
                                 event_id=event_id))

    def _add(self, job: PushJob) -> PushJob:
        job.id = self._next_id
        self._next_id += 1
        self._jobs[job.id] = job
        return job

    # ------------------------------------------------------------------ the driver's side

    def next_request(self, now: float, unix_now: float) -> PushRequest | None:
        """The next request to perform now, or ``None`` (nothing due, or the in-flight
        limit reached).  The timestamp header is ``int(unix_now)``."""
        if not math.isfinite(unix_now) or unix_now < 0:
            raise LocalProtocolError("unix_now must be a finite, non-negative number")
        if sum(job.state is JobState.IN_FLIGHT for job in self._jobs.values()) \
                >= self.max_in_flight:
            return None
        for job in self._jobs.values():
            if job.state in (JobState.QUEUED, JobState.WAITING) and job.not_before <= now \
                    and self._may_send(job):
                return self._send(job, str(int(unix_now)))
        return None

    def _may_send(self, job: PushJob) -> bool:
        if job.kind is PushKind.VALIDATION:
            return self.state is PusherState.VALIDATING
        return self.state is PusherState.READY

    def _send(self, job: PushJob, timestamp: str) -> PushRequest:
        if job.kind is PushKind.VALIDATION:
            assert job.plain_token is not None
            # §9.4: event_ts is a string in the current DOC; it is also the header value.
            job.body = validation_body(job.plain_token, timestamp)
            job.event_ts = timestamp
        job.state = JobState.IN_FLIGHT
        job.attempts += 1
        self.counters.attempts += 1
        headers = signed_headers(self._key, job.body, timestamp=timestamp, app_id=self.app_id)
        urls = (self.callback_url, *self.redelivery_urls)
        url = urls[(job.attempts - 1) % len(urls)] if job.kind is PushKind.EVENT else urls[0]
        request = HttpRequest(method="POST", url=url, headers=headers,
                              body=job.body, timeout=self.timeout)
        return PushRequest(job_id=job.id, request=request, attempt=job.attempts)

    def get_timer(self) -> float | None:
        """When a waiting redelivery falls due (``None``: nothing is waiting)."""
        times = [job.not_before for job in self._jobs.values()
                 if job.state is JobState.WAITING and self._may_send(job)]
        return min(times) if times else None

    def receive_response(self, job_id: int, response: HttpResponse, now: float) -> PushOutcome:
        """Judge the answer to request ``job_id``; returns what it meant."""
        job = self._in_flight(job_id)
        if job.kind is PushKind.VALIDATION:
            outcome, detail = self._judge_validation(job, response)
        else:
            outcome, detail = _judge_event(response)
        self._settle(job, outcome, response.status, detail, now)
        return outcome

    def request_failed(self, job_id: int, reason: str, now: float) -> PushOutcome:
        """The request never got an answer (refused, reset, timed out)."""
        self._settle(self._in_flight(job_id), PushOutcome.RETRY, None, reason, now)
        return PushOutcome.RETRY

    def _in_flight(self, job_id: int) -> PushJob:
        job = self._jobs.get(job_id)
        if job is None or job.state is not JobState.IN_FLIGHT:
            raise LocalProtocolError(f"no request in flight for job {job_id}")
        return job

    def _judge_validation(self, job: PushJob, response: HttpResponse,
                          ) -> tuple[PushOutcome, str]:
        if response.status >= 500 or response.status in _TRANSIENT:
            return PushOutcome.RETRY, f"HTTP {response.status}"
        if response.status != 200:
            return PushOutcome.VALIDATION_FAILED, f"HTTP {response.status}"
        try:
            answer = _jsoncodec.loads(response.body)
        except JSONDecodeError:
            return PushOutcome.VALIDATION_FAILED, "answer is not JSON"
        if not isinstance(answer, dict) or answer.get("plain_token") != job.plain_token:
            return PushOutcome.VALIDATION_FAILED, "plain_token missing or different"
        signature = answer.get("signature")
        assert job.plain_token is not None and job.event_ts is not None
        # §9.4: the answer signs event_ts + plain_token with the bot's key.
        if not isinstance(signature, str) or not self._key.verify(
                job.event_ts, job.plain_token.encode("utf-8"), signature):
            return PushOutcome.VALIDATION_FAILED, "signature does not verify"
        return PushOutcome.VALIDATED, ""

    def _settle(self, job: PushJob, outcome: PushOutcome, status: int | None, detail: str,
                now: float) -> None:
        job.last_outcome = outcome
        self.attempts.append(PushAttempt(job_id=job.id, kind=job.kind, event_id=job.event_id,
                                         attempt=job.attempts, status=status,
                                         outcome=outcome, at=now, detail=detail))
        if outcome in (PushOutcome.ACKED, PushOutcome.DUPLICATE):
            self._finish(job, JobState.DELIVERED)
            self.counters.delivered += 1
        elif outcome is PushOutcome.VALIDATED:
            self._finish(job, JobState.DELIVERED)
            self._fsm.fire(_Input.VALIDATED)
        elif outcome in (PushOutcome.REJECTED, PushOutcome.VALIDATION_FAILED):
            self._finish(job, JobState.REJECTED)
            self.counters.rejected += 1
            if outcome is PushOutcome.VALIDATION_FAILED:
                self._log.warning("callback URL validation failed: %s", detail)
                self._validation_failed()
        elif job.attempts >= self.max_attempts:
            self._finish(job, JobState.GAVE_UP)
            self.counters.gave_up += 1
            if job.kind is PushKind.VALIDATION:
                self._validation_failed()
        else:
            if outcome is PushOutcome.REDELIVER:
                self.counters.redeliveries += 1
            job.state = JobState.WAITING
            delay = self.retry_delay * self.retry_factor ** (job.attempts - 1)
            job.not_before = now + min(delay, self.max_retry_delay)

    def _validation_failed(self) -> None:
        """The platform never pushes to a URL that failed its check: the queued events
        are refused without being sent."""
        self._fsm.fire(_Input.VALIDATION_FAILED)
        for job in list(self._jobs.values()):
            self._finish(job, JobState.REJECTED)
            self.counters.rejected += 1

    def _finish(self, job: PushJob, state: JobState) -> None:
        job.state = state
        del self._jobs[job.id]
        self.finished.append(job)


def _judge_event(response: HttpResponse) -> tuple[PushOutcome, str]:
    status = response.status
    if status == 409:
        return PushOutcome.DUPLICATE, ""
    if status >= 500 or status in _TRANSIENT:
        return PushOutcome.RETRY, f"HTTP {status}"
    if status != 200:
        return PushOutcome.REJECTED, f"HTTP {status}"
    if not response.body.strip():
        return PushOutcome.ACKED, "empty body"  # NB's answer (§9.5)
    try:
        answer = _jsoncodec.loads(response.body)
    except JSONDecodeError:
        return PushOutcome.RETRY, "answer is not JSON"
    if isinstance(answer, dict) and answer.keys() == {"op", "d"} and _is_int(answer["op"], 12):
        if _is_int(answer["d"], 0):
            return PushOutcome.ACKED, ""
        if _is_int(answer["d"], 1):
            return PushOutcome.REDELIVER, ""
    return PushOutcome.RETRY, "answer is not op 12"


def _is_int(value: object, expected: int) -> bool:
    return type(value) is int and value == expected
