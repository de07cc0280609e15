"""The REST side of the simulator: a router table, request/response values, and the
authentication and discovery endpoints (token, ``/gateway``, ``/gateway/bot``,
``/users/@me``).

Extension point
---------------
Every HTTP endpoint is a :class:`Route` — method, path pattern with ``{name}``
placeholders, handler, whether it needs ``Authorization: QQBot <token>``.  A handler is a
plain function ``handler(sim, request, params, now) -> SimResponse``; it may read and
change the simulator's state and must not raise for bad input (answer with
:func:`error_response` instead).  Later features (chunked upload ``upload_prepare`` /
``upload_part_finish`` / ``files``, a pre-signed PUT target) add their routes either

* for good, by appending a tuple of routes to ``DEFAULT_ROUTES`` in
  :mod:`qqproto.simulator._routes`, or
* for one simulator, with ``sim.router.add(Route(...))`` (an added route is matched
  before the built-in ones, so a test can also override an endpoint).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from .. import _jsoncodec
from .._http import Headers, header_value

if TYPE_CHECKING:
    from ._simulator import Simulator

__all__ = [
    "AUTH_ROUTES",
    "BadRequest",
    "Handler",
    "Route",
    "Router",
    "SimRequest",
    "SimResponse",
    "error_response",
    "json_response",
]

#: rest.md §7.2: token endpoint "bad appid / secret" (under HTTP 200).
BAD_CREDENTIALS: Final = 100016
#: rest.md §7.2: token endpoint "too many requests"; reused for the /gateway 429 fault.
TOO_MANY_REQUESTS: Final = 100001
#: rest.md §7.6: 11244 paired with HTTP 401 = token expired or missing.
TOKEN_INVALID: Final = 11244
#: The simulator's code for a body or parameter it cannot use (rest.md has no general
#: "bad request" code; 40061001 is the documented "bad params" of the recall family).
BAD_PARAMS: Final = 40061001
# HTTP-level failures (unknown path or method, 413, 426, 431, 503) use the status as code.


class BadRequest(Exception):
    """Raised by :meth:`SimRequest.json` for a body that is not the expected JSON."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimRequest:
    """One complete HTTP request as a handler sees it."""

    connection_id: int
    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    #: The trace id this request's answer carries (header ``X-Tps-trace-ID``).
    trace_id: str

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or :class:`BadRequest`."""
        try:
            value = _jsoncodec.loads(self.body)
        except _jsoncodec.JSONDecodeError:
            raise BadRequest("body is not JSON") from None
        if not isinstance(value, dict):
            raise BadRequest("body is not a JSON object")
        return value

    def __repr__(self) -> str:
        return (f"SimRequest({self.method} {self.path}, body={len(self.body)} bytes, "
                f"connection_id={self.connection_id})")


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResponse:
    """A handler's answer.  ``code`` is the business code of an error (for the record);
    the connection adds ``Content-Length`` and ``X-Tps-trace-ID``."""

    status: int
    body: bytes = b""
    headers: Headers = ()
    code: int | None = None


def json_response(value: Any, status: int = 200) -> SimResponse:
    return SimResponse(status=status, body=_jsoncodec.dumps(value),
                       headers=(("Content-Type", "application/json"),))


def error_response(request: SimRequest, status: int, code: int, message: str) -> SimResponse:
    """rest.md §7.2: carry both ``code`` and ``err_code`` (clients read either) and the
    ``trace_id`` that the ``X-Tps-trace-ID`` header also carries."""
    body = {"code": code, "message": message, "err_code": code, "trace_id": request.trace_id}
    return SimResponse(status=status, body=_jsoncodec.dumps(body),
                       headers=(("Content-Type", "application/json"),), code=code)


Handler = Callable[["Simulator", SimRequest, dict[str, str], float], SimResponse]

_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Route:
    """``Route("POST", "/v2/users/{openid}/messages", handler)``."""

    method: str
    pattern: str
    handler: Handler
    auth: bool = True
    #: The largest body this route takes (``None``: the simulator's ``max_request_size``);
    #: the pre-signed upload target takes whole parts, so only it raises the limit.
    max_body: int | None = None
    #: Keep at most this many body bytes in ``sim.requests`` (``None``: all), so recorded
    #: upload parts do not keep megabytes alive.
    record_body: int | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = _PLACEHOLDER.split(self.pattern)
        # split() alternates literal text and placeholder names.
        source = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)"
                         for i, p in enumerate(parts))
        object.__setattr__(self, "regex", re.compile(source + r"\Z"))
        object.__setattr__(self, "method", self.method.upper())


class Router:
    """An ordered route table: the first route whose pattern matches the path wins."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._routes: list[Route] = list(routes)

    def add(self, route: Route) -> None:
        """Add ``route`` in front of the existing ones."""
        self._routes.insert(0, route)

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """``(route, params, path_known)``; ``route`` is ``None`` when nothing matches
        the method, ``path_known`` tells a 405 from a 404."""
        path_known = False
        for route in self._routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}, True
            path_known = True
        return None, {}, path_known


# ----------------------------------------------------------------------------- handlers

def _token(sim: Simulator, request: SimRequest, params: dict[str, str],
           now: float) -> SimResponse:
    """gateway.md §1.2: ``{"appId", "clientSecret"}`` in, ``access_token`` and
    ``expires_in`` (a decimal string, as in the DOC example) out; errors under HTTP 200."""
    try:
        body = request.json_object()
    except BadRequest:
        body = {}
    app_id = body.get("appId")
    if isinstance(app_id, int) and not isinstance(app_id, bool):
        app_id = str(app_id)
    if sim.faults.reject_credentials > 0:
        sim.faults.reject_credentials -= 1
        sim.counters.faults_fired += 1
        return error_response(request, 200, BAD_CREDENTIALS, "invalid appid or secret")
    if app_id != sim.app_id or not sim.secret_matches(body.get("clientSecret")):
        return error_response(request, 200, BAD_CREDENTIALS, "invalid appid or secret")
    token, expires_in = sim.issue_token(now)
    return json_response({"access_token": token.reveal(), "expires_in": str(expires_in)})


def _gateway_url(sim: Simulator, request: SimRequest) -> str:
    if sim.gateway_url:
        return sim.gateway_url
    host = request.header("Host") or "127.0.0.1"
    return f"ws://{host}/websocket"


def _rate_limited(sim: Simulator, request: SimRequest) -> SimResponse | None:
    if sim.faults.rate_limit_gateway > 0:
        sim.faults.rate_limit_gateway -= 1
        sim.counters.faults_fired += 1
        return error_response(request, 429, TOO_MANY_REQUESTS, "too many requests")
    return None


def _gateway(sim: Simulator, request: SimRequest, params: dict[str, str],
             now: float) -> SimResponse:
    """gateway.md §2.1: only ``url``."""
    return _rate_limited(sim, request) or json_response({"url": _gateway_url(sim, request)})


def _gateway_bot(sim: Simulator, request: SimRequest, params: dict[str, str],
                 now: float) -> SimResponse:
    """gateway.md §2.2; ``reset_after`` is in milliseconds."""
    limited = _rate_limited(sim, request)
    if limited is not None:
        return limited
    return json_response({
        "url": _gateway_url(sim, request),
        "shards": 1,
        "session_start_limit": {"total": sim.session_start_total,
                                "remaining": sim.session_start_remaining,
                                "reset_after": 86_400_000, "max_concurrency": 1},
    })


def _me(sim: Simulator, request: SimRequest, params: dict[str, str],
        now: float) -> SimResponse:
    return json_response({"id": sim.bot_user_id, "username": sim.bot_username, "avatar": "",
                          "union_openid": "", "union_user_account": ""})


def _websocket_without_upgrade(sim: Simulator, request: SimRequest, params: dict[str, str],
                               now: float) -> SimResponse:
    # Reached only when the request was not a valid WebSocket upgrade.
    return error_response(request, 426, 426, "this path takes a WebSocket upgrade")


AUTH_ROUTES: Final = (
    Route("POST", "/app/getAppAccessToken", _token, auth=False),
    Route("GET", "/gateway", _gateway),
    Route("GET", "/gateway/bot", _gateway_bot),
    Route("GET", "/users/@me", _me),
    Route("GET", "/websocket", _websocket_without_upgrade, auth=False),
)
