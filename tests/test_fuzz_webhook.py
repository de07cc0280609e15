"""The webhook fuzz target, run by hypothesis in CI (fuzz/fuzz_webhook.py).

Whole-versus-byte-by-byte equality over arbitrary bytes and over streams of valid,
near-valid and broken requests (pipelined, chunked, tampered, truncated).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.fuzz_webhook import KEY, UNIX_NOW, fuzz_one, http_request, run
from qqproto.events import (
    HeartbeatAnswered,
    RequestRejected,
    ValidationAnswered,
    WebhookConnectionClosed,
    WebhookDispatch,
)
from qqproto.webhook._receiver import WebhookReceiverState

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["op", "s", "t", "d", "id", "plain_token", "event_ts"]),
                      inner, max_size=4),
    max_leaves=8,
)
frames = st.one_of(
    st.fixed_dictionaries({"op": st.just(0), "t": st.sampled_from(["C2C_MESSAGE_CREATE", "X"]),
                           "id": st.sampled_from(["E:1", "E:2", "E:3"]),
                           "s": st.integers(0, 9), "d": json_values}),
    st.fixed_dictionaries({"op": st.just(13), "d": st.fixed_dictionaries(
        {"plain_token": st.text(max_size=8), "event_ts": st.just("1725442341")})}),
    st.fixed_dictionaries({"op": st.just(1), "d": st.integers(0, 5) | st.none()}),
    st.fixed_dictionaries({"op": st.integers(-1, 14)}, optional={"d": json_values,
                                                                 "t": json_values}),
)
bodies = st.one_of(frames.map(lambda f: json.dumps(f).encode()), st.binary(max_size=40))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    body = draw(bodies)
    if draw(st.integers(0, 9)) == 0:
        body += b" " * draw(st.sampled_from([1500, 2100]))  # near the 2048-byte limit
    extra: list[tuple[str, str]] = draw(st.lists(st.sampled_from([
        ("Connection", "close"), ("Connection", "keep-alive"), ("Expect", "100-continue"),
        ("X-Bot-Appid", "11111111"), ("User-Agent", "QQBot-Callback"),
        ("X-Padding", "p" * 1100),
    ]), max_size=2))
    request = http_request(
        body,
        ts=draw(st.sampled_from([str(UNIX_NOW), str(UNIX_NOW - 400), "x"])),
        method=draw(st.sampled_from(["POST", "POST", "POST", "GET", "HEAD"])),
        target=draw(st.sampled_from(["/qqbot", "/qqbot", "/qqbot?a=1", "/other"])),
        version=draw(st.sampled_from(["1.1", "1.1", "1.0"])),
        signed=draw(st.sampled_from([True, True, True, False])),
        extra=tuple(extra),
        chunks=draw(st.none() | st.lists(st.integers(0, 30), max_size=4)),
        content_type=draw(st.sampled_from(["application/json", "application/json",
                                           "text/plain", None])),
    )
    mutation = draw(st.integers(0, 5))
    if mutation == 0 and request:  # flip one byte
        i = draw(st.integers(0, len(request) - 1))
        request = request[:i] + bytes([request[i] ^ draw(st.integers(1, 255))]) + request[i + 1:]
    elif mutation == 1:  # truncate
        request = request[:draw(st.integers(0, len(request)))]
    return request


streams = st.lists(st.one_of(requests(), st.binary(max_size=20)), min_size=1,
                   max_size=5).map(b"".join)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_webhook_on_raw_bytes(data: bytes) -> None:
    fuzz_one(data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(streams)
def test_fuzz_webhook_on_structured_requests(data: bytes) -> None:
    fuzz_one(data)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(requests(), min_size=1, max_size=4).map(b"".join),
       st.lists(st.integers(1, 50), max_size=20))
def test_any_split_of_a_stream_gives_the_same_events_and_bytes(data: bytes,
                                                               cuts: list[int]) -> None:
    chunks, rest = [], data
    for cut in cuts:
        chunks.append(rest[:cut])
        rest = rest[cut:]
    chunks.append(rest)
    assert run([c for c in chunks if c]) == run([data])


def _kinds(log: list[Any]) -> set[type]:
    return {type(e) for e in log}


def test_fuzz_harness_sees_every_kind_of_outcome() -> None:
    # Guard against a harness that compares two empty logs: this stream produces a
    # dispatch, a validation, a heartbeat, rejections, pipelining and an HTTP error.
    dispatch = json.dumps({"op": 0, "t": "X", "id": "E:1", "d": {}}).encode()
    op13 = b'{"op":13,"d":{"plain_token":"p","event_ts":"1"}}'
    data = (http_request(dispatch) + http_request(op13) + http_request(b'{"op":1,"d":3}')
            + http_request(dispatch, chunks=[3]) + http_request(b"{}", signed=False)
            + b"NOT HTTP\r\n\r\n")
    fuzz_one(data)
    log, out = run([data])
    assert {WebhookDispatch, ValidationAnswered, HeartbeatAnswered, RequestRejected,
            WebhookConnectionClosed, tuple} <= _kinds(log)
    # Three answers owed (the dispatch first) pause parsing, so the garbage is reached only
    # after the acknowledgements: its error surfaces on the next receive_data (EOF).
    assert ("raised at EOF", "malformed HTTP request") in log
    assert out.count(b"HTTP/1.1 ") == 6
    assert KEY.sign("1", b"p").encode() in out


def test_fuzz_harness_detects_a_difference() -> None:
    # The comparison itself can fail: two different streams give different logs.
    a = run([http_request(b'{"op":1,"d":1}')])
    b = run([http_request(b'{"op":1,"d":2}')])
    assert a != b
    assert a[0][-1] == ("final state", WebhookReceiverState.CLOSED)
