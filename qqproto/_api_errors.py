"""REST failures as typed values, and the table that picks the type.

The base class lives here so that the token exchange (part of the gateway supervisor)
and the REST client raise the same family.  :func:`api_error_from_response` is the one
place that decides whether an :class:`~qqproto.HttpResponse` is a failure and which
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

from typing import Any, Final

from . import _jsoncodec
from ._http import HttpResponse

__all__ = [
    "AUDIT_PENDING_CODES",
    "UPLOAD_CHANNEL_BUSY",
    "ApiError",
    "AuthError",
    "DuplicateMessageError",
    "FileInfoExpiredError",
    "FileTooLargeError",
    "InvalidCredentialsError",
    "InvalidRequestError",
    "IpNotAllowedError",
    "MarkdownNotAllowedError",
    "MediaRejectedError",
    "MessageTooLongError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitedError",
    "ReplyTargetInvalidError",
    "ReplyWindowClosedError",
    "TokenError",
    "TransientError",
    "UnexpectedResponseError",
    "UploadDailyLimitError",
    "api_error_from_response",
    "business_code",
    "business_codes",
    "decode_json_object",
]


class ApiError(Exception):
    """A QQ OpenAPI call failed.

    ``status`` is the HTTP status, ``code`` the business code from the body (``code`` or
    ``err_code``; ``None`` when there was none), ``message`` the platform's text,
    ``trace_id`` the ``X-Tps-trace-ID`` header or body ``trace_id`` (quote it to the
    platform), ``retryable`` whether sending the same request again later may succeed.
    """

    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        trace_id: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.trace_id = trace_id
        self.retryable = self.retryable_by_default if retryable is None else retryable
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.message or "request failed"]
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.status is not None:
            parts.append(f"http={self.status}")
        if self.trace_id:
            parts.append(f"trace_id={self.trace_id}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, trace_id={self.trace_id!r}, "
            f"retryable={self.retryable!r})"
        )


class TokenError(ApiError):
    """The access-token endpoint did not hand out a token."""

    retryable_by_default = True


class InvalidCredentialsError(TokenError):
    """The app id or client secret was rejected (gateway.md §1.2 / rest.md §7.2:
    100007 bad appid, 100016 bad appid/secret, 10004 bot not found).  Retrying is futile."""

    retryable_by_default = False


# --- the hierarchy (rest.md §7.6) -------------------------------------------------------


class AuthError(ApiError):
    """The access token or the bot's API permission was rejected (HTTP 401, codes
    11241–11282).  A REST call has already refreshed the token and retried once."""


class IpNotAllowedError(AuthError):
    """The caller's IP address is not on the bot's allow-list (11298): add it in the
    console; retrying from the same address is futile."""


class PermissionDeniedError(ApiError):
    """The bot may not do this here: HTTP 403, no active-message permission, not a group
    member, muted, no friendship, the user refuses messages, bot offline (§7.6)."""


class NotFoundError(ApiError):
    """HTTP 404/405: the API (or the object) does not exist on this deployment (§7.1)."""


class InvalidRequestError(ApiError):
    """The platform rejected the request's shape (HTTP 400, bad parameters, msg_type
    and content mismatch, keyboard limits, recall too late …)."""


class DuplicateMessageError(InvalidRequestError):
    """``40054005``: this (``msg_id``, ``msg_seq``) pair was already used (§2.4.3).

    Sending the same pair again can never succeed; when it was a retry of a call whose
    answer was lost, it means the first attempt was delivered."""


class ReplyWindowClosedError(ApiError):
    """The passive-reply window of that message or event is over, or its reply count is
    used up (304027, 304103, 40034005, 40034026, 40034128).  Fall back to an active
    message or give up; the same ``msg_id`` will not work again."""


class ReplyTargetInvalidError(InvalidRequestError):
    """The ``msg_id`` / ``event_id`` is unknown, from another scene, or does not allow
    replies (40034024, 40034025, 40034027)."""


class RateLimitedError(ApiError):
    """Too many requests (HTTP 429, 22009, 20028, 40034100): back off and retry.

    ``retry_after`` (seconds) is set when the answer said how long to wait (a
    ``Retry-After`` header or a body ``retry_after``; not documented, §7.7)."""

    retryable_by_default = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        trace_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, code=code, trace_id=trace_id,
                         retryable=retryable)


class QuotaExceededError(ApiError):
    """An active-message quota is used up (304045, 304049, 304050, 40034122): waiting
    a few seconds does not help, the quota resets per day or per period (§2.4)."""


class ContentRejectedError(ApiError):
    """The content itself was refused: rules violation (40034006) or an unregistered URL
    (40054010, 304003)."""


class MessageTooLongError(ContentRejectedError):
    """The text is too long or abnormal (40054007, 40054018, 304005): split and resend."""


class MarkdownNotAllowedError(ApiError):
    """Markdown or a markdown template is not permitted for this bot or scene
    (40034008–40034011, 40034124, 40034127, 304036, 50055–50057): resend as plain text."""


class MediaRejectedError(ApiError):
    """The platform refused the media itself: uploads muted (850018), unsupported format
    (850019), source URL not fetchable (850026), unsupported operation (10000)."""


class FileTooLargeError(MediaRejectedError):
    """The file is over the platform's hard limit for its type (850031, §3.7).  Also
    raised locally, before any byte is sent, when the size is known to be over it."""


class UploadDailyLimitError(ApiError):
    """``40093002``: the bot's daily cumulative upload volume is used up (§4.25)."""


class FileInfoExpiredError(ApiError):
    """``304080``: the ``file_info`` is invalid or has expired: upload again (§3.9)."""


class TransientError(ApiError):
    """A failure that is expected to go away: HTTP 5xx, "retry later" codes, media
    fetch/convert hiccups, the upload channel being busy (40093001)."""

    retryable_by_default = True


class NetworkError(TransientError):
    """The request did not complete: connection refused or reset, TLS failure, timeout.

    Whether the server acted on it is unknown; a send retried with the same
    ``msg_seq`` is deduplicated by the platform (:class:`DuplicateMessageError`)."""


class UnexpectedResponseError(ApiError):
    """The answer is not one the protocol allows: not JSON where JSON is due (an HTML
    error page), a 201/202 "async success", a success body without its required fields."""


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


def _as_code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit() and len(text) < 20:
            return int(text)
    return None


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


def _retry_after(response: HttpResponse, body: dict[str, Any] | None) -> float | None:
    candidates: list[object] = [response.header("Retry-After")]
    if body is not None:
        candidates.append(body.get("retry_after"))
    for value in candidates:
        if isinstance(value, bool) or value is None:
            continue
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if 0 <= seconds <= 86400:
            return seconds
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
    body = decode_json_object(response.body)
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
