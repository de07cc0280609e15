"""The asyncio webhook server: a QQ bot that receives its events as HTTP callbacks.

:class:`AsyncioWebhookBot` has the application API of
:class:`~qqproto_transports.asyncio_driver.AsyncioBot` (``run``, ``close``, ``events``,
``on``, ``mark_processed``, ``call``, ``http``, ``session.token_state``), so switching a
bot from the gateway to the webhook channel is one line.  The file only moves bytes:
every accepted connection gets a :class:`~qqproto.webhook.WebhookReceiver`; after
each call into it the answers are written, its events handed to
:class:`~qqproto_transports._webhook_shared.WebhookCore`, reading paused or resumed as
``reading_paused`` says, and one ``loop.call_at`` timer re-armed from ``get_timer()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from qqproto._commands import Stop
from qqproto.errors import RemoteProtocolError
from qqproto.events import Delivery, Event

from ._bot_api import AsyncBotApi
from ._shared import BotSettings, Handler, async_http_client, log, run_call_async
from ._webhook_shared import Ticket, WebhookBotBase, run_handler_async

__all__ = ["AsyncioWebhookBot"]


class _Conn(asyncio.Protocol):
    """One accepted connection: its receiver, its timer, its reading state."""

    def __init__(self, bot: AsyncioWebhookBot, loop: asyncio.AbstractEventLoop) -> None:
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
        self.loop.call_soon_threadsafe(self._ack, delivery, ok)

    def _ack(self, delivery: Delivery, ok: bool) -> None:
        self.rx.acknowledge(delivery, ok)
        if not self.finished:
            self._after()

    def _on_timer(self) -> None:
        # asyncio may run a timer a clock tick early: the deadline itself is "now".
        now = max(self.loop.time(), self.timer_at or 0.0)
        self.timer = self.timer_at = None
        self.rx.handle_timer(now)
        self._after()

    def _after(self) -> None:
        rx, transport = self.rx, self.transport
        assert transport is not None
        data = rx.data_to_send()
        if data:
            transport.write(data)
        if self.bot._core.drain(rx, self._post_ack, self.bot._run_ticket):
            self.finished = True
            transport.close()  # after the answers already written
        when = rx.get_timer()
        if when != self.timer_at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_at = when
            self.timer = None if when is None else self.loop.call_at(when, self._on_timer)
        if rx.reading_paused != self.paused and not self.finished:
            self.paused = rx.reading_paused  # TCP backpressure while answers are owed
            if self.paused:
                transport.pause_reading()
            else:
                transport.resume_reading()


class AsyncioWebhookBot(AsyncBotApi, WebhookBotBase):  # type: ignore[misc]  # session: see _bot_api
    """A QQ bot on the webhook channel, on asyncio.  ``await bot.run()``; ``bot.close()``.

    Parameters: :class:`~qqproto_transports._webhook_shared.WebhookBotBase`.
    """

    def __init__(self, settings: BotSettings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.http: httpx.AsyncClient = async_http_client(settings, self._core.env)
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()
        self._no_conns = asyncio.Event()

    # -- application API ------------------------------------------------------------
    async def run(self) -> Stop:
        """Serve callbacks until :meth:`close`; return the final Stop.

        Cancelling ``run()`` stops at once; unanswered deliveries count as failed."""
        loop = asyncio.get_running_loop()
        server: asyncio.Server | None = None
        graceful = False
        try:
            server = await loop.create_server(lambda: _Conn(self, loop), self.host,
                                              self.port, ssl=self._ssl)
            self.port = server.sockets[0].getsockname()[1]
            self._spawn_handlers(*self._core.serving(self.host, self.port,
                                                     tls=self._ssl is not None))
            await self._closing.wait()
            graceful = True
        finally:
            await self._shutdown(server, graceful)
        assert self.stopped is not None
        return self.stopped

    def close(self) -> None:
        """Stop accepting; deliveries in progress get up to ``close_timeout`` seconds to
        be answered; then ``run()`` returns."""
        self._closing.set()

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the server stops."""
        items: asyncio.Queue[Event | None] = asyncio.Queue()
        put = self._core.subscribe(items.put_nowait)  # subscribed now, not when iterated
        return self._core.aiterate(items.get, put)

    async def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion."""
        return await run_call_async(call, self.http, asyncio.get_running_loop().time)

    # -- internals ----------------------------------------------------------------------
    def _run_ticket(self, ticket: Ticket) -> None:
        for handler in ticket.to_run:
            self._spawn(self._core.handle_async(handler, ticket))

    def _spawn_handlers(self, event: Event, handlers: list[Handler]) -> None:
        for handler in handlers:
            self._spawn(run_handler_async(handler, event))

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
            log.debug("closing the HTTP client failed", exc_info=True)
        self._core.end_subscribers()
        self.stopped = self._core.stopped
