"""RestCall: token fetch, token attachment, 401 → refresh → retry once, transport failures."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from qqproto import _jsoncodec
from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._secret import Secret
from qqproto.errors import (
    ApiError,
    AuthError,
    InvalidCredentialsError,
    JSONDecodeError,
    LocalProtocolError,
    NetworkError,
    TokenError,
    TransientError,
    UnexpectedResponseError,
)
from qqproto.rest._call import CallState, RestCall, authorize
from qqproto.rest._client import RestClient
from qqproto.rest._gateway_info import parse_gateway_response
from qqproto.rest._messages import MessageSent
from qqproto.rest._token import TokenState

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"


def make_tokens() -> TokenState:
    return TokenState(app_id="1001", secret="s3cret",
                      endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))


def token_response(token: str = "TOK1", expires_in: int = 7200) -> HttpResponse:
    return HttpResponse(status=200, body=json.dumps(
        {"access_token": token, "expires_in": str(expires_in)}).encode())


def ok(body: object = None, status: int = 200) -> HttpResponse:
    raw = b"" if body is None else json.dumps(body).encode()
    return HttpResponse(status=status, body=raw)


def plain_request(url: str = API + "/things") -> HttpRequest:
    return HttpRequest(method="POST", url=url, headers=(("Content-Type", "application/json"),),
                       body=b'{"a":1}')


def parse_body(response: HttpResponse) -> object:
    return json.loads(response.body) if response.body else None


def drive(call: RestCall[object], answer: Callable[[HttpRequest], HttpResponse | str],
          now: float = 0.0) -> list[HttpRequest]:
    """The generic executor: performs every request; a str answer is a transport failure."""
    sent = []
    while (request := call.next_request(now)) is not None:
        sent.append(request)
        reply = answer(request)
        if isinstance(reply, str):
            call.transport_failed(reply, now)
        else:
            call.receive_response(reply, now)
    return sent


# --- authorize ------------------------------------------------------------------------------


def test_authorize_adds_the_token_and_app_id_for_the_api_origin() -> None:
    endpoints = Endpoints(api_base=API, token_url=TOKEN_URL)
    signed = authorize(plain_request(), Secret("T"), app_id="1001", endpoints=endpoints)
    assert signed == HttpRequest(
        method="POST", url=API + "/things",
        headers=(("Content-Type", "application/json"), ("Authorization", "QQBot T"),
                 ("X-Union-Appid", "1001")),
        body=b'{"a":1}')


@pytest.mark.parametrize("url", [
    "https://cos.example.test/presigned?sig=1",
    "http://api.example.test/things",  # other scheme
    "https://api.example.test:8443/things",  # other port
    "https://api.example.test.evil.test/things",
    "https://evil.test/?https://api.example.test",
])
def test_authorize_never_signs_another_origin(url: str) -> None:
    endpoints = Endpoints(api_base=API, token_url=TOKEN_URL)
    request = plain_request(url)
    assert authorize(request, Secret("T"), app_id="1001", endpoints=endpoints) is request


def test_authorize_replaces_stale_auth_headers() -> None:
    endpoints = Endpoints(api_base=API, token_url=TOKEN_URL)
    request = HttpRequest(method="GET", url=API + "/x",
                          headers=(("authorization", "QQBot OLD"), ("x-union-appid", "9")))
    signed = authorize(request, Secret("NEW"), app_id="1001", endpoints=endpoints)
    assert signed.headers == (("Authorization", "QQBot NEW"), ("X-Union-Appid", "1001"))


# --- the call loop --------------------------------------------------------------------------


def test_first_request_is_the_token_request_then_the_signed_call() -> None:
    tokens = make_tokens()
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    assert call.state is CallState.NEED_TOKEN
    first = call.next_request(0.0)
    assert first == tokens.request()
    assert call.state.name == "AWAITING_TOKEN"
    call.receive_response(token_response(), 0.0)
    second = call.next_request(0.0)
    assert second is not None
    assert second.header("Authorization") == "QQBot TOK1"
    assert second.header("X-Union-Appid") == "1001"
    assert second.body == b'{"a":1}'
    call.receive_response(ok({"x": 2}), 0.0)
    assert call.next_request(0.0) is None
    assert call.done and call.result() == {"x": 2} and call.error is None


def test_a_current_token_is_reused_without_a_token_request() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response("SHARED"), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    sent = drive(call, lambda r: ok({}), now=100.0)
    assert [r.url for r in sent] == [API + "/things"]
    assert sent[0].header("Authorization") == "QQBot SHARED"


def test_an_expiring_token_is_refreshed_before_the_call() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response("OLD", 7200), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    answers = iter([token_response("NEW"), ok({})])
    sent = drive(call, lambda r: next(answers), now=7200 - 30)
    assert [r.url for r in sent] == [TOKEN_URL, API + "/things"]
    assert sent[1].header("Authorization") == "QQBot NEW"


def test_401_invalidates_refreshes_and_retries_once() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response("STALE"), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    answers = iter([ok({"message": "token expired"}, 401), token_response("FRESH"),
                    ok({"id": "m"})])
    sent = drive(call, lambda r: next(answers), now=10.0)
    assert [r.url for r in sent] == [API + "/things", TOKEN_URL, API + "/things"]
    assert [r.header("Authorization") for r in sent] == ["QQBot STALE", None,
                                                         "QQBot FRESH"]
    assert call.result() == {"id": "m"}
    assert tokens.current(10.0) == Secret("FRESH")


def test_a_second_401_is_not_retried_again() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response("A"), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    answers = iter([ok({}, 401), token_response("B"), ok({"code": 11241}, 401)])
    sent = drive(call, lambda r: next(answers))
    assert len(sent) == 3
    with pytest.raises(AuthError) as info:
        call.result()
    assert info.value.status == 401 and info.value.code == 11241


def test_401_does_not_drop_a_token_another_call_already_refreshed() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response("A"), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    request = call.next_request(0.0)
    assert request is not None and request.header("Authorization") == "QQBot A"
    tokens.receive_response(token_response("B"), 1.0)  # someone else refreshed meanwhile
    call.receive_response(ok({}, 401), 1.0)
    retry = call.next_request(1.0)
    assert retry is not None and retry.header("Authorization") == "QQBot B"


def test_a_rejected_secret_fails_the_call_with_invalid_credentials() -> None:
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=make_tokens())
    drive(call, lambda r: ok({"code": 100016, "message": "bad secret"}))
    with pytest.raises(InvalidCredentialsError):
        call.result()
    assert isinstance(call.error, TokenError)


def test_a_transport_failure_becomes_a_retryable_network_error() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response(), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    drive(call, lambda r: "connection reset by peer")
    with pytest.raises(NetworkError) as info:
        call.result()
    assert info.value.retryable
    assert "connection reset by peer" in info.value.message
    assert "TOK1" not in str(info.value) and "TOK1" not in repr(info.value)


def test_a_transport_failure_of_the_token_request_is_a_network_error() -> None:
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=make_tokens())
    drive(call, lambda r: "timed out")
    assert isinstance(call.error, NetworkError)
    assert call.error.message == "token request failed: timed out"


def test_error_answers_raise_the_classified_error() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response(), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    drive(call, lambda r: HttpResponse(status=502, headers=(("X-Tps-trace-ID", "tr"),),
                                       body=b"<html>bad gateway</html>"))
    with pytest.raises(TransientError) as info:
        call.result()
    assert info.value.trace_id == "tr" and info.value.status == 502


@pytest.mark.parametrize("status", [201, 202])
def test_201_and_202_fail_the_call(status: int) -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response(), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    drive(call, lambda r: ok({"id": "x"}, status))
    with pytest.raises(UnexpectedResponseError):
        call.result()


def test_a_parser_error_fails_the_call() -> None:
    def strict(response: HttpResponse) -> object:
        raise UnexpectedResponseError("missing id")

    tokens = make_tokens()
    tokens.receive_response(token_response(), 0.0)
    call: RestCall[object] = RestCall(plain_request(), strict, token_state=tokens)
    drive(call, lambda r: ok({}))
    with pytest.raises(UnexpectedResponseError, match="missing id"):
        call.result()


def test_requests_to_other_hosts_never_fetch_or_carry_a_token() -> None:
    tokens = make_tokens()
    call: RestCall[object] = RestCall(plain_request("https://cdn.example.test/f"),
                                      parse_body, token_state=tokens)
    assert call.state is CallState.READY
    sent = drive(call, lambda r: ok({}))
    assert sent == [plain_request("https://cdn.example.test/f")]
    assert tokens.current(0.0) is None


def test_a_401_from_another_host_is_not_retried() -> None:
    call: RestCall[object] = RestCall(plain_request("https://cdn.example.test/f"),
                                      parse_body, token_state=make_tokens())
    sent = drive(call, lambda r: ok({}, 401))
    assert len(sent) == 1 and isinstance(call.error, AuthError)


# --- misuse -----------------------------------------------------------------------------


def test_asking_for_a_request_while_one_is_outstanding_is_misuse() -> None:
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=make_tokens())
    call.next_request(0.0)
    with pytest.raises(LocalProtocolError, match="outstanding"):
        call.next_request(0.0)


def test_feeding_a_response_without_a_request_is_misuse() -> None:
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=make_tokens())
    with pytest.raises(LocalProtocolError):
        call.receive_response(ok({}), 0.0)
    with pytest.raises(LocalProtocolError):
        call.transport_failed("x", 0.0)


def test_result_before_the_end_is_misuse() -> None:
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=make_tokens())
    with pytest.raises(LocalProtocolError, match="not finished"):
        call.result()


def test_a_finished_call_asks_for_nothing_more() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response(), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    drive(call, lambda r: ok({}))
    assert call.next_request(5.0) is None
    with pytest.raises(LocalProtocolError):
        call.receive_response(ok({}), 5.0)


def test_repr_shows_no_token() -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response("SECRET-TOKEN"), 0.0)
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens,
                                      name="thing")
    request = call.next_request(0.0)
    assert "SECRET-TOKEN" not in repr(call) and "SECRET-TOKEN" not in repr(request)
    assert repr(call) == "RestCall('thing', state=AWAITING_RESPONSE)"


def test_errors_are_api_errors() -> None:
    assert issubclass(NetworkError, ApiError)


# --- work done once -------------------------------------------------------------------------


@pytest.fixture(name="decoded")
def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every body the JSON codec decodes, in order."""
    seen: list[bytes] = []
    real = _jsoncodec.loads

    def counting(data: bytes | str) -> Any:
        seen.append(data if isinstance(data, bytes) else data.encode())
        return real(data)

    monkeypatch.setattr(_jsoncodec, "loads", counting)
    return seen


def test_each_reply_body_is_decoded_once_for_the_classifier_and_the_parser(
        decoded: list[bytes]) -> None:
    tokens = make_tokens()
    call = RestClient(tokens).send_c2c_message("U1", content="hi", msg_id="m0", msg_seq=1)
    token_answer = token_response()
    reply = ok({"id": "M1", "timestamp": 1700000000})
    sent = drive(call, lambda r: token_answer if r.url == TOKEN_URL else reply)
    assert [r.url for r in sent] == [TOKEN_URL, API + "/v2/users/U1/messages"]
    assert call.result() == MessageSent(id="M1", timestamp=1700000000)
    assert decoded == [token_answer.body, reply.body]


@pytest.mark.parametrize("reply", [
    ok({"code": 40054005, "message": "duplicate"}, 400),  # classified as an error
    ok({"code": 304023, "message": "audit", "data": {"message_audit": {"audit_id": "A"}}}),
    HttpResponse(status=200, body=b"<html>ok</html>"),  # passes the classifier, not the parser
])
def test_error_and_audit_replies_are_decoded_once_too(decoded: list[bytes],
                                                      reply: HttpResponse) -> None:
    tokens = make_tokens()
    tokens.receive_response(token_response(), 0.0)
    decoded.clear()
    call = RestClient(tokens).send_c2c_message("U1", content="hi")
    drive(call, lambda r: reply)
    assert call.done
    assert decoded == [reply.body]


def test_gateway_discovery_is_decoded_once(decoded: list[bytes]) -> None:
    response = ok({"url": "wss://gw.example.test/ws", "shards": 1})
    assert parse_gateway_response(response).url == "wss://gw.example.test/ws"
    assert len(decoded) == 1


def test_the_cached_body_takes_no_part_in_equality_hash_or_repr(decoded: list[bytes]) -> None:
    fresh, read = ok({"a": 1}), ok({"a": 1})
    assert read.json() is read.json() and len(decoded) == 1
    assert fresh == read and hash(fresh) == hash(read) and repr(fresh) == repr(read)
    bad = HttpResponse(status=200, body=b"{")
    for _ in range(2):
        with pytest.raises(JSONDecodeError):
            bad.json()
    assert len(decoded) == 2
    null = HttpResponse(status=200, body=b"null")  # a cached None is still a cached value
    assert null.json() is None and null.json() is None
    assert len(decoded) == 3
    assert copy.deepcopy(read).json() == {"a": 1} and len(decoded) == 3


def test_the_origin_is_checked_once_per_call_even_across_a_401_retry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    real = Endpoints.is_api_url

    def counting(self: Endpoints, url: str) -> bool:
        checked.append(url)
        return real(self, url)

    monkeypatch.setattr(Endpoints, "is_api_url", counting)
    tokens = make_tokens()
    call: RestCall[object] = RestCall(plain_request(), parse_body, token_state=tokens)
    answers = iter([token_response("A"), ok({}, 401), token_response("B"), ok({"id": "m"})])
    sent = drive(call, lambda r: next(answers))
    assert [r.header("Authorization") for r in sent] == [None, "QQBot A", None, "QQBot B"]
    assert checked == [API + "/things"]
