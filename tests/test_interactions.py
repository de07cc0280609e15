"""Interaction ACKs (rest.md §5.5–5.6)."""

from __future__ import annotations

import json

import pytest

from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto.errors import ApiError, UnexpectedResponseError
from qqproto.rest._client import RestClient
from qqproto.rest._interactions import InteractionResult, build_interaction_ack
from qqproto.rest._token import TokenState

API = "https://api.example.test"
EP = Endpoints(api_base=API, token_url="https://auth.example.test/t")


def test_result_codes_match_the_documented_table() -> None:
    assert {r.name: int(r) for r in InteractionResult} == {
        "SUCCESS": 0, "FAILED": 1, "TOO_FREQUENT": 2, "DUPLICATE": 3, "NO_PERMISSION": 4,
        "ADMIN_ONLY": 5}


def test_ack_request_is_exact() -> None:
    assert build_interaction_ack(EP, "INT-1") == HttpRequest(
        method="PUT", url=API + "/interactions/INT-1",
        headers=(("Content-Type", "application/json"),), body=b'{"code":0}')


@pytest.mark.parametrize("result", list(InteractionResult))
def test_every_result_code_is_sent_as_its_number(result: InteractionResult) -> None:
    request = build_interaction_ack(EP, "I", result)
    assert request.body == b'{"code":%d}' % int(result)


def test_ack_may_carry_extra_data() -> None:
    request = build_interaction_ack(EP, "I", InteractionResult.FAILED, data={"k": 1})
    assert request.body == b'{"code":1,"data":{"k":1}}'


def test_ack_rejects_unknown_codes_and_empty_ids() -> None:
    with pytest.raises(ValueError):
        build_interaction_ack(EP, "I", 9)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        build_interaction_ack(EP, "")


def _client() -> RestClient:
    tokens = TokenState(app_id="1", secret="s", endpoints=EP)
    tokens.receive_response(HttpResponse(status=200, body=json.dumps(
        {"access_token": "T", "expires_in": 7200}).encode()), 0.0)
    return RestClient(tokens)


@pytest.mark.parametrize("status", [200, 204])
def test_ack_succeeds_on_200_or_204_with_an_empty_body(status: int) -> None:
    call = _client().ack_interaction("I", InteractionResult.NO_PERMISSION)
    request = call.next_request(1.0)
    assert request is not None
    assert request.header("Authorization") == "QQBot T"
    assert request.body == b'{"code":4}'
    call.receive_response(HttpResponse(status=status), 1.0)
    assert call.result() is None


def test_ack_fails_on_202_and_on_an_error_code() -> None:
    call = _client().ack_interaction("I")
    call.next_request(1.0)
    call.receive_response(HttpResponse(status=202), 1.0)
    with pytest.raises(UnexpectedResponseError):
        call.result()
    call = _client().ack_interaction("I")
    call.next_request(1.0)
    call.receive_response(HttpResponse(status=200, body=b'{"code":630007}'), 1.0)
    with pytest.raises(ApiError) as info:
        call.result()
    assert info.value.code == 630007
