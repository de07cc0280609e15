"""A hostile HTTP server on 127.0.0.1 for the hardening tests: it answers every request
with whatever a script says, as an attacker would — bodies that never end, bodies and
heads trickled a byte at a time, absurd headers, numbers that are not numbers.

``HostileHttpServer(script)``: ``script(method, path, body)`` returns the answer as an
iterable of ``bytes`` (sent as is) and ``float`` (a pause in seconds); the iterable may be
endless.  Every answer stops when the client goes away or the server closes; pauses wake
on close, so no test waits on a hostile answer past its own end.  ``requests`` records
``(method, path)`` of every request.
"""

from __future__ import annotations

import json
import selectors
import socket
from collections.abc import Callable, Iterable, Iterator

from .server import IO_TIMEOUT, ThreadedServer

__all__ = ["Answer", "HostileHttpServer", "chunked", "endless", "json_answer", "trickle"]

Answer = Iterable[bytes | float]
Script = Callable[[str, str, bytes], Answer]


def json_answer(body: object, status: int = 200, headers: Iterable[str] = ()) -> Answer:
    """A well-formed answer with a JSON body (``body`` may be bytes already)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} X", "Content-Type: application/json",
            f"Content-Length: {len(raw)}", *headers]
    return [("\r\n".join(head) + "\r\n\r\n").encode() + raw]


def endless(piece: bytes = b"x" * 65536) -> Iterator[bytes | float]:
    """200 with a chunked body that never ends, as fast as the client reads."""
    yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)
    while True:
        yield frame


def chunked(count: int, piece: bytes = b"x") -> Iterator[bytes | float]:
    """200 with ``count`` chunks of ``piece``, each its own network write."""
    yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for _ in range(count):
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
        yield 0.0
    yield b"0\r\n\r\n"


def trickle(data: bytes, every: float) -> Iterator[bytes | float]:
    """``data`` a byte at a time, ``every`` seconds apart."""
    for i in range(len(data)):
        yield data[i:i + 1]
        yield every


class HostileHttpServer(ThreadedServer):
    name = "hostile-http"

    def __init__(self, script: Script) -> None:
        super().__init__()
        self._script = script
        self.requests: list[tuple[str, str]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)
        try:
            conn.settimeout(IO_TIMEOUT)
            buffered = b""
            while True:
                request, buffered = self._read_request(conn, buffered)
                if request is None:
                    return
                method, path, body = request
                with self._lock:
                    self.requests.append((method, path))
                if not self._answer(conn, self._script(method, path, body)):
                    return
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def _read_request(self, conn: socket.socket, buffered: bytes
                      ) -> tuple[tuple[str, str, bytes] | None, bytes]:
        while b"\r\n\r\n" not in buffered:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buffered += data
        head, _, rest = buffered.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = conn.recv(65536)
            if not data:
                return None, b""
            rest += data
        return (method, path, rest[:length]), rest[length:]

    def _answer(self, conn: socket.socket, answer: Answer) -> bool:
        """Send ``answer``; False when the client or the server went away."""
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            for item in answer:
                if isinstance(item, float):
                    if sel.select(item):  # woken: the server is closing
                        return False
                    continue
                try:
                    conn.sendall(item)
                except OSError:
                    return False
                if self._closed:
                    return False
        return True
