"""One WebSocket connection to the QQ gateway, as a sans-IO state machine.

:class:`GatewayConnection` writes the HTTP upgrade with h11 and checks the 101 the way
wsproto does (:mod:`qqproto.gateway._handshake`), then frames with the small RFC
6455 client codec of :mod:`qqproto.gateway._wsframes` (measured several times faster than a
generic frame layer on gateway traffic; wsproto is its reference peer in every test).  It
reassembles fragments, bounds message size, answers pings and closes, decodes JSON, and
on top runs the gateway protocol — Hello → Identify or Resume → READY/RESUMED →
dispatches — with heartbeats driven by the timer and a zombie check on heartbeat ACKs
(gateway.md §3, §4, §8).

Every way the connection can end produces exactly one
:class:`~qqproto.events.ConnectionEnded` that says what a session may do next.
"""

from __future__ import annotations

import enum
import secrets
import sys
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit

from .._fsm import StateMachine
from .._jsoncodec import loads as _loads
from .._log import bot_logger
from .._secret import Secret, as_secret
from ..errors import FrameError, JSONDecodeError, LocalProtocolError, RemoteProtocolError
from ..events import (
    BotUser,
    ConnectionEnded,
    EndCause,
    Event,
    HeartbeatAcknowledged,
    NextStep,
    Ready,
    Resumed,
    UnknownOpcode,
    new_dispatch,
)
from ._close_codes import end_for_close_frame
from ._handshake import Refused, UpgradeClient, Upgraded
from ._heartbeat import DEFAULT_HEARTBEAT_FACTOR, Heartbeat
from ._intents import Intents
from ._payloads import (
    Frame,
    Op,
    check_frame,
    heartbeat_text,
    identify_text,
    is_known_op,
    parse_hello_interval,
    parse_ready,
    resume_text,
)
from ._snapshot import SessionSnapshot
from ._wsframes import (
    BINARY,
    CLOSE,
    INVALID_PAYLOAD,
    PING,
    PROTOCOL_ERROR,
    TEXT,
    UNSUPPORTED_DATA,
    FrameDecoder,
    FrameWriter,
    parse_close,
)

__all__ = ["ConnectionState", "GatewayConnection"]

#: Our own closes that must leave the session resumable use a 4xxx code: on the
#: Discord-derived gateway 1000/1001 from the client may end the session itself.
CLOSE_RESUMABLE: Final = 4000

DEFAULT_MAX_MESSAGE_SIZE: Final = 4 * 1024 * 1024
DEFAULT_HANDSHAKE_TIMEOUT: Final = 30.0
DEFAULT_READY_TIMEOUT: Final = 60.0
DEFAULT_CLOSE_TIMEOUT: Final = 5.0


class ConnectionState(enum.Enum):
    """Where a :class:`GatewayConnection` is in its life."""

    #: Constructed; :meth:`GatewayConnection.initiate` not called yet.
    IDLE = "idle"
    #: HTTP upgrade sent, waiting for the 101.
    CONNECTING = "connecting"
    #: WebSocket open, waiting for op 10 Hello.
    AWAITING_HELLO = "awaiting hello"
    #: Identify sent, waiting for READY.
    IDENTIFYING = "identifying"
    #: Resume sent; replayed dispatches flow until RESUMED.
    RESUMING = "resuming"
    #: READY or RESUMED received: the session is live.
    OPEN = "open"
    #: We sent a close frame and wait for the server's (bounded by a timer).
    CLOSING = "closing"
    #: Ended; the :class:`ConnectionEnded` event has been queued.
    CLOSED = "closed"


class _Input(enum.Enum):
    INITIATE = enum.auto()
    UPGRADED = enum.auto()
    HELLO_IDENTIFY = enum.auto()
    HELLO_RESUME = enum.auto()
    READY = enum.auto()
    RESUMED = enum.auto()
    START_CLOSE = enum.auto()
    END = enum.auto()


_S = ConnectionState
_OPEN = ConnectionState.OPEN
_LIFECYCLE = frozenset({"READY", "RESUMED"})
_LIVE = (_S.CONNECTING, _S.AWAITING_HELLO, _S.IDENTIFYING, _S.RESUMING, _S.OPEN)

#: What a handshake deadline waited for, by state.
_AWAITED: Final = {_S.CONNECTING: "no upgrade response", _S.AWAITING_HELLO: "no Hello",
                   _S.IDENTIFYING: "no READY", _S.RESUMING: "no RESUMED"}

#: The connection's transition table (rendered as a diagram in docs/).
TRANSITIONS: Final[Mapping[tuple[ConnectionState, _Input], ConnectionState]] = {
    (_S.IDLE, _Input.INITIATE): _S.CONNECTING,
    (_S.IDLE, _Input.END): _S.CLOSED,
    (_S.CONNECTING, _Input.UPGRADED): _S.AWAITING_HELLO,
    (_S.AWAITING_HELLO, _Input.HELLO_IDENTIFY): _S.IDENTIFYING,
    (_S.AWAITING_HELLO, _Input.HELLO_RESUME): _S.RESUMING,
    (_S.IDENTIFYING, _Input.READY): _S.OPEN,
    (_S.RESUMING, _Input.RESUMED): _S.OPEN,
    # A server may answer a Resume with a fresh session (gateway.md §8.7 treats READY as
    # authoritative whenever it arrives before the session is live).
    (_S.RESUMING, _Input.READY): _S.OPEN,
    **{(state, _Input.START_CLOSE): _S.CLOSING for state in _LIVE if state is not _S.CONNECTING},
    **{(state, _Input.END): _S.CLOSED for state in (*_LIVE, _S.CLOSING)},
}


class GatewayConnection:
    """The client side of one gateway WebSocket connection.

    Drive it like aioquic: call :meth:`initiate` once the TCP (and TLS) connection is up,
    feed received bytes to :meth:`receive_data`, send whatever :meth:`data_to_send`
    returns after *every* call, drain :meth:`next_event`, and call :meth:`handle_timer`
    when the deadline from :meth:`get_timer` passes.  Once :attr:`state` is
    ``CLOSED``, flush and close the socket.

    ``resume`` is a :class:`SessionSnapshot`: with one, the connection answers Hello with
    Resume instead of Identify.  ``token`` is the bare access token (the ``"QQBot "`` prefix
    is added here, gateway.md §1.3).
    """

    def __init__(
        self,
        *,
        url: str,
        token: str | Secret,
        intents: int = Intents.default(),
        shard: tuple[int, int] = (0, 1),
        resume: SessionSnapshot | None = None,
        properties: Mapping[str, str] | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        heartbeat_factor: float = DEFAULT_HEARTBEAT_FACTOR,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        user_agent: str = "qqproto",
        app_id: str | None = None,
        entropy: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise LocalProtocolError(f"gateway URL must be ws:// or wss://, got {url!r}")
        if not 0 <= shard[0] < shard[1]:
            raise LocalProtocolError(f"shard must be (id, count) with 0 <= id < count: {shard}")
        if not 0 < heartbeat_factor <= 1:
            raise LocalProtocolError("heartbeat_factor must be in (0, 1]")
        if max_message_size < 1024:
            raise LocalProtocolError("max_message_size must be at least 1024 bytes")
        self.url = url
        self._upgrade = UpgradeClient(url, parts, user_agent=user_agent, entropy=entropy)
        self._token = as_secret(token)
        self.intents = int(intents)
        self.shard = shard
        self._properties = dict(properties) if properties is not None else {
            "$os": sys.platform, "$browser": "qqproto", "$device": "qqproto"}
        self._max_message_size = max_message_size
        self._heartbeat_factor = heartbeat_factor
        self._handshake_timeout = handshake_timeout
        self._ready_timeout = ready_timeout
        self._close_timeout = close_timeout
        self._log = bot_logger("qqproto.gateway", app_id)
        self._fsm: StateMachine[ConnectionState, _Input] = StateMachine(
            "gateway connection", ConnectionState.IDLE, TRANSITIONS, self._log)

        self._entropy = entropy
        self._out = bytearray()
        # Both set once the 101 arrived.
        self._decoder: FrameDecoder | None = None
        self._writer: FrameWriter | None = None
        self._events: deque[Event] = deque()
        self._error: RemoteProtocolError | None = None

        # Session knowledge (gateway.md §8.2).
        self._session_id = resume.session_id if resume else None
        self._seq: int | None = resume.seq if resume else None
        self._bot_user: BotUser | None = (
            BotUser(id=resume.bot_user_id, username=resume.bot_username)
            if resume and resume.bot_user_id else None)
        self._resuming = resume is not None
        self._session_valid = True

        # Timers (the caller's monotonic clock).
        self._deadline: float | None = None  # handshake / ready / close deadline
        self._beat = Heartbeat()
        self._ended: ConnectionEnded | None = None
        self._pending_end: ConnectionEnded | None = None
        self._last_now = 0.0
        #: Set by a driver that has stopped reading from the socket (backpressure):
        #: heartbeats still go out, but their ACKs cannot be read, so a missing ACK
        #: does not end the connection as a zombie until reading resumes.
        self.reading_paused = False

    # ------------------------------------------------------------------ properties

    @property
    def state(self) -> ConnectionState:
        return self._fsm.state

    @property
    def session(self) -> SessionSnapshot | None:
        """What a new connection's ``resume=`` accepts, or ``None`` if there is nothing
        to resume (no READY yet, or the server invalidated the session)."""
        if self._session_id is None or not self._session_valid:
            return None
        user = self._bot_user
        return SessionSnapshot(
            session_id=self._session_id, seq=self._seq, intents=self.intents,
            shard=self.shard, bot_user_id=user.id if user else "",
            bot_username=user.username if user else "")

    @property
    def last_seq(self) -> int | None:
        """The highest ``s`` received so far (what heartbeats carry)."""
        return self._seq

    @property
    def heartbeat_interval(self) -> float | None:
        """Seconds between our heartbeats, once Hello has arrived."""
        return self._beat.period

    @property
    def ended(self) -> ConnectionEnded | None:
        """The end event, once the connection has ended."""
        return self._ended

    def __repr__(self) -> str:
        return (f"<GatewayConnection {self.url} state={self.state.name} "
                f"session={self._session_id!r} seq={self._seq!r}>")

    # ------------------------------------------------------------------ driver API

    def initiate(self, now: float) -> None:
        """Queue the HTTP upgrade request; call once the byte stream is open."""
        if self.state is not ConnectionState.IDLE:
            raise LocalProtocolError(f"initiate() in state {self.state.name}")
        self._last_now = now
        self._fsm.fire(_Input.INITIATE)
        self._out += self._upgrade.request()
        self._deadline = now + self._handshake_timeout

    def data_to_send(self) -> bytes:
        """Bytes to write to the socket now (empty if none)."""
        if not self._out:
            return b""
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_event(self) -> Event | None:
        """The next event, or ``None`` when there is none right now."""
        events = self._events
        return events.popleft() if events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None``."""
        if self.state is ConnectionState.CLOSED:
            return None
        deadline, beat = self._deadline, self._beat.due
        if beat is None or (deadline is not None and deadline <= beat):
            return deadline
        return beat

    def handle_timer(self, now: float) -> None:
        """Send a due heartbeat, detect a zombie, or enforce a handshake/close deadline."""
        state = self.state
        if state is ConnectionState.CLOSED:
            return
        self._last_now = now
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            if state is ConnectionState.CLOSING:
                # The server never answered our close frame: give up on it.
                self._finish(self._pending_end or self._end(EndCause.LOCAL_CLOSE))
                return
            what = _AWAITED.get(state, "no RESUMED")
            self._log.warning("gateway handshake timed out: %s", what)
            self._close_and_end(self._end(EndCause.HANDSHAKE_TIMEOUT, detail=f"{what} in time"),
                                now, wait=False)
            return
        beat = self._beat
        if beat.due is not None and now >= beat.due:
            if beat.awaiting_ack and not self.reading_paused:
                # The previous heartbeat is still unanswered as the next one falls due:
                # a zombie connection (gateway.md §8.1).  The peer is likely gone, so do
                # not wait for its close frame.
                self._log.warning("heartbeat not acknowledged; closing zombie connection")
                self._close_and_end(self._end(EndCause.HEARTBEAT_TIMEOUT), now, wait=False)
                return
            self._send_heartbeat(now)
            beat.reschedule(now)

    def close(self, code: int = 1000, reason: str = "", *, now: float | None = None) -> None:
        """Start a clean close.  Idempotent; the end arrives as :class:`ConnectionEnded`.

        The server's close frame is awaited for ``close_timeout`` seconds from ``now``
        (default: the last time this connection was told).  A code other than 1000/1001
        keeps the session resumable on the server side.
        """
        state = self.state
        if state in (ConnectionState.CLOSING, ConnectionState.CLOSED):
            return
        end = self._end(EndCause.LOCAL_CLOSE, detail=reason)
        if state in (ConnectionState.IDLE, ConnectionState.CONNECTING):
            self._finish(end)
            return
        self._send_close(code, reason)
        self._pending_end = end
        self._fsm.fire(_Input.START_CLOSE)
        self._beat.due = None
        self._deadline = (self._last_now if now is None else now) + self._close_timeout

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the socket; ``b""`` means the peer closed its side (EOF).

        Raises :class:`RemoteProtocolError` when the server broke the protocol; the
        close frame is already queued and a :class:`ConnectionEnded` is in the event
        queue.  The error is sticky.
        """
        if self._error is not None:
            raise self._error
        state = self.state
        if state is ConnectionState.CLOSED:
            if data:
                self._fail(EndCause.PROTOCOL_ERROR, "bytes received after the connection ended",
                           None)
            return
        if state is ConnectionState.IDLE:
            raise LocalProtocolError("receive_data() before initiate()")
        self._last_now = now
        if not data:
            self._on_eof()
            return
        if self._decoder is None:
            self._pump_handshake(data, now)
        else:
            self._pump_frames(data, now)

    # ------------------------------------------------------------------ internals

    def _pump_handshake(self, data: bytes, now: float) -> None:
        outcome = self._upgrade.receive(data)
        if outcome is None:
            return
        if isinstance(outcome, Refused):
            detail = f"gateway refused the upgrade with HTTP {outcome.status}"
            self._finish(self._end(EndCause.HANDSHAKE_FAILED, detail=detail))
            return
        if not isinstance(outcome, Upgraded):
            self._fail(EndCause.HANDSHAKE_FAILED, outcome.problem, None)
        self._decoder = FrameDecoder(self._max_message_size)
        self._writer = FrameWriter(self._out, self._entropy)
        self._fsm.fire(_Input.UPGRADED)
        self._deadline = now + self._handshake_timeout
        if outcome.trailing:
            # Frames that arrived in the same read as the 101.
            self._pump_frames(outcome.trailing, now)

    def _pump_frames(self, data: bytes, now: float) -> None:
        decoder, writer = self._decoder, self._writer
        assert decoder is not None and writer is not None
        messages = decoder.feed(data)
        last = len(messages) - 1
        events = self._events
        for index, (opcode, payload) in enumerate(messages):
            if opcode == TEXT:
                # The hot path, inlined: a well-formed dispatch on a live session
                # (gateway.md §3.1); anything else takes the checked road in _on_frame.
                try:
                    obj = _loads(payload)
                except JSONDecodeError as exc:
                    self._fail(EndCause.PROTOCOL_ERROR, f"frame is not JSON: {exc}",
                               INVALID_PAYLOAD)
                if type(obj) is dict and self._fsm.state is _OPEN:
                    t = obj.get("t")
                    s = obj.get("s")
                    event_id = obj.get("id")
                    op = obj.get("op")
                    if (type(op) is int and op == 0 and type(t) is str and t
                            and t not in _LIFECYCLE
                            and (s is None or (type(s) is int and s >= 0))
                            and (event_id is None or type(event_id) is str)):
                        if s is not None and (self._seq is None or s > self._seq):
                            self._seq = s  # gateway.md §8.2: the highest seq wins
                        events.append(new_dispatch(t, s, event_id, obj.get("d")))
                        continue
                self._on_frame(obj, now)
            elif opcode == CLOSE:
                code, reason = parse_close(payload)
                self._on_close_frame(code, reason)
                if index < last or len(decoder):
                    # RFC 6455 §5.5.1: nothing may follow a Close frame.
                    self._fail(EndCause.PROTOCOL_ERROR,
                               "bytes received after the connection ended", None)
                return
            elif opcode == PING:
                writer.pong(payload)
            elif opcode == BINARY:
                self._fail(EndCause.PROTOCOL_ERROR,
                           "binary frame where the gateway sends JSON text",
                           UNSUPPORTED_DATA)
            # PONG: nothing to do (we never ping).
        violation = decoder.violation
        if violation is not None:
            self._fail(EndCause.PROTOCOL_ERROR, f"invalid WebSocket frame: {violation}",
                       violation.code)

    def _on_frame(self, obj: Any, now: float) -> None:
        """Everything but the hot path: check the envelope, then act on the op."""
        try:
            frame = check_frame(obj)
        except FrameError as exc:
            self._fail(EndCause.PROTOCOL_ERROR, str(exc), INVALID_PAYLOAD)
        op = frame.op
        seq = frame.s
        if seq is not None and (self._seq is None or seq > self._seq):
            # gateway.md §8.2: keep the highest seq; replays never move it backwards.
            self._seq = seq
        if op == Op.DISPATCH:
            self._on_dispatch(frame, now)
        elif op == Op.HEARTBEAT_ACK:
            latency = self._beat.acknowledged(now)
            self._events.append(HeartbeatAcknowledged(latency=latency))
        elif op == Op.HEARTBEAT:
            # The server asks for a heartbeat now (gateway.md §3.2, §8.1).
            self._send_text(heartbeat_text(self._seq))
        elif op == Op.HELLO:
            self._on_hello(frame, now)
        elif self.state is ConnectionState.CLOSING and op in (Op.RECONNECT,
                                                              Op.INVALID_SESSION):
            pass  # already on our way out; the first reason stands
        elif op == Op.RECONNECT:
            # gateway.md §4.6: reconnect and resume.
            self._close_and_end(self._end(EndCause.RECONNECT_REQUESTED), now, wait=True)
        elif op == Op.INVALID_SESSION:
            # gateway.md §4.7: `d` is undocumented; only a literal true keeps the session
            # (ASDK reading); everything else re-identifies (the safe side).
            if frame.d is True:
                end = self._end(EndCause.INVALID_SESSION, next_step=NextStep.RESUME)
            else:
                self._session_valid = False
                end = self._end(EndCause.INVALID_SESSION, next_step=NextStep.IDENTIFY)
            self._close_and_end(end, now, wait=True)
        else:
            if is_known_op(op):
                # A client-to-server opcode echoed back: ignore it, loudly.
                self._log.warning("ignoring opcode %d from the server", op)
            self._events.append(UnknownOpcode(op=op, frame=frame.d))

    def _on_hello(self, frame: Frame, now: float) -> None:
        if self.state is not ConnectionState.AWAITING_HELLO:
            self._fail(EndCause.PROTOCOL_ERROR, "second Hello on one connection",
                       PROTOCOL_ERROR)
        try:
            interval = parse_hello_interval(frame.d)
        except FrameError as exc:
            self._fail(EndCause.PROTOCOL_ERROR, str(exc), PROTOCOL_ERROR)
        self._beat.start(interval, self._heartbeat_factor, now)
        token = "QQBot " + self._token.reveal()
        if self._resuming and self._session_id is not None:
            # gateway.md §4.3: Resume instead of Identify; seq 0 if none was recorded.
            self._send_text(resume_text(token, self._session_id, self._seq or 0))
            self._fsm.fire(_Input.HELLO_RESUME)
        else:
            self._send_text(identify_text(token, self.intents, self.shard, self._properties))
            self._fsm.fire(_Input.HELLO_IDENTIFY)
        self._deadline = now + self._ready_timeout

    def _on_dispatch(self, frame: Frame, now: float) -> None:
        t = frame.t
        assert t is not None  # check_frame guarantees it for op 0
        if t == "READY":
            if self.state not in (ConnectionState.IDENTIFYING, ConnectionState.RESUMING):
                self._fail(EndCause.PROTOCOL_ERROR, "READY outside the handshake",
                           PROTOCOL_ERROR)
            try:
                session_id, user, shard, version = parse_ready(frame.d)
            except FrameError as exc:
                self._fail(EndCause.PROTOCOL_ERROR, str(exc), PROTOCOL_ERROR)
            self._session_id = session_id
            self._session_valid = True
            self._bot_user = user
            self._fsm.fire(_Input.READY)
            self._deadline = None
            self._events.append(Ready(type=t, seq=frame.s, id=frame.id, data=frame.d,
                                      session_id=session_id, user=user, shard=shard,
                                      version=version))
            return
        if t == "RESUMED":
            if self.state is ConnectionState.RESUMING:
                self._fsm.fire(_Input.RESUMED)
                self._deadline = None
            self._events.append(Resumed(type=t, seq=frame.s, id=frame.id, data=frame.d))
            return
        if self.state is ConnectionState.RESUMING:
            # Replays keep coming: the wait for RESUMED restarts with each one.
            self._deadline = now + self._ready_timeout
        self._events.append(new_dispatch(t, frame.s, frame.id, frame.d))

    def _on_close_frame(self, code: int, reason: str) -> None:
        # Complete the close handshake by echoing the code (RFC 6455 §5.5.1).
        self._send_close(None if code == 1005 else code, reason)
        if self.state is ConnectionState.CLOSING and self._pending_end is not None:
            self._finish(self._pending_end)
            return
        # _finish invalidates the session unless the close code lets it resume (§7.3).
        self._finish(end_for_close_frame(code, reason, has_session=self._has_session()))

    def _on_eof(self) -> None:
        state = self.state
        if state is ConnectionState.CLOSING and self._pending_end is not None:
            self._finish(self._pending_end)
            return
        self._finish(self._end(EndCause.CONNECTION_LOST,
                               detail="connection closed without a close frame"))

    def _end(self, cause: EndCause, *, next_step: NextStep | None = None,
             detail: str = "") -> ConnectionEnded:
        if next_step is None:
            next_step = NextStep.RESUME if self._has_session() else NextStep.IDENTIFY
        return ConnectionEnded(cause=cause, next_step=next_step, detail=detail)

    def _has_session(self) -> bool:
        return self._session_id is not None and self._session_valid

    def _close_and_end(self, end: ConnectionEnded, now: float, *, wait: bool) -> None:
        """Send a resumable close frame; finish now, or after the server's close."""
        self._send_close(CLOSE_RESUMABLE, end.cause.value)
        if wait and self._fsm.can_fire(_Input.START_CLOSE):
            self._pending_end = end
            self._fsm.fire(_Input.START_CLOSE)
            self._beat.due = None
            self._deadline = now + self._close_timeout
            return
        self._finish(end)

    def _send_close(self, code: int | None, reason: str) -> None:
        if self._writer is not None:  # before the 101 there is no WebSocket to close
            self._writer.close(code, reason)

    def _fail(self, cause: EndCause, message: str, close_code: int | None) -> NoReturn:
        """Record a violation by the server: queue the close, the end event, and raise."""
        self._log.warning("gateway protocol error: %s", message)
        if close_code is not None:
            self._send_close(close_code, message)
        if self.state is not ConnectionState.CLOSED:
            self._finish(self._end(cause, detail=message))
        self._error = RemoteProtocolError(message, close_code_hint=close_code)
        raise self._error

    def _finish(self, end: ConnectionEnded) -> None:
        if self._ended is not None:
            return
        self._ended = end
        self._pending_end = None
        self._deadline = None
        self._beat.due = None
        self._fsm.fire(_Input.END)
        if end.next_step is not NextStep.RESUME:
            self._session_valid = False
        self._log.info("gateway connection ended: %s (%s)%s", end.cause.value,
                       end.next_step.value, f" code {end.close_code}" if end.close_code else "")
        self._events.append(end)

    def _send_heartbeat(self, now: float) -> None:
        self._send_text(heartbeat_text(self._seq))
        self._beat.sent(now)

    def _send_text(self, text: str) -> None:
        if self._writer is not None:
            self._writer.text(text)
