"""Helpers for the trio and threaded driver tests (real sockets on 127.0.0.1 only).

* :class:`TlsForwarder` — terminates TLS with the local CA's certificate and forwards the
  plaintext to the simulator, so a driver can be proved to speak ``wss://`` and
  ``https://`` with full verification and SNI (the simulator itself serves plain TCP).
* :func:`wait_until` — poll a condition that depends on real sockets, with a deadline.
* small readers of the simulator's records (thread-safe through ``server.call``).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from qqproto import Settings
from qqproto.events import Event
from qqproto.gateway._backoff import Backoff
from qqproto.gateway._session import ReconnectPolicy
from qqproto.simulator._records import Direction, FrameKind, RecordedFrame
from qqproto.simulator._simulator import Simulator
from qqproto_transports.simulator import SimulatorThread

from .support.server import IO_TIMEOUT, ThreadedServer

__all__ = [
    "TlsForwarder",
    "bot_close_codes",
    "event_names",
    "frames",
    "new_threads",
    "settings_for",
    "simulator",
    "tls_settings_for",
    "wait_until",
]



def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``predicate()`` until it is truthy (real sockets need real time); its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.005)


def settings_for(server: SimulatorThread, **overrides: Any) -> Settings:
    """Settings that point a bot at ``server`` over plain HTTP/WebSocket."""
    return Settings.from_env(server.env(), **overrides)


def tls_settings_for(server: SimulatorThread, forwarder: TlsForwarder,
                     **overrides: Any) -> Settings:
    """Settings for ``https://`` and ``wss://`` through ``forwarder`` (host ``localhost``,
    so SNI is sent); the simulator hands out the ``wss://`` gateway URL.  The bot needs
    the forwarder's CA as its ``ssl_context``."""
    base = f"https://localhost:{forwarder.port}"
    server.call(lambda sim, now: setattr(sim, "gateway_url",
                                         f"wss://localhost:{forwarder.port}/websocket"))
    env = {**server.env(), "QQBOT_API_BASE": base,
           "QQBOT_TOKEN_URL": f"{base}/app/getAppAccessToken"}
    return Settings.from_env(env, **overrides)


def frames(server: SimulatorThread) -> list[RecordedFrame]:
    return server.call(lambda sim, now: list(sim.frames))


def bot_close_codes(server: SimulatorThread) -> list[int | None]:
    """Close codes of the close frames the bot sent, in order."""
    return [f.close_code for f in frames(server)
            if f.direction is Direction.IN and f.kind is FrameKind.CLOSE]


def event_names(events: list[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


def new_threads(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads alive now that were not in ``before`` (trio's idle worker-thread cache
    excepted: it is process-wide and its threads end on their own)."""
    return {t for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith("Trio thread")}


class TlsForwarder(ThreadedServer):
    """``with TlsForwarder(server_ctx, upstream_port) as fwd:`` — TLS on 127.0.0.1:fwd.port,
    plaintext to 127.0.0.1:upstream_port, one thread per connection.

    ``server_names`` records the SNI of every handshake; ``handshake_failures`` counts
    clients that refused the certificate (or were refused).
    """

    name = "tls-forwarder"

    def __init__(self, ssl_context: ssl.SSLContext, upstream_port: int) -> None:
        super().__init__()
        self._ctx = ssl_context
        self._upstream = upstream_port
        self.server_names: list[str | None] = []
        self.handshake_failures = 0
        ssl_context.sni_callback = self._record_sni

    def _record_sni(self, sslobj: Any, name: str | None, ctx: ssl.SSLContext) -> None:
        with self._lock:
            self.server_names.append(name)

    def _serve(self, raw: socket.socket) -> None:
        sockets = [raw]
        try:
            raw.settimeout(IO_TIMEOUT)
            try:
                tls = self._ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                with self._lock:
                    self.handshake_failures += 1
                return
            sockets.append(tls)
            upstream = socket.create_connection(("127.0.0.1", self._upstream), IO_TIMEOUT)
            sockets.append(upstream)
            with self._lock:
                self._open.update((tls, upstream))
            self._pipe(tls, upstream)
        except OSError:
            pass  # a peer went away; the test decides what that means
        finally:
            with self._lock:
                self._open.difference_update(sockets)
            for sock in reversed(sockets):
                sock.close()

    def _pipe(self, tls: ssl.SSLSocket, upstream: socket.socket) -> None:
        with selectors.DefaultSelector() as sel:
            for sock in (tls, upstream, self._wake_r):
                sel.register(sock, selectors.EVENT_READ)
            while True:
                pending = tls.pending() > 0  # decrypted bytes the selector cannot see
                ready = {key.fileobj for key, _ in sel.select(0 if pending else None)}
                if self._wake_r in ready:
                    return
                for source, target in ((tls, upstream), (upstream, tls)):
                    if source in ready or (source is tls and pending):
                        data = source.recv(65536)
                        if not data:
                            return
                        target.sendall(data)


#: A policy that gives up at the first failure, so a failing connect ends the test fast.
NO_RETRY = ReconnectPolicy(max_consecutive_failures=0, backoff=Backoff(base=0.01))
#: Reconnect after a few milliseconds instead of seconds.
QUICK_RETRY = ReconnectPolicy(backoff=Backoff(base=0.01))


@contextlib.contextmanager
def simulator(**options: Any) -> Iterator[SimulatorThread]:
    """A simulator on its own thread with a short heartbeat (200 ms) unless told."""
    options.setdefault("heartbeat_interval_ms", 200)
    with SimulatorThread(Simulator(**options)) as server:
        yield server
