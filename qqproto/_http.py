"""HTTP exchanges as plain values.

The core never performs HTTP itself: it hands an :class:`HttpRequest` to a driver and
takes an :class:`HttpResponse` back.  Both are frozen so a test can compare them whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import _jsoncodec
from .errors import JSONDecodeError

__all__ = ["Headers", "HttpRequest", "HttpResponse", "header_value", "json_request"]

Headers = tuple[tuple[str, str], ...]


def _freeze_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> Headers:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), str(v)) for k, v in items)


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), or ``None``."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One HTTP request the core wants a driver to perform.

    ``timeout`` is how long (seconds) the core is prepared to wait for the whole exchange
    (rest.md §1.5: 30 s for ordinary calls, 120 s for uploads): a driver makes it the
    exchange's total deadline, not a per-read timeout.  ``delay`` (seconds, usually 0)
    asks the driver to wait that long before sending (a rate limit's ``Retry-After``).
    Authorization headers are already present when the target is a QQ API host, and
    absent otherwise: a driver must send exactly these headers.
    """

    method: str
    url: str
    headers: Headers = ()
    body: bytes = b""
    timeout: float = 30.0
    delay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _freeze_headers(self.headers))

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    def __repr__(self) -> str:
        # Header values may carry a token: show names only.
        names = ", ".join(k for k, _ in self.headers)
        delay = f", delay={self.delay}" if self.delay else ""
        return (
            f"HttpRequest(method={self.method!r}, url={self.url!r}, headers=[{names}], "
            f"body={len(self.body)} bytes, timeout={self.timeout}{delay})"
        )


class _NotJson:
    """The cached outcome of a body that did not decode: the codec's message."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpResponse:
    """The answer a driver got for an :class:`HttpRequest`.

    The body is decoded at most once, however many readers look at it (the error
    classifier and then the parser, on every reply): the decoded value is cached in a
    field that takes no part in ``==``, ``hash`` or ``repr``.
    """

    status: int
    headers: Headers = ()
    body: bytes = b""
    # None: not decoded yet; (value,): decoded (value may be None); _NotJson: not JSON.
    # Plain values, so a copied or pickled response keeps a meaningful cache.
    _json: tuple[Any] | _NotJson | None = field(default=None, init=False, repr=False,
                                                 compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _freeze_headers(self.headers))

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def __repr__(self) -> str:
        # The body may carry an access token (the token endpoint's answer) and header
        # values a cookie: show the status, header names and the body's size only.
        names = ", ".join(k for k, _ in self.headers)
        return (f"HttpResponse(status={self.status!r}, headers=[{names}], "
                f"body={len(self.body)} bytes)")

    def json(self) -> Any:
        """The body decoded as JSON (raises ``qqproto.errors.JSONDecodeError``).

        Decoded on the first call; later calls return the same object, so treat it as
        read-only.
        """
        cached = self._json
        if cached is None:
            try:
                cached = (_jsoncodec.loads(self.body),)
            except JSONDecodeError as exc:
                cached = _NotJson(str(exc))
            object.__setattr__(self, "_json", cached)
        if isinstance(cached, _NotJson):
            raise JSONDecodeError(cached.message)
        return cached[0]


def json_request(
    method: str,
    url: str,
    payload: Any | None = None,
    *,
    headers: Iterable[tuple[str, str]] = (),
    timeout: float = 30.0,
) -> HttpRequest:
    """Build a request with a compact JSON body (rest.md §1.2: ``application/json``)."""
    all_headers = list(headers)
    body = b""
    if payload is not None:
        body = _jsoncodec.dumps(payload)
        all_headers.append(("Content-Type", "application/json"))
    return HttpRequest(method=method, url=url, headers=tuple(all_headers), body=body,
                       timeout=timeout)


