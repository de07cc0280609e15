"""Opening a tunnel through a proxy, sans-IO: HTTP CONNECT (h11) and SOCKS5 (socksio).

A driver that :func:`~qqproto.proxy.resolve_proxy` told to use a proxy opens a TCP
connection to the proxy, then runs a tunnel object over it until the tunnel is
established, then starts TLS to the real target inside it::

    tunnel = open_tunnel("api.sgroup.qq.com", 443, proxy)
    tunnel.initiate(now)
    send(tunnel.data_to_send())
    while (event := tunnel.next_event()) is None:
        tunnel.receive_data(recv())        # b"" at EOF; raises ProxyError subclasses
    tls_layer.feed(event.trailing_data)    # bytes after the proxy's answer: never drop

The objects follow the house shape (``receive_data``/``next_event``/``data_to_send``,
``get_timer``/``handle_timer(now)`` for the handshake timeout).  Failures are typed,
sticky exceptions: :class:`ProxyAuthenticationRequired` (407, or SOCKS5 auth refused),
:class:`ProxyRefused` (any other non-2xx answer or SOCKS5 failure code),
:class:`ProxyProtocolError` (a malformed answer, EOF before the answer) and
:class:`ProxyTimeout`.  No message ever contains credentials.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Final, NoReturn, Protocol

import h11

from .._fsm import StateMachine
from .._log import bot_logger
from ..errors import (
    LocalProtocolError,
    ProxyAuthenticationRequired,
    ProxyConfigError,
    ProxyError,
    ProxyProtocolError,
    ProxyRefused,
    ProxyTimeout,
)
from ..events import TunnelEstablished
from ._config import ProxyConfig, ProxyScheme, format_authority

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "ConnectTunnel",
    "Socks5Tunnel",
    "Tunnel",
    "TunnelState",
    "open_tunnel",
]

#: Seconds a driver allows for the TCP connection to the proxy (or to the target).
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
#: Seconds from :meth:`ConnectTunnel.initiate` to an established tunnel.
DEFAULT_HANDSHAKE_TIMEOUT: Final = 10.0
#: Bound on the proxy's response head; h11 refuses a longer one.
MAX_RESPONSE_HEAD: Final = 16 * 1024
_MAX_REASON = 120


# --- errors -------------------------------------------------------------------------












# --- the shared shape ----------------------------------------------------------------


class TunnelState(enum.Enum):
    """Where a tunnel handshake is."""

    IDLE = "idle"  #: created; :meth:`initiate` not called yet
    HANDSHAKING = "handshaking"  #: request sent, waiting for the proxy
    ESTABLISHED = "established"  #: the socket now carries the target's bytes
    FAILED = "failed"  #: an error was raised; close the socket


class _Input(enum.Enum):
    INITIATE = "initiate"
    SUCCEED = "succeed"
    FAIL = "fail"


_TRANSITIONS: Final = {
    (TunnelState.IDLE, _Input.INITIATE): TunnelState.HANDSHAKING,
    (TunnelState.HANDSHAKING, _Input.SUCCEED): TunnelState.ESTABLISHED,
    (TunnelState.HANDSHAKING, _Input.FAIL): TunnelState.FAILED,
}




class Tunnel(Protocol):
    """What :class:`ConnectTunnel` and :class:`Socks5Tunnel` have in common."""

    @property
    def state(self) -> TunnelState: ...
    def initiate(self, now: float) -> None: ...
    def data_to_send(self) -> bytes: ...
    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> TunnelEstablished | None: ...
    def get_timer(self) -> float | None: ...
    def handle_timer(self, now: float) -> None: ...


def _check_target(host: str, port: int) -> str:
    if not isinstance(host, str) or not host or not host.isascii() or any(
        ch.isspace() or ord(ch) < 0x21 or ch in "/?#@[]" for ch in host
    ):
        raise LocalProtocolError(
            "the tunnel target must be an ASCII host name or IP address (IDNA-encode names)"
        )
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise LocalProtocolError(
                "the tunnel target host contains ':' but is not an IPv6 address "
                "(pass host and port separately)"
            ) from None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise LocalProtocolError("the tunnel target port must be an int from 1 to 65535")
    return format_authority(host, port)


def _printable(text: str) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= _MAX_REASON else clean[:_MAX_REASON] + "…"


class _TunnelBase:
    """State, outgoing buffer, timer and sticky error shared by both tunnel kinds."""

    def __init__(self, target_host: str, target_port: int, proxy: ProxyConfig, *,
                 timeout: float, app_id: str | None) -> None:
        if not isinstance(proxy, ProxyConfig):
            raise LocalProtocolError("proxy must be a ProxyConfig (see resolve_proxy)")
        if not timeout > 0:
            raise LocalProtocolError("the handshake timeout must be positive")
        self.target = _check_target(target_host, target_port)
        self._target_host = target_host
        self._target_port = target_port
        self.proxy = proxy
        self._timeout = float(timeout)
        self._deadline: float | None = None
        self._outgoing = bytearray()
        self._events: list[TunnelEstablished] = []
        self._error: ProxyError | None = None
        self._eof = False
        self._fsm: StateMachine[TunnelState, _Input] = StateMachine(
            f"tunnel to {self.target} via {proxy.authority}", TunnelState.IDLE, _TRANSITIONS,
            bot_logger("qqproto.proxy", app_id),
        )

    @property
    def state(self) -> TunnelState:
        return self._fsm.state

    def initiate(self, now: float) -> None:
        """Queue the opening bytes and start the handshake timer at ``now``."""
        if self.state is not TunnelState.IDLE:
            raise LocalProtocolError(f"initiate() in state {self.state.name}")
        self._fsm.fire(_Input.INITIATE)
        self._deadline = now + self._timeout
        self._outgoing += self._opening()

    def data_to_send(self) -> bytes:
        """Bytes to write to the proxy socket now (empty when there are none)."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def next_event(self) -> TunnelEstablished | None:
        """:class:`TunnelEstablished` once the proxy said yes, else ``None``."""
        return self._events.pop(0) if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must be called, or ``None``."""
        return self._deadline if self.state is TunnelState.HANDSHAKING else None

    def handle_timer(self, now: float) -> None:
        """Raise :class:`ProxyTimeout` if the handshake deadline has passed."""
        if self._error is not None:
            raise self._error
        if self._deadline is not None and self.state is TunnelState.HANDSHAKING \
                and now >= self._deadline:
            self._fail(ProxyTimeout(
                f"proxy {self.proxy.authority} did not open the tunnel to {self.target} "
                f"within {self._timeout:g} s"
            ))

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the proxy socket (``b""`` at EOF)."""
        if self._error is not None:
            raise self._error
        if self.state is TunnelState.IDLE:
            raise LocalProtocolError("receive_data() before initiate()")
        if self.state is TunnelState.ESTABLISHED:
            raise LocalProtocolError(
                "the tunnel is established: its bytes belong to the next layer now"
            )
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError("receive_data() takes bytes")
        data = bytes(data)
        if not data:
            self._eof = True
        self._receive(data)

    def _fail(self, error: ProxyError) -> NoReturn:
        self._error = error
        self._fsm.fire(_Input.FAIL)
        raise error

    def _succeed(self, event: TunnelEstablished) -> None:
        self._fsm.fire(_Input.SUCCEED)
        self._events.append(event)

    def _eof_error(self) -> ProxyProtocolError:
        return ProxyProtocolError(
            f"proxy {self.proxy.authority} closed the connection before opening the "
            f"tunnel to {self.target}"
        )

    # Subclass hooks.
    def _opening(self) -> bytes:
        raise NotImplementedError  # pragma: no cover - every subclass overrides it

    def _receive(self, data: bytes) -> None:
        raise NotImplementedError  # pragma: no cover - every subclass overrides it


# --- HTTP CONNECT --------------------------------------------------------------------


class ConnectTunnel(_TunnelBase):
    """An HTTP CONNECT handshake (RFC 9110 §9.3.6) over a fresh connection to an
    ``http://`` proxy, parsed with h11.

    Sends ``CONNECT host:port HTTP/1.1`` with a matching ``Host`` (RFC 9112 §3.2.3) and,
    when the proxy URL has credentials, ``Proxy-Authorization: Basic …`` (RFC 7617).
    Any 2xx opens the tunnel; 1xx answers are skipped.
    """

    def __init__(self, target_host: str, target_port: int, proxy: ProxyConfig, *,
                 timeout: float = DEFAULT_HANDSHAKE_TIMEOUT, user_agent: str | None = None,
                 app_id: str | None = None) -> None:
        super().__init__(target_host, target_port, proxy, timeout=timeout, app_id=app_id)
        if proxy.scheme is not ProxyScheme.HTTP:
            raise LocalProtocolError(
                f"ConnectTunnel speaks HTTP CONNECT; use Socks5Tunnel for {proxy.scheme}://"
            )
        self._user_agent = user_agent
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)

    def _opening(self) -> bytes:
        headers = [("Host", self.target)]
        if self._user_agent:
            headers.append(("User-Agent", self._user_agent))
        auth = self.proxy.basic_auth()
        if auth is not None:
            headers.append(("Proxy-Authorization", auth))
        try:
            request = h11.Request(method="CONNECT", target=self.target, headers=headers)
            return (self._h11.send(request) or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError as exc:  # a user agent with control characters
            raise LocalProtocolError(f"cannot build the CONNECT request: {exc}") from None

    def _receive(self, data: bytes) -> None:
        self._h11.receive_data(data)
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self._eof:
                    self._fail(self._eof_error())
                self._fail(ProxyProtocolError(
                    f"proxy {self.proxy.authority} sent a malformed answer to CONNECT: {exc}"
                ))
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.InformationalResponse):
                continue  # RFC 9110 §15.2: a client ignores unexpected 1xx answers
            if isinstance(event, h11.Response):
                self._answer(event)
                return
            # h11 yields Response before any body, and PAUSED only after a switch.
            self._fail(ProxyProtocolError(  # pragma: no cover - defensive
                f"proxy {self.proxy.authority}: unexpected {type(event).__name__} in answer"
            ))

    def _answer(self, response: h11.Response) -> None:
        status = response.status_code
        reason = _printable(response.reason.decode("latin-1"))
        headers = tuple((k.decode("latin-1"), v.decode("latin-1"))
                        for k, v in response.headers.raw_items())
        if 200 <= status < 300:
            trailing, _closed = self._h11.trailing_data
            self._succeed(TunnelEstablished(target=self.target, trailing_data=bytes(trailing),
                                            status=status, reason=reason, headers=headers))
            return
        where = f"proxy {self.proxy.authority}"
        if status == 407:
            offered = tuple(
                _printable(v.split(None, 1)[0]) for k, v in headers
                if k.lower() == "proxy-authenticate" and v.strip()
            )
            sent = self.proxy.has_credentials
            detail = ("the credentials in the proxy URL were rejected" if sent
                      else "no credentials were configured (put user:password in the proxy URL)")
            offers = f"; it offers: {', '.join(offered)}" if offered else ""
            self._fail(ProxyAuthenticationRequired(
                f"{where} requires authentication (407 {reason}): {detail}{offers}",
                status=status, reason=reason, credentials_sent=sent, offered_schemes=offered,
            ))
        # 5xx (502 bad gateway, 503, 504 gateway timeout) and 429 may pass; 4xx won't.
        retryable = status >= 500 or status == 429
        self._fail(ProxyRefused(
            f"{where} refused to open a tunnel to {self.target}: {status} {reason}",
            status=status, reason=reason, retryable=retryable,
        ))


# --- SOCKS5 --------------------------------------------------------------------------

# RFC 1928 §6 reply codes → (text, retryable).
_SOCKS5_REPLIES: Final = {
    0x01: ("general SOCKS server failure", True),
    0x02: ("connection not allowed by ruleset", False),
    0x03: ("network unreachable", True),
    0x04: ("host unreachable", True),
    0x05: ("connection refused", True),
    0x06: ("TTL expired", True),
    0x07: ("command not supported", False),
    0x08: ("address type not supported", False),
}


class _SocksPhase(enum.Enum):
    METHOD = "method"  # waiting for the method selection (2 bytes)
    AUTH = "auth"  # waiting for the RFC 1929 status (2 bytes)
    REPLY = "reply"  # waiting for the CONNECT reply (variable)


class Socks5Tunnel(_TunnelBase):
    """A SOCKS5 CONNECT (RFC 1928) with optional user/password auth (RFC 1929).

    Messages are built and parsed by ``socksio`` (an optional dependency); framing, the
    state and errors are ours.  Host names are sent to the proxy as names for both
    ``socks5://`` and ``socks5h://`` (as httpx does), so qqproto never resolves DNS.
    """

    def __init__(self, target_host: str, target_port: int, proxy: ProxyConfig, *,
                 timeout: float = DEFAULT_HANDSHAKE_TIMEOUT, app_id: str | None = None) -> None:
        super().__init__(target_host, target_port, proxy, timeout=timeout, app_id=app_id)
        if proxy.scheme not in (ProxyScheme.SOCKS5, ProxyScheme.SOCKS5H):
            raise LocalProtocolError(
                f"Socks5Tunnel speaks SOCKS5; use ConnectTunnel for {proxy.scheme}://"
            )
        try:
            # Optional (`pip install 'qqproto[socks]'`) and imported late: socksio loads
            # the socket module (for inet_pton), which `import qqproto` must not.
            import socksio.socks5  # noqa: F401, PLC0415
        except ImportError:
            raise ProxyConfigError(
                f"{proxy.source}: SOCKS5 proxies need the optional dependency socksio "
                "(pip install 'qqproto[socks]')"
            ) from None
        if len(target_host.encode()) > 255:
            raise LocalProtocolError("a SOCKS5 host name is at most 255 bytes (RFC 1928 §5)")
        self._phase = _SocksPhase.METHOD
        self._buffer = bytearray()

    def _opening(self) -> bytes:
        from socksio import socks5  # noqa: PLC0415 - optional, see __init__

        methods = [socks5.SOCKS5AuthMethod.NO_AUTH_REQUIRED]
        if self.proxy.has_credentials:
            methods.append(socks5.SOCKS5AuthMethod.USERNAME_PASSWORD)
        return socks5.SOCKS5AuthMethodsRequest(methods).dumps()

    def _command(self) -> bytes:
        from socksio import socks5  # noqa: PLC0415 - optional, see __init__

        host = self._target_host.strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            atype, packed = socks5.SOCKS5AType.DOMAIN_NAME, host.encode("ascii")
        else:
            atype = (socks5.SOCKS5AType.IPV4_ADDRESS if address.version == 4
                     else socks5.SOCKS5AType.IPV6_ADDRESS)
            packed = address.packed
        return socks5.SOCKS5CommandRequest(
            command=socks5.SOCKS5Command.CONNECT, atype=atype, addr=packed,
            port=self._target_port,
        ).dumps()

    def _protocol_error(self, what: str) -> ProxyProtocolError:
        return ProxyProtocolError(f"SOCKS5 proxy {self.proxy.authority} {what}")

    def _receive(self, data: bytes) -> None:
        self._buffer += data
        while self.state is TunnelState.HANDSHAKING:
            needed = self._needed()
            if needed is None or len(self._buffer) < needed:
                if self._eof:
                    self._fail(self._eof_error())
                return
            message = bytes(self._buffer[:needed])
            del self._buffer[:needed]
            self._handle(message)

    def _needed(self) -> int | None:
        """Length of the next whole message, or None until it can be known."""
        if self._phase is not _SocksPhase.REPLY:
            return 2
        if len(self._buffer) < 5:
            return None
        atype = self._buffer[3]
        if atype == 0x01:
            return 4 + 4 + 2
        if atype == 0x04:
            return 4 + 16 + 2
        if atype == 0x03:
            return 4 + 1 + self._buffer[4] + 2
        self._fail(self._protocol_error(f"sent an unknown address type {atype:#04x}"))

    def _handle(self, message: bytes) -> None:
        from socksio import socks5  # noqa: PLC0415 - optional, see __init__
        from socksio.exceptions import ProtocolError as SocksProtocolError  # noqa: PLC0415

        if self._phase is _SocksPhase.METHOD:
            if message[0] != 0x05:
                self._fail(self._protocol_error(
                    f"answered with version {message[0]}, not 5 (is it a SOCKS5 proxy?)"))
            try:
                method = socks5.SOCKS5AuthReply.loads(message).method
            except SocksProtocolError:
                method = None
            if method is socks5.SOCKS5AuthMethod.NO_AUTH_REQUIRED:
                self._phase = _SocksPhase.REPLY
                self._outgoing += self._command()
            elif method is socks5.SOCKS5AuthMethod.USERNAME_PASSWORD \
                    and self.proxy.has_credentials:
                self._phase = _SocksPhase.AUTH
                password = self.proxy.password.reveal() if self.proxy.password else ""
                self._outgoing += socks5.SOCKS5UsernamePasswordRequest(
                    (self.proxy.username or "").encode(), password.encode()
                ).dumps()
            elif message[1] == 0xFF:
                sent = self.proxy.has_credentials
                self._fail(ProxyAuthenticationRequired(
                    f"SOCKS5 proxy {self.proxy.authority} accepts none of the offered "
                    "authentication methods: " + (
                        "it refused user/password" if sent
                        else "no credentials were configured (put user:password in the URL)"),
                    status=0xFF, reason="no acceptable methods", credentials_sent=sent,
                ))
            else:
                self._fail(self._protocol_error(
                    f"chose authentication method {message[1]:#04x}, which was not offered"))
        elif self._phase is _SocksPhase.AUTH:
            # RFC 1929 §2: VER 0x01, STATUS 0x00 = success.
            if not socks5.SOCKS5UsernamePasswordReply.loads(message).success:
                self._fail(ProxyAuthenticationRequired(
                    f"SOCKS5 proxy {self.proxy.authority} rejected the credentials in the "
                    "proxy URL", status=message[1], reason="authentication failed",
                    credentials_sent=True,
                ))
            self._phase = _SocksPhase.REPLY
            self._outgoing += self._command()
        else:
            self._reply(message)

    def _reply(self, message: bytes) -> None:
        from socksio import socks5  # noqa: PLC0415 - optional, see __init__
        from socksio.exceptions import ProtocolError as SocksProtocolError  # noqa: PLC0415

        try:
            reply = socks5.SOCKS5Reply.loads(message)
        except (SocksProtocolError, ValueError, OSError):
            code = message[1] if message[0] == 0x05 else None
            if code is None or code == 0x00 or code in _SOCKS5_REPLIES:
                self._fail(self._protocol_error("sent a malformed CONNECT reply"))
            self._fail(self._protocol_error(f"sent an unknown reply code {code:#04x}"))
        code = reply.reply_code[0]
        if code == 0x00:
            self._succeed(TunnelEstablished(target=self.target,
                                            trailing_data=bytes(self._buffer),
                                            reason="succeeded"))
            self._buffer.clear()
            return
        text, retryable = _SOCKS5_REPLIES[code]
        self._fail(ProxyRefused(
            f"SOCKS5 proxy {self.proxy.authority} refused to open a tunnel to "
            f"{self.target}: {text} ({code:#04x})",
            status=code, reason=text, retryable=retryable,
        ))


def open_tunnel(target_host: str, target_port: int, proxy: ProxyConfig, *,
                timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
                app_id: str | None = None) -> ConnectTunnel | Socks5Tunnel:
    """The tunnel object for ``proxy``'s scheme."""
    if proxy.scheme is ProxyScheme.HTTP:
        return ConnectTunnel(target_host, target_port, proxy, timeout=timeout, app_id=app_id)
    return Socks5Tunnel(target_host, target_port, proxy, timeout=timeout, app_id=app_id)
