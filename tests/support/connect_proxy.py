"""A small threaded proxy on 127.0.0.1 for loopback tests: HTTP CONNECT and SOCKS5.

It is deliberately written by hand (no h11, no socksio) so that it checks the core's
tunnel code against an independent reading of RFC 9110 §9.3.6 and RFC 1928/1929.

    with ConnectProxy(username="qq", password="s3cret") as proxy:
        env = {"HTTPS_PROXY": proxy.url_with_credentials}
        ...  # run a driver against a 127.0.0.1 server
        assert proxy.targets == ["127.0.0.1:8443"]

It only tunnels to loopback addresses (403 / SOCKS "not allowed" otherwise), records
every request head and target, and counts the tunnels it opened.  ``canned_response``
replaces the whole HTTP answer (to test 502s, malformed answers, …): the proxy sends
it and closes.  The first byte tells the protocols apart: 0x05 is SOCKS5.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import selectors
import socket
from urllib.parse import quote

from .server import IO_TIMEOUT, ThreadedServer

__all__ = ["PROXY_PASSWORD", "PROXY_USER", "ConnectProxy"]

#: Credentials of the ``auth_connect_proxy`` fixture.
PROXY_USER = "qq-bot"
#: Contains characters that must be percent-encoded in a URL, on purpose.
PROXY_PASSWORD = "p@ss:w/rd-7"

_MAX_HEAD = 16 * 1024
_REALM = 'Basic realm="qqproto-test"'


class _Reader:
    """Buffered reads from a socket with a size bound."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def exact(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            if not self.fill():
                return None
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def head(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > _MAX_HEAD or not self.fill():
                return None
        end = self.buffer.index(b"\r\n\r\n") + 4
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data


def _loopback_address(host: str) -> str | None:
    """The address to dial for ``host`` if it is a loopback target, else ``None``."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(address) if address.is_loopback else None


class ConnectProxy(ThreadedServer):
    """A CONNECT/SOCKS5 proxy in its own threads; a context manager (sync and async)."""

    name = "proxy"

    def __init__(self, *, username: str | None = None, password: str | None = None,
                 canned_response: bytes | None = None) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.canned_response = canned_response
        self.tunnels = 0  #: tunnels opened (2xx / SOCKS success sent)
        self.targets: list[str] = []  #: "host:port" of every tunnel opened, in order
        self.requests: list[bytes] = []  #: raw HTTP request heads, in order
        self.refusals: list[int] = []  #: HTTP statuses (or SOCKS codes) of refusals

    # --- addresses -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (no credentials)."""
        return f"http://{self.host}:{self.port}"

    @property
    def url_with_credentials(self) -> str:
        """The ``http://`` URL with this proxy's user and password in it."""
        return self._url("http")

    @property
    def socks_url(self) -> str:
        """The ``socks5h://`` URL (with credentials when the proxy has them)."""
        return self._url("socks5h")

    def _url(self, scheme: str) -> str:
        userinfo = ""
        if self.username is not None:
            userinfo = f"{quote(self.username, safe='')}:{quote(self.password or '', safe='')}@"
        return f"{scheme}://{userinfo}{self.host}:{self.port}"

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(IO_TIMEOUT)
            reader = _Reader(client)
            if not reader.fill():
                return
            socks = reader.buffer[0] == 0x05  # SOCKS version byte; no HTTP method starts so
            upstream = self._socks5(reader) if socks else self._http(reader)
            if upstream is not None:
                self._pipe(client, upstream, bytes(reader.buffer))
        except OSError:
            pass  # a peer went away or close() shut the socket: the test decides
        finally:
            with self._lock:
                self._open.discard(client)
                if upstream is not None:
                    self._open.discard(upstream)
            client.close()
            if upstream is not None:
                upstream.close()

    def _refuse(self, client: socket.socket, status: int, reason: str,
                headers: tuple[str, ...] = ()) -> None:
        with self._lock:
            self.refusals.append(status)
        lines = [f"HTTP/1.1 {status} {reason}", *headers, "Content-Length: 0",
                 "Connection: close", "", ""]
        client.sendall("\r\n".join(lines).encode("latin-1"))

    def _dial(self, host: str, port: int) -> socket.socket | None:
        address = _loopback_address(host)
        if address is None:
            return None
        upstream = socket.create_connection((address, port), timeout=IO_TIMEOUT)
        with self._lock:
            self._open.add(upstream)
        return upstream

    # --- HTTP CONNECT ----------------------------------------------------------------

    def _http(self, reader: _Reader) -> socket.socket | None:
        client = reader.sock
        head = reader.head()
        if head is None:
            return None
        with self._lock:
            self.requests.append(head)
        if self.canned_response is not None:
            client.sendall(self.canned_response)
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] != "CONNECT" or not parts[2].startswith("HTTP/1."):
            self._refuse(client, 405, "Method Not Allowed")
            return None
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if not self._http_authorized(headers.get("proxy-authorization")):
            self._refuse(client, 407, "Proxy Authentication Required",
                         (f"Proxy-Authenticate: {_REALM}",))
            return None
        host, _, port_text = parts[1].rpartition(":")
        host = host.strip("[]")
        if not port_text.isdigit():
            self._refuse(client, 400, "Bad Request")
            return None
        try:
            upstream = self._dial(host, int(port_text))
        except OSError:
            self._refuse(client, 502, "Bad Gateway")
            return None
        if upstream is None:
            self._refuse(client, 403, "Forbidden")
            return None
        with self._lock:
            self.tunnels += 1
            self.targets.append(parts[1])
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return upstream

    def _http_authorized(self, value: str | None) -> bool:
        if self.username is None:
            return True
        if value is None:
            return False
        scheme, _, token = value.partition(" ")
        expected = f"{self.username}:{self.password or ''}".encode()
        try:
            return scheme.lower() == "basic" and base64.b64decode(token, validate=True) \
                == expected
        except ValueError:
            return False

    # --- SOCKS5 ----------------------------------------------------------------------

    def _socks5(self, reader: _Reader) -> socket.socket | None:
        client = reader.sock
        greeting = reader.exact(2)
        if greeting is None:
            return None
        methods = reader.exact(greeting[1])
        if methods is None:
            return None
        wanted = 0x02 if self.username is not None else 0x00
        if wanted not in methods:
            with self._lock:
                self.refusals.append(0xFF)
            client.sendall(b"\x05\xff")
            return None
        client.sendall(bytes([0x05, wanted]))
        if wanted == 0x02 and not self._socks_authorized(reader):
            return None
        request = reader.exact(4)
        if request is None:
            return None
        atype = request[3]
        if atype == 0x01:
            raw = reader.exact(4)
            host = str(ipaddress.IPv4Address(raw)) if raw else ""
        elif atype == 0x04:
            raw = reader.exact(16)
            host = str(ipaddress.IPv6Address(raw)) if raw else ""
        else:
            length = reader.exact(1)
            raw = reader.exact(length[0]) if length else None
            host = raw.decode("ascii", "replace") if raw else ""
        port_bytes = reader.exact(2)
        if not host or port_bytes is None:
            return None
        port = int.from_bytes(port_bytes, "big")
        if request[:3] != b"\x05\x01\x00":
            self._socks_refuse(client, 0x07)
            return None
        try:
            upstream = self._dial(host, port)
        except OSError:
            self._socks_refuse(client, 0x05)
            return None
        if upstream is None:
            self._socks_refuse(client, 0x02)
            return None
        with self._lock:
            self.tunnels += 1
            self.targets.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        bound_host, bound_port = upstream.getsockname()[:2]
        client.sendall(b"\x05\x00\x00\x01" + ipaddress.IPv4Address(bound_host).packed
                       + bound_port.to_bytes(2, "big"))
        return upstream

    def _socks_authorized(self, reader: _Reader) -> bool:
        # RFC 1929: VER=1 ULEN UNAME PLEN PASSWD → VER=1 STATUS.
        header = reader.exact(2)
        user = reader.exact(header[1]) if header else None
        plen = reader.exact(1) if user is not None else None
        password = reader.exact(plen[0]) if plen else None
        ok = (header is not None and header[0] == 0x01 and user is not None
              and password is not None and user == (self.username or "").encode()
              and password == (self.password or "").encode())
        if not ok:  # noted before answering: the client may look as soon as it hears
            with self._lock:
                self.refusals.append(0x01)
        reader.sock.sendall(b"\x01\x00" if ok else b"\x01\x01")
        return ok

    def _socks_refuse(self, client: socket.socket, code: int) -> None:
        with self._lock:
            self.refusals.append(code)
        client.sendall(bytes([0x05, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0]))

    # --- the tunnel ------------------------------------------------------------------

    def _pipe(self, client: socket.socket, upstream: socket.socket, early: bytes) -> None:
        """Copy bytes both ways until both directions have ended (half-close aware)."""
        if early:
            upstream.sendall(early)  # bytes the client sent right behind its request
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            open_directions = 2
            while open_directions:
                # No idle limit: a tunnel may sit quiet between heartbeats; close() ends it.
                ready = [key.fileobj for key, _ in sel.select()]
                if self._wake_r in ready:
                    return
                for sock in ready:
                    assert isinstance(sock, socket.socket)
                    data = sock.recv(65536)
                    if data:
                        peers[sock].sendall(data)
                        continue
                    sel.unregister(sock)
                    open_directions -= 1
                    with contextlib.suppress(OSError):
                        peers[sock].shutdown(socket.SHUT_WR)
