"""The trio webhook server: a QQ bot that receives its events as HTTP callbacks.

:class:`TrioWebhookBot` has the application API of
:class:`~qqproto_transports.trio_driver.TrioBot`.  Per accepted connection two tasks
share one :class:`~qqproto.webhook.WebhookReceiver`: a reader (which waits while
``reading_paused``) and a control task whose cancel-scope deadline follows
``get_timer()``; it also applies the acknowledgements handlers post to it and writes
the answers, then closes the stream.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from typing import Any

import httpx
import trio

from qqproto._commands import Stop
from qqproto.errors import RemoteProtocolError
from qqproto.events import Delivery, Event
from qqproto.webhook._receiver import WebhookReceiverState

from ._bot_api import AsyncBotApi
from ._shared import BotSettings, Handler, async_http_client, log, run_call_async
from ._webhook_shared import Ticket, WebhookBotBase, run_handler_async

__all__ = ["TrioWebhookBot"]
_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError)


class _Conn:
    """One accepted connection: a reader task and a control task share its receiver."""

    def __init__(self, bot: TrioWebhookBot, stream: trio.abc.Stream) -> None:
        self.bot, self.stream = bot, stream
        self.rx = bot._core.new_receiver(trio.current_time())
        self.out = bytearray()
        self.acks: list[tuple[Delivery, bool]] = []
        self.wake_at = -math.inf
        self.scope = trio.CancelScope()  # replaced by the control task's live scope
        self.resume = trio.Event()
        self.eof = self.finished = False

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

    def feed(self, data: bytes) -> None:
        """Bytes from the stream (``b""``: EOF, also injected by a graceful close)."""
        if self.eof or self.finished:
            return
        self.eof = not data
        with contextlib.suppress(RemoteProtocolError):  # the 400 is queued; it closes
            self.rx.receive_data(data, now=trio.current_time(), unix_now=time.time())
        self._after()

    def post_ack(self, delivery: Delivery, ok: bool) -> None:
        if self.finished:  # nothing goes on the wire; the replay cache still learns
            self.rx.acknowledge(delivery, ok)
            return
        self.acks.append((delivery, ok))
        self.wake_at = self.scope.deadline = -math.inf  # wakes the control task

    async def _control(self) -> None:
        """Applies acks and timers and writes the answers; returns once finished."""
        while True:
            with trio.CancelScope(deadline=self.wake_at) as self.scope:
                await trio.sleep_forever()
            acks, self.acks = self.acks, []
            for delivery, ok in acks:
                self.rx.acknowledge(delivery, ok)
            now, timer = trio.current_time(), self.rx.get_timer()
            if timer is not None and now >= timer:
                self.rx.handle_timer(now)
            self._after()
            if self.out:
                data = bytes(self.out)
                self.out.clear()
                await self.stream.send_all(data)
            elif self.finished:
                return

    def _after(self) -> None:
        if not self.finished:
            self.out += self.rx.data_to_send()
            self.finished = self.bot._core.drain(self.rx, self.post_ack, self.bot._run_ticket)
            if not self.rx.reading_paused:
                self.resume.set()
        timer = self.rx.get_timer()
        busy = self.acks or self.out or self.finished
        self.wake_at = -math.inf if busy else math.inf if timer is None else timer
        self.scope.deadline = self.wake_at


class TrioWebhookBot(AsyncBotApi, WebhookBotBase):  # type: ignore[misc]  # session: see _bot_api
    """A QQ bot on the webhook channel, on trio.  ``await bot.run()``; ``bot.close()``.

    Parameters: :class:`~qqproto_transports._webhook_shared.WebhookBotBase`.
    """

    def __init__(self, settings: BotSettings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.http: httpx.AsyncClient = async_http_client(settings, self._core.env)
        self._conns: set[_Conn] = set()
        self._tasks: trio.Nursery | None = None
        self._closing = trio.Event()

    # -- application API ------------------------------------------------------------
    async def run(self) -> Stop:
        """Serve callbacks until :meth:`close`; return the final Stop (cancelling ``run()``
        stops at once: unanswered deliveries count as failed)."""
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
        be answered; then ``run()`` returns.  On the bot's trio thread only."""
        self._closing.set()

    def events(self) -> trio.MemoryReceiveChannel[Event]:
        """A channel of every event from now on, in order; it ends when the bot stops."""
        send, receive = trio.open_memory_channel[Event](math.inf)
        self._core.subscribe(lambda event: send.close() if event is None
                             else send.send_nowait(event))
        return receive

    async def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion."""
        return await run_call_async(call, self.http, trio.current_time)

    # -- internals ----------------------------------------------------------------------
    async def _serve(self, stream: trio.abc.Stream) -> None:
        conn = _Conn(self, stream)
        self._conns.add(conn)
        try:
            await conn.serve()
        except Exception:  # a bug here must not take the whole server down
            log.exception("webhook connection failed")
        finally:
            self._conns.discard(conn)

    def _run_ticket(self, ticket: Ticket) -> None:
        assert self._tasks is not None
        for handler in ticket.to_run:
            self._tasks.start_soon(self._core.handle_async, handler, ticket)

    def _spawn_handlers(self, event: Event, handlers: list[Handler]) -> None:
        assert self._tasks is not None
        for handler in handlers:
            self._tasks.start_soon(run_handler_async, handler, event)
