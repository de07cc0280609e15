"""The client half of the WebSocket opening handshake (RFC 6455 §4.1), on h11.

:class:`UpgradeClient` writes the ``GET`` with ``Upgrade: websocket`` and reads the
answer the way wsproto does: a 101 must carry the right ``Sec-WebSocket-Accept`` and
negotiate nothing that was not asked for.  What the outcome means for the gateway
connection is :class:`~qqproto.gateway.GatewayConnection`'s to decide.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult

import h11
from wsproto.utilities import generate_accept_token

from ..errors import LocalProtocolError

__all__ = ["Malformed", "Refused", "UpgradeClient", "Upgraded", "request_target"]

_MAX_ANSWER: Final = 64 * 1024  # the 101 and its headers


def request_target(url: str, parts: SplitResult) -> tuple[str, str]:
    """``(Host header, request target)`` for a ``ws://``/``wss://`` URL already split into
    ``parts``; :class:`LocalProtocolError` for a bad port or host."""
    try:
        port = parts.port
    except ValueError:
        raise LocalProtocolError(f"gateway URL has a bad port: {url!r}") from None
    default_port = 443 if parts.scheme == "wss" else 80
    try:
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except UnicodeError:
        raise LocalProtocolError(f"gateway URL has a bad host: {url!r}") from None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    host_header = host if port in (None, default_port) else f"{host}:{port}"
    return host_header, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The server switched protocols; ``trailing`` are the first WebSocket bytes."""

    trailing: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    """The server answered with a final status other than 101."""

    status: int


@dataclass(frozen=True, slots=True)
class Malformed:
    """The answer is not HTTP, or a 101 that fails the RFC 6455 §4.1 checks."""

    problem: str


class UpgradeClient:
    """Request bytes out, answer bytes in, one outcome.

    ``parts`` is ``url`` split; a bad port or host is a :class:`LocalProtocolError` here,
    before anything is sent.
    """

    __slots__ = ("_entropy", "_h11", "_host_header", "_nonce", "_target", "_user_agent")

    def __init__(self, url: str, parts: SplitResult, *, user_agent: str,
                 entropy: Callable[[int], bytes]) -> None:
        self._host_header, self._target = request_target(url, parts)
        self._user_agent = user_agent
        self._entropy = entropy
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_ANSWER)
        self._nonce = b""

    def request(self) -> bytes:
        """The upgrade request, with a fresh key."""
        # RFC 6455 §4.1: a random 16-byte nonce, base64-encoded.
        self._nonce = base64.b64encode(self._entropy(16))
        request = h11.Request(method="GET", target=self._target, headers=[
            (b"Host", self._host_header.encode("ascii")), (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"), (b"Sec-WebSocket-Key", self._nonce),
            (b"Sec-WebSocket-Version", b"13"),
            (b"User-Agent", self._user_agent.encode("ascii", "replace"))])
        return (self._h11.send(request) or b"") + (self._h11.send(h11.EndOfMessage()) or b"")

    def receive(self, data: bytes) -> Upgraded | Refused | Malformed | None:
        """Feed answer bytes; ``None`` while the answer is incomplete."""
        conn = self._h11
        try:
            conn.receive_data(data)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    return None
                if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                    problem = self._check(event.headers)
                    if problem:
                        return Malformed(problem)
                    break
                if isinstance(event, h11.Response):
                    return Refused(event.status_code)
                # 1xx other than 101: keep waiting for the real answer.
        except h11.RemoteProtocolError as exc:
            return Malformed(f"malformed upgrade response: {exc}")
        trailing, _ = conn.trailing_data
        return Upgraded(bytes(trailing))

    def _check(self, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """RFC 6455 §4.1, the client's checks of the server's 101 (``""``: all pass)."""
        fields: dict[bytes, list[bytes]] = {}
        for name, value in headers:
            fields.setdefault(name.lower(), []).append(value)
        upgrade = b",".join(fields.get(b"upgrade", [])).lower()
        connection = [token.strip() for token in
                      b",".join(fields.get(b"connection", [])).lower().split(b",")]
        if b"websocket" not in upgrade:
            return "101 without 'Upgrade: websocket'"
        if b"upgrade" not in connection:
            return "101 without 'Connection: Upgrade'"
        if fields.get(b"sec-websocket-accept") != [generate_accept_token(self._nonce)]:
            return "101 with a wrong Sec-WebSocket-Accept"
        if b"sec-websocket-extensions" in fields or b"sec-websocket-protocol" in fields:
            return "101 negotiating an extension or subprotocol nobody asked for"
        return ""
