"""What a gateway bot is on every runtime, minus the I/O.

:class:`BotCore` builds the sans-IO :class:`~qqproto.gateway.GatewaySession` from
:class:`~qqproto.Settings` (loading the session file), keeps the event subscribers and,
in :meth:`BotCore._pump`, does the driver loop's bookkeeping after every call into the
session: flush, execute commands, deliver events, save the snapshot at most once a
second.  A driver supplies the I/O hooks and re-arms its timer with the deadline
:meth:`BotCore._pump` returns.  The application API (``on``, ``reply``, …) comes from
:mod:`qqproto_transports._api`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import queue
import signal
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx

from qqproto import Settings
from qqproto.events import Event, Ready, SessionStopped
from qqproto.gateway import (
    CloseConnection,
    GatewaySession,
    IdentifyPacer,
    OpenConnection,
    SendHttpRequest,
    SessionSnapshot,
    StartTls,
    Stop,
)
from qqproto.rest import GatewayInfo, HttpResponse, RestCall, TokenState
from qqproto.stores import StoreKeys, parse_store_url
from qqproto.voice import Transcriber

from ._api import AsyncBotApi, BotApi, seq_of
from ._gate import DispatchGate
from ._handlers import Handler
from ._httpx import async_http_client, verified_ssl_context
from ._inbox import Inbox
from ._media_api import configure_media
from ._shards import ShardRoutes, ShardSeed, shard_settings
from ._store import FileSessionStore
from .stores import EventClaims, SessionSlot, SnapshotWriter, Store, new_owner_id, open_store

__all__ = ["SIGNALS", "AsyncBotCore", "BotCore", "main_thread_signals", "make_session"]

#: What ``run()`` turns into a clean close when it runs on the main thread.
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def make_session(settings: Settings, snapshot: SessionSnapshot | None,
                 env: Mapping[str, str], *, token_state: TokenState | None = None,
                 gated: bool = False, pacer: IdentifyPacer | None = None) -> GatewaySession:
    """The sans-IO supervisor for ``settings``; ``env`` feeds proxy resolution.
    ``token_state`` is shared by the shards of one process; a ``gated`` session leaves
    processed marks to the :class:`~qqproto_transports._gate.DispatchGate`."""
    return GatewaySession(
        app_id=settings.app_id, secret=settings.secret, token_state=token_state,
        endpoints=settings.endpoints, intents=settings.intents, shard=settings.shard,
        snapshot=snapshot, policy=settings.policy,
        auto_mark_processed=settings.auto_mark_processed and not gated,
        proxy_env=env, proxy=settings.proxy, identify_pacer=pacer)


def main_thread_signals() -> bool:
    """Whether signal handlers may be installed here (only the main thread may)."""
    return threading.current_thread() is threading.main_thread()


Subscriber = Callable[[Event | None], object]














class BotCore(BotApi):
    """A gateway bot minus the I/O (see the module docstring).

    ``session_file`` keeps the session snapshot between runs (resume after a restart);
    ``env`` is where proxy variables are read (default: ``os.environ``); ``ssl_context``
    is a trust store for a private CA (verification is never switched off).  A driver
    implements ``_write``, ``_http``, ``_open``, ``_start_tls``, ``_close_socket`` and
    ``_run_handler``.  With ``Settings(shards=N)`` the bot is a group of N shard bots of
    its own driver (:mod:`qqproto_transports._shards`); ``_seed`` makes one of them.
    """

    #: The driver's HTTP client (``httpx.AsyncClient`` or ``httpx.Client``).
    http: Any

    def __init__(self, settings: Settings, *, session_file: str | os.PathLike[str] | None,
                 env: Mapping[str, str] | None, ssl_context: ssl.SSLContext | None,
                 _seed: ShardSeed | None = None) -> None:
        self._env = dict(os.environ if env is None else env)
        self._hub: BotCore = _seed.parent if _seed is not None else self
        self._shards: list[BotCore] = []
        self._routes = ShardRoutes()
        self._open_store(settings, session_file, _seed.store if _seed is not None else None)
        snapshot = _seed.snapshot if _seed is not None else None
        if snapshot is None and self._slot is not None and not (_seed and _seed.loaded):
            snapshot = self._slot.load()  # before the loop runs
        gated = self._claims is not None
        self.session: GatewaySession = make_session(
            settings, snapshot, self._env, gated=gated,
            token_state=_seed.token_state if _seed is not None else None,
            pacer=_seed.pacer if _seed is not None else None)
        self._gate = None if self._claims is None else DispatchGate(
            self._claims, StoreKeys(settings.app_id), self._off_loop, deliver=self._deliver,
            mark=self.session.mark_processed, auto=settings.auto_mark_processed)
        self._init_api(settings, lambda: self.session.token_state)
        self._ssl = verified_ssl_context(ssl_context)
        self._saved_at = -math.inf
        self._subscribers: list[Subscriber] = []
        self._subscribers_lock = threading.Lock()
        self._ended = False
        self.stopped: Stop | None = None
        #: Set while a group runs shards by lease: closes it (on its loop).
        self._lease_close: Callable[[], object] | None = None

    def _open_store(self, settings: Settings, session_file: str | os.PathLike[str] | None,
                    store: Store | None) -> None:
        """The snapshot's home: ``session_file`` (one JSON snapshot, as before), else
        ``settings.store``; a shared store also dedupes dispatches across processes."""
        self._slot: SessionSlot | FileSessionStore | None = None
        self._claims: EventClaims | None = None
        self._own_store: Store | None = None
        location = parse_store_url(settings.store)
        if session_file:
            self._slot = FileSessionStore(session_file)
        elif store is not None or location.kind != "memory":
            if store is None:
                store = self._own_store = open_store(location)
            ttl = settings.store_ttl
            self._slot = SessionSlot(store, StoreKeys(settings.app_id), settings.shard,
                                     ttl=ttl.session)
            if store.shared:
                self._claims = EventClaims(store, owner=new_owner_id(), claim_ttl=ttl.claim,
                                           done_ttl=ttl.processed)
        self._snapshots = SnapshotWriter(self._slot) if self._slot is not None else None
        self._store = store

    def _shard_count_call(self) -> RestCall[GatewayInfo] | None:
        """``/gateway/bot``, when ``shards="auto"`` waits for the platform's count
        (gateway.md §2.2); ``None`` otherwise.  Run it, then :meth:`_use_shard_count`."""
        return self.rest.get_gateway_bot() if self.settings.shards == "auto" else None

    def _use_shard_count(self, info: GatewayInfo) -> None:
        self.settings = self.settings.with_recommended_shards(info.shards)

    def _leased(self) -> bool:
        """Whether this group divides its shards with other processes (a shared store)."""
        return self._store is not None and self._store.shared

    def _make_shards(self, pacer: IdentifyPacer) -> list[BotCore]:
        """The group's shard bots (``settings.shards``), sharing its token, HTTP client,
        handlers, replies, subscribers, store and ``pacer``."""
        self._shards = [
            self._adopt(self._new_shard(settings, ShardSeed(
                self, self.session.token_state, pacer, self._store, http=self.http)))
            for settings in shard_settings(self.settings)]
        return self._shards

    def _adopt(self, shard: BotCore) -> BotCore:
        """``shard`` answers with the group's handlers, replies and subscribers."""
        shard.handlers, shard.on, shard.replies = self.handlers, self.on, self.replies
        return shard

    def _fence(self) -> None:
        """This shard's lease is lost: save nothing of its session from now on (the
        new holder's snapshot is the one that counts)."""
        if self._snapshots is not None:
            self._snapshots.abandon()

    def _new_shard(self, settings: Settings, seed: ShardSeed) -> BotCore:
        """A bot of this driver for one shard."""
        return type(self)(settings, session_file=None, env=self._env,
                          ssl_context=self._ssl, _seed=seed)

    def mark_processed(self, which: int | Event | None) -> None:
        """Record that the application has finished with a dispatch (the event, raw or
        parsed, or its ``seq``): a resume starts after it (``auto_mark_processed=False``).
        On a group of shards, pass the event (seqs are per shard)."""
        if self._shards:
            owner = self._routes.owner(which)
            if owner is None and len(self._shards) == 1:
                owner = self._shards[0]
            if owner is not None:
                owner.mark_processed(which)
            return
        if self._gate is not None:
            self._gate.processed(seq_of(which))
        else:
            self.session.mark_processed(seq_of(which))

    def _subscribe(self, put: Subscriber) -> Subscriber:
        """``put(event)`` for every event from now on, then ``put(None)`` at the end; a
        ``put`` that raises is dropped."""
        with self._subscribers_lock:
            self._subscribers = [*self._subscribers, put]
            ended = self._ended
        if ended:
            put(None)
        return put

    def _unsubscribe(self, put: Subscriber) -> None:
        with self._subscribers_lock:
            self._subscribers = [p for p in self._subscribers if p is not put]

    def events_to(self, loop: asyncio.AbstractEventLoop,
                  items: asyncio.Queue[Event | None]) -> Subscriber:
        """Put every event from now on into ``items`` on ``loop`` (any thread may run the
        bot), then ``None``: the bridge to an asyncio application."""
        return self._subscribe(lambda event: loop.call_soon_threadsafe(items.put_nowait, event))

    def aiter_events(self, loop: asyncio.AbstractEventLoop | None = None,
                     ) -> AsyncIterator[Event]:
        """``async for event in bot.aiter_events():`` on an asyncio loop (default: the
        running one), whichever thread the bot runs on; subscribed at the call."""
        items: asyncio.Queue[Event | None] = asyncio.Queue()
        return self._aiterate(items, self.events_to(loop or asyncio.get_running_loop(), items))

    def _iterate(self, items: queue.SimpleQueue[Event | None],
                 put: Subscriber) -> Iterator[Event]:
        """The events a subscriber ``put`` into a thread queue, until ``None``."""
        try:
            while (event := items.get()) is not None:
                yield event
        finally:
            self._unsubscribe(put)

    async def _aiterate(self, items: asyncio.Queue[Event | None] | Inbox[Event | None],
                        put: Subscriber) -> AsyncIterator[Event]:
        """The events a subscriber ``put`` into an asyncio queue, until ``None``."""
        try:
            while (event := await items.get()) is not None:
                yield event
        finally:
            self._unsubscribe(put)

    def _end_subscribers(self) -> None:
        with self._subscribers_lock:
            self._ended = True
        for put in self._subscribers:
            with contextlib.suppress(Exception):
                put(None)

    def _pump(self, now: float) -> float | None:
        """Flush, execute the session's commands, deliver its events; the next timer.

        Bytes are flushed before each command (a command may call into the session)."""
        session = self.session
        while True:
            data = session.data_to_send()
            if data:
                self._write(data)
            if (cmd := session.next_command()) is None:
                break
            if isinstance(cmd, SendHttpRequest):
                self._http(cmd)
            elif isinstance(cmd, OpenConnection):
                self._open(cmd)
            elif isinstance(cmd, StartTls):
                self._start_tls(cmd)
            elif isinstance(cmd, CloseConnection):
                self._close_socket(cmd.id)
            elif isinstance(cmd, Stop):
                self.stopped = cmd
        gate = self._gate
        while (event := session.next_event()) is not None:
            if type(event) is Ready:  # a new session: save it now, so a takeover resumes it
                self._saved_at = -math.inf
            if gate is not None:
                gate.admit(event)
            else:
                self._deliver(event)
        if self._snapshots is not None and now - self._saved_at >= 1.0:
            self._save(now)
        return session.get_timer()

    def _deliver(self, event: Event) -> None:
        """Hand ``event`` to the subscribers (the group's, for a shard) and the handlers."""
        hub = self._hub
        if hub is not self:
            hub._routes.delivered(event, self)
        for put in hub._subscribers:
            try:
                put(event)
                if isinstance(event, SessionStopped) and hub is self:
                    put(None)
            except Exception:  # a closed channel, a closed loop: drop the subscriber
                hub._unsubscribe(put)
        if not self.handlers.any and self._nothing_runs(event):
            return  # no handler, nothing for the gate: no clock read, no plan
        for handler, argument in self._plan_delivery(event, self._now()):
            self._run_handler(handler, argument)

    def _save(self, now: float) -> None:
        """Offer the snapshot to the writer thread (never blocks)."""
        self._saved_at = now
        if self._snapshots is not None:
            self._snapshots.offer(self.session.snapshot(time.time()))

    def _flush_store(self) -> None:
        """Block until the last snapshot is saved; close a store this bot opened (run
        it off the loop, at shutdown)."""
        if self._snapshots is not None:
            self._snapshots.close()
        if self._own_store is not None:
            self._own_store.close()

    def _http_done(self, cmd_id: int, result: HttpResponse | str, now: float) -> None:
        if isinstance(result, str):
            self.session.http_failed(cmd_id, result, now)
        else:
            self.session.http_response(cmd_id, result, now)

    # The I/O hooks a driver implements.
    def _off_loop(self, call: Callable[[], object], then: Callable[[object], None]) -> None:
        """Run the blocking ``call`` on a worker thread, then ``then(result)`` (the
        exception, if it raised) on the bot's loop, and pump."""
        raise NotImplementedError

    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _http(self, cmd: SendHttpRequest) -> None:
        raise NotImplementedError

    def _open(self, cmd: OpenConnection) -> None:
        raise NotImplementedError

    def _start_tls(self, cmd: StartTls) -> None:
        raise NotImplementedError

    def _close_socket(self, conn_id: int) -> None:
        raise NotImplementedError

    def _run_handler(self, handler: Handler, argument: Event) -> None:
        raise NotImplementedError


class AsyncBotCore(AsyncBotApi, BotCore):
    """A gateway bot on an event loop (asyncio or trio): :class:`BotCore`, the async
    application API and an ``httpx.AsyncClient``.  The driver sets up its own state in
    ``_init_runtime`` (called last by ``__init__``).

    Parameters as for :class:`qqproto_transports.asyncio.Bot`.
    """

    def __init__(self, settings: Settings, *,
                 session_file: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 transcriber: Transcriber | None = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 io_thread: bool = False,
                 _seed: ShardSeed | None = None) -> None:
        if io_thread and settings.shards is not None:
            raise ValueError("io_thread=True runs one connection on its own thread; "
                             "it does not combine with Settings(shards=...) yet")
        super().__init__(settings, session_file=session_file, env=env,
                         ssl_context=ssl_context, _seed=_seed)
        configure_media(self, settings, transcriber=transcriber, cache_dir=cache_dir,
                        env=self._env)
        #: A shard uses its group's client (one pool for every shard of the process).
        shared = _seed.http if _seed is not None else None
        self._owns_http = shared is None
        self.http: httpx.AsyncClient = (shared if shared is not None
                                        else async_http_client(settings, self._env, ssl_context))
        #: ``io_thread=True``: the connection runs on its own thread (_io_thread); the
        #: trust store it dials with, and, while it runs, how to reach that thread.
        self._io_thread_on = io_thread
        self._ssl_option = ssl_context
        self._to_gateway: Callable[[Callable[[], object]], None] | None = None
        self._init_runtime()

    def _init_runtime(self) -> None:
        raise NotImplementedError

    def mark_processed(self, which: int | Event | None) -> None:
        if self._to_gateway is None:
            super().mark_processed(which)
        else:  # the session lives on the I/O thread (io_thread=True): mark it there
            self._to_gateway(lambda: BotCore.mark_processed(self, which))
