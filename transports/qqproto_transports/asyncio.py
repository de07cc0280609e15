"""The asyncio driver: :class:`Bot` (the WebSocket gateway) and :class:`WebhookBot`
(HTTP callbacks), with one application API::

    bot = Bot(Settings.from_env(os.environ))

    @bot.on(MessageEvent)
    async def echo(event: MessageEvent) -> None:
        await bot.reply(event, event.message.content)

    asyncio.run(bot.run())

All protocol decisions (what to send, when to reconnect, what a close code means) are the
core's; :class:`~qqproto_transports._bot.BotCore` does the loop's bookkeeping and this
file supplies the asyncio I/O: a Protocol per socket, one ``loop.call_at`` timer that
follows ``get_timer()``, a task per HTTP request and per connection attempt.
Plain-function handlers run inline (no task per event); a coroutine handler runs in its
own task whose first step runs at once, at delivery (``_eager``);
a handler that *blocks* the loop delays heartbeats, so run blocking work with
``asyncio.to_thread``, or pass ``io_thread=True``: the connection then runs on its own
thread and hands events to this loop (``_io_thread``, docs/asyncio.rst).

The webhook server, :class:`WebhookBot`, lives in :mod:`._webhook_asyncio` and is
exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from qqproto.events import Event
from qqproto.gateway import IdentifyPacer, OpenConnection, SendHttpRequest, StartTls, Stop

from ._asyncio_common import _call_on, _install_signals, _remove_signals
from ._backlog import Backlog
from ._bot import AsyncBotCore
from ._eager import start_eagerly
from ._handlers import Handler, handler_failed, settle, start_handler
from ._httpx import send_async
from ._inbox import Inbox
from ._io_thread import IoThread, run_asyncio_io_thread
from ._leases import LeaseRunner
from ._shards import group_stop
from ._webhook_asyncio import WebhookBot

__all__ = ["Bot", "WebhookBot"]
WebhookBot.__module__ = __name__  # documented and shown as qqproto_transports.asyncio's


class _Socket(asyncio.Protocol):
    """Hands a connection's bytes and EOF to the bot, tagged with the connection id."""

    def __init__(self, bot: Bot, conn_id: int) -> None:
        self.bot, self.conn_id = bot, conn_id
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.bot._feed(self.conn_id, data)

    def eof_received(self) -> bool:
        self.bot._feed(self.conn_id, b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.bot._feed(self.conn_id, b"")


class Bot(AsyncBotCore):
    """A QQ bot on the gateway, on asyncio: ``asyncio.run(bot.run())``; ``bot.close()``.

    ``session_file`` keeps the session between runs (a restart resumes), ``env`` is where
    proxy variables are read (default ``os.environ``), ``ssl_context`` a trust store for a
    private CA (TLS is always verified).
    """

    def _init_runtime(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket: _Socket | None = None
        self._current_id = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._done: asyncio.Future[Stop] | None = None
        self._backlog = Backlog(self.settings.limits.max_pending_events)
        self._io: IoThread | None = None  # io_thread=True, while run() runs

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- application API ------------------------------------------------------------
    async def run(self, *, handle_signals: bool = True) -> Stop:
        """Connect, reconnect as the session decides, deliver events; return the Stop
        once the session stops or :meth:`close` was called.  On the main thread,
        SIGINT/SIGTERM close cleanly (``handle_signals=False`` leaves them alone).
        With ``io_thread=True`` the connection runs on its own thread and handlers here
        (docs/asyncio.rst)."""
        loop = asyncio.get_running_loop()
        if self.settings.shards is not None:
            self._loop = loop
            return await self._run_shards(loop, handle_signals)
        signals = _install_signals(loop, self.close, handle_signals)
        try:
            if self._io_thread_on:
                return await run_asyncio_io_thread(self, loop)
            return await self._serve()
        finally:
            _remove_signals(loop, signals)

    async def _serve(self) -> Stop:
        """The connection on the running loop, until the session stops."""
        self._loop = loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.session.start(loop.time(), time.time())
        self._after()
        if self._io is not None:  # io_thread=True: this is the I/O thread's loop
            self._io.started(functools.partial(_call_on, loop))
        try:
            return await asyncio.shield(self._done)
        except asyncio.CancelledError:  # close cleanly, then let the cancellation through
            self.close()
            await asyncio.wait_for(asyncio.shield(self._done), 10.0)
            raise
        finally:
            await self._shutdown()

    async def _run_shards(self, loop: asyncio.AbstractEventLoop, handle_signals: bool) -> Stop:
        """Run every shard on this loop until all stopped."""
        if (count := self._shard_count_call()) is not None:
            self._use_shard_count(await self.call(count))
        signals = _install_signals(loop, self.close, handle_signals)
        try:
            if self._leased():
                stop = await self._run_leased(loop)
            else:
                shards = [s for s in self._make_shards(IdentifyPacer()) if isinstance(s, Bot)]
                stop = group_stop(list(await asyncio.gather(
                    *(s.run(handle_signals=False) for s in shards))))
        finally:
            _remove_signals(loop, signals)
            await asyncio.to_thread(self._flush_store)
            await self.http.aclose()
            self._end_subscribers()
        self.stopped = stop
        return stop

    async def _run_leased(self, loop: asyncio.AbstractEventLoop) -> Stop:
        """Run the shards this process holds leases for (qqproto_transports._leases)."""
        assert self._store is not None
        wake = asyncio.Event()

        def off_loop(call: Callable[[], object], then: Callable[[object], None]) -> None:
            async def run() -> None:
                try:
                    result = await asyncio.to_thread(call)
                except Exception as exc:  # the store failed: the machine decides
                    result = exc
                then(result)
                wake.set()

            self._spawn(run())

        def start(child: Bot) -> None:
            async def run() -> None:
                try:
                    stop: Stop | BaseException = await child.run(handle_signals=False)
                except Exception as exc:
                    stop = exc
                runner.ended(child, stop)
                wake.set()

            self._spawn(run())

        runner = LeaseRunner(self, self._store, off_loop=off_loop, start=start,
                             stop=lambda child: child.close(), clock=loop.time)

        def close() -> None:
            runner.close(loop.time())
            wake.set()

        async def serve() -> None:
            while not runner.finished:
                when = runner.pump(loop.time())
                if runner.finished:
                    break
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        wake.wait(), None if when is None else max(0.0, when - loop.time()))

        self._lease_close = close
        runner.leases.start(loop.time())
        try:
            await serve()
        except asyncio.CancelledError:  # stop the shards and release cleanly, then give in
            close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(serve(), 10.0)
            raise
        finally:
            self._lease_close = None
            await asyncio.to_thread(runner.shutdown)
        return runner.result()

    def close(self) -> None:
        """Close the gateway cleanly (the session stays resumable); ``run()`` returns.
        Safe from any thread."""
        if self._lease_close is not None:
            _call_on(self._loop, self._lease_close)
            return
        if self._shards:
            for shard in self._shards:
                if isinstance(shard, Bot):
                    shard.close()
            return
        if self._io is not None:
            self._io.close()
            return
        _call_on(self._loop, self._close_now)

    def _close_now(self) -> None:
        if self._loop is not None and self._done is not None and not self._done.done():
            self.session.close(self._loop.time())
            self._after()

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the session stops."""
        items: Inbox[Event | None] = Inbox()
        return self._aiterate(items, self._subscribe(items.put_nowait))

    # -- the pump and the hooks it calls ----------------------------------------------
    def _after(self) -> None:
        loop = self._loop
        assert loop is not None
        when = self._pump(loop.time())
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._on_timer) if when is not None else None
        if self.stopped is not None and self._done is not None and not self._done.done():
            self._done.set_result(self.stopped)

    def _off_loop(self, call: Callable[[], object], then: Callable[[object], None]) -> None:
        self._spawn(self._run_off_loop(call, then))

    async def _run_off_loop(self, call: Callable[[], object],
                            then: Callable[[object], None]) -> None:
        try:
            result = await asyncio.to_thread(call)
        except Exception as exc:  # a store that failed: the caller decides
            result = exc
        then(result)
        self._after()

    def _write(self, data: bytes) -> None:
        sock = self._socket
        if sock is not None and sock.transport is not None:
            sock.transport.write(data)

    def _http(self, cmd: SendHttpRequest) -> None:
        self._spawn(self._perform(cmd))

    def _open(self, cmd: OpenConnection) -> None:
        self._current_id = cmd.id
        self._spawn(self._connect(cmd))

    def _start_tls(self, cmd: StartTls) -> None:
        self._spawn(self._handshake(cmd))

    def _close_socket(self, conn_id: int) -> None:
        sock = self._socket
        if sock is not None and sock.conn_id == conn_id:
            self._socket = None
            if sock.transport is not None:
                sock.transport.close()  # pending writes (the close frame) are flushed first

    def _run_handler(self, handler: Handler, argument: Event) -> None:
        pending = start_handler(handler, argument, self.log)  # plain functions run inline
        if pending is None:
            return
        if isinstance(pending, Coroutine):  # eagerly, until it first suspends (_eager)
            assert self._loop is not None
            task = start_eagerly(self._loop, pending)
            if task.done():  # it never suspended: nothing was scheduled for it
                if not task.cancelled() and (exc := task.exception()) is not None:
                    handler_failed(handler, argument, exc, self.log)
                return
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._handler_done, handler, argument))
        else:
            self._spawn(settle(handler, pending, argument, self.log)).add_done_callback(
                self._handler_finished)
        if self._backlog.started():
            self._pause(True)

    def _handler_done(self, handler: Handler, argument: Event, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            handler_failed(handler, argument, exc, self.log)
        self._handler_finished(task)

    def _handler_finished(self, task: asyncio.Task[Any]) -> None:
        if self._backlog.finished():
            self._pause(False)

    def _pause(self, paused: bool) -> None:
        """Backpressure (see _backlog): stop or resume reading; heartbeats go on."""
        self.session.set_reading_paused(paused)
        sock = self._socket
        if sock is not None and sock.transport is not None and not sock.transport.is_closing():
            (sock.transport.pause_reading if paused else sock.transport.resume_reading)()

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._timer = None
        self.session.handle_timer(self._loop.time())
        self._after()

    def _feed(self, conn_id: int, data: bytes) -> None:
        if self._socket is None or self._socket.conn_id != conn_id or self._loop is None:
            return
        if not data:
            self._close_socket(conn_id)
        self.session.receive_data(data, self._loop.time())
        self._after()

    # -- tasks ------------------------------------------------------------------------
    async def _perform(self, cmd: SendHttpRequest) -> None:
        result = await send_async(self.http, cmd.request)
        assert self._loop is not None
        self._http_done(cmd.id, result, self._loop.time())
        self._after()

    async def _connect(self, cmd: OpenConnection) -> None:
        loop = self._loop
        assert loop is not None
        try:
            transport, sock = await loop.create_connection(
                lambda: _Socket(self, cmd.id), cmd.host, cmd.port,
                ssl=self._ssl if cmd.tls else None, server_hostname=cmd.host if cmd.tls else None)
        except (OSError, ValueError) as exc:
            self.session.connection_failed(cmd.id, f"{type(exc).__name__}: {exc}", loop.time())
        else:
            if cmd.id != self._current_id:  # superseded while connecting
                transport.close()
                return
            self._socket = sock
            if self._backlog.paused:
                transport.pause_reading()
            self.session.connection_made(cmd.id, loop.time())
        self._after()

    async def _handshake(self, cmd: StartTls) -> None:
        loop, sock = self._loop, self._socket
        assert loop is not None
        if sock is None or sock.transport is None or sock.conn_id != cmd.id:
            return
        try:
            transport = await loop.start_tls(sock.transport, sock, self._ssl,
                                             server_hostname=cmd.server_hostname)
        except (OSError, ValueError) as exc:
            self.session.connection_failed(cmd.id, f"TLS failed: {exc}", loop.time())
        else:
            assert isinstance(transport, asyncio.Transport)
            sock.transport = transport
            if self._backlog.paused:
                transport.pause_reading()
            self.session.tls_started(cmd.id, loop.time())
        self._after()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("qqproto task failed", exc_info=task.exception())

    async def _shutdown(self) -> None:
        assert self._loop is not None
        self._save(self._loop.time())
        await asyncio.to_thread(self._flush_store)
        if self._timer is not None:
            self._timer.cancel()
        if self._socket is not None:
            self._close_socket(self._socket.conn_id)
        pending = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._io is None:  # else the application's loop closes them (_io_thread)
            if self._owns_http:
                await self.http.aclose()
            self._end_subscribers()
