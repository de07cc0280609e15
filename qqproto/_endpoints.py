"""Where a bot's requests go, and which hosts may see its token.

Production values come from gateway.md §1.1.  Every object takes an :class:`Endpoints`
explicitly (no module-level configuration), so the simulator, the sandbox and private
deployments are one argument away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "PRODUCTION_API_BASE",
    "SANDBOX_API_BASE",
    "TOKEN_URL",
    "Endpoints",
]

# gateway.md §1.1
PRODUCTION_API_BASE: Final = "https://api.sgroup.qq.com"
SANDBOX_API_BASE: Final = "https://sandbox.api.sgroup.qq.com"
TOKEN_URL: Final = "https://bots.qq.com/app/getAppAccessToken"  # noqa: S105 - a URL


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    host = (parts.hostname or "").lower()
    default = 443 if scheme in ("https", "wss") else 80
    try:
        port = parts.port or default
    except ValueError:
        port = -1
    return scheme, host, port


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """The OpenAPI base URL and the token URL of one deployment."""

    api_base: str = PRODUCTION_API_BASE
    token_url: str = TOKEN_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_base", self.api_base.rstrip("/"))
        for url in (self.api_base, self.token_url):
            scheme, host, _ = _origin(url)
            if scheme not in ("http", "https") or not host:
                raise ValueError(f"not an http(s) URL: {url!r}")

    @classmethod
    def sandbox(cls) -> Endpoints:
        return cls(api_base=SANDBOX_API_BASE)

    def api_url(self, path: str) -> str:
        """Absolute URL for an OpenAPI path such as ``/v2/users/X/messages``."""
        return self.api_base + (path if path.startswith("/") else "/" + path)

    def is_api_url(self, url: str) -> bool:
        """True when ``url`` is on the OpenAPI origin, the only place a token may go.

        Pre-signed upload URLs and attachment CDNs are other origins: the token must never
        be attached to them (rest.md §4.13, DESIGN.md §2.5).
        """
        return _origin(url) == _origin(self.api_base)
