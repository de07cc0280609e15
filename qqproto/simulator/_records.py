"""What the simulator remembers so that tests can assert on it.

Every gateway frame (both directions), every HTTP request, every message a bot sent and
every interaction ACK is kept as an immutable value in a ring buffer with a fixed cap
(``Simulator(record_limit=...)``): a long benchmark cannot grow memory without bound, a
test sees the most recent ``record_limit`` entries.  Reprs never show header values,
bodies or frame text, which may carry the access token or the client secret.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .. import _jsoncodec
from .._http import Headers, header_value
from ..errors import JSONDecodeError

__all__ = [
    "Counters",
    "Direction",
    "FrameKind",
    "InteractionAck",
    "PreparedEvent",
    "RecordedFrame",
    "RecordedRequest",
    "SentMessage",
    "SimEvent",
]


class Direction(enum.Enum):
    """Which way a gateway frame went, seen from the bot."""

    #: Bot → simulator.
    IN = "in"
    #: Simulator → bot.
    OUT = "out"


class FrameKind(enum.Enum):
    TEXT = "text"
    BINARY = "binary"
    CLOSE = "close"


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedFrame:
    """One WebSocket message on a gateway connection.

    Outgoing frames are recorded when queued (a frame held by ``frame_delay`` and then
    discarded by a drop is still in the record).  ``raw`` is the message as it went over
    the wire (UTF-8 JSON for text frames, the bytes
    of a binary frame, the UTF-8 reason of a close frame).  :meth:`json` and the ``op`` /
    ``t`` / ``s`` / ``d`` properties decode it on demand, so recording a burst of
    dispatches costs no JSON work.
    """

    connection_id: int
    direction: Direction
    at: float
    kind: FrameKind
    raw: bytes
    close_code: int | None = None

    def json(self) -> Any:
        """The decoded frame, or ``None`` when it is not a JSON text frame."""
        if self.kind is not FrameKind.TEXT:
            return None
        try:
            return _jsoncodec.loads(self.raw)
        except JSONDecodeError:
            return None

    def _field(self, name: str) -> Any:
        frame = self.json()
        return frame.get(name) if isinstance(frame, dict) else None

    @property
    def op(self) -> Any:
        return self._field("op")

    @property
    def t(self) -> Any:
        return self._field("t")

    @property
    def s(self) -> Any:
        return self._field("s")

    @property
    def d(self) -> Any:
        return self._field("d")

    def __repr__(self) -> str:
        # Identify and Resume frames carry the token: never show the text itself.
        extra = f", close_code={self.close_code}" if self.kind is FrameKind.CLOSE else ""
        return (f"RecordedFrame(connection_id={self.connection_id}, "
                f"direction={self.direction.value}, at={self.at}, kind={self.kind.value}, "
                f"op={self.op!r}, t={self.t!r}, s={self.s!r}, {len(self.raw)} bytes{extra})")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedRequest:
    """One HTTP request the simulator answered (including the WebSocket upgrade)."""

    connection_id: int
    at: float
    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    status: int
    #: The business code of an error answer (``None`` for a success).
    code: int | None = None

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def json(self) -> Any:
        """The body decoded as JSON (``None`` when empty or not JSON)."""
        try:
            return _jsoncodec.loads(self.body) if self.body else None
        except JSONDecodeError:
            return None

    def __repr__(self) -> str:
        names = ", ".join(k for k, _ in self.headers)
        return (f"RecordedRequest({self.method} {self.path}{'?' if self.query else ''}"
                f"{self.query} -> {self.status}, code={self.code}, headers=[{names}], "
                f"body={len(self.body)} bytes, connection_id={self.connection_id})")


@dataclass(frozen=True, slots=True, kw_only=True)
class SentMessage:
    """A message a bot sent successfully through a message endpoint.

    ``scope`` is ``"c2c"``, ``"group"``, ``"channel"`` or ``"dm"``; ``target`` the openid,
    group openid, channel id or DM guild id from the path; ``body`` the decoded JSON body.
    """

    id: str
    scope: str
    target: str
    body: dict[str, Any]
    at: float
    msg_id: str | None = None
    event_id: str | None = None
    msg_seq: int | None = None

    @property
    def passive(self) -> bool:
        """A reply (carries ``msg_id`` or ``event_id``, rest.md §2.4 rule 1)."""
        return self.msg_id is not None or self.event_id is not None

    @property
    def content(self) -> Any:
        return self.body.get("content")


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionAck:
    """A ``PUT /interactions/{id}`` the simulator accepted (rest.md §5.5)."""

    interaction_id: str
    code: int
    at: float
    body: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class SimEvent:
    """An event the simulator pushed (or buffered) for bots: what the frame carries.

    ``sessions`` maps each session id that received it to the seq it got there (empty
    when no session took it and it waits for the first Identify, see ``Simulator``).
    """

    type: str
    id: str
    data: Any
    sessions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedEvent:
    """An event with its id chosen and its payload encoded, not yet sent
    (:meth:`Simulator.prepare`, :meth:`Simulator.dispatch_prepared`)."""

    type: str
    id: str
    data: Any
    d_json: bytes

    def __repr__(self) -> str:
        return f"PreparedEvent({self.type!r}, {self.id!r}, {len(self.d_json)} bytes)"


@dataclass(slots=True)
class Counters:
    """Running totals a test can assert on (all start at zero, never reset by faults)."""

    #: TCP connections accepted by :meth:`Simulator.new_connection` / refused (over cap).
    connections: int = 0
    connections_refused: int = 0
    http_requests: int = 0
    #: WebSocket upgrades completed.
    websockets: int = 0
    tokens_issued: int = 0
    #: Identify frames that started a session / Resume frames that resumed one.
    identifies: int = 0
    resumes: int = 0
    #: Resume frames answered with op 9 or a close code instead of RESUMED.
    resumes_rejected: int = 0
    #: op 9 frames sent (by a fault or as the answer to a bad Resume).
    invalid_sessions: int = 0
    heartbeats: int = 0
    heartbeat_acks: int = 0
    #: Connections the server closed with 4009 because heartbeats stopped.
    heartbeat_timeouts: int = 0
    #: Dispatch frames created (one per session an event went to, replays not counted).
    dispatched_events: int = 0
    #: Dispatch frames sent again during a Resume.
    replayed_events: int = 0
    #: Events no client will ever see: never delivered when their session was replaced
    #: by a new Identify, invalidated, evicted, or pushed out of a full buffer.
    lost_events: int = 0
    #: Events no current session subscribed to (intents or shard did not match).
    filtered_events: int = 0
    #: Gateway connections the simulator closed or dropped on purpose (faults).
    faults_fired: int = 0
    #: Messages accepted by the send endpoints (``sent_messages`` keeps the latest).
    messages_sent: int = 0
