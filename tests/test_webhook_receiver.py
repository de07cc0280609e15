"""WebhookReceiver over raw HTTP bytes: byte-exact answers, event-exact logs, timers."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz.fuzz_webhook import KEY, SECRET, UNIX_NOW, http_request
from qqproto.errors import LocalProtocolError, RemoteProtocolError
from qqproto.events import (
    Delivery,
    Dispatch,
    Event,
    HeartbeatAnswered,
    RequestRejected,
    ValidationAnswered,
    WebhookConnectionClosed,
    WebhookDispatch,
)
from qqproto.webhook._decision import ReplayCache, WebhookPolicy
from qqproto.webhook._receiver import TRANSITIONS, WebhookReceiver, WebhookReceiverState

T0 = 1000.0
DISPATCH = b'{"op":0,"s":3,"t":"C2C_MESSAGE_CREATE","id":"C2C_MESSAGE_CREATE:1","d":{"a":1}}'
DISPATCH_2 = b'{"op":0,"s":4,"t":"C2C_MESSAGE_CREATE","id":"C2C_MESSAGE_CREATE:2","d":{}}'
OP13 = b'{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}'
DOC_SIGNATURE = (
    "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
    "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"
)
ACK_OK = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
          b'{"op":12,"d":0}')
ACK_RETRY = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
             b'{"op":12,"d":1}')
DISPATCH_EVENT = WebhookDispatch(
    dispatch=Dispatch(type="C2C_MESSAGE_CREATE", seq=3, id="C2C_MESSAGE_CREATE:1",
                      data={"a": 1}),
    delivery=Delivery(request=1))


def text_answer(status: str, reason: str, *, close: bool = False, allow: bool = False) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    if allow:
        head += "Allow: POST\r\n"
    head += f"Content-Length: {len(reason)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n" + reason).encode()


def make(**kwargs: Any) -> WebhookReceiver:
    kwargs.setdefault("replay_cache", ReplayCache())
    return WebhookReceiver(KEY, now=T0, **kwargs)


def feed(receiver: WebhookReceiver, data: bytes, *, now: float = T0,
         unix_now: float = UNIX_NOW) -> list[Event]:
    receiver.receive_data(data, now=now, unix_now=unix_now)
    return drain(receiver)


def drain(receiver: WebhookReceiver) -> list[Event]:
    events = []
    while (event := receiver.next_event()) is not None:
        events.append(event)
    return events


# --- the happy paths -------------------------------------------------------------------------

def test_dispatch_is_delivered_and_answered_only_when_acknowledged() -> None:
    r = make()
    assert feed(r, http_request(DISPATCH)) == [DISPATCH_EVENT]
    assert r.data_to_send() == b""
    r.acknowledge(Delivery(request=1), ok=True)
    assert r.data_to_send() == ACK_OK
    assert drain(r) == []
    assert r.state is WebhookReceiverState.OPEN


def test_failed_dispatch_is_answered_with_op12_d1() -> None:
    r = make()
    feed(r, http_request(DISPATCH))
    r.acknowledge(Delivery(request=1), ok=False)
    assert r.data_to_send() == ACK_RETRY


def test_op13_over_http_is_answered_with_the_doc_signature() -> None:
    r = make()
    assert feed(r, http_request(OP13)) == [
        ValidationAnswered(request=1, plain_token="Arq0D5A61EgUu4OxUvOp")]
    body = b'{"plain_token":"Arq0D5A61EgUu4OxUvOp","signature":"' + DOC_SIGNATURE.encode() + b'"}'
    assert r.data_to_send() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body)


def test_op1_over_http_is_answered_with_op11() -> None:
    r = make()
    assert feed(r, http_request(b'{"op":1,"d":9}')) == [HeartbeatAnswered(request=1, seq=9)]
    assert r.data_to_send() == (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                b'Content-Length: 15\r\n\r\n{"op":11,"d":9}')


def test_chunked_body_is_reassembled() -> None:
    r = make()
    assert feed(r, http_request(DISPATCH, chunks=[1, 5, 20])) == [DISPATCH_EVENT]


def test_keep_alive_serves_requests_one_after_another() -> None:
    r = make()
    assert feed(r, http_request(DISPATCH)) == [DISPATCH_EVENT]
    r.acknowledge(Delivery(request=1), ok=True)
    assert feed(r, http_request(b'{"op":1,"d":1}')) == [HeartbeatAnswered(request=2, seq=1)]
    assert r.data_to_send().count(b"HTTP/1.1 200 OK") == 2


def test_a_shared_replay_cache_catches_a_replay_on_another_connection() -> None:
    cache = ReplayCache()
    first, second = make(replay_cache=cache), make(replay_cache=cache)
    feed(first, http_request(DISPATCH))
    assert feed(second, http_request(DISPATCH)) == [
        RequestRejected(request=1, status=409, reason="event already delivered")]
    assert second.data_to_send() == text_answer("409 Conflict", "event already delivered")


def test_a_failed_delivery_may_be_redelivered_on_the_same_connection() -> None:
    r = make()
    feed(r, http_request(DISPATCH))
    r.acknowledge(Delivery(request=1), ok=False)
    events = feed(r, http_request(DISPATCH, ts=str(UNIX_NOW + 1)))
    assert events == [WebhookDispatch(dispatch=DISPATCH_EVENT.dispatch,
                                      delivery=Delivery(request=2))]


def test_body_exactly_at_the_limit_is_accepted() -> None:
    body = DISPATCH[:-1] + b"," + b'"pad":"' + b"x" * 100 + b'"}'
    r = make(policy=WebhookPolicy(max_body_size=len(body)))
    assert isinstance(feed(r, http_request(body))[0], WebhookDispatch)
    r = make(policy=WebhookPolicy(max_body_size=len(body)))
    assert isinstance(feed(r, http_request(body, chunks=[7, 7]))[0], WebhookDispatch)


def test_target_with_query_and_configured_path() -> None:
    r = make(policy=WebhookPolicy(path="/cb"))
    assert feed(r, http_request(DISPATCH, target="/cb?x=1")) == [DISPATCH_EVENT]


def test_app_id_check_runs_over_http() -> None:
    r = make(policy=WebhookPolicy(app_id="11111111"))
    events = feed(r, http_request(DISPATCH, extra=(("X-Bot-Appid", "11111111"),)))
    assert events == [DISPATCH_EVENT]
    r.acknowledge(Delivery(request=1), ok=True)
    r.data_to_send()
    assert feed(r, http_request(DISPATCH_2, extra=(("X-Bot-Appid", "2"),))) == [
        RequestRejected(request=2, status=403, reason="X-Bot-Appid does not match this bot")]
    assert r.data_to_send() == text_answer("403 Forbidden", "X-Bot-Appid does not match this bot")


# --- rejections that keep the connection ------------------------------------------------------

@pytest.mark.parametrize(("request_bytes", "status", "reason", "allow"), [
    (http_request(DISPATCH, target="/nope"), "404 Not Found", "not found", False),
    (http_request(DISPATCH, method="PUT"), "405 Method Not Allowed", "method not allowed", True),
    (http_request(DISPATCH, content_type="text/plain"), "415 Unsupported Media Type",
     "content type must be application/json", False),
    (http_request(DISPATCH, content_type=None), "415 Unsupported Media Type",
     "content type must be application/json", False),
    (http_request(DISPATCH, signed=False), "401 Unauthorized",
     "missing X-Signature-Ed25519 or X-Signature-Timestamp", False),
    (http_request(DISPATCH, ts="17254423410000000000000"), "401 Unauthorized",
     "malformed X-Signature-Timestamp", False),
    (http_request(DISPATCH).replace(KEY.sign(str(UNIX_NOW), DISPATCH).encode(), b"0b" * 64),
     "401 Unauthorized", "signature does not verify", False),
    (http_request(DISPATCH).replace(KEY.sign(str(UNIX_NOW), DISPATCH).encode(), b"ab" * 63),
     "401 Unauthorized", "malformed X-Signature-Ed25519", False),
    (http_request(DISPATCH, ts=str(UNIX_NOW - 301)), "401 Unauthorized",
     "timestamp outside the accepted window", False),
    (http_request(DISPATCH, ts=str(UNIX_NOW + 301)), "401 Unauthorized",
     "timestamp outside the accepted window", False),
    (http_request(b"{nope"), "400 Bad Request", "body is not valid JSON", False),
    (http_request(b"[1]"), "400 Bad Request", "body is not a JSON object", False),
    (http_request(b'{"op":"x"}'), "400 Bad Request", "missing or invalid op", False),
    (http_request(b'{"op":9}'), "400 Bad Request", "unsupported op", False),
    (http_request(b'{"op":0,"d":{}}'), "400 Bad Request", "malformed op 0 frame", False),
    (http_request(b'{"op":1,"d":"1"}'), "400 Bad Request", "malformed op 1 frame", False),
    (http_request(b'{"op":13,"d":{}}'), "400 Bad Request", "malformed op 13 frame", False),
])
def test_each_rejection_has_its_exact_status_and_body_and_keeps_the_connection(
        request_bytes: bytes, status: str, reason: str, allow: bool) -> None:
    r = make()
    events = feed(r, request_bytes)
    assert events == [RequestRejected(request=1, status=int(status[:3]), reason=reason)]
    assert r.data_to_send() == text_answer(status, reason, allow=allow)
    assert r.state is WebhookReceiverState.OPEN
    assert feed(r, http_request(b'{"op":1,"d":2}')) == [HeartbeatAnswered(request=2, seq=2)]


def test_replay_on_the_same_connection_is_409() -> None:
    r = make()
    feed(r, http_request(DISPATCH))
    r.acknowledge(Delivery(request=1), ok=True)
    assert feed(r, http_request(DISPATCH)) == [
        RequestRejected(request=2, status=409, reason="event already delivered")]
    assert r.data_to_send() == ACK_OK + text_answer("409 Conflict", "event already delivered")


def test_stale_check_uses_the_unix_now_of_receive_data() -> None:
    r = make()
    assert feed(r, http_request(DISPATCH), unix_now=UNIX_NOW + 1000) == [RequestRejected(
        request=1, status=401, reason="timestamp outside the accepted window")]


def test_head_request_gets_a_405_head_without_body() -> None:
    r = make()
    feed(r, http_request(b"", method="HEAD"))
    assert r.data_to_send() == text_answer("405 Method Not Allowed", "method not allowed",
                                           allow=True)[:-len("method not allowed")]


def test_rejection_bytes_and_events_never_carry_the_secret(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="qqproto")
    r = make(policy=WebhookPolicy(app_id="4242"))
    sneaky = http_request(SECRET.encode(), target="/qqbot", extra=(("X-Bot-Appid", "4242"),))
    events = feed(r, sneaky)
    out = r.data_to_send()
    assert SECRET.encode() not in out
    assert SECRET not in repr(events)
    assert SECRET not in caplog.text
    assert "[app 4242] request 1 rejected: 400 body is not valid JSON" in caplog.text


# --- rejections that close the connection -----------------------------------------------------

def test_content_length_over_the_limit_is_413_before_the_body_arrives() -> None:
    r = make(policy=WebhookPolicy(max_body_size=10))
    head = http_request(DISPATCH).split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert feed(r, head) == [
        RequestRejected(request=1, status=413, reason="request body too large"),
        WebhookConnectionClosed(reason="closed after answering request 1 with 413")]
    assert r.data_to_send() == text_answer("413 Content Too Large", "request body too large",
                                           close=True)
    assert r.state is WebhookReceiverState.CLOSED
    assert feed(r, DISPATCH) == []  # the rest of the stream is ignored
    assert r.data_to_send() == b""


def test_chunked_body_over_the_limit_is_413() -> None:
    r = make(policy=WebhookPolicy(max_body_size=20))
    events = feed(r, http_request(DISPATCH, chunks=[10, 10]))
    assert events == [
        RequestRejected(request=1, status=413, reason="request body too large"),
        WebhookConnectionClosed(reason="closed after answering request 1 with 413")]


def test_chunked_framing_beyond_its_allowance_is_413() -> None:
    # One data byte per chunk costs six raw bytes: a request may use at most
    # 2 * max_header_size + max_body_size raw bytes, so the body fits but its framing not.
    request = http_request(DISPATCH, chunks=[1] * len(DISPATCH))
    head_size = request.index(b"\r\n\r\n") + 4
    r = make(max_header_size=head_size, policy=WebhookPolicy(max_body_size=len(DISPATCH)))
    assert len(request) > 2 * head_size + len(DISPATCH)
    events = feed(r, request)
    assert events[0] == RequestRejected(request=1, status=413, reason="request body too large")
    assert r.state is WebhookReceiverState.CLOSED


def test_head_larger_than_the_limit_is_431() -> None:
    r = make(max_header_size=512)
    events = feed(r, http_request(DISPATCH, extra=(("X-Pad", "p" * 600),)))
    assert events == [
        RequestRejected(request=1, status=431, reason="request header fields too large"),
        WebhookConnectionClosed(reason="closed after answering request 1 with 431")]
    assert r.data_to_send() == text_answer("431 Request Header Fields Too Large",
                                           "request header fields too large", close=True)


def test_head_exactly_at_the_limit_is_accepted_and_one_more_byte_is_not() -> None:
    base = http_request(DISPATCH, extra=(("X-Pad", ""),))
    head_size = base.index(b"\r\n\r\n") + 4
    r = make(max_header_size=head_size)
    assert feed(r, base) == [DISPATCH_EVENT]
    r = make(max_header_size=head_size - 1)
    assert feed(r, base)[0] == RequestRejected(request=1, status=431,
                                               reason="request header fields too large")


def test_endless_head_is_431_without_waiting_for_the_blank_line() -> None:
    r = make(max_header_size=128)
    assert feed(r, b"POST /qqbot HTTP/1.1\r\n" + b"X: y\r\n" * 17) == []  # 124 bytes
    assert feed(r, b"X: y\r\n")[0] == RequestRejected(
        request=1, status=431, reason="request header fields too large")


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
    b"POST /qqbot HTTP/1.1\r\nno colon here\r\n\r\n",
    b"POST /qqbot HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
    b"POST /qqbot HTTP/x\r\nHost: a\r\n\r\n",
    b"POST /qqbot HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
    b"POST /qqbot HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST /qqbot HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /qqbot HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
    b"\r\nPOST /qqbot HTTP/1.1\r\nHost: a\r\n\r\n",
])
def test_malformed_http_is_400_then_remote_protocol_error(garbage: bytes) -> None:
    r = make()
    with pytest.raises(RemoteProtocolError, match="malformed HTTP request"):
        r.receive_data(garbage, now=T0, unix_now=UNIX_NOW)
    assert drain(r) == [
        RequestRejected(request=1, status=400, reason="malformed HTTP request"),
        WebhookConnectionClosed(reason="closed after answering request 1 with 400")]
    assert r.data_to_send() == text_answer("400 Bad Request", "malformed HTTP request",
                                           close=True)
    with pytest.raises(RemoteProtocolError):  # sticky
        r.receive_data(b"more", now=T0, unix_now=UNIX_NOW)


def test_content_length_together_with_chunked_is_refused() -> None:
    r = make()
    data = http_request(DISPATCH, chunks=[5]).replace(
        b"Transfer-Encoding: chunked", b"Content-Length: 5\r\nTransfer-Encoding: chunked")
    with pytest.raises(RemoteProtocolError):
        r.receive_data(data, now=T0, unix_now=UNIX_NOW)
    assert drain(r)[0] == RequestRejected(request=1, status=400, reason="malformed HTTP request")


def test_malformed_request_behind_a_dispatch_is_answered_after_it() -> None:
    r = make()
    with pytest.raises(RemoteProtocolError):
        r.receive_data(http_request(DISPATCH) + b"BROKEN\r\n\r\n", now=T0, unix_now=UNIX_NOW)
    assert drain(r) == [
        DISPATCH_EVENT, RequestRejected(request=2, status=400, reason="malformed HTTP request")]
    assert r.data_to_send() == b""
    r.acknowledge(Delivery(request=1), ok=True)
    assert r.data_to_send() == ACK_OK + text_answer("400 Bad Request", "malformed HTTP request",
                                                    close=True)
    assert drain(r) == [WebhookConnectionClosed(reason="closed after answering request 2 with 400")]


# --- Connection: close, HTTP/1.0, EOF ---------------------------------------------------------

def test_connection_close_request_gets_a_closing_answer() -> None:
    r = make()
    events = feed(r, http_request(b'{"op":1,"d":1}', extra=(("Connection", "close"),))
                  + http_request(b'{"op":1,"d":2}'))
    assert events == [HeartbeatAnswered(request=1, seq=1), WebhookConnectionClosed(
        reason="the client asked to close the connection")]
    assert r.data_to_send() == (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                b"Content-Length: 15\r\nConnection: close\r\n\r\n"
                                b'{"op":11,"d":1}')


def test_http10_requests_are_answered_and_closed() -> None:
    r = make()
    feed(r, http_request(DISPATCH, version="1.0"))
    r.acknowledge(Delivery(request=1), ok=True)
    assert r.data_to_send() == ACK_OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    assert drain(r) == [WebhookConnectionClosed(
        reason="the client asked to close the connection")]


def test_eof_between_requests_closes_cleanly() -> None:
    r = make()
    feed(r, http_request(b'{"op":1,"d":1}'))
    assert feed(r, b"") == [WebhookConnectionClosed(reason="peer closed the connection")]
    assert r.state is WebhookReceiverState.CLOSED
    assert r.get_timer() is None


def test_eof_mid_request_closes_without_an_answer() -> None:
    r = make()
    assert feed(r, http_request(DISPATCH)[:-3]) == []
    assert feed(r, b"") == [WebhookConnectionClosed(
        reason="peer closed the connection mid-request")]
    assert r.data_to_send() == b""


def test_eof_while_a_dispatch_is_owed_closes_after_its_answer() -> None:
    r = make()
    feed(r, http_request(DISPATCH))
    assert feed(r, b"") == []
    assert r.state is WebhookReceiverState.CLOSING
    r.acknowledge(Delivery(request=1), ok=True)
    assert r.data_to_send() == ACK_OK
    assert drain(r) == [WebhookConnectionClosed(reason="peer closed the connection")]


def test_repeated_eof_is_harmless_but_data_after_eof_is_a_caller_error() -> None:
    r = make()
    feed(r, b"")
    feed(r, b"")
    with pytest.raises(LocalProtocolError):
        r.receive_data(b"x", now=T0, unix_now=UNIX_NOW)


# --- pipelining ------------------------------------------------------------------------------

def test_pipelined_answers_leave_in_request_order() -> None:
    r = make()
    events = feed(r, http_request(DISPATCH) + http_request(OP13) + http_request(DISPATCH_2))
    assert events == [
        DISPATCH_EVENT,
        ValidationAnswered(request=2, plain_token="Arq0D5A61EgUu4OxUvOp"),
        WebhookDispatch(dispatch=Dispatch(type="C2C_MESSAGE_CREATE", seq=4,
                                          id="C2C_MESSAGE_CREATE:2", data={}),
                        delivery=Delivery(request=3))]
    assert r.data_to_send() == b""
    r.acknowledge(Delivery(request=3), ok=False)  # the later one first
    assert r.data_to_send() == b""
    r.acknowledge(Delivery(request=1), ok=True)
    out = r.data_to_send()
    assert out.startswith(ACK_OK + b"HTTP/1.1 200 OK\r\n")
    assert out.endswith(b'"}' + ACK_RETRY)
    assert out.index(DOC_SIGNATURE.encode()) > len(ACK_OK)


def test_parsing_pauses_when_max_pipelined_answers_are_owed() -> None:
    r = make(max_pipelined=2)
    stream = http_request(DISPATCH) + http_request(DISPATCH_2) + http_request(b'{"op":1,"d":5}')
    events = feed(r, stream)
    assert [type(e) for e in events] == [WebhookDispatch, WebhookDispatch]
    assert r.reading_paused
    assert r.get_timer() is None  # waiting for the application, not for the peer
    r.acknowledge(Delivery(request=1), ok=True)
    assert drain(r) == [HeartbeatAnswered(request=3, seq=5)]
    assert r.reading_paused  # request 2's answer and the heartbeat's behind it are owed
    assert r.data_to_send() == ACK_OK
    r.acknowledge(Delivery(request=2), ok=True)
    assert not r.reading_paused
    assert r.data_to_send() == ACK_OK + (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        b'{"op":11,"d":5}')


def test_max_pipelined_one_parses_strictly_one_request_at_a_time() -> None:
    r = make(max_pipelined=1)
    assert feed(r, http_request(DISPATCH) + http_request(OP13)) == [DISPATCH_EVENT]
    r.acknowledge(Delivery(request=1), ok=True)
    assert drain(r) == [ValidationAnswered(request=2, plain_token="Arq0D5A61EgUu4OxUvOp")]


def test_many_pipelined_requests_in_one_read_are_all_answered() -> None:
    # More than 64 KiB in one call exercises the input buffer's compaction.
    r = make()
    heartbeat = http_request(b'{"op":1,"d":1}')
    count = 65536 // len(heartbeat) + 20
    events = feed(r, heartbeat * count)
    assert events == [HeartbeatAnswered(request=i + 1, seq=1) for i in range(count)]
    assert r.data_to_send().count(b'{"op":11,"d":1}') == count


def test_a_one_mebibyte_body_in_one_read_is_accepted() -> None:
    body = b'{"op":0,"t":"X","id":"E:big","d":"' + b"x" * (1024 * 1024 - 40) + b'"}'
    r = make()
    events = feed(r, http_request(body))
    assert len(events) == 1
    assert isinstance(events[0], WebhookDispatch)
    assert events[0].dispatch.id == "E:big"


# --- 100-continue ----------------------------------------------------------------------------

def test_expect_100_continue_gets_an_interim_answer() -> None:
    r = make()
    request = http_request(DISPATCH, extra=(("Expect", "100-continue"),))
    head, body = request.split(b"\r\n\r\n", 1)
    assert feed(r, head + b"\r\n\r\n") == []
    assert r.data_to_send() == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert feed(r, body) == [DISPATCH_EVENT]


def test_no_interim_answer_while_an_earlier_answer_is_owed() -> None:
    r = make()
    feed(r, http_request(DISPATCH) + http_request(DISPATCH_2, extra=(("Expect", "100-continue"),)))
    assert r.data_to_send() == b""


def test_no_interim_answer_when_the_body_is_refused_by_its_length() -> None:
    r = make(policy=WebhookPolicy(max_body_size=5))
    feed(r, http_request(DISPATCH, extra=(("Expect", "100-continue"),)))
    assert r.data_to_send().startswith(b"HTTP/1.1 413 ")


# --- timers ----------------------------------------------------------------------------------

def test_idle_connection_is_closed_after_the_idle_timeout() -> None:
    r = make(idle_timeout=60.0)
    assert r.get_timer() == T0 + 60.0
    r.handle_timer(T0 + 59.9)
    assert drain(r) == []
    r.handle_timer(r.get_timer() or 0.0)
    assert drain(r) == [WebhookConnectionClosed(reason="idle timeout")]
    assert r.data_to_send() == b""
    assert r.state is WebhookReceiverState.CLOSED
    assert r.get_timer() is None
    r.handle_timer(T0 + 1000)  # harmless afterwards
    assert drain(r) == []


def test_idle_timer_restarts_after_each_answer() -> None:
    r = make(idle_timeout=60.0)
    feed(r, http_request(DISPATCH), now=T0 + 10)
    assert r.get_timer() is None  # the application owes an answer
    r.acknowledge(Delivery(request=1), ok=True)  # on the latest clock seen: T0 + 10
    assert r.get_timer() == T0 + 10 + 60.0
    feed(r, http_request(b'{"op":1,"d":1}'), now=T0 + 30)
    assert r.get_timer() == T0 + 30 + 60.0


def test_partial_request_past_the_request_timeout_gets_408() -> None:
    r = make(request_timeout=30.0)
    feed(r, http_request(DISPATCH)[:50], now=T0 + 5)
    assert r.get_timer() == T0 + 35.0
    feed(r, http_request(DISPATCH)[50:60], now=T0 + 20)
    assert r.get_timer() == T0 + 35.0  # measured from the request's first byte
    r.handle_timer(T0 + 35.0)
    assert drain(r) == [RequestRejected(request=1, status=408, reason="request timeout"),
                        WebhookConnectionClosed(reason="closed after answering request 1 with 408")]
    assert r.data_to_send() == text_answer("408 Request Timeout", "request timeout", close=True)


def test_request_timeout_answer_waits_behind_an_owed_dispatch() -> None:
    r = make()
    feed(r, http_request(DISPATCH) + b"POST /qq")
    r.handle_timer(r.get_timer() or 0.0)
    assert drain(r) == [RequestRejected(request=2, status=408, reason="request timeout")]
    assert r.data_to_send() == b""
    r.acknowledge(Delivery(request=1), ok=True)
    assert r.data_to_send() == ACK_OK + text_answer("408 Request Timeout", "request timeout",
                                                    close=True)


def test_timer_before_the_deadline_does_nothing() -> None:
    r = make()
    feed(r, b"POST")
    r.handle_timer(T0 + 29.0)
    assert drain(r) == []
    assert r.state is WebhookReceiverState.OPEN


# --- API misuse and local close ---------------------------------------------------------------

def test_acknowledging_an_unknown_or_answered_delivery_is_a_caller_error() -> None:
    r = make()
    with pytest.raises(LocalProtocolError):
        r.acknowledge(Delivery(request=1), ok=True)
    feed(r, http_request(DISPATCH))
    r.acknowledge(Delivery(request=1), ok=True)
    with pytest.raises(LocalProtocolError):
        r.acknowledge(Delivery(request=1), ok=True)


def test_local_close_ends_the_connection_and_later_acks_are_accepted() -> None:
    r = make()
    feed(r, http_request(DISPATCH))
    r.close()
    assert drain(r) == [WebhookConnectionClosed(reason="closed locally")]
    r.acknowledge(Delivery(request=1), ok=True)
    assert r.data_to_send() == b""
    assert feed(r, http_request(OP13)) == []
    r.close()
    assert drain(r) == []


def test_local_close_forgets_a_failed_delivery_in_the_replay_cache() -> None:
    cache = ReplayCache()
    r = make(replay_cache=cache)
    feed(r, http_request(DISPATCH))
    r.close()
    r.acknowledge(Delivery(request=1), ok=False)
    assert len(cache) == 0


def test_non_finite_unix_now_is_a_caller_error() -> None:
    r = make()
    with pytest.raises(LocalProtocolError):
        r.receive_data(b"", now=T0, unix_now=float("nan"))


@pytest.mark.parametrize("kwargs", [
    {"max_header_size": 10}, {"max_pipelined": 0}, {"request_timeout": 0},
    {"idle_timeout": -1},
])
def test_invalid_receiver_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        make(**kwargs)


def test_transition_table_has_no_way_back_to_open() -> None:
    assert all(new is not WebhookReceiverState.OPEN for new in TRANSITIONS.values())
    assert {state for state, _ in TRANSITIONS} == {WebhookReceiverState.OPEN,
                                                   WebhookReceiverState.CLOSING}


def test_events_are_plain_comparable_values() -> None:
    a = json.loads(json.dumps({"x": 1}))
    assert WebhookDispatch(dispatch=Dispatch(type="T", seq=None, id=None, data=a),
                           delivery=Delivery(request=1)) == WebhookDispatch(
        dispatch=Dispatch(type="T", seq=None, id=None, data={"x": 1}),
        delivery=Delivery(request=1))


# --- properties -------------------------------------------------------------------------------

def _heartbeat_answer(seq: int) -> bytes:
    body = b'{"op":11,"d":%d}' % seq
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body)


@settings(max_examples=80, deadline=None)
@given(kinds=st.lists(st.booleans(), min_size=1, max_size=10), data=st.data())
def test_answers_leave_in_request_order_whatever_the_ack_order_and_split(
        kinds: list[bool], data: st.DataObject) -> None:
    # True = a dispatch (answered when acknowledged), False = a heartbeat (answered at once).
    stream = b"".join(
        http_request(json.dumps({"op": 0, "t": "X", "id": f"E:{i}", "d": {}}).encode())
        if is_dispatch else http_request(b'{"op":1,"d":%d}' % i)
        for i, is_dispatch in enumerate(kinds))
    cut = data.draw(st.integers(0, len(stream)))
    r = make(max_pipelined=len(kinds))
    events = [e for part in (stream[:cut], stream[cut:]) if part for e in feed(r, part)]
    deliveries = [e.delivery for e in events if isinstance(e, WebhookDispatch)]
    assert len(deliveries) == sum(kinds)
    order = data.draw(st.permutations(deliveries))
    verdicts = {d.request: data.draw(st.booleans()) for d in deliveries}
    out = r.data_to_send()
    for delivery in order:
        r.acknowledge(delivery, ok=verdicts[delivery.request])
        out += r.data_to_send()
    expected = b"".join(
        (ACK_OK if verdicts[i + 1] else ACK_RETRY) if is_dispatch else _heartbeat_answer(i)
        for i, is_dispatch in enumerate(kinds))
    assert out == expected


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 200), chunked=st.booleans())
def test_any_body_size_up_to_the_limit_is_accepted_and_one_more_byte_is_not(
        size: int, chunked: bool) -> None:
    body = b'{"op":0,"t":"X","id":"E:1","d":"' + b"x" * size + b'"}'
    for limit, accepted in ((len(body), True), (len(body) - 1, False)):
        r = make(policy=WebhookPolicy(max_body_size=limit))
        events = feed(r, http_request(body, chunks=[7] if chunked else None))
        assert isinstance(events[0], WebhookDispatch) is accepted
