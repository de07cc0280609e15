"""The threaded webhook server: :class:`WebhookBot` (exported by
:mod:`qqproto_transports.threads`) serves HTTP callbacks for synchronous programs.  Every
accepted connection is served by its own thread, with a blocking socket and its own
:class:`~qqproto.webhook.WebhookReceiver`; handlers run on that thread, and a connection
answers one request at a time.  At most ``settings.limits.max_webhook_connections``
connections are served at once: when all are taken, the one that has waited for request
bytes the longest (an idle keep-alive, a slow-loris trickle) is shed for the newcomer.
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

from qqproto import Settings
from qqproto.errors import RemoteProtocolError
from qqproto.events import Delivery, Event
from qqproto.gateway import Stop
from qqproto.webhook import WebhookReceiverState

from ._api import SyncBotApi
from ._handlers import Handler, call_handler
from ._httpx import sync_http_client
from ._threads_common import WRITE_TIMEOUT, _close_on_signals
from ._webhook_core import BackgroundRun, Ticket, WebhookBotBase

__all__ = ["HANDSHAKE_TIMEOUT", "WebhookBot"]
#: A TLS handshake must finish in this long (a slow-loris bound, like a request's).
HANDSHAKE_TIMEOUT = 30.0
_EOF, _ABORT = "eof", "abort"


class _WebhookConn:
    """One accepted connection, served by its own thread (one of the bounded pool)."""

    def __init__(self, bot: WebhookBot, sock: socket.socket) -> None:
        self.bot, self.sock = bot, sock
        self.rx = bot._core.new_receiver(time.monotonic())
        self.inbox: queue.SimpleQueue[tuple[Delivery, bool] | str] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.done = False
        #: Shedding: a busy connection owes an answer; an idle or stalled one has
        #: waited for request bytes since ``since`` (its last answer, or its accept).
        self.busy = False
        self.since = time.monotonic()
        self.timeout: float | None = None  # the socket's, as last set
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
            finished = self.bot._core.drain(rx, self.post_ack, self.run_ticket)
            if data := rx.data_to_send():
                self._timeout(WRITE_TIMEOUT)
                self.sock.sendall(data)
                self.since = time.monotonic()
            if finished:
                return
            self.busy = not (rx.state is WebhookReceiverState.OPEN and not rx.reading_paused)
            timer = rx.get_timer()
            timeout = None if timer is None else timer - time.monotonic()
            if timeout is not None and timeout <= 0:  # due now: a zero socket timeout
                rx.handle_timer(time.monotonic())  # would be non-blocking, not a wait
                continue
            try:
                if rx.state is WebhookReceiverState.OPEN and not rx.reading_paused:
                    # Nothing is owed while reading.  A read waits at most WRITE_TIMEOUT, the
                    # writes' own limit, so that reads and writes share one socket timeout
                    # (no system call to switch per request); an early wake-up finds no
                    # timer due and reads again.
                    self._timeout(WRITE_TIMEOUT if timeout is None or timeout >= WRITE_TIMEOUT
                                  else timeout)
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

    def _timeout(self, seconds: float) -> None:
        """Set the socket's timeout unless it is set so already (a system call each)."""
        if seconds != self.timeout:
            self.sock.settimeout(seconds)
            self.timeout = seconds

    def post_ack(self, delivery: Delivery, ok: bool) -> None:
        with self.lock:
            if not self.done:
                self.inbox.put((delivery, ok))
                return
        self.rx.acknowledge(delivery, ok)  # the thread is gone: the replay cache learns

    def run_ticket(self, ticket: Ticket) -> None:
        self.busy = True  # a delivery is being handled: never shed
        self.bot._core.run_ticket_sync(ticket)  # on this connection's thread

    def stop(self, item: str = _EOF) -> None:
        """``eof``: read no more, owed answers still go out; ``abort``: close now."""
        with self.lock, contextlib.suppress(OSError):  # wakes a blocked recv()
            how = socket.SHUT_RDWR if item == _ABORT else socket.SHUT_RD
            socket.socket.shutdown(self.sock, how)
        self.inbox.put(item)


class WebhookBot(BackgroundRun, SyncBotApi, WebhookBotBase):
    """A QQ bot on the webhook channel for threads: ``bot.run()`` blocks; or
    ``bot.start()`` … ``bot.join()``.  The parameters are
    :class:`~qqproto_transports._webhook_core.WebhookBotBase`'s."""

    _threaded = True  # one request per connection; a locked replay cache

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.http: httpx.Client = sync_http_client(settings, self._core.env,
                                                   self._client_ssl)
        self._conns: set[_WebhookConn] = set()
        self._lock = threading.Lock()
        self._wake: socket.socket | None = None
        self._closing = threading.Event()
        self._io_thread = 0
        self._finished = threading.Event()

    # -- application API (any thread) -----------------------------------------------
    def run(self, *, handle_signals: bool = True) -> Stop:
        """Serve callbacks on this thread until :meth:`close`; return the final Stop.
        On the main thread SIGINT/SIGTERM close cleanly.  Lifecycle handlers
        (``WebhookServing``, ``SessionStopped``) run here too."""
        self._io_thread = threading.get_ident()
        closing = _close_on_signals(lambda: self.close(timeout=0), handle_signals)
        try:
            listener = socket.create_server((self.host, self.port))
            wake, self._wake = socket.socketpair()
            with closing, listener, wake, self._wake, selectors.DefaultSelector() as selector:
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
            self.log.warning("accept failed: %s", exc)
            time.sleep(0.1)
            return
        sock.setblocking(True)
        if not self._make_room():
            sock.close()  # every worker is handling a delivery: the newcomer is shed
            return
        conn = _WebhookConn(self, sock)
        with self._lock:
            self._conns.add(conn)
        conn.thread.start()

    def _make_room(self) -> bool:
        """Keep the pool within ``limits.max_webhook_connections``: when it is full, shed
        the connection that has waited for request bytes the longest (idle keep-alive or
        a slow-loris trickle); False when every one owes an answer."""
        with self._lock:
            if len(self._conns) < self.settings.limits.max_webhook_connections:
                return True
            victim = min((c for c in self._conns if not c.busy), key=lambda c: c.since,
                         default=None)
        if victim is None:
            self.log.warning("webhook connection refused: all workers are busy")
            return False
        victim.stop(_ABORT)
        victim.thread.join(1.0)
        return True

    def _gone(self, conn: _WebhookConn) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _run_handlers(self, event: Event, calls: list[tuple[Handler, Event]]) -> None:
        for handler, argument in calls:
            call_handler(handler, argument, self.log)

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
