"""The loopback test infrastructure works: the proxy tunnels real bytes and enforces its
credentials, and the TLS fixtures give a verified handshake on 127.0.0.1 that fails for
a client that does not trust the local CA.

These tests also run the core's tunnel objects over real sockets, the way a driver does.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import socket
import ssl

import pytest

from qqproto.errors import ProxyAuthenticationRequired, ProxyProtocolError, ProxyRefused
from qqproto.events import TunnelEstablished
from qqproto.proxy._config import parse_proxy_url, resolve_proxy
from qqproto.proxy._tunnels import ConnectTunnel, open_tunnel
from tests.support.connect_proxy import PROXY_USER, ConnectProxy
from tests.support.echo import EchoServer
from tests.support.tls import LocalTLS

pytest_plugins = ["tests.support.fixtures"]

TIMEOUT = 10.0


def _raw_exchange(address: tuple[str, int], request: bytes) -> bytes:
    """Send ``request`` and read until the peer closes (bounded by TIMEOUT)."""
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _open_through(proxy_url: str, target: tuple[str, int]) -> tuple[socket.socket, bytes]:
    """Connect to the proxy and run the core's tunnel over the socket, as a driver does."""
    config = parse_proxy_url(proxy_url)
    tunnel = open_tunnel(target[0], target[1], config, timeout=TIMEOUT)
    sock = socket.create_connection((config.host, config.port), timeout=TIMEOUT)
    try:
        tunnel.initiate(0.0)
        while True:
            if out := tunnel.data_to_send():
                sock.sendall(out)
            event = tunnel.next_event()
            if event is not None:
                assert isinstance(event, TunnelEstablished)
                return sock, event.trailing_data
            tunnel.receive_data(sock.recv(65536))
    except BaseException:
        sock.close()
        raise


def _echo_roundtrip(sock: socket.socket, payload: bytes, already: bytes = b"") -> bytes:
    sock.sendall(payload)
    received = already
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "tunnel closed early"
        received += chunk
    return received


# --- the proxy ---------------------------------------------------------------------


def test_proxy_tunnels_bytes_to_the_echo_server_both_ways(
    connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    sock, trailing = _open_through(connect_proxy.url, echo_server.address)
    with sock:
        assert trailing == b""
        payload = bytes(range(256)) * 64
        assert _echo_roundtrip(sock, payload) == payload
    assert connect_proxy.tunnels == 1
    assert connect_proxy.targets == [f"127.0.0.1:{echo_server.port}"]
    assert connect_proxy.requests == [
        f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{echo_server.port}\r\n\r\n".encode()
    ]


def test_proxy_counts_each_tunnel_and_records_targets_in_order(
    connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    for host in ("127.0.0.1", "localhost"):
        sock, _ = _open_through(connect_proxy.url, (host, echo_server.port))
        with sock:
            assert _echo_roundtrip(sock, b"ping") == b"ping"
    assert connect_proxy.tunnels == 2
    assert connect_proxy.targets == [f"127.0.0.1:{echo_server.port}",
                                     f"localhost:{echo_server.port}"]


def test_proxy_forwards_bytes_sent_right_behind_the_connect_request(
    connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    request = (f"CONNECT 127.0.0.1:{echo_server.port} HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{echo_server.port}\r\n\r\n").encode()
    with socket.create_connection(connect_proxy.address, timeout=TIMEOUT) as sock:
        sock.sendall(request + b"early bytes")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data == b"HTTP/1.1 200 Connection established\r\n\r\nearly bytes"


def test_proxy_passes_a_server_greeting_that_follows_its_answer(
    connect_proxy: ConnectProxy,
) -> None:
    with EchoServer(greeting=b"HELLO") as server:
        sock, trailing = _open_through(connect_proxy.url, server.address)
        with sock:
            # The greeting may arrive with the 200 (trailing data) or after it.
            received = trailing
            while len(received) < 5:
                received += sock.recv(65536)
            assert received == b"HELLO"


def test_proxy_without_credentials_gets_407_with_a_basic_challenge(
    auth_connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    with pytest.raises(ProxyAuthenticationRequired) as info:
        _open_through(auth_connect_proxy.url, echo_server.address)
    assert info.value.credentials_sent is False
    assert info.value.offered_schemes == ("Basic",)
    assert auth_connect_proxy.tunnels == 0
    assert auth_connect_proxy.refusals == [407]


def test_proxy_with_wrong_credentials_gets_407_and_the_message_hides_them(
    auth_connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    url = f"http://{PROXY_USER}:wrong-horse-battery@127.0.0.1:{auth_connect_proxy.port}"
    with pytest.raises(ProxyAuthenticationRequired) as info:
        _open_through(url, echo_server.address)
    assert info.value.credentials_sent is True
    assert "wrong-horse-battery" not in str(info.value)
    assert PROXY_USER not in str(info.value)
    assert auth_connect_proxy.tunnels == 0


def test_proxy_with_the_right_percent_encoded_credentials_tunnels(
    auth_connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    assert "p%40ss%3Aw%2Frd-7" in auth_connect_proxy.url_with_credentials
    sock, _ = _open_through(auth_connect_proxy.url_with_credentials, echo_server.address)
    with sock:
        assert _echo_roundtrip(sock, b"authorised") == b"authorised"
    assert auth_connect_proxy.tunnels == 1
    assert b"Proxy-Authorization: Basic " in auth_connect_proxy.requests[0]


def test_proxy_refuses_non_loopback_targets_with_403(connect_proxy: ConnectProxy) -> None:
    # The name is never dialled: the proxy refuses anything that is not loopback.
    with pytest.raises(ProxyRefused) as info:
        _open_through(connect_proxy.url, ("example.com", 443))
    assert info.value.status == 403
    assert info.value.retryable is False
    assert connect_proxy.refusals == [403]


def test_proxy_answers_502_when_the_target_refuses(connect_proxy: ConnectProxy) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    with pytest.raises(ProxyRefused) as info:
        _open_through(connect_proxy.url, ("127.0.0.1", closed_port))
    assert (info.value.status, info.value.retryable) == (502, True)


def test_proxy_refuses_methods_other_than_connect(connect_proxy: ConnectProxy) -> None:
    answer = _raw_exchange(connect_proxy.address,
                           b"GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")


def test_proxy_canned_response_reaches_the_tunnel_as_a_typed_error(
    echo_server: EchoServer,
) -> None:
    with ConnectProxy(canned_response=b"SSH-2.0-OpenSSH\r\n\r\n") as proxy:
        with pytest.raises(ProxyProtocolError):
            _open_through(proxy.url, echo_server.address)
        assert proxy.tunnels == 0
        assert len(proxy.requests) == 1


def test_proxy_closing_without_answer_is_a_protocol_error(echo_server: EchoServer) -> None:
    with ConnectProxy(canned_response=b"") as proxy, pytest.raises(ProxyProtocolError) as info:
        _open_through(proxy.url, echo_server.address)
    assert "closed the connection before opening the tunnel" in str(info.value)


def test_proxy_speaks_socks5_on_the_same_port(
    connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    pytest.importorskip("socksio", reason="SOCKS5 tunnels need the optional socksio")
    sock, trailing = _open_through(connect_proxy.socks_url, ("localhost", echo_server.port))
    with sock:
        assert trailing == b""
        assert _echo_roundtrip(sock, b"over socks") == b"over socks"
    assert connect_proxy.targets == [f"localhost:{echo_server.port}"]


def test_socks5_proxy_checks_user_and_password(
    auth_connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    pytest.importorskip("socksio", reason="SOCKS5 tunnels need the optional socksio")
    sock, _ = _open_through(auth_connect_proxy.socks_url, ("127.0.0.1", echo_server.port))
    with sock:
        assert _echo_roundtrip(sock, b"x") == b"x"
    bad = f"socks5://{PROXY_USER}:nope@127.0.0.1:{auth_connect_proxy.port}"
    with pytest.raises(ProxyAuthenticationRequired) as info:
        _open_through(bad, ("127.0.0.1", echo_server.port))
    assert info.value.credentials_sent is True
    none = f"socks5://127.0.0.1:{auth_connect_proxy.port}"
    with pytest.raises(ProxyAuthenticationRequired) as info:
        _open_through(none, ("127.0.0.1", echo_server.port))
    assert info.value.credentials_sent is False
    assert auth_connect_proxy.tunnels == 1
    assert auth_connect_proxy.refusals == [0x01, 0xFF]


def test_socks5_proxy_refuses_non_loopback_targets(connect_proxy: ConnectProxy) -> None:
    pytest.importorskip("socksio", reason="SOCKS5 tunnels need the optional socksio")
    with pytest.raises(ProxyRefused) as info:
        _open_through(connect_proxy.socks_url, ("example.com", 443))
    assert (info.value.status, info.value.retryable) == (0x02, False)


def test_proxy_works_as_an_async_context_manager(echo_server: EchoServer) -> None:
    async def main() -> list[str]:
        async with ConnectProxy() as proxy:
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
            tunnel = ConnectTunnel("127.0.0.1", echo_server.port, parse_proxy_url(proxy.url))
            tunnel.initiate(0.0)
            writer.write(tunnel.data_to_send())
            while (event := tunnel.next_event()) is None:
                tunnel.receive_data(await asyncio.wait_for(reader.read(65536), TIMEOUT))
            assert event.trailing_data == b""
            writer.write(b"async")
            assert await asyncio.wait_for(reader.readexactly(5), TIMEOUT) == b"async"
            writer.close()
            await writer.wait_closed()
            return proxy.targets

    assert asyncio.run(main()) == [f"127.0.0.1:{echo_server.port}"]


def test_proxy_close_is_idempotent_and_ends_open_tunnels(echo_server: EchoServer) -> None:
    proxy = ConnectProxy().start()
    sock, _ = _open_through(proxy.url, echo_server.address)
    with sock:
        proxy.close()
        proxy.close()
        sock.settimeout(TIMEOUT)
        with contextlib.suppress(ConnectionResetError):  # a reset is an ending too
            assert sock.recv(1) == b""


def test_resolved_environment_proxy_routes_through_the_test_proxy(
    connect_proxy: ConnectProxy, echo_server: EchoServer
) -> None:
    # The path a driver takes: environment → ProxyConfig → tunnel.
    url = f"wss://127.0.0.1:{echo_server.port}/websocket"
    config = resolve_proxy(url, {"HTTPS_PROXY": connect_proxy.url})
    assert config is not None
    assert (config.host, config.port) == ("127.0.0.1", connect_proxy.port)
    sock, _ = _open_through(config.url_for_httpx(), echo_server.address)
    sock.close()
    assert connect_proxy.tunnels == 1


# --- TLS ---------------------------------------------------------------------------


def _tls_echo(client_ctx: ssl.SSLContext, address: tuple[str, int], server_hostname: str,
              payload: bytes = b"tls hello") -> bytes:
    with socket.create_connection(address, timeout=TIMEOUT) as raw, \
            client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
        return _echo_roundtrip(tls, payload)


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_tls_fixtures_complete_a_verified_handshake(
    tls_client_context: ssl.SSLContext, tls_echo_server: EchoServer, hostname: str
) -> None:
    assert tls_client_context.verify_mode is ssl.CERT_REQUIRED
    assert tls_client_context.check_hostname is True
    assert _tls_echo(tls_client_context, tls_echo_server.address, hostname) == b"tls hello"


def test_tls_client_without_the_local_ca_fails_verification(
    tls_echo_server: EchoServer,
) -> None:
    untrusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing
    with pytest.raises(ssl.SSLCertVerificationError):
        _tls_echo(untrusting, tls_echo_server.address, "127.0.0.1")


def test_tls_client_trusting_another_ca_fails_verification(
    tls_echo_server: EchoServer,
) -> None:
    other = LocalTLS().client_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        _tls_echo(other, tls_echo_server.address, "127.0.0.1")


def test_tls_hostname_mismatch_fails_verification(
    tls_client_context: ssl.SSLContext, tls_echo_server: EchoServer
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _tls_echo(tls_client_context, tls_echo_server.address, "api.sgroup.qq.com")


def test_tls_through_the_proxy_is_verified_end_to_end(
    auth_connect_proxy: ConnectProxy, tls_echo_server: EchoServer,
    tls_client_context: ssl.SSLContext,
) -> None:
    sock, trailing = _open_through(auth_connect_proxy.url_with_credentials,
                                   tls_echo_server.address)
    assert trailing == b""
    with sock, tls_client_context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert _echo_roundtrip(tls, b"secret payload") == b"secret payload"
    assert auth_connect_proxy.tunnels == 1


def test_ca_bundle_file_holds_the_local_ca(ca_bundle: pathlib.Path, local_tls: LocalTLS,
                                            tls_echo_server: EchoServer) -> None:
    assert ca_bundle.read_bytes() == local_tls.ca_pem
    ctx = ssl.create_default_context(cafile=str(ca_bundle))
    assert _tls_echo(ctx, tls_echo_server.address, "localhost") == b"tls hello"
