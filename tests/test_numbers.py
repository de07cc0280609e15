"""The strict number reader every server-controlled value goes through (qqproto._numbers),
and the boundaries that use it: each bad number ends as that boundary's typed error or a
documented default, never a ValueError or OverflowError."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._http import HttpResponse
from qqproto._numbers import clamp, parse_int, parse_number
from qqproto.errors import ApiError, FrameError, UnexpectedResponseError
from qqproto.gateway._payloads import MAX_HEARTBEAT_INTERVAL, parse_hello_interval
from qqproto.rest._errors import MAX_RETRY_AFTER, api_error_from_response, business_code
from qqproto.rest._gateway_info import MAX_RESET_AFTER, parse_gateway_response
from qqproto.rest._messages import MAX_TTL, parse_uploaded_media
from qqproto.upload._plan import MAX_CONCURRENCY, parse_upload_plan

#: What the hostile servers of the issue sent, and friends.
HOSTILE = ["\u00b2", "--5", "-", "1_000", "+5", "\u0663", "\uff15", "5\u00b2", "0x10", "1e3",
           "nan", "inf", "-inf", "", " ", "7 2", "9" * 40, True, False, None, [], {}, 1.5,
           float("nan"), float("inf"), 10**30, -(10**30)]


@pytest.mark.parametrize(("value", "expected"), [
    (7, 7), ("7", 7), (" 7\n", 7), ("-3", -3), ("007", 7), (7.0, 7), ("\u00b2", None),
    ("--5", None), ("1_000", None), ("+5", None), ("\u0663", None), (True, None), (7.5, None),
    (float("nan"), None), ("9" * 21, None), (11, None), (-11, None),
])
def test_parse_int_takes_ascii_digits_in_range_only(value: object, expected: int | None) -> None:
    assert parse_int(value, minimum=-10, maximum=10, floats=True) == expected


def test_parse_int_refuses_floats_unless_asked() -> None:
    assert parse_int(7.0, minimum=0, maximum=10) is None


@pytest.mark.parametrize(("value", "expected"), [
    (7, 7.0), ("7", 7.0), ("0.5", 0.5), ("1e3", 1000.0), (2.5, 2.5), ("\u00b2", None),
    ("nan", None), ("inf", None), (float("inf"), None), (10**400, None), ("1e999", None),
    (True, None), ("1,5", None), (-1, None),
])
def test_parse_number_takes_finite_ascii_numbers_in_range(value: object,
                                                          expected: float | None) -> None:
    assert parse_number(value, minimum=0.0, maximum=math.inf) == expected


@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none(),
                 st.binary(max_size=5)))
def test_the_readers_are_total_and_agree_with_int_on_what_they_accept(value: object) -> None:
    got = parse_int(value, minimum=-(2**63), maximum=2**63 - 1, floats=True)
    if got is not None:
        assert got == int(value)  # type: ignore[call-overload]
        if isinstance(value, str):
            assert value.strip(" \t\r\n").lstrip("-").isascii()
    number = parse_number(value, minimum=-math.inf, maximum=math.inf)
    assert number is None or math.isfinite(number)


def test_clamp() -> None:
    assert (clamp(5, 1, 3), clamp(0, 1, 3), clamp(2.5, 1.0, 3.0)) == (3, 1, 2.5)


# ---------------------------------------------------------------- the boundaries


def _json(body: object, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
          ) -> HttpResponse:
    return HttpResponse(status=status, headers=headers, body=json.dumps(body).encode())


@pytest.mark.parametrize("value", HOSTILE)
def test_an_error_code_that_is_not_an_integer_is_no_code(value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        return  # not JSON
    assert business_code({"code": value}) is None
    error = api_error_from_response(_json({"code": value, "message": "x"}, status=500))
    assert isinstance(error, ApiError) and error.code is None


@pytest.mark.parametrize("value", HOSTILE)
def test_a_retry_after_that_is_not_a_number_is_ignored(value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        return
    shown = value if isinstance(value, str) else json.dumps(value)
    for response in (_json({"retry_after": value}, status=429),
                     _json({}, status=429, headers=(("Retry-After", shown),))):
        error = api_error_from_response(response)
        assert error is not None
        after = getattr(error, "retry_after", None)
        assert after is None or 0 <= after <= MAX_RETRY_AFTER


def test_a_huge_retry_after_is_read_as_a_day() -> None:
    error = api_error_from_response(_json({}, status=429, headers=(("Retry-After", "1e15"),)))
    assert getattr(error, "retry_after", None) == MAX_RETRY_AFTER


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("key", ["total", "remaining", "reset_after", "max_concurrency"])
def test_session_start_limits_from_a_hostile_server_are_defaults_or_bounded(key: str,
                                                                           value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        return
    info = parse_gateway_response(_json({"url": "wss://gw.example/ws", "shards": value,
                                         "session_start_limit": {key: value}}))
    limit = info.session_start_limit
    assert limit is not None
    assert 0 <= limit.reset_after <= MAX_RESET_AFTER
    assert 1 <= limit.max_concurrency <= 1024
    assert limit.total >= 0 and limit.remaining >= 0
    assert info.shards is None or info.shards >= 1


def test_a_reset_after_of_1e15_ms_waits_a_day_not_thirty_thousand_years() -> None:
    info = parse_gateway_response(_json({"url": "wss://gw.example/ws", "session_start_limit": {
        "total": 1000, "remaining": 0, "reset_after": 1e15, "max_concurrency": 1}}))
    assert info.session_start_limit is not None
    assert info.session_start_limit.reset_after == MAX_RESET_AFTER


@pytest.mark.parametrize("url", ["ws://[::1", "wss://gw.example:99999/ws", "wss://gw:-1/",
                                 "wss:///nohost", "https://gw.example/", "wss://gw:port/"])
def test_an_unusable_discovery_url_is_a_retryable_api_error(url: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_gateway_response(_json({"url": url}))
    assert caught.value.retryable and type(caught.value) is ApiError


@pytest.mark.parametrize("interval", [1e12, 10**30, 2**63, 1e308])
def test_a_huge_hello_interval_is_read_as_the_maximum(interval: float) -> None:
    assert parse_hello_interval({"heartbeat_interval": interval}) == MAX_HEARTBEAT_INTERVAL


@pytest.mark.parametrize("interval", [0, -1, 10**400, "45000", True, None])
def test_an_unusable_hello_interval_is_a_frame_error(interval: object) -> None:
    with pytest.raises(FrameError):
        parse_hello_interval({"heartbeat_interval": interval})


PLAN = {"upload_id": "U", "block_size": 4, "parts": [
    {"index": 1, "presigned_url": "https://cos.example/p1"}]}


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("key", ["block_size", "index"])
def test_upload_sizes_and_indexes_from_a_hostile_server_are_typed_errors(key: str,
                                                                          value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        return
    body = json.loads(json.dumps(PLAN))
    (body if key == "block_size" else body["parts"][0])[key] = value
    try:
        plan = parse_upload_plan(body, 4)
    except UnexpectedResponseError:
        return
    assert plan.parts[0].length == 4  # only a plausible number gets through


@pytest.mark.parametrize("value", HOSTILE)
def test_upload_concurrency_and_retry_timeout_hints_fall_back_to_defaults(value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        return
    plan = parse_upload_plan({**PLAN, "upload_config": {"concurrency": value,
                                                        "retry_timeout": value}}, 4)
    assert 1 <= plan.concurrency <= MAX_CONCURRENCY
    assert 0 < plan.retry_timeout <= 600


@pytest.mark.parametrize("value", HOSTILE)
def test_a_media_ttl_that_is_not_a_number_is_read_as_long_lived(value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        return
    media = parse_uploaded_media(_json({"file_info": "F", "ttl": value}))
    assert 0 <= media.ttl <= MAX_TTL


@pytest.mark.parametrize("line", ["close \u00b2", "close --5", "close 4000\u00b2", "close 99999"])
def test_the_simulator_console_refuses_a_close_code_that_is_not_one(line: str) -> None:
    from qqproto.simulator import Simulator
    from qqproto.simulator._commands import run_command

    result = run_command(Simulator(), line, 0.0)
    assert not result.ok and "between 1000 and 4999" in result.text
