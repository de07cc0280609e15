"""The server side of one gateway WebSocket: Hello, Identify/Resume, heartbeats, closes.

A :class:`GatewayLink` exists once the HTTP upgrade on ``GET /websocket`` succeeded.  It
composes a server-side :class:`wsproto.connection.Connection` (the handshake was done by
the owning :class:`~qqproto.simulator.SimConnection` with h11), bounds message size, answers
pings and closes, and runs the gateway conversation of gateway.md §3–§8 against the
:class:`~qqproto.simulator.Simulator`'s sessions, tokens and faults.

States (a table, see ``_TABLE``)::

    AWAITING_AUTH --Identify/Resume ok--> ACTIVE --op 9--> AWAITING_AUTH
    AWAITING_AUTH|ACTIVE --we close--> CLOSING --peer close / timeout--> CLOSED
    any --peer close / EOF / abort--> CLOSED
"""

from __future__ import annotations

import enum
import math
from collections import deque
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeGuard

from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError as WsLocalError
from wsproto.utilities import RemoteProtocolError as WsRemoteError

from .. import _jsoncodec
from .._fsm import StateMachine
from ..errors import JSONDecodeError
from ._records import Direction, FrameKind, RecordedFrame
from ._sessions import SimSession, encode_dispatch

if TYPE_CHECKING:
    from .._log import BotLogger
    from ._faults import Faults
    from ._records import Counters

__all__ = ["GARBAGE_KINDS", "GatewayHost", "GatewayLink", "LinkState", "LinkTransport"]


class LinkState(enum.Enum):
    AWAITING_AUTH = "awaiting auth"
    ACTIVE = "active"
    CLOSING = "closing"
    CLOSED = "closed"


class _Input(enum.Enum):
    AUTHENTICATED = "authenticated"
    INVALIDATED = "invalidated"
    CLOSE_SENT = "close sent"
    PEER_CLOSED = "peer closed"
    CLOSE_TIMEOUT = "close timeout"
    LOST = "lost"


_S, _I = LinkState, _Input
_TABLE: Final = {
    (_S.AWAITING_AUTH, _I.AUTHENTICATED): _S.ACTIVE,
    (_S.AWAITING_AUTH, _I.INVALIDATED): _S.AWAITING_AUTH,
    (_S.ACTIVE, _I.INVALIDATED): _S.AWAITING_AUTH,
    (_S.AWAITING_AUTH, _I.CLOSE_SENT): _S.CLOSING,
    (_S.ACTIVE, _I.CLOSE_SENT): _S.CLOSING,
    (_S.AWAITING_AUTH, _I.PEER_CLOSED): _S.CLOSED,
    (_S.ACTIVE, _I.PEER_CLOSED): _S.CLOSED,
    (_S.CLOSING, _I.PEER_CLOSED): _S.CLOSED,
    (_S.CLOSING, _I.CLOSE_TIMEOUT): _S.CLOSED,
    (_S.AWAITING_AUTH, _I.LOST): _S.CLOSED,
    (_S.ACTIVE, _I.LOST): _S.CLOSED,
    (_S.CLOSING, _I.LOST): _S.CLOSED,
    (_S.CLOSED, _I.LOST): _S.CLOSED,
}

# gateway.md §7.1 / §7.2 (BOTGO's extra codes for 4000–4005).
INVALID_OPCODE: Final = 4001
INVALID_PAYLOAD: Final = 4002
AUTH_FAILED: Final = 4004
ALREADY_AUTHENTICATED: Final = 4005
INVALID_SESSION: Final = 4006
INVALID_SEQ: Final = 4007
SESSION_TIMEOUT: Final = 4009
INVALID_SHARD: Final = 4010
SHARDING_REQUIRED: Final = 4011
INTENT_NOT_ALLOWED: Final = 4014
#: RFC 6455 §7.4.1: message too big.
MESSAGE_TOO_BIG: Final = 1009
_MAX_SHARDS: Final = 64

_GARBAGE: Final[dict[str, str | bytes]] = {
    "text": "this is not JSON {",
    "binary": b"\x00\xffnot a text frame",
    "array": "[0, 1, 2]",
    "unknown-op": '{"op":99,"d":{}}',
    "no-op": '{"d":{"heartbeat_interval":1}}',
}
#: The kinds :meth:`GatewayLink.send_garbage` knows.
GARBAGE_KINDS: Final = frozenset(_GARBAGE)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class GatewayHost(Protocol):
    """What a link needs of the :class:`~qqproto.simulator.Simulator` above it: limits,
    faults, records, tokens and the sessions an Identify or Resume works on."""

    log: BotLogger
    bot_user_id: str
    bot_username: str
    heartbeat_interval_ms: int
    heartbeat_timeout_factor: float | None
    close_timeout: float
    max_ws_message_size: int
    allowed_intents: int | None
    required_shards: int | None
    faults: Faults
    counters: Counters
    frames: deque[RecordedFrame]
    sessions: dict[str, SimSession]

    def token_is_valid(self, token: str, now: float, *, prefixed: bool) -> bool: ...

    def start_session(self, intents: int, shard: tuple[int, int],
                      now: float) -> SimSession: ...

    def session_ready(self, session: SimSession, now: float) -> None: ...

    def retire_session(self, session: SimSession) -> None: ...


class LinkTransport(Protocol):
    """What a link needs of the connection that owns it
    (:class:`~qqproto.simulator.SimConnection`): a place to write and a way to close."""

    id: int

    def touch(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def request_close(self) -> None: ...


class GatewayLink:
    """One gateway connection, server side.  Driven by its :class:`SimConnection`."""

    def __init__(self, sim: GatewayHost, conn: LinkTransport, now: float,
                 trailing: bytes) -> None:
        self._sim = sim
        self._conn = conn
        self._ws = WsConnection(ConnectionType.SERVER)
        self._fsm: StateMachine[LinkState, _Input] = StateMachine(
            f"sim-gateway#{conn.id}", LinkState.AWAITING_AUTH, _TABLE, sim.log)
        self.session: SimSession | None = None
        self._parts: list[str] = []
        self._size = 0
        self._delayed: deque[tuple[float, bytes, int]] = deque()
        self._pending_seq = 0
        self._close_deadline: float | None = None
        self._hb_deadline: float | None = None
        self._interval = sim.heartbeat_interval_ms / 1000.0
        self._arm_heartbeat(now)
        # gateway.md §4.1: Hello is the first frame after the upgrade.
        self.send_json({"op": 10, "d": {"heartbeat_interval": sim.heartbeat_interval_ms}},
                       now)
        if trailing:
            self.receive_data(trailing, now)

    @property
    def state(self) -> LinkState:
        return self._fsm.state

    @property
    def active(self) -> bool:
        return self._fsm.state is LinkState.ACTIVE

    # ------------------------------------------------------------------ output

    def _record(self, kind: FrameKind, raw: bytes, now: float, *, direction: Direction,
                close_code: int | None = None) -> None:
        self._sim.frames.append(RecordedFrame(
            connection_id=self._conn.id, direction=direction, at=now, kind=kind, raw=raw,
            close_code=close_code))

    def _emit(self, wire: bytes, now: float, seq: int = 0) -> None:
        delay = self._sim.faults.frame_delay
        if delay > 0 or self._delayed:
            release = now + max(delay, 0.0)
            if self._delayed and self._delayed[-1][0] > release:
                release = self._delayed[-1][0]
            self._delayed.append((release, wire, seq))
            self._conn.touch()
            return
        self._conn.write(wire)
        self._pending_seq = max(self._pending_seq, seq)

    def _can_send(self) -> bool:
        return (self._fsm.state is not LinkState.CLOSED
                and self._ws.state is ConnectionState.OPEN)

    def send_text(self, raw: bytes, now: float, seq: int = 0) -> None:
        """Send one JSON text frame (already encoded) and record it."""
        if not self._can_send():
            return
        self._record(FrameKind.TEXT, raw, now, direction=Direction.OUT)
        self._emit(self._ws.send(TextMessage(data=raw.decode("utf-8"))), now, seq)

    def send_json(self, frame: dict[str, Any], now: float, seq: int = 0) -> None:
        self.send_text(_jsoncodec.dumps(frame), now, seq)

    def send_binary(self, data: bytes, now: float) -> None:
        if not self._can_send():
            return
        self._record(FrameKind.BINARY, data, now, direction=Direction.OUT)
        self._emit(self._ws.send(BytesMessage(data=data)), now)

    def send_garbage(self, kind: str, now: float) -> None:
        """A frame a robust client must survive (``kind`` from ``_GARBAGE``)."""
        payload = _GARBAGE[kind]
        if isinstance(payload, bytes):
            self.send_binary(payload, now)
        else:
            self.send_text(payload.encode(), now)

    def flushed(self) -> None:
        """The connection handed its bytes to the driver: the frames are delivered."""
        if self._pending_seq and self.session is not None:
            self.session.mark_delivered(self._pending_seq)
        self._pending_seq = 0

    def close(self, code: int, reason: str, now: float) -> None:
        """Start the closing handshake with ``code`` (after any delayed frames)."""
        if self._fsm.state in (LinkState.CLOSING, LinkState.CLOSED):
            return
        self._fsm.fire(_Input.CLOSE_SENT)
        self._detach()
        self._hb_deadline = None
        self._record(FrameKind.CLOSE, reason.encode(), now, direction=Direction.OUT,
                     close_code=code)
        self._emit(self._ws.send(CloseConnection(code=code, reason=reason)), now)
        last = self._delayed[-1][0] if self._delayed else now
        self._close_deadline = last + self._sim.close_timeout

    def abort(self) -> None:
        """An abrupt TCP drop: nothing more is sent, queued frames are discarded."""
        self._delayed.clear()
        self._pending_seq = 0
        self._lost()

    def _lost(self) -> None:
        self._fsm.fire(_Input.LOST)
        self._detach()
        self._hb_deadline = self._close_deadline = None

    def _detach(self) -> None:
        session = self.session
        if session is not None and session.link is self:
            session.link = None

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the client (``b""`` = EOF)."""
        if self._fsm.state is LinkState.CLOSED:
            return
        if not data:
            self._lost()
            self._conn.request_close()
            return
        try:
            self._ws.receive_data(data)
            for event in self._ws.events():
                self._on_ws_event(event, now)
                if self.state is LinkState.CLOSED:
                    break
        except (WsRemoteError, WsLocalError):
            # wsproto reports most violations as a CloseConnection event; anything it
            # raises instead means the stream is beyond saving.
            self._lost()
            self._conn.request_close()

    def _on_ws_event(self, event: object, now: float) -> None:
        if isinstance(event, TextMessage):
            self._size += len(event.data)
            if self._size > self._sim.max_ws_message_size:
                self.close(MESSAGE_TOO_BIG, "message too big", now)
                return
            self._parts.append(event.data)
            if event.message_finished:
                text = "".join(self._parts)
                self._parts.clear()
                self._size = 0
                self._on_text(text, now)
        elif isinstance(event, BytesMessage):
            self._size += len(event.data)
            if event.message_finished or self._size > self._sim.max_ws_message_size:
                self._record(FrameKind.BINARY, bytes(event.data), now,
                             direction=Direction.IN)
                self.close(INVALID_PAYLOAD, "binary frames are not gateway payloads", now)
        elif isinstance(event, Ping):
            self._emit(self._ws.send(event.response()), now)
        elif isinstance(event, CloseConnection):
            self._on_peer_close(event, now)

    def _on_peer_close(self, event: CloseConnection, now: float) -> None:
        if self._ws.state is ConnectionState.OPEN:
            # Not a close frame: wsproto failed to parse the stream (RFC 6455 §7.1.7,
            # "fail the WebSocket connection").  Say why, then drop TCP.
            self._record(FrameKind.CLOSE, (event.reason or "").encode(), now,
                         direction=Direction.OUT, close_code=event.code)
            self._delayed.clear()
            self._conn.write(self._ws.send(CloseConnection(code=event.code,
                                                           reason=event.reason)))
            self._lost()
            self._conn.request_close()
            return
        self._record(FrameKind.CLOSE, (event.reason or "").encode(), now,
                     direction=Direction.IN, close_code=event.code)
        if self._ws.state is ConnectionState.REMOTE_CLOSING:
            # Echo the close (RFC 6455 §5.5.1); the server then closes TCP first.
            self._conn.write(self._ws.send(event.response()))
        self._fsm.fire(_Input.PEER_CLOSED)
        self._detach()
        self._hb_deadline = self._close_deadline = None
        self._delayed.clear()
        self._conn.request_close()

    def _on_text(self, text: str, now: float) -> None:
        self._record(FrameKind.TEXT, text.encode(), now, direction=Direction.IN)
        if self._fsm.state is not LinkState.AWAITING_AUTH and not self.active:
            return  # closing: the client's last words are recorded, not answered
        try:
            frame = _jsoncodec.loads(text)
        except JSONDecodeError:
            self.close(INVALID_PAYLOAD, "payload is not JSON", now)
            return
        if not isinstance(frame, dict) or not _is_int(frame.get("op")):
            self.close(INVALID_PAYLOAD, "payload is not a frame with an integer op", now)
            return
        op = frame["op"]
        d = frame.get("d")
        if op == 1:
            self._on_heartbeat(now)
        elif op == 2:
            self._on_identify(d, now)
        elif op == 6:
            self._on_resume(d, now)
        else:
            self.close(INVALID_OPCODE, f"opcode {op} is not sent by clients", now)

    def _on_heartbeat(self, now: float) -> None:
        # gateway.md §4.4/§4.5: op 1 carries the last seq; the server answers op 11.
        self._sim.counters.heartbeats += 1
        self._arm_heartbeat(now)
        if self._sim.faults.ack_heartbeats:
            self._sim.counters.heartbeat_acks += 1
            self.send_text(b'{"op":11}', now)

    def _arm_heartbeat(self, now: float) -> None:
        factor = self._sim.heartbeat_timeout_factor
        self._hb_deadline = (None if factor is None or not math.isfinite(factor)
                             else now + self._interval * factor)

    def _check_token(self, d: dict[str, Any], now: float) -> bool:
        token = d.get("token")
        if isinstance(token, str) and self._sim.token_is_valid(token, now, prefixed=True):
            return True
        self.close(AUTH_FAILED, "authentication failed", now)
        return False

    def _on_identify(self, d: Any, now: float) -> None:
        if self.active:
            self.close(ALREADY_AUTHENTICATED, "already authenticated", now)
            return
        if not isinstance(d, dict):
            self.close(INVALID_PAYLOAD, "identify payload is not an object", now)
            return
        if not self._check_token(d, now):
            return
        refuse = self._sim.faults.refuse_identify
        if refuse is not None:
            self._sim.counters.faults_fired += 1
            self.close(refuse, "identify refused", now)
            return
        intents = d.get("intents")
        if not _is_int(intents) or intents < 0 or intents >> 31:
            self.close(INVALID_PAYLOAD, "intents is not a 31-bit integer", now)
            return
        allowed = self._sim.allowed_intents
        if allowed is not None and intents & ~allowed:
            self.close(INTENT_NOT_ALLOWED, "intent not authorised", now)
            return
        shard = d.get("shard", [0, 1])
        if (not isinstance(shard, list) or len(shard) != 2 or not all(map(_is_int, shard))
                or not 0 <= shard[0] < shard[1] <= _MAX_SHARDS):
            self.close(INVALID_SHARD, "invalid shard", now)
            return
        required = self._sim.required_shards
        if required is not None and shard[1] < required:
            # gateway.md §10: 4011, too many guilds for this many shards.
            self.close(SHARDING_REQUIRED, "sharding required", now)
            return
        session = self._sim.start_session(intents, (shard[0], shard[1]), now)
        self._attach(session)
        seq = session.next_seq()
        # gateway.md §4.8: READY carries s, so it consumes a seq; it is not replayed.
        ready = {"version": 1, "session_id": session.session_id,
                 "user": {"id": self._sim.bot_user_id, "username": self._sim.bot_username,
                          "bot": True},
                 "shard": [shard[0], shard[1]]}
        self.send_text(encode_dispatch("READY", seq, None, _jsoncodec.dumps(ready)), now, seq)
        self._sim.session_ready(session, now)

    def _on_resume(self, d: Any, now: float) -> None:
        sim = self._sim
        if self.active:
            self.close(ALREADY_AUTHENTICATED, "already authenticated", now)
            return
        if not isinstance(d, dict):
            self.close(INVALID_PAYLOAD, "resume payload is not an object", now)
            return
        if not self._check_token(d, now):
            return
        session_id, seq = d.get("session_id"), d.get("seq")
        if not isinstance(session_id, str) or not (seq is None or _is_int(seq)):
            self.close(INVALID_PAYLOAD, "resume needs session_id and seq", now)
            return
        session = sim.sessions.get(session_id)
        if session is None:
            sim.counters.resumes_rejected += 1
            code = sim.faults.unknown_session_close_code
            if code is None:
                self.invalid_session(False, now)
            else:
                self.close(code, "unknown session", now)
            return
        seq = 0 if seq is None else seq
        if not 0 <= seq <= session.last_seq:
            sim.counters.resumes_rejected += 1
            self.close(INVALID_SEQ, "seq out of range", now)
            return
        if sim.faults.reject_resumes > 0:
            sim.faults.reject_resumes -= 1
            sim.counters.resumes_rejected += 1
            sim.counters.faults_fired += 1
            sim.retire_session(session)
            code = sim.faults.resume_reject_code
            if code is None:
                self.invalid_session(False, now)
            else:
                self.close(code, "resume rejected", now)
            return
        old = session.link
        if old is not None and old is not self:
            # The client gave up on that connection before we noticed: it is a zombie.
            old.close(SESSION_TIMEOUT, "session resumed on another connection", now)
        self._attach(session)
        replayed = 0
        for event_seq, frame in session.events_after(seq):
            self.send_text(frame, now, event_seq)
            replayed += 1
        sim.counters.replayed_events += replayed
        sim.counters.resumes += 1
        # gateway.md §4.9: RESUMED comes after every replayed event, with d = "".
        resumed_seq = session.next_seq()
        self.send_text(encode_dispatch("RESUMED", resumed_seq, None, b'""'), now,
                       resumed_seq)

    def _attach(self, session: SimSession) -> None:
        self.session = session
        session.link = self
        self._fsm.fire(_Input.AUTHENTICATED)

    def invalid_session(self, resumable: bool, now: float) -> None:
        """op 9 (gateway.md §4.7).  ``d=false`` also invalidates the attached session;
        the client may Identify again on this same connection."""
        self._sim.counters.invalid_sessions += 1
        self.send_text(b'{"op":9,"d":true}' if resumable else b'{"op":9,"d":false}', now)
        if not resumable:
            if self.session is not None:
                self._sim.retire_session(self.session)  # detaches it from this link
            self._fsm.fire(_Input.INVALIDATED)

    # ------------------------------------------------------------------ timers

    def get_timer(self) -> float | None:
        timers = [t for t in (self._hb_deadline, self._close_deadline) if t is not None]
        if self._delayed:
            timers.append(self._delayed[0][0])
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, wire, seq = self._delayed.popleft()
            self._conn.write(wire)
            self._pending_seq = max(self._pending_seq, seq)
        if self._close_deadline is not None and now >= self._close_deadline:
            # The client never answered our close frame: close TCP anyway.
            self._fsm.fire(_Input.CLOSE_TIMEOUT)
            self._close_deadline = None
            self._conn.request_close()
        if self._hb_deadline is not None and now >= self._hb_deadline:
            self._hb_deadline = None
            if self._sim.faults.close_on_missed_heartbeats:
                # gateway.md §7.1: 4009 "connection expired, reconnect and resume".
                self._sim.counters.heartbeat_timeouts += 1
                self.close(SESSION_TIMEOUT, "heartbeat timeout", now)
