"""What the webhook servers and the ASGI app share that is neither protocol nor one runtime's I/O.

The protocol (HTTP parsing, signatures, replay, op 13 and op 12) lives in the core
(:mod:`qqproto.webhook._decision`, :mod:`qqproto.webhook._receiver`).  This module is the part of a
webhook *bot* that every runtime has in common: the settings, key, policy and replay
cache; the handler registry and the event subscribers, with the same API as the gateway
bots; and the bookkeeping that decides **when a dispatch is acknowledged and with what**.

ACK rule (op 12, gateway.md §9.5).  Each verified dispatch gets a :class:`Ticket`.  It is
answered once

* every handler matching it has finished — ``d = 1`` if any of them raised, else ``d = 0``;
* and, when ``settings.auto_mark_processed`` is false and an ``events()`` iterator was
  subscribed at delivery time, the application has marked it with
  :meth:`WebhookCore.mark_processed` (cumulative, like the gateway's processed seq) or
  :meth:`WebhookCore.mark_failed` (``d = 1``).

With no handler and (auto-marking or) no iterator the answer is ``d = 0`` at once.
Deliveries still unanswered when the bot gives up on them (shutdown, a dropped
connection) count as failed: the replay cache forgets them so a redelivery gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future
from typing import Any, Final

import anyio

from qqproto import Settings, bot_logger
from qqproto.events import (
    Delivery,
    Dispatch,
    Event,
    RequestRejected,
    SessionStopped,
    WebhookConnectionClosed,
    WebhookDispatch,
    WebhookServing,
)
from qqproto.gateway import Stop
from qqproto.models import ModelEvent
from qqproto.rest import TokenState
from qqproto.stores import Claim
from qqproto.voice import Transcriber
from qqproto.webhook import (
    DEFAULT_WEBHOOK_PATH,
    ReplayCache,
    WebhookHeartbeat,
    WebhookKey,
    WebhookPolicy,
    WebhookReceiver,
    WebhookRejection,
    WebhookValidation,
    answered_event,
)

from ._api import BotApi, Plan
from ._handlers import (
    Handler,
    begin_handler,
    call_handler,
    call_handler_async,
    settle,
)
from ._media_api import configure_media
from ._webhook_gate import WebhookGate, open_webhook_gate
from .stores import Store

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "BackgroundRun",
    "LockedReplayCache",
    "Ticket",
    "WebhookBotBase",
    "WebhookCore",
    "WebhookSession",
    "decision_event",
]

#: How long ``close()`` lets deliveries in progress finish before dropping them.
DEFAULT_CLOSE_TIMEOUT: Final = 10.0
_log = logging.getLogger("qqproto_transports")
STOP_REASON: Final = "closed by the application"
Subscriber = Callable[[Event | None], object]
Observer = Callable[[Event], object]


class WebhookSession:
    """The part of a gateway session an application uses that the webhook channel has too.

    ``bot.session.token_state`` feeds a :class:`~qqproto.rest.RestClient` exactly as on
    the gateway, so reply code moves between channels unchanged.  There is no
    connection state to resume: every callback stands alone.
    """

    def __init__(self, settings: Settings) -> None:
        self.app_id = settings.app_id
        self.endpoints = settings.endpoints
        self._token_state = (TokenState(app_id=settings.app_id, secret=settings.secret,
                                        endpoints=settings.endpoints)
                             if settings.app_id else None)

    @property
    def token_state(self) -> TokenState:
        """The app access token shared by every REST call of this bot."""
        if self._token_state is None:
            raise ValueError("REST calls need the bot's app id (Settings.app_id is empty)")
        return self._token_state


class Ticket:
    """One verified dispatch awaiting its op 12 answer (see the module docstring)."""

    __slots__ = ("ack", "dispatch", "done", "failed", "gate_key", "handlers", "marked",
                 "to_run")

    def __init__(self, dispatch: Dispatch, ack: Callable[[bool], object],
                 to_run: Plan, await_mark: bool, gate_key: str | None = None) -> None:
        self.dispatch = dispatch
        self.ack = ack
        self.to_run = to_run
        self.handlers = len(to_run)
        self.marked = not await_mark
        self.failed = False
        self.done = False
        #: Set while the shared store has not said whether to deliver it (the ticket is
        #: neither registered nor published yet): see :meth:`WebhookCore.admit`.
        self.gate_key = gate_key


class LockedReplayCache(ReplayCache):
    """A :class:`~qqproto.webhook.ReplayCache` safe to share between threads.

    The core cache is plain data (the core may not use locks); this wrapper serialises
    every call into ``inner`` so that two connection threads can never both accept the
    same event, or evict while the other iterates.
    """

    def __init__(self, inner: ReplayCache | None = None) -> None:
        inner = inner if inner is not None else ReplayCache()
        super().__init__(max_entries=inner.max_entries)
        self.inner = inner
        self._cache_lock = threading.Lock()

    def __len__(self) -> int:
        with self._cache_lock:
            return len(self.inner)

    def __repr__(self) -> str:
        return f"Locked{self.inner!r}"

    def contains(self, key: str, *, unix_now: float) -> bool:
        with self._cache_lock:
            return self.inner.contains(key, unix_now=unix_now)

    def add(self, key: str, *, expires_at: float, unix_now: float) -> bool:
        with self._cache_lock:
            return self.inner.add(key, expires_at=expires_at, unix_now=unix_now)

    def forget(self, key: str) -> None:
        with self._cache_lock:
            self.inner.forget(key)


def decision_event(request: int,
                   decision: WebhookRejection | WebhookValidation | WebhookHeartbeat) -> Event:
    """The receiver's event for a verdict the ASGI path answered by itself."""
    event = answered_event(request, decision)
    if isinstance(event, RequestRejected):
        _log.info("request %d rejected: %d %s", request, event.status, event.reason)
    return event


class WebhookCore:
    """A webhook bot minus the I/O: what ``AsyncioWebhookBot`` and friends delegate to.

    Thread-safe: the threaded server delivers on connection threads while the
    application marks events from its own threads.
    """

    def __init__(self, settings: Settings, plan: Callable[[Event, float], Plan],
                 clock: Callable[[], float], *,
                 path: str = DEFAULT_WEBHOOK_PATH, policy: WebhookPolicy | None = None,
                 replay_cache: ReplayCache | None = None,
                 env: Mapping[str, str] | None = None,
                 receiver_options: Mapping[str, Any] | None = None,
                 store: Store | None = None) -> None:
        self.settings = settings
        #: Claims in a store shared by instances (``settings.store`` sqlite or Redis).
        self.gate: WebhookGate | None = open_webhook_gate(settings, store)
        #: What runs for an event: the bot's handlers (and the auto-ACK of a tap).
        self.plan = plan
        self.clock = clock
        self.log = bot_logger("qqproto_transports", settings.app_id)
        self.env = dict(os.environ if env is None else env)
        self.key = WebhookKey(settings.secret)
        #: ``policy`` wins over ``path``.  By default ``X-Bot-Appid`` must be the bot's app
        #: id when one is configured (§9.1: DOC's example and NB, which routes by it).
        self.policy = policy if policy is not None else WebhookPolicy(
            path=path, app_id=settings.app_id or None)
        self.replay_cache = replay_cache if replay_cache is not None else ReplayCache()
        self.receiver_options = dict(receiver_options or {})
        self.session = WebhookSession(settings)
        self.observers: list[Observer] = []
        self.stopped: Stop | None = None
        self.url: str | None = None
        self._lock = threading.RLock()
        self._tickets: set[Ticket] = set()
        self._awaiting: list[Ticket] = []  # delivery order, waiting for a mark
        self._subscribers: list[Subscriber] = []
        self._ended = False

    # -- receivers and their events -----------------------------------------------------
    def new_receiver(self, now: float) -> WebhookReceiver:
        """A receiver for one accepted connection, sharing this bot's replay cache."""
        return WebhookReceiver(self.key, now=now, replay_cache=self.replay_cache,
                               policy=self.policy, **self.receiver_options)

    def drain(self, receiver: WebhookReceiver, post_ack: Callable[[Delivery, bool], object],
              run_handlers: Callable[[Ticket], object]) -> bool:
        """Hand every event of ``receiver`` on; True once the connection is finished.

        Call it on the receiver's own thread or task, then send ``data_to_send()``.  A
        handler that finishes while this runs (one that cannot suspend) has its answer
        applied here, before this returns: no hand-off, no wake-up per request.  Any
        other acknowledgement goes to ``post_ack(delivery, ok)``, which must arrange for
        ``receiver.acknowledge`` on the receiver's own thread or task, later.
        """
        here = threading.get_ident()
        ready: list[tuple[Delivery, bool]] = []  # the answers of handlers run inline
        active = True

        def ack_for(delivery: Delivery) -> Callable[[bool], None]:
            def ack(ok: bool) -> None:
                if active and threading.get_ident() == here:
                    ready.append((delivery, ok))
                else:
                    post_ack(delivery, ok)
            return ack

        closed = False
        try:
            while True:
                while (event := receiver.next_event()) is not None:
                    if isinstance(event, WebhookDispatch):
                        ack = ack_for(event.delivery)
                        key = self.gate.key(event.dispatch) if self.gate is not None else None
                        if key is not None:
                            run_handlers(Ticket(event.dispatch, ack, [], False, gate_key=key))
                            continue
                        ticket = self.accept(event.dispatch, ack)
                        if ticket.to_run:
                            run_handlers(ticket)
                    else:
                        closed = closed or isinstance(event, WebhookConnectionClosed)
                        self.observe(event)
                if not ready:
                    return closed
                answered, ready[:] = list(ready), []
                for delivery, ok in answered:  # after a close too: the replay cache learns
                    receiver.acknowledge(delivery, ok)  # (and may let more requests in)
        finally:
            active = False

    def observe(self, event: Event) -> None:
        """Connection-level events (validation, rejections, closes) go to observers only:
        they are unauthenticated noise an attacker can cause, not application events."""
        for observer in self.observers:
            try:
                observer(event)
            except Exception:
                self.log.exception("webhook observer %r failed", observer)

    # -- tickets ----------------------------------------------------------------------
    def accept(self, dispatch: Dispatch, ack: Callable[[bool], object]) -> Ticket:
        """Register a verified dispatch and publish it.  The caller runs
        ``ticket.to_run`` and reports each with :meth:`handler_done`."""
        to_run = self.plan(dispatch, self.clock())
        with self._lock:
            manual = bool(self._subscribers) and not self.settings.auto_mark_processed
            ticket = Ticket(dispatch, ack, to_run, manual)
            self._tickets.add(ticket)
            if manual:
                self._awaiting.append(ticket)
        self.publish(dispatch)
        self._settle(ticket)
        return ticket

    def admit(self, pending: Ticket, claim: Claim) -> Ticket | None:
        """The store's answer for a gated ticket: the ticket to run, or ``None`` when it
        was answered already (done elsewhere: ``d = 0``; busy elsewhere: ``d = 1``)."""
        key, gate = pending.gate_key, self.gate
        assert key is not None and gate is not None
        if claim is not Claim.NEW:
            pending.ack(claim is Claim.DONE)
            return None

        def ack(ok: bool) -> None:
            pending.ack(ok)
            gate.finish_later(key, ok)

        return self.accept(pending.dispatch, ack)

    def start_ticket(self, ticket: Ticket,
                     spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], object],
                     ) -> None:
        """Run ``ticket`` on asyncio or trio with no task where none is needed: handlers
        that cannot suspend (plain functions, ``async def`` without ``await``) finish
        here, as on the gateway (docs/asyncio.rst); each of the others runs in a task
        ``spawn(fn)`` starts (``fn()`` is its coroutine), as does a gated ticket."""
        if ticket.gate_key is not None:
            spawn(functools.partial(self.run_ticket_async, ticket))
            return
        for handler, argument in ticket.to_run:
            outcome = begin_handler(handler, argument, self.log)
            if type(outcome) is bool:
                self.handler_done(ticket, outcome)
            else:
                spawn(functools.partial(self._finish, outcome, handler, argument, ticket))

    async def _finish(self, awaitable: Awaitable[Any], handler: Handler, argument: Event,
                      ticket: Ticket) -> None:
        self.handler_done(ticket, await settle(handler, awaitable, argument, self.log))

    async def run_ticket_async(self, ticket: Ticket) -> None:
        """Run ``ticket`` (claiming it off the loop first when gated) on asyncio or trio."""
        if ticket.gate_key is not None:
            assert self.gate is not None
            claim = await anyio.to_thread.run_sync(self.gate.claim, ticket.gate_key)
            admitted = self.admit(ticket, claim)
            if admitted is None:
                return
            ticket = admitted
        if len(ticket.to_run) == 1:  # the usual case: no task group for one handler
            await self.handle_async(ticket.to_run[0], ticket)
            return
        async with anyio.create_task_group() as group:
            for call in ticket.to_run:
                group.start_soon(self.handle_async, call, ticket)

    def run_ticket_sync(self, ticket: Ticket) -> None:
        """Run ``ticket``'s plain handlers on this thread (claiming it first if gated)."""
        if ticket.gate_key is not None:
            assert self.gate is not None
            admitted = self.admit(ticket, self.gate.claim(ticket.gate_key))
            if admitted is None:
                return
            ticket = admitted
        for call in ticket.to_run:
            self.handle_sync(call, ticket)

    def handler_done(self, ticket: Ticket, ok: bool) -> None:
        with self._lock:
            ticket.handlers -= 1
            ticket.failed = ticket.failed or not ok
        self._settle(ticket)

    async def handle_async(self, call: tuple[Handler, Event], ticket: Ticket) -> None:
        """Run one of ``ticket``'s handlers (plain or coroutine) and report it."""
        self.handler_done(ticket, await call_handler_async(*call, self.log))

    def handle_sync(self, call: tuple[Handler, Event], ticket: Ticket) -> None:
        """Run one of ``ticket``'s plain handlers on this thread and report it."""
        self.handler_done(ticket, call_handler(*call, self.log))

    def mark_processed(self, which: int | Event | None) -> None:
        """The application is done with the dispatch ``which`` (its seq, or the event
        itself when it carries no seq) and with every delivery handed out before it."""
        self._mark(which, ok=True)

    def mark_failed(self, which: int | Event | None) -> None:
        """The application could not handle ``which``: answer op 12 ``d = 1`` for it
        alone, so that the platform delivers it again."""
        self._mark(which, ok=False)

    def _mark(self, which: int | Event | None, *, ok: bool) -> None:
        if which is None:
            return  # as on the gateway: nothing to mark
        # A parsed model is matched by its event id (the frame ``id`` it came with).
        event_id = getattr(which, "event_id", None) if isinstance(which, ModelEvent) else None
        with self._lock:
            found = None
            for index in range(len(self._awaiting) - 1, -1, -1):
                dispatch = self._awaiting[index].dispatch
                if (dispatch is which or (isinstance(which, int) and dispatch.seq == which)
                        or (event_id is not None and dispatch.id == event_id)):
                    found = index
                    break
            if found is None:
                return
            if ok:
                chosen = self._awaiting[:found + 1]
                del self._awaiting[:found + 1]
            else:
                chosen = [self._awaiting.pop(found)]
            for ticket in chosen:
                ticket.marked = True
                ticket.failed = ticket.failed or not ok
        for ticket in chosen:
            self._settle(ticket)

    def _settle(self, ticket: Ticket) -> None:
        with self._lock:
            if ticket.done or ticket.handlers > 0 or not ticket.marked:
                return
            ticket.done = True
            self._tickets.discard(ticket)
        try:
            ticket.ack(not ticket.failed)
        except Exception:  # a closed loop during shutdown: nothing left to answer
            self.log.debug("webhook ack could not be delivered", exc_info=True)

    def discard(self, ticket: Ticket) -> None:
        """Forget ``ticket`` without answering it (its request was cancelled)."""
        with self._lock:
            ticket.done = True
            self._tickets.discard(ticket)
            if ticket in self._awaiting:
                self._awaiting.remove(ticket)

    def abandon(self) -> None:
        """Give up on every unanswered delivery: each counts as failed (``d = 1``)."""
        with self._lock:
            tickets = list(self._tickets)
            self._tickets.clear()
            self._awaiting.clear()
            for ticket in tickets:
                ticket.done = True
        for ticket in tickets:
            with contextlib.suppress(Exception):
                ticket.ack(False)

    @property
    def unanswered(self) -> int:
        """How many deliveries still wait for their op 12 answer."""
        with self._lock:
            return len(self._tickets)

    # -- subscribers and the lifecycle events ------------------------------------------
    def publish(self, event: Event) -> None:
        """Give ``event`` to every subscriber."""
        for put in self._subscribers:
            try:
                put(event)
            except Exception:  # a closed channel or loop: drop the subscriber
                self.unsubscribe(put)

    def serving(self, host: str, port: int, *, tls: bool, path: str | None = None,
                ) -> tuple[Event, Plan]:
        """Listening now: set :attr:`url` and publish :class:`WebhookServing`."""
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{shown}:{port}{path or self.policy.path}"
        event = WebhookServing(url=self.url, host=host, port=port)
        self.publish(event)
        return event, self.plan(event, self.clock())

    def stopping(self, reason: str = STOP_REASON) -> tuple[Event, Plan]:
        """Record the final :class:`Stop` and publish :class:`SessionStopped`."""
        self.stopped = Stop(reason=reason, fatal=False)
        event = SessionStopped(reason=reason, fatal=False)
        self.publish(event)
        return event, self.plan(event, self.clock())

    def subscribe(self, put: Subscriber) -> Subscriber:
        """``put(event)`` for every event from now on, then ``put(None)`` at the end."""
        with self._lock:
            self._subscribers = [*self._subscribers, put]
            ended = self._ended
        if ended:
            put(None)
        return put

    def unsubscribe(self, put: Subscriber) -> None:
        with self._lock:
            self._subscribers = [p for p in self._subscribers if p is not put]

    def end_subscribers(self) -> None:
        if self.gate is not None:
            self.gate.close()
        with self._lock:
            self._ended = True
            subscribers = self._subscribers
        for put in subscribers:
            with contextlib.suppress(Exception):
                put(None)

    def iterate(self, items: queue.SimpleQueue[Event | None]) -> Iterator[Event]:
        """Subscribe a thread queue now; iterate it until the end."""
        put = self.subscribe(items.put)
        return self._iterate(items, put)

    def _iterate(self, items: queue.SimpleQueue[Event | None], put: Subscriber,
                 ) -> Iterator[Event]:
        try:
            while (event := items.get()) is not None:
                yield event
        finally:
            self.unsubscribe(put)

    async def aiterate(self, get: Callable[[], Any], put: Subscriber) -> AsyncIterator[Event]:
        """Iterate events some runtime's queue receives through ``put`` (``await get()``)."""
        try:
            while (event := await get()) is not None:
                yield event
        finally:
            self.unsubscribe(put)


class WebhookBotBase(BotApi):
    """The application API every webhook bot shares (delegated to :class:`WebhookCore`).

    ``settings`` is the bot's :class:`~qqproto.Settings` (the secret derives the key;
    ``app_id``, when set, is checked against ``X-Bot-Appid`` and feeds the REST token).
    Servers listen on ``host``:``port`` (0: any free port; :attr:`url` says which) and
    answer callbacks on ``path``; ``policy`` (path, window, body limit, app id check)
    wins over ``path``.  ``server_ssl_context`` is a *server* context with certificate and
    key loaded: the platform only calls HTTPS URLs, so without one put a TLS-terminating
    proxy in front.  ``ssl_context`` is the trust store for the bot's own HTTPS calls (a
    private CA), as on the gateway bots.  ``replay_cache`` may be shared with other
    endpoints of the same bot.  ``close_timeout`` bounds how long ``close()`` lets
    deliveries in progress finish; ``receiver_options`` go to each
    :class:`~qqproto.webhook.WebhookReceiver` (limits, timeouts).  ``transcriber`` and
    ``cache_dir`` are the media options of every bot (``bot.transcribe``,
    ``bot.download``).
    """

    #: Set by servers whose connections run on several threads: each connection then
    #: handles one request at a time and the replay cache is a :class:`LockedReplayCache`.
    _threaded = False

    def __init__(self, settings: Settings, *, host: str = "127.0.0.1", port: int = 0,
                 path: str = DEFAULT_WEBHOOK_PATH, policy: WebhookPolicy | None = None,
                 server_ssl_context: ssl.SSLContext | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 replay_cache: ReplayCache | None = None, env: Mapping[str, str] | None = None,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
                 receiver_options: Mapping[str, Any] | None = None,
                 transcriber: Transcriber | None = None,
                 cache_dir: str | os.PathLike[str] | None = None) -> None:
        if self._threaded:  # see threads.WebhookBot: connections on many threads
            receiver_options = {**(receiver_options or {}), "max_pipelined": 1}
            if not isinstance(replay_cache, LockedReplayCache):
                replay_cache = LockedReplayCache(replay_cache)
        self._core = core = WebhookCore(settings, self._plan_delivery, self._now,
                                        path=path, policy=policy, replay_cache=replay_cache,
                                        env=env, receiver_options=receiver_options)
        self.session = core.session
        self._init_api(settings, lambda: self.session.token_state)
        configure_media(self, settings, transcriber=transcriber, cache_dir=cache_dir,
                        env=core.env)
        #: Called with every connection-level event (validation answered, rejections…).
        self.observers = core.observers
        self.host, self.port, self.close_timeout = host, port, close_timeout
        self._ssl = server_ssl_context
        self._client_ssl = ssl_context
        self.stopped: Stop | None = None

    @property
    def url(self) -> str | None:
        """The callback URL being served, once ``run()`` listens."""
        return self._core.url

    def mark_processed(self, seq: int | Event | None) -> None:
        """Done with this dispatch (by seq, or the event) and all delivered before it."""
        self._core.mark_processed(seq)

    def mark_failed(self, seq: int | Event | None) -> None:
        """Answer op 12 ``d = 1`` for this dispatch: the platform should redeliver it."""
        self._core.mark_failed(seq)

    def aiter_events(self, loop: asyncio.AbstractEventLoop | None = None,
                     ) -> AsyncIterator[Event]:
        """``async for event in bot.aiter_events():`` on an asyncio loop (the running one),
        for bots whose server runs on another thread."""
        items: asyncio.Queue[Event | None] = asyncio.Queue()
        target = loop or asyncio.get_running_loop()
        put = self._core.subscribe(
            lambda event: target.call_soon_threadsafe(items.put_nowait, event))
        return self._core.aiterate(items.get, put)


class BackgroundRun:
    """``start()`` runs a blocking ``run()`` on a daemon thread; ``join()`` returns its Stop."""

    _thread: threading.Thread | None = None

    def run(self) -> Stop:
        raise NotImplementedError

    def start(self) -> None:
        """``run()`` on a background thread named ``qqproto-webhook``."""
        self._result: Future[Stop] = Future()
        self._thread = threading.Thread(target=self._run_caught, name="qqproto-webhook",
                                        daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> Stop:
        """Wait for the background ``run()``: its Stop, its exception, or TimeoutError."""
        if self._thread is None:
            raise RuntimeError("start() was not called")
        self._thread.join(timeout)
        return self._result.result(timeout=0)

    def _run_caught(self) -> None:
        try:
            self._result.set_result(self.run())
        except BaseException as exc:
            self._result.set_exception(exc)
