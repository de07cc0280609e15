"""Proxy tunnels (qqproto.proxy._tunnels): byte-exact CONNECT and SOCKS5 handshakes, every way a
proxy can answer, byte-by-byte feeding, the handshake timer, and fuzzed answers."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto.errors import (
    LocalProtocolError,
    ProxyAuthenticationRequired,
    ProxyConfigError,
    ProxyError,
    ProxyProtocolError,
    ProxyRefused,
    ProxyTimeout,
    RemoteProtocolError,
)
from qqproto.events import TunnelEstablished
from qqproto.proxy._config import ProxyConfig, parse_proxy_url
from qqproto.proxy._tunnels import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    MAX_RESPONSE_HEAD,
    ConnectTunnel,
    Socks5Tunnel,
    Tunnel,
    TunnelState,
    open_tunnel,
)

HOST, PORT = "api.sgroup.qq.com", 443
PLAIN = parse_proxy_url("http://proxy.example:3128")
AUTH = parse_proxy_url("http://Aladdin:open%20sesame@proxy.example:3128")
# RFC 7617 §2: base64("Aladdin:open sesame").
AUTH_TOKEN = b"QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
REQUEST = (b"CONNECT api.sgroup.qq.com:443 HTTP/1.1\r\n"
           b"Host: api.sgroup.qq.com:443\r\n\r\n")
OK = b"HTTP/1.1 200 Connection established\r\n\r\n"
TLS_HELLO = b"\x16\x03\x03\x00\x2a"  # the start of a TLS record: the target's bytes


def _started(proxy: ProxyConfig = PLAIN, now: float = 0.0, **kwargs: object) -> ConnectTunnel:
    tunnel = ConnectTunnel(HOST, PORT, proxy, **kwargs)  # type: ignore[arg-type]
    tunnel.initiate(now)
    return tunnel


def _feed(tunnel: ConnectTunnel | Socks5Tunnel, data: bytes, *,
          bytewise: bool) -> TunnelEstablished | ProxyError:
    """Feed ``data`` whole or one byte at a time; the event or the error it ends in."""
    chunks = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
    try:
        for chunk in chunks:
            tunnel.receive_data(chunk)
            event = tunnel.next_event()
            if event is not None:
                return event
    except ProxyError as exc:
        return exc
    raise AssertionError("neither established nor failed")


# --- the request ---------------------------------------------------------------------


def test_connect_request_without_credentials_is_byte_exact() -> None:
    idle = ConnectTunnel(HOST, PORT, PLAIN)
    assert idle.state is TunnelState.IDLE
    assert idle.data_to_send() == b""
    tunnel = _started()
    assert tunnel.state is TunnelState.HANDSHAKING
    assert tunnel.data_to_send() == REQUEST
    assert tunnel.data_to_send() == b""


def test_connect_request_with_credentials_carries_basic_proxy_authorization() -> None:
    tunnel = _started(AUTH)
    assert tunnel.data_to_send() == (
        b"CONNECT api.sgroup.qq.com:443 HTTP/1.1\r\n"
        b"Host: api.sgroup.qq.com:443\r\n"
        b"Proxy-Authorization: Basic " + AUTH_TOKEN + b"\r\n\r\n"
    )


def test_connect_request_with_user_agent() -> None:
    tunnel = _started(PLAIN, user_agent="qqproto/0.1")
    assert tunnel.data_to_send() == (
        b"CONNECT api.sgroup.qq.com:443 HTTP/1.1\r\n"
        b"Host: api.sgroup.qq.com:443\r\nUser-Agent: qqproto/0.1\r\n\r\n"
    )


@pytest.mark.parametrize(("host", "port", "authority"), [
    ("::1", 8443, b"[::1]:8443"),
    ("127.0.0.1", 8443, b"127.0.0.1:8443"),
    ("localhost", 1, b"localhost:1"),
])
def test_connect_request_target_is_the_authority_form(host: str, port: int,
                                                     authority: bytes) -> None:
    tunnel = ConnectTunnel(host, port, PLAIN)
    tunnel.initiate(0.0)
    assert tunnel.data_to_send() == (
        b"CONNECT " + authority + b" HTTP/1.1\r\nHost: " + authority + b"\r\n\r\n")
    assert tunnel.target == authority.decode()


@pytest.mark.parametrize("host", [
    "", "api.sgroup.qq.com\r\nX-Injected: 1", "a b", "例え.jp", "[::1]", "user@host",
    "host/path", "host:443", "::zz", 42,
])
def test_bad_target_hosts_are_refused_before_anything_is_sent(host: object) -> None:
    with pytest.raises(LocalProtocolError):
        ConnectTunnel(host, PORT, PLAIN)  # type: ignore[arg-type]


@pytest.mark.parametrize("port", [0, 65536, -1, True, "443", 443.0])
def test_bad_target_ports_are_refused(port: object) -> None:
    with pytest.raises(LocalProtocolError, match="port"):
        ConnectTunnel(HOST, port, PLAIN)  # type: ignore[arg-type]


def test_a_user_agent_with_a_line_break_is_refused() -> None:
    tunnel = ConnectTunnel(HOST, PORT, PLAIN, user_agent="x\r\nEvil: 1")
    with pytest.raises(LocalProtocolError, match="cannot build the CONNECT request"):
        tunnel.initiate(0.0)


def test_connect_tunnel_needs_an_http_proxy_config() -> None:
    with pytest.raises(LocalProtocolError, match="use Socks5Tunnel"):
        ConnectTunnel(HOST, PORT, parse_proxy_url("socks5://s"))
    with pytest.raises(LocalProtocolError, match="ProxyConfig"):
        ConnectTunnel(HOST, PORT, "http://proxy:1")  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_handshake_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(LocalProtocolError, match="timeout"):
        ConnectTunnel(HOST, PORT, PLAIN, timeout=timeout)


def test_initiate_twice_is_a_local_error() -> None:
    tunnel = _started()
    with pytest.raises(LocalProtocolError, match="initiate"):
        tunnel.initiate(1.0)


def test_receive_before_initiate_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="before initiate"):
        ConnectTunnel(HOST, PORT, PLAIN).receive_data(OK)


def test_receive_data_takes_bytes_only() -> None:
    with pytest.raises(LocalProtocolError, match="bytes"):
        _started().receive_data("HTTP/1.1 200 OK\r\n\r\n")  # type: ignore[arg-type]


# --- success -------------------------------------------------------------------------


def test_200_opens_the_tunnel_and_keeps_the_bytes_behind_it() -> None:
    tunnel = _started()
    tunnel.receive_data(b"HTTP/1.1 200 Connection established\r\nVia: 1.1 squid\r\n\r\n"
                        + TLS_HELLO)
    assert tunnel.next_event() == TunnelEstablished(
        target="api.sgroup.qq.com:443", trailing_data=TLS_HELLO, status=200,
        reason="Connection established", headers=(("Via", "1.1 squid"),),
    )
    assert tunnel.next_event() is None
    assert tunnel.state is TunnelState.ESTABLISHED
    assert tunnel.get_timer() is None


def test_200_without_trailing_bytes_has_empty_trailing_data() -> None:
    tunnel = _started()
    tunnel.receive_data(OK)
    event = tunnel.next_event()
    assert event is not None and event.trailing_data == b""


def test_http_1_0_answer_opens_the_tunnel() -> None:
    tunnel = _started()
    tunnel.receive_data(b"HTTP/1.0 200 Connection established\r\n\r\n" + TLS_HELLO)
    event = tunnel.next_event()
    assert event is not None
    assert (event.status, event.trailing_data) == (200, TLS_HELLO)


@pytest.mark.parametrize("status", [201, 204, 299])
def test_any_2xx_opens_the_tunnel(status: int) -> None:
    tunnel = _started()
    tunnel.receive_data(f"HTTP/1.1 {status} Fine\r\n\r\n".encode())
    event = tunnel.next_event()
    assert event is not None and event.status == status


def test_content_length_on_a_2xx_is_ignored_and_the_bytes_are_tunnel_data() -> None:
    # RFC 9110 §9.3.6: a client MUST ignore Content-Length in a 2xx answer to CONNECT.
    tunnel = _started()
    tunnel.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, world")
    event = tunnel.next_event()
    assert event is not None and event.trailing_data == b"hello, world"


def test_informational_answers_before_the_200_are_skipped() -> None:
    tunnel = _started()
    tunnel.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n")
    assert tunnel.next_event() is None
    assert tunnel.state is TunnelState.HANDSHAKING
    tunnel.receive_data(OK + b"x")
    event = tunnel.next_event()
    assert event is not None and event.trailing_data == b"x"


def test_receive_after_the_tunnel_is_open_is_a_local_error() -> None:
    tunnel = _started()
    tunnel.receive_data(OK)
    with pytest.raises(LocalProtocolError, match="next layer"):
        tunnel.receive_data(TLS_HELLO)


def test_an_answer_split_across_reads_opens_the_tunnel_once() -> None:
    tunnel = _started()
    tunnel.receive_data(b"HTTP/1.1 200 Conn")
    assert tunnel.next_event() is None
    tunnel.receive_data(b"ection established\r\n")
    assert tunnel.next_event() is None
    tunnel.receive_data(b"\r\n" + TLS_HELLO)
    event = tunnel.next_event()
    assert event is not None and event.trailing_data == TLS_HELLO
    assert tunnel.next_event() is None


# --- refusals ------------------------------------------------------------------------

CHALLENGE = (b"HTTP/1.1 407 Proxy Authentication Required\r\n"
             b"Proxy-Authenticate: Basic realm=\"corp\"\r\n"
             b"Proxy-Authenticate: Negotiate\r\n"
             b"Content-Length: 4\r\n\r\nnope")


def test_407_without_credentials_says_none_were_configured() -> None:
    tunnel = _started(PLAIN)
    with pytest.raises(ProxyAuthenticationRequired) as info:
        tunnel.receive_data(CHALLENGE)
    error = info.value
    assert str(error) == (
        "proxy proxy.example:3128 requires authentication (407 Proxy Authentication "
        "Required): no credentials were configured (put user:password in the proxy URL); "
        "it offers: Basic, Negotiate"
    )
    assert (error.status, error.reason) == (407, "Proxy Authentication Required")
    assert error.credentials_sent is False
    assert error.offered_schemes == ("Basic", "Negotiate")
    assert error.retryable is False
    assert isinstance(error, ProxyRefused)
    assert tunnel.state is TunnelState.FAILED


def test_407_with_credentials_says_they_were_rejected_and_never_shows_them() -> None:
    tunnel = _started(AUTH)
    with pytest.raises(ProxyAuthenticationRequired) as info:
        tunnel.receive_data(b"HTTP/1.1 407 Nope\r\n\r\n")
    message = str(info.value)
    assert message == ("proxy proxy.example:3128 requires authentication (407 Nope): "
                       "the credentials in the proxy URL were rejected")
    assert info.value.credentials_sent is True
    assert info.value.offered_schemes == ()
    for secret in ("Aladdin", "open sesame", "open%20sesame", AUTH_TOKEN.decode()):
        assert secret not in message
        assert secret not in repr(info.value)


def test_errors_are_sticky() -> None:
    tunnel = _started()
    with pytest.raises(ProxyAuthenticationRequired) as first:
        tunnel.receive_data(CHALLENGE)
    with pytest.raises(ProxyAuthenticationRequired) as again:
        tunnel.receive_data(b"more")
    assert again.value is first.value
    with pytest.raises(ProxyAuthenticationRequired):
        tunnel.handle_timer(1e9)
    assert tunnel.get_timer() is None


@pytest.mark.parametrize(("status", "reason", "retryable"), [
    (502, "Bad Gateway", True),
    (503, "Service Unavailable", True),
    (504, "Gateway Timeout", True),
    (429, "Too Many Requests", True),
    (403, "Forbidden", False),
    (400, "Bad Request", False),
    (405, "Method Not Allowed", False),
    (301, "Moved Permanently", False),
])
def test_non_2xx_answers_raise_proxy_refused(status: int, reason: str,
                                             retryable: bool) -> None:
    tunnel = _started()
    with pytest.raises(ProxyRefused) as info:
        tunnel.receive_data(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n".encode())
    error = info.value
    assert type(error) is ProxyRefused
    assert (error.status, error.reason, error.retryable) == (status, reason, retryable)
    assert str(error) == (f"proxy proxy.example:3128 refused to open a tunnel to "
                          f"api.sgroup.qq.com:443: {status} {reason}")


def test_refusal_is_raised_on_the_head_without_waiting_for_the_body() -> None:
    tunnel = _started()
    with pytest.raises(ProxyRefused):
        tunnel.receive_data(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 1000\r\n\r\npart")


def test_a_long_reason_phrase_is_truncated_in_the_error() -> None:
    tunnel = _started()
    with pytest.raises(ProxyRefused) as info:
        tunnel.receive_data(b"HTTP/1.1 502 " + b"x" * 500 + b"\r\n\r\n")
    assert info.value.reason == "x" * 120 + "…"


def test_a_non_ascii_reason_phrase_is_kept_printable() -> None:
    tunnel = _started()
    with pytest.raises(ProxyRefused) as info:
        tunnel.receive_data(b"HTTP/1.1 502 Bad\x85Gateway\xa0\r\n\r\n")
    assert info.value.reason.isprintable()


# --- broken answers ------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    b"HTTP/2 200\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
    b"\x05\x00",
    b"\x00" * 64 + b"\r\n\r\n",
])
def test_malformed_answers_raise_proxy_protocol_error(answer: bytes) -> None:
    tunnel = _started()
    with pytest.raises(ProxyProtocolError, match="malformed answer to CONNECT") as info:
        tunnel.receive_data(answer)
        tunnel.receive_data(b"")
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.retryable is True
    assert tunnel.state is TunnelState.FAILED


def test_an_oversized_answer_head_is_refused_not_buffered() -> None:
    tunnel = _started()
    junk = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * (MAX_RESPONSE_HEAD + 10)
    with pytest.raises(ProxyProtocolError):
        for start in range(0, len(junk), 4096):
            tunnel.receive_data(junk[start:start + 4096])


@pytest.mark.parametrize("before_eof", [b"", b"HTTP/1.1 200 Conn", b"HTTP/1.1 200 OK\r\n"])
def test_eof_before_the_answer_is_a_protocol_error(before_eof: bytes) -> None:
    tunnel = _started()
    if before_eof:
        tunnel.receive_data(before_eof)
    with pytest.raises(ProxyProtocolError) as info:
        tunnel.receive_data(b"")
    assert str(info.value) == ("proxy proxy.example:3128 closed the connection before "
                               "opening the tunnel to api.sgroup.qq.com:443")


# --- byte by byte --------------------------------------------------------------------

ANSWERS = [
    OK + TLS_HELLO,
    b"HTTP/1.0 200 Connection established\r\nProxy-Agent: x\r\n\r\n" + TLS_HELLO * 3,
    b"HTTP/1.1 100 Continue\r\n\r\n" + OK + b"tail",
    CHALLENGE,
    b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
]


def _outcome(result: TunnelEstablished | ProxyError) -> object:
    if isinstance(result, ProxyError):
        return (type(result), str(result))
    return result


@pytest.mark.parametrize("answer", ANSWERS)
def test_byte_by_byte_feeding_gives_the_same_result(answer: bytes) -> None:
    whole = _feed(_started(), answer, bytewise=False)
    bytewise = _feed(_started(), answer, bytewise=True)
    if isinstance(whole, TunnelEstablished):
        # Fed one byte at a time, the tunnel opens on the head's last byte; the rest of
        # the bytes arrive later and are the next layer's.
        assert isinstance(bytewise, TunnelEstablished)
        assert bytewise.trailing_data == b""
        assert answer.endswith(whole.trailing_data)
        assert bytewise == TunnelEstablished(
            target=whole.target, trailing_data=b"", status=whole.status,
            reason=whole.reason, headers=whole.headers)
    else:
        assert _outcome(bytewise) == _outcome(whole)


@given(answer=st.sampled_from(ANSWERS), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_any_split_of_the_answer_gives_the_same_result(answer: bytes,
                                                      cuts: list[int]) -> None:
    points = sorted({c % (len(answer) + 1) for c in cuts})
    chunks = [answer[a:b] for a, b in zip([0, *points], [*points, len(answer)], strict=True)]
    chunks = [chunk for chunk in chunks if chunk]  # b"" would mean EOF
    tunnel = _started()
    result: TunnelEstablished | ProxyError | None = None
    consumed = 0
    try:
        for chunk in chunks:
            tunnel.receive_data(chunk)
            consumed += len(chunk)
            result = tunnel.next_event()
            if result is not None:
                break
    except ProxyError as exc:
        result = exc
    whole = _feed(_started(), answer, bytewise=False)
    if isinstance(whole, TunnelEstablished):
        assert isinstance(result, TunnelEstablished)
        # Nothing is lost: what the tunnel kept plus what was not fed yet is the tail.
        assert result.trailing_data + answer[consumed:] == whole.trailing_data
    else:
        assert result is not None
        assert _outcome(result) == _outcome(whole)


# --- the handshake timer -------------------------------------------------------------


def test_timer_is_armed_at_initiate_with_the_default_timeout() -> None:
    tunnel = ConnectTunnel(HOST, PORT, PLAIN)
    assert tunnel.get_timer() is None
    tunnel.initiate(100.0)
    assert DEFAULT_HANDSHAKE_TIMEOUT == 10.0
    assert tunnel.get_timer() == 110.0


def test_timer_before_the_deadline_does_nothing() -> None:
    tunnel = _started(now=100.0, timeout=5.0)
    tunnel.handle_timer(104.999)
    assert tunnel.state is TunnelState.HANDSHAKING
    assert tunnel.get_timer() == 105.0


def test_timer_at_the_deadline_raises_proxy_timeout() -> None:
    tunnel = _started(now=100.0, timeout=5.0)
    deadline = tunnel.get_timer()
    assert deadline is not None
    with pytest.raises(ProxyTimeout) as info:
        tunnel.handle_timer(deadline)
    assert str(info.value) == ("proxy proxy.example:3128 did not open the tunnel to "
                               "api.sgroup.qq.com:443 within 5 s")
    assert isinstance(info.value, TimeoutError)
    assert info.value.retryable is True
    assert tunnel.state is TunnelState.FAILED
    assert tunnel.get_timer() is None
    with pytest.raises(ProxyTimeout):
        tunnel.receive_data(OK)


def test_timer_after_the_tunnel_opened_does_nothing() -> None:
    tunnel = _started(now=0.0)
    tunnel.receive_data(OK)
    tunnel.handle_timer(1e9)
    assert tunnel.state is TunnelState.ESTABLISHED


def test_timer_before_initiate_does_nothing() -> None:
    tunnel = ConnectTunnel(HOST, PORT, PLAIN)
    tunnel.handle_timer(1e9)
    assert tunnel.state is TunnelState.IDLE


# --- fuzz ----------------------------------------------------------------------------


@given(answer=st.binary(max_size=300), eof=st.booleans())
def test_arbitrary_connect_answers_end_only_in_an_event_or_a_proxy_error(
    answer: bytes, eof: bool
) -> None:
    tunnel = _started()
    try:
        tunnel.receive_data(answer)
        if tunnel.next_event() is None and eof:
            tunnel.receive_data(b"")
    except ProxyError:
        assert tunnel.state is TunnelState.FAILED


@given(prefix=st.sampled_from([b"HTTP/1.1 ", b"HTTP/1.0 ", b"HTTP/1.1 200 OK\r\n"]),
       rest=st.binary(max_size=200))
def test_answers_that_look_like_http_end_only_in_an_event_or_a_proxy_error(
    prefix: bytes, rest: bytes
) -> None:
    tunnel = _started()
    try:
        tunnel.receive_data(prefix + rest)
        tunnel.next_event()
    except ProxyError:
        pass


# --- SOCKS5 --------------------------------------------------------------------------

SOCKS = parse_proxy_url("socks5h://socks.example")
SOCKS_AUTH = parse_proxy_url("socks5://alice:s3cret@socks.example:9050")
GREETING = b"\x05\x01\x00"
GREETING_AUTH = b"\x05\x02\x00\x02"
CONNECT_NAME = b"\x05\x01\x00\x03\x11api.sgroup.qq.com\x01\xbb"
REPLY_V4 = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x1f\x90"


def _need_socksio() -> None:
    pytest.importorskip("socksio", reason="SOCKS5 tunnels need the optional socksio")


def _socks(proxy: ProxyConfig = SOCKS, host: str = HOST, port: int = PORT,
           now: float = 0.0) -> Socks5Tunnel:
    _need_socksio()
    tunnel = Socks5Tunnel(host, port, proxy)
    tunnel.initiate(now)
    return tunnel


def test_socks5_greeting_without_credentials_offers_no_auth_only() -> None:
    assert _socks().data_to_send() == GREETING


def test_socks5_greeting_with_credentials_offers_user_password_too() -> None:
    assert _socks(SOCKS_AUTH).data_to_send() == GREETING_AUTH


def test_socks5_no_auth_flow_is_byte_exact_and_keeps_trailing_bytes() -> None:
    tunnel = _socks()
    tunnel.data_to_send()
    tunnel.receive_data(b"\x05\x00")
    assert tunnel.data_to_send() == CONNECT_NAME
    assert tunnel.next_event() is None
    tunnel.receive_data(REPLY_V4 + TLS_HELLO)
    assert tunnel.next_event() == TunnelEstablished(
        target="api.sgroup.qq.com:443", trailing_data=TLS_HELLO, reason="succeeded")
    assert tunnel.state is TunnelState.ESTABLISHED
    assert tunnel.get_timer() is None


def test_socks5_user_password_flow_is_byte_exact() -> None:
    tunnel = _socks(SOCKS_AUTH)
    assert tunnel.data_to_send() == GREETING_AUTH
    tunnel.receive_data(b"\x05\x02")
    assert tunnel.data_to_send() == b"\x01\x05alice\x06s3cret"
    tunnel.receive_data(b"\x01\x00")
    assert tunnel.data_to_send() == CONNECT_NAME
    tunnel.receive_data(REPLY_V4)
    event = tunnel.next_event()
    assert event is not None and event.trailing_data == b""


def test_socks5_proxy_may_skip_auth_even_when_credentials_are_offered() -> None:
    tunnel = _socks(SOCKS_AUTH)
    tunnel.receive_data(b"\x05\x00")
    assert tunnel.data_to_send() == GREETING_AUTH + CONNECT_NAME


@pytest.mark.parametrize(("host", "request_bytes"), [
    ("127.0.0.1", b"\x05\x01\x00\x01\x7f\x00\x00\x01\x01\xbb"),
    ("::1", b"\x05\x01\x00\x04" + b"\x00" * 15 + b"\x01\x01\xbb"),
    ("localhost", b"\x05\x01\x00\x03\x09localhost\x01\xbb"),
])
def test_socks5_connect_request_address_types(host: str, request_bytes: bytes) -> None:
    tunnel = _socks(host=host)
    tunnel.receive_data(b"\x05\x00")
    assert tunnel.data_to_send() == GREETING + request_bytes


@pytest.mark.parametrize("reply", [
    REPLY_V4,
    b"\x05\x00\x00\x04" + b"\x00" * 15 + b"\x01\x1f\x90",
    b"\x05\x00\x00\x03\x0bproxy.local\x1f\x90",
    b"\x05\x00\x00\x03\x00\x1f\x90",
])
def test_socks5_replies_of_every_address_type_are_framed_exactly(reply: bytes) -> None:
    tunnel = _socks()
    tunnel.receive_data(b"\x05\x00" + reply + b"after")
    event = tunnel.next_event()
    assert event is not None and event.trailing_data == b"after"


def test_socks5_rejected_credentials() -> None:
    tunnel = _socks(SOCKS_AUTH)
    tunnel.receive_data(b"\x05\x02")
    with pytest.raises(ProxyAuthenticationRequired) as info:
        tunnel.receive_data(b"\x01\x01")
    assert str(info.value) == ("SOCKS5 proxy socks.example:9050 rejected the credentials "
                               "in the proxy URL")
    assert info.value.credentials_sent is True
    assert info.value.retryable is False
    assert "s3cret" not in repr(info.value) and "alice" not in str(info.value)


@pytest.mark.parametrize(("proxy", "sent", "detail"), [
    (SOCKS, False, "no credentials were configured"),
    (SOCKS_AUTH, True, "it refused user/password"),
])
def test_socks5_no_acceptable_methods(proxy: ProxyConfig, sent: bool, detail: str) -> None:
    tunnel = _socks(proxy)
    with pytest.raises(ProxyAuthenticationRequired, match=detail) as info:
        tunnel.receive_data(b"\x05\xff")
    assert (info.value.status, info.value.credentials_sent) == (0xFF, sent)


@pytest.mark.parametrize(("answer", "message"), [
    (b"\x05\x02", "chose authentication method 0x02, which was not offered"),
    (b"\x05\x01", "chose authentication method 0x01, which was not offered"),
    (b"\x05\x03", "chose authentication method 0x03, which was not offered"),
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "answered with version 72, not 5"),
    (b"\x04\x00", "answered with version 4, not 5"),
])
def test_socks5_bad_method_answers(answer: bytes, message: str) -> None:
    tunnel = _socks()
    with pytest.raises(ProxyProtocolError, match=message):
        tunnel.receive_data(answer)


@pytest.mark.parametrize(("code", "text", "retryable"), [
    (0x01, "general SOCKS server failure", True),
    (0x02, "connection not allowed by ruleset", False),
    (0x03, "network unreachable", True),
    (0x04, "host unreachable", True),
    (0x05, "connection refused", True),
    (0x06, "TTL expired", True),
    (0x07, "command not supported", False),
    (0x08, "address type not supported", False),
])
def test_socks5_failure_replies_raise_proxy_refused(code: int, text: str,
                                                    retryable: bool) -> None:
    tunnel = _socks()
    tunnel.receive_data(b"\x05\x00")
    with pytest.raises(ProxyRefused) as info:
        tunnel.receive_data(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
    assert (info.value.status, info.value.reason, info.value.retryable) == (
        code, text, retryable)
    assert str(info.value) == (f"SOCKS5 proxy socks.example:1080 refused to open a tunnel "
                               f"to api.sgroup.qq.com:443: {text} ({code:#04x})")


@pytest.mark.parametrize(("reply", "message"), [
    (b"\x05\x09\x00\x01\x00\x00\x00\x00\x00\x00", "unknown reply code 0x09"),
    (b"\x04\x00\x00\x01\x00\x00\x00\x00\x00\x00", "malformed CONNECT reply"),
    (b"\x05\x00\x00\x07\x00\x00\x00\x00\x00\x00", "unknown address type 0x07"),
    (b"\x05\x00\x00\x03\x02\xff\xfe\x00\x00", "malformed CONNECT reply"),
])
def test_socks5_malformed_replies(reply: bytes, message: str) -> None:
    tunnel = _socks()
    tunnel.receive_data(b"\x05\x00")
    with pytest.raises(ProxyProtocolError, match=message):
        tunnel.receive_data(reply)


@pytest.mark.parametrize("before_eof", [b"", b"\x05", b"\x05\x00", b"\x05\x00\x05\x00\x00",
                                        b"\x05\x00\x05\x00\x00\x01\x7f"])
def test_socks5_eof_before_the_reply_is_a_protocol_error(before_eof: bytes) -> None:
    tunnel = _socks()
    if before_eof:
        tunnel.receive_data(before_eof)
    with pytest.raises(ProxyProtocolError, match="closed the connection before opening"):
        tunnel.receive_data(b"")


def test_socks5_eof_during_auth_is_a_protocol_error() -> None:
    tunnel = _socks(SOCKS_AUTH)
    tunnel.receive_data(b"\x05\x02\x01")
    with pytest.raises(ProxyProtocolError):
        tunnel.receive_data(b"")


SOCKS_SCRIPTS = [
    (SOCKS, b"\x05\x00" + REPLY_V4 + TLS_HELLO),
    (SOCKS_AUTH, b"\x05\x02\x01\x00" + REPLY_V4),
    (SOCKS_AUTH, b"\x05\x02\x01\x01"),
    (SOCKS, b"\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"),
    (SOCKS, b"\x05\x00\x05\x00\x00\x03\x05abcde\x00\x50tail"),
]


@pytest.mark.parametrize(("proxy", "answer"), SOCKS_SCRIPTS)
def test_socks5_byte_by_byte_feeding_gives_the_same_result(proxy: ProxyConfig,
                                                           answer: bytes) -> None:
    whole_tunnel, byte_tunnel = _socks(proxy), _socks(proxy)
    whole = _feed(whole_tunnel, answer, bytewise=False)
    bytewise = _feed(byte_tunnel, answer, bytewise=True)
    assert whole_tunnel.data_to_send() == byte_tunnel.data_to_send()
    if isinstance(whole, TunnelEstablished):
        assert isinstance(bytewise, TunnelEstablished)
        assert bytewise.trailing_data == b""
        assert bytewise == TunnelEstablished(target=whole.target, trailing_data=b"",
                                             reason=whole.reason)
    else:
        assert _outcome(bytewise) == _outcome(whole)


def test_socks5_handshake_timer() -> None:
    tunnel = _socks(now=50.0)
    assert tunnel.get_timer() == 60.0
    tunnel.receive_data(b"\x05\x00")
    with pytest.raises(ProxyTimeout):
        tunnel.handle_timer(60.0)


def test_socks5_without_socksio_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "socksio", None)
    monkeypatch.setitem(sys.modules, "socksio.socks5", None)
    with pytest.raises(ProxyConfigError, match=re.escape(
        "override: SOCKS5 proxies need the optional dependency socksio "
        "(pip install 'qqproto[socks]')"
    )):
        Socks5Tunnel(HOST, PORT, SOCKS)
    # HTTP CONNECT does not need it.
    assert type(open_tunnel(HOST, PORT, PLAIN)) is ConnectTunnel


def test_both_tunnels_satisfy_the_tunnel_protocol() -> None:
    _need_socksio()
    tunnels: list[Tunnel] = [open_tunnel(HOST, PORT, PLAIN), open_tunnel(HOST, PORT, SOCKS)]
    for tunnel in tunnels:
        assert tunnel.state is TunnelState.IDLE
        tunnel.initiate(0.0)
        assert tunnel.data_to_send()
        assert tunnel.get_timer() == DEFAULT_HANDSHAKE_TIMEOUT


def test_socks5_tunnel_validates_its_inputs() -> None:
    with pytest.raises(LocalProtocolError, match="use ConnectTunnel"):
        Socks5Tunnel(HOST, PORT, PLAIN)
    _need_socksio()
    with pytest.raises(LocalProtocolError, match="255 bytes"):
        Socks5Tunnel("a" * 256, PORT, SOCKS)


@given(answer=st.binary(max_size=120), eof=st.booleans(),
       proxy=st.sampled_from([SOCKS, SOCKS_AUTH]))
def test_arbitrary_socks5_answers_end_only_in_an_event_or_a_proxy_error(
    answer: bytes, eof: bool, proxy: ProxyConfig
) -> None:
    tunnel = _socks(proxy)
    try:
        tunnel.receive_data(answer)
        if tunnel.next_event() is None and eof:
            tunnel.receive_data(b"")
    except ProxyError:
        assert tunnel.state is TunnelState.FAILED


# --- dispatch ------------------------------------------------------------------------


def test_open_tunnel_picks_the_tunnel_for_the_proxy_scheme() -> None:
    assert type(open_tunnel(HOST, PORT, PLAIN)) is ConnectTunnel
    _need_socksio()
    assert type(open_tunnel(HOST, PORT, SOCKS)) is Socks5Tunnel
    assert type(open_tunnel(HOST, PORT, SOCKS_AUTH, timeout=3.0)) is Socks5Tunnel
    tunnel = open_tunnel(HOST, PORT, PLAIN, timeout=3.0)
    tunnel.initiate(1.0)
    assert tunnel.get_timer() == 4.0
