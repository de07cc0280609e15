"""A threaded TCP echo server on 127.0.0.1, plain or TLS.

The far end of the proxy tests: whatever goes through a tunnel comes back unchanged,
so a test can check the bytes end to end.  ``greeting`` is sent first on every
connection (a server that speaks first, to exercise bytes that arrive right behind the
proxy's answer).
"""

from __future__ import annotations

import selectors
import socket
import ssl

from .server import IO_TIMEOUT, ThreadedServer

__all__ = ["EchoServer"]



class EchoServer(ThreadedServer):
    """``with EchoServer() as echo: connect to (echo.host, echo.port)``."""

    name = "echo"

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 greeting: bytes = b"") -> None:
        super().__init__()
        self._ssl_context = ssl_context
        self._greeting = greeting
        self.handshake_failures = 0  #: TLS handshakes that failed (e.g. untrusted client)

    def _serve(self, raw: socket.socket) -> None:
        sock: socket.socket = raw
        try:
            raw.settimeout(IO_TIMEOUT)
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
