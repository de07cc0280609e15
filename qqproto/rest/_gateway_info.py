"""Gateway discovery: ``GET /gateway`` and ``GET /gateway/bot`` (gateway.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


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
    if not isinstance(url, str) or urlsplit(url).scheme not in ("ws", "wss"):
        raise ApiError("gateway discovery answer has no ws:// or wss:// url",
                       status=response.status, trace_id=trace_id, retryable=True)
    limit = body.get("session_start_limit")
    start_limit = None
    if isinstance(limit, dict):
        start_limit = SessionStartLimit(
            total=_int(limit.get("total"), 0),
            remaining=_int(limit.get("remaining"), 1),
            reset_after=max(0, _int(limit.get("reset_after"), 0)) / 1000.0,
            max_concurrency=max(1, _int(limit.get("max_concurrency"), 1)),
        )
    shards = body.get("shards")
    return GatewayInfo(url=url, shards=shards if isinstance(shards, int)
                       and not isinstance(shards, bool) and shards > 0 else None,
                       session_start_limit=start_limit)
