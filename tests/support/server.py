"""The life cycle every threaded test server shares: listen on 127.0.0.1, one thread per
connection, and a close that wakes and joins everything.

Subclasses implement :meth:`ThreadedServer._serve` (one accepted connection, on its own
thread); every selector they run should also watch ``self._wake_r``, which becomes
readable when the server closes, and sockets they open should go into ``self._open`` so
that close can shut them down.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType
from typing import Self

__all__ = ["IO_TIMEOUT", "ThreadedServer"]

IO_TIMEOUT = 10.0  # no thread of a test server waits longer than this on a peer


class ThreadedServer:
    """A context manager (sync and async) around one listening socket on 127.0.0.1."""

    name = "test-server"

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._closed = False
        self.connections = 0  #: connections accepted so far
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name=f"{self.name}-{self.port}")

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._accept_thread.start()
        return self

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sockets = list(self._open)
        self._wake_w.send(b"x")  # every selector of this server watches _wake_r
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._accept_thread.join(IO_TIMEOUT)
        for thread in list(self._threads):
            thread.join(IO_TIMEOUT)
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
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
