"""Every RestClient method goes through the same machinery: token first when there is
none, the token on the API origin only, 401 → refresh → one retry with the same body,
typed errors for HTML pages, HTTP-200 business codes, 201/202 and transport failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._values import ChatScope, FileType
from qqproto.errors import (
    ApiError,
    AuthError,
    NetworkError,
    RateLimitedError,
    TransientError,
    UnexpectedResponseError,
)
from qqproto.rest._call import RestCall
from qqproto.rest._client import RestClient
from qqproto.rest._interactions import InteractionResult
from qqproto.rest._messages import OutgoingMessage
from qqproto.rest._token import TokenState

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"

METHODS: dict[str, Callable[[RestClient], RestCall[Any]]] = {
    "c2c text": lambda c: c.send_c2c_message("U", content="x", msg_id="M", msg_seq=1),
    "group markdown": lambda c: c.send_group_message("G", markdown="**x**"),
    "channel": lambda c: c.send_channel_message("C", content="x"),
    "dm": lambda c: c.send_dm_message("D", content="x", msg_id="M"),
    "generic": lambda c: c.send_message(ChatScope.GROUP, "G", OutgoingMessage(media="F")),
    "typing": lambda c: c.send_typing("U", msg_id="M", msg_seq=2),
    "recall c2c": lambda c: c.recall_message(ChatScope.C2C, "U", "M"),
    "recall dm": lambda c: c.recall_message(ChatScope.DM, "D", "M", hide_tip=True),
    "upload url": lambda c: c.upload_media(ChatScope.C2C, "U", FileType.IMAGE,
                                           url="https://img.example/a.png"),
    "upload data": lambda c: c.upload_media(ChatScope.GROUP, "G", FileType.VOICE,
                                            file_data=b"#!SILK_V3"),
    "gateway": lambda c: c.get_gateway(),
    "gateway bot": lambda c: c.get_gateway_bot(),
    "bot info": lambda c: c.get_bot_info(),
    "interaction ack": lambda c: c.ack_interaction("I", InteractionResult.DUPLICATE),
}

SUCCESS: dict[str, HttpResponse] = {
    name: HttpResponse(status=200, body=json.dumps(body).encode())
    for name, body in {
        "c2c text": {"id": "m"}, "group markdown": {"id": "m"}, "channel": {"id": "m"},
        "dm": {"id": "m"}, "generic": {"id": "m"}, "typing": {},
        "recall c2c": {}, "recall dm": {},
        "upload url": {"file_info": "FI"}, "upload data": {"file_info": "FI"},
        "gateway": {"url": "wss://gw.example/"}, "gateway bot": {"url": "wss://gw.example/"},
        "bot info": {"id": "B"}, "interaction ack": {},
    }.items()}


def fresh_client(with_token: bool = True) -> RestClient:
    tokens = TokenState(app_id="1001", secret="s",
                        endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))
    if with_token:
        tokens.receive_response(_token("TOK"), 0.0)
    return RestClient(tokens)


def _token(value: str) -> HttpResponse:
    return HttpResponse(status=200, body=json.dumps(
        {"access_token": value, "expires_in": 7200}).encode())


def drive(call: RestCall[Any], answers: list[HttpResponse | str]) -> list[HttpRequest]:
    sent = []
    while (request := call.next_request(1.0)) is not None:
        sent.append(request)
        answer = answers.pop(0)
        if isinstance(answer, str):
            call.transport_failed(answer, 1.0)
        else:
            call.receive_response(answer, 1.0)
    assert answers == [], "the call stopped early"
    return sent


names = pytest.mark.parametrize("name", list(METHODS))


@names
def test_every_call_succeeds_with_its_token_on_the_api_origin(name: str) -> None:
    call = METHODS[name](fresh_client())
    (request,) = drive(call, [SUCCESS[name]])
    assert request.url.startswith(API + "/")
    assert request.header("Authorization") == "QQBot TOK"
    assert request.header("X-Union-Appid") == "1001"
    call.result()


@names
def test_every_call_fetches_the_token_first_when_there_is_none(name: str) -> None:
    call = METHODS[name](fresh_client(with_token=False))
    token_request, request = drive(call, [_token("T2"), SUCCESS[name]])
    assert token_request.url == TOKEN_URL and token_request.header("Authorization") is None
    assert request.header("Authorization") == "QQBot T2"


@names
def test_every_call_refreshes_on_401_and_retries_once_with_the_same_request(
        name: str) -> None:
    call = METHODS[name](fresh_client())
    first, token_request, retry = drive(call, [HttpResponse(status=401), _token("NEW"),
                                               SUCCESS[name]])
    assert token_request.url == TOKEN_URL
    assert (retry.method, retry.url, retry.body) == (first.method, first.url, first.body)
    assert retry.header("Authorization") == "QQBot NEW"
    call.result()


@names
def test_every_call_gives_up_after_the_second_401(name: str) -> None:
    call = METHODS[name](fresh_client())
    drive(call, [HttpResponse(status=401), _token("NEW"), HttpResponse(status=401)])
    with pytest.raises(AuthError):
        call.result()


@names
def test_every_call_turns_an_html_page_into_a_typed_error(name: str) -> None:
    call = METHODS[name](fresh_client())
    drive(call, [HttpResponse(status=502, headers=(("Content-Type", "text/html"),),
                              body=b"<html><h1>502 Bad Gateway</h1></html>")])
    with pytest.raises(TransientError, match="not a JSON object"):
        call.result()


@names
def test_every_call_fails_on_http_200_with_a_business_code(name: str) -> None:
    call = METHODS[name](fresh_client())
    drive(call, [HttpResponse(status=200, body=b'{"code":22009,"message":"slow down"}')])
    with pytest.raises(RateLimitedError, match="slow down"):
        call.result()


@names
@pytest.mark.parametrize("status", [201, 202])
def test_every_call_fails_on_async_success(name: str, status: int) -> None:
    call = METHODS[name](fresh_client())
    drive(call, [HttpResponse(status=status, body=SUCCESS[name].body)])
    with pytest.raises(UnexpectedResponseError):
        call.result()


@names
def test_every_call_turns_a_transport_failure_into_a_network_error(name: str) -> None:
    call = METHODS[name](fresh_client())
    drive(call, ["connection refused"])
    with pytest.raises(NetworkError) as info:
        call.result()
    assert info.value.retryable and "connection refused" in str(info.value)


@names
def test_no_call_leaks_the_token_into_reprs_or_errors(name: str) -> None:
    call = METHODS[name](fresh_client())
    (request,) = drive(call, [HttpResponse(status=500, body=b'{"message":"x"}')])
    with pytest.raises(ApiError) as info:
        call.result()
    for text in (repr(call), repr(request), str(info.value), repr(info.value)):
        assert "TOK" not in text.replace("TOKEN", "")
