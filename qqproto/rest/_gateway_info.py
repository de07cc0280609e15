"""Gateway discovery: ``GET /gateway`` and ``GET /gateway/bot`` (gateway.md §2)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from .. import _numbers
from .._endpoints import Endpoints
from .._http import HttpRequest, HttpResponse
from .._secret import Secret
from ..errors import ApiError
from ._errors import api_error_from_response, response_json_object

__all__ = ["GatewayInfo", "SessionStartLimit", "gateway_request", "parse_gateway_response"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStartLimit:
    """``session_start_limit`` of ``/gateway/bot``; ``reset_after`` in seconds (the wire
    unit is milliseconds, gateway.md §2.2) and ``max_concurrency`` per 5 s (§8.4)."""

    total: int
    remaining: int
    reset_after: float
    max_concurrency: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayInfo:
    url: str
    shards: int | None = None
    session_start_limit: SessionStartLimit | None = None


def gateway_request(endpoints: Endpoints, token: Secret, app_id: str, *,
                    bot: bool = True) -> HttpRequest:
    """The discovery request; ``bot=True`` asks ``/gateway/bot`` for limits too."""
    return HttpRequest(
        method="GET", url=endpoints.api_url("/gateway/bot" if bot else "/gateway"),
        headers=(("Authorization", f"QQBot {token.reveal()}"), ("X-Union-Appid", app_id)),
        timeout=30.0)


#: gateway.md §2.2: ``reset_after`` is "milliseconds until the counter resets", a daily
#: counter; a longer wait than a day (plus a margin) is read as that.
MAX_RESET_AFTER: Final = 25 * 3600.0
#: gateway.md §8.4: identifies per 5 s; far beyond any documented value.
MAX_CONCURRENCY: Final = 1024
_COUNT_MAX: Final = 10**9


def _count(limit: dict[str, Any], key: str, default: int) -> int:
    """A non-negative count (int or ASCII digits), else ``default``; huge is read as huge."""
    value = _numbers.parse_int(limit.get(key), minimum=0, maximum=2**63 - 1)
    return default if value is None else min(value, _COUNT_MAX)


def _check_url(url: object) -> str | None:
    """Why ``url`` cannot be a gateway URL, or ``None`` when it can (ws/wss, a host, a
    port that parses): ``urlsplit`` raises on ``ws://[::1`` and ``.port`` on ``:99999``."""
    if not isinstance(url, str):
        return "has no url"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as exc:
        return f"has an unusable url ({exc})"
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return "has no ws:// or wss:// url"
    return None


def parse_gateway_response(response: HttpResponse) -> GatewayInfo:
    """Parse a discovery answer; :class:`ApiError` for anything that is not one (classified
    by business code like every REST answer, rest.md §7)."""
    error = api_error_from_response(response)
    if error is not None:
        raise error
    trace_id = response.header("X-Tps-trace-ID")
    # An empty body is not an answer here (the classifier reads it as ``{}``).
    body = response_json_object(response) if response.body.strip() else None
    if body is None:
        raise ApiError("gateway discovery answer is not a JSON object",
                       status=response.status, trace_id=trace_id, retryable=True)
    url = body.get("url")
    problem = _check_url(url)
    if problem is not None:
        raise ApiError(f"gateway discovery answer {problem}",
                       status=response.status, trace_id=trace_id, retryable=True)
    assert isinstance(url, str)
    limit = body.get("session_start_limit")
    start_limit = None
    if isinstance(limit, dict):
        # §2.2: reset_after is in milliseconds; clamped to a day and a bit.
        reset_ms = _numbers.parse_number(limit.get("reset_after"), minimum=0.0,
                                         maximum=math.inf)
        start_limit = SessionStartLimit(
            total=_count(limit, "total", 0),
            remaining=_count(limit, "remaining", 1),
            reset_after=min((reset_ms or 0.0) / 1000.0, MAX_RESET_AFTER),
            max_concurrency=_numbers.clamp(_count(limit, "max_concurrency", 1), 1,
                                           MAX_CONCURRENCY),
        )
    shards = _numbers.parse_int(body.get("shards"), minimum=1, maximum=_COUNT_MAX)
    return GatewayInfo(url=url, shards=shards, session_start_limit=start_limit)
