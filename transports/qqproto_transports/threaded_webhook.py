"""The threaded webhook server: a QQ bot on the webhook channel for synchronous programs.

:class:`ThreadedWebhookBot` has the application API of
:class:`~qqproto_transports.threaded_driver.ThreadedBot`.  One I/O thread owns the
listening socket and every connection: a selector waits on them and on a socketpair,
with the earliest receiver timer as the timeout.  Handlers run on a worker pool and
post their acknowledgements back through a queue, so each
:class:`~qqproto._webhook_http.WebhookReceiver` is only ever touched by the I/O thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from qqproto._commands import Stop
from qqproto._webhook import DEFAULT_WEBHOOK_PATH, ReplayCache, WebhookPolicy
from qqproto._webhook_http import Delivery, WebhookReceiverState
from qqproto.errors import RemoteProtocolError
from qqproto.events import Dispatch, Event

from ._shared import BotSettings, Handler, log, run_call_sync, sync_http_client
from ._webhook_shared import DEFAULT_CLOSE_TIMEOUT, Ticket, WebhookCore, run_handler_sync

__all__ = ["ThreadedWebhookBot"]
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
_AGAIN = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class _Conn:
    """One accepted (maybe TLS) socket, its receiver and its unsent answers."""

    def __init__(self, bot: ThreadedWebhookBot, sock: socket.socket, tls: bool) -> None:
        self.bot, self.sock = bot, sock
        self.rx = bot._core.new_receiver(time.monotonic())
        self.out = bytearray()
        self.handshaking, self.want_write = tls, False
        self.mask = 0
        self.eof = self.finished = self.closed = False

    def buffered(self) -> bool:
        """TLS bytes already decrypted: the selector would not report them."""
        return (isinstance(self.sock, ssl.SSLSocket) and not self.handshaking
                and bool(self.mask & _READ) and self.sock.pending() > 0)

    def ready(self, readable: bool, writable: bool) -> None:
        if self.handshaking:
            assert isinstance(self.sock, ssl.SSLSocket)
            try:
                self.sock.do_handshake()
            except ssl.SSLWantReadError:
                self.want_write = False
            except ssl.SSLWantWriteError:
                self.want_write = True
            except OSError:  # includes ssl.SSLError: a failed handshake
                self.close()
            else:
                self.handshaking = False
            self.after()
            return
        if writable and self.out:
            self._send()
        if readable and not self.closed:
            try:
                data = self.sock.recv(65536)
            except _AGAIN:
                return
            except OSError:
                data = b""
            self.feed(data)

    def feed(self, data: bytes) -> None:
        """Bytes from the socket (``b""``: EOF, also injected by a graceful close)."""
        if self.eof or self.finished:
            return
        self.eof = not data
        with contextlib.suppress(RemoteProtocolError):  # the 400 is queued; it closes
            self.rx.receive_data(data, now=time.monotonic(), unix_now=time.time())
        self.after()

    def post_ack(self, delivery: Delivery, ok: bool) -> None:
        self.bot._submit(lambda: self.ack(delivery, ok))  # any thread → the I/O thread

    def ack(self, delivery: Delivery, ok: bool) -> None:
        self.rx.acknowledge(delivery, ok)
        self.after()

    def after(self) -> None:
        if self.closed:
            return
        self.out += self.rx.data_to_send()
        if self.bot._core.drain(self.rx, self.post_ack, self.bot._run_ticket):
            self.finished = True
        if self.out:
            self._send()
        elif self.finished:
            self.close()
        if self.closed:
            return
        mask = (_WRITE if self.want_write else _READ) if self.handshaking else 0
        if not self.handshaking and not self.eof and not self.rx.reading_paused \
                and self.rx.state is WebhookReceiverState.OPEN:
            mask |= _READ  # unset while answers are owed: TCP backpressure
        if self.out:
            mask |= _WRITE
        self.bot._interest(self, mask)

    def _send(self) -> None:
        try:
            del self.out[:self.sock.send(self.out)]
        except _AGAIN:
            pass
        except OSError:
            self.close()
            return
        if self.finished and not self.out:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.finished:
            self.finished = True
            self.rx.close()
            self.bot._core.drain(self.rx, self.post_ack, self.bot._run_ticket)
        self.bot._interest(self, 0)
        self.bot._conns.discard(self)
        self.sock.close()


class ThreadedWebhookBot:
    """A QQ bot on the webhook channel for threads: ``bot.run()`` blocks; or
    ``bot.start()`` … ``bot.join()``.  Parameters as for
    :class:`~qqproto_transports.asyncio_webhook.AsyncioWebhookBot`, plus ``workers``."""

    def __init__(self, settings: BotSettings, *, host: str = "127.0.0.1", port: int = 0,
                 path: str = DEFAULT_WEBHOOK_PATH, policy: WebhookPolicy | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 replay_cache: ReplayCache | None = None, env: dict[str, str] | None = None,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT, workers: int = 4,
                 receiver_options: dict[str, Any] | None = None) -> None:
        self._core = core = WebhookCore(settings, path=path, policy=policy,
                                        replay_cache=replay_cache, env=env,
                                        receiver_options=receiver_options)
        self.settings, self.session, self.handlers = settings, core.session, core.handlers
        self.on = core.handlers.on
        self.observers = core.observers
        self.http: httpx.Client = sync_http_client(settings, core.env)
        self.host, self.port, self.close_timeout = host, port, close_timeout
        self._ssl = ssl_context
        self._workers = ThreadPoolExecutor(workers, "qqproto-handler")
        self._inbox: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._sel: selectors.BaseSelector = selectors.DefaultSelector()
        self._wake: socket.socket | None = None
        self._conns: set[_Conn] = set()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._io_thread = 0
        self._result: Future[Stop] = Future()
        self._finished = threading.Event()
        self.stopped: Stop | None = None

    @property
    def url(self) -> str | None:
        """The callback URL being served, once ``run()`` listens."""
        return self._core.url

    # -- application API (any thread) -----------------------------------------------
    def run(self) -> Stop:
        """Serve callbacks on this thread until :meth:`close`; return the final Stop."""
        self._io_thread = threading.get_ident()
        listener = socket.create_server((self.host, self.port))
        wake, self._wake = socket.socketpair()
        with self._sel, listener, wake, self._wake:
            listener.setblocking(False)
            self._wake.setblocking(False)
            self.port = listener.getsockname()[1]
            self._sel.register(listener, _READ)
            self._sel.register(wake, _READ)
            try:
                self._run_handlers(*self._core.serving(self.host, self.port,
                                                       tls=self._ssl is not None))
                self._loop(listener, wake)
            finally:
                self._shutdown()
        assert self.stopped is not None
        return self.stopped

    def start(self) -> None:
        """``run()`` on a background thread named ``qqproto-webhook``."""
        self._thread = threading.Thread(target=self._run_caught, name="qqproto-webhook",
                                        daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> Stop:
        """Wait for the background ``run()``: its Stop, its exception, or TimeoutError."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._result.result(timeout=0)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting; deliveries in progress get ``close_timeout`` seconds to be
        answered.  Unless called on one of the bot's threads, wait up to ``timeout`` for
        ``run()`` to return."""
        self._closing.set()
        self._submit(lambda: None)
        if (self._wake is not None and threading.get_ident() != self._io_thread
                and not threading.current_thread().name.startswith("qqproto-")):
            self._finished.wait(timeout)

    def mark_processed(self, seq: int | Dispatch | None) -> None:
        """Done with this dispatch (by seq, or the event) and all delivered before it."""
        self._core.mark_processed(seq)

    def mark_failed(self, seq: int | Dispatch | None) -> None:
        """Answer op 12 ``d = 1`` for this dispatch: the platform should redeliver it."""
        self._core.mark_failed(seq)

    def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion, blocking."""
        return run_call_sync(call, self.http, time.monotonic)

    def events(self) -> Iterator[Event]:
        """Every event from now on, in order; the iterator ends when the bot stops."""
        return self._core.iterate(queue.SimpleQueue())

    def aiter_events(self, loop: asyncio.AbstractEventLoop | None = None,
                     ) -> AsyncIterator[Event]:
        """``async for event in bot.aiter_events():`` on an asyncio loop (the running one)."""
        items: asyncio.Queue[Event | None] = asyncio.Queue()
        target = loop or asyncio.get_running_loop()
        put = self._core.subscribe(
            lambda event: target.call_soon_threadsafe(items.put_nowait, event))
        return self._core.aiterate(items.get, put)

    # -- the I/O thread -----------------------------------------------------------------
    def _loop(self, listener: socket.socket, wake: socket.socket) -> None:
        grace_until: float | None = None
        while True:
            if self._closing.is_set() and grace_until is None:
                self._sel.unregister(listener)
                grace_until = time.monotonic() + self.close_timeout
                for conn in list(self._conns):
                    conn.feed(b"")  # as if the peer closed: owed answers still go out
            if grace_until is not None and (not self._conns or time.monotonic() >= grace_until):
                return
            timers = [t for c in self._conns if (t := c.rx.get_timer()) is not None]
            timers += [grace_until] if grace_until is not None else []
            buffered = [c for c in self._conns if c.buffered()]
            timeout = 0.0 if buffered else (
                max(0.0, min(timers) - time.monotonic()) if timers else None)
            for key, mask in self._sel.select(timeout):
                if key.fileobj is wake:
                    wake.recv(4096)
                    with contextlib.suppress(queue.Empty):
                        while True:
                            self._inbox.get_nowait()()
                elif key.fileobj is listener:
                    self._accept(listener)
                else:
                    key.data.ready(bool(mask & _READ), bool(mask & _WRITE))
            for conn in buffered:
                conn.ready(True, False)
            now = time.monotonic()
            for conn in list(self._conns):
                if (when := conn.rx.get_timer()) is not None and now >= when:
                    conn.rx.handle_timer(now)
                    conn.after()

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except OSError as exc:  # nothing after all, or out of descriptors: retry later
            if not isinstance(exc, BlockingIOError):
                log.warning("accept failed: %s", exc)
            return
        sock.setblocking(False)
        if self._ssl is not None:
            sock = self._ssl.wrap_socket(sock, server_side=True,
                                         do_handshake_on_connect=False)
        conn = _Conn(self, sock, tls=self._ssl is not None)
        self._conns.add(conn)
        conn.after()

    def _interest(self, conn: _Conn, mask: int) -> None:
        if mask == conn.mask:
            return
        if conn.mask == 0:
            self._sel.register(conn.sock, mask, conn)
        elif mask == 0:
            self._sel.unregister(conn.sock)
        else:
            self._sel.modify(conn.sock, mask, conn)
        conn.mask = mask

    def _run_ticket(self, ticket: Ticket) -> None:
        for handler in ticket.to_run:
            self._workers.submit(self._handle, handler, ticket)

    def _handle(self, handler: Handler, ticket: Ticket) -> None:
        self._core.handler_done(ticket, run_handler_sync(handler, ticket.dispatch))

    def _run_handlers(self, event: Event, handlers: list[Handler]) -> None:
        for handler in handlers:
            self._workers.submit(run_handler_sync, handler, event)

    def _submit(self, fn: Callable[[], object]) -> None:
        self._inbox.put(fn)
        if self._wake is not None:
            with contextlib.suppress(OSError):  # already awake, or shut down
                self._wake.send(b"\0")

    def _run_caught(self) -> None:
        try:
            self._result.set_result(self.run())
        except BaseException as exc:
            self._result.set_exception(exc)

    def _shutdown(self) -> None:
        for conn in list(self._conns):
            conn.close()
        self._core.abandon()
        self._run_handlers(*self._core.stopping())
        self._workers.shutdown(wait=True)  # handlers finish; their acks are queued
        with contextlib.suppress(queue.Empty):  # late acks: the replay cache learns
            while True:
                self._inbox.get_nowait()()
        self.http.close()
        self._core.end_subscribers()
        self.stopped = self._core.stopped
        self._finished.set()
