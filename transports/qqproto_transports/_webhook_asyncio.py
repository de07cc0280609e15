"""The asyncio webhook server: :class:`WebhookBot` (exported by
:mod:`qqproto_transports.asyncio`) serves HTTP callbacks on a ``loop.create_server``, a
Protocol (``_Conn``) per accepted connection with its own
:class:`~qqproto.webhook.WebhookReceiver` and one ``loop.call_at`` timer that follows
``get_timer()``; handlers that cannot suspend run at delivery, the others as tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from qqproto import Settings
from qqproto.errors import RemoteProtocolError
from qqproto.events import Delivery, Event
from qqproto.gateway import Stop

from ._api import AsyncBotApi
from ._asyncio_common import _call_on, _install_signals, _remove_signals
from ._handlers import Handler, call_handler_async
from ._httpx import async_http_client
from ._inbox import Inbox
from ._webhook_core import Ticket, WebhookBotBase

__all__ = ["WebhookBot"]


class _Conn(asyncio.Protocol):
    """One accepted connection: its receiver, its timer, its reading state."""

    def __init__(self, bot: WebhookBot, loop: asyncio.AbstractEventLoop) -> None:
        self.bot, self.loop = bot, loop
        self.rx = bot._core.new_receiver(loop.time())
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None
        self.paused = self.eof = self.finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.bot._conns.add(self)
        self._after()

    def data_received(self, data: bytes) -> None:
        self.feed(data)

    def eof_received(self) -> bool:
        self.feed(b"")
        # Stay half-open to write the answers still owed (TLS cannot half-close).
        return self.transport is not None and self.transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.finished:
            self.finished = True
            self.rx.close()
            self.bot._core.drain(self.rx, self._post_ack, self.bot._run_ticket)
        self.bot._gone(self)

    def feed(self, data: bytes) -> None:
        """Bytes from the socket (``b""``: EOF, also injected by a graceful close)."""
        if self.eof or self.finished:
            return
        self.eof = not data
        with contextlib.suppress(RemoteProtocolError):  # the 400 is queued; it closes
            self.rx.receive_data(data, now=self.loop.time(), unix_now=time.time())
        self._after()

    def _post_ack(self, delivery: Delivery, ok: bool) -> None:
        # Later, on the loop (never re-entering the receiver), from any thread.
        try:
            here = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            here = False
        (self.loop.call_soon if here else self.loop.call_soon_threadsafe)(self._ack, delivery, ok)

    def _ack(self, delivery: Delivery, ok: bool) -> None:
        self.rx.acknowledge(delivery, ok)
        if not self.finished:
            self._after()

    def _on_timer(self) -> None:
        # asyncio may run a timer a clock tick early: the deadline itself is "now".  The
        # timer may also be older than the receiver's deadline (see _after): then the
        # receiver finds nothing due, and _after arms the right one.
        now = max(self.loop.time(), self.timer_at or 0.0)
        self.timer = self.timer_at = None
        self.rx.handle_timer(now)
        self._after()

    def _after(self) -> None:
        rx, transport = self.rx, self.transport
        assert transport is not None
        finished = self.bot._core.drain(rx, self._post_ack, self.bot._run_ticket)
        data = rx.data_to_send()
        if data:
            transport.write(data)
        if finished:
            self.finished = True
            transport.close()  # after the answers already written
        # A timer is armed only when the receiver needs an earlier one than the armed
        # timer: an answer owed (no deadline) or a later idle deadline keep the one there
        # (when it fires early, the receiver finds nothing due), so a keep-alive request
        # costs no timer churn.
        when = rx.get_timer()
        if when is not None and (self.timer_at is None or when < self.timer_at):
            if self.timer is not None:
                self.timer.cancel()
            self.timer_at = when
            self.timer = self.loop.call_at(when, self._on_timer)
        if rx.reading_paused != self.paused and not self.finished:
            self.paused = rx.reading_paused  # TCP backpressure while answers are owed
            if self.paused:
                transport.pause_reading()
            else:
                transport.resume_reading()


class WebhookBot(AsyncBotApi, WebhookBotBase):
    """A QQ bot on the webhook channel, on asyncio: ``asyncio.run(bot.run())``;
    ``bot.close()``.  The same handlers and replies as :class:`Bot`; the parameters are
    :class:`~qqproto_transports._webhook_core.WebhookBotBase`'s.
    """

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.http: httpx.AsyncClient = async_http_client(settings, self._core.env,
                                                         self._client_ssl)
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()
        self._no_conns = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- application API ------------------------------------------------------------
    async def run(self, *, handle_signals: bool = True) -> Stop:
        """Serve callbacks until :meth:`close`; return the final Stop.  On the main
        thread SIGINT/SIGTERM close cleanly.  Cancelling ``run()`` stops at once;
        unanswered deliveries count as failed."""
        self._loop = loop = asyncio.get_running_loop()
        server: asyncio.Server | None = None
        graceful = False
        signals = _install_signals(loop, self.close, handle_signals)
        try:
            server = await loop.create_server(lambda: _Conn(self, loop), self.host,
                                              self.port, ssl=self._ssl)
            self.port = server.sockets[0].getsockname()[1]
            self._spawn_handlers(*self._core.serving(self.host, self.port,
                                                     tls=self._ssl is not None))
            await self._closing.wait()
            graceful = True
        finally:
            _remove_signals(loop, signals)
            await self._shutdown(server, graceful)
        assert self.stopped is not None
        return self.stopped

    def close(self) -> None:
        """Stop accepting; deliveries in progress get up to ``close_timeout`` seconds to
        be answered; then ``run()`` returns.  Safe from any thread."""
        _call_on(self._loop, self._closing.set)

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the server stops."""
        items: Inbox[Event | None] = Inbox()
        put = self._core.subscribe(items.put_nowait)  # subscribed now, not when iterated
        return self._core.aiterate(items.get, put)

    # -- internals ----------------------------------------------------------------------
    def _run_ticket(self, ticket: Ticket) -> None:
        self._core.start_ticket(ticket, lambda start: self._spawn(start()))

    def _spawn_handlers(self, event: Event, calls: list[tuple[Handler, Event]]) -> None:
        for call in calls:
            self._spawn(call_handler_async(*call, self.log))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _gone(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        if not self._conns:
            self._no_conns.set()

    async def _shutdown(self, server: asyncio.Server | None, graceful: bool) -> None:
        if server is not None:
            server.close()
        if graceful and self._conns:
            self._no_conns.clear()
            for conn in list(self._conns):
                conn.feed(b"")  # as if the peer closed: owed answers still go out
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_conns.wait(), self.close_timeout)
        for conn in list(self._conns):
            if conn.transport is not None:
                conn.transport.abort()
        self._core.abandon()
        self._spawn_handlers(*self._core.stopping())
        pending = [t for t in self._tasks if t is not asyncio.current_task()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.close_timeout if graceful else 0)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        try:
            await self.http.aclose()
        except Exception:  # pragma: no cover - closing pooled sockets
            self.log.debug("closing the HTTP client failed", exc_info=True)
        self._core.end_subscribers()
        self.stopped = self._core.stopped
