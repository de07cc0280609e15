"""A threaded TCP echo server on 127.0.0.1, plain or TLS.

The far end of the proxy tests: whatever goes through a tunnel comes back unchanged,
so a test can check the bytes end to end.  ``greeting`` is sent first on every
connection (a server that speaks first, to exercise bytes that arrive right behind the
proxy's answer).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from types import TracebackType

__all__ = ["EchoServer"]

_IO_TIMEOUT = 10.0  # no thread of a test server waits longer than this on a peer


class EchoServer:
    """``with EchoServer() as echo: connect to (echo.host, echo.port)``."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 greeting: bytes = b"") -> None:
        self.host = "127.0.0.1"
        self._ssl_context = ssl_context
        self._greeting = greeting
        self._listener = socket.create_server((self.host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._closed = False
        self.connections = 0  #: connections accepted so far
        self.handshake_failures = 0  #: TLS handshakes that failed (e.g. untrusted client)
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name=f"echo-{self.port}")

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> EchoServer:
        self._accept_thread.start()
        return self

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sockets = list(self._open)
        self._wake_w.send(b"x")  # every selector in this server watches _wake_r
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._accept_thread.join(_IO_TIMEOUT)
        for thread in list(self._threads):
            thread.join(_IO_TIMEOUT)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> EchoServer:
        return self.start()

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in sel.select()}
                if self._wake_r in ready:
                    return
                conn, _ = self._listener.accept()
                with self._lock:
                    if self._closed:
                        conn.close()
                        return
                    self.connections += 1
                    self._open.add(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _serve(self, raw: socket.socket) -> None:
        sock: socket.socket = raw
        try:
            raw.settimeout(_IO_TIMEOUT)
            if self._ssl_context is not None:
                try:
                    sock = self._ssl_context.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._lock:
                        self.handshake_failures += 1
                    return
                with self._lock:
                    self._open.add(sock)
            if self._greeting:
                sock.sendall(self._greeting)
            self._echo(sock)
        except OSError:
            pass  # the peer went away or close() shut the socket: the test decides
        finally:
            with self._lock:
                self._open.discard(raw)
                self._open.discard(sock)
            sock.close()
            raw.close()

    def _echo(self, sock: socket.socket) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                # An SSLSocket may hold decrypted bytes the selector cannot see.
                pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
                if not pending:
                    # No idle limit: close() wakes every selector through _wake_r.
                    ready = {key.fileobj for key, _ in sel.select()}
                    if self._wake_r in ready:
                        return
                data = sock.recv(65536)
                if not data:
                    return
                sock.sendall(data)
