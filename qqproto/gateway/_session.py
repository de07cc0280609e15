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
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import urlsplit

from .. import __name__ as _package
from .._commands import CloseConnection, Command, OpenConnection, SendHttpRequest, StartTls, Stop
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
from ..proxy._config import Direct, ProxyConfig, resolve_proxy
from ..proxy._tunnels import Tunnel, open_tunnel
from ..rest._gateway_info import GatewayInfo, gateway_request, parse_gateway_response
from ..rest._token import TokenState
from ._backoff import Backoff
from ._close_codes import describe_close_code
from ._connection import ConnectionState, GatewayConnection
from ._dedupe import RecentIds
from ._intents import Intents
from ._snapshot import SessionSnapshot

__all__ = ["GatewaySession", "ReconnectPolicy", "SessionState"]

#: gateway.md §8.4: ``max_concurrency`` identifies per this many seconds.
IDENTIFY_WINDOW: Final = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """The knobs of the reconnect policy; defaults cite the fact sheet.

    - ``backoff``: delays between attempts (§8.5).
    - ``healthy_after``: a connection open this long resets the backoff.
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
    quick_disconnect: float = 5.0
    quick_disconnect_limit: int = 3
    max_resume_failures: int = 2
    max_resume_age: float = 3600.0
    connect_timeout: float = 20.0
    http_grace: float = 5.0
    max_consecutive_failures: int | None = None


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
        self._rng = rng or random.Random()
        self._use_gateway_bot = use_gateway_bot
        self._connection_options = dict(connection_options or {})
        # Proxy settings: the driver passes its environment as data (DESIGN.md §3).
        self._proxy_env = dict(proxy_env or {})
        self._proxy_override = proxy
        self._log = bot_logger(f"{_package}.session", self.app_id)
        self._fsm: StateMachine[SessionState, _Input] = StateMachine(
            "gateway session", SessionState.IDLE, TRANSITIONS, self._log)

        self._commands: deque[Command] = deque()
        self._events: deque[Event] = deque()
        self._recent = RecentIds(capacity=dedupe_capacity, window=dedupe_window)
        self._next_id = 0

        # Session identity and progress.
        self._snapshot = snapshot
        self._restored = snapshot is not None
        self._processed_seq: int | None = snapshot.seq if snapshot else None

        # The current step.
        self._pending_http: int | None = None
        self._pending_purpose = ""
        self._pending_connect: int | None = None
        self._deadline: float | None = None
        self._wait_until: float | None = None
        self._conn: GatewayConnection | None = None
        self._conn_id: int | None = None
        self._conn_opened_at: float | None = None
        self._conn_live_at: float | None = None
        self._conn_resuming = False
        self._tunnel: Tunnel | None = None
        self._current_proxy: ProxyConfig | None = None
        # Bytes an ended connection still had to send (its close reply): flushed before
        # the CloseConnection command that follows them (drivers flush first).
        self._leftover = b""
        self._tunnel_id: int | None = None
        self._awaiting_tls: int | None = None
        self._target: tuple[str, int, bool] = ("", 0, False)

        # Policy bookkeeping.
        self._gateway: GatewayInfo | None = None
        self._gateway_stale = True
        self._gateway_fetched_at = 0.0
        self._failures = 0
        self._quick_disconnects = 0
        self._resume_failures = 0
        self._identify_times: deque[float] = deque()
        self._identifies_left: int | None = None
        self._stop_after_close: Stop | None = None
        self._latency: float | None = None
        self.duplicates_dropped = 0

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
        return self._gateway

    @property
    def latency(self) -> float | None:
        """Round trip of the last acknowledged heartbeat, in seconds."""
        return self._latency

    @property
    def processed_seq(self) -> int | None:
        return self._processed_seq

    def snapshot(self, unix_now: float | None = None) -> SessionSnapshot | None:
        """The resumable session as plain data, or ``None`` if there is none.

        ``seq`` is the last processed seq; pass ``unix_now`` to stamp ``last_active``.
        """
        snap = self._snapshot
        if snap is None:
            return None
        return replace(snap, seq=self._processed_seq,
                       last_active=unix_now if unix_now is not None else snap.last_active)

    def __repr__(self) -> str:
        return (f"<GatewaySession app={self.app_id} state={self.state.name} "
                f"session={self._snapshot.session_id if self._snapshot else None!r}>")

    # ------------------------------------------------------------------ driver API

    def start(self, now: float, unix_now: float | None = None) -> None:
        """Begin: the first commands (token, gateway, connect) follow."""
        if self.state is not SessionState.IDLE:
            raise LocalProtocolError(f"start() in state {self.state.name}")
        snap = self._snapshot
        if snap is not None:
            reason = self._unusable_snapshot_reason(snap, unix_now)
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
            if seq is not None and (self._processed_seq is None or seq > self._processed_seq):
                self._processed_seq = seq
        return event

    def mark_processed(self, seq: int | None) -> None:
        """Record that the application has finished with the dispatch carrying ``seq``."""
        if seq is not None:
            self._mark(seq)

    def data_to_send(self) -> bytes:
        data = self._leftover
        if data:
            self._leftover = b""  # the last bytes of a connection that just ended
        conn = self._conn
        if conn is not None:
            return data + conn.data_to_send()
        tunnel = self._tunnel
        return data + tunnel.data_to_send() if tunnel is not None else data

    def get_timer(self) -> float | None:
        candidates = [t for t in (self._deadline, self._wait_until) if t is not None]
        conn = self._conn
        if conn is not None and self.state is SessionState.CONNECTED:
            timer = conn.get_timer()
            if timer is not None:
                candidates.append(timer)
        if self._tunnel is not None:
            timer = self._tunnel.get_timer()
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
        tunnel = self._tunnel
        if tunnel is not None:
            try:
                tunnel.handle_timer(now)
            except ProxyError as exc:
                self._tunnel_failed(exc, now)
                return
        if self._deadline is not None and now >= self._deadline:
            self._deadline = None
            if self._pending_http is not None:
                self._pending_http = None
                self._attempt_failed(now, f"{self._pending_purpose} request timed out")
            elif self._pending_connect is not None:
                conn_id = self._pending_connect
                self._pending_connect = None
                self._tunnel = None
                self._tunnel_id = None
                self._awaiting_tls = None
                self._commands.append(CloseConnection(id=conn_id))
                self._gateway_stale = True
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
                info = parse_gateway_response(response)
            except ApiError as exc:
                if exc.status == 401:
                    self.token_state.invalidate()
                self._attempt_failed(now, f"gateway discovery failed: {exc}")
                return
            self._on_gateway_info(info, now)
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
        if connection_id != self._pending_connect:
            self._commands.append(CloseConnection(id=connection_id))
            return
        proxy = self._current_proxy
        if proxy is not None:
            # Tunnel first (the deadline set for the connect keeps running).
            host, port, _ = self._target
            self._tunnel = open_tunnel(host, port, proxy, app_id=self.app_id)
            self._tunnel_id = connection_id
            self._tunnel.initiate(now)
            return
        self._open_gateway(connection_id, now, b"")

    def tls_started(self, connection_id: int, now: float) -> None:
        """TLS asked for by :class:`StartTls` is up on connection ``connection_id``."""
        if connection_id != self._awaiting_tls:
            return
        self._awaiting_tls = None
        self._open_gateway(connection_id, now, b"")

    def _open_gateway(self, connection_id: int, now: float, initial: bytes) -> None:
        self._pending_connect = None
        self._deadline = None
        gateway = self._gateway
        token = self.token_state.current(now)
        if gateway is None or token is None:
            # The token expired while connecting: start over (rare).
            self._commands.append(CloseConnection(id=connection_id))
            self._advance(now)
            return
        resume = self._snapshot
        self._conn_resuming = resume is not None
        if resume is None:
            self._identify_times.append(now)
            if self._identifies_left is not None:
                self._identifies_left -= 1
        self._conn = GatewayConnection(
            url=gateway.url, token=token, intents=self.intents, shard=self.shard,
            resume=replace(resume, seq=self._processed_seq) if resume else None,
            app_id=self.app_id, **self._connection_options)  # type: ignore[arg-type]
        self._conn_id = connection_id
        self._conn_opened_at = now
        self._conn_live_at = None
        self._fsm.fire(_Input.CONNECTED)
        self._conn.initiate(now)
        if initial:
            self.receive_data(initial, now)

    def connection_failed(self, connection_id: int, reason: str, now: float) -> None:
        """The socket of :class:`OpenConnection` ``connection_id`` could not be opened."""
        if connection_id != self._pending_connect:
            return
        self._pending_connect = None
        self._awaiting_tls = None
        self._tunnel = None
        self._deadline = None
        self._gateway_stale = True
        self._attempt_failed(now, f"could not connect: {reason}")

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes (``b""`` = EOF) from the socket of the current connection."""
        if self._tunnel is not None:
            self._receive_tunnel_data(data, now)
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

    def _receive_tunnel_data(self, data: bytes, now: float) -> None:
        tunnel = self._tunnel
        assert tunnel is not None and self._tunnel_id is not None
        try:
            tunnel.receive_data(data)
            established = tunnel.next_event()
        except ProxyError as exc:
            self._tunnel_failed(exc, now)
            return
        if established is None:
            return
        connection_id = self._tunnel_id
        self._tunnel = None
        self._tunnel_id = None
        host, _, tls = self._target
        if tls:
            if established.trailing_data:
                # A TLS server never speaks first: these bytes cannot be the target's.
                self._tunnel_failed(ProxyError("proxy sent data before TLS started",
                                               retryable=True), now)
                return
            self._awaiting_tls = connection_id
            self._commands.append(StartTls(id=connection_id, server_hostname=host))
            return
        self._open_gateway(connection_id, now, established.trailing_data)

    def _tunnel_failed(self, exc: ProxyError, now: float) -> None:
        connection_id = self._tunnel_id
        self._tunnel = None
        self._tunnel_id = None
        self._pending_connect = None
        self._deadline = None
        if connection_id is not None:
            self._commands.append(CloseConnection(id=connection_id))
        if isinstance(exc, ProxyAuthenticationRequired):
            # A configuration error: retrying with the same credentials cannot succeed.
            self._stop(f"proxy refused: {exc}", fatal=True)
            return
        self._attempt_failed(now, f"proxy failed: {exc}")

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _mark(self, seq: int) -> None:
        if self._processed_seq is None or seq > self._processed_seq:
            self._processed_seq = seq

    def _unusable_snapshot_reason(self, snap: SessionSnapshot,
                                  unix_now: float | None) -> str:
        if snap.intents != self.intents:
            return "intents changed"
        if tuple(snap.shard) != tuple(self.shard):
            return "shard changed"
        if (unix_now is not None and snap.last_active is not None
                and unix_now - snap.last_active > self.policy.max_resume_age):
            return "it is older than the resume window"
        return ""

    def _drop_session(self) -> None:
        self._snapshot = None
        self._processed_seq = None
        self._resume_failures = 0

    def _advance(self, now: float) -> None:
        """Take the next step towards an open connection."""
        if self.token_state.current(now) is None:
            self._send_http(_Input.NEED_TOKEN, self.token_state.request(), "token", now)
            return
        if self._gateway is None or self._gateway_stale:
            token = self.token_state.current(now)
            assert token is not None
            self._send_http(_Input.NEED_GATEWAY, gateway_request(
                self.endpoints, token, self.app_id, bot=self._use_gateway_bot),
                "gateway", now)
            return
        if self._snapshot is None:
            allowed_at = self._identify_allowed_at(now)
            if allowed_at > now:
                self._log.info("identify budget exhausted; waiting %.1f s", allowed_at - now)
                self._wait(allowed_at, now, announce=True)
                return
        url = self._gateway.url
        parts = urlsplit(url)
        tls = parts.scheme == "wss"
        try:
            port = parts.port or (443 if tls else 80)
        except ValueError:
            port = 443 if tls else 80
        host = parts.hostname or ""
        try:
            proxy = resolve_proxy(url, self._proxy_env, self._proxy_override)
        except ProxyConfigError as exc:
            self._stop(f"unusable proxy setting: {exc}", fatal=True)
            return
        self._current_proxy = proxy
        self._target = (host, port, tls)
        conn_id = self._new_id()
        self._pending_connect = conn_id
        self._fsm.fire(_Input.CONNECT)
        self._deadline = now + self.policy.connect_timeout
        if proxy is None:
            self._commands.append(OpenConnection(id=conn_id, url=url, host=host, port=port,
                                                 tls=tls))
        else:
            self._commands.append(OpenConnection(id=conn_id, url=url, host=proxy.host,
                                                 port=proxy.port, tls=False, via=str(proxy)))

    def _send_http(self, transition: _Input, request: HttpRequest, purpose: str,
                   now: float) -> None:
        request_id = self._new_id()
        self._pending_http = request_id
        self._pending_purpose = purpose
        self._fsm.fire(transition)
        self._deadline = now + request.timeout + self.policy.http_grace
        self._commands.append(SendHttpRequest(id=request_id, request=request, purpose=purpose))

    def _on_gateway_info(self, info: GatewayInfo, now: float) -> None:
        self._gateway = info
        self._gateway_stale = False
        self._gateway_fetched_at = now
        limit = info.session_start_limit
        self._identifies_left = limit.remaining if limit else None
        if info.shards is not None and info.shards != self.shard[1]:
            self._log.info("platform recommends %d shards; this session uses %d",
                           info.shards, self.shard[1])

    def _identify_allowed_at(self, now: float) -> float:
        """gateway.md §8.4: ``remaining`` per day, ``max_concurrency`` per 5 s."""
        gateway = self._gateway
        limit = gateway.session_start_limit if gateway else None
        if limit is None:
            return now
        if self._identifies_left is not None and self._identifies_left <= 0:
            self._gateway_stale = True  # re-read the budget once it has reset
            return max(now, self._gateway_fetched_at + limit.reset_after)
        times = self._identify_times
        while times and now - times[0] >= IDENTIFY_WINDOW:
            times.popleft()
        if len(times) >= limit.max_concurrency:
            return times[0] + IDENTIFY_WINDOW
        return now

    def _drain_connection(self, now: float) -> None:
        conn = self._conn
        if conn is None:
            return
        events = self._events
        seen = self._recent.seen
        while (event := conn.next_event()) is not None:
            kind = type(event)
            if kind is Dispatch:
                assert isinstance(event, Dispatch)
                key = event.id or _dedupe_key(event)
                if key is not None and seen(key, now):
                    self.duplicates_dropped += 1
                    self._log.debug("dropping duplicate dispatch %s", key)
                    continue
                events.append(event)
            elif kind is HeartbeatAcknowledged:
                assert isinstance(event, HeartbeatAcknowledged)
                self._latency = event.latency
            elif kind is Ready:
                assert isinstance(event, Ready)
                self._on_live(now)
                self._snapshot = SessionSnapshot(
                    session_id=event.session_id, seq=event.seq, intents=self.intents,
                    shard=self.shard, bot_user_id=event.user.id,
                    bot_username=event.user.username)
                self._processed_seq = event.seq
                self._resume_failures = 0
                events.append(event)
            elif kind is Resumed:
                self._on_live(now)
                self._resume_failures = 0
                events.append(event)
            elif kind is ConnectionEnded:
                assert isinstance(event, ConnectionEnded)
                events.append(event)
                self._on_connection_ended(event, now)
                return
            else:
                events.append(event)

    def _on_live(self, now: float) -> None:
        self._conn_live_at = now

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

        live = live_at is not None
        healthy = live_at is not None and now - live_at >= self.policy.healthy_after
        # The server asked for this reconnect (gateway.md §4.6, §7.3): not a failure.
        requested = live and (
            end.cause is EndCause.RECONNECT_REQUESTED
            or (end.cause is EndCause.SERVER_CLOSED and end.close_code == 4009)
            or (end.cause is EndCause.INVALID_SESSION and end.next_step is NextStep.RESUME))
        if healthy or requested:
            self._failures = 0
        else:
            self._failures += 1
        if not requested and (not live or now - opened_at < self.policy.quick_disconnect):
            self._quick_disconnects += 1
            if self._quick_disconnects == self.policy.quick_disconnect_limit:
                # gateway.md §8.6: usually missing permissions or intents.  Other SDKs stop
                # for good here; a bot that stops is dead for hours, so keep backing off.
                self._log.warning("%d quick disconnects in a row: check the bot's intents "
                                  "and permissions", self._quick_disconnects)
        else:
            self._quick_disconnects = 0

        if end.refresh_token:
            self.token_state.invalidate()
        if end.cause in (EndCause.HANDSHAKE_FAILED, EndCause.HANDSHAKE_TIMEOUT):
            self._gateway_stale = True
        if end.next_step is NextStep.IDENTIFY:
            if self._snapshot is not None:
                self._log.info("session invalidated (%s); identifying afresh", end.cause.value)
            self._drop_session()
        elif was_resuming and self._snapshot is not None:
            self._resume_failures += 1
            if self._resume_failures >= self.policy.max_resume_failures:
                self._log.warning("resume failed %d times in a row; identifying afresh",
                                  self._resume_failures)
                self._drop_session()

        limit = self.policy.max_consecutive_failures
        if limit is not None and self._failures > limit:
            self._stop(f"gave up after {self._failures} failed connections", fatal=True)
            return
        attempt = self._failures
        delay = max(end.retry_after, self.policy.backoff.delay(attempt, self._rng))
        self._wait(now + delay, now, announce=True)

    def _attempt_failed(self, now: float, reason: str) -> None:
        self._log.warning("%s", reason)
        self._failures += 1
        limit = self.policy.max_consecutive_failures
        if limit is not None and self._failures > limit:
            self._stop(f"gave up after {self._failures} failed attempts: {reason}", fatal=True)
            return
        delay = self.policy.backoff.delay(self._failures - 1, self._rng)
        self._wait(now + delay, now, announce=True)

    def _wait(self, until: float, now: float, *, announce: bool) -> None:
        self._deadline = None
        self._wait_until = until
        self._fsm.fire(_Input.WAIT)
        if announce:
            step = NextStep.RESUME if self._snapshot is not None else NextStep.IDENTIFY
            self._events.append(Reconnecting(at=until, attempt=self._failures, next_step=step))

    def _stop(self, reason: str, *, fatal: bool, close_code: int | None = None) -> None:
        if self.state is SessionState.STOPPED:
            return
        self._deadline = None
        self._wait_until = None
        self._pending_http = None
        if self._pending_connect is not None:
            self._commands.append(CloseConnection(id=self._pending_connect))
        self._pending_connect = None
        self._tunnel = None
        self._awaiting_tls = None
        self._fsm.fire(_Input.STOP)
        (self._log.error if fatal else self._log.info)("gateway session stopped: %s", reason)
        self._commands.append(Stop(reason=reason, fatal=fatal, close_code=close_code))
        self._events.append(SessionStopped(reason=reason, fatal=fatal, close_code=close_code))


def _dedupe_key(event: Dispatch) -> str | None:
    """The event id (gateway.md §3.1), else ``type:d.id`` (§6.2); ``None`` if neither."""
    if event.id:
        return event.id
    data = event.data
    if type(data) is dict:
        inner = data.get("id")
        if isinstance(inner, str) and inner:
            return f"{event.type}:{inner}"
    return None
