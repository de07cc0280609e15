"""The gateway supervisor: everything that outlives one WebSocket connection.

:class:`GatewaySession` owns the access token, gateway discovery, the session snapshot
and the reconnect policy (gateway.md §7–§8), and tells a driver what to do next as
:mod:`~qqproto._commands` values.  It wraps the current
:class:`~qqproto.gateway.GatewayConnection`, so a driver talks to one object only:

1. ``start(now)``; then, after *every* call into the session:
2. write :meth:`~GatewaySession.data_to_send` to the open socket (if any);
3. execute each :meth:`~GatewaySession.next_command` (HTTP request, open/close a
   socket, stop) and report the result with its ``id``;
4. hand each :meth:`~GatewaySession.next_event` to the application;
5. arm a timer for :meth:`~GatewaySession.get_timer` and call ``handle_timer(now)``.

Because the policy lives here, every driver reconnects, backs off and resumes the same way.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Mapping
from typing import Final

from .._commands import CloseConnection, Command, SendHttpRequest, Stop
from .._endpoints import Endpoints
from .._fsm import StateMachine
from .._http import HttpRequest, HttpResponse
from .._log import bot_logger
from .._secret import Secret
from ..errors import (
    ApiError,
    InvalidCredentialsError,
    LocalProtocolError,
    ProxyAuthenticationRequired,
    ProxyConfigError,
    ProxyError,
    RemoteProtocolError,
)
from ..events import (
    ConnectionEnded,
    Dispatch,
    EndCause,
    Event,
    HeartbeatAcknowledged,
    NextStep,
    Ready,
    Reconnecting,
    Resumed,
    SessionStopped,
)
from ..proxy._config import Direct, ProxyConfig
from ..rest._gateway_info import GatewayInfo
from ..rest._token import TokenState
from ._close_codes import describe_close_code
from ._connect import Connector, StreamOpen
from ._connection import ConnectionState, GatewayConnection
from ._dedupe import dedupe_key
from ._discovery import Discovery
from ._intents import Intents
from ._pacing import IdentifyPacer
from ._policy import Attempts, ReconnectPolicy
from ._progress import SessionProgress
from ._snapshot import SessionSnapshot

# ReconnectPolicy is re-exported: drivers and docs import it from here.
__all__ = ["TRANSITIONS", "GatewaySession", "ReconnectPolicy", "SessionState"]

#: The reconnect jitter's generator when none is given: one for the process (a
#: ``random.Random`` holds 2.5 kB of state, and a host runs many bots).
_SHARED_JITTER: Final = random.Random()


class SessionState(enum.Enum):
    """Where the supervisor is."""

    IDLE = "idle"
    FETCHING_TOKEN = "fetching token"  # noqa: S105 - a state name
    FETCHING_GATEWAY = "fetching gateway"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting"
    STOPPED = "stopped"


class _Input(enum.Enum):
    NEED_TOKEN = enum.auto()
    NEED_GATEWAY = enum.auto()
    CONNECT = enum.auto()
    CONNECTED = enum.auto()
    WAIT = enum.auto()
    STOP = enum.auto()


_S = SessionState
#: States from which the next step towards a connection may be taken.
_PREPARING = (_S.IDLE, _S.WAITING, _S.FETCHING_TOKEN, _S.FETCHING_GATEWAY, _S.CONNECTING)
_ACTIVE = (_S.IDLE, _S.FETCHING_TOKEN, _S.FETCHING_GATEWAY, _S.CONNECTING, _S.CONNECTED,
           _S.WAITING)

#: The supervisor's transition table (rendered as a diagram in docs/).
TRANSITIONS: Final[Mapping[tuple[SessionState, _Input], SessionState]] = {
    **{(s, _Input.NEED_TOKEN): _S.FETCHING_TOKEN for s in _PREPARING},
    **{(s, _Input.NEED_GATEWAY): _S.FETCHING_GATEWAY for s in _PREPARING},
    **{(s, _Input.CONNECT): _S.CONNECTING for s in _PREPARING},
    (_S.CONNECTING, _Input.CONNECTED): _S.CONNECTED,
    **{(s, _Input.WAIT): _S.WAITING
       for s in (_S.IDLE, _S.FETCHING_TOKEN, _S.FETCHING_GATEWAY, _S.CONNECTING,
                 _S.CONNECTED, _S.WAITING)},
    **{(s, _Input.STOP): _S.STOPPED for s in (*_ACTIVE, _S.STOPPED)},
}

_FETCH_INPUTS: Final = {"token": _Input.NEED_TOKEN, "gateway": _Input.NEED_GATEWAY}


class GatewaySession:
    """Supervises gateway connections for one bot and one shard.

    Delivery is at-least-once with duplicates removed: dispatches replayed after a Resume
    (or pushed twice) are dropped by event id within a bounded window.  The seq a Resume
    sends is the last one the application has *processed*: by default a dispatch counts
    as processed when :meth:`next_event` returns it (``auto_mark_processed=True``); with
    ``False`` the application calls :meth:`mark_processed` after handling each one, so a
    crash mid-handler replays that event after a restart.
    """

    def __init__(
        self,
        *,
        app_id: str,
        secret: str | Secret | None = None,
        token_state: TokenState | None = None,
        endpoints: Endpoints | None = None,
        intents: int = Intents.default(),
        shard: tuple[int, int] = (0, 1),
        snapshot: SessionSnapshot | None = None,
        rng: random.Random | None = None,
        policy: ReconnectPolicy | None = None,
        auto_mark_processed: bool = True,
        use_gateway_bot: bool = True,
        dedupe_capacity: int = 10_000,
        dedupe_window: float = 3600.0,
        connection_options: Mapping[str, object] | None = None,
        proxy_env: Mapping[str, str] | None = None,
        proxy: str | ProxyConfig | Direct | None = None,
        identify_pacer: IdentifyPacer | None = None,
    ) -> None:
        if token_state is None:
            if secret is None:
                raise LocalProtocolError("GatewaySession needs secret= or token_state=")
            token_state = TokenState(app_id=app_id, secret=secret, endpoints=endpoints)
        self.app_id = str(app_id)
        self.token_state = token_state
        self.endpoints = endpoints or token_state.endpoints
        self.intents = int(intents)
        self.shard = shard
        self.policy = policy or ReconnectPolicy()
        self.auto_mark_processed = auto_mark_processed
        self._connection_options = dict(connection_options or {})
        self._log = bot_logger("qqproto.session", self.app_id)
        self._fsm: StateMachine[SessionState, _Input] = StateMachine(
            "gateway session", SessionState.IDLE, TRANSITIONS, self._log)

        self._commands: deque[Command] = deque()
        self._events: deque[Event] = deque()
        self._next_id = 0
        self._progress = SessionProgress(snapshot, dedupe_capacity=dedupe_capacity,
                                         dedupe_window=dedupe_window)
        self._discovery = Discovery(token_state, self.endpoints, app_id=self.app_id,
                                    use_gateway_bot=use_gateway_bot, shard_count=shard[1],
                                    log=self._log, shard_id=shard[0], pacer=identify_pacer)
        self._attempts = Attempts(self.policy, rng or _SHARED_JITTER, self._log)
        self._connector = Connector(self._commands, self._new_id, app_id=self.app_id,
                                    proxy_env=proxy_env or {}, proxy=proxy)

        # The current step.
        self._pending_http: int | None = None
        self._pending_purpose = ""
        self._deadline: float | None = None
        self._wait_until: float | None = None
        self._conn: GatewayConnection | None = None
        self._conn_id: int | None = None
        self._conn_opened_at: float | None = None
        self._conn_live_at: float | None = None
        self._conn_resuming = False
        # Bytes an ended connection still had to send (its close reply): flushed before
        # the CloseConnection command that follows them (drivers flush first).
        self._leftover = b""
        self._stop_after_close: Stop | None = None
        self._latency: float | None = None
        self._reading_paused = False

    # ------------------------------------------------------------------ properties

    @property
    def state(self) -> SessionState:
        return self._fsm.state

    @property
    def connection(self) -> GatewayConnection | None:
        """The live connection, if any (for inspection; drive the session, not it)."""
        return self._conn

    @property
    def gateway(self) -> GatewayInfo | None:
        return self._discovery.info

    @property
    def latency(self) -> float | None:
        """Round trip of the last acknowledged heartbeat, in seconds."""
        return self._latency

    @property
    def processed_seq(self) -> int | None:
        return self._progress.processed_seq

    @property
    def duplicates_dropped(self) -> int:
        """Dispatches dropped as replays or double pushes (gateway.md §6.2)."""
        return self._progress.duplicates_dropped

    def snapshot(self, unix_now: float | None = None) -> SessionSnapshot | None:
        """The resumable session as plain data, or ``None`` if there is none.

        ``seq`` is the last processed seq; pass ``unix_now`` to stamp ``last_active``.
        """
        return self._progress.export(unix_now)

    def __repr__(self) -> str:
        snap = self._progress.snapshot
        return (f"<GatewaySession app={self.app_id} state={self.state.name} "
                f"session={snap.session_id if snap else None!r}>")

    # ------------------------------------------------------------------ driver API

    def start(self, now: float, unix_now: float | None = None) -> None:
        """Begin: the first commands (token, gateway, connect) follow."""
        if self.state is not SessionState.IDLE:
            raise LocalProtocolError(f"start() in state {self.state.name}")
        reason = self._progress.unusable_reason(
            intents=self.intents, shard=self.shard, unix_now=unix_now,
            max_age=self.policy.max_resume_age)
        if reason:
            self._log.info("not resuming the stored session: %s", reason)
            self._drop_session()
        self._advance(now)

    def next_command(self) -> Command | None:
        commands = self._commands
        return commands.popleft() if commands else None

    def next_event(self) -> Event | None:
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if self.auto_mark_processed and isinstance(event, Dispatch):
            seq = event.seq
            progress = self._progress
            if seq is not None and (progress.processed_seq is None
                                    or seq > progress.processed_seq):
                progress.processed_seq = seq
        return event

    def mark_processed(self, seq: int | None) -> None:
        """Record that the application has finished with the dispatch carrying ``seq``."""
        if seq is not None:
            self._progress.mark(seq)

    def set_reading_paused(self, paused: bool) -> None:
        """The driver has stopped (``True``) or resumed reading from the socket because
        the application is behind (backpressure).  Heartbeats keep going out; their ACKs
        wait unread in the socket, so a missing ACK is not taken for a zombie connection
        while reading is paused (:attr:`GatewayConnection.reading_paused`)."""
        self._reading_paused = paused
        if self._conn is not None:
            self._conn.reading_paused = paused

    def data_to_send(self) -> bytes:
        data = self._leftover
        if data:
            self._leftover = b""  # the last bytes of a connection that just ended
        conn = self._conn
        if conn is not None:
            return data + conn.data_to_send()
        return data + self._connector.data_to_send()

    def get_timer(self) -> float | None:
        candidates = [t for t in (self._deadline, self._wait_until) if t is not None]
        conn = self._conn
        if conn is not None and self.state is SessionState.CONNECTED:
            timer = conn.get_timer()
            if timer is not None:
                candidates.append(timer)
        timer = self._connector.get_timer()
        if timer is not None:
            candidates.append(timer)
        return min(candidates) if candidates else None

    def handle_timer(self, now: float) -> None:
        state = self.state
        if state is SessionState.STOPPED:
            return
        if self._wait_until is not None and now >= self._wait_until:
            self._wait_until = None
            self._advance(now)
            return
        try:
            self._connector.handle_timer(now)
        except ProxyError as exc:
            self._tunnel_failed(exc, now)
            return
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            if self._pending_http is not None:
                self._pending_http = None
                self._attempt_failed(now, f"{self._pending_purpose} request timed out")
            elif self._connector.pending is not None:
                self._connector.abandon()
                self._discovery.stale = True
                self._attempt_failed(now, "connect timed out")
            return
        conn = self._conn
        if conn is not None and state is SessionState.CONNECTED:
            conn.handle_timer(now)
            self._drain_connection(now)

    def http_response(self, request_id: int, response: HttpResponse, now: float) -> None:
        """The answer to :class:`SendHttpRequest` ``request_id``."""
        if request_id != self._pending_http:
            self._log.debug("ignoring a late answer to request %d", request_id)
            return
        self._pending_http = None
        self._deadline = None
        if self.state is SessionState.FETCHING_TOKEN:
            try:
                self.token_state.receive_response(response, now)
            except InvalidCredentialsError as exc:
                self._stop(f"credentials rejected: {exc}", fatal=True)
                return
            except ApiError as exc:
                self._attempt_failed(now, f"token request failed: {exc}")
                return
            self._advance(now)
        elif self.state is SessionState.FETCHING_GATEWAY:
            try:
                self._discovery.receive_gateway(response, now)
            except ApiError as exc:
                self._attempt_failed(now, f"gateway discovery failed: {exc}")
                return
            self._advance(now)

    def http_failed(self, request_id: int, reason: str, now: float) -> None:
        """The driver could not perform :class:`SendHttpRequest` ``request_id``."""
        if request_id != self._pending_http:
            return
        self._pending_http = None
        self._deadline = None
        self._attempt_failed(now, f"{self._pending_purpose} request failed: {reason}")

    def connection_made(self, connection_id: int, now: float) -> None:
        """The socket of :class:`OpenConnection` ``connection_id`` is open (TLS done,
        unless the connection goes through a proxy)."""
        self._stream_open(self._connector.connection_made(connection_id, now), now)

    def tls_started(self, connection_id: int, now: float) -> None:
        """TLS asked for by :class:`StartTls` is up on connection ``connection_id``."""
        self._stream_open(self._connector.tls_started(connection_id), now)

    def connection_failed(self, connection_id: int, reason: str, now: float) -> None:
        """The socket of :class:`OpenConnection` ``connection_id`` could not be opened."""
        if not self._connector.failed(connection_id):
            return
        self._deadline = None
        self._discovery.stale = True
        self._attempt_failed(now, f"could not connect: {reason}")

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes (``b""`` = EOF) from the socket of the current connection."""
        if self._connector.tunnelling:
            try:
                opened = self._connector.receive_data(data)
            except ProxyError as exc:
                self._tunnel_failed(exc, now)
                return
            self._stream_open(opened, now)
            return
        conn = self._conn
        if conn is None or self.state is not SessionState.CONNECTED:
            return  # a socket the driver was told to close; nothing to do
        try:
            conn.receive_data(data, now)
        except RemoteProtocolError as exc:
            self._log.warning("server broke the gateway protocol: %s", exc)
        self._drain_connection(now)

    def close(self, now: float, *, keep_session: bool = True) -> None:
        """Stop supervising: close the connection cleanly, then :class:`Stop`.

        With ``keep_session`` (default) the close frame uses a code that leaves the session
        resumable, so a restarted process can resume from :meth:`snapshot`.
        """
        if self.state is SessionState.STOPPED:
            return
        stop = Stop(reason="closed by the application", fatal=False)
        conn = self._conn
        if conn is not None and conn.state is not ConnectionState.CLOSED:
            self._stop_after_close = stop
            conn.close(4000 if keep_session else 1000, "closing", now=now)
            self._drain_connection(now)
            return
        if not keep_session:
            self._drop_session()
        self._stop(stop.reason, fatal=False)

    # ------------------------------------------------------------------ internals

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _drop_session(self) -> None:
        self._progress.drop()
        self._attempts.resume_failures = 0

    def _advance(self, now: float) -> None:
        """Take the next step towards an open connection."""
        discovery = self._discovery
        fetch = discovery.next_request(now)
        if fetch is not None:
            purpose, request = fetch
            self._send_http(_FETCH_INPUTS[purpose], request, purpose, now)
            return
        if self._progress.snapshot is None:
            allowed_at = discovery.identify_allowed_at(now)
            if allowed_at > now:
                self._log.info("identify budget exhausted; waiting %.1f s", allowed_at - now)
                self._wait(allowed_at, now, announce=True)
                return
        assert discovery.info is not None
        try:
            self._connector.connect(discovery.info.url)
        except ProxyConfigError as exc:
            self._stop(f"unusable proxy setting: {exc}", fatal=True)
            return
        self._fsm.fire(_Input.CONNECT)
        self._deadline = now + self.policy.connect_timeout

    def _send_http(self, transition: _Input, request: HttpRequest, purpose: str,
                   now: float) -> None:
        request_id = self._new_id()
        self._pending_http = request_id
        self._pending_purpose = purpose
        self._fsm.fire(transition)
        self._deadline = now + request.timeout + self.policy.http_grace
        self._commands.append(SendHttpRequest(id=request_id, request=request, purpose=purpose))

    def _tunnel_failed(self, exc: ProxyError, now: float) -> None:
        self._connector.abandon()
        self._deadline = None
        if isinstance(exc, ProxyAuthenticationRequired):
            # A configuration error: retrying with the same credentials cannot succeed.
            self._stop(f"proxy refused: {exc}", fatal=True)
            return
        self._attempt_failed(now, f"proxy failed: {exc}")

    def _stream_open(self, opened: StreamOpen | None, now: float) -> None:
        """Start the gateway connection on a stream that is ready for it."""
        if opened is None:
            return
        connection_id = opened.id
        self._deadline = None
        gateway = self._discovery.info
        token = self.token_state.current(now)
        if gateway is None or token is None:
            # The token expired while connecting: start over (rare).
            self._commands.append(CloseConnection(id=connection_id))
            self._advance(now)
            return
        resume = self._progress.resume_point()
        self._conn_resuming = resume is not None
        if resume is None:
            self._discovery.identified(now)
        self._conn = GatewayConnection(
            url=gateway.url, token=token, intents=self.intents, shard=self.shard,
            resume=resume, app_id=self.app_id,
            **self._connection_options)  # type: ignore[arg-type]
        self._conn.reading_paused = self._reading_paused
        self._conn_id = connection_id
        self._conn_opened_at = now
        self._conn_live_at = None
        self._fsm.fire(_Input.CONNECTED)
        self._conn.initiate(now)
        if opened.initial:
            self.receive_data(opened.initial, now)

    def _drain_connection(self, now: float) -> None:
        conn = self._conn
        if conn is None:
            return
        events = self._events
        progress = self._progress
        seen = progress.recent.seen
        while (event := conn.next_event()) is not None:
            kind = type(event)
            if kind is Dispatch:
                assert isinstance(event, Dispatch)
                key = event.id or dedupe_key(event)
                if key is not None and seen(key, now):
                    progress.duplicates_dropped += 1
                    self._log.debug("dropping duplicate dispatch %s", key)
                    continue
                events.append(event)
            elif kind is HeartbeatAcknowledged:
                assert isinstance(event, HeartbeatAcknowledged)
                self._latency = event.latency
            elif kind is Ready:
                assert isinstance(event, Ready)
                self._conn_live_at = now
                progress.ready(event, intents=self.intents, shard=self.shard)
                self._attempts.resume_failures = 0
                events.append(event)
            elif kind is Resumed:
                self._conn_live_at = now
                self._attempts.resume_failures = 0
                events.append(event)
            elif kind is ConnectionEnded:
                assert isinstance(event, ConnectionEnded)
                events.append(event)
                self._on_connection_ended(event, now)
                return
            else:
                events.append(event)

    def _on_connection_ended(self, end: ConnectionEnded, now: float) -> None:
        assert self._conn_id is not None
        self._commands.append(CloseConnection(id=self._conn_id))
        opened_at = self._conn_opened_at if self._conn_opened_at is not None else now
        live_at = self._conn_live_at
        was_resuming = self._conn_resuming and live_at is None
        if self._conn is not None:
            self._leftover += self._conn.data_to_send()
        self._conn = None
        self._conn_id = None

        if self._stop_after_close is not None:
            stop, self._stop_after_close = self._stop_after_close, None
            self._stop(stop.reason, fatal=stop.fatal)
            return
        if end.next_step is NextStep.STOP:
            code = end.close_code
            self._drop_session()
            self._stop(f"gateway closed with {code}: {describe_close_code(code)}",
                       fatal=True, close_code=code)
            return

        attempts = self._attempts
        attempts.connection_ended(end, opened_at=opened_at, live_at=live_at, now=now)
        if end.refresh_token:
            self.token_state.invalidate()
        if end.cause in (EndCause.HANDSHAKE_FAILED, EndCause.HANDSHAKE_TIMEOUT):
            self._discovery.stale = True
        has_session = self._progress.snapshot is not None
        if end.next_step is NextStep.IDENTIFY:
            if has_session:
                self._log.info("session invalidated (%s); identifying afresh", end.cause.value)
            self._drop_session()
        elif was_resuming and has_session and attempts.resume_failed():
            self._drop_session()

        if attempts.gave_up():
            self._stop(f"gave up after {attempts.failures} failed connections", fatal=True)
            return
        self._wait(now + attempts.delay_after_end(end.retry_after, now), now, announce=True)

    def _attempt_failed(self, now: float, reason: str) -> None:
        self._log.warning("%s", reason)
        attempts = self._attempts
        attempts.attempt_failed()
        if attempts.gave_up():
            self._stop(f"gave up after {attempts.failures} failed attempts: {reason}",
                       fatal=True)
            return
        self._wait(now + attempts.delay_after_failure(), now, announce=True, reason=reason)

    def _wait(self, until: float, now: float, *, announce: bool, reason: str = "") -> None:
        self._deadline = None
        self._wait_until = until
        self._fsm.fire(_Input.WAIT)
        if announce:
            step = NextStep.RESUME if self._progress.snapshot is not None else NextStep.IDENTIFY
            self._events.append(Reconnecting(at=until, attempt=self._attempts.failures,
                                             next_step=step, reason=reason))

    def _stop(self, reason: str, *, fatal: bool, close_code: int | None = None) -> None:
        if self.state is SessionState.STOPPED:
            return
        self._deadline = None
        self._wait_until = None
        self._pending_http = None
        self._connector.abandon()
        self._fsm.fire(_Input.STOP)
        (self._log.error if fatal else self._log.info)("gateway session stopped: %s", reason)
        self._commands.append(Stop(reason=reason, fatal=fatal, close_code=close_code))
        self._events.append(SessionStopped(reason=reason, fatal=fatal, close_code=close_code))
