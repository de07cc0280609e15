"""The asyncio driver: moves bytes, timers and HTTP for a :class:`~qqproto.gateway.GatewaySession`.

All protocol decisions (what to send, when to reconnect, what a close code means) are the
session's; :class:`~qqproto_transports._shared.BotCore` does the loop's bookkeeping and
this file supplies the asyncio I/O: a Protocol per socket, one ``loop.call_at`` timer
that follows ``get_timer()``, a task per HTTP request and per connection attempt.
Events reach the application through ``async for event in bot.events()`` and/or
``@bot.on(...)`` handlers.  Plain-function handlers run inline (no task per event);
coroutine handlers run as tasks; a handler that *blocks* the loop delays heartbeats, so
run blocking work with ``asyncio.to_thread`` (docs/asyncio.rst).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import httpx

from qqproto._commands import OpenConnection, SendHttpRequest, StartTls, Stop
from qqproto.events import Event

from . import _shared
from ._bot_api import AsyncBotApi
from ._shared import BotCore, BotSettings, Handler, log

__all__ = ["AsyncioBot"]


class _Socket(asyncio.Protocol):
    """Hands a connection's bytes and EOF to the bot, tagged with the connection id."""

    def __init__(self, bot: AsyncioBot, conn_id: int) -> None:
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


class AsyncioBot(AsyncBotApi, BotCore):
    """A QQ bot on asyncio.  ``await bot.run()`` until it stops; ``bot.close()`` to stop."""

    def __init__(self, settings: BotSettings, *, session_file: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(settings, session_file, env)
        self.http: httpx.AsyncClient = _shared.async_http_client(settings, self._env)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket: _Socket | None = None
        self._current_id = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._done: asyncio.Future[Stop] | None = None

    # -- application API ------------------------------------------------------------
    async def run(self) -> Stop:
        """Connect, reconnect as the session decides, deliver events; return the Stop."""
        self._loop = loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.session.start(loop.time(), time.time())
        self._after()
        try:
            return await asyncio.shield(self._done)
        except asyncio.CancelledError:  # close cleanly, then let the cancellation through
            self.close()
            await asyncio.wait_for(asyncio.shield(self._done), 10.0)
            raise
        finally:
            await self._shutdown()

    def close(self) -> None:
        """Close the gateway cleanly (the session stays resumable); ``run()`` returns."""
        if self._loop is not None and self._done is not None and not self._done.done():
            self.session.close(self._loop.time())
            self._after()

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the session stops."""
        items: asyncio.Queue[Event | None] = asyncio.Queue()
        return self._aiterate(items, self._subscribe(items.put_nowait))

    async def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion."""
        return await _shared.run_call_async(call, self.http, asyncio.get_running_loop().time)

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

    def _run_handler(self, handler: Handler, event: Event) -> None:
        pending = _shared.start_handler(handler, event)  # plain functions run inline
        if pending is not None:
            self._spawn(_shared.settle(handler, pending))

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
        result = await _shared.send_async(self.http, cmd.request)
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
            self.session.tls_started(cmd.id, loop.time())
        self._after()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("qqproto task failed", exc_info=task.exception())

    async def _shutdown(self) -> None:
        assert self._loop is not None
        self._save(self._loop.time())
        if self._timer is not None:
            self._timer.cancel()
        if self._socket is not None:
            self._close_socket(self._socket.conn_id)
        pending = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.http.aclose()
        self._end_subscribers()
