"""More of the OpenAPI (:mod:`qqproto.rest` ``ROUTES``): the share link and join-request
approval, enough for a loopback test of the route table on every driver.

* ``POST /v2/generate_url_link`` answers ``{"url_link": …}`` carrying ``callback_data``
  (at most 32 characters, else ``10001`` "bad parameters", the page's error table).
* ``POST /v2/groups/{group_openid}/approval_join_request/{member_openid}`` takes ``op``
  ``approve``/``decline`` (else 400 ``BAD_PARAMS``), records the decision in
  :func:`sim_join_decisions` and answers ``{}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from ._rest import (
    BadRequest,
    Route,
    SimRequest,
    SimResponse,
    bad_params,
    error_response,
    json_body,
    json_response,
)

if TYPE_CHECKING:
    from ._platform import Platform

__all__ = ["OPENAPI_ROUTES", "JoinDecision", "sim_join_decisions"]

#: v2_generate_url_link.post error table: 10001 request parameters abnormal.
SHARE_BAD_PARAMS: Final = 10001
_DECISIONS_KEY: Final = "_qqproto_join_decisions"
_MAX_DECISIONS: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinDecision:
    """One answered join request."""

    group_openid: str
    member_openid: str
    body: dict[str, Any]
    at: float


def sim_join_decisions(sim: Platform) -> list[JoinDecision]:
    """The join-request decisions ``sim`` received, oldest first (bounded)."""
    found = sim.__dict__.get(_DECISIONS_KEY)
    if not isinstance(found, list):
        found = sim.__dict__[_DECISIONS_KEY] = []
    return found


def _share_link(sim: Platform, request: SimRequest, params: dict[str, str],
                now: float) -> SimResponse:
    try:
        body = request.json_object() if request.body.strip() else {}
    except BadRequest as exc:
        return bad_params(request, str(exc))
    data = body.get("callback_data", "")
    if not isinstance(data, str) or len(data) > 32:
        return error_response(request, 400, SHARE_BAD_PARAMS, "请求参数异常")
    return json_response({"url_link": "https://qun.qq.com/qunpro/robot/qunshare?robot_appid="
                                      f"{quote(sim.app_id)}&data={quote(data, safe='')}"})


def _approve(sim: Platform, request: SimRequest, params: dict[str, str],
             body: dict[str, Any], now: float) -> SimResponse:
    if body.get("op") not in ("approve", "decline"):
        return bad_params(request, "op must be approve or decline")
    decisions = sim_join_decisions(sim)
    decisions.append(JoinDecision(group_openid=params["group_openid"],
                                  member_openid=params["member_openid"], body=body, at=now))
    del decisions[:-_MAX_DECISIONS]
    return json_response({})


OPENAPI_ROUTES: Final = (
    Route("POST", "/v2/generate_url_link", _share_link),
    Route("POST", "/v2/groups/{group_openid}/approval_join_request/{member_openid}",
          json_body(_approve)),
)
