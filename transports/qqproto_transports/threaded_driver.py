"""The threaded driver: a :class:`~qqproto.gateway.GatewaySession` for synchronous programs.

One I/O thread owns the session and the socket: a selector waits on the socket and on a
socketpair, with the session's timer as the timeout.  Other threads queue functions for it
and wake it.  HTTP runs on a pool and handlers on another, so a handler may block for
minutes and heartbeats still go out on time.  Only dialling blocks the I/O thread.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

from qqproto._commands import OpenConnection, SendHttpRequest, StartTls, Stop
from qqproto.events import Dispatch, Event

from . import _shared
from ._bot_api import SyncBotApi
from ._shared import BotCore, BotSettings, Handler

__all__ = ["WRITE_TIMEOUT", "ThreadedBot"]
#: A write that cannot hand its bytes to the kernel in this long ends the connection.
WRITE_TIMEOUT = 10.0


class ThreadedBot(SyncBotApi, BotCore):
    """A QQ bot for threads: ``bot.run()`` blocks; or ``bot.start()`` … ``bot.join()``."""

    def __init__(self, settings: BotSettings, *, session_file: str | None = None,
                 env: dict[str, str] | None = None, workers: int = 4) -> None:
        super().__init__(settings, session_file, env)
        self.http: httpx.Client = _shared.sync_http_client(settings, self._env)
        self._workers = ThreadPoolExecutor(workers, "qqproto-handler")
        self._io_pool = ThreadPoolExecutor(2, "qqproto-http")
        self._inbox: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._wake: socket.socket | None = None
        self._sel: selectors.BaseSelector = selectors.DefaultSelector()
        self._sock: socket.socket | None = None
        self._sock_id = 0
        self._io_thread = 0
        self._thread: threading.Thread | None = None
        self._result: Future[Stop] = Future()
        self._finished = threading.Event()

    # -- application API (any thread) -----------------------------------------------
    def run(self) -> Stop:
        """Run the gateway on this thread until it stops; the bot's threads are joined."""
        self._io_thread = threading.get_ident()
        wake, self._wake = socket.socketpair()
        self._wake.setblocking(False)
        with self._sel as sel, wake, self._wake:
            sel.register(wake, selectors.EVENT_READ)
            try:
                self.session.start(time.monotonic(), time.time())
                self._loop(wake)
            finally:
                self._shutdown()
        assert self.stopped is not None
        return self.stopped

    def start(self) -> None:
        """``run()`` on a background thread named ``qqproto-io``."""
        self._thread = threading.Thread(target=self._run_caught, name="qqproto-io", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> Stop:
        """Wait for the background ``run()``: its Stop, its exception, or TimeoutError."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._result.result(timeout=0)

    def close(self, timeout: float | None = 10.0) -> None:
        """Close the gateway cleanly (the session stays resumable).  Unless called on one
        of the bot's own threads, wait up to ``timeout`` for ``run()`` to return."""
        self._submit(lambda: self.session.close(time.monotonic()))
        if (threading.get_ident() == self._io_thread
                or threading.current_thread().name.startswith("qqproto-")):
            return  # a handler or the I/O thread itself cannot wait for the end
        if self._thread is not None:
            self._thread.join(timeout)
        elif self._wake is not None:
            self._finished.wait(timeout)

    def mark_processed(self, seq: int | Dispatch | None) -> None:
        if isinstance(seq, Dispatch):
            seq = seq.seq
        if self._finished.is_set():
            self.session.mark_processed(seq)
        else:
            self._submit(lambda: self.session.mark_processed(seq))

    def call(self, call: Any) -> Any:
        """Run a sans-IO REST call (``qqproto`` RestClient) to completion, blocking."""
        return _shared.run_call_sync(call, self.http, time.monotonic)

    def events(self) -> Iterator[Event]:
        """Every event from now on, in order; the iterator ends after SessionStopped."""
        items: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        return self._iterate(items, self._subscribe(items.put))

    # -- the I/O thread ---------------------------------------------------------------
    def _loop(self, wake: socket.socket) -> None:
        when = self._pump(time.monotonic())
        while self.stopped is None:
            sock = self._sock
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            timeout = None if when is None else max(0.0, when - time.monotonic())
            ready = {key.fileobj for key, _ in self._sel.select(0.0 if pending else timeout)}
            if wake in ready:
                wake.recv(4096)
                with contextlib.suppress(queue.Empty):
                    while True:
                        self._inbox.get_nowait()()
            if sock is not None and sock is self._sock and (pending or sock in ready):
                self._read(sock)
            now = time.monotonic()
            if (when := self.session.get_timer()) is not None and now >= when:
                self.session.handle_timer(now)
            when = self._pump(now)

    def _read(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return  # only part of a TLS record so far
        except OSError:
            data = b""
        if not data:
            self._close_socket(self._sock_id)
        self.session.receive_data(data, time.monotonic())

    def _write(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.settimeout(WRITE_TIMEOUT)
            sock.sendall(data)
            sock.setblocking(False)
        except OSError:  # the connection is gone: the next read sees EOF
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _http(self, cmd: SendHttpRequest) -> None:
        self._io_pool.submit(self._perform, cmd)

    def _open(self, cmd: OpenConnection) -> None:
        self._connect(cmd, (cmd.host, cmd.port), cmd.host if cmd.tls else None)

    def _start_tls(self, cmd: StartTls) -> None:
        sock = self._sock
        if sock is not None and self._sock_id == cmd.id:
            self._sel.unregister(sock)
            self._sock = None
            self._connect(cmd, sock, cmd.server_hostname)

    def _connect(self, cmd: OpenConnection | StartTls, sock: socket.socket | tuple[str, int],
                 tls_host: str | None) -> None:
        timeout = self.session.policy.connect_timeout
        try:
            if not isinstance(sock, socket.socket):
                sock = socket.create_connection(sock, timeout)
            sock.settimeout(timeout)
            if tls_host is not None:  # SNI and certificate checks for the gateway host
                sock = self._ssl.wrap_socket(sock, server_hostname=tls_host)
        except (OSError, ValueError) as exc:
            if isinstance(sock, socket.socket):
                sock.close()
            self.session.connection_failed(cmd.id, f"{type(exc).__name__}: {exc}",
                                           time.monotonic())
            return
        sock.setblocking(False)
        self._sel.register(sock, selectors.EVENT_READ)
        self._sock, self._sock_id, session = sock, cmd.id, self.session
        done = session.tls_started if isinstance(cmd, StartTls) else session.connection_made
        done(cmd.id, time.monotonic())

    def _close_socket(self, conn_id: int) -> None:
        sock = self._sock
        if sock is not None and self._sock_id == conn_id:
            self._sock = None
            self._sel.unregister(sock)
            sock.close()

    def _run_handler(self, handler: Handler, event: Event) -> None:
        self._workers.submit(_shared.call_handler, handler, event)

    # -- other threads ----------------------------------------------------------------
    def _perform(self, cmd: SendHttpRequest) -> None:
        result = _shared.send_sync(self.http, cmd.request)
        self._submit(lambda: self._http_done(cmd.id, result, time.monotonic()))

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
        self._workers.shutdown(wait=True)  # handlers finish; their marks are queued
        self.http.close()  # fails a request still in flight, so the pool ends soon
        self._io_pool.shutdown(wait=True)
        with contextlib.suppress(queue.Empty):  # late marks and HTTP results
            while True:
                self._inbox.get_nowait()()
        self._close_socket(self._sock_id)
        self._save(time.monotonic())
        self._end_subscribers()
        self._finished.set()
