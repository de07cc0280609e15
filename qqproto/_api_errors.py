"""REST failures as typed values.

The base class lives here so that the token exchange (part of the gateway supervisor)
and the REST client raise the same family.  Classification by business code is in
:func:`api_error_from_response`.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "InvalidCredentialsError",
    "TokenError",
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
