"""What the gateway supervisor asks a driver to do, as data.

A driver executes these literally and reports the outcome back with the matching ``id``;
it needs no protocol knowledge (DESIGN.md §3).  Waiting is not a command: it is the
deadline :meth:`GatewaySession.get_timer` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._http import HttpRequest

__all__ = ["CloseConnection", "Command", "OpenConnection", "SendHttpRequest", "StartTls", "Stop"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Base class of driver commands."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendHttpRequest(Command):
    """Perform ``request``; answer with ``http_response(id, …)`` or ``http_failed(id, …)``.

    ``purpose`` (``"token"`` or ``"gateway"``) is for logs only.
    """

    id: int
    request: HttpRequest
    purpose: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenConnection(Command):
    """Open a TCP connection to ``host``:``port`` (TLS with SNI ``host`` and full
    certificate verification when ``tls``); answer ``connection_made(id, now)`` or
    ``connection_failed(id, reason, now)``.  ``url`` is the gateway URL; ``via`` names
    the proxy (credentials redacted) when ``host`` is a proxy, for logs."""

    id: int
    url: str
    host: str
    port: int
    tls: bool
    via: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StartTls(Command):
    """Start TLS on connection ``id`` (now a tunnel through a proxy) with SNI and
    certificate checks for ``server_hostname``; answer ``tls_started(id, now)`` or
    ``connection_failed(id, reason, now)``."""

    id: int
    server_hostname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseConnection(Command):
    """Flush :meth:`data_to_send`, then close the socket of connection ``id`` and stop
    reading from it."""

    id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop(Command):
    """The supervisor is done.  ``fatal`` is False only when the application asked."""

    reason: str
    fatal: bool
    close_code: int | None = None
