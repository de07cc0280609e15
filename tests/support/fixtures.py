"""pytest fixtures for loopback proxy and TLS tests.

Enable them for the whole suite with, in ``tests/conftest.py``::

    pytest_plugins = ["tests.support.fixtures"]

Every server listens on 127.0.0.1 port 0 and is closed when the test ends.
"""

from __future__ import annotations

import pathlib
import ssl
from collections.abc import Iterator

import pytest

from tests.support.connect_proxy import PROXY_PASSWORD, PROXY_USER, ConnectProxy
from tests.support.echo import EchoServer
from tests.support.tls import LocalTLS

__all__ = [
    "PROXY_PASSWORD",
    "PROXY_USER",
    "auth_connect_proxy",
    "ca_bundle",
    "connect_proxy",
    "echo_server",
    "local_tls",
    "tls_client_context",
    "tls_echo_server",
    "tls_server_context",
]



@pytest.fixture(scope="session")
def local_tls() -> LocalTLS:
    """One local CA and loopback server certificate for the whole session."""
    return LocalTLS()


@pytest.fixture
def tls_server_context(local_tls: LocalTLS) -> ssl.SSLContext:
    """Server context presenting a certificate for 127.0.0.1 / localhost / ::1."""
    return local_tls.server_context()


@pytest.fixture
def tls_client_context(local_tls: LocalTLS) -> ssl.SSLContext:
    """Client context trusting only the local CA (verification and hostname check on)."""
    return local_tls.client_context()


@pytest.fixture
def ca_bundle(local_tls: LocalTLS, tmp_path: pathlib.Path) -> pathlib.Path:
    """The local CA as a PEM file (for httpx ``verify=`` or ``SSL_CERT_FILE``)."""
    return local_tls.write_ca_bundle(tmp_path)


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    """An open proxy (HTTP CONNECT and SOCKS5) on 127.0.0.1."""
    with ConnectProxy() as proxy:
        yield proxy


@pytest.fixture
def auth_connect_proxy() -> Iterator[ConnectProxy]:
    """A proxy that demands :data:`PROXY_USER` / :data:`PROXY_PASSWORD`."""
    with ConnectProxy(username=PROXY_USER, password=PROXY_PASSWORD) as proxy:
        yield proxy


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    """A plain TCP echo server on 127.0.0.1."""
    with EchoServer() as server:
        yield server


@pytest.fixture
def tls_echo_server(tls_server_context: ssl.SSLContext) -> Iterator[EchoServer]:
    """A TLS echo server on 127.0.0.1 presenting the local CA's certificate."""
    with EchoServer(ssl_context=tls_server_context) as server:
        yield server
