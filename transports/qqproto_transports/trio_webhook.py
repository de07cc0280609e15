"""The trio webhook server: a QQ bot that receives its events as HTTP callbacks.

:class:`TrioWebhookBot` has the application API of
:class:`~qqproto_transports.trio_driver.TrioBot`.  Per accepted connection three tasks
share one :class:`~qqproto._webhook_http.WebhookReceiver`: a reader (which waits while
``reading_paused``), a writer (answers are serialised through a memory channel, then
the stream is closed), and a control task whose cancel-scope deadline follows
``get_timer()`` and which also applies the acknowledgements handlers post to it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import ssl
import time
from typing import Any

import httpx
import trio

from qqproto._commands import Stop
from qqproto._webhook import DEFAULT_WEBHOOK_PATH, ReplayCache, WebhookPolicy
from qqproto._webhook_http import Delivery, WebhookReceiverState
from qqproto.errors import RemoteProtocolError
from qqproto.events import Dispatch, Event

from ._shared import BotSettings, Handler, async_http_client, log, run_call_async
from ._webhook_shared import DEFAULT_CLOSE_TIMEOUT, Ticket, WebhookCore, run_handler_async

__all__ = ["TrioWebhookBot"]
_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError)


class _Conn:
    """One accepted connection and the state its three tasks share."""

    def __init__(self, bot: TrioWebhookBot, stream: trio.abc.Stream) -> None:
        self.bot, self.stream = bot, stream
        self.rx = bot._core.new_receiver(trio.current_time())
        self.send, self.outbox = trio.open_memory_channel[bytes](math.inf)
        self.acks: list[tuple[Delivery, bool]] = []
        self.wake_at = math.inf
        self.scope = trio.CancelScope()  # replaced by the control task's live scope
        self.resume = trio.Event()
        self.eof = self.finished = False

    async def serve(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            nursery.start_soon(self._writer)
            nursery.start_soon(self._control)
            self._after()
            await self._reader()

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
        self.scope.cancel()  # wakes the control task

    async def _control(self) -> None:
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

    def _after(self) -> None:
        if self.finished:
            return
        data = self.rx.data_to_send()
        if data:
            self.send.send_nowait(data)
        if self.bot._core.drain(self.rx, self.post_ack, self.bot._run_ticket):
            self.finished = True
            self.send.close()  # the writer sends what is queued, then closes
        if not self.rx.reading_paused:
            self.resume.set()
        timer = self.rx.get_timer()
        self.wake_at = -math.inf if self.acks else math.inf if timer is None else timer
        self.scope.deadline = self.wake_at

    async def _writer(self) -> None:
        try:
            async for data in self.outbox:
                await self.stream.send_all(data)
            with trio.move_on_after(1.0):
                await self.stream.aclose()
        except _BROKEN:
            pass
        finally:
            if not self.finished:  # the peer went away first
                self.finished = True
                self.rx.close()
                self.bot._core.drain(self.rx, self.post_ack, self.bot._run_ticket)
            await trio.aclose_forcefully(self.stream)
            self.nursery.cancel_scope.cancel()


class TrioWebhookBot:
    """A QQ bot on the webhook channel, on trio.  ``await bot.run()``; ``bot.close()``.

    Parameters as for :class:`~qqproto_transports.asyncio_webhook.AsyncioWebhookBot`.
    """

    def __init__(self, settings: BotSettings, *, host: str = "127.0.0.1", port: int = 0,
                 path: str = DEFAULT_WEBHOOK_PATH, policy: WebhookPolicy | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 replay_cache: ReplayCache | None = None, env: dict[str, str] | None = None,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
                 receiver_options: dict[str, Any] | None = None) -> None:
        self._core = core = WebhookCore(settings, path=path, policy=policy,
                                        replay_cache=replay_cache, env=env,
                                        receiver_options=receiver_options)
        self.settings, self.session, self.handlers = settings, core.session, core.handlers
        self.on = core.handlers.on
        self.observers = core.observers
        self.http: httpx.AsyncClient = async_http_client(settings, core.env)
        self.host, self.port, self.close_timeout = host, port, close_timeout
        self._ssl = ssl_context
        self._conns: set[_Conn] = set()
        self._tasks: trio.Nursery | None = None
        self._closing = trio.Event()
        self._no_conns = trio.Event()
        self.stopped: Stop | None = None

    @property
    def url(self) -> str | None:
        """The callback URL being served, once ``run()`` listens."""
        return self._core.url

    # -- application API ------------------------------------------------------------
    async def run(self) -> Stop:
        """Serve callbacks until :meth:`close`; return the final Stop.

        Cancelling ``run()`` stops at once; unanswered deliveries count as failed."""
        try:
            async with trio.open_nursery() as tasks:
                self._tasks = tasks
                async with trio.open_nursery() as conns:
                    await self._serve_until_closed(conns)
                    if self._conns:  # graceful: owed answers still go out
                        self._no_conns = trio.Event()
                        for conn in list(self._conns):
                            conn.feed(b"")
                        with trio.move_on_after(self.close_timeout):
                            await self._no_conns.wait()
                    conns.cancel_scope.cancel()
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

    async def _serve_until_closed(self, conns: trio.Nursery) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        served: list[Any] = list(listeners)
        if self._ssl is not None:
            served = [trio.SSLListener(listener, self._ssl, https_compatible=True)
                      for listener in listeners]
        async with trio.open_nursery() as listen:
            listen.start_soon(functools.partial(trio.serve_listeners, self._serve, served,
                                                handler_nursery=conns))
            self._spawn_handlers(*self._core.serving(self.host, self.port,
                                                     tls=self._ssl is not None))
            await self._closing.wait()
            listen.cancel_scope.cancel()

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

    def mark_processed(self, seq: int | Dispatch | None) -> None:
        """Done with this dispatch (by seq, or the event) and all delivered before it."""
        self._core.mark_processed(seq)

    def mark_failed(self, seq: int | Dispatch | None) -> None:
        """Answer op 12 ``d = 1`` for this dispatch: the platform should redeliver it."""
        self._core.mark_failed(seq)

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
            if not self._conns:
                self._no_conns.set()

    def _run_ticket(self, ticket: Ticket) -> None:
        assert self._tasks is not None
        for handler in ticket.to_run:
            self._tasks.start_soon(self._handle, handler, ticket)

    async def _handle(self, handler: Handler, ticket: Ticket) -> None:
        self._core.handler_done(ticket, await run_handler_async(handler, ticket.dispatch))

    def _spawn_handlers(self, event: Event, handlers: list[Handler]) -> None:
        assert self._tasks is not None
        for handler in handlers:
            self._tasks.start_soon(run_handler_async, handler, event)
