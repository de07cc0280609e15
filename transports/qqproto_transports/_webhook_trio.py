"""The trio webhook server: :class:`WebhookBot` (exported by :mod:`qqproto_transports.trio`)
serves HTTP callbacks with ``trio.serve_listeners``.  Per accepted connection two tasks
share one :class:`~qqproto.webhook.WebhookReceiver`, a reader (which waits while
``reading_paused``) and a control task whose deadline follows ``get_timer()``; it applies
the acknowledgements handlers post to it, writes the answers, then closes the stream.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from typing import Any

import httpx
import trio

from qqproto import Settings
from qqproto.errors import RemoteProtocolError
from qqproto.events import Delivery, Event
from qqproto.gateway import Stop
from qqproto.webhook import WebhookReceiverState

from ._api import AsyncBotApi
from ._bot import main_thread_signals
from ._handlers import Handler, call_handler_async
from ._httpx import async_http_client
from ._trio_common import _BROKEN, _call_in, _close_on_signals
from ._webhook_core import Ticket, WebhookBotBase

__all__ = ["WebhookBot"]


class _WebhookConn:
    """One accepted connection: a reader task and a control task share its receiver."""

    def __init__(self, bot: WebhookBot, stream: trio.abc.Stream) -> None:
        self.bot, self.stream = bot, stream
        self.rx = bot._core.new_receiver(trio.current_time())
        self.out = bytearray()
        self.acks: list[tuple[Delivery, bool]] = []
        self.wake_at = -math.inf
        self.scope = trio.CancelScope()  # replaced by the control task's live scope
        self.resume = trio.Event()
        self.eof = self.finished = self.sending = self.broken = False

    async def serve(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._reader)
            try:
                await self._control()
            except _BROKEN:
                pass
            finally:
                if not self.finished:  # the peer went away first, or we are cancelled
                    self.finished = True
                    self.rx.close()
                    self.bot._core.drain(self.rx, self.post_ack, self.bot._run_ticket)
                nursery.cancel_scope.cancel()
                with trio.move_on_after(1.0):
                    await self.stream.aclose()
                await trio.aclose_forcefully(self.stream)

    async def _reader(self) -> None:
        while self.rx.state is WebhookReceiverState.OPEN and not self.eof:
            if self.rx.reading_paused:  # TCP backpressure while answers are owed
                self.resume = trio.Event()
                await self.resume.wait()
                continue
            try:
                data = bytes(await self.stream.receive_some(65536))
            except _BROKEN:  # reset, or a failed TLS handshake
                data = b""
            self.feed(data)
            if self.out and not self.sending:
                try:
                    await self._send()  # the answer of a handler that finished at delivery
                except _BROKEN:  # the peer went away: the control task ends the connection
                    self.broken = True
                    self.wake_at = self.scope.deadline = -math.inf
                    return

    def feed(self, data: bytes) -> None:
        """Bytes from the stream (``b""``: EOF, also injected by a graceful close)."""
        if self.eof or self.finished:
            return
        self.eof = not data
        with contextlib.suppress(RemoteProtocolError):  # the 400 is queued; it closes
            self.rx.receive_data(data, now=trio.current_time(), unix_now=time.time())
        self._after(reader=True)

    def post_ack(self, delivery: Delivery, ok: bool) -> None:
        if self.finished:  # nothing goes on the wire; the replay cache still learns
            self.rx.acknowledge(delivery, ok)
            return
        self.acks.append((delivery, ok))  # from a handler task: the control task applies it
        self.wake_at = self.scope.deadline = -math.inf  # wakes the control task

    async def _control(self) -> None:
        """Applies acks and timers and writes the answers; returns once finished."""
        while True:
            with trio.CancelScope(deadline=self.wake_at) as self.scope:
                await trio.sleep_forever()
            if self.broken:
                return
            now, timer = trio.current_time(), self.rx.get_timer()
            if timer is not None and now >= timer:
                self.rx.handle_timer(now)
            self._after()
            if self.out and not self.sending:
                await self._send()
            elif self.finished and not self.sending:
                return

    async def _send(self) -> None:
        """Write what is owed; one task at a time (a trio stream refuses two senders),
        the other leaves it to this one, which writes until nothing is left."""
        self.sending = True
        try:
            while self.out:
                data = bytes(self.out)
                self.out.clear()
                await self.stream.send_all(data)
        finally:
            self.sending = False
        self._after()  # wake the control task if it has to finish now

    def _after(self, *, reader: bool = False) -> None:
        """Apply the acks of handler tasks, hand events on (the answers of handlers that
        finish at delivery are applied by the drain), collect the answers.  ``reader``:
        the reader task writes what is owed itself (no wake-up for that)."""
        if not self.finished:
            acks, self.acks = self.acks, []
            for delivery, ok in acks:
                self.rx.acknowledge(delivery, ok)
            self.finished = self.bot._core.drain(self.rx, self.post_ack, self.bot._run_ticket)
            self.out += self.rx.data_to_send()
            if not self.rx.reading_paused:
                self.resume.set()
        timer = self.rx.get_timer()
        # While a send is under way its sender writes what comes and then calls this.
        busy = self.acks or (not self.sending and (self.finished or (self.out and not reader)))
        self.wake_at = -math.inf if busy else math.inf if timer is None else timer
        # trio re-files a deadline on every change: the live scope's is only brought
        # forward, never pushed back (a keep-alive request moves the idle deadline on);
        # when an older, earlier one fires, the control task finds nothing due and waits
        # again until wake_at.
        if self.wake_at < self.scope.deadline:  # noqa: PLR1730 - min() would set it always
            self.scope.deadline = self.wake_at


class WebhookBot(AsyncBotApi, WebhookBotBase):
    """A QQ bot on the webhook channel, on trio: ``trio.run(bot.run)``; ``bot.close()``.
    The parameters are :class:`~qqproto_transports._webhook_core.WebhookBotBase`'s.
    """

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.http: httpx.AsyncClient = async_http_client(settings, self._core.env,
                                                         self._client_ssl)
        self._conns: set[_WebhookConn] = set()
        self._tasks: trio.Nursery | None = None
        self._closing = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None

    def _now(self) -> float:
        return trio.current_time()

    # -- application API ------------------------------------------------------------
    async def run(self, *, handle_signals: bool = True) -> Stop:
        """Serve callbacks until :meth:`close`; return the final Stop.  On the main
        thread SIGINT/SIGTERM close cleanly; cancelling ``run()`` stops at once
        (unanswered deliveries count as failed)."""
        self._token = trio.lowlevel.current_trio_token()
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
            self.port = listeners[0].socket.getsockname()[1]
            served: list[Any] = listeners if self._ssl is None else [
                trio.SSLListener(one, self._ssl, https_compatible=True) for one in listeners]
            async with trio.open_nursery() as tasks:
                self._tasks = tasks
                async with trio.open_nursery() as conns:
                    async with trio.open_nursery() as listen:
                        listen.start_soon(functools.partial(
                            trio.serve_listeners, self._serve, served, handler_nursery=conns))
                        if handle_signals and main_thread_signals():
                            await listen.start(_close_on_signals, self.close)
                        self._spawn_handlers(*self._core.serving(
                            self.host, self.port, tls=self._ssl is not None))
                        await self._closing.wait()
                        listen.cancel_scope.cancel()
                    for conn in list(self._conns):
                        conn.feed(b"")  # as if the peer closed: owed answers still go out
                    conns.cancel_scope.deadline = trio.current_time() + self.close_timeout
                self._core.abandon()
                self._spawn_handlers(*self._core.stopping())
                tasks.cancel_scope.deadline = trio.current_time() + self.close_timeout
        finally:
            with trio.CancelScope(shield=True):
                if self._core.stopped is None:  # cancelled from outside
                    self._core.abandon()
                    self._core.stopping()
                await self.http.aclose()
                self._core.end_subscribers()
                self.stopped = self._core.stopped
        assert self.stopped is not None
        return self.stopped

    def close(self) -> None:
        """Stop accepting; deliveries in progress get up to ``close_timeout`` seconds to
        be answered; then ``run()`` returns.  Safe from any thread."""
        _call_in(self._token, self._closing.set)

    def events(self) -> trio.MemoryReceiveChannel[Event]:
        """A channel of every event from now on, in order; it ends when the bot stops."""
        send, receive = trio.open_memory_channel[Event](math.inf)
        self._core.subscribe(lambda event: send.close() if event is None
                             else send.send_nowait(event))
        return receive

    # -- internals ----------------------------------------------------------------------
    async def _serve(self, stream: trio.abc.Stream) -> None:
        conn = _WebhookConn(self, stream)
        self._conns.add(conn)
        try:
            await conn.serve()
        except Exception:  # a bug here must not take the whole server down
            self.log.exception("webhook connection failed")
        finally:
            self._conns.discard(conn)

    def _run_ticket(self, ticket: Ticket) -> None:
        assert self._tasks is not None
        self._core.start_ticket(ticket, self._tasks.start_soon)

    def _spawn_handlers(self, event: Event, calls: list[tuple[Handler, Event]]) -> None:
        assert self._tasks is not None
        for handler, argument in calls:
            self._tasks.start_soon(call_handler_async, handler, argument, self.log)
