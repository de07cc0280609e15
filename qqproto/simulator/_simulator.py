"""The simulator's global state and its application-facing API.

A :class:`Simulator` is the whole fake QQ platform for one bot app: it issues tokens,
keeps gateway sessions with bounded replay buffers, records every frame and request,
stores sent messages, and pushes events a test injects.  It is sans-IO: a driver accepts
TCP connections and feeds each one to a :class:`~qqproto.simulator.SimConnection` from
:meth:`Simulator.new_connection`; the simulator never touches a socket or a clock.
"""

from __future__ import annotations

import random
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .. import _jsoncodec
from .._log import bot_logger
from .._numbers import parse_int
from .._secret import Secret, as_secret
from ..gateway._intents import EVENT_INTENTS
from . import _payloads, _records
from ._connection import SimConnection
from ._faults import Faults
from ._gateway import GARBAGE_KINDS, GatewayLink, LinkState
from ._records import PreparedEvent, SentMessage, SimEvent
from ._replies import ReplyBook
from ._rest import TOKEN_INVALID, Router, SimRequest, SimResponse, error_response
from ._routes import DEFAULT_ROUTES
from ._sessions import SimSession, encode_dispatch

if TYPE_CHECKING:
    from ._platform import Platform

__all__ = ["Simulator"]

#: gateway.md §1.2: within the last 60 s before expiry a token request mints a new token.
TOKEN_OVERLAP: Final = 60.0
#: 2025-01-01T00:00:00+08:00: what ``now == 0`` means on the wall clock by default.
DEFAULT_UNIX_OFFSET: Final = 1_735_660_800.0
#: gateway.md §10: guild events go to shard ``(guild_id >> 22) % num_shards``.
_GUILD_SHARD_SHIFT: Final = 22
_LIVE: Final = (LinkState.AWAITING_AUTH, LinkState.ACTIVE)
_MAX_TOKENS: Final = 1000
# Plain ints: IntFlag arithmetic is slow on the burst path.
_EVENT_BITS: Final = {name: int(bit) for name, bit in EVENT_INTENTS.items()}


class Simulator:
    """A fake QQ open platform for one bot (see docs/simulator.rst).

    Every size is bounded: ``max_connections`` TCP connections (more get a 503),
    ``max_request_size`` bytes of HTTP body (413), ``max_header_size`` of HTTP head,
    ``max_ws_message_size`` per gateway message (close 1009), ``replay_buffer_size``
    events per session, ``record_limit`` entries in each record ring, ``max_sessions``
    resumable sessions, ``max_tracked_messages`` inbound ids for reply checks.
    """

    def __init__(
        self,
        *,
        app_id: str = "102000001",
        secret: str | Secret = "qqproto-simulator-secret",  # noqa: S107 - a fake platform
        bot_user_id: str = "11223344556677889900",
        bot_username: str = "qqproto-sim-bot",
        heartbeat_interval_ms: int = 41250,
        heartbeat_timeout_factor: float | None = 2.0,
        token_lifetime: int = 7200,
        gateway_url: str | None = None,
        rng: random.Random | None = None,
        unix_offset: float = DEFAULT_UNIX_OFFSET,
        allowed_intents: int | None = None,
        allow_active_messages: bool = True,
        session_start_total: int = 1000,
        recommended_shards: int = 1,
        max_concurrency: int = 1,
        required_shards: int | None = None,
        max_connections: int = 64,
        max_request_size: int = 1 << 20,
        max_header_size: int = 16 << 10,
        max_ws_message_size: int = 1 << 20,
        replay_buffer_size: int = 10_000,
        record_limit: int = 10_000,
        max_sessions: int = 64,
        max_tracked_messages: int = 100_000,
        idle_timeout: float = 120.0,
        close_timeout: float = 5.0,
    ) -> None:
        if heartbeat_interval_ms <= 0 or token_lifetime <= 0:
            raise ValueError("heartbeat_interval_ms and token_lifetime must be positive")
        if min(max_connections, replay_buffer_size, record_limit, max_sessions) < 1:
            raise ValueError("limits must be at least 1")
        self.app_id = str(app_id)
        self._secret = as_secret(secret)
        self.bot_user_id = bot_user_id
        self.bot_username = bot_username
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.heartbeat_timeout_factor = heartbeat_timeout_factor
        self.token_lifetime = token_lifetime
        #: The URL ``/gateway`` hands out; ``None``: ``ws://<Host header>/websocket``.
        self.gateway_url = gateway_url
        self.rng = rng if rng is not None else random.Random(0)
        self.ids = _payloads.IdSource(self.rng)
        #: ``now + unix_offset`` is the wall clock used for timestamps in payloads.
        self.unix_offset = unix_offset
        self.allowed_intents = allowed_intents
        self.allow_active_messages = allow_active_messages
        self.session_start_total = session_start_total
        self.session_start_remaining = session_start_total
        #: gateway.md §10, §8.4: what ``/gateway/bot`` recommends and allows; an Identify
        #: with fewer than ``required_shards`` shards is closed with 4011.
        self.recommended_shards = recommended_shards
        self.max_concurrency = max_concurrency
        self.required_shards = required_shards
        #: ``(shard, now)`` of every accepted Identify: pacing is observed here.
        self.identify_log: deque[tuple[tuple[int, int], float]] = deque(maxlen=record_limit)
        self.max_connections = max_connections
        self.max_request_size = max_request_size
        self.max_header_size = max_header_size
        self.max_ws_message_size = max_ws_message_size
        self.replay_buffer_size = replay_buffer_size
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.close_timeout = close_timeout
        self.log = bot_logger("qqproto.simulator", self.app_id)

        self.faults = Faults()
        self.counters = _records.Counters()
        self.router = Router(DEFAULT_ROUTES)
        #: Called as ``listener(event, now)`` after every dispatch: the extension point
        #: for other delivery channels (webhook pushes) and for tests that watch events.
        self.listeners: list[Callable[[SimEvent, float], None]] = []
        self.replies = ReplyBook(max_tracked_messages)
        #: Rings of the most recent ``record_limit`` entries, oldest first.
        self.frames: deque[_records.RecordedFrame] = deque(maxlen=record_limit)
        self.requests: deque[_records.RecordedRequest] = deque(maxlen=record_limit)
        self.sent_messages: deque[SentMessage] = deque(maxlen=record_limit)
        self.recalled_messages: deque[SentMessage] = deque(maxlen=record_limit)
        self.interaction_acks: deque[_records.InteractionAck] = deque(maxlen=record_limit)
        self._sent_index: OrderedDict[str, SentMessage] = OrderedDict()
        self._record_limit = record_limit
        #: Resumable sessions by id.
        self.sessions: dict[str, SimSession] = {}
        self._current: dict[tuple[int, int], SimSession] = {}
        self._orphans: deque[tuple[str, str, Any, bytes]] = deque()
        self._tokens: dict[str, float] = {}
        self._current_token: str | None = None
        self._live: dict[int, SimConnection] = {}
        self._touched: dict[int, SimConnection] = {}
        self._next_connection_id = 1
        self._channel_seq = 0
        #: ``now`` of the last byte received on any connection (drivers' idle limit).
        self.last_activity = 0.0

    def __repr__(self) -> str:
        return (f"Simulator(app_id={self.app_id!r}, connections={len(self._live)}, "
                f"sessions={len(self.sessions)})")

    # ================================================================ connections

    def new_connection(self, now: float) -> SimConnection:
        """A TCP connection was accepted.  Over ``max_connections`` the connection gets a
        503 answer and ``should_close``."""
        conn_id = self._next_connection_id
        self._next_connection_id += 1
        self.last_activity = now
        if len(self._live) >= self.max_connections:
            self.counters.connections_refused += 1
            conn = SimConnection(self, conn_id, now, refused=True)
            self.touched(conn)
            return conn
        self.counters.connections += 1
        conn = SimConnection(self, conn_id, now)
        self._live[conn_id] = conn
        return conn

    @property
    def connections(self) -> tuple[SimConnection, ...]:
        """Connections not yet closed or aborted."""
        return tuple(self._live.values())

    def touched(self, conn: SimConnection) -> None:
        """Called by connections whose output, close flags or timer changed."""
        self._touched[conn.id] = conn

    def touched_connections(self) -> list[SimConnection]:
        """Connections a driver must flush (and maybe close) now; drains the set."""
        touched = list(self._touched.values())
        self._touched.clear()
        return touched

    def connection_finished(self, conn: SimConnection) -> None:
        self._live.pop(conn.id, None)

    def get_timer(self) -> float | None:
        """The earliest timer of every live connection (one timer for a driver)."""
        timers = [t for t in (c.get_timer() for c in self._live.values()) if t is not None]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        for conn in list(self._live.values()):
            timer = conn.get_timer()
            if timer is not None and timer <= now:
                conn.handle_timer(now)

    def gateway_links(self) -> list[GatewayLink]:
        """Gateway connections that are not closing."""
        return [c.link for c in self._live.values()
                if c.link is not None and c.link.state in _LIVE]

    # ================================================================ tokens and auth

    @property
    def secret(self) -> Secret:
        """The client secret bots must present (redacted in reprs)."""
        return self._secret

    def secret_matches(self, value: object) -> bool:
        return isinstance(value, str) and value == self._secret.reveal()

    def issue_token(self, now: float) -> tuple[Secret, int]:
        """The token endpoint's logic (gateway.md §1.2): the same token while it has
        more than 60 s left, a new one (the old staying valid) inside the last 60 s."""
        for token, expires_at in list(self._tokens.items()):
            if expires_at <= now:
                del self._tokens[token]
        current = self._current_token
        if current is not None and self._tokens.get(current, now) - now > TOKEN_OVERLAP:
            return Secret(current), int(self._tokens[current] - now)
        token = self.ids.hex(24)
        self._tokens[token] = now + self.token_lifetime
        if len(self._tokens) > _MAX_TOKENS:  # a short lifetime and a hammering client
            del self._tokens[next(iter(self._tokens))]
        self._current_token = token
        self.counters.tokens_issued += 1
        return Secret(token), self.token_lifetime

    def token_is_valid(self, token: str, now: float, *, prefixed: bool) -> bool:
        """``prefixed``: ``token`` is ``"QQBot <token>"`` (gateway.md §1.3)."""
        if prefixed:
            if not token.startswith("QQBot "):
                return False
            token = token[6:]
        expires_at = self._tokens.get(token)
        return expires_at is not None and now < expires_at

    def invalidate_tokens(self) -> None:
        """Fault: every issued token stops working (Identify → 4004, REST → 401)."""
        self._tokens.clear()
        self._current_token = None
        self.counters.faults_fired += 1

    # ================================================================ HTTP

    def handle_request(self, request: SimRequest, now: float) -> SimResponse:
        """Route one complete HTTP request (the connection records it)."""
        route, params, path_known = self.router.match(request.method, request.path)
        if route is None:
            status = 405 if path_known else 404
            return error_response(request, status, status,
                                  "method not allowed" if path_known else "no such API")
        if route.auth:
            header = request.header("Authorization") or ""
            if not self.token_is_valid(header, now, prefixed=True):
                return error_response(request, 401, TOKEN_INVALID, "token invalid or expired")
        try:
            return route.handler(self, request, params, now)
        except Exception:  # a handler bug must not take the server down
            self.log.exception("simulator handler for %s %s failed", request.method,
                               route.pattern)
            return error_response(request, 500, 500, "simulator handler failed")

    def timestamp(self, now: float) -> str:
        return _payloads.rfc3339(now + self.unix_offset)

    def store_sent(self, message: SentMessage) -> None:
        self.counters.messages_sent += 1
        self.sent_messages.append(message)
        self._sent_index[message.id] = message
        if len(self._sent_index) > self._record_limit:
            self._sent_index.popitem(last=False)

    def find_sent(self, message_id: str) -> SentMessage | None:
        return self._sent_index.get(message_id)

    def recall_sent(self, message: SentMessage) -> None:
        self._sent_index.pop(message.id, None)
        self.recalled_messages.append(message)

    # ================================================================ sessions

    def start_session(self, intents: int, shard: tuple[int, int], now: float) -> SimSession:
        """A valid Identify: a new session replaces the shard's current one, whose
        undelivered events are lost."""
        old = self._current.get(shard)
        if old is not None:
            link = old.link
            self.retire_session(old)
            if link is not None:
                link.close(4009, "session replaced by a new identify", now)
        while len(self.sessions) >= self.max_sessions:
            self.retire_session(next(iter(self.sessions.values())))
        session = SimSession(self.ids.uuid(), intents=intents, shard=shard,
                             buffer_size=self.replay_buffer_size)
        self.sessions[session.session_id] = session
        self._current[shard] = session
        self.identify_log.append((shard, now))
        self.counters.identifies += 1
        self.session_start_remaining = max(0, self.session_start_remaining - 1)
        return session

    def session_ready(self, session: SimSession, now: float) -> None:
        """After READY: events injected while no session existed go out now."""
        orphans = list(self._orphans)
        self._orphans.clear()
        for event_type, event_id, d, d_json in orphans:
            self._route(event_type, event_id, d, d_json, now)

    def retire_session(self, session: SimSession) -> None:
        """The session can no longer be resumed; its undelivered events are lost."""
        if self.sessions.pop(session.session_id, None) is None:
            return
        if self._current.get(session.shard) is session:
            del self._current[session.shard]
        self.counters.lost_events += session.undelivered()
        link = session.link
        session.link = None
        if link is not None:
            link.session = None

    # ================================================================ events

    def _targets(self, event_type: str, d: Any) -> list[SimSession]:
        bit = _EVENT_BITS.get(event_type)
        guild = d.get("guild_id") if isinstance(d, dict) else None
        guild_num = parse_int(guild, minimum=0, maximum=2**63) if isinstance(guild, str) else None
        targets = []
        for session in self._current.values():
            if bit is not None and not session.intents & bit:
                continue
            shard_id, count = session.shard
            wanted = 0 if guild_num is None else (guild_num >> _GUILD_SHARD_SHIFT) % count
            if shard_id == wanted:
                targets.append(session)
        return targets

    def _route(self, event_type: str, event_id: str, d: Any, d_json: bytes,
               now: float) -> dict[str, int]:
        if not self._current:
            # No session exists yet: keep it for the first READY (bounded).
            if len(self._orphans) >= self.replay_buffer_size:
                self._orphans.popleft()
                self.counters.lost_events += 1
            self._orphans.append((event_type, event_id, d, d_json))
            return {}
        delivered: dict[str, int] = {}
        for session in self._targets(event_type, d):
            seq = session.next_seq()
            frame = encode_dispatch(event_type, seq, event_id, d_json)
            self.counters.lost_events += session.buffer_event(seq, frame)
            link = session.link
            if link is not None:
                link.send_text(frame, now, seq)
            delivered[session.session_id] = seq
            self.counters.dispatched_events += 1
        if not delivered:
            self.counters.filtered_events += 1
        return delivered

    def prepare(self, event_type: str, d: Any, *, event_id: str | None = None
                ) -> PreparedEvent:
        """Give an event its id and encode its payload now; send it later with
        :meth:`dispatch_prepared` (a benchmark prepares outside its timed section)."""
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string")
        return PreparedEvent(
            type=event_type, id=event_id if event_id is not None else self.ids.event_id(
                event_type), data=d, d_json=_jsoncodec.dumps(d))

    def prepare_c2c_messages(self, user_openid: str, contents: Iterable[str], *,
                             now: float) -> list[PreparedEvent]:
        """C2C_MESSAGE_CREATE events from one user, ready for :meth:`dispatch_prepared`."""
        stamp = self.timestamp(now)
        return [self.prepare("C2C_MESSAGE_CREATE", _payloads.c2c_message(
            message_id=self.ids.message_id(), user_openid=user_openid, content=text,
            timestamp=stamp)) for text in contents]

    def _send(self, event: PreparedEvent, now: float) -> dict[str, int]:
        self.replies.remember(event.type, event.id, event.data, now)
        return self._route(event.type, event.id, event.data, event.d_json, now)

    def dispatch_prepared(self, events: Iterable[PreparedEvent], *, now: float) -> int:
        """Send prepared events in order (the burst path: no per-event result objects;
        listeners still see each one).  Returns how many were sent."""
        count = 0
        for event in events:
            sessions = self._send(event, now)
            if self.listeners:
                self._notify(event, sessions, now)
            count += 1
        return count

    def _notify(self, event: PreparedEvent, sessions: dict[str, int], now: float) -> SimEvent:
        result = SimEvent(type=event.type, id=event.id, data=event.data, sessions=sessions)
        for listener in self.listeners:
            listener(result, now)
        return result

    def dispatch(self, event_type: str, d: Any, *, now: float,
                 event_id: str | None = None) -> SimEvent:
        """Push one dispatch (op 0) with type ``event_type`` and payload ``d`` to every
        current session whose intents and shard take it; buffered while disconnected."""
        event = self.prepare(event_type, d, event_id=event_id)
        return self._notify(event, self._send(event, now), now)

    def dispatch_many(self, events: Iterable[tuple[str, Any]], *, now: float) -> list[SimEvent]:
        """:meth:`dispatch` for each ``(type, d)``."""
        return [self.dispatch(event_type, d, now=now) for event_type, d in events]

    # ---------------------------------------------------------------- user-shaped events

    def inject_c2c_message(self, user_openid: str, content: str, *, now: float,
                           attachments: Sequence[Mapping[str, Any]] | None = None,
                           extra: Mapping[str, Any] | None = None) -> SimEvent:
        """A QQ user sends the bot a private message (C2C_MESSAGE_CREATE)."""
        d = _payloads.c2c_message(message_id=self.ids.message_id(), user_openid=user_openid,
                                  content=content, timestamp=self.timestamp(now),
                                  attachments=attachments, extra=extra)
        return self.dispatch("C2C_MESSAGE_CREATE", d, now=now)

    def inject_c2c_burst(self, user_openid: str, contents: Iterable[str], *,
                         now: float) -> list[SimEvent]:
        """Many C2C messages from one user in one call; each result says where it went."""
        prepared = self.prepare_c2c_messages(user_openid, contents, now=now)
        return [self._notify(event, self._send(event, now), now) for event in prepared]

    def inject_group_at_message(self, group_openid: str, member_openid: str, content: str, *,
                                now: float,
                                attachments: Sequence[Mapping[str, Any]] | None = None,
                                extra: Mapping[str, Any] | None = None) -> SimEvent:
        """A group member @-mentions the bot (GROUP_AT_MESSAGE_CREATE); ``content`` gets
        the leading space the platform leaves behind."""
        d = _payloads.group_at_message(
            message_id=self.ids.message_id(), group_openid=group_openid,
            member_openid=member_openid, content=content, timestamp=self.timestamp(now),
            attachments=attachments, extra=extra)
        return self.dispatch("GROUP_AT_MESSAGE_CREATE", d, now=now)

    def inject_channel_message(self, channel_id: str, guild_id: str, author_id: str,
                               content: str, *, now: float, at_bot: bool = True,
                               extra: Mapping[str, Any] | None = None) -> SimEvent:
        """A guild channel message: AT_MESSAGE_CREATE (``at_bot``) or MESSAGE_CREATE."""
        self._channel_seq += 1
        d = _payloads.channel_message(
            message_id=self.ids.message_id(), channel_id=channel_id, guild_id=guild_id,
            author_id=author_id, content=content, timestamp=self.timestamp(now),
            seq=self._channel_seq, bot_id=self.bot_user_id, at_bot=at_bot, extra=extra)
        return self.dispatch("AT_MESSAGE_CREATE" if at_bot else "MESSAGE_CREATE", d, now=now)

    def inject_dm_message(self, guild_id: str, author_id: str, content: str, *, now: float,
                          channel_id: str = "", src_guild_id: str = "",
                          extra: Mapping[str, Any] | None = None) -> SimEvent:
        """A guild direct message (DIRECT_MESSAGE_CREATE); ``guild_id`` is the DM's own
        guild, where replies go."""
        self._channel_seq += 1
        d = _payloads.dm_message(
            message_id=self.ids.message_id(), guild_id=guild_id,
            channel_id=channel_id or f"dm-{guild_id}", src_guild_id=src_guild_id,
            author_id=author_id, content=content, timestamp=self.timestamp(now),
            seq=self._channel_seq, extra=extra)
        return self.dispatch("DIRECT_MESSAGE_CREATE", d, now=now)

    def inject_interaction(self, scene: str, *, now: float, button_id: str = "",
                           button_data: str = "", user_openid: str | None = None,
                           group_openid: str | None = None, member_openid: str | None = None,
                           guild_id: str | None = None, channel_id: str | None = None,
                           user_id: str | None = None, interaction_type: int = 11,
                           extra: Mapping[str, Any] | None = None) -> SimEvent:
        """A user taps a callback button (INTERACTION_CREATE); ACK it with
        ``PUT /interactions/{d.id}``."""
        d = _payloads.interaction(
            interaction_id=self.ids.uuid(), scene=scene, timestamp=self.timestamp(now),
            application_id=self.app_id, button_id=button_id, button_data=button_data,
            interaction_type=interaction_type, user_openid=user_openid,
            group_openid=group_openid, member_openid=member_openid, guild_id=guild_id,
            channel_id=channel_id, user_id=user_id, extra=extra)
        return self.dispatch("INTERACTION_CREATE", d, now=now)

    # ================================================================ immediate faults

    def _fire(self) -> list[GatewayLink]:
        links = self.gateway_links()
        self.counters.faults_fired += len(links)
        return links

    def drop_connections(self, now: float, *, gateway_only: bool = True) -> int:
        """Abrupt TCP drop (no close frame) of every gateway connection (every
        connection when ``gateway_only`` is false).  Returns how many."""
        victims = [c for c in self._live.values() if c.link is not None or not gateway_only]
        for conn in victims:
            conn.abort()
        self.counters.faults_fired += len(victims)
        return len(victims)

    def close_connections(self, code: int, reason: str = "", *, now: float) -> int:
        """Close every gateway connection with ``code`` (4009, 4914, 4915, …)."""
        links = self._fire()
        for link in links:
            link.close(code, reason, now)
        return len(links)

    def send_reconnect(self, now: float) -> int:
        """op 7 on every gateway connection (gateway.md §4.6)."""
        links = self._fire()
        for link in links:
            link.send_text(b'{"op":7}', now)
        return len(links)

    def send_invalid_session(self, resumable: bool, *, now: float) -> int:
        """op 9 with ``d`` = ``resumable`` on every gateway connection (gateway.md §4.7)."""
        links = self._fire()
        for link in links:
            link.invalid_session(resumable, now)
        return len(links)

    def send_garbage(self, kind: str = "text", *, now: float) -> int:
        """A frame a robust client must survive: ``"text"`` (not JSON), ``"binary"``,
        ``"array"`` (JSON, not an object), ``"unknown-op"`` (op 99), ``"no-op"``."""
        if kind not in GARBAGE_KINDS:
            raise ValueError(f"unknown garbage kind {kind!r}")
        links = self._fire()
        for link in links:
            link.send_garbage(kind, now)
        return len(links)


if TYPE_CHECKING:
    # The route modules are written against Platform: mypy checks the simulator is one.
    _AS_PLATFORM: type[Platform] = Simulator
