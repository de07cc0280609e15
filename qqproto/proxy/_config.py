"""Which proxy, if any, a connection to a URL should go through.

:func:`resolve_proxy` is a pure function of the target URL, a mapping of environment
variables handed in by the caller (the core never reads the process environment) and an optional
explicit override.  The WebSocket gateway and the REST calls use the same function, so
one environment routes both the same way: a driver opens the gateway socket through
the answer itself (:mod:`qqproto.proxy._tunnels`) and gives httpx the same proxy through
:meth:`ProxyConfig.url_for_httpx`.

The rules, in order (``docs/proxies.rst`` has the table):

1. An explicit override wins over the environment: :data:`DIRECT` means "no proxy",
   a URL string or a :class:`ProxyConfig` means "this proxy"; ``NO_PROXY`` does not
   apply to an explicit proxy.
2. ``no_proxy`` / ``NO_PROXY`` exempt matching targets (syntax in :func:`no_proxy_matches`).
   Loopback targets are *not* exempt unless listed.
3. The first non-empty variable of the target scheme's list (lowercase before uppercase,
   as curl and urllib do):

   ============  ============================================================
   target        variables, first set wins
   ============  ============================================================
   ``wss://``    wss_proxy, WSS_PROXY, https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY
   ``https://``  https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY
   ``ws://``     ws_proxy, WS_PROXY, http_proxy, all_proxy, ALL_PROXY
   ``http://``   http_proxy, all_proxy, ALL_PROXY
   ============  ============================================================

   Uppercase ``HTTP_PROXY`` is never read: under CGI the request header ``Proxy:``
   arrives as ``HTTP_PROXY`` ("httpoxy", CVE-2016-5385), so a client reading it lets
   any web visitor pick the proxy.  curl ignores it for the same reason.
"""

from __future__ import annotations

import base64
import enum
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from .._secret import Secret
from ..errors import ProxyConfigError

__all__ = [
    "DEFAULT_PORTS",
    "DIRECT",
    "Direct",
    "ProxyConfig",
    "ProxyScheme",
    "format_authority",
    "no_proxy_matches",
    "parse_proxy_url",
    "proxy_variables_for",
    "resolve_proxy",
]




class Direct(enum.Enum):
    """Type of :data:`DIRECT`."""

    DIRECT = "direct"

    def __repr__(self) -> str:
        return "qqproto.DIRECT"


DIRECT: Final = Direct.DIRECT
"""Explicit override meaning "connect directly, whatever the environment says"."""


class ProxyScheme(enum.StrEnum):
    """The proxy protocols qqproto speaks."""

    HTTP = "http"  #: HTTP CONNECT (RFC 9110 §9.3.6), plain TCP to the proxy
    SOCKS5 = "socks5"  #: SOCKS5 (RFC 1928); the proxy resolves names, as in httpx
    SOCKS5H = "socks5h"  #: SOCKS5, name resolution by the proxy stated explicitly


#: Port assumed when a proxy URL names none: the URL default for http (what httpx and
#: urllib assume), 1080 for SOCKS (RFC 1928 §3, curl's default).
DEFAULT_PORTS: Final[Mapping[ProxyScheme, int]] = {
    ProxyScheme.HTTP: 80,
    ProxyScheme.SOCKS5: 1080,
    ProxyScheme.SOCKS5H: 1080,
}

_TARGET_DEFAULT_PORTS: Final = {"ws": 80, "wss": 443, "http": 80, "https": 443}

# Lowercase first (curl, urllib).  No uppercase HTTP_PROXY: httpoxy, see module docstring.
_VARIABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "wss": ("wss_proxy", "WSS_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
    "https": ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"),
    "ws": ("ws_proxy", "WS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"),
    "http": ("http_proxy", "all_proxy", "ALL_PROXY"),
}
_NO_PROXY_VARIABLES: Final = ("no_proxy", "NO_PROXY")

# RFC 3986 reg-name characters that can appear in a DNS host; anything else (spaces,
# control characters, "%", quotes) is refused rather than passed to a socket or header.
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?")
_MAX_HOST = 253


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyConfig:
    """One proxy: where it is and how to authenticate to it.

    ``str()`` and ``repr()`` show the password as ``<redacted>``; only
    :meth:`url_for_httpx` and :meth:`basic_auth` reveal it, for the wire.  ``source``
    says where the setting came from (``"HTTPS_PROXY"``, ``"override"``, …) and takes
    no part in equality.
    """

    scheme: ProxyScheme
    host: str
    port: int
    username: str | None = None
    password: Secret | None = None
    source: str = field(default="override", compare=False)

    @property
    def has_credentials(self) -> bool:
        return self.username is not None

    @property
    def authority(self) -> str:
        """``host:port``, with brackets around an IPv6 address."""
        return format_authority(self.host, self.port)

    def basic_auth(self) -> str | None:
        """The ``Proxy-Authorization`` value (RFC 7617 Basic), or ``None`` without credentials."""
        if self.username is None:
            return None
        password = self.password.reveal() if self.password is not None else ""
        # RFC 7617 §2.1: UTF-8 is the only charset a server may announce; use it.
        token = base64.b64encode(f"{self.username}:{password}".encode()).decode("ascii")
        return f"Basic {token}"

    def url_for_httpx(self) -> str:
        """The proxy URL with credentials, for ``httpx``'s ``proxy=`` argument.

        The result contains the password: hand it to httpx and nowhere else.
        """
        return self._url(reveal=True)

    def _url(self, *, reveal: bool) -> str:
        userinfo = ""
        if self.username is not None:
            userinfo = quote(self.username, safe="")
            if self.password is not None:
                secret = quote(self.password.reveal(), safe="") if reveal else "<redacted>"
                userinfo += f":{secret}"
            userinfo += "@"
        return f"{self.scheme.value}://{userinfo}{self.authority}"

    def __str__(self) -> str:
        return self._url(reveal=False)

    def __repr__(self) -> str:
        return f"ProxyConfig({self._url(reveal=False)!r}, source={self.source!r})"


def format_authority(host: str, port: int) -> str:
    """``host:port`` for a request target or URL; IPv6 addresses get brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_proxy_url(value: str, *, source: str = "override") -> ProxyConfig:
    """Parse ``scheme://[user[:password]@]host[:port][/]`` into a :class:`ProxyConfig`.

    A value without ``://`` is taken as an ``http://`` proxy (curl does the same).
    User and password are percent-decoded.  ``https://`` proxies (TLS to the proxy) and
    SOCKS4 are refused.  ``source`` names the setting in error messages.
    """
    if not isinstance(value, str):
        raise ProxyConfigError(f"{source}: a proxy URL must be a string")
    text = value.strip()
    if not text:
        raise ProxyConfigError(f"{source}: the proxy URL is empty")
    if "://" not in text:
        text = "http://" + text
    raw_scheme, _, rest = text.partition("://")
    scheme_name = raw_scheme.lower()
    if scheme_name == "https":
        raise ProxyConfigError(
            f"{source}: https:// proxies (TLS to the proxy) are not supported; "
            "use an http:// proxy (the tunnelled connection is still TLS end to end)"
        )
    try:
        scheme = ProxyScheme(scheme_name)
    except ValueError:
        shown = scheme_name if scheme_name.isascii() and scheme_name.isalnum() else "?"
        raise ProxyConfigError(
            f"{source}: unsupported proxy scheme {shown!r}; use http, socks5 or socks5h"
        ) from None

    # Split userinfo off at the *last* "@" so that nothing before it can end up in a
    # message; unencoded "@" in a password then still lands on the secret side.
    userinfo, at, hostport = rest.rpartition("@")
    if any(ch in hostport for ch in "?#"):
        raise ProxyConfigError(f"{source}: a proxy URL takes no query or fragment")
    hostport, slash, path = hostport.partition("/")
    if slash and path:
        raise ProxyConfigError(f"{source}: a proxy URL takes no path")
    if at and any(ch in userinfo for ch in "/?#"):
        raise ProxyConfigError(
            f"{source}: the user or password contains '/', '?' or '#'; percent-encode them"
        )
    host, port = _parse_hostport(hostport, scheme, source)

    username: str | None = None
    password: Secret | None = None
    if at:
        raw_user, colon, raw_password = userinfo.partition(":")
        try:
            username = unquote(raw_user, errors="strict")
            if colon:
                password = Secret(unquote(raw_password, errors="strict"))
        except UnicodeDecodeError:
            raise ProxyConfigError(
                f"{source}: the user or password is not percent-encoded UTF-8"
            ) from None
        _check_credentials(username, password, scheme, source)
    return ProxyConfig(scheme=scheme, host=host, port=port, username=username,
                       password=password, source=source)


def _check_credentials(username: str, password: Secret | None, scheme: ProxyScheme,
                       source: str) -> None:
    if scheme is ProxyScheme.HTTP and ":" in username:
        # RFC 7617 §2: the user-id cannot contain a colon.
        raise ProxyConfigError(f"{source}: a Basic-auth user name cannot contain ':'")
    secret = password.reveal() if password is not None else ""
    for text in (username, secret):
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
            raise ProxyConfigError(f"{source}: the user or password contains control characters")
    if scheme is not ProxyScheme.HTTP and (
        len(username.encode()) > 255 or len(secret.encode()) > 255
    ):
        # RFC 1929 §2: one length byte each.
        raise ProxyConfigError(f"{source}: SOCKS5 user and password are at most 255 bytes each")


def _parse_hostport(hostport: str, scheme: ProxyScheme, source: str) -> tuple[str, int]:
    if hostport.startswith("["):
        inner, bracket, after = hostport[1:].partition("]")
        if not bracket:
            raise ProxyConfigError(f"{source}: unclosed '[' in the proxy host")
        try:
            host = str(ipaddress.IPv6Address(inner))
        except ValueError:
            raise ProxyConfigError(f"{source}: the proxy host is not a valid IPv6 address") \
                from None
        if after and not after.startswith(":"):
            raise ProxyConfigError(f"{source}: unexpected text after the IPv6 proxy host")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if colon else None
        host = host.lower()
        if host.endswith("."):
            host = host[:-1]  # a fully qualified name's root dot
        if not host:
            raise ProxyConfigError(f"{source}: the proxy URL has no host")
        if len(host) > _MAX_HOST or not _HOSTNAME.fullmatch(host):
            raise ProxyConfigError(f"{source}: the proxy host is not a valid host name")
    if port_text is None or port_text == "":
        return host, DEFAULT_PORTS[scheme]
    # The port is never echoed: in "http://user:password" (missing "@host") it is the
    # password.
    if not _is_port(port_text):
        raise ProxyConfigError(
            f"{source}: the port of proxy host {host!r} must be a number from 1 to 65535"
        )
    return host, int(port_text)


def _is_port(text: str) -> bool:
    # Length first: int() of a hostile 10,000-digit string is slow, then refused.
    return len(text) <= 5 and text.isascii() and text.isdigit() and 0 < int(text) < 65536


def proxy_variables_for(url_scheme: str) -> tuple[str, ...]:
    """The environment variables consulted for a target scheme, in order of precedence."""
    try:
        return _VARIABLES[url_scheme.lower()]
    except KeyError:
        raise ProxyConfigError(
            f"unsupported target URL scheme {url_scheme!r}; expected ws, wss, http or https"
        ) from None


def _target(url: str) -> tuple[str, str, int]:
    if not isinstance(url, str):
        raise ProxyConfigError("the target URL must be a string")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ProxyConfigError("the target URL is malformed (bad host or port)") from None
    scheme = parts.scheme.lower()
    proxy_variables_for(scheme)  # validates the scheme
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ProxyConfigError("the target URL has no host")
    return scheme, host, port if port is not None else _TARGET_DEFAULT_PORTS[scheme]


def _first_set(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = env.get(name)
        if isinstance(value, str) and value.strip():
            return name, value
    return None


def resolve_proxy(
    url: str,
    env: Mapping[str, str],
    override: str | ProxyConfig | Direct | None = None,
) -> ProxyConfig | None:
    """The proxy for a connection to ``url``, or ``None`` for a direct connection.

    ``env`` is a mapping of environment variables (a driver passes its process's, a
    test a dict); ``override`` is ``None`` to follow the environment, :data:`DIRECT` to
    connect directly, or a proxy URL / :class:`ProxyConfig` to use regardless of the
    environment.  Raises only :class:`ProxyConfigError`.
    """
    scheme, host, port = _target(url)
    if override is DIRECT:
        return None
    if isinstance(override, ProxyConfig):
        return override
    if override is not None:
        return parse_proxy_url(override, source="override")
    found_no_proxy = _first_set(env, _NO_PROXY_VARIABLES)
    if found_no_proxy is not None and no_proxy_matches(found_no_proxy[1], host, port):
        return None
    found = _first_set(env, _VARIABLES[scheme])
    if found is None:
        return None
    name, value = found
    return parse_proxy_url(value, source=name)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _split_entry(entry: str) -> tuple[str, int | None] | None:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port``, ``v6`` → (host, port); None if bad."""
    if entry.startswith("["):
        inner, bracket, after = entry[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            return None
        host, port_text = inner, after[1:] if after else ""
    elif entry.count(":") > 1:
        return entry, None  # a bare IPv6 address or network
    else:
        host, _, port_text = entry.partition(":")
    if not port_text:
        return host, None
    if not _is_port(port_text):
        return None
    return host, int(port_text)


def no_proxy_matches(no_proxy: str, host: str, port: int) -> bool:
    """Whether a ``NO_PROXY`` value exempts ``host:port``.

    Entries are separated by commas and/or whitespace and compared case-insensitively:

    * ``*`` matches every host;
    * ``example.com``, ``.example.com`` and ``*.example.com`` all match ``example.com``
      and every name under it (``a.example.com``), never ``badexample.com``;
    * an IP address (``127.0.0.1``, ``::1``, ``[::1]``) matches that address written as
      an IP literal in the target URL; names are never resolved, so ``127.0.0.1`` does
      not exempt ``localhost``;
    * a CIDR block (``10.0.0.0/8``, ``fd00::/8``) matches IP literals inside it;
    * any of these followed by ``:port`` matches only that port (the URL's port, or
      the scheme default).

    Entries qqproto cannot read (a bad port, a bad network) match nothing, as in curl.
    """
    target_host = host.lower().strip("[]").rstrip(".")
    target_ip = _ip(target_host)
    for raw in re.split(r"[\s,]+", no_proxy):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        split = _split_entry(entry)
        if split is None:
            continue
        entry_host, entry_port = split
        if entry_port is not None and entry_port != port:
            continue
        if _entry_matches_host(entry_host, target_host, target_ip):
            return True
    return False


def _entry_matches_host(entry: str, host: str,
                        host_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
        return host_ip is not None and host_ip.version == network.version and host_ip in network
    entry_ip = _ip(entry)
    if entry_ip is not None:
        return host_ip is not None and entry_ip == host_ip
    if entry.startswith("*."):
        entry = entry[2:]
    entry = entry.lstrip(".").rstrip(".")
    if not entry or host_ip is not None:
        return False
    return host == entry or host.endswith("." + entry)
