"""Events qqproto hands to the application (and to the supervisor).

Every event is an immutable value built whole (DESIGN.md §2.2): compare them with ``==``
in tests, put them on queues, log them.  ``data`` fields hold the decoded JSON of the
frame's ``d`` exactly as the server sent it; :mod:`qqproto.models` turns a
:class:`Dispatch` into typed messages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ._secret import Secret
from ._values import UploadedMedia

__all__ = [
    "BotUser",
    "ConnectionEnded",
    "Delivery",
    "Dispatch",
    "EndCause",
    "Event",
    "HeartbeatAcknowledged",
    "HeartbeatAnswered",
    "NextStep",
    "OnboardBlocked",
    "OnboardDone",
    "OnboardExpired",
    "OnboardFailed",
    "OnboardPending",
    "OnboardQrCode",
    "Ready",
    "Reconnecting",
    "RequestRejected",
    "Resumed",
    "SessionStopped",
    "TunnelEstablished",
    "UnknownOpcode",
    "UploadFailed",
    "UploadFinished",
    "UploadPhase",
    "UploadProgress",
    "ValidationAnswered",
    "WebhookConnectionClosed",
    "WebhookDispatch",
    "WebhookServing",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of every qqproto event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BotUser:
    """The bot's own user, from READY ``d.user`` (gateway.md §4.8)."""

    id: str
    username: str = ""
    bot: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Dispatch(Event):
    """One op 0 frame: ``t`` → ``type``, ``s`` → ``seq``, ``id`` → ``id``, ``d`` → ``data``.

    ``id`` is the *event* id (``"C2C_MESSAGE_CREATE:…"``, gateway.md §3.1), the value a
    passive reply to an event uses as ``event_id``; it may be absent (``None``).
    """

    type: str
    seq: int | None
    id: str | None
    data: Any


_new = object.__new__
_set_type = Dispatch.__dict__["type"].__set__
_set_seq = Dispatch.__dict__["seq"].__set__
_set_id = Dispatch.__dict__["id"].__set__
_set_data = Dispatch.__dict__["data"].__set__


def new_dispatch(type: str, seq: int | None, id: str | None, data: Any) -> Dispatch:
    """``Dispatch(type=…, seq=…, id=…, data=…)`` for the hot path.

    The same immutable value (equal, hashable alike, same repr), built by setting the four
    slots directly instead of through the frozen dataclass ``__init__``: measured at less
    than half the cost, which matters once per event.
    """
    event: Dispatch = _new(Dispatch)
    _set_type(event, type)
    _set_seq(event, seq)
    _set_id(event, id)
    _set_data(event, data)
    return event


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready(Dispatch):
    """The READY dispatch: a new session exists (gateway.md §4.8)."""

    session_id: str
    user: BotUser
    shard: tuple[int, int] | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed(Dispatch):
    """The RESUMED dispatch: every missed event has been replayed (gateway.md §4.9).

    Its ``data`` is the empty string the server sends, not an object.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatAcknowledged(Event):
    """op 11 arrived; ``latency`` is the time since the heartbeat it answers was sent."""

    latency: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownOpcode(Event):
    """A well-formed frame with an opcode this version does not know (kept, not fatal)."""

    op: int
    frame: Any


class NextStep(enum.Enum):
    """What the session may do after a connection ended (gateway.md §7.3)."""

    #: Reconnect and send Resume with the session id and last seq.
    RESUME = "resume"
    #: Reconnect and Identify: the session is gone, events in between are lost.
    IDENTIFY = "identify"
    #: Do not reconnect: the platform refuses this bot or its configuration.
    STOP = "stop"


class EndCause(enum.Enum):
    """Why a connection ended."""

    #: The server sent a close frame; see ``close_code``.
    SERVER_CLOSED = "server closed"
    #: op 7 Reconnect (gateway.md §4.6).
    RECONNECT_REQUESTED = "reconnect requested"
    #: op 9 Invalid Session (gateway.md §4.7).
    INVALID_SESSION = "invalid session"
    #: A heartbeat went unacknowledged until the next one was due (zombie connection).
    HEARTBEAT_TIMEOUT = "heartbeat not acknowledged"
    #: The byte stream ended (or was reset) without a close frame.
    CONNECTION_LOST = "connection lost"
    #: The server broke the WebSocket or gateway protocol.
    PROTOCOL_ERROR = "protocol error"
    #: The HTTP upgrade was refused or malformed.
    HANDSHAKE_FAILED = "handshake failed"
    #: No upgrade response or no Hello within the handshake timeout.
    HANDSHAKE_TIMEOUT = "handshake timed out"
    #: The application closed the connection.
    LOCAL_CLOSE = "closed locally"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionEnded(Event):
    """The one event every ending of a gateway connection produces, exactly once.

    ``next_step`` says what the session may do; ``retry_after`` is the minimum wait in
    seconds before reconnecting (60 for close code 4008); ``refresh_token`` asks for a new
    access token first (4004).  ``close_code``/``close_reason`` are the server's close frame
    (``None``/``""`` when there was none).
    """

    cause: EndCause
    next_step: NextStep
    close_code: int | None = None
    close_reason: str = ""
    retry_after: float = 0.0
    refresh_token: bool = False
    detail: str = ""

    @property
    def resumable(self) -> bool:
        return self.next_step is NextStep.RESUME


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconnecting(Event):
    """The supervisor will open a new connection at ``at`` (the caller's clock).

    ``reason`` says why when an attempt failed before a connection existed (the token
    or gateway request, the TCP connect, the proxy); after a connection ended it is
    empty: :class:`ConnectionEnded` came first and says why."""

    at: float
    attempt: int
    next_step: NextStep
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStopped(Event):
    """The supervisor stopped for good; ``fatal`` is False only for a requested stop."""

    reason: str
    fatal: bool
    close_code: int | None = None


class UploadPhase(enum.Enum):
    HASHING = "hashing"
    UPLOADING = "uploading"


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadProgress(Event):
    """After each hashed chunk and each finished part (rest.md §4.28)."""

    phase: UploadPhase
    bytes_done: int
    bytes_total: int
    parts_done: int = 0
    parts_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadFinished(Event):
    media: UploadedMedia


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadFailed(Event):
    error: Exception


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelEstablished(Event):
    """The proxy opened the tunnel.

    ``trailing_data`` are bytes that arrived after the proxy's answer in the same read:
    they are the target's first bytes and must be fed to the next layer (TLS) first.
    ``status``/``reason``/``headers`` are the CONNECT answer's (``None``/``""``/``()``
    for SOCKS5).
    """

    target: str
    trailing_data: bytes
    status: int | None = None
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """Handle of one dispatch awaiting :meth:`WebhookReceiver.acknowledge`.

    ``request`` is the 1-based number of the request on its connection.
    """

    request: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDispatch(Event):
    """A verified op 0 callback.  Handle it, then ``acknowledge(delivery, ok)``."""

    dispatch: Dispatch
    delivery: Delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationAnswered(Event):
    """An op 13 callback-URL check was answered (§9.4); for logs."""

    request: int
    plain_token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatAnswered(Event):
    """An op 1 over HTTP was answered with op 11 (§9.5); for logs."""

    request: int
    seq: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRejected(Event):
    """A request was refused with ``status``; it never reached the application."""

    request: int
    status: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookConnectionClosed(Event):
    """The receiver is done: flush :meth:`~WebhookReceiver.data_to_send`, close the socket.

    Emitted exactly once, after the last answer has been written to the buffer.
    """

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookServing(Event):
    """A webhook server accepts callbacks at ``url`` (the webhook channel's "ready")."""

    url: str
    host: str
    port: int


# -- QR onboarding (qqproto.onboarding, rest.md §8) -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardQrCode(Event):
    """A bind task exists: show ``url`` as a QR code until ``deadline`` (caller's clock)."""

    task_id: str
    url: str
    deadline: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardPending(Event):
    """A poll answered "not yet": ``status`` 0 (not scanned) or 1 (scanned, awaiting
    confirmation); any other value the portal invents is reported here too."""

    task_id: str
    status: int
    attempt: int
    deadline: float


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardDone(Event):
    """The scan completed: the bot's credentials, and who scanned (rest.md §8.9)."""

    app_id: str
    client_secret: Secret
    user_openid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardExpired(Event):
    """The task can no longer be scanned: the portal said so (status 3), or nobody
    scanned before the deadline (``by_portal`` false).  ``renew()`` starts a new one."""

    task_id: str
    by_portal: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardFailed(Event):
    """The portal refused (``retcode`` and its ``message``), or answered with something
    unusable, or could not be reached (``retcode`` is ``None``)."""

    retcode: int | None
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardBlocked(Event):
    """The portal answered with a web page (its anti-bot check) instead of JSON."""

    status: int
    content_type: str
