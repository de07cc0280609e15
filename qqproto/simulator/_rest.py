"""The simulator's HTTP vocabulary: request and response values, error bodies, routes
and the router that picks one.

Extension point
---------------
Every HTTP endpoint is a :class:`Route` — method, path pattern with ``{name}``
placeholders, handler, whether it needs ``Authorization: QQBot <token>``.  A handler is a
plain function ``handler(sim, request, params, now) -> SimResponse`` that receives the
:class:`~qqproto.simulator.Simulator` (the built-in ones see it through the
:class:`~qqproto.simulator._platform.Platform` protocol); it may read and change the
simulator's state and must not raise for bad input (answer with :func:`error_response`
instead).  Endpoints are added either

* for good, by appending a tuple of routes to ``DEFAULT_ROUTES`` in
  :mod:`qqproto.simulator._routes` (as :mod:`._auth`, :mod:`._messages` and
  :mod:`._upload_routes` do), or
* for one simulator, with ``sim.router.add(Route(...))`` (an added route is matched
  before the built-in ones, so a test can also override an endpoint).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import unquote

from .. import _jsoncodec
from .._http import Headers, header_value
from ..errors import JSONDecodeError

__all__ = [
    "BAD_PARAMS",
    "TOKEN_INVALID",
    "BadRequest",
    "ChatHandler",
    "Handler",
    "JsonHandler",
    "Route",
    "Router",
    "SimRequest",
    "SimResponse",
    "bad_params",
    "chat_json",
    "error_response",
    "json_body",
    "json_response",
    "sim_store",
]

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
        except JSONDecodeError:
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


def bad_params(request: SimRequest, message: str) -> SimResponse:
    """400 with :data:`BAD_PARAMS`: a body or parameter the endpoint cannot use."""
    return error_response(request, 400, BAD_PARAMS, message)


#: ``handler(sim, request, params, now)``.  The router passes the simulator; built-in
#: handlers take it as a :class:`~qqproto.simulator._platform.Platform`, a test's handler
#: may annotate it as ``Simulator``.  Parameters are contravariant: only ``Any`` admits both.
Handler = Callable[[Any, SimRequest, dict[str, str], float], SimResponse]
_Store = TypeVar("_Store")


class ChatHandler(Protocol):
    """``handle(sim, request, scope=, target=, body=, now=)``: see :func:`chat_json`."""

    def __call__(self, sim: Any, request: SimRequest, *, scope: str, target: str,
                 body: dict[str, Any], now: float) -> SimResponse: ...


class JsonHandler(Protocol):
    """``handle(sim, request, params, body, now)``: see :func:`json_body`."""

    def __call__(self, sim: Any, request: SimRequest, params: dict[str, str],
                 body: dict[str, Any], now: float) -> SimResponse: ...


def json_body(handle: JsonHandler) -> Handler:
    """The handler of an endpoint that takes a JSON object: any other body gets 400
    ``BAD_PARAMS``; ``handle`` answers the rest, given the object as ``body``."""

    def handler(sim: Any, request: SimRequest, params: dict[str, str],
                now: float) -> SimResponse:
        try:
            body = request.json_object()
        except BadRequest as exc:
            return bad_params(request, str(exc))
        return handle(sim, request, params, body, now)
    return handler


def chat_json(scope: str, param: str, handle: ChatHandler) -> Handler:
    """The handler of a chat's endpoint (``…/{param}/…``) that takes a JSON object (see
    :func:`json_body`); ``handle`` is told the ``scope`` and the chat id the path names."""

    def on_body(sim: Any, request: SimRequest, params: dict[str, str],
                body: dict[str, Any], now: float) -> SimResponse:
        return handle(sim, request, scope=scope, target=params[param], body=body, now=now)
    return json_body(on_body)


def sim_store(sim: object, key: str, cls: type[_Store]) -> _Store:
    """The ``cls`` kept on the simulator ``sim`` under ``key`` (made on first use): the
    state of a feature the simulator does not declare itself."""
    store = sim.__dict__.get(key)
    if not isinstance(store, cls):
        store = sim.__dict__[key] = cls()
    return store

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
