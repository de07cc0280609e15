"""Where a bot may download from, and how hard it tries.

:class:`MediaPolicy` is pure data (a field of :class:`~qqproto.Settings`).  Every URL a
download touches, the first and each redirect target, passes :func:`check_url`:

* ``hosts`` are host names reached over **https** only; ``.qpic.cn`` also matches its
  subdomains.  The default is the platform's media hosts (rest.md §10.2).
* ``origins`` are exact ``scheme://host[:port]`` origins allowed as written, ``http``
  and IP literals included: the explicit way to allow a private CDN or the simulator
  (``QQBOT_MEDIA_ORIGINS``), never a silent bypass.
* Otherwise an IP literal, user-info (``user:pass@``), another scheme or another host is
  refused before any request is made.

The token: rest.md §10.4 disagrees (the reference SDK says the CDN is public and sends no
``Authorization``; hermes sends ``QQBot <token>``).  The safe reading is the SDK's: a
token must never reach a host that does not need it (DESIGN.md §2.5), so none is sent
unless the host is listed in ``token_hosts`` (empty by default).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from ..errors import DownloadRefusedError
from ..voice._transcript import DEFAULT_ORDER, TranscriptSource

__all__ = ["DEFAULT_MEDIA_HOSTS", "MediaPolicy", "check_url", "host_matches", "redact_url"]

#: rest.md §10.2: the hosts attachment URLs were seen on.
DEFAULT_MEDIA_HOSTS: Final = ("multimedia.nt.qq.com.cn", ".qpic.cn")
_MIB: Final = 1024 * 1024
#: Numeric last labels (``127.1``, ``0x7f.1``) are IPv4 in some resolvers' eyes.
_NUMERIC_LABEL: Final = re.compile(r"(0x[0-9a-f]*|[0-9]+)\Z", re.IGNORECASE)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1
    return scheme, (parts.hostname or "").lower(), port or {"https": 443, "http": 80}.get(
        scheme)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaPolicy:
    """How attachments are downloaded (see the module docstring).

    ``max_bytes``: the largest body accepted (default 200 MiB, the platform's hard
    upload limit, rest.md §3.7); ``max_redirects`` followed per download;
    ``max_attempts`` per download (timeouts, 429 and 5xx are retried after
    ``retry_delays`` seconds, rest.md §10.6: 1.5 s then 3 s; a ``Retry-After`` up to
    ``max_retry_after`` is honoured); ``timeout`` per request.  ``transcript_order``:
    which text ``bot.transcribe`` tries first (:data:`qqproto.voice.DEFAULT_ORDER`).
    """

    hosts: tuple[str, ...] = DEFAULT_MEDIA_HOSTS
    origins: tuple[str, ...] = ()
    token_hosts: tuple[str, ...] = ()
    max_bytes: int = 200 * _MIB
    max_redirects: int = 5
    max_attempts: int = 3
    retry_delays: tuple[float, ...] = (1.5, 3.0)
    max_retry_after: float = 30.0
    timeout: float = 60.0
    transcript_order: tuple[TranscriptSource, ...] = field(default=DEFAULT_ORDER)

    def __post_init__(self) -> None:
        for name in ("hosts", "origins", "token_hosts", "retry_delays"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise TypeError(f"MediaPolicy.{name} is a tuple, not a string")
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "hosts", tuple(h.strip().lower() for h in self.hosts))
        object.__setattr__(self, "transcript_order",
                           tuple(TranscriptSource(s) for s in self.transcript_order))
        for origin in self.origins:
            scheme, host, port = _origin(origin)
            if scheme not in ("http", "https") or not host or port == -1:
                raise ValueError(f"MediaPolicy.origins: not an http(s) origin: {origin!r}")
        if self.max_bytes < 1 or self.max_attempts < 1 or self.max_redirects < 0:
            raise ValueError("MediaPolicy: max_bytes and max_attempts must be positive")
        if not self.retry_delays or min(self.retry_delays) < 0:
            raise ValueError("MediaPolicy.retry_delays: non-negative seconds, at least one")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MediaPolicy:
        """The default policy plus the comma-separated ``QQBOT_MEDIA_ORIGINS``."""
        origins = tuple(o.strip() for o in env.get("QQBOT_MEDIA_ORIGINS", "").split(",")
                        if o.strip())
        return cls(origins=origins)

    def allows_origin(self, url: str) -> bool:
        origin = _origin(url)
        return any(_origin(allowed) == origin for allowed in self.origins)

    def sends_token_to(self, url: str) -> bool:
        """Whether the download of ``url`` carries the bot's token (``token_hosts``)."""
        _, host, _ = _origin(url)
        return any(host_matches(host, entry) or self.allows_token_origin(url, entry)
                   for entry in self.token_hosts)

    @staticmethod
    def allows_token_origin(url: str, entry: str) -> bool:
        return "://" in entry and _origin(url) == _origin(entry)


def host_matches(host: str, entry: str) -> bool:
    """``entry`` is a host name, or ``.suffix`` for the suffix and its subdomains."""
    if "://" in entry:
        return False
    if entry.startswith("."):
        return host == entry[1:] or host.endswith(entry)
    return host == entry


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ":" in host or bool(_NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]))
    return True


def redact_url(url: str) -> str:
    """``url`` without user-info, query and fragment: signed links carry their keys in
    the query, and these never go into logs or exceptions."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_url(url: str, policy: MediaPolicy) -> None:
    """Raise :class:`~qqproto.errors.DownloadRefusedError` unless ``policy`` allows a
    request to ``url`` (see the module docstring)."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise DownloadRefusedError("not a URL", url=shown) from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise DownloadRefusedError("URL with user-info refused", url=shown)
    host = (parts.hostname or "").lower()
    if not host:
        raise DownloadRefusedError("URL without a host", url=shown)
    if policy.allows_origin(url):
        return
    if parts.scheme.lower() != "https":
        raise DownloadRefusedError(f"scheme {parts.scheme or '(none)'!r} refused: "
                                   "https only", url=shown)
    if _is_ip_literal(host):
        raise DownloadRefusedError("IP literal refused: media hosts are names", url=shown)
    if not any(host_matches(host, entry) for entry in policy.hosts):
        raise DownloadRefusedError(f"host {host!r} is not on the media allow-list",
                                   url=shown)
