"""The trio driver: moves bytes, timers and HTTP for a :class:`~qqproto.gateway.GatewaySession`.

Tasks: a timer whose cancel-scope deadline follows ``get_timer()``; per connection a
reader and a writer (writes are serialised through a memory channel, so a close frame is
out before the socket closes); one per HTTP request and per handler call.  Cancelling
``run()`` closes the gateway cleanly: the I/O runs in a shielded scope until it is done.
"""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import trio

from qqproto._commands import OpenConnection, SendHttpRequest, StartTls, Stop
from qqproto.events import Event

from . import _shared
from ._bot_api import AsyncBotApi
from ._shared import BotCore, BotSettings, Handler

__all__ = ["CLOSE_GRACE", "TrioBot"]
#: How long a cancelled ``run()`` waits for the clean close before dropping the socket.
CLOSE_GRACE = 10.0
_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError)


class _Conn:
    """One socket: its stream (an SSLStream after StartTls) and its write queue."""

    def __init__(self, conn_id: int, stream: trio.abc.Stream) -> None:
        self.id, self.stream = conn_id, stream
        self.send, self.outbox = trio.open_memory_channel[bytes](math.inf)
        self.lock = trio.Lock()  # the writer and a TLS handshake never overlap
        self.scope = trio.CancelScope()
        self.flushed = trio.Event()


class TrioBot(AsyncBotApi, BotCore):
    """A QQ bot on trio.  ``await bot.run()`` until it stops; ``bot.close()`` to stop."""

    def __init__(self, settings: BotSettings, *, session_file: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(settings, session_file, env)
        self.http: httpx.AsyncClient = _shared.async_http_client(settings, self._env)
        self._nursery: trio.Nursery | None = None
        self._io_scope = trio.CancelScope(shield=True)
        self._timer_scope = trio.CancelScope()
        self._wake_at = math.inf
        self._conn: _Conn | None = None
        self._closing: _Conn | None = None  # the last socket told to close
        self._current_id = 0
        self._tls: StartTls | None = None
        self._done = trio.Event()

    # -- application API ------------------------------------------------------------
    async def run(self) -> Stop:
        """Connect, reconnect as the session decides, deliver events; return the Stop."""
        async with trio.open_nursery() as outer:
            with self._io_scope:  # shielded: the caller's cancellation reaches _watch only
                try:
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        self.session.start(trio.current_time(), time.time())
                        self._after()
                        nursery.start_soon(self._timer_loop)
                        outer.start_soon(self._watch)
                        await self._done.wait()
                        with trio.move_on_after(1.0):  # the writer sends the last close frame
                            await (self._closing.flushed if self._closing else self._done).wait()
                        nursery.cancel_scope.cancel()  # handlers, HTTP, a connection mid-dial
                finally:
                    with trio.CancelScope(shield=True):
                        self._save(trio.current_time())
                        await self.http.aclose()
                        self._end_subscribers()
                        self._done.set()
        assert self.stopped is not None
        return self.stopped

    def close(self) -> None:
        """Close cleanly (resumable); ``run()`` returns.  On the bot's trio thread only."""
        if self._nursery is not None and not self._done.is_set():
            self.session.close(trio.current_time())
            self._after()

    def events(self) -> trio.MemoryReceiveChannel[Event]:
        """A channel of every event from now on, in order; it ends after SessionStopped."""
        send, receive = trio.open_memory_channel[Event](math.inf)
        self._subscribe(lambda event: send.close() if event is None else send.send_nowait(event))
        return receive

    async def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion."""
        return await _shared.run_call_async(call, self.http, trio.current_time)

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

    def _run_handler(self, handler: Handler, event: Event) -> None:
        pending = _shared.start_handler(handler, event)  # plain functions run inline
        if pending is not None:
            assert self._nursery is not None
            self._nursery.start_soon(_shared.settle, handler, pending)

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
        result = await _shared.send_async(self.http, cmd.request)
        self._http_done(cmd.id, result, trio.current_time())
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
