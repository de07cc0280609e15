"""The threaded webhook server: a QQ bot on the webhook channel for synchronous programs.

:class:`ThreadedWebhookBot` has the application API of
:class:`~qqproto_transports.threaded_driver.ThreadedBot`.  ``run()`` accepts connections
(a selector on the listening socket and a wake-up socketpair); each connection gets its
own thread, blocking socket and :class:`~qqproto.webhook.WebhookReceiver`, and that
thread also runs the handlers of the dispatches it receives.  A connection handles one
request at a time (``max_pipelined=1``): while an answer is owed it does not read but
waits on its queue for the acknowledgement (from its handlers, or from an application
thread that marks the event), so only its own thread ever touches its receiver.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from qqproto._commands import Stop
from qqproto.errors import RemoteProtocolError
from qqproto.events import Delivery, Event
from qqproto.webhook._receiver import WebhookReceiverState

from ._bot_api import SyncBotApi
from ._shared import BotSettings, Handler, log, run_call_sync, sync_http_client
from ._webhook_shared import BackgroundRun, Ticket, WebhookBotBase, run_handler_sync

__all__ = ["HANDSHAKE_TIMEOUT", "WRITE_TIMEOUT", "ThreadedWebhookBot"]
#: An answer that cannot be handed to the kernel in this long ends the connection.
WRITE_TIMEOUT = 10.0
#: A TLS handshake must finish in this long (a slow-loris bound, like a request's).
HANDSHAKE_TIMEOUT = 30.0
_EOF, _ABORT = "eof", "abort"


class _Conn:
    """One accepted connection, served by its own thread."""

    def __init__(self, bot: ThreadedWebhookBot, sock: socket.socket) -> None:
        self.bot, self.sock = bot, sock
        self.rx = bot._core.new_receiver(time.monotonic())
        self.inbox: queue.SimpleQueue[tuple[Delivery, bool] | str] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self.serve, name="qqproto-webhook-conn",
                                       daemon=True)

    def serve(self) -> None:
        try:
            self._serve()
        except OSError:  # reset, write timeout, failed TLS handshake
            pass
        finally:
            with self.lock:
                self.done = True
            self.rx.close()
            self.bot._core.drain(self.rx, self.post_ack, self.run_ticket)
            self.sock.close()
            self.bot._gone(self)

    def _serve(self) -> None:
        rx, ssl_context = self.rx, self.bot._ssl
        if ssl_context is not None:
            self.sock.settimeout(HANDSHAKE_TIMEOUT)
            with self.lock:
                self.sock = ssl_context.wrap_socket(self.sock, server_side=True,
                                                    do_handshake_on_connect=False)
            self.sock.do_handshake()
        while True:
            if data := rx.data_to_send():
                self.sock.settimeout(WRITE_TIMEOUT)
                self.sock.sendall(data)
            if self.bot._core.drain(rx, self.post_ack, self.run_ticket):
                return
            timer = rx.get_timer()
            timeout = None if timer is None else max(0.0, timer - time.monotonic())
            try:
                if rx.state is WebhookReceiverState.OPEN and not rx.reading_paused:
                    self.sock.settimeout(timeout)  # nothing is owed while reading
                    self._feed(self.sock.recv(65536))
                elif isinstance(item := self.inbox.get(timeout=timeout), tuple):
                    rx.acknowledge(*item)
                elif item == _ABORT:
                    return
                else:
                    self._feed(b"")
            except (TimeoutError, queue.Empty):
                rx.handle_timer(time.monotonic())

    def _feed(self, data: bytes) -> None:
        with contextlib.suppress(RemoteProtocolError):  # the 400 is queued; it closes
            self.rx.receive_data(data, now=time.monotonic(), unix_now=time.time())

    def post_ack(self, delivery: Delivery, ok: bool) -> None:
        with self.lock:
            if not self.done:
                self.inbox.put((delivery, ok))
                return
        self.rx.acknowledge(delivery, ok)  # the thread is gone: the replay cache learns

    def run_ticket(self, ticket: Ticket) -> None:
        for handler in ticket.to_run:  # on this connection's thread
            self.bot._core.handler_done(ticket, run_handler_sync(handler, ticket.dispatch))

    def stop(self, item: str = _EOF) -> None:
        """``eof``: read no more, owed answers still go out; ``abort``: close now."""
        with self.lock, contextlib.suppress(OSError):  # wakes a blocked recv()
            how = socket.SHUT_RDWR if item == _ABORT else socket.SHUT_RD
            socket.socket.shutdown(self.sock, how)
        self.inbox.put(item)


class ThreadedWebhookBot(BackgroundRun, SyncBotApi, WebhookBotBase):  # type: ignore[misc]  # session: see _bot_api
    """A QQ bot on the webhook channel for threads: ``bot.run()`` blocks; or
    ``bot.start()`` … ``bot.join()``.  Parameters:
    :class:`~qqproto_transports._webhook_shared.WebhookBotBase`."""

    _threaded = True  # one request per connection; a locked replay cache

    def __init__(self, settings: BotSettings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.http: httpx.Client = sync_http_client(settings, self._core.env)
        self._conns: set[_Conn] = set()
        self._lock = threading.Lock()
        self._wake: socket.socket | None = None
        self._closing = threading.Event()
        self._io_thread = 0
        self._finished = threading.Event()

    # -- application API (any thread) -----------------------------------------------
    def run(self) -> Stop:
        """Serve callbacks on this thread until :meth:`close`; return the final Stop.

        Lifecycle handlers (:class:`WebhookServing`, ``SessionStopped``) run here too."""
        self._io_thread = threading.get_ident()
        try:
            listener = socket.create_server((self.host, self.port))
            wake, self._wake = socket.socketpair()
            with listener, wake, self._wake, selectors.DefaultSelector() as selector:
                listener.setblocking(False)
                self.port = listener.getsockname()[1]
                selector.register(listener, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                self._run_handlers(*self._core.serving(self.host, self.port,
                                                       tls=self._ssl is not None))
                while not self._closing.is_set():
                    if any(key.fileobj is listener for key, _ in selector.select()):
                        self._accept(listener)
        finally:
            self._shutdown()
        assert self.stopped is not None
        return self.stopped

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting; deliveries in progress get ``close_timeout`` seconds to be
        answered.  Unless called on one of the bot's threads, wait up to ``timeout`` for
        ``run()`` to return."""
        self._closing.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake.send(b"\0")
            if threading.get_ident() != self._io_thread \
                    and not threading.current_thread().name.startswith("qqproto-"):
                self._finished.wait(timeout)

    def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion, blocking."""
        return run_call_sync(call, self.http, time.monotonic)

    def events(self) -> Iterator[Event]:
        """Every event from now on, in order; the iterator ends when the bot stops."""
        return self._core.iterate(queue.SimpleQueue())

    # -- internals ----------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except BlockingIOError:  # another accept took it
            return
        except OSError as exc:  # out of descriptors: let the system recover, as trio does
            log.warning("accept failed: %s", exc)
            time.sleep(0.1)
            return
        sock.setblocking(True)
        conn = _Conn(self, sock)
        with self._lock:
            self._conns.add(conn)
        conn.thread.start()

    def _gone(self, conn: _Conn) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _run_handlers(self, event: Event, handlers: list[Handler]) -> None:
        for handler in handlers:
            run_handler_sync(handler, event)

    def _shutdown(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.stop()
        deadline = time.monotonic() + self.close_timeout
        for conn in conns:
            conn.thread.join(max(0.0, deadline - time.monotonic()))
            if conn.thread.is_alive():
                conn.stop(_ABORT)
                conn.thread.join(1.0)  # a handler that never returns keeps its thread
        self._core.abandon()
        self._run_handlers(*self._core.stopping())
        self.http.close()
        self._core.end_subscribers()
        self.stopped = self._core.stopped
        self._finished.set()
