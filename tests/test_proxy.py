"""Proxy resolution (qqproto.proxy._config): every rule and its precedence, NO_PROXY syntax,
proxy URL parsing, credential redaction, and properties over arbitrary environments."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._secret import Secret
from qqproto.errors import ProxyConfigError
from qqproto.proxy._config import (
    DEFAULT_PORTS,
    DIRECT,
    ProxyConfig,
    ProxyScheme,
    format_authority,
    no_proxy_matches,
    parse_proxy_url,
    proxy_variables_for,
    resolve_proxy,
)

WSS = "wss://api.sgroup.qq.com/websocket"
HTTPS = "https://api.sgroup.qq.com/v2/users/@me"
WS = "ws://sim.internal:8080/websocket"
HTTP = "http://sim.internal:8080/app/getAppAccessToken"


def _resolved(url: str, env: dict[str, str]) -> str | None:
    config = resolve_proxy(url, env)
    return None if config is None else config.url_for_httpx()


# --- which variable wins -------------------------------------------------------------

RESOLUTION_TABLE = [
    # (target, env, expected proxy URL)
    (WSS, {}, None),
    (WSS, {"WSS_PROXY": "http://wss:1"}, "http://wss:1"),
    (WSS, {"wss_proxy": "http://lower:1", "WSS_PROXY": "http://upper:1"}, "http://lower:1"),
    (WSS, {"WSS_PROXY": "http://wss:1", "HTTPS_PROXY": "http://https:1"}, "http://wss:1"),
    (WSS, {"HTTPS_PROXY": "http://https:1"}, "http://https:1"),
    (WSS, {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}, "http://lower:1"),
    (WSS, {"HTTPS_PROXY": "http://https:1", "ALL_PROXY": "http://all:1"}, "http://https:1"),
    (WSS, {"ALL_PROXY": "http://all:1"}, "http://all:1"),
    (WSS, {"all_proxy": "http://lower:1", "ALL_PROXY": "http://upper:1"}, "http://lower:1"),
    (WSS, {"WSS_PROXY": "http://wss:1", "all_proxy": "http://all:1"}, "http://wss:1"),
    # Upper-case WSS beats lower-case HTTPS: the scheme-specific name comes first.
    (WSS, {"WSS_PROXY": "http://wss:1", "https_proxy": "http://https:1"}, "http://wss:1"),
    # Plain-HTTP and WebSocket-only variables never route a secure target.
    (WSS, {"HTTP_PROXY": "http://h:1", "http_proxy": "http://h:1"}, None),
    (WSS, {"WS_PROXY": "http://ws:1", "ws_proxy": "http://ws:1"}, None),
    (HTTPS, {"WSS_PROXY": "http://wss:1"}, None),
    (HTTPS, {"HTTPS_PROXY": "http://https:1"}, "http://https:1"),
    (HTTPS, {"HTTPS_PROXY": "http://https:1", "ALL_PROXY": "http://all:1"}, "http://https:1"),
    (HTTPS, {"ALL_PROXY": "socks5h://all:1"}, "socks5h://all:1"),
    (WS, {"WS_PROXY": "http://ws:1"}, "http://ws:1"),
    (WS, {"ws_proxy": "http://lower:1", "WS_PROXY": "http://upper:1"}, "http://lower:1"),
    (WS, {"WS_PROXY": "http://ws:1", "http_proxy": "http://http:1"}, "http://ws:1"),
    (WS, {"http_proxy": "http://http:1"}, "http://http:1"),
    (WS, {"http_proxy": "http://http:1", "ALL_PROXY": "http://all:1"}, "http://http:1"),
    (WS, {"HTTPS_PROXY": "http://https:1", "WSS_PROXY": "http://wss:1"}, None),
    (WS, {"ALL_PROXY": "http://all:1"}, "http://all:1"),
    (HTTP, {"http_proxy": "http://http:1"}, "http://http:1"),
    (HTTP, {"ws_proxy": "http://ws:1", "HTTPS_PROXY": "http://https:1"}, None),
    (HTTP, {"all_proxy": "http://all:1"}, "http://all:1"),
    # httpoxy: upper-case HTTP_PROXY is never read, so ALL_PROXY (or nothing) applies.
    (HTTP, {"HTTP_PROXY": "http://evil:1"}, None),
    (WS, {"HTTP_PROXY": "http://evil:1"}, None),
    (HTTP, {"HTTP_PROXY": "http://evil:1", "ALL_PROXY": "http://all:1"}, "http://all:1"),
    # Empty or blank values count as unset and fall through to the next name.
    (WSS, {"wss_proxy": "", "WSS_PROXY": "http://upper:1"}, "http://upper:1"),
    (WSS, {"WSS_PROXY": "   ", "HTTPS_PROXY": "http://https:1"}, "http://https:1"),
    (WSS, {"https_proxy": "\t", "ALL_PROXY": "http://all:1"}, "http://all:1"),
    # The target scheme is case-insensitive.
    ("WSS://API.SGROUP.QQ.COM/websocket", {"HTTPS_PROXY": "http://h:1"}, "http://h:1"),
    # Unrelated variables are ignored.
    (WSS, {"FTP_PROXY": "http://ftp:1", "PATH": "/usr/bin"}, None),
]


@pytest.mark.parametrize(("url", "env", "expected"), RESOLUTION_TABLE)
def test_resolution_table(url: str, env: dict[str, str], expected: str | None) -> None:
    assert _resolved(url, env) == expected


def test_resolution_records_the_variable_it_used() -> None:
    config = resolve_proxy(WSS, {"wss_proxy": "http://p:1", "HTTPS_PROXY": "http://q:1"})
    assert config is not None
    assert config.source == "wss_proxy"
    config = resolve_proxy(HTTPS, {"ALL_PROXY": "http://p:1"})
    assert config is not None and config.source == "ALL_PROXY"


@pytest.mark.parametrize(("scheme", "names"), [
    ("wss", ("wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")),
    ("https", ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")),
    ("ws", ("ws_proxy", "WS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY")),
    ("http", ("http_proxy", "all_proxy", "ALL_PROXY")),
    ("WSS", ("wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")),
])
def test_variables_for_each_target_scheme_in_precedence_order(
    scheme: str, names: tuple[str, ...]
) -> None:
    assert proxy_variables_for(scheme) == names
    assert "HTTP_PROXY" not in names


def test_environment_is_only_read_not_copied_or_changed() -> None:
    env = {"HTTPS_PROXY": "http://p:1"}
    resolve_proxy(WSS, env)
    assert env == {"HTTPS_PROXY": "http://p:1"}


# --- NO_PROXY ------------------------------------------------------------------------

NO_PROXY_TABLE = [
    # (NO_PROXY value, target URL, exempt?)
    ("*", WSS, True),
    ("*", "https://127.0.0.1:8443/", True),
    ("a.com, *", WSS, True),
    ("qq.com", WSS, True),
    ("sgroup.qq.com", WSS, True),
    ("api.sgroup.qq.com", WSS, True),
    (".qq.com", WSS, True),
    (".api.sgroup.qq.com", WSS, True),
    ("*.qq.com", WSS, True),
    ("QQ.COM", WSS, True),
    ("qq.com.", WSS, True),
    ("qq.com", "wss://api.sgroup.qq.com./websocket", True),
    ("q.com", WSS, False),
    ("badqq.com", "wss://qq.com/", False),
    ("qq.com", "wss://badqq.com/", False),
    ("qq.com", "wss://qq.com.evil.example/", False),
    ("api.sgroup.qq.com.cn", WSS, False),
    ("other.example", WSS, False),
    # Ports: the URL's port or the scheme default.
    ("api.sgroup.qq.com:443", WSS, True),
    ("api.sgroup.qq.com:80", WSS, False),
    ("qq.com:443", HTTPS, True),
    ("sim.internal:8080", WS, True),
    ("sim.internal:80", WS, False),
    ("sim.internal:80", "ws://sim.internal/", True),
    ("*.internal:8080", HTTP, True),
    # IP addresses: exact literals, never resolved.
    ("127.0.0.1", "wss://127.0.0.1:8443/", True),
    ("127.0.0.1", "wss://localhost:8443/", False),
    ("localhost", "wss://localhost:8443/", True),
    ("localhost", "wss://127.0.0.1:8443/", False),
    ("127.0.0.1:8443", "wss://127.0.0.1:8443/", True),
    ("127.0.0.1:9999", "wss://127.0.0.1:8443/", False),
    ("0.0.1", "wss://127.0.0.1/", False),
    ("::1", "wss://[::1]:8443/", True),
    ("[::1]", "wss://[::1]:8443/", True),
    ("[::1]:8443", "wss://[::1]:8443/", True),
    ("[::1]:1", "wss://[::1]:8443/", False),
    ("0:0:0:0:0:0:0:1", "wss://[::1]/", True),
    ("::1", "wss://127.0.0.1/", False),
    # CIDR blocks match IP literals inside them, never names.
    ("10.0.0.0/8", "https://10.1.2.3/", True),
    ("10.0.0.0/8", "https://11.0.0.1/", False),
    ("10.0.0.0/8", "https://ten.example/", False),
    ("127.0.0.0/8", "wss://127.9.9.9:1/", True),
    ("10.1.2.3/8", "https://10.200.0.1/", True),  # host bits tolerated
    ("fd00::/8", "https://[fd12::1]/", True),
    ("fd00::/8", "https://10.0.0.1/", False),
    ("10.0.0.0/8", "https://[fd12::1]/", False),
    ("[fd00::/8]:443", "https://[fd12::1]/", True),
    # Separators: commas and/or any whitespace; empty entries are skipped.
    ("a.example  b.example", "https://b.example/", True),
    ("a.example,\tb.example\n", "https://b.example/", True),
    (", ,,  qq.com ,", WSS, True),
    ("", WSS, False),
    # Entries that cannot be read match nothing; later entries still count.
    ("qq.com:notaport", WSS, False),
    ("qq.com:0", WSS, False),
    ("qq.com:99999", WSS, False),
    ("10.0.0.0/33,qq.com", WSS, True),
    ("10.0.0.0/33", "https://10.0.0.1/", False),
    ("[::1", "wss://[::1]/", False),
    ("[::1]x", "wss://[::1]/", False),
    ("[::1", WSS + "", False),
    (".", WSS, False),
    ("*.", WSS, False),
    ("..", WSS, False),
]


@pytest.mark.parametrize(("no_proxy", "url", "exempt"), NO_PROXY_TABLE)
def test_no_proxy_table(no_proxy: str, url: str, exempt: bool) -> None:
    env = {"NO_PROXY": no_proxy, "ALL_PROXY": "http://proxy:3128"}
    assert (resolve_proxy(url, env) is None) is exempt


def test_loopback_targets_are_not_exempt_unless_listed() -> None:
    env = {"HTTPS_PROXY": "http://proxy:3128"}
    for url in ("wss://127.0.0.1:8443/", "wss://localhost/", "wss://[::1]/"):
        assert resolve_proxy(url, env) is not None
        assert resolve_proxy(url, {**env, "NO_PROXY": "127.0.0.1,localhost,::1"}) is None


def test_lowercase_no_proxy_wins_over_uppercase() -> None:
    env = {"no_proxy": "a.example", "NO_PROXY": "qq.com", "HTTPS_PROXY": "http://p:1"}
    assert resolve_proxy(WSS, env) is not None
    assert resolve_proxy("wss://a.example/", env) is None


def test_empty_lowercase_no_proxy_falls_through_to_uppercase() -> None:
    env = {"no_proxy": " ", "NO_PROXY": "qq.com", "HTTPS_PROXY": "http://p:1"}
    assert resolve_proxy(WSS, env) is None


def test_no_proxy_exemption_skips_even_a_malformed_proxy_variable() -> None:
    # An exempt target never looks at the proxy variables, so a bad one cannot break it.
    assert resolve_proxy(WSS, {"NO_PROXY": "*", "HTTPS_PROXY": "ftp://bad"}) is None


def test_no_proxy_matches_is_usable_directly() -> None:
    assert no_proxy_matches(".qq.com", "API.SGROUP.QQ.COM", 443)
    assert no_proxy_matches("[::1]", "[::1]", 80)
    assert not no_proxy_matches("qq.com:80", "qq.com", 443)


# --- the explicit override ------------------------------------------------------------


def test_direct_override_ignores_every_variable() -> None:
    env = {"WSS_PROXY": "http://p:1", "HTTPS_PROXY": "http://p:1", "ALL_PROXY": "http://p:1"}
    assert resolve_proxy(WSS, env, DIRECT) is None
    assert resolve_proxy(HTTP, {"http_proxy": "http://p:1"}, override=DIRECT) is None


def test_direct_override_does_not_even_read_a_malformed_variable() -> None:
    assert resolve_proxy(WSS, {"HTTPS_PROXY": "ftp://bad"}, DIRECT) is None


def test_url_override_wins_over_the_environment_and_no_proxy() -> None:
    env = {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "*"}
    config = resolve_proxy(WSS, env, "http://explicit:3128")
    assert config == ProxyConfig(scheme=ProxyScheme.HTTP, host="explicit", port=3128)
    assert config is not None and config.source == "override"


def test_config_override_is_returned_as_given() -> None:
    given_config = ProxyConfig(scheme=ProxyScheme.SOCKS5H, host="s", port=9050)
    assert resolve_proxy(WSS, {"HTTPS_PROXY": "http://env:1"}, given_config) is given_config


def test_none_override_follows_the_environment() -> None:
    assert _resolved(WSS, {"HTTPS_PROXY": "http://env:1"}) == "http://env:1"
    config = resolve_proxy(WSS, {"HTTPS_PROXY": "http://env:1"}, None)
    assert config is not None and config.host == "env"


def test_empty_override_is_an_error_not_a_silent_direct_connection() -> None:
    with pytest.raises(ProxyConfigError, match=r"^override: the proxy URL is empty$"):
        resolve_proxy(WSS, {}, "")


def test_direct_has_a_readable_repr() -> None:
    assert repr(DIRECT) == "qqproto.DIRECT"


# --- the target URL -------------------------------------------------------------------


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://files.example/", "unsupported target URL scheme 'ftp'"),
    ("api.sgroup.qq.com", "unsupported target URL scheme ''"),
    ("wss:///websocket", "the target URL has no host"),
    ("wss://api.sgroup.qq.com:99999/", "the target URL is malformed"),
    ("wss://[::1/", "the target URL is malformed"),
])
def test_bad_target_urls_raise_proxy_config_error(url: str, message: str) -> None:
    with pytest.raises(ProxyConfigError, match=message):
        resolve_proxy(url, {})


def test_non_string_target_raises_proxy_config_error() -> None:
    with pytest.raises(ProxyConfigError, match="must be a string"):
        resolve_proxy(b"wss://x/", {})  # type: ignore[arg-type]


# --- parsing proxy URLs ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "scheme", "host", "port"), [
    ("http://proxy.example:3128", ProxyScheme.HTTP, "proxy.example", 3128),
    ("http://proxy.example", ProxyScheme.HTTP, "proxy.example", 80),
    ("http://proxy.example:", ProxyScheme.HTTP, "proxy.example", 80),
    ("http://proxy.example/", ProxyScheme.HTTP, "proxy.example", 80),
    ("http://proxy.example:3128/", ProxyScheme.HTTP, "proxy.example", 3128),
    ("proxy.example:3128", ProxyScheme.HTTP, "proxy.example", 3128),
    ("proxy.example", ProxyScheme.HTTP, "proxy.example", 80),
    ("HTTP://Proxy.Example.:8080", ProxyScheme.HTTP, "proxy.example", 8080),
    ("  http://p:1\n", ProxyScheme.HTTP, "p", 1),
    ("socks5://s.example", ProxyScheme.SOCKS5, "s.example", 1080),
    ("socks5h://s.example:9050", ProxyScheme.SOCKS5H, "s.example", 9050),
    ("SOCKS5H://s.example", ProxyScheme.SOCKS5H, "s.example", 1080),
    ("http://10.0.0.1:3128", ProxyScheme.HTTP, "10.0.0.1", 3128),
    ("http://[::1]:3128", ProxyScheme.HTTP, "::1", 3128),
    ("http://[0:0::1]", ProxyScheme.HTTP, "::1", 80),
    ("http://[FD00::AB]:1", ProxyScheme.HTTP, "fd00::ab", 1),
    ("http://p:65535", ProxyScheme.HTTP, "p", 65535),
    ("http://p:00080", ProxyScheme.HTTP, "p", 80),
    ("http://under_score.example", ProxyScheme.HTTP, "under_score.example", 80),
])
def test_proxy_url_parsing(value: str, scheme: ProxyScheme, host: str, port: int) -> None:
    config = parse_proxy_url(value)
    assert (config.scheme, config.host, config.port) == (scheme, host, port)
    assert config.username is None and config.password is None
    assert config.has_credentials is False
    assert config.basic_auth() is None


def test_default_ports_follow_the_url_default_for_http_and_1080_for_socks() -> None:
    assert DEFAULT_PORTS == {ProxyScheme.HTTP: 80, ProxyScheme.SOCKS5: 1080,
                             ProxyScheme.SOCKS5H: 1080}


@pytest.mark.parametrize(("value", "username", "password"), [
    ("http://user:pass@p:1", "user", "pass"),
    ("http://us%40er:pa%3Ass%2F%25@p:1", "us@er", "pa:ss/%"),
    ("http://user:a:b@p:1", "user", "a:b"),
    ("http://user:p@ss@p:1", "user", "p@ss"),  # unencoded "@": the last one splits
    ("http://user@p:1", "user", None),
    ("http://user:@p:1", "user", ""),
    ("http://:pass@p:1", "", "pass"),
    ("http://%E7%94%A8%E6%88%B7:%E5%AF%86@p:1", "用户", "密"),
    ("socks5://us%3Aer:pw@p", "us:er", "pw"),  # ':' is fine in a SOCKS user name
])
def test_credentials_are_percent_decoded(value: str, username: str,
                                         password: str | None) -> None:
    config = parse_proxy_url(value)
    assert config.username == username
    assert config.has_credentials is True
    if password is None:
        assert config.password is None
    else:
        assert isinstance(config.password, Secret)
        assert config.password.reveal() == password


@pytest.mark.parametrize(("value", "message"), [
    ("https://proxy.example:443", "https:// proxies (TLS to the proxy) are not supported"),
    ("socks4://proxy.example", "unsupported proxy scheme 'socks4'"),
    ("ftp://proxy.example", "unsupported proxy scheme 'ftp'"),
    ("h ttp://proxy.example", "unsupported proxy scheme '?'"),
    ("://proxy.example", "unsupported proxy scheme '?'"),
    ("", "the proxy URL is empty"),
    ("   ", "the proxy URL is empty"),
    ("http://", "the proxy URL has no host"),
    ("http://:3128", "the proxy URL has no host"),
    ("http://user:pw@", "the proxy URL has no host"),
    ("http://.", "the proxy URL has no host"),
    ("http://pro xy:80", "not a valid host name"),
    ("http://ex%41mple", "not a valid host name"),
    ("http://-bad.example", "not a valid host name"),
    ("http://代理.example", "not a valid host name"),
    ("http://" + "a" * 254, "not a valid host name"),
    ("http://p:0", "must be a number from 1 to 65535"),
    ("http://p:65536", "must be a number from 1 to 65535"),
    ("http://p:abc", "must be a number from 1 to 65535"),
    ("http://p:-1", "must be a number from 1 to 65535"),
    ("http://p:١٢", "must be a number from 1 to 65535"),
    ("http://p:" + "9" * 5000, "must be a number from 1 to 65535"),
    ("http://[::1", "unclosed"),
    ("http://[zz::1]:80", "not a valid IPv6 address"),
    ("http://[::1]80", "unexpected text after the IPv6 proxy host"),
    ("http://[::1]:x", "must be a number from 1 to 65535"),
    ("http://p:1/path", "takes no path"),
    ("http://p:1?x=1", "takes no query or fragment"),
    ("http://p:1#frag", "takes no query or fragment"),
    ("http://us/er:pw@p", "percent-encode"),
    ("http://us%3Aer:pw@p", "cannot contain ':'"),
    ("http://user%0A:pw@p", "control characters"),
    ("http://user:pw%00@p", "control characters"),
    ("http://user:%FF@p", "not percent-encoded UTF-8"),
    ("socks5://" + "u" * 256 + ":pw@p", "at most 255 bytes"),
    ("socks5://u:" + "p" * 256 + "@p", "at most 255 bytes"),
])
def test_malformed_proxy_urls_raise_proxy_config_error(value: str, message: str) -> None:
    with pytest.raises(ProxyConfigError, match=re.escape(message)) as info:
        parse_proxy_url(value, source="HTTPS_PROXY")
    assert str(info.value).startswith("HTTPS_PROXY: ")
    assert isinstance(info.value, ValueError)


def test_malformed_environment_proxy_names_the_variable() -> None:
    with pytest.raises(ProxyConfigError, match=r"^wss_proxy: unsupported proxy scheme"):
        resolve_proxy(WSS, {"wss_proxy": "gopher://x"})


def test_non_string_proxy_url_raises_proxy_config_error() -> None:
    with pytest.raises(ProxyConfigError, match="must be a string"):
        parse_proxy_url(3128)  # type: ignore[arg-type]
    with pytest.raises(ProxyConfigError, match="must be a string"):
        resolve_proxy(WSS, {}, 3128)  # type: ignore[arg-type]


def test_non_string_environment_values_are_ignored() -> None:
    env: dict[str, object] = {"HTTPS_PROXY": 3128, "ALL_PROXY": "http://all:1"}
    assert _resolved(WSS, env) == "http://all:1"  # type: ignore[arg-type]


# --- redaction -----------------------------------------------------------------------

PASSWORD = "hunter2-Sekrit"


def test_str_redacts_the_password_and_keeps_user_host_and_port() -> None:
    config = parse_proxy_url(f"http://alice:{PASSWORD}@proxy.example:3128")
    assert str(config) == "http://alice:<redacted>@proxy.example:3128"
    assert f"{config}" == "http://alice:<redacted>@proxy.example:3128"


def test_repr_redacts_the_password_and_names_the_source() -> None:
    config = parse_proxy_url(f"http://alice:{PASSWORD}@proxy.example:3128",
                             source="HTTPS_PROXY")
    assert repr(config) == ("ProxyConfig('http://alice:<redacted>@proxy.example:3128', "
                            "source='HTTPS_PROXY')")
    assert PASSWORD not in repr([config])
    assert PASSWORD not in repr(config.password)


def test_str_without_password_and_without_credentials() -> None:
    assert str(parse_proxy_url("socks5h://bob@[::1]")) == "socks5h://bob@[::1]:1080"
    assert str(parse_proxy_url("http://p")) == "http://p:80"


def test_url_for_httpx_reveals_the_percent_encoded_password() -> None:
    config = parse_proxy_url("http://us%40er:pa%3Ass%2F%25@p.example:8080")
    assert config.url_for_httpx() == "http://us%40er:pa%3Ass%2F%25@p.example:8080"
    assert parse_proxy_url("http://[::1]").url_for_httpx() == "http://[::1]:80"


def test_url_for_httpx_is_understood_by_httpx_the_same_way() -> None:
    httpx = pytest.importorskip("httpx", reason="httpx is the drivers' REST client")
    for value in ("http://us%40er:pa%3Ass%2F%25@[::1]:3128", "socks5h://u:p@s.example:9050",
                  "http://p.example"):
        config = parse_proxy_url(value)
        proxy = httpx.Proxy(config.url_for_httpx())
        # httpx drops a port that equals the scheme default (80 for http).
        port = None if (config.scheme, config.port) == (ProxyScheme.HTTP, 80) else config.port
        assert (proxy.url.scheme, proxy.url.host, proxy.url.port) == (
            config.scheme.value, config.host, port)
        if config.username is None:
            assert proxy.auth is None
        else:
            assert config.password is not None
            assert proxy.auth == (config.username, config.password.reveal())


def test_basic_auth_is_rfc7617_with_utf8() -> None:
    # RFC 7617 §2's example credentials.
    config = parse_proxy_url("http://Aladdin:open%20sesame@p")
    assert config.basic_auth() == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    # RFC 7617 §2.1's UTF-8 example.
    assert parse_proxy_url("http://test:123%C2%A3@p").basic_auth() == "Basic dGVzdDoxMjPCow=="
    assert parse_proxy_url("http://user@p").basic_auth() == "Basic dXNlcjo="


def test_equality_ignores_the_source() -> None:
    a = parse_proxy_url("http://u:p@h:1", source="HTTPS_PROXY")
    b = parse_proxy_url("http://u:p@h:1", source="ALL_PROXY")
    c = parse_proxy_url("http://u:q@h:1", source="ALL_PROXY")
    assert a == b
    assert a != c
    assert hash(a) == hash(b)


def test_config_is_frozen() -> None:
    config = parse_proxy_url("http://h:1")
    with pytest.raises(AttributeError):
        config.port = 2  # type: ignore[misc]


def test_format_authority_brackets_ipv6_only() -> None:
    assert format_authority("::1", 443) == "[::1]:443"
    assert format_authority("127.0.0.1", 443) == "127.0.0.1:443"
    assert format_authority("api.sgroup.qq.com", 443) == "api.sgroup.qq.com:443"


@pytest.mark.parametrize("template", [
    "http://user:{pw}",  # forgot "@host": the password sits where the port goes
    "http://user:{pw}@",
    "http://user:{pw}@host:notaport",
    "http://user:{pw}@host/path",
    "http://user:{pw}@host?q",
    "http://user:{pw}@[::1",
    "http://user:{pw}@ho st",
    "https://user:{pw}@host",
    "socks4://user:{pw}@host",
    "http://user:{pw}/oops@host",
    "http://user:{pw}#@host",
    "http://user:{pw}?@host",
    "{pw}://host",
    "http://us:er:{pw}%FF@host",
    "http://user%0A:{pw}@host",
    "socks5://user:{pw}" + "x" * 300 + "@host",
])
def test_error_messages_never_contain_the_password(template: str) -> None:
    value = template.format(pw=PASSWORD)
    with pytest.raises(ProxyConfigError) as info:
        resolve_proxy(WSS, {"HTTPS_PROXY": value})
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True or info.value.__context__ is None


# --- properties ----------------------------------------------------------------------

_NAMES = st.sampled_from([
    "WSS_PROXY", "wss_proxy", "WS_PROXY", "ws_proxy", "HTTPS_PROXY", "https_proxy",
    "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy", "OTHER",
])
_URL_PIECES = st.sampled_from([
    "http://", "https://", "socks5://", "socks5h://", "socks4://", "user", ":", "@", "[",
    "]", "::1", "127.0.0.1", "proxy.example", "/", "?", "#", "%", "%FF", "%3A", "3128",
    "99999", ".", "*", ",", " ", "\n", "10.0.0.0/8", "\x00", "é",
])
_VALUES = st.one_of(
    st.text(max_size=40),
    st.lists(_URL_PIECES, max_size=10).map("".join),
)
_TARGETS = st.sampled_from([WSS, HTTPS, WS, HTTP, "wss://127.0.0.1:8443/", "ws://[::1]/",
                            "https://10.1.2.3/"])


@given(target=_TARGETS, env=st.dictionaries(_NAMES, _VALUES, max_size=8))
def test_resolution_never_raises_anything_but_proxy_config_error(
    target: str, env: dict[str, str]
) -> None:
    try:
        config = resolve_proxy(target, env)
    except ProxyConfigError:
        return
    assert config is None or isinstance(config, ProxyConfig)
    if config is not None:
        # Whatever was accepted survives a round trip through its own URL.
        assert parse_proxy_url(config.url_for_httpx()) == config


@given(target=st.text(max_size=60), env=st.dictionaries(st.text(max_size=12),
                                                          st.text(max_size=30), max_size=5))
def test_resolution_of_arbitrary_text_raises_only_proxy_config_error(
    target: str, env: dict[str, str]
) -> None:
    try:
        result = resolve_proxy(target, env)
    except ProxyConfigError:
        return
    assert result is None or isinstance(result, ProxyConfig)


_PASSWORD_TEXT = st.text(string.ascii_letters + string.digits + "!$&'()*+,;=:@/?#%[] ",
                         min_size=0, max_size=20)


@given(prefix=st.sampled_from(["http", "https", "socks5", "ftp", ""]),
       user=st.text(string.ascii_letters + ":%/", max_size=8),
       tail=st.lists(_URL_PIECES, max_size=6).map("".join),
       extra=_PASSWORD_TEXT)
def test_no_error_message_ever_contains_the_password(prefix: str, user: str, tail: str,
                                                     extra: str) -> None:
    password = "ZQXJ" + extra + "VWKY"  # distinctive ends: no accidental match
    value = f"{prefix}://{user}:{password}@{tail}" if prefix else f"{user}:{password}@{tail}"
    try:
        config = parse_proxy_url(value)
    except ProxyConfigError as exc:
        assert "ZQXJ" not in str(exc)
        assert "VWKY" not in str(exc)
        return
    assert "ZQXJ" not in str(config) or "ZQXJ" in config.host or "ZQXJ" in (
        config.username or "")
    assert "VWKY" not in repr(config) or "VWKY" in config.host


_HOSTS = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}", fullmatch=True),
    st.ip_addresses().map(str),
)


@given(scheme=st.sampled_from(list(ProxyScheme)), host=_HOSTS,
       port=st.integers(1, 65535), user=st.none() | st.text(max_size=10),
       password=st.none() | st.text(max_size=10))
def test_valid_configs_round_trip_through_url_for_httpx(
    scheme: ProxyScheme, host: str, port: int, user: str | None, password: str | None
) -> None:
    if user is None:
        password = None
    config = ProxyConfig(scheme=scheme, host=host, port=port, username=user,
                         password=None if password is None else Secret(password))
    try:
        parsed = parse_proxy_url(config.url_for_httpx())
    except ProxyConfigError as exc:
        # Only credentials the format refuses (control characters, ':' in a Basic user).
        assert "user" in str(exc)
        return
    assert parsed == config
    if password:
        # The password is replaced whole: what stands between the user and the host is
        # the placeholder, whatever characters the password shares with the URL syntax.
        shown = str(parsed)
        assert "<redacted>@" in shown and f":{password}@" not in shown
