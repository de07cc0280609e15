"""The asyncio driver: moves bytes, timers and HTTP for a :class:`~qqproto.GatewaySession`.

All protocol decisions (what to send, when to reconnect, what a close code means) are the
session's; this file only performs the commands it emits and feeds back what happened.
Events reach the application through ``async for event in bot.events()`` and/or
``@bot.on(...)`` handlers, which run as tasks so a slow handler never delays a heartbeat
(a handler that *blocks* the loop still does: run blocking work in a thread).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import httpx

from qqproto._commands import CloseConnection, OpenConnection, SendHttpRequest, StartTls, Stop
from qqproto._session import GatewaySession
from qqproto.events import Event, SessionStopped

from ._bot_api import AsyncBotApi
from ._shared import (
    BotSettings,
    FileSessionStore,
    Handlers,
    async_http_client,
    httpx_request_args,
    log,
    make_session,
    run_call_async,
    to_http_response,
    verified_ssl_context,
)

__all__ = ["AsyncioBot"]
T = TypeVar("T")


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


class AsyncioBot(AsyncBotApi):
    """A QQ bot on asyncio.  ``await bot.run()`` until it stops; ``bot.close()`` to stop."""

    def __init__(self, settings: BotSettings, *, session_file: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._env = dict(os.environ if env is None else env)
        self._store = FileSessionStore(session_file) if session_file else None
        self.session: GatewaySession = make_session(
            settings, self._store.load() if self._store else None, self._env)
        self.handlers = Handlers()
        self.on = self.handlers.on
        self.http: httpx.AsyncClient = async_http_client(settings, self._env)
        self._ssl = verified_ssl_context(settings.ssl_context)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._socket: _Socket | None = None
        self._current_id = 0
        self._saved_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscribers: list[asyncio.Queue[Event | None]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._done: asyncio.Future[Stop] | None = None
        self.stopped: Stop | None = None

    # -- application API ------------------------------------------------------------
    async def run(self) -> Stop:
        """Connect, reconnect as the session decides, deliver events; return the Stop."""
        self._loop = loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.session.start(loop.time(), time.time())
        self._after()
        try:
            return await asyncio.shield(self._done)
        except asyncio.CancelledError:
            self.close()
            await asyncio.wait_for(asyncio.shield(self._done), 10.0)
            raise
        finally:
            await self._shutdown()

    def close(self) -> None:
        """Close the gateway cleanly (the session stays resumable); ``run()`` returns."""
        if self._loop is not None and not self._done_set():
            self.session.close(self._loop.time())
            self._after()

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until the session stops."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.append(queue)  # subscribed now, not at the first iteration
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[Event | None]) -> AsyncIterator[Event]:
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._subscribers.remove(queue)

    def mark_processed(self, seq: int | None) -> None:
        self.session.mark_processed(seq)

    async def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion."""
        return await run_call_async(call, self.http, asyncio.get_running_loop().time)

    # -- the pump: called after every input to the session --------------------------
    def _after(self) -> None:
        session, loop = self.session, self._loop
        assert loop is not None
        self._flush()
        while (cmd := session.next_command()) is not None:
            if isinstance(cmd, SendHttpRequest):
                self._spawn(self._http(cmd))
            elif isinstance(cmd, OpenConnection):
                self._current_id = cmd.id
                self._spawn(self._open(cmd))
            elif isinstance(cmd, StartTls):
                self._spawn(self._start_tls(cmd))
            elif isinstance(cmd, CloseConnection):
                self._drop_socket(cmd.id)
            elif isinstance(cmd, Stop):
                self.stopped = cmd
        while (event := session.next_event()) is not None:
            self._deliver(event)
        if self._timer is not None:
            self._timer.cancel()
        when = session.get_timer()
        self._timer = loop.call_at(when, self._on_timer) if when is not None else None
        if self._store is not None and loop.time() - self._saved_at >= 1.0:
            self._saved_at = loop.time()
            self._store.save(session.snapshot(time.time()))
        if self.stopped is not None and not self._done_set():
            assert self._done is not None
            self._done.set_result(self.stopped)

    def _flush(self) -> None:
        data = self.session.data_to_send()
        sock = self._socket
        if data and sock is not None and sock.transport is not None:
            sock.transport.write(data)

    def _deliver(self, event: Event) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)
            if type(event) is SessionStopped:
                queue.put_nowait(None)
        for handler in self._delivery_handlers(event):  # the auto-ACK hook, then handlers
            try:
                result = handler(event)  # plain functions run inline: no task per event
            except Exception:
                log.exception("handler %r failed on %s", handler, type(event).__name__)
                continue
            if result is not None and inspect.isawaitable(result):
                self._spawn(result)

    def _on_timer(self) -> None:
        assert self._loop is not None
        self._timer = None
        self.session.handle_timer(self._loop.time())
        self._after()

    def _feed(self, conn_id: int, data: bytes) -> None:
        if self._socket is None or self._socket.conn_id != conn_id or self._loop is None:
            return
        if not data:
            self._drop_socket(conn_id)
        self.session.receive_data(data, self._loop.time())
        self._after()

    # -- carrying out commands --------------------------------------------------------
    async def _http(self, cmd: SendHttpRequest) -> None:
        assert self._loop is not None
        try:
            response = await self.http.request(**httpx_request_args(cmd.request))
        except httpx.HTTPError as exc:
            self.session.http_failed(cmd.id, f"{type(exc).__name__}: {exc}", self._loop.time())
        else:
            self.session.http_response(cmd.id, to_http_response(response), self._loop.time())
        self._after()

    async def _open(self, cmd: OpenConnection) -> None:
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

    async def _start_tls(self, cmd: StartTls) -> None:
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

    def _drop_socket(self, conn_id: int) -> None:
        sock = self._socket
        if sock is not None and sock.conn_id == conn_id:
            self._socket = None
            if sock.transport is not None:
                sock.transport.close()  # pending writes (the close frame) are flushed first

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("qqproto task failed", exc_info=task.exception())

    def _done_set(self) -> bool:
        return self._done is not None and self._done.done()

    async def _shutdown(self) -> None:
        if self._store is not None:
            self._store.save(self.session.snapshot(time.time()))
        if self._timer is not None:
            self._timer.cancel()
        if self._socket is not None:
            self._drop_socket(self._socket.conn_id)
        pending = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.http.aclose()
        for queue in self._subscribers:
            queue.put_nowait(None)
