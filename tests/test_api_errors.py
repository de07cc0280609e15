"""The classification table: which answers are failures, and which class describes them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._http import HttpResponse
from qqproto.errors import (
    ApiError,
    AuthError,
    ContentRejectedError,
    DuplicateMessageError,
    FileInfoExpiredError,
    FileTooLargeError,
    InvalidCredentialsError,
    InvalidRequestError,
    IpNotAllowedError,
    MarkdownNotAllowedError,
    MediaRejectedError,
    MessageTooLongError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    ReplyTargetInvalidError,
    ReplyWindowClosedError,
    TokenError,
    TransientError,
    UnexpectedResponseError,
    UploadDailyLimitError,
)
from qqproto.rest._errors import api_error_from_response, business_code, decode_json_object


def _resp(status: int, body: object = None, headers: tuple[tuple[str, str], ...] = ()
          ) -> HttpResponse:
    raw = b"" if body is None else (body if isinstance(body, bytes)
                                    else json.dumps(body).encode())
    return HttpResponse(status=status, headers=headers, body=raw)


# --- the base classes keep the shape _token.py relies on ----------------------------------


def test_api_error_constructor_and_attributes_are_unchanged() -> None:
    err = ApiError("boom", status=500, code=7, trace_id="t1", retryable=True)
    assert (err.message, err.status, err.code, err.trace_id, err.retryable) == (
        "boom", 500, 7, "t1", True)
    assert str(err) == "boom code=7 http=500 trace_id=t1"
    assert repr(err) == ("ApiError(status=500, code=7, message='boom', trace_id='t1', "
                         "retryable=True)")


def test_token_errors_keep_their_retry_defaults() -> None:
    assert TokenError("x").retryable is True
    assert InvalidCredentialsError("x").retryable is False
    assert issubclass(InvalidCredentialsError, TokenError)
    assert issubclass(TokenError, ApiError)


def test_an_error_without_message_still_describes_itself() -> None:
    assert str(ApiError("")) == "request failed"


# --- success ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204, 206])
def test_2xx_without_code_is_success(status: int) -> None:
    assert api_error_from_response(_resp(status, {"id": "m1"})) is None
    assert api_error_from_response(_resp(status)) is None


@pytest.mark.parametrize("body", [{"code": 0}, {"err_code": 0, "message": "ok"},
                                  {"code": "0"}, {"code": 0, "err_code": 0}])
def test_a_zero_code_is_success(body: dict[str, object]) -> None:
    assert api_error_from_response(_resp(200, body)) is None


def test_2xx_with_a_body_that_is_not_json_is_left_to_the_parser() -> None:
    assert api_error_from_response(_resp(200, b"<html>ok</html>")) is None


# --- 201/202 are not success (rest.md §7.1) ------------------------------------------------


@pytest.mark.parametrize("status", [201, 202])
def test_201_and_202_without_code_are_unexpected(status: int) -> None:
    err = api_error_from_response(_resp(status, {"id": "m1"}))
    assert type(err) is UnexpectedResponseError
    assert err.status == status and err.code is None and not err.retryable
    assert "asynchronous" in err.message


@pytest.mark.parametrize("status", [201, 202])
def test_201_and_202_with_a_known_code_take_the_code_class(status: int) -> None:
    err = api_error_from_response(_resp(status, {"code": 22009, "message": "slow"}))
    assert type(err) is RateLimitedError and err.status == status


def test_202_with_an_unknown_code_is_unexpected() -> None:
    err = api_error_from_response(_resp(202, {"code": 123, "message": "??"}))
    assert type(err) is UnexpectedResponseError and err.code == 123 and err.message == "??"


def test_202_with_html_is_unexpected() -> None:
    err = api_error_from_response(_resp(202, b"<html/>"))
    assert type(err) is UnexpectedResponseError


# --- audit pending is an outcome, not an error (rest.md §2.6) -----------------------------


@pytest.mark.parametrize("status", [200, 201, 202])
@pytest.mark.parametrize("code", [304023, 304024])
def test_audit_pending_codes_are_not_errors(status: int, code: int) -> None:
    body = {"code": code, "message": "push message is waiting for audit",
            "data": {"message_audit": {"audit_id": "A1"}}}
    assert api_error_from_response(_resp(status, body)) is None


def test_audit_code_under_an_error_status_is_an_error() -> None:
    err = api_error_from_response(_resp(500, {"code": 304023}))
    assert type(err) is TransientError and err.code == 304023


# --- HTTP 200 carrying a business error (rest.md §7.3) ------------------------------------


def test_http_200_with_err_code_is_a_failure() -> None:
    body = {"err_code": 40054005, "message": "dup", "trace_id": "tr-9"}
    err = api_error_from_response(_resp(200, body))
    assert type(err) is DuplicateMessageError
    assert (err.status, err.code, err.message, err.trace_id, err.retryable) == (
        200, 40054005, "dup", "tr-9", False)


def test_http_200_with_unknown_code_is_a_plain_api_error() -> None:
    err = api_error_from_response(_resp(200, {"code": 999999, "message": "?"}))
    assert type(err) is UnexpectedResponseError
    assert err.code == 999999


def test_a_code_given_as_a_string_is_parsed() -> None:
    err = api_error_from_response(_resp(200, {"code": "40093002", "message": "limit"}))
    assert type(err) is UploadDailyLimitError and err.code == 40093002


def test_when_code_and_err_code_differ_the_first_known_one_decides() -> None:
    # rest.md §7.2: "code 850019 with err_code 40034002"
    err = api_error_from_response(_resp(400, {"code": 850019, "err_code": 40034002}))
    assert type(err) is MediaRejectedError and err.code == 850019
    err = api_error_from_response(_resp(400, {"code": 1234567, "err_code": 40054005}))
    assert type(err) is DuplicateMessageError and err.code == 40054005


def test_unknown_codes_keep_the_first_code() -> None:
    err = api_error_from_response(_resp(400, {"code": 1234567, "err_code": 7654321}))
    assert type(err) is InvalidRequestError and err.code == 1234567


# --- the code table, one row per class (rest.md §7.6) -------------------------------------

CODE_ROWS = [
    (11241, AuthError, False), (11243, AuthError, False), (11253, AuthError, False),
    (11265, AuthError, False), (11274, AuthError, False), (11282, AuthError, False),
    (11242, AuthError, True), (11252, AuthError, True), (11263, AuthError, True),
    (11281, AuthError, True),
    (11298, IpNotAllowedError, False),
    (40034105, PermissionDeniedError, False), (40034101, PermissionDeniedError, False),
    (40054003, PermissionDeniedError, False), (40054002, PermissionDeniedError, False),
    (40054004, PermissionDeniedError, False), (40054013, PermissionDeniedError, False),
    (40054016, PermissionDeniedError, False), (304018, PermissionDeniedError, False),
    (40062003, PermissionDeniedError, False),
    (40054005, DuplicateMessageError, False),
    (304027, ReplyWindowClosedError, False), (304103, ReplyWindowClosedError, False),
    (40034005, ReplyWindowClosedError, False), (40034026, ReplyWindowClosedError, False),
    (40034128, ReplyWindowClosedError, False),
    (40034024, ReplyTargetInvalidError, False), (40034025, ReplyTargetInvalidError, False),
    (40034027, ReplyTargetInvalidError, False),
    (22009, RateLimitedError, True), (20028, RateLimitedError, True),
    (40034100, RateLimitedError, True),
    (304045, QuotaExceededError, False), (304049, QuotaExceededError, False),
    (304050, QuotaExceededError, False), (40034122, QuotaExceededError, False),
    (40034006, ContentRejectedError, False), (40054010, ContentRejectedError, False),
    (304003, ContentRejectedError, False),
    (40054007, MessageTooLongError, False), (40054018, MessageTooLongError, False),
    (304005, MessageTooLongError, False),
    (40034008, MarkdownNotAllowedError, False), (40034011, MarkdownNotAllowedError, False),
    (40034124, MarkdownNotAllowedError, False), (40034127, MarkdownNotAllowedError, False),
    (304036, MarkdownNotAllowedError, False), (50055, MarkdownNotAllowedError, False),
    (50057, MarkdownNotAllowedError, False),
    (22006, InvalidRequestError, False), (40034029, InvalidRequestError, False),
    (305007, InvalidRequestError, False), (40064004, InvalidRequestError, False),
    (40061001, InvalidRequestError, False), (40061002, InvalidRequestError, False),
    (306009, InvalidRequestError, False), (40034123, InvalidRequestError, False),
    (850018, MediaRejectedError, False), (850019, MediaRejectedError, False),
    (850026, MediaRejectedError, False), (10000, MediaRejectedError, False),
    (850031, FileTooLargeError, False),
    (40093002, UploadDailyLimitError, False),
    (304080, FileInfoExpiredError, False),
    (50055001, TransientError, True), (50055002, TransientError, True),
    (50055006, TransientError, True), (40034004, TransientError, True),
    (850027, TransientError, True), (40093001, TransientError, True),
    (304082, TransientError, True), (304083, TransientError, True),
    (306003, TransientError, True), (306005, TransientError, True),
    (306006, TransientError, True), (501002, TransientError, True),
    (501012, TransientError, True), (50065001, TransientError, True),
    (40054006, TransientError, True),
]


@pytest.mark.parametrize(("code", "cls", "retryable"), CODE_ROWS,
                         ids=[str(row[0]) for row in CODE_ROWS])
def test_business_code_selects_the_class(code: int, cls: type[ApiError],
                                         retryable: bool) -> None:
    for status in (200, 400):
        err = api_error_from_response(_resp(status, {"code": code, "message": "m"}))
        assert type(err) is cls
        assert err.code == code and err.status == status and err.retryable is retryable


def test_codes_next_to_a_table_row_are_not_swept_in() -> None:
    for code in (11240, 11244, 11283, 11297, 11299, 40034012, 501001, 501013):
        err = api_error_from_response(_resp(400, {"code": code}))
        assert type(err) is InvalidRequestError, code


def test_11244_is_auth_only_under_http_401() -> None:
    # rest.md §7.6 row 11244: the sources disagree.
    assert type(api_error_from_response(_resp(401, {"code": 11244}))) is AuthError
    assert type(api_error_from_response(_resp(200, {"code": 11244}))) is \
        UnexpectedResponseError


# --- status fallbacks (rest.md §7.1) ------------------------------------------------------


@pytest.mark.parametrize(("status", "cls", "retryable"), [
    (400, InvalidRequestError, False), (401, AuthError, False),
    (403, PermissionDeniedError, False), (404, NotFoundError, False),
    (405, NotFoundError, False), (409, ApiError, False), (429, RateLimitedError, True),
    (500, TransientError, True), (502, TransientError, True), (504, TransientError, True),
])
def test_http_status_selects_the_class_when_there_is_no_code(
        status: int, cls: type[ApiError], retryable: bool) -> None:
    err = api_error_from_response(_resp(status, {"message": "nope"}))
    assert type(err) is cls
    assert err.retryable is retryable and err.message == "nope" and err.code is None


def test_401_with_an_unknown_code_is_auth() -> None:
    err = api_error_from_response(_resp(401, {"code": 555}))
    assert type(err) is AuthError and err.code == 555


def test_ip_allow_list_under_401_is_still_an_auth_error() -> None:
    err = api_error_from_response(_resp(401, {"code": 11298}))
    assert isinstance(err, AuthError) and type(err) is IpNotAllowedError


# --- bodies that are not JSON -------------------------------------------------------------


@pytest.mark.parametrize(("status", "cls"), [
    (502, TransientError), (503, TransientError), (504, TransientError),
    (429, RateLimitedError), (404, NotFoundError), (418, UnexpectedResponseError),
])
def test_an_html_error_page_is_a_clear_error(status: int, cls: type[ApiError]) -> None:
    resp = _resp(status, b"<html><body>Bad Gateway</body></html>",
                 headers=(("Content-Type", "text/html"), ("x-tps-trace-id", "tr")))
    err = api_error_from_response(resp)
    assert type(err) is cls
    assert err.status == status and err.code is None and err.trace_id == "tr"
    assert err.message == f"HTTP {status} with a body that is not a JSON object (text/html)"


def test_a_json_array_body_is_not_an_object() -> None:
    err = api_error_from_response(_resp(500, b"[1,2]"))
    assert type(err) is TransientError and "unknown content type" in err.message


def test_an_empty_error_body_uses_the_status() -> None:
    err = api_error_from_response(_resp(500))
    assert type(err) is TransientError and err.message == "HTTP 500"


# --- trace ids, messages, retry_after -----------------------------------------------------


def test_trace_id_comes_from_the_header_in_any_case_then_from_the_body() -> None:
    body = {"code": 22009, "trace_id": "body-trace"}
    assert api_error_from_response(
        _resp(200, body, (("X-TPS-TRACE-ID", "hdr"),))).trace_id == "hdr"  # type: ignore[union-attr]
    assert api_error_from_response(_resp(200, body)).trace_id == "body-trace"  # type: ignore[union-attr]
    assert api_error_from_response(_resp(200, {"code": 22009, "trace_id": 5})).trace_id is None  # type: ignore[union-attr]


def test_msg_field_is_a_fallback_message() -> None:
    err = api_error_from_response(_resp(400, {"code": 22006, "msg": "mismatch"}))
    assert err is not None and err.message == "mismatch"


def test_rate_limit_reads_retry_after_from_header_or_body() -> None:
    err = api_error_from_response(_resp(429, {}, (("Retry-After", "3"),)))
    assert isinstance(err, RateLimitedError) and err.retry_after == 3.0
    err = api_error_from_response(_resp(429, {"retry_after": 1.5}))
    assert isinstance(err, RateLimitedError) and err.retry_after == 1.5
    err = api_error_from_response(_resp(429, {"retry_after": "soon"}))
    assert isinstance(err, RateLimitedError) and err.retry_after is None
    err = api_error_from_response(_resp(429, {"retry_after": -1}))
    assert isinstance(err, RateLimitedError) and err.retry_after is None
    err = api_error_from_response(_resp(429, {"retry_after": True}))
    assert isinstance(err, RateLimitedError) and err.retry_after is None
    assert RateLimitedError("x").retry_after is None


def test_network_error_is_a_retryable_transient_error() -> None:
    err = NetworkError("connection reset")
    assert isinstance(err, TransientError) and err.retryable


# --- helpers ------------------------------------------------------------------------------


def test_business_code_ignores_booleans_floats_and_long_strings() -> None:
    assert business_code({"code": True}) is None
    assert business_code({"code": 1.5}) is None
    assert business_code({"code": "9" * 30}) is None
    assert business_code({"code": " 12 "}) == 12
    assert business_code({"code": 0, "err_code": "-3"}) == -3
    assert business_code({}) is None


def test_decode_json_object() -> None:
    assert decode_json_object(b"") == {}
    assert decode_json_object(b"  \n") == {}
    assert decode_json_object(b'{"a":1}') == {"a": 1}
    assert decode_json_object(b"[1]") is None
    assert decode_json_object(b"<html>") is None


@given(status=st.integers(100, 599), body=st.binary(max_size=64))
def test_classification_never_crashes_on_arbitrary_bodies(status: int, body: bytes) -> None:
    err = api_error_from_response(HttpResponse(status=status, body=body))
    assert err is None or isinstance(err, ApiError)


@given(status=st.integers(100, 599),
       body=st.dictionaries(st.sampled_from(["code", "err_code", "message", "trace_id",
                                             "retry_after", "msg"]),
                            st.one_of(st.none(), st.booleans(), st.integers(),
                                      st.text(max_size=8), st.just(1.5)), max_size=4))
def test_classification_never_crashes_on_arbitrary_json(status: int,
                                                        body: dict[str, object]) -> None:
    raw = json.dumps(body).encode()
    err = api_error_from_response(HttpResponse(status=status, body=raw))
    if err is None:
        assert 200 <= status < 300
    else:
        assert isinstance(err.message, str)
