"""The threaded driver: :class:`Bot` (the WebSocket gateway) and :class:`WebhookBot`
(HTTP callbacks) for synchronous programs, with the same application API as the asyncio
driver, blocking: ``bot.run()``, or ``bot.start()`` … ``bot.join()``.

Gateway: one I/O thread owns the session and the socket; a selector waits on the socket
and on a socketpair, with the session's timer as the timeout.  Other threads queue
functions for it and wake it.  HTTP runs on a pool and handlers on another, so a handler
may block for minutes and heartbeats still go out on time.  Only dialling blocks the I/O
thread.  The webhook server, :class:`WebhookBot`, lives in :mod:`._webhook_threads` and
is exported here.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import httpx

from qqproto import Settings
from qqproto.events import Event
from qqproto.gateway import OpenConnection, SendHttpRequest, StartTls, Stop
from qqproto.voice import Transcriber

from ._api import SyncBotApi
from ._backlog import Backlog
from ._bot import BotCore
from ._handlers import Handler, call_handler
from ._httpx import send_sync, sync_http_client
from ._leases import LeaseRunner
from ._media_api import configure_media
from ._shards import LockedPacer, ShardSeed, group_stop
from ._threads_common import WRITE_TIMEOUT as _WRITE_TIMEOUT
from ._threads_common import _close_on_signals
from ._webhook_threads import HANDSHAKE_TIMEOUT as _HANDSHAKE_TIMEOUT
from ._webhook_threads import WebhookBot
from ._workers import HandlerPool

__all__ = ["HANDSHAKE_TIMEOUT", "WRITE_TIMEOUT", "Bot", "WebhookBot"]
WebhookBot.__module__ = __name__  # documented and shown as qqproto_transports.threads's
# Defined where they are used; bound again here, with their doc comments, for autodoc.
#: A write that cannot hand its bytes to the kernel in this long ends the connection.
WRITE_TIMEOUT = _WRITE_TIMEOUT
#: A TLS handshake must finish in this long (a slow-loris bound, like a request's).
HANDSHAKE_TIMEOUT = _HANDSHAKE_TIMEOUT


class Bot(SyncBotApi, BotCore):
    """A QQ bot on the gateway for threads: ``bot.run()`` blocks; or ``bot.start()`` …
    ``bot.join()``.  Parameters as for :class:`qqproto_transports.asyncio.Bot`, and
    ``workers``: how many handlers may run at once (each on a worker thread).
    """

    def __init__(self, settings: Settings, *,
                 session_file: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, workers: int = 4,
                 transcriber: Transcriber | None = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 _seed: ShardSeed | None = None) -> None:
        super().__init__(settings, session_file=session_file, env=env,
                         ssl_context=ssl_context, _seed=_seed)
        configure_media(self, settings, transcriber=transcriber, cache_dir=cache_dir,
                        env=self._env)
        shared = _seed.http if _seed is not None else None  # a shard uses its group's
        self._owns_http = shared is None
        self.http: httpx.Client = (shared if shared is not None
                                   else sync_http_client(settings, self._env, ssl_context))
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
        self._backlog = Backlog(settings.limits.max_pending_events)
        self._workers = HandlerPool(workers, "qqproto-handler", self._backlog,
                                    lambda: self._submit(self._resume_reading))

    # -- application API (any thread) -----------------------------------------------
    def run(self, *, handle_signals: bool = True) -> Stop:
        """Run the gateway on this thread until it stops; the bot's threads are joined.
        On the main thread SIGINT/SIGTERM close cleanly (``handle_signals=False`` leaves
        them alone)."""
        if self.settings.shards is not None:
            return self._run_shards(handle_signals)
        self._io_thread = threading.get_ident()
        wake, self._wake = socket.socketpair()
        self._wake.setblocking(False)
        closing = _close_on_signals(lambda: self.close(timeout=0), handle_signals)
        with closing, self._sel as sel, wake, self._wake:
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

    def _run_shards(self, handle_signals: bool) -> Stop:
        """Run every shard on its own I/O thread until all stopped."""
        if (count := self._shard_count_call()) is not None:
            self._use_shard_count(self.call(count))
        with _close_on_signals(lambda: self.close(timeout=0), handle_signals):
            if self._leased():
                stop = self._run_leased()
            else:
                shards = [s for s in self._make_shards(LockedPacer()) if isinstance(s, Bot)]
                for shard in shards:
                    shard.start()
                stop = group_stop([shard.join() for shard in shards])
        self._flush_store()
        self.http.close()
        self._end_subscribers()
        self.stopped = stop
        self._finished.set()
        return stop

    def _run_leased(self) -> Stop:
        """Run the shards this process holds leases for (qqproto_transports._leases),
        each on its I/O thread; this thread runs the leases, the store calls a pool."""
        assert self._store is not None
        inbox = self._inbox
        pool = ThreadPoolExecutor(2, "qqproto-lease")

        def off_loop(call: Callable[[], object], then: Callable[[object], None]) -> None:
            def work() -> None:
                try:
                    result = call()
                except Exception as exc:  # the store failed: the machine decides
                    result = exc
                inbox.put(lambda: then(result))

            pool.submit(work)

        def start(child: Bot) -> None:
            def ended(result: Future[Stop]) -> None:
                stop = result.exception() or result.result()
                inbox.put(lambda: runner.ended(child, stop))

            child.start()
            child._result.add_done_callback(ended)

        runner = LeaseRunner(self, self._store, off_loop=off_loop, start=start,
                             stop=lambda child: child.close(timeout=0), clock=time.monotonic)
        self._lease_close = lambda: inbox.put(lambda: runner.close(time.monotonic()))
        runner.leases.start(time.monotonic())
        try:
            while not runner.finished:
                when = runner.pump(time.monotonic())
                if runner.finished:
                    break
                timeout = None if when is None else max(0.0, when - time.monotonic())
                with contextlib.suppress(queue.Empty):
                    inbox.get(timeout=timeout)()
                    while True:
                        inbox.get_nowait()()
        finally:
            self._lease_close = None
            pool.shutdown(wait=True)
            runner.shutdown()
        return runner.result()

    def close(self, timeout: float | None = 10.0) -> None:
        """Close the gateway cleanly (the session stays resumable).  Unless called on one
        of the bot's own threads, wait up to ``timeout`` for ``run()`` to return."""
        lease_close = self._lease_close
        if lease_close is not None or self._shards:
            if lease_close is not None:
                lease_close()
            else:
                for shard in self._shards:
                    if isinstance(shard, Bot):
                        shard.close(timeout=0)
            if not threading.current_thread().name.startswith("qqproto-"):
                if self._thread is not None:
                    self._thread.join(timeout)
                else:
                    self._finished.wait(timeout)
            return
        self._submit(lambda: self.session.close(time.monotonic()))
        if (threading.get_ident() == self._io_thread
                or threading.current_thread().name.startswith("qqproto-")):
            return  # a handler or the I/O thread itself cannot wait for the end
        if self._thread is not None:
            self._thread.join(timeout)
        elif self._wake is not None:
            self._finished.wait(timeout)

    def mark_processed(self, which: int | Event | None) -> None:
        if self._shards or self._finished.is_set():  # a group routes it to the shard
            super().mark_processed(which)
        else:  # through the shared dedupe gate, when there is one, on the I/O thread
            self._submit(lambda: BotCore.mark_processed(self, which))

    def events(self) -> Iterator[Event]:
        """Every event from now on, in order; the iterator ends after SessionStopped."""
        items: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        return self._iterate(items, self._subscribe(items.put))

    # -- the I/O thread ---------------------------------------------------------------
    def _loop(self, wake: socket.socket) -> None:
        when = self._pump(time.monotonic())
        with selectors.DefaultSelector() as quiet:  # the wake-up only: reading is paused
            quiet.register(wake, selectors.EVENT_READ)
            while self.stopped is None:
                sock, paused = self._sock, self._backlog.paused
                pending = (not paused and isinstance(sock, ssl.SSLSocket)
                           and sock.pending() > 0)
                timeout = None if when is None else max(0.0, when - time.monotonic())
                sel = quiet if paused else self._sel
                ready = {key.fileobj for key, _ in sel.select(0.0 if pending else timeout)}
                if wake in ready:
                    wake.recv(4096)
                    with contextlib.suppress(queue.Empty):
                        while True:
                            self._inbox.get_nowait()()
                if (not paused and sock is not None and sock is self._sock
                        and (pending or sock in ready)):
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

    def _run_handler(self, handler: Handler, argument: Event) -> None:
        if self._workers.put(call_handler, handler, argument, self.log):
            self.session.set_reading_paused(True)  # backpressure (see _backlog)

    def _resume_reading(self) -> None:
        if not self._backlog.paused:  # (a handler thread said so; _workers)
            self.session.set_reading_paused(False)

    def _off_loop(self, call: Callable[[], object], then: Callable[[object], None]) -> None:
        def work() -> None:
            try:
                result = call()
            except Exception as exc:  # a store that failed: the caller decides
                result = exc
            self._submit(lambda: then(result))

        with contextlib.suppress(RuntimeError):  # shutting down: nothing is marked
            self._io_pool.submit(work)

    # -- other threads ----------------------------------------------------------------
    def _perform(self, cmd: SendHttpRequest) -> None:
        result = send_sync(self.http, cmd.request)
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
        self._workers.shutdown()  # handlers finish; their marks are queued
        if self._owns_http:  # (a shard's client is its group's, closed by the group)
            self.http.close()  # fails a request still in flight, so the pool ends soon
        self._io_pool.shutdown(wait=True)
        with contextlib.suppress(queue.Empty):  # late marks and HTTP results
            while True:
                self._inbox.get_nowait()()
        self._close_socket(self._sock_id)
        self._save(time.monotonic())
        self._flush_store()
        self._end_subscribers()
        self._finished.set()
