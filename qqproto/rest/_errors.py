"""REST failures as typed values, and the table that picks the type.

The base class lives here so that the token exchange (part of the gateway supervisor)
and the REST client raise the same family.  :func:`api_error_from_response` is the one
place that decides whether an :class:`~qqproto.rest.HttpResponse` is a failure and which
class describes it (rest.md §7).

The rule (rest.md §7.3): a call succeeded when the HTTP status is 2xx but not 201/202
(§7.1: those are "async success" with an error body) *and* the body carries no non-zero
``code`` / ``err_code`` (§7.2: business errors also arrive under HTTP 200).  The one
exception is a guild message held for manual audit (``304023`` / ``304024``, §2.6,
§7.6): that is an outcome, not an error, so the classifier returns ``None`` for it and
the message parser reports it as a result value.

Classes are chosen by business code first (§7.6 rows) and by HTTP status second; branch
on the class (``except RateLimitedError``) or on ``retryable``, never on message text
(§7.2: "do not branch on message").
"""

from __future__ import annotations

import math
from typing import Any, Final

from .. import _jsoncodec, _numbers
from .._http import HttpResponse
from ..errors import (
    ApiError,
    AuthError,
    ContentRejectedError,
    DuplicateMessageError,
    FileInfoExpiredError,
    FileTooLargeError,
    InvalidRequestError,
    IpNotAllowedError,
    MarkdownNotAllowedError,
    MediaRejectedError,
    MessageTooLongError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    ReplyTargetInvalidError,
    ReplyWindowClosedError,
    StreamPrefixError,
    TransientError,
    UnexpectedResponseError,
    UploadDailyLimitError,
)

__all__ = [
    "AUDIT_PENDING_CODES",
    "UPLOAD_CHANNEL_BUSY",
    "api_error_from_response",
    "business_code",
    "business_codes",
    "decode_json_object",
    "response_json_object",
]








# --- the hierarchy (rest.md §7.6) -------------------------------------------------------










































# --- the classification table -------------------------------------------------------------

#: rest.md §2.6 / §7.6: guild push/reply accepted and waiting for manual audit.
AUDIT_PENDING_CODES: Final = frozenset({304023, 304024})
#: rest.md §3.9 / §4.17: the upload channel failed, retry (part_finish retries on it).
UPLOAD_CHANNEL_BUSY: Final = 40093001


def _codes(*spans: tuple[int, int]) -> frozenset[int]:
    return frozenset(code for low, high in spans for code in range(low, high + 1))


_AUTH_RETRY_ONCE: Final = frozenset({11242, 11252, 11263, 11281})  # OD: retry at most once

_CODE_TABLE: Final[dict[int, type[ApiError]]] = {
    # §7.6 row "11241–11243, 11251–11254, 11261–11265, 11273–11275, 11281–11282"
    **dict.fromkeys(_codes((11241, 11243), (11251, 11254), (11261, 11265),
                           (11273, 11275), (11281, 11282)), AuthError),
    11298: IpNotAllowedError,  # the IP allow-list code (brief; gateway.md §1.1 allow-list)
    # §7.6 rows 40034105, 40034101/40054003, 40054002, 40054004/40054013, 40054016;
    # §2.4.5: 304018 bot must be online for guild sends
    **dict.fromkeys((40034105, 40034101, 40054003, 40054002, 40054004, 40054013,
                     40054016, 304018, 40062003), PermissionDeniedError),
    40054005: DuplicateMessageError,  # §7.6 row 40054005
    # §7.6 row "304027, 304103, 40034005, 40034026, 40034128"
    **dict.fromkeys((304027, 304103, 40034005, 40034026, 40034128), ReplyWindowClosedError),
    # §7.6 row 40034024; §5.9: 40034025 bad event_id, 40034027 event allows no replies
    **dict.fromkeys((40034024, 40034025, 40034027), ReplyTargetInvalidError),
    # §7.6 rows 22009, 20028, 40034100
    **dict.fromkeys((22009, 20028, 40034100), RateLimitedError),
    # §7.6 row 304045/304049/304050; §2.4.7 40034122 recall period limit
    **dict.fromkeys((304045, 304049, 304050, 40034122), QuotaExceededError),
    # §7.6 rows 40034006, 40054010; §2.4.6 old 304003
    **dict.fromkeys((40034006, 40054010, 304003), ContentRejectedError),
    # §7.6 row 40054007/40054018; §2.7 guild 304005 embed too long
    **dict.fromkeys((40054007, 40054018, 304005), MessageTooLongError),
    # §7.6 row "40034008–40034011, 40034124, 40034127, 304036, 50055–50057"
    **dict.fromkeys((*range(40034008, 40034012), 40034124, 40034127, 304036,
                     50055, 50056, 50057), MarkdownNotAllowedError),
    # §7.6 row 22006; §6.2 40034029 keyboard limits, 305007; §2.9 recall 40064004,
    # 40061001, 40061002, 306009; §2.4.7 40034123
    **dict.fromkeys((22006, 40034029, 305007, 40064004, 40061001, 40061002, 306009,
                     40034123), InvalidRequestError),
    # §7.6 upload family row / §3.9
    **dict.fromkeys((850018, 850019, 850026, 10000), MediaRejectedError),
    850031: FileTooLargeError,
    40093002: UploadDailyLimitError,
    304080: FileInfoExpiredError,
    # §7.6 rows 50055001/50055002/50055006, 40034004, 850027 & 40093001,
    # 306003/306005/306006 and 501002–501012; §3.9 304082/304083; §2.9 50065001;
    # §7.6 40054006 "friendship check failed (retry)"
    **dict.fromkeys((50055001, 50055002, 50055006, 40034004, 850027, UPLOAD_CHANNEL_BUSY,
                     304082, 304083, 306003, 306005, 306006, *range(501002, 501013),
                     50065001, 40054006), TransientError),
    # The codes with a documented meaning on the autogen pages (OD2; message, stream,
    # interaction and reaction endpoints) that the rows above do not name.
    **dict.fromkeys((304004, 304064, 1100301), PermissionDeniedError),
    **dict.fromkeys((50059, 304061, 304062, 340069, 40034106, 40034108, 40034109, 630001,
                     630007, 630008), InvalidRequestError),
    # 630002/630003/630006 "get appid failed" / "appid invalid" / "get header appid
    # failed": the request names no usable app id, which a retry does not change.
    **dict.fromkeys((630002, 630003, 630006), InvalidRequestError),
    # 50001 "service error, retry later"; 620007 "reaction failed, retry"; 630004/630005
    # "set/get interaction data failed".
    **dict.fromkeys((50001, 620007, 630004, 630005), TransientError),
    # 50002 "rate limited" (stream messages); 620006 "operation rate limited";
    # 1100100 "security: message rate limited".
    **dict.fromkeys((50002, 620006, 1100100), RateLimitedError),
    1100101: ContentRejectedError,  # security: sensitive content, edit and resend
    40007: StreamPrefixError,  # stream_messages: the shown prefix cannot change
}

_STATUS_TABLE: Final[dict[int, type[ApiError]]] = {
    400: InvalidRequestError,
    401: AuthError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: NotFoundError,
    429: RateLimitedError,
}


def decode_json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, ``{}`` for an empty body, ``None`` when it is not one."""
    if not body.strip():
        return {}
    try:
        value = _jsoncodec.loads(body)
    except _jsoncodec.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def response_json_object(response: HttpResponse) -> dict[str, Any] | None:
    """:func:`decode_json_object` of ``response.body``, decoded once per response.

    The classifier and the parser of a call both read the body; the decoded value is
    cached on the response (:meth:`HttpResponse.json`), so the second read costs nothing.
    """
    if not response.body.strip():
        return {}
    try:
        value = response.json()
    except _jsoncodec.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _as_code(value: object) -> int | None:
    # An int or a string of ASCII digits in the int64 range; anything else is no code.
    return _numbers.parse_int(value, minimum=_INT64_MIN, maximum=_INT64_MAX)


def business_codes(body: dict[str, Any]) -> list[int]:
    """The distinct non-zero ``code`` / ``err_code`` values of a decoded body, in that order."""
    # §7.2: OD uses "code", OD2 "err_code"; some answers carry both, possibly different.
    codes = []
    for key in ("code", "err_code"):
        code = _as_code(body.get(key))
        if code and code not in codes:
            codes.append(code)
    return codes


def business_code(body: dict[str, Any]) -> int | None:
    """The first non-zero ``code`` / ``err_code`` of a decoded body (ints or digit strings)."""
    codes = business_codes(body)
    return codes[0] if codes else None


def _trace_id(response: HttpResponse, body: dict[str, Any] | None) -> str | None:
    # §1.6 / §7.4: header X-Tps-trace-ID (any case) or body trace_id
    header = response.header("X-Tps-trace-ID")
    if header:
        return header
    if body is not None:
        value = body.get("trace_id")
        if isinstance(value, str) and value:
            return value
    return None


#: The longest wait a ``Retry-After`` may ask for; longer ones are read as this.
MAX_RETRY_AFTER: Final = 86400.0
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


def _retry_after(response: HttpResponse, body: dict[str, Any] | None) -> float | None:
    candidates: list[object] = [response.header("Retry-After")]
    if body is not None:
        candidates.append(body.get("retry_after"))
    for value in candidates:
        # delta-seconds only (an HTTP-date needs a wall clock the classifier lacks);
        # a wait longer than a day is read as a day.
        seconds = _numbers.parse_number(value, minimum=0.0, maximum=math.inf)
        if seconds is not None:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def _by_status(status: int) -> type[ApiError]:
    if status in _STATUS_TABLE:
        return _STATUS_TABLE[status]
    if status >= 500:
        return TransientError  # §7.1: 500/504 processing failed
    if 200 <= status < 300:
        return UnexpectedResponseError
    return ApiError


def _build(cls: type[ApiError], message: str, *, status: int, code: int | None,
           trace_id: str | None, retry_after: float | None,
           retryable: bool | None = None) -> ApiError:
    if issubclass(cls, RateLimitedError):
        return cls(message, status=status, code=code, trace_id=trace_id,
                   retryable=retryable, retry_after=retry_after)
    return cls(message, status=status, code=code, trace_id=trace_id, retryable=retryable)


def api_error_from_response(response: HttpResponse) -> ApiError | None:
    """Classify one OpenAPI answer: ``None`` when it is not a failure, else the error.

    ``None`` covers success (2xx other than 201/202, no non-zero code) and the audit
    outcome (:data:`AUDIT_PENDING_CODES` under a 2xx status), which the caller
    reports as a value.  The returned error is not raised: the caller decides.
    """
    status = response.status
    body = response_json_object(response)
    trace_id = _trace_id(response, body)
    if body is None:
        # Not JSON: a gateway's HTML error page, a truncated body (§7.5 TS row).
        kind = response.header("Content-Type") or "unknown content type"
        if 200 <= status < 300 and status not in (201, 202):
            return None  # the parser decides whether it needed a JSON body
        fallback = _by_status(status)
        if fallback is ApiError or status in (201, 202):
            fallback = UnexpectedResponseError
        return _build(fallback, f"HTTP {status} with a body that is not a JSON object ({kind})",
                      status=status, code=None, trace_id=trace_id,
                      retry_after=_retry_after(response, None))
    codes = business_codes(body)
    if any(code in AUDIT_PENDING_CODES for code in codes) and 200 <= status < 300:
        return None  # §2.6: accepted, pending manual audit
    if not codes and 200 <= status < 300 and status not in (201, 202):
        return None
    raw_message = body.get("message")
    if not isinstance(raw_message, str):
        raw_message = body.get("msg") if isinstance(body.get("msg"), str) else ""
    message = str(raw_message) or f"HTTP {status}"
    cls: type[ApiError] | None = None
    chosen = codes[0] if codes else None
    for code in codes:
        # §7.6 row 11244: the sources disagree; auth only when the status says so.
        if code == 11244 and status == 401:
            cls, chosen = AuthError, code
            break
        if code in _CODE_TABLE:
            cls, chosen = _CODE_TABLE[code], code
            break
    if cls is None:
        cls = _by_status(status)
        if status in (201, 202):
            cls = UnexpectedResponseError
            if not codes:
                message = f"HTTP {status} is an asynchronous answer, not a success (§7.1)"
        elif status == 401:
            cls = AuthError
    retryable: bool | None = None
    if cls is AuthError and chosen in _AUTH_RETRY_ONCE:
        retryable = True
    return _build(cls, message, status=status, code=chosen, trace_id=trace_id,
                  retry_after=_retry_after(response, body), retryable=retryable)
