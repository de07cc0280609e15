"""The small values the core is built from: token state, secrets, intents, endpoints,
JSON codec, dedupe window, state machines, loggers."""

from __future__ import annotations

import json
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto import _jsoncodec
from qqproto._endpoints import Endpoints
from qqproto._fsm import StateMachine
from qqproto._http import HttpRequest, HttpResponse, json_request
from qqproto._log import bot_logger
from qqproto._secret import Secret, as_secret
from qqproto.errors import InvalidCredentialsError, TokenError, TransitionError
from qqproto.events import NextStep
from qqproto.gateway._close_codes import advice_for_close_code, describe_close_code
from qqproto.gateway._dedupe import RecentIds
from qqproto.gateway._intents import EVENT_INTENTS, Intents, intents_for
from qqproto.rest._token import TokenState, parse_expires_in

# ---------------------------------------------------------------- token state

def token_response(body: object, status: int = 200,
                   headers: tuple[tuple[str, str], ...] = ()) -> HttpResponse:
    return HttpResponse(status=status, headers=headers, body=json.dumps(body).encode())


def state(**kw: object) -> TokenState:
    return TokenState(app_id="102000001", secret="s3cr3t", **kw)  # type: ignore[arg-type]


def test_token_request_is_byte_exact() -> None:
    request = state().request()
    assert (request.method, request.url) == ("POST",
                                             "https://bots.qq.com/app/getAppAccessToken")
    assert request.headers == (("Content-Type", "application/json"),)
    assert request.body == b'{"appId":"102000001","clientSecret":"s3cr3t"}'
    assert "s3cr3t" not in repr(request)


@pytest.mark.parametrize(("value", "seconds"), [
    ("7200", 7200.0), (7200, 7200.0), (" 7200 ", 7200.0), (7199.5, 7199.5), ("60", 60.0),
    (10**12, 30 * 24 * 3600.0), ("1e3", 1000.0),
    # Below the documented 60 s (gateway.md §1.2) is read as 60 s: no refresh storm.
    (1e-9, 60.0), ("30", 60.0),
])
def test_expires_in_is_accepted_as_number_or_string(value: object, seconds: float) -> None:
    assert parse_expires_in(value) == seconds


@pytest.mark.parametrize("value", [None, True, "soon", "", -5, 0, "nan", "inf", [7200], {},
                                   "\u00b2", "--5", "7_200", "+7200", 10**400])
def test_unusable_expires_in_is_refused(value: object) -> None:
    assert parse_expires_in(value) is None


def test_token_is_refreshed_sixty_seconds_before_expiry() -> None:
    tokens = state()
    token = tokens.receive_response(token_response({"access_token": "T1",
                                                    "expires_in": "7200"}), now=100.0)
    assert token == Secret("T1")
    assert tokens.current(100.0) == Secret("T1")
    assert tokens.current(100.0 + 7139.999) == Secret("T1")
    assert tokens.current(100.0 + 7140.0) is None  # inside the 60 s overlap window
    assert tokens.refresh_due_at() == 7240.0


def test_a_token_shorter_lived_than_the_margin_is_refreshed_half_way() -> None:
    tokens = state()
    tokens.receive_response(token_response({"access_token": "T", "expires_in": 100}), now=0.0)
    assert tokens.current(49.9) == Secret("T")
    assert tokens.current(50.0) is None


def test_a_vanishing_lifetime_is_read_as_the_floor_so_refreshes_stay_rare() -> None:
    tokens = state()
    tokens.receive_response(token_response({"access_token": "T", "expires_in": 1e-9}), 0.0)
    assert tokens.current(29.9) == Secret("T")
    assert tokens.refresh_due_at() == 30.0  # one token request per 30 s at most


def test_failed_token_requests_back_off_and_a_token_resets_the_back_off() -> None:
    tokens = state()
    assert tokens.backoff_until(0.0) is None
    for attempt, wait in enumerate([1.0, 2.0, 4.0, 8.0]):
        with pytest.raises(TokenError):
            tokens.receive_response(token_response({"code": 500}, status=502), 100.0 * attempt)
        assert tokens.backoff_until(100.0 * attempt) == 100.0 * attempt + wait
    assert tokens.backoff_until(300.0 + 8.0) is None
    for _ in range(20):
        with pytest.raises(TokenError):
            tokens.receive_response(token_response({}, status=503), 1000.0)
    assert tokens.backoff_until(1000.0) == 1060.0  # capped at a minute
    tokens.receive_response(token_response({"access_token": "T", "expires_in": 7200}), 2000.0)
    assert tokens.backoff_until(2000.0) is None


@pytest.mark.parametrize("code", ["\u00b2", "--5", "1_0", "+1", 1.5, [], "١"])
def test_a_token_answer_whose_code_is_not_an_integer_is_a_token_error(code: object) -> None:
    with pytest.raises(TokenError) as caught:
        state().receive_response(token_response({"code": code, "access_token": "T",
                                                 "expires_in": 7200}), 0.0)
    assert type(caught.value) is TokenError and caught.value.retryable


def test_invalidate_forgets_the_token() -> None:
    tokens = state()
    tokens.receive_response(token_response({"access_token": "T", "expires_in": 7200}), 0.0)
    tokens.invalidate()
    assert tokens.current(1.0) is None
    assert tokens.refresh_due_at() is None


@pytest.mark.parametrize("code", [100007, 100016, 10004, "100016"])
def test_rejected_credentials_are_a_non_retryable_typed_error(code: object) -> None:
    with pytest.raises(InvalidCredentialsError) as info:
        state().receive_response(token_response({"code": code, "message": "bad secret"},
                                                headers=(("X-Tps-trace-ID", "tr-1"),)), 0.0)
    assert info.value.retryable is False
    assert info.value.trace_id == "tr-1"
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(("status", "body", "retryable"), [
    (500, {"message": "busy"}, True),
    (429, {"code": 100001, "message": "too many requests"}, True),
    (200, {"code": 100001, "message": "too many requests"}, True),
    (200, {"expires_in": 7200}, True),
    (200, {"access_token": "", "expires_in": 7200}, True),
    (200, {"access_token": "T", "expires_in": "later"}, True),
    (200, [1, 2], True),
    (400, {"message": "bad"}, False),
])
def test_other_token_failures_are_token_errors(status: int, body: object,
                                               retryable: bool) -> None:
    with pytest.raises(TokenError) as info:
        state().receive_response(token_response(body, status=status), 0.0)
    assert not isinstance(info.value, InvalidCredentialsError)
    assert info.value.retryable is retryable


def test_html_answer_from_the_token_endpoint_is_a_clear_error() -> None:
    with pytest.raises(TokenError, match="not JSON"):
        state().receive_response(HttpResponse(status=502, body=b"<html>502</html>"), 0.0)


def test_token_state_needs_an_app_id_and_a_secret() -> None:
    with pytest.raises(ValueError):
        TokenState(app_id="", secret="x")
    with pytest.raises(ValueError):
        TokenState(app_id="1", secret="")
    assert "s3cr3t" not in repr(state())


# ---------------------------------------------------------------- secrets

def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) + str(secret) + f"{secret}" + f"{secret!r:>30}"
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2") and secret != Secret("other")
    assert secret != "hunter2"
    assert hash(secret) == hash(Secret("hunter2"))
    assert bool(Secret("")) is False
    assert pickle.loads(pickle.dumps(secret)) == secret
    assert as_secret("x") == Secret("x") and as_secret(secret) is secret
    assert Secret(secret).reveal() == "hunter2"
    with pytest.raises(TypeError):
        Secret(42)  # type: ignore[arg-type]


def test_a_secret_in_an_exception_message_stays_redacted() -> None:
    try:
        raise ValueError(f"login failed for {Secret('hunter2')}")
    except ValueError as exc:
        assert "hunter2" not in str(exc)


# ---------------------------------------------------------------- intents

def test_intent_bits_match_the_fact_sheet() -> None:
    assert int(Intents.default()) == 1174409216
    assert int(Intents.GUILDS | Intents.GUILD_MESSAGES) == 513
    assert {i.name: i.value for i in Intents} == {
        "GUILDS": 1, "GUILD_MEMBERS": 2, "GUILD_MESSAGES": 512,
        "GUILD_MESSAGE_REACTIONS": 1024, "DIRECT_MESSAGE": 4096,
        "OPEN_FORUMS_EVENT": 1 << 18, "AUDIO_OR_LIVE_CHANNEL_MEMBER": 1 << 19,
        "ENTER_AIO": 1 << 23, "GROUP_MEMBER": 1 << 24, "GROUP_AND_C2C_EVENT": 1 << 25,
        "INTERACTION": 1 << 26, "MESSAGE_AUDIT": 1 << 27, "FORUMS_EVENT": 1 << 28,
        "AUDIO_ACTION": 1 << 29, "PUBLIC_GUILD_MESSAGES": 1 << 30}


def test_intents_for_event_types_is_the_smallest_mask() -> None:
    assert intents_for(["C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE", "READY"]) == \
        Intents.GROUP_AND_C2C_EVENT
    assert intents_for(["AT_MESSAGE_CREATE", "INTERACTION_CREATE", "RESUMED"]) == \
        Intents.PUBLIC_GUILD_MESSAGES | Intents.INTERACTION
    assert intents_for([]) == Intents(0)
    with pytest.raises(ValueError, match="GUILD_MESSAGE_CREATE"):
        intents_for(["GUILD_MESSAGE_CREATE"])  # the ASDK misspelling (gateway.md §6.1)


def test_every_event_type_maps_to_exactly_one_intent_bit() -> None:
    for event_type, intent in EVENT_INTENTS.items():
        assert bin(int(intent)).count("1") == 1, event_type


@pytest.mark.parametrize(("text", "value"), [
    ("default", 1174409216), ("1174409216", 1174409216), ("GUILDS|guild_members", 3),
    ("GUILDS, INTERACTION", 1 | 1 << 26), ("default|GUILDS", 1174409217),
])
def test_intents_parse_names_numbers_and_presets(text: str, value: int) -> None:
    assert int(Intents.parse(text)) == value


@pytest.mark.parametrize("text", ["", "NOPE", "GUILDS|", str(1 << 31)])
def test_intents_parse_refuses_unknown_names(text: str) -> None:
    with pytest.raises(ValueError):
        Intents.parse(text)


# ---------------------------------------------------------------- endpoints and HTTP values

def test_only_the_api_origin_counts_as_an_api_url() -> None:
    endpoints = Endpoints(api_base="https://api.sgroup.qq.com/")
    assert endpoints.api_base == "https://api.sgroup.qq.com"
    assert endpoints.api_url("v2/users/x/messages") == \
        "https://api.sgroup.qq.com/v2/users/x/messages"
    assert endpoints.is_api_url("https://api.sgroup.qq.com:443/gateway")
    assert not endpoints.is_api_url("https://cos.example/presigned")
    assert not endpoints.is_api_url("http://api.sgroup.qq.com/gateway")
    assert not endpoints.is_api_url("https://api.sgroup.qq.com.evil/gateway")
    assert not endpoints.is_api_url("https://api.sgroup.qq.com:bad/")
    assert Endpoints.sandbox().api_base == "https://sandbox.api.sgroup.qq.com"
    with pytest.raises(ValueError):
        Endpoints(api_base="ftp://x")


def test_http_values_freeze_headers_and_hide_header_values() -> None:
    request = HttpRequest(method="GET", url="https://h/x",
                          headers={"Authorization": "QQBot SECRET"})  # type: ignore[arg-type]
    assert request.headers == (("Authorization", "QQBot SECRET"),)
    assert request.header("authorization") == "QQBot SECRET"
    assert request.header("missing") is None
    assert request.host == "h"
    assert "SECRET" not in repr(request)
    response = HttpResponse(status=200, body=b'{"a":1}')
    assert response.json() == {"a": 1}
    assert json_request("POST", "https://h/", {"k": "值"}).body == '{"k":"值"}'.encode()
    assert json_request("GET", "https://h/").body == b""


# ---------------------------------------------------------------- codec, dedupe, fsm, log

@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**62), 2**62)
                    | st.text(), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10))
def test_codec_round_trips_and_matches_the_stdlib_bytes(value: object) -> None:
    encoded = _jsoncodec.dumps(value)
    assert encoded == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert _jsoncodec.loads(encoded) == value


@pytest.mark.parametrize("text", [b"", b"{", b"\xff", b"[" * 5000, b"NaN", b"{'a':1}"])
def test_codec_raises_its_own_error_for_bad_documents(text: bytes) -> None:
    with pytest.raises(_jsoncodec.JSONDecodeError):
        _jsoncodec.loads(text)


def test_codec_falls_back_for_integers_beyond_64_bits() -> None:
    assert _jsoncodec.dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_recent_ids_forget_by_age_and_by_capacity() -> None:
    recent = RecentIds(capacity=3, window=10.0)
    assert [recent.seen(k, 0.0) for k in "abc"] == [False] * 3
    assert recent.seen("a", 5.0) is True
    assert recent.seen("d", 6.0) is False and "a" not in recent  # capacity evicts oldest
    assert recent.seen("b", 20.0) is False  # older than the window: new again
    assert len(recent) <= 3
    with pytest.raises(ValueError):
        RecentIds(capacity=0)


def test_close_code_descriptions_and_advice() -> None:
    assert describe_close_code(None) == "no close code"
    assert describe_close_code(4905) == "gateway internal error"
    assert describe_close_code(4999) == "unknown close code"
    assert advice_for_close_code(None).next_step is NextStep.RESUME


def test_state_machine_refuses_transitions_missing_from_its_table(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import enum

    class S(enum.Enum):
        A = 1
        B = 2

    class In(enum.Enum):
        GO = 1
        STAY = 2

    machine: StateMachine[S, In] = StateMachine(
        "demo", S.A, {(S.A, In.GO): S.B, (S.B, In.STAY): S.B}, bot_logger("qqproto.t", "7"))
    with caplog.at_level(logging.DEBUG, logger="qqproto.t"):
        assert machine.fire(In.GO) is S.B
    assert "[app 7] demo: A -> B (GO)" in caplog.text
    assert caplog.records[0].qqproto_app_id == "7"  # type: ignore[attr-defined]
    assert machine.can_fire(In.STAY) and not machine.can_fire(In.GO)
    with pytest.raises(TransitionError, match="no transition from B on GO"):
        machine.fire(In.GO)


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 5)), max_size=60),
       st.integers(1, 10))
def test_recent_ids_agree_with_a_simple_model(steps: list[tuple[str, float]],
                                              capacity: int) -> None:
    recent = RecentIds(capacity=capacity, window=10.0)
    model: dict[str, float] = {}  # key -> first seen, in insertion order
    now = 0.0
    for key, dt in steps:
        now += dt
        expected = key in model and now - model[key] < 10.0
        if not expected:
            model.pop(key, None)
            model[key] = now
            while len(model) > capacity:
                del model[next(iter(model))]
        assert recent.seen(key, now) is expected
        assert len(recent) <= capacity
