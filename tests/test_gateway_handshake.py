"""The WebSocket opening handshake of the gateway client (RFC 6455 §4.1): the exact
request, and every way a server's answer is judged."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from wsproto.utilities import generate_accept_token

from qqproto.errors import LocalProtocolError
from qqproto.gateway._handshake import Malformed, Refused, UpgradeClient, Upgraded

KEY = b"\x00" * 16
NONCE = b"AAAAAAAAAAAAAAAAAAAAAA=="  # base64 of KEY
ACCEPT = generate_accept_token(NONCE)


def client(url: str = "wss://gw.example.test/websocket/") -> UpgradeClient:
    return UpgradeClient(url, urlsplit(url), user_agent="qqproto-test",
                         entropy=lambda n: KEY[:n])


def switching(*headers: bytes) -> bytes:
    return b"HTTP/1.1 101 Switching Protocols\r\n" + b"".join(h + b"\r\n" for h in headers) \
        + b"\r\n"


GOOD = (b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + ACCEPT)


def test_the_request_is_byte_exact() -> None:
    assert client("wss://gw.example.test/websocket/?v=1").request() == (
        b"GET /websocket/?v=1 HTTP/1.1\r\nHost: gw.example.test\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + NONCE + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\nUser-Agent: qqproto-test\r\n\r\n")


@pytest.mark.parametrize(("url", "host"), [
    ("wss://gw.example.test:443/", b"gw.example.test"),
    ("ws://gw.example.test:80/", b"gw.example.test"),
    ("wss://gw.example.test:8443/", b"gw.example.test:8443"),
    ("wss://[::1]:8443/", b"[::1]:8443"),
    ("wss://[::1]/", b"[::1]"),
    ("wss://bücher.example/", b"xn--bcher-kva.example"),
])
def test_the_host_header_names_a_non_default_port_and_encodes_the_host(
        url: str, host: bytes) -> None:
    assert b"\r\nHost: " + host + b"\r\n" in client(url).request()


@pytest.mark.parametrize(("url", "message"), [
    ("wss://gw.example.test:99999/", "bad port"),
    ("wss://" + "a" * 64 + ".example/", "bad host"),  # a label over 63 characters
])
def test_a_bad_port_or_host_is_refused_before_anything_is_sent(url: str, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        client(url)


def test_a_good_101_upgrades_and_keeps_the_bytes_that_follow() -> None:
    upgrade = client()
    upgrade.request()
    assert upgrade.receive(switching(*GOOD)[:20]) is None  # incomplete
    assert upgrade.receive(switching(*GOOD)[20:] + b"\x81\x02hi") == Upgraded(b"\x81\x02hi")


def test_interim_1xx_answers_are_skipped() -> None:
    upgrade = client()
    upgrade.request()
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + switching(*GOOD)
    assert upgrade.receive(answer) == Upgraded(b"")


def test_a_final_status_is_a_refusal() -> None:
    upgrade = client()
    upgrade.request()
    assert upgrade.receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n") == Refused(403)


@pytest.mark.parametrize(("headers", "problem"), [
    (GOOD[1:], "101 without 'Upgrade: websocket'"),
    ((GOOD[0], b"Connection: keep-alive", GOOD[2]), "101 without 'Connection: Upgrade'"),
    ((*GOOD[:2], b"Sec-WebSocket-Accept: wrong"), "101 with a wrong Sec-WebSocket-Accept"),
    ((*GOOD, b"Sec-WebSocket-Extensions: permessage-deflate"),
     "101 negotiating an extension or subprotocol nobody asked for"),
    ((*GOOD, b"Sec-WebSocket-Protocol: chat"),
     "101 negotiating an extension or subprotocol nobody asked for"),
])
def test_a_101_that_fails_a_check_says_which(headers: tuple[bytes, ...], problem: str) -> None:
    upgrade = client()
    upgrade.request()
    assert upgrade.receive(switching(*headers)) == Malformed(problem)


def test_header_names_and_tokens_are_case_insensitive_and_may_be_lists() -> None:
    upgrade = client()
    upgrade.request()
    answer = switching(b"upgrade: WebSocket", b"connection: keep-alive, UPGRADE",
                       b"sec-websocket-accept: " + ACCEPT)
    assert upgrade.receive(answer) == Upgraded(b"")


def test_an_answer_that_is_not_http_is_malformed() -> None:
    upgrade = client()
    upgrade.request()
    outcome = upgrade.receive(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert isinstance(outcome, Malformed)
    assert outcome.problem.startswith("malformed upgrade response: ")
