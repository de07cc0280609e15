"""handle_webhook_request: every verdict, every rejection, request-exact (gateway.md §9)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._http import HttpResponse
from qqproto.errors import LocalProtocolError
from qqproto.events import Dispatch
from qqproto.webhook._decision import (
    DEFAULT_POLICY,
    ReplayCache,
    WebhookDecision,
    WebhookDelivery,
    WebhookHeartbeat,
    WebhookPolicy,
    WebhookRejection,
    WebhookValidation,
    ack_response,
    handle_webhook_request,
)
from qqproto.webhook._signing import WebhookKey

SECRET = "DG5g3B4j9X2KOErG"
KEY = WebhookKey(SECRET)
NOW = 1_725_442_341
TS = str(NOW)
TEXT = ("Content-Type", "text/plain; charset=utf-8")
JSON_CT = ("Content-Type", "application/json")

DISPATCH_BODY = (
    b'{"op":0,"s":42,"t":"C2C_MESSAGE_CREATE","id":"C2C_MESSAGE_CREATE:8d2f",'
    b'"d":{"id":"ROBOT1.0_abc","content":"hello"}}'
)
DOC_OP13_BODY = b'{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}'
DOC_SIGNATURE = (
    "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
    "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"
)


def signed_headers(body: bytes, ts: str = TS, key: WebhookKey = KEY,
                   **extra: str) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json"), ("User-Agent", "QQBot-Callback"),
               ("X-Signature-Ed25519", key.sign(ts, body)), ("X-Signature-Timestamp", ts)]
    headers += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return headers


def decide(body: bytes, headers: Any = None, *, method: str = "POST",
           path: str | None = "/qqbot", unix_now: float = NOW,
           cache: ReplayCache | None = None,
           policy: WebhookPolicy = DEFAULT_POLICY) -> WebhookDecision:
    return handle_webhook_request(
        KEY, signed_headers(body) if headers is None else headers, body,
        method=method, path=path, unix_now=unix_now,
        replay_cache=ReplayCache() if cache is None else cache, policy=policy)


def rejection(status: int, reason: str, *extra: tuple[str, str]) -> WebhookRejection:
    return WebhookRejection(status=status, reason=reason, response=HttpResponse(
        status=status, headers=(TEXT, *extra), body=reason.encode()))


# --- accepted requests ---------------------------------------------------------------------

def test_signed_dispatch_becomes_a_delivery_with_the_exact_dispatch() -> None:
    decision = decide(DISPATCH_BODY)
    assert decision == WebhookDelivery(
        dispatch=Dispatch(type="C2C_MESSAGE_CREATE", seq=42, id="C2C_MESSAGE_CREATE:8d2f",
                          data={"id": "ROBOT1.0_abc", "content": "hello"}),
        replay_key="id:C2C_MESSAGE_CREATE:8d2f")


def test_acknowledging_a_handled_delivery_answers_op12_d0() -> None:
    decision = decide(DISPATCH_BODY)
    assert isinstance(decision, WebhookDelivery)
    assert decision.acknowledge(True) == HttpResponse(
        status=200, headers=(JSON_CT,), body=b'{"op":12,"d":0}')
    assert decision.acknowledge() == ack_response(True)


def test_acknowledging_a_failed_delivery_answers_op12_d1() -> None:
    decision = decide(DISPATCH_BODY)
    assert isinstance(decision, WebhookDelivery)
    assert decision.acknowledge(False) == HttpResponse(
        status=200, headers=(JSON_CT,), body=b'{"op":12,"d":1}')


def test_dispatch_without_seq_has_seq_none() -> None:
    body = b'{"op":0,"t":"GROUP_AT_MESSAGE_CREATE","id":"E:1","d":{}}'
    decision = decide(body)
    assert isinstance(decision, WebhookDelivery)
    assert decision.dispatch == Dispatch(type="GROUP_AT_MESSAGE_CREATE", seq=None, id="E:1",
                                         data={})


def test_dispatch_without_d_has_data_none() -> None:
    decision = decide(b'{"op":0,"t":"X","id":"E:2"}')
    assert isinstance(decision, WebhookDelivery)
    assert decision.dispatch.data is None


def test_op13_is_answered_with_the_doc_signature() -> None:
    decision = decide(DOC_OP13_BODY)
    assert decision == WebhookValidation(
        plain_token="Arq0D5A61EgUu4OxUvOp", event_ts="1725442341",
        response=HttpResponse(status=200, headers=(JSON_CT,), body=(
            b'{"plain_token":"Arq0D5A61EgUu4OxUvOp","signature":"' + DOC_SIGNATURE.encode()
            + b'"}')))


def test_op13_with_a_numeric_event_ts_signs_its_decimal_form() -> None:
    # gateway.md §9.4: DOC-old showed event_ts as a (millisecond) number.
    body = b'{"op":13,"d":{"plain_token":"tok","event_ts":1654503849680}}'
    decision = decide(body)
    assert isinstance(decision, WebhookValidation)
    assert decision.event_ts == "1654503849680"
    assert decision.response.body == KEY.validation_response("tok", "1654503849680")


def test_unsigned_op13_is_refused_by_default() -> None:
    assert decide(DOC_OP13_BODY, [JSON_CT]) == rejection(
        401, "missing X-Signature-Ed25519 or X-Signature-Timestamp")


def test_unsigned_op13_is_answered_when_validation_checks_are_off() -> None:
    policy = WebhookPolicy(verify_validation=False)
    decision = decide(DOC_OP13_BODY, [JSON_CT], policy=policy)
    assert isinstance(decision, WebhookValidation)
    assert decision.plain_token == "Arq0D5A61EgUu4OxUvOp"


def test_badly_signed_op13_is_answered_when_validation_checks_are_off() -> None:
    headers = signed_headers(DOC_OP13_BODY, ts=str(NOW - 10_000))  # stale
    decision = decide(DOC_OP13_BODY, headers, policy=WebhookPolicy(verify_validation=False))
    assert isinstance(decision, WebhookValidation)


def test_unsigned_dispatch_is_refused_even_when_validation_checks_are_off() -> None:
    policy = WebhookPolicy(verify_validation=False)
    assert decide(DISPATCH_BODY, [JSON_CT], policy=policy) == rejection(
        401, "missing X-Signature-Ed25519 or X-Signature-Timestamp")
    assert decide(b"nope", [JSON_CT], policy=policy) == rejection(
        401, "missing X-Signature-Ed25519 or X-Signature-Timestamp")


def test_op1_is_answered_with_op11_echoing_the_seq() -> None:
    assert decide(b'{"op":1,"d":7}') == WebhookHeartbeat(seq=7, response=HttpResponse(
        status=200, headers=(JSON_CT,), body=b'{"op":11,"d":7}'))
    assert decide(b'{"op":1,"d":null}') == WebhookHeartbeat(seq=None, response=HttpResponse(
        status=200, headers=(JSON_CT,), body=b'{"op":11,"d":null}'))
    assert decide(b'{"op":1}') == WebhookHeartbeat(seq=None, response=HttpResponse(
        status=200, headers=(JSON_CT,), body=b'{"op":11,"d":null}'))


def test_a_query_string_on_the_path_is_ignored() -> None:
    assert isinstance(decide(DISPATCH_BODY, path="/qqbot?from=qq"), WebhookDelivery)


def test_path_none_skips_the_path_check() -> None:
    assert isinstance(decide(DISPATCH_BODY, path=None), WebhookDelivery)


def test_configured_path_is_the_one_accepted() -> None:
    policy = WebhookPolicy(path="/hooks/qq")
    assert isinstance(decide(DISPATCH_BODY, path="/hooks/qq", policy=policy), WebhookDelivery)
    assert decide(DISPATCH_BODY, path="/qqbot", policy=policy) == rejection(404, "not found")


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
    'application/json; charset="utf-8"', "application/json; charset=utf8",
    "application/json; boundary=x",
])
def test_json_content_types_are_tolerated(content_type: str) -> None:
    headers = [("Content-Type", content_type), *signed_headers(DISPATCH_BODY)[1:]]
    assert isinstance(decide(DISPATCH_BODY, headers), WebhookDelivery)


def test_headers_may_be_a_mapping_or_raw_bytes_pairs() -> None:
    as_map = dict(signed_headers(DISPATCH_BODY))
    assert isinstance(decide(DISPATCH_BODY, as_map), WebhookDelivery)
    raw = [(k.lower().encode(), v.encode()) for k, v in signed_headers(DISPATCH_BODY)]
    assert isinstance(decide(DISPATCH_BODY, raw), WebhookDelivery)


def test_matching_app_id_is_accepted() -> None:
    policy = WebhookPolicy(app_id="11111111")
    headers = signed_headers(DISPATCH_BODY, X_Bot_Appid="11111111")
    assert isinstance(decide(DISPATCH_BODY, headers, policy=policy), WebhookDelivery)


def test_timestamp_exactly_at_the_window_edge_is_accepted() -> None:
    for now in (NOW + 300, NOW - 300):
        assert isinstance(decide(DISPATCH_BODY, unix_now=now), WebhookDelivery)


def test_fractional_unix_now_is_compared_exactly() -> None:
    assert isinstance(decide(DISPATCH_BODY, unix_now=NOW + 300.0), WebhookDelivery)
    assert decide(DISPATCH_BODY, unix_now=NOW + 300.5) == rejection(
        401, "timestamp outside the accepted window")


def test_replay_cache_none_turns_replay_rejection_off() -> None:
    for _ in range(2):
        decision = handle_webhook_request(KEY, signed_headers(DISPATCH_BODY), DISPATCH_BODY,
                                          method="POST", path="/qqbot", unix_now=NOW,
                                          replay_cache=None)
        assert isinstance(decision, WebhookDelivery)
        assert decision.acknowledge(False) == ack_response(False)


# --- rejections, one per path --------------------------------------------------------------

def test_wrong_path_is_404() -> None:
    assert decide(DISPATCH_BODY, path="/other") == rejection(404, "not found")
    assert decide(DISPATCH_BODY, path="/qqbot/") == rejection(404, "not found")


def test_wrong_method_is_405_with_allow_header() -> None:
    for method in ("GET", "PUT", "post"):
        assert decide(DISPATCH_BODY, method=method) == rejection(
            405, "method not allowed", ("Allow", "POST"))


def test_wrong_path_wins_over_wrong_method() -> None:
    assert decide(DISPATCH_BODY, method="GET", path="/x") == rejection(404, "not found")


def test_body_over_the_limit_is_413() -> None:
    policy = WebhookPolicy(max_body_size=len(DISPATCH_BODY) - 1)
    assert decide(DISPATCH_BODY, policy=policy) == rejection(413, "request body too large")
    policy = WebhookPolicy(max_body_size=len(DISPATCH_BODY))
    assert isinstance(decide(DISPATCH_BODY, policy=policy), WebhookDelivery)


@pytest.mark.parametrize("content_type", [
    None, "text/plain", "application/jsonx", "application/json; charset=gbk",
    "application/x-www-form-urlencoded", "",
])
def test_non_json_content_type_is_415(content_type: str | None) -> None:
    headers = signed_headers(DISPATCH_BODY)[1:]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    assert decide(DISPATCH_BODY, headers) == rejection(
        415, "content type must be application/json")


def test_repeated_content_type_is_415() -> None:
    headers = [*signed_headers(DISPATCH_BODY), JSON_CT]
    assert decide(DISPATCH_BODY, headers) == rejection(
        415, "content type must be application/json")


@pytest.mark.parametrize("app_ids", [[], ["22222222"], ["11111111", "11111111"], ["111111111"]])
def test_missing_wrong_or_repeated_app_id_is_403(app_ids: list[str]) -> None:
    policy = WebhookPolicy(app_id="11111111")
    headers = signed_headers(DISPATCH_BODY) + [("X-Bot-Appid", a) for a in app_ids]
    assert decide(DISPATCH_BODY, headers, policy=policy) == rejection(
        403, "X-Bot-Appid does not match this bot")


def test_app_id_header_is_ignored_when_no_app_id_is_configured() -> None:
    headers = signed_headers(DISPATCH_BODY, X_Bot_Appid="whatever")
    assert isinstance(decide(DISPATCH_BODY, headers), WebhookDelivery)


@pytest.mark.parametrize("drop", ["X-Signature-Ed25519", "X-Signature-Timestamp"])
def test_missing_signature_header_is_401(drop: str) -> None:
    headers = [h for h in signed_headers(DISPATCH_BODY) if h[0] != drop]
    assert decide(DISPATCH_BODY, headers) == rejection(
        401, "missing X-Signature-Ed25519 or X-Signature-Timestamp")


@pytest.mark.parametrize("timestamp", [
    "", "-1725442341", "+1725442341", "1725442341.0", "1e9", "0x66d8", "１７２５４４２３４１",
    "1" * 21, "17254 42341",
])
def test_malformed_timestamp_header_is_401(timestamp: str) -> None:
    headers = signed_headers(DISPATCH_BODY, ts=timestamp)
    assert decide(DISPATCH_BODY, headers) == rejection(401, "malformed X-Signature-Timestamp")


def test_timestamp_header_surrounding_whitespace_is_trimmed_like_any_header() -> None:
    # HTTP strips optional whitespace around field values (RFC 9110 §5.5).
    headers = [(k, f" {v} " if k == "X-Signature-Timestamp" else v)
               for k, v in signed_headers(DISPATCH_BODY)]
    assert isinstance(decide(DISPATCH_BODY, headers), WebhookDelivery)


def test_repeated_signature_headers_are_401() -> None:
    headers = signed_headers(DISPATCH_BODY)
    assert decide(DISPATCH_BODY, [*headers, headers[2]]) == rejection(
        401, "malformed X-Signature-Ed25519")
    assert decide(DISPATCH_BODY, [*headers, headers[3]]) == rejection(
        401, "malformed X-Signature-Timestamp")


@pytest.mark.parametrize("signature", [
    "", "00" * 63, "00" * 65, "zz" * 64, "0x" + "00" * 63, " " * 128,
    "00" * 63 + "20",  # §9.3 non-canonical last byte
])
def test_malformed_signature_header_is_401(signature: str) -> None:
    headers = [(k, signature if k == "X-Signature-Ed25519" else v)
               for k, v in signed_headers(DISPATCH_BODY)]
    assert decide(DISPATCH_BODY, headers) == rejection(401, "malformed X-Signature-Ed25519")


def test_signature_of_another_body_is_401() -> None:
    headers = signed_headers(b'{"op":0}')
    assert decide(DISPATCH_BODY, headers) == rejection(401, "signature does not verify")


def test_signature_by_another_key_is_401() -> None:
    headers = signed_headers(DISPATCH_BODY, key=WebhookKey("another secret"))
    assert decide(DISPATCH_BODY, headers) == rejection(401, "signature does not verify")


def test_uppercase_signature_header_is_accepted() -> None:
    headers = [(k, v.upper() if k == "X-Signature-Ed25519" else v)
               for k, v in signed_headers(DISPATCH_BODY)]
    assert isinstance(decide(DISPATCH_BODY, headers), WebhookDelivery)


@pytest.mark.parametrize("offset", [301, -301, 86_400, -NOW])
def test_timestamp_outside_the_window_is_401_in_both_directions(offset: int) -> None:
    assert decide(DISPATCH_BODY, unix_now=NOW + offset) == rejection(
        401, "timestamp outside the accepted window")


def test_configured_window_is_applied() -> None:
    policy = WebhookPolicy(timestamp_window=10)
    assert decide(DISPATCH_BODY, unix_now=NOW + 11, policy=policy) == rejection(
        401, "timestamp outside the accepted window")
    assert isinstance(decide(DISPATCH_BODY, unix_now=NOW + 10, policy=policy), WebhookDelivery)


def test_bad_signature_is_reported_before_a_stale_timestamp() -> None:
    headers = signed_headers(b"other")
    assert decide(DISPATCH_BODY, headers, unix_now=NOW + 10_000) == rejection(
        401, "signature does not verify")


@pytest.mark.parametrize(("body", "reason"), [
    (b"", "body is not valid JSON"),
    (b"{", "body is not valid JSON"),
    (b'{"op":0}garbage', "body is not valid JSON"),
    (b'\xff{"op":0}', "body is not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "body is not valid JSON"),
    (b"[]", "body is not a JSON object"),
    (b"null", "body is not a JSON object"),
    (b'"op"', "body is not a JSON object"),
    (b"12", "body is not a JSON object"),
    (b"{}", "missing or invalid op"),
    (b'{"op":"0"}', "missing or invalid op"),
    (b'{"op":true}', "missing or invalid op"),
    (b'{"op":0.0}', "missing or invalid op"),
    (b'{"op":null}', "missing or invalid op"),
    (b'{"op":7,"d":null}', "unsupported op"),
    (b'{"op":12,"d":0}', "unsupported op"),
    (b'{"op":-1}', "unsupported op"),
    (b'{"op":0,"d":{}}', "malformed op 0 frame"),
    (b'{"op":0,"t":"","d":{}}', "malformed op 0 frame"),
    (b'{"op":0,"t":5,"d":{}}', "malformed op 0 frame"),
    (b'{"op":0,"t":"X","s":"1","d":{}}', "malformed op 0 frame"),
    (b'{"op":0,"t":"X","s":true,"d":{}}', "malformed op 0 frame"),
    (b'{"op":0,"t":"X","s":1.5,"d":{}}', "malformed op 0 frame"),
    (b'{"op":0,"t":"X","id":7,"d":{}}', "malformed op 0 frame"),
    (b'{"op":1,"d":"7"}', "malformed op 1 frame"),
    (b'{"op":1,"d":false}', "malformed op 1 frame"),
    (b'{"op":13}', "malformed op 13 frame"),
    (b'{"op":13,"d":[]}', "malformed op 13 frame"),
    (b'{"op":13,"d":{"plain_token":"t"}}', "malformed op 13 frame"),
    (b'{"op":13,"d":{"event_ts":"1"}}', "malformed op 13 frame"),
    (b'{"op":13,"d":{"plain_token":1,"event_ts":"1"}}', "malformed op 13 frame"),
    (b'{"op":13,"d":{"plain_token":"t","event_ts":true}}', "malformed op 13 frame"),
    (b'{"op":13,"d":{"plain_token":"t","event_ts":-5}}', "malformed op 13 frame"),
    (b'{"op":13,"d":{"plain_token":"t","event_ts":1.5}}', "malformed op 13 frame"),
])
def test_malformed_signed_body_is_400(body: bytes, reason: str) -> None:
    assert decide(body) == rejection(400, reason)


def test_rejection_bodies_never_carry_request_data_or_the_secret() -> None:
    cases = [decide(DISPATCH_BODY, path="/" + SECRET), decide(SECRET.encode()),
             decide(DISPATCH_BODY, signed_headers(SECRET.encode()))]
    for decision in cases:
        assert isinstance(decision, WebhookRejection)
        assert SECRET.encode() not in decision.response.body
        assert SECRET not in repr(decision)


def test_non_finite_unix_now_is_a_caller_error() -> None:
    for bad in (float("nan"), float("inf")):
        with pytest.raises(LocalProtocolError):
            decide(DISPATCH_BODY, unix_now=bad)


@pytest.mark.parametrize("kwargs", [
    {"path": "qqbot"}, {"path": "/qqbot?x=1"}, {"timestamp_window": 0},
    {"timestamp_window": float("nan")}, {"timestamp_window": float("inf")},
    {"max_body_size": 0},
])
def test_invalid_policy_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WebhookPolicy(**kwargs)


# --- replay --------------------------------------------------------------------------------

def test_the_same_event_twice_within_the_window_is_409() -> None:
    cache = ReplayCache()
    assert isinstance(decide(DISPATCH_BODY, cache=cache), WebhookDelivery)
    assert decide(DISPATCH_BODY, cache=cache, unix_now=NOW + 299) == rejection(
        409, "event already delivered")


def test_a_redelivery_with_a_fresh_signature_is_still_a_replay() -> None:
    cache = ReplayCache()
    assert isinstance(decide(DISPATCH_BODY, cache=cache), WebhookDelivery)
    headers = signed_headers(DISPATCH_BODY, ts=str(NOW + 60))
    assert decide(DISPATCH_BODY, headers, cache=cache, unix_now=NOW + 60) == rejection(
        409, "event already delivered")


def test_a_failed_delivery_is_forgotten_so_the_redelivery_gets_through() -> None:
    # §9.5: op 12 d=1 asks the platform to deliver the same event again.
    cache = ReplayCache()
    first = decide(DISPATCH_BODY, cache=cache)
    assert isinstance(first, WebhookDelivery)
    first.acknowledge(False)
    headers = signed_headers(DISPATCH_BODY, ts=str(NOW + 5))
    second = decide(DISPATCH_BODY, headers, cache=cache, unix_now=NOW + 5)
    assert isinstance(second, WebhookDelivery)
    second.acknowledge(True)
    assert decide(DISPATCH_BODY, headers, cache=cache, unix_now=NOW + 6) == rejection(
        409, "event already delivered")


def test_the_replayed_request_after_the_window_is_stale_not_a_replay() -> None:
    cache = ReplayCache()
    assert isinstance(decide(DISPATCH_BODY, cache=cache), WebhookDelivery)
    assert decide(DISPATCH_BODY, cache=cache, unix_now=NOW + 301) == rejection(
        401, "timestamp outside the accepted window")


def test_the_same_event_id_signed_after_the_window_is_accepted() -> None:
    cache = ReplayCache()
    assert isinstance(decide(DISPATCH_BODY, cache=cache), WebhookDelivery)
    later = NOW + 301
    headers = signed_headers(DISPATCH_BODY, ts=str(later))
    assert isinstance(decide(DISPATCH_BODY, headers, cache=cache, unix_now=later),
                      WebhookDelivery)


def test_the_cache_keeps_an_id_until_its_signed_timestamp_leaves_the_window() -> None:
    # Signed 300 s in the future (allowed), the copy stays valid until NOW + 600.
    cache = ReplayCache()
    future = str(NOW + 300)
    headers = signed_headers(DISPATCH_BODY, ts=future)
    assert isinstance(decide(DISPATCH_BODY, headers, cache=cache), WebhookDelivery)
    assert decide(DISPATCH_BODY, headers, cache=cache, unix_now=NOW + 600) == rejection(
        409, "event already delivered")
    assert decide(DISPATCH_BODY, headers, cache=cache, unix_now=NOW + 601) == rejection(
        401, "timestamp outside the accepted window")


def test_replay_key_falls_back_to_d_id_then_to_the_signature() -> None:
    body = b'{"op":0,"t":"X","d":{"id":"msg-1"}}'
    decision = decide(body)
    assert isinstance(decision, WebhookDelivery)
    assert decision.replay_key == "id:msg-1"
    body = b'{"op":0,"t":"X","d":{"id":5}}'
    decision = decide(body)
    assert isinstance(decision, WebhookDelivery)
    assert decision.replay_key == "sig:" + KEY.sign(TS, body)


def test_events_without_ids_are_replay_checked_by_signature() -> None:
    cache = ReplayCache()
    body = b'{"op":0,"t":"X","d":[]}'
    assert isinstance(decide(body, cache=cache), WebhookDelivery)
    assert decide(body, cache=cache) == rejection(409, "event already delivered")
    # A differently timed signature of the same body is a different key.
    headers = signed_headers(body, ts=str(NOW + 1))
    assert isinstance(decide(body, headers, cache=cache), WebhookDelivery)


def test_heartbeats_and_validations_are_not_replay_checked() -> None:
    cache = ReplayCache()
    for _ in range(2):
        assert isinstance(decide(b'{"op":1,"d":1}', cache=cache), WebhookHeartbeat)
        assert isinstance(decide(DOC_OP13_BODY, cache=cache), WebhookValidation)
    assert len(cache) == 0


def test_rejected_requests_leave_no_trace_in_the_cache() -> None:
    cache = ReplayCache()
    decide(DISPATCH_BODY, signed_headers(b"x"), cache=cache)
    decide(DISPATCH_BODY, cache=cache, unix_now=NOW + 1000)
    assert len(cache) == 0
    assert isinstance(decide(DISPATCH_BODY, cache=cache), WebhookDelivery)


def test_replay_cache_is_bounded_and_evicts_the_oldest() -> None:
    cache = ReplayCache(max_entries=3)
    for i in range(5):
        assert cache.add(f"k{i}", expires_at=NOW + 300, unix_now=NOW)
    assert len(cache) == 3
    assert not cache.contains("k0", unix_now=NOW)
    assert not cache.contains("k1", unix_now=NOW)
    assert cache.contains("k4", unix_now=NOW)
    assert not cache.add("k4", expires_at=NOW + 300, unix_now=NOW)
    assert repr(cache) == "ReplayCache(3/3 entries)"


def test_replay_cache_drops_expired_entries_when_adding() -> None:
    cache = ReplayCache()
    cache.add("a", expires_at=NOW + 1, unix_now=NOW)
    cache.add("b", expires_at=NOW + 10, unix_now=NOW)
    assert cache.contains("a", unix_now=NOW + 1)
    assert not cache.contains("a", unix_now=NOW + 2)
    cache.add("c", expires_at=NOW + 20, unix_now=NOW + 5)
    assert len(cache) == 2
    assert cache.add("a", expires_at=NOW + 20, unix_now=NOW + 5)


def test_replay_cache_re_adds_an_expired_key() -> None:
    cache = ReplayCache()
    cache.add("a", expires_at=NOW, unix_now=NOW)
    cache.add("b", expires_at=NOW + 100, unix_now=NOW)
    assert cache.add("b", expires_at=NOW + 200, unix_now=NOW + 101)
    assert cache.contains("b", unix_now=NOW + 200)


def test_replay_cache_forget_is_idempotent() -> None:
    cache = ReplayCache()
    cache.add("a", expires_at=NOW, unix_now=NOW)
    cache.forget("a")
    cache.forget("a")
    assert len(cache) == 0


def test_replay_cache_refuses_a_non_positive_size() -> None:
    with pytest.raises(ValueError):
        ReplayCache(max_entries=0)


# --- properties ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["op", "d", "s", "t", "id", "plain_token", "event_ts",
                                       "x"]), children, max_size=5),
    max_leaves=20)


@given(value=json_values)
def test_any_signed_json_body_gets_a_verdict_never_an_exception(value: Any) -> None:
    body = json.dumps(value).encode()
    decision = decide(body)
    if isinstance(decision, WebhookRejection):
        assert decision.status == 400
        assert decision.response.status == 400
    else:
        assert isinstance(decision, WebhookDelivery | WebhookValidation | WebhookHeartbeat)


@given(frame=st.fixed_dictionaries(
    {"op": st.sampled_from([0, 1, 13])},
    optional={"d": json_values, "s": json_values, "t": json_values, "id": json_values}))
def test_any_frame_shape_gets_a_verdict_never_an_exception(frame: dict[str, Any]) -> None:
    decision = decide(json.dumps(frame).encode())
    assert isinstance(decision, WebhookDecision)
    if isinstance(decision, WebhookDelivery):
        assert decision.dispatch.type == frame["t"]
        assert decision.dispatch.data == frame.get("d")


@given(index=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255),
       part=st.sampled_from(["body", "timestamp", "signature"]))
def test_any_single_byte_tampering_is_rejected_with_401(index: int, delta: int,
                                                        part: str) -> None:
    body, ts, sig = DISPATCH_BODY, TS.encode(), KEY.sign(TS, DISPATCH_BODY).encode()
    if part == "body":
        i = index % len(body)
        body = body[:i] + bytes([(body[i] + delta) % 256]) + body[i + 1:]
    elif part == "timestamp":
        i = index % len(ts)
        ts = ts[:i] + bytes([(ts[i] + delta) % 256]) + ts[i + 1:]
    else:
        raw = bytearray.fromhex(sig.decode())
        raw[index % 64] ^= delta
        sig = raw.hex().encode()
    headers = [(b"content-type", b"application/json"), (b"x-signature-ed25519", sig),
               (b"x-signature-timestamp", ts)]
    decision = decide(body, headers)
    assert isinstance(decision, WebhookRejection)
    assert decision.status == 401


@given(delay=st.integers(min_value=0, max_value=300))
def test_a_replay_within_the_window_is_always_409(delay: int) -> None:
    cache = ReplayCache()
    assert isinstance(decide(DISPATCH_BODY, cache=cache), WebhookDelivery)
    assert decide(DISPATCH_BODY, cache=cache, unix_now=NOW + delay) == rejection(
        409, "event already delivered")


@given(delay=st.integers(min_value=301, max_value=10**9))
def test_a_replay_after_the_window_is_always_stale(delay: int) -> None:
    cache = ReplayCache()
    assert isinstance(decide(DISPATCH_BODY, cache=cache), WebhookDelivery)
    assert decide(DISPATCH_BODY, cache=cache, unix_now=NOW + delay) == rejection(
        401, "timestamp outside the accepted window")
