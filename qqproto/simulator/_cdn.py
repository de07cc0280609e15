"""The simulator's media CDN: where attachment URLs in injected messages point.

Real attachment URLs carry an expiring key (rest.md §10: ``…?appid=…&fileid=…&rkey=…``)
and live on a CDN that may throttle or redirect.  :class:`CdnStore` keeps registered
bytes, each with its own ``rkey`` and, on demand, a lifetime, a number of ``429``
answers before the ``200``, or a redirect (typically to a host off the bot's
allow-list).  ``GET /cdn/{file_id}/{name}?rkey=…`` serves them without authentication;
an ``Authorization`` header that arrives anyway is counted (the token must not go to
the CDN by default, rest.md §10.4).

URLs are absolute: :attr:`CdnConfig.base` is the origin the simulator is reached at
(``qqproto_transports.simulator`` sets it when it listens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, quote

from ._rest import Route, SimRequest, SimResponse, error_response, sim_store

if TYPE_CHECKING:
    from ._payloads import IdSource
    from ._platform import Platform

__all__ = ["CDN_ROUTES", "CdnConfig", "CdnCounters", "CdnFile", "CdnStore", "sim_cdn"]

_STORE_KEY: Final = "_qqproto_cdn"


@dataclass(slots=True)
class CdnFile:
    """One registered attachment and how it is served."""

    file_id: str
    data: bytes
    content_type: str
    filename: str
    rkey: str
    #: ``now`` after which the ``rkey`` is refused with 403 (``None``: never).
    expires_at: float | None = None
    #: Answer this many requests with 429 before serving (a 429-then-200).
    throttle: int = 0
    #: Answer with a 302 to this URL instead of serving.
    redirect_to: str | None = None
    requests: int = 0


@dataclass(slots=True)
class CdnCounters:
    requests: int = 0
    served: int = 0
    bytes_served: int = 0
    expired: int = 0
    throttled: int = 0
    redirected: int = 0
    refused: int = 0
    with_authorization: int = 0


@dataclass(slots=True)
class CdnConfig:
    #: The origin attachment URLs point at (``http://127.0.0.1:PORT``).
    base: str | None = None
    #: Files kept; the oldest is forgotten beyond this.
    max_files: int = 1024


@dataclass(slots=True)
class CdnStore:
    """The CDN's files, configuration and counters (``sim_cdn(sim)``)."""

    config: CdnConfig = field(default_factory=CdnConfig)
    counters: CdnCounters = field(default_factory=CdnCounters)
    files: dict[str, CdnFile] = field(default_factory=dict)

    def register(self, ids: IdSource, data: bytes, *, content_type: str, filename: str,
                 now: float, expires_in: float | None = None, throttle: int = 0,
                 redirect_to: str | None = None) -> str:
        """Keep ``data`` and return its absolute, signed URL."""
        if self.config.base is None:
            raise ValueError("sim_cdn(sim).config.base is not set (the simulator's "
                             "server sets it when it listens)")
        file_id = ids.hex(8)
        entry = CdnFile(file_id=file_id, data=data, content_type=content_type,
                        filename=filename, rkey=ids.hex(12),
                        expires_at=None if expires_in is None else now + expires_in,
                        throttle=throttle, redirect_to=redirect_to)
        self.files[file_id] = entry
        while len(self.files) > self.config.max_files:
            del self.files[next(iter(self.files))]
        return self.url_of(entry)

    def url_of(self, entry: CdnFile) -> str:
        return (f"{self.config.base}/cdn/{entry.file_id}/{quote(entry.filename, safe='')}"
                f"?appid=sim&fileid={entry.file_id}&rkey={entry.rkey}")

    def find(self, file_id: str) -> CdnFile | None:
        return self.files.get(file_id)


def sim_cdn(sim: Platform) -> CdnStore:
    """The :class:`CdnStore` of ``sim`` (made on first use)."""
    return sim_store(sim, _STORE_KEY, CdnStore)


def _serve(sim: Platform, request: SimRequest, params: dict[str, str],
           now: float) -> SimResponse:
    store = sim_cdn(sim)
    counters = store.counters
    counters.requests += 1
    if request.header("Authorization") is not None:
        counters.with_authorization += 1
        sim.log.warning("a CDN request carried an Authorization header")
    entry = store.find(params["file_id"])
    if entry is None:
        counters.refused += 1
        return error_response(request, 404, 404, "no such file")
    entry.requests += 1
    if parse_qs(request.query).get("rkey") != [entry.rkey]:
        counters.refused += 1
        return error_response(request, 403, 403, "bad rkey")
    if entry.expires_at is not None and now >= entry.expires_at:
        counters.expired += 1
        return error_response(request, 403, 403, "rkey expired")
    if entry.throttle > 0:
        entry.throttle -= 1
        counters.throttled += 1
        return error_response(request, 429, 429, "too many requests")
    if entry.redirect_to is not None:
        counters.redirected += 1
        return SimResponse(status=302, headers=(("Location", entry.redirect_to),))
    counters.served += 1
    counters.bytes_served += len(entry.data)
    return SimResponse(status=200, body=entry.data,
                       headers=(("Content-Type", entry.content_type),))


CDN_ROUTES: Final = (
    Route("GET", "/cdn/{file_id}/{name}", _serve, auth=False),
)
