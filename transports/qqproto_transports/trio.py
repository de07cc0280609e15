"""The trio driver: :class:`Bot` (the WebSocket gateway) and :class:`WebhookBot` (HTTP
callbacks), with the same application API as the asyncio driver; ``trio.run(bot.run)``.

Gateway tasks: a timer whose cancel-scope deadline follows ``get_timer()``; per
connection a reader and a writer (writes are serialised through a memory channel, so a
close frame is out before the socket closes); one per HTTP request and per coroutine
handler call.  Cancelling ``run()`` closes the gateway cleanly: the I/O runs in a
shielded scope until it is done.  The webhook server, :class:`WebhookBot`, lives in
:mod:`._webhook_trio` and is exported here.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any

import trio

from qqproto.events import Event
from qqproto.gateway import IdentifyPacer, OpenConnection, SendHttpRequest, StartTls, Stop

from ._backlog import Backlog
from ._bot import AsyncBotCore, main_thread_signals
from ._handlers import Handler, settle, start_handler
from ._httpx import send_async
from ._io_thread import IoThread
from ._io_thread_trio import run_trio_io_thread
from ._leases import LeaseRunner
from ._shards import group_stop
from ._trio_common import _BROKEN, _call_in, _close_on_signals
from ._webhook_trio import WebhookBot

__all__ = ["CLOSE_GRACE", "Bot", "WebhookBot"]
WebhookBot.__module__ = __name__  # documented and shown as qqproto_transports.trio's
#: How long a cancelled ``run()`` waits for the clean close before dropping the socket.
CLOSE_GRACE = 10.0


class _Conn:
    """One socket: its stream (an SSLStream after StartTls) and its write queue."""

    def __init__(self, conn_id: int, stream: trio.abc.Stream) -> None:
        self.id, self.stream = conn_id, stream
        self.send, self.outbox = trio.open_memory_channel[bytes](math.inf)
        self.lock = trio.Lock()  # the writer and a TLS handshake never overlap
        self.scope = trio.CancelScope()
        self.flushed = trio.Event()


class Bot(AsyncBotCore):
    """A QQ bot on the gateway, on trio: ``trio.run(bot.run)``; ``bot.close()``.

    Parameters as for :class:`qqproto_transports.asyncio.Bot`.
    """

    def _init_runtime(self) -> None:
        self._nursery: trio.Nursery | None = None
        self._io_scope = trio.CancelScope(shield=True)
        self._timer_scope = trio.CancelScope()
        self._wake_at = math.inf
        self._conn: _Conn | None = None
        self._closing: _Conn | None = None  # the last socket told to close
        self._current_id = 0
        self._tls: StartTls | None = None
        self._done = trio.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._backlog = Backlog(self.settings.limits.max_pending_events)
        self._resumed = trio.Event()  # set while reading is not paused
        self._resumed.set()
        self._io: IoThread | None = None  # io_thread=True, while run() runs

    def _now(self) -> float:
        return trio.current_time()

    # -- application API ------------------------------------------------------------
    async def run(self, *, handle_signals: bool = True) -> Stop:
        """Connect, reconnect as the session decides, deliver events; return the Stop
        once the session stops or :meth:`close` was called.  On the main thread,
        SIGINT/SIGTERM close cleanly (``handle_signals=False`` leaves them alone).
        With ``io_thread=True`` the connection runs on its own thread (a trio run of its
        own) and handlers in this one (docs/trio.rst)."""
        self._token = trio.lowlevel.current_trio_token()
        if self.settings.shards is not None:
            return await self._run_shards(handle_signals)
        if not self._io_thread_on:
            return await self._serve(handle_signals)
        async with trio.open_nursery() as nursery:
            if handle_signals and main_thread_signals():
                await nursery.start(_close_on_signals, self.close)
            stop = await run_trio_io_thread(self)
            nursery.cancel_scope.cancel()
        return stop

    async def _serve(self, handle_signals: bool) -> Stop:
        """The connection in the running trio run, until the session stops."""
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as outer:
            with self._io_scope:  # shielded: the caller's cancellation reaches _watch only
                try:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        self.session.start(trio.current_time(), time.time())
                        self._after()
                        nursery.start_soon(self._timer_loop)
                        if self._io is not None:  # io_thread=True: the I/O thread's run
                            self._io.started(functools.partial(_call_in, self._token))
                        if handle_signals and main_thread_signals():
                            await nursery.start(_close_on_signals, self.close)
                        outer.start_soon(self._watch)
                        await self._done.wait()
                        with trio.move_on_after(1.0):  # the writer sends the last close frame
                            await (self._closing.flushed if self._closing else self._done).wait()
                        nursery.cancel_scope.cancel()  # handlers, HTTP, a connection mid-dial
                finally:
                    with trio.CancelScope(shield=True):
                        self._save(trio.current_time())
                        await trio.to_thread.run_sync(self._flush_store)
                        if self._io is None:  # else the application's run closes them
                            if self._owns_http:
                                await self.http.aclose()
                            self._end_subscribers()
                        self._done.set()
        assert self.stopped is not None
        return self.stopped

    async def _run_shards(self, handle_signals: bool) -> Stop:
        """Run every shard in one nursery until all stopped."""
        if (count := self._shard_count_call()) is not None:
            self._use_shard_count(await self.call(count))
        stops: list[Stop] = []

        async def run_one(shard: Bot) -> None:
            stops.append(await shard.run(handle_signals=False))

        try:
            async with trio.open_nursery() as nursery:
                if handle_signals and main_thread_signals():
                    await nursery.start(_close_on_signals, self.close)
                if self._leased():
                    stops.append(await self._run_leased())
                else:
                    async with trio.open_nursery() as runners:
                        for shard in self._make_shards(IdentifyPacer()):
                            if isinstance(shard, Bot):
                                runners.start_soon(run_one, shard)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._flush_store)
                await self.http.aclose()
                self._end_subscribers()
        self.stopped = group_stop(stops)
        return self.stopped

    async def _run_leased(self) -> Stop:
        """Run the shards this process holds leases for (qqproto_transports._leases)."""
        assert self._store is not None
        wake = [trio.Event()]
        async with trio.open_nursery() as nursery:

            def off_loop(call: Callable[[], object], then: Callable[[object], None]) -> None:
                async def run() -> None:
                    try:
                        result = await trio.to_thread.run_sync(call)
                    except Exception as exc:  # the store failed: the machine decides
                        result = exc
                    then(result)
                    wake[0].set()

                nursery.start_soon(run)

            def start(child: Bot) -> None:
                async def run() -> None:
                    try:
                        stop: Stop | BaseException = await child.run(handle_signals=False)
                    except Exception as exc:
                        stop = exc
                    runner.ended(child, stop)
                    wake[0].set()

                nursery.start_soon(run)

            runner = LeaseRunner(self, self._store, off_loop=off_loop, start=start,
                                 stop=lambda child: child.close(), clock=trio.current_time)

            def close() -> None:
                runner.close(trio.current_time())
                wake[0].set()

            self._lease_close = close
            runner.leases.start(trio.current_time())
            try:
                while not runner.finished:
                    when = runner.pump(trio.current_time())
                    if runner.finished:
                        break
                    wake[0] = trio.Event()
                    with trio.move_on_at(math.inf if when is None else when):
                        await wake[0].wait()
            finally:
                self._lease_close = None
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(runner.shutdown)
        return runner.result()

    def close(self) -> None:
        """Close cleanly (resumable); ``run()`` returns.  Safe from any thread."""
        if self._lease_close is not None:
            _call_in(self._token, self._lease_close)
            return
        if self._shards:
            for shard in self._shards:
                if isinstance(shard, Bot):
                    shard.close()
            return
        if self._io is not None:
            self._io.close()
            return
        _call_in(self._token, self._close_now)

    def _close_now(self) -> None:
        if self._nursery is not None and not self._done.is_set():
            self.session.close(trio.current_time())
            self._after()

    def events(self) -> trio.MemoryReceiveChannel[Event]:
        """A channel of every event from now on, in order; it ends after SessionStopped."""
        send, receive = trio.open_memory_channel[Event](math.inf)
        self._subscribe(lambda event: send.close() if event is None else send.send_nowait(event))
        return receive

    # -- the pump and the hooks it calls ----------------------------------------------
    def _after(self) -> None:
        when = self._pump(trio.current_time())
        self._wake_at = self._timer_scope.deadline = math.inf if when is None else when
        if self.stopped is not None:
            self._done.set()

    def _write(self, data: bytes) -> None:
        if self._conn is not None:
            self._conn.send.send_nowait(data)

    def _http(self, cmd: SendHttpRequest) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self._perform, cmd)

    def _open(self, cmd: OpenConnection) -> None:
        assert self._nursery is not None
        self._current_id = cmd.id
        self._nursery.start_soon(self._connection, cmd)

    def _start_tls(self, cmd: StartTls) -> None:
        self._tls = cmd  # the reader performs it: it owns the receiving side

    def _close_socket(self, conn_id: int) -> None:
        conn = self._conn
        if conn is not None and conn.id == conn_id:
            self._conn, self._closing = None, conn
            conn.send.close()  # the writer flushes what is queued, then closes the socket

    def _run_handler(self, handler: Handler, argument: Event) -> None:
        pending = start_handler(handler, argument, self.log)  # plain functions run inline
        if pending is not None:
            assert self._nursery is not None
            if self._backlog.started():
                self._pause(True)
            self._nursery.start_soon(self._settle, handler, pending, argument)

    async def _settle(self, handler: Handler, pending: Any, argument: Event) -> None:
        try:
            await settle(handler, pending, argument, self.log)
        finally:
            if self._backlog.finished():
                self._pause(False)

    def _pause(self, paused: bool) -> None:
        """Backpressure (see _backlog): the reader waits while paused; heartbeats go on."""
        self.session.set_reading_paused(paused)
        if paused:
            self._resumed = trio.Event()
        else:
            self._resumed.set()

    def _feed(self, conn_id: int, data: bytes) -> None:
        if self._conn is None or self._conn.id != conn_id:
            return
        if not data:
            self._close_socket(conn_id)
        self.session.receive_data(data, trio.current_time())
        self._after()

    # -- tasks ------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        while True:
            with trio.CancelScope(deadline=self._wake_at) as self._timer_scope:
                await trio.sleep_forever()
            now = trio.current_time()
            if now >= self._wake_at:  # else the deadline moved after it had fired
                self.session.handle_timer(now)
                self._after()

    async def _perform(self, cmd: SendHttpRequest) -> None:
        result = await send_async(self.http, cmd.request)
        self._http_done(cmd.id, result, trio.current_time())
        self._after()

    def _off_loop(self, call: Callable[[], object], then: Callable[[object], None]) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._run_off_loop, call, then)

    async def _run_off_loop(self, call: Callable[[], object],
                            then: Callable[[object], None]) -> None:
        try:
            result = await trio.to_thread.run_sync(call)
        except Exception as exc:  # a store that failed: the caller decides
            result = exc
        then(result)
        self._after()

    async def _connection(self, cmd: OpenConnection) -> None:
        stream: trio.abc.Stream | None = None
        try:
            with trio.fail_after(self.session.policy.connect_timeout):
                stream = await trio.open_tcp_stream(cmd.host, cmd.port)
                if cmd.tls:  # SNI and certificate checks for the gateway host
                    stream = trio.SSLStream(stream, self._ssl, server_hostname=cmd.host)
                    await stream.do_handshake()
        except BaseException as exc:
            if stream is not None:
                await trio.aclose_forcefully(stream)
            if not isinstance(exc, (OSError, trio.TooSlowError, *_BROKEN)):
                raise
            self.session.connection_failed(
                cmd.id, f"{type(exc).__name__}: {exc.__cause__ or exc}", trio.current_time())
            self._after()
            return
        if cmd.id != self._current_id or self._done.is_set():  # superseded meanwhile
            await trio.aclose_forcefully(stream)
            return
        conn = self._conn = _Conn(cmd.id, stream)
        self.session.connection_made(cmd.id, trio.current_time())
        self._after()
        async with trio.open_nursery() as nursery:
            conn.scope = nursery.cancel_scope
            nursery.start_soon(self._writer, conn)
            await self._reader(conn)

    async def _reader(self, conn: _Conn) -> None:
        while True:
            while not self._resumed.is_set():  # backpressure: the handlers are behind
                await self._resumed.wait()
            try:
                data = bytes(await conn.stream.receive_some(65536))
            except _BROKEN:
                data = b""
            self._feed(conn.id, data)
            if not data:
                return
            if self._tls is not None and self._tls.id == conn.id:
                await self._handshake(conn, self._tls)

    async def _handshake(self, conn: _Conn, cmd: StartTls) -> None:
        self._tls = None
        stream = trio.SSLStream(conn.stream, self._ssl, server_hostname=cmd.server_hostname)
        try:
            async with conn.lock:
                await stream.do_handshake()
        except _BROKEN as exc:
            self.session.connection_failed(cmd.id, f"TLS failed: {exc.__cause__ or exc}",
                                           trio.current_time())
        else:
            conn.stream = stream
            self.session.tls_started(cmd.id, trio.current_time())
        self._after()

    async def _writer(self, conn: _Conn) -> None:
        try:
            async for data in conn.outbox:
                async with conn.lock:
                    await conn.stream.send_all(data)
        except _BROKEN:
            self._feed(conn.id, b"")
        finally:
            conn.flushed.set()
            conn.scope.cancel()  # stops the reader
            await trio.aclose_forcefully(conn.stream)  # closes at once, even if cancelled

    async def _watch(self) -> None:
        try:
            await self._done.wait()
        except trio.Cancelled:  # run() was cancelled: close cleanly first, then give in
            self.close()
            self._io_scope.deadline = trio.current_time() + CLOSE_GRACE
            raise
