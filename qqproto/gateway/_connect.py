"""The byte stream a gateway connection runs on: TCP straight to the gateway, or TCP to a
proxy, the tunnel through it (HTTP CONNECT or SOCKS5), then TLS (DESIGN.md §3).

:class:`Connector` turns a gateway URL into :class:`~qqproto.gateway.OpenConnection`
and, behind a proxy, :class:`~qqproto.gateway.StartTls` commands, runs the tunnel on the
bytes the driver feeds in, and reports a :class:`StreamOpen` once the WebSocket upgrade
may be written.  Deadlines, retries and what a failure means are the supervisor's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .._commands import CloseConnection, Command, OpenConnection, StartTls
from ..errors import ProxyError
from ..proxy._config import Direct, ProxyConfig, resolve_proxy
from ..proxy._tunnels import Tunnel, open_tunnel

__all__ = ["Connector", "StreamOpen", "gateway_target"]


def gateway_target(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of a ``ws://`` or ``wss://`` gateway URL (a bad port falls
    back to the scheme's default)."""
    parts = urlsplit(url)
    tls = parts.scheme == "wss"
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:
        port = 443 if tls else 80
    return parts.hostname or "", port, tls


@dataclass(frozen=True, slots=True)
class StreamOpen:
    """Connection ``id`` now carries bytes to the gateway itself; ``initial`` are bytes
    of the gateway's that arrived with the proxy's answer (plain ``ws://`` only)."""

    id: int
    initial: bytes = b""


class Connector:
    """One connection attempt at a time, from :meth:`connect` to :class:`StreamOpen`.

    Commands go to the supervisor's queue; ``pending`` is the id of the attempt under
    way (``None`` once its stream is open or it was given up).  Proxy failures surface
    as :class:`~qqproto.errors.ProxyError` from :meth:`receive_data` and
    :meth:`handle_timer`.
    """

    __slots__ = ("_app_id", "_commands", "_new_id", "_proxy", "_proxy_env",
                 "_proxy_override", "_target", "_tls_id", "_tunnel", "pending")

    def __init__(self, commands: deque[Command], new_id: Callable[[], int], *,
                 app_id: str, proxy_env: Mapping[str, str],
                 proxy: str | ProxyConfig | Direct | None) -> None:
        self._commands = commands
        self._new_id = new_id
        self._app_id = app_id
        # Proxy settings: the driver passes its environment as data (DESIGN.md §3).
        self._proxy_env = dict(proxy_env)
        self._proxy_override = proxy
        self._proxy: ProxyConfig | None = None
        self._target: tuple[str, int, bool] = ("", 0, False)
        self._tunnel: Tunnel | None = None
        self._tls_id: int | None = None
        self.pending: int | None = None

    @property
    def tunnelling(self) -> bool:
        """Whether the bytes the driver feeds belong to a proxy tunnel in progress."""
        return self._tunnel is not None

    def connect(self, url: str) -> None:
        """Queue the :class:`OpenConnection` for ``url``: to the gateway, or to the proxy
        the settings name for it.  Raises :class:`~qqproto.errors.ProxyConfigError` (and
        queues nothing) for an unusable proxy setting."""
        host, port, tls = gateway_target(url)
        proxy = resolve_proxy(url, self._proxy_env, self._proxy_override)
        self._proxy = proxy
        self._target = (host, port, tls)
        connection_id = self.pending = self._new_id()
        if proxy is None:
            self._commands.append(OpenConnection(id=connection_id, url=url, host=host,
                                                 port=port, tls=tls))
        else:
            self._commands.append(OpenConnection(id=connection_id, url=url, host=proxy.host,
                                                 port=proxy.port, tls=False, via=str(proxy)))

    def connection_made(self, connection_id: int, now: float) -> StreamOpen | None:
        """The socket is open: the stream, or (behind a proxy) the tunnel's first bytes.
        A socket that is not the pending attempt's is closed."""
        if connection_id != self.pending:
            self._commands.append(CloseConnection(id=connection_id))
            return None
        proxy = self._proxy
        if proxy is not None:
            # Tunnel first (the supervisor's connect deadline keeps running).
            host, port, _ = self._target
            self._tunnel = open_tunnel(host, port, proxy, app_id=self._app_id)
            self._tunnel.initiate(now)
            return None
        return self._open(connection_id, b"")

    def tls_started(self, connection_id: int) -> StreamOpen | None:
        """TLS through the tunnel is up."""
        if connection_id != self._tls_id:
            return None
        self._tls_id = None
        return self._open(connection_id, b"")

    def receive_data(self, data: bytes) -> StreamOpen | None:
        """Bytes from the proxy while :attr:`tunnelling`."""
        tunnel = self._tunnel
        assert tunnel is not None and self.pending is not None
        tunnel.receive_data(data)
        established = tunnel.next_event()
        if established is None:
            return None
        self._tunnel = None
        host, _, tls = self._target
        if not tls:
            return self._open(self.pending, established.trailing_data)
        if established.trailing_data:
            # A TLS server never speaks first: these bytes cannot be the target's.
            raise ProxyError("proxy sent data before TLS started", retryable=True)
        self._tls_id = self.pending
        self._commands.append(StartTls(id=self.pending, server_hostname=host))
        return None

    def data_to_send(self) -> bytes:
        tunnel = self._tunnel
        return tunnel.data_to_send() if tunnel is not None else b""

    def get_timer(self) -> float | None:
        tunnel = self._tunnel
        return tunnel.get_timer() if tunnel is not None else None

    def handle_timer(self, now: float) -> None:
        tunnel = self._tunnel
        if tunnel is not None:
            tunnel.handle_timer(now)

    def failed(self, connection_id: int) -> bool:
        """The driver could not open (or secure) ``connection_id``: forget the attempt.
        ``False`` for a connection that is not the pending attempt's."""
        if connection_id != self.pending:
            return False
        self._forget()
        return True

    def abandon(self) -> None:
        """Give the pending attempt up (timeout, proxy failure, stop) and close its
        socket."""
        connection_id = self.pending
        self._forget()
        if connection_id is not None:
            self._commands.append(CloseConnection(id=connection_id))

    def _open(self, connection_id: int, initial: bytes) -> StreamOpen:
        self.pending = None
        return StreamOpen(connection_id, initial)

    def _forget(self) -> None:
        self.pending = None
        self._tunnel = None
        self._tls_id = None
