"""Errors raised by qqproto.

The split follows h11: :class:`LocalProtocolError` means *you* used the API wrongly,
:class:`RemoteProtocolError` means the *peer* broke the protocol.  A remote error is
raised only from ``receive_data`` / ``next_event`` and only after the connection has
queued its close frame, so flushing ``data_to_send()`` is always the right reaction.

REST failures are :class:`ApiError` subclasses chosen by the platform's business code
(see :mod:`qqproto.rest._errors`); they are values a caller can branch on, never strings
to grep.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypedDict, Unpack

from ._values import ChatScope

if TYPE_CHECKING:
    from .events import Dispatch

__all__ = [
    "ApiError",
    "AuthError",
    "ContentRejectedError",
    "DownloadError",
    "DownloadExpiredError",
    "DownloadFailedError",
    "DownloadRefusedError",
    "DownloadTooLargeError",
    "DuplicateMessageError",
    "ExhaustedReason",
    "FileInfoExpiredError",
    "FileTooLargeError",
    "InvalidCredentialsError",
    "InvalidRequestError",
    "IpNotAllowedError",
    "JSONDecodeError",
    "LocalProtocolError",
    "MarkdownNotAllowedError",
    "MediaRejectedError",
    "MessageTooLongError",
    "ModelError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProxyAuthenticationRequired",
    "ProxyConfigError",
    "ProxyError",
    "ProxyProtocolError",
    "ProxyRefused",
    "ProxyTimeout",
    "QuotaExceededError",
    "RateLimitedError",
    "RemoteProtocolError",
    "ReplyExhaustedError",
    "ReplyTargetInvalidError",
    "ReplyWindowClosedError",
    "SecretDecryptError",
    "SnapshotError",
    "StreamPrefixError",
    "TokenError",
    "TooManyQuestionsError",
    "TransientError",
    "TransitionError",
    "UnexpectedResponseError",
    "UploadDailyLimitError",
    "UploadPartFailedError",
    "UploadSourceError",
    "VoiceError",
]


class ProtocolError(Exception):
    """Base class of every protocol violation qqproto reports.

    ``close_code_hint`` is the WebSocket close code that describes the violation
    (RFC 6455 §7.4.1), or ``None`` when no WebSocket is involved.
    """

    def __init__(self, msg: str, *, close_code_hint: int | None = None) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise a subclass")
        super().__init__(msg)
        self.close_code_hint = close_code_hint


class LocalProtocolError(ProtocolError):
    """The caller misused the API (wrong state, bad argument).  Nothing was sent."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol.

    Raised from ``receive_data`` after the close frame (with ``close_code_hint``) has been
    queued in ``data_to_send()``.  The error is sticky: feeding more data raises it again.
    """


class _ApiErrorFields(TypedDict, total=False):
    """:class:`ApiError`'s keywords, for a subclass that adds its own."""

    status: int | None
    code: int | None
    trace_id: str | None
    retryable: bool | None


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


class StreamPrefixError(InvalidRequestError):
    """``40007``: a streamed reply's new text does not start with what was already shown
    to the user (rest.md §11.8).  Raised locally, before anything is sent, when the
    stream knows the shown prefix, and for the platform's own 40007."""


class ReplyTargetInvalidError(InvalidRequestError):
    """The ``msg_id`` / ``event_id`` is unknown, from another scene, or does not allow
    replies (40034024, 40034025, 40034027)."""


class RateLimitedError(ApiError):
    """Too many requests (HTTP 429, 22009, 20028, 40034100): back off and retry.

    ``retry_after`` (seconds) is set when the answer said how long to wait (a
    ``Retry-After`` header or a body ``retry_after``; not documented, §7.7)."""

    retryable_by_default = True

    def __init__(self, message: str, *, retry_after: float | None = None,
                 **fields: Unpack[_ApiErrorFields]) -> None:
        self.retry_after = retry_after
        super().__init__(message, **fields)


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


def human_size(size: int) -> str:
    """``31.4 MB``: a byte count for people (binary multiples, one decimal, ``.0`` dropped)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            text = f"{value:.1f}".removesuffix(".0") if unit != "B" else str(size)
            return f"{text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


class _SizedFileError(ApiError):
    """An upload failure that says which file, how big it is and what the limit is.

    ``file_name``, ``size`` and ``limit`` (bytes) are ``None`` when unknown (the
    platform's answer alone does not say); ``size_text`` and ``limit_text`` are the same
    numbers for people (``31.4 MB``).  :meth:`for_file` adds them to an error the
    platform raised."""

    def __init__(self, message: str, *, file_name: str | None = None,
                 size: int | None = None, limit: int | None = None,
                 **fields: Unpack[_ApiErrorFields]) -> None:
        self.file_name = file_name
        self.size = size
        self.limit = limit
        super().__init__(message, **fields)

    @property
    def size_text(self) -> str | None:
        return None if self.size is None else human_size(self.size)

    @property
    def limit_text(self) -> str | None:
        return None if self.limit is None else human_size(self.limit)

    def _describe(self) -> str:
        text = super()._describe()
        if self.file_name is None and self.size is None:
            return text
        what = self.file_name or "the file"
        if self.size_text is not None:
            what += f" ({self.size_text})"
        limit = f", limit {self.limit_text}" if self.limit_text is not None else ""
        return f"{what}: {text}{limit}"

    def for_file(self, file_name: str, size: int, limit: int | None = None) -> _SizedFileError:
        """The same failure with the file's name, size and (when known) the limit."""
        return type(self)(self.message, file_name=file_name, size=size,
                          limit=limit if limit is not None else self.limit,
                          status=self.status, code=self.code, trace_id=self.trace_id,
                          retryable=self.retryable)


class FileTooLargeError(_SizedFileError, MediaRejectedError):
    """The file is over the platform's hard limit for its type (850031, §3.7).  Also
    raised locally, before any byte is hashed or sent, when the size is known to be
    over it; ``file_name``, ``size`` and ``limit`` say which file and by how much."""


class UploadDailyLimitError(_SizedFileError):
    """``40093002``: the bot's daily cumulative upload volume is used up (§4.25);
    ``file_name`` and ``size`` name the upload that hit it."""


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


class ExhaustedReason(enum.Enum):
    """Why a passive reply was not possible."""

    EXPIRED = "the reply window is over"
    LIMIT = "the reply count is used up"
    UNKNOWN = "the message is not tracked"


class ReplyExhaustedError(ReplyWindowClosedError):
    """No passive reply is possible (checked locally, nothing was sent).

    A subclass of :class:`~qqproto.errors.ReplyWindowClosedError`, so one ``except``
    covers the local check and the platform's own refusal.
    """

    def __init__(self, reason: ExhaustedReason, scope: ChatScope, reply_to: str) -> None:
        self.reason = reason
        self.scope = scope
        self.reply_to = reply_to
        super().__init__(f"cannot reply to {scope.value} message {reply_to!r}: "
                         f"{reason.value}")


class UploadPartFailedError(ApiError):
    """A part could not be uploaded or confirmed after its retries (rest.md §4.21: any
    part failure aborts the upload; there is no resume).  ``part_index`` is the server's
    index; the message carries the last cause."""

    retryable_by_default = True

    def __init__(self, message: str, *, part_index: int | str, status: int | None = None,
                 code: int | None = None, trace_id: str | None = None,
                 retryable: bool | None = None) -> None:
        self.part_index = part_index
        super().__init__(message, status=status, code=code, trace_id=trace_id,
                         retryable=retryable)


class UploadSourceError(LocalProtocolError):
    """The driver's bytes do not match the file it announced (a short read, a file that
    changed size; rest.md §4.12)."""


class TooManyQuestionsError(LocalProtocolError):
    """An approval or confirmation was asked while ``PendingApprovals.max_open``
    questions were open already (the table is bounded)."""


class DownloadError(Exception):
    """An attachment could not be downloaded.

    ``url`` is the address without its query (signed links carry keys there);
    ``status`` the last HTTP status (``None`` when none arrived); ``retryable`` whether
    asking again later may succeed."""

    def __init__(self, message: str, *, url: str, status: int | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retryable = retryable


class DownloadRefusedError(DownloadError):
    """The download policy refused a URL before any request went to it: a scheme or a
    host that is not allowed (also as a redirect target), an IP literal, user-info in
    the URL, too many redirects."""


class DownloadTooLargeError(DownloadError):
    """The body is longer than the policy's byte limit (``limit``; ``size`` when the
    server announced it)."""

    def __init__(self, message: str, *, url: str, limit: int, size: int | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, url=url, status=status)
        self.limit = limit
        self.size = size


class DownloadExpiredError(DownloadError):
    """The signed link was refused (HTTP 400/401/403/404/410 on a URL with a query):
    its key has most likely expired (rest.md §10: attachment URLs carry an expiring
    key).  Download attachments when they arrive."""


class DownloadFailedError(DownloadError):
    """Any other final answer (a 4xx) or the last of the retries (timeouts, 429, 5xx)."""


class VoiceError(ValueError):
    """Audio that cannot be decoded, encoded or converted: not SILK, a truncated frame,
    a WAV the codec cannot take, or the optional codec (``qqproto[silk]``) missing."""


class ProxyError(Exception):
    """The tunnel through the proxy could not be opened.

    ``retryable`` says whether trying again later may succeed (a 502, a timeout) or
    only a configuration change will (a 407, a 403).
    """

    def __init__(self, msg: str, *, retryable: bool) -> None:
        super().__init__(msg)
        self.retryable = retryable


class ProxyRefused(ProxyError):
    """The proxy answered but would not open the tunnel.

    ``status`` is the HTTP status of the CONNECT answer, or the SOCKS5 reply code
    (RFC 1928 §6) for a SOCKS proxy; ``reason`` is the proxy's text, sanitised.
    """

    def __init__(self, msg: str, *, status: int, reason: str, retryable: bool) -> None:
        super().__init__(msg, retryable=retryable)
        self.status = status
        self.reason = reason


class ProxyAuthenticationRequired(ProxyRefused):
    """The proxy wants (other) credentials: HTTP 407, or SOCKS5 authentication refused.

    ``credentials_sent`` tells a missing configuration from a wrong one;
    ``offered_schemes`` lists the schemes of the 407's ``Proxy-Authenticate`` headers.
    Never retryable: only new credentials help.
    """

    def __init__(self, msg: str, *, status: int, reason: str, credentials_sent: bool,
                 offered_schemes: tuple[str, ...] = ()) -> None:
        super().__init__(msg, status=status, reason=reason, retryable=False)
        self.credentials_sent = credentials_sent
        self.offered_schemes = offered_schemes


class ProxyProtocolError(ProxyError, RemoteProtocolError):
    """The proxy's answer broke HTTP/1.1 or SOCKS5, or it closed before answering."""

    def __init__(self, msg: str, *, retryable: bool = True) -> None:
        super().__init__(msg, retryable=retryable)


class ProxyTimeout(ProxyError, TimeoutError):
    """The handshake with the proxy did not finish in time."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, retryable=True)


class ProxyConfigError(ValueError):
    """A proxy setting cannot be used (malformed URL, unsupported scheme, bad target).

    The message names where the setting came from (an environment variable or
    ``override``) and never contains a password: only the scheme and a validated host
    are ever echoed back.
    """


class SnapshotError(ValueError):
    """A persisted snapshot could not be read back."""


class SecretDecryptError(ValueError):
    """An onboarding result's ``bot_encrypt_secret`` is not a secret sealed with the
    task's key (rest.md §8.8); the text says why, never what it holds."""


class ModelError(ValueError):
    """A dispatch of a known type whose payload does not have the documented shape.

    Raised only by :func:`~qqproto.models.parse_event_strict`; :func:`parse_event`
    returns a :class:`MalformedEvent` with the same ``error`` text instead.
    """

    def __init__(self, message: str, *, event_type: str, dispatch: Dispatch) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.dispatch = dispatch


class TransitionError(Exception):
    """The table has no transition for this (state, input) pair."""


class FrameError(ValueError):
    """A received text is not a valid gateway frame."""


class FrameViolation(Exception):
    """The server's byte stream is not valid RFC 6455 framing."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Invalid(Exception):
    """Internal: one field has the wrong shape.  ``str()`` names the path, e.g.
    ``"d.author: expected an object, got array"``.  Never escapes :mod:`qqproto.models`."""


class JSONDecodeError(ValueError):
    """Raised for text that is not one JSON value (whichever codec is active)."""
