"""Authentication and discovery endpoints: the token, ``/gateway``, ``/gateway/bot``,
``/users/@me``, and the WebSocket path answered without an upgrade (gateway.md §1–§2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._rest import BadRequest, Route, SimRequest, SimResponse, error_response, json_response

if TYPE_CHECKING:
    from ._platform import Platform

__all__ = ["AUTH_ROUTES"]

#: rest.md §7.2: token endpoint "bad appid / secret" (under HTTP 200).
BAD_CREDENTIALS: Final = 100016
#: rest.md §7.2: token endpoint "too many requests"; reused for the /gateway 429 fault.
TOO_MANY_REQUESTS: Final = 100001


def _token(sim: Platform, request: SimRequest, params: dict[str, str],
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


def _gateway_url(sim: Platform, request: SimRequest) -> str:
    if sim.gateway_url:
        return sim.gateway_url
    host = request.header("Host") or "127.0.0.1"
    return f"ws://{host}/websocket"


def _rate_limited(sim: Platform, request: SimRequest) -> SimResponse | None:
    if sim.faults.rate_limit_gateway > 0:
        sim.faults.rate_limit_gateway -= 1
        sim.counters.faults_fired += 1
        return error_response(request, 429, TOO_MANY_REQUESTS, "too many requests")
    return None


def _gateway(sim: Platform, request: SimRequest, params: dict[str, str],
             now: float) -> SimResponse:
    """gateway.md §2.1: only ``url``."""
    return _rate_limited(sim, request) or json_response({"url": _gateway_url(sim, request)})


def _gateway_bot(sim: Platform, request: SimRequest, params: dict[str, str],
                 now: float) -> SimResponse:
    """gateway.md §2.2; ``reset_after`` is in milliseconds."""
    limited = _rate_limited(sim, request)
    if limited is not None:
        return limited
    return json_response({
        "url": _gateway_url(sim, request),
        "shards": sim.recommended_shards,
        "session_start_limit": {"total": sim.session_start_total,
                                "remaining": sim.session_start_remaining,
                                "reset_after": 86_400_000,
                                "max_concurrency": sim.max_concurrency},
    })


def _me(sim: Platform, request: SimRequest, params: dict[str, str],
        now: float) -> SimResponse:
    return json_response({"id": sim.bot_user_id, "username": sim.bot_username, "avatar": "",
                          "union_openid": "", "union_user_account": ""})


def _websocket_without_upgrade(sim: Platform, request: SimRequest, params: dict[str, str],
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
