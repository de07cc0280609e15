"""The app access token: request building, response parsing, expiry bookkeeping.

gateway.md §1.2: ``POST`` the token URL with ``{"appId", "clientSecret"}``; the answer
carries ``access_token`` and ``expires_in`` (a number *or* a decimal string — the sources
disagree, so both are accepted).  A token is refreshed :attr:`TokenState.refresh_margin`
seconds (60 by default, the documented overlap window) before it expires.
"""

from __future__ import annotations

from typing import Any, Final

from .. import _jsoncodec, _numbers
from .._endpoints import Endpoints
from .._http import HttpRequest, HttpResponse, json_request
from .._secret import Secret, as_secret
from ..errors import InvalidCredentialsError, TokenError

__all__ = ["AccessToken", "TokenState", "parse_expires_in"]

# gateway.md §1.2: within the last 60 s a call mints a new token and the old one stays
# valid for those 60 s, so refreshing 60 s early never leaves a gap.
DEFAULT_REFRESH_MARGIN: Final = 60.0
# rest.md §7.2: token-endpoint codes that mean the credentials themselves are wrong.
_BAD_CREDENTIAL_CODES: Final = frozenset({100007, 100016, 10004})
#: gateway.md §1.2: the endpoint hands out a token with more than 60 s left (below that
#: it mints a new one), so a shorter ``expires_in`` is a broken answer; it is read as
#: this floor, which bounds token requests to one per 30 s whatever the server says.
MIN_TOKEN_LIFETIME: Final = 60.0
#: Lifetimes are "currently ≤ 7200" (§1.2); anything beyond a month is read as a month.
MAX_TOKEN_LIFETIME: Final = 30 * 24 * 3600.0
#: After a failed token request, the next waits 1, 2, 4 … s, at most this long (a REST
#: call that finds the endpoint in its back-off fails at once with a retryable error).
MAX_TOKEN_BACKOFF: Final = 60.0
_INT64: Final = 2**63


def parse_expires_in(value: object) -> float | None:
    """``7200``, ``7200.0`` or ``"7200"`` in seconds, moved into [:data:`MIN_TOKEN_LIFETIME`,
    :data:`MAX_TOKEN_LIFETIME`]; ``None`` for anything that is not a positive number."""
    seconds = _numbers.parse_number(value, minimum=0.0, maximum=float("inf"))
    if seconds is None or seconds <= 0:
        return None
    return _numbers.clamp(seconds, MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME)


class AccessToken:
    """A token and the monotonic instant it expires at."""

    __slots__ = ("expires_at", "refresh_at", "value")

    def __init__(self, value: Secret, expires_at: float, refresh_at: float) -> None:
        self.value = value
        self.expires_at = expires_at
        self.refresh_at = refresh_at

    def __repr__(self) -> str:
        return (f"AccessToken(value={self.value!r}, expires_at={self.expires_at!r}, "
                f"refresh_at={self.refresh_at!r})")


class TokenState:
    """Knows whether a usable token is at hand and how to get one.

    Sans-IO: :meth:`request` builds the HTTP request, :meth:`receive_response` parses the
    answer.  Several consumers (the gateway supervisor, REST calls) may share one
    instance; a refresh started by one benefits all.
    """

    def __init__(
        self,
        *,
        app_id: str,
        secret: str | Secret,
        endpoints: Endpoints | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        if not app_id:
            raise ValueError("app_id is empty")
        self.app_id = str(app_id)
        self._secret = as_secret(secret)
        if not self._secret:
            raise ValueError("client secret is empty")
        self.endpoints = endpoints or Endpoints()
        self.refresh_margin = refresh_margin
        self._token: AccessToken | None = None
        self._failures = 0
        self._retry_at = float("-inf")

    def __repr__(self) -> str:
        return f"TokenState(app_id={self.app_id!r}, token={self._token!r})"

    @property
    def secret(self) -> Secret:
        return self._secret

    def current(self, now: float) -> Secret | None:
        """The token if it is not yet due for refresh at ``now``, else ``None``."""
        token = self._token
        if token is None or now >= token.refresh_at:
            return None
        return token.value

    def refresh_due_at(self) -> float | None:
        """When the current token enters its refresh window (``None`` without a token)."""
        return None if self._token is None else self._token.refresh_at

    def backoff_until(self, now: float) -> float | None:
        """After failed token requests, when the next may go out (``None``: now)."""
        return self._retry_at if now < self._retry_at else None

    def invalidate(self) -> None:
        """Forget the token (close code 4004, HTTP 401): the next use fetches a new one."""
        self._token = None

    def request(self) -> HttpRequest:
        """The token request (gateway.md §1.2).  The body holds the secret; its repr does not."""
        return json_request(
            "POST",
            self.endpoints.token_url,
            {"appId": self.app_id, "clientSecret": self._secret.reveal()},
            timeout=30.0,
        )

    def receive_response(self, response: HttpResponse, now: float) -> Secret:
        """Parse the token endpoint's answer and remember the token.

        Raises :class:`InvalidCredentialsError` for rejected credentials and
        :class:`TokenError` (retryable) for anything else that is not a token; each
        failure pushes :meth:`backoff_until` further out, a token resets it.
        """
        try:
            token = self._receive(response, now)
        except TokenError:
            self._failures += 1
            self._retry_at = now + min(2.0 ** min(self._failures - 1, 16), MAX_TOKEN_BACKOFF)
            raise
        self._failures = 0
        self._retry_at = float("-inf")
        return token

    def _receive(self, response: HttpResponse, now: float) -> Secret:
        trace_id = response.header("X-Tps-trace-ID")
        try:
            body: Any = response.json()  # decoded once per response
        except _jsoncodec.JSONDecodeError:
            raise TokenError(
                "token endpoint answered with a body that is not JSON",
                status=response.status, trace_id=trace_id,
            ) from None
        if not isinstance(body, dict):
            raise TokenError("token endpoint answered with a non-object body",
                             status=response.status, trace_id=trace_id)
        # An int or ASCII digits; anything else (``"²"``, ``"--5"``) is a bad code.
        raw_code = body.get("code")
        code_int = _numbers.parse_int(raw_code, minimum=-_INT64, maximum=_INT64 - 1)
        if raw_code is not None and code_int is None:
            raise TokenError("token endpoint answered with a code that is not an integer",
                             status=response.status, trace_id=trace_id)
        message = body.get("message") if isinstance(body.get("message"), str) else ""
        trace_id = trace_id or (body["trace_id"] if isinstance(body.get("trace_id"), str)
                                else None)
        if code_int in _BAD_CREDENTIAL_CODES or response.status in (401, 403):
            raise InvalidCredentialsError(
                message or "app id or client secret rejected",
                status=response.status, code=code_int, trace_id=trace_id,
            )
        if code_int not in (None, 0) or not 200 <= response.status < 300:
            raise TokenError(message or "token request failed", status=response.status,
                             code=code_int, trace_id=trace_id,
                             retryable=response.status >= 500 or response.status == 429
                             or code_int is not None or response.status == 200)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise TokenError("token endpoint answer has no access_token",
                             status=response.status, trace_id=trace_id)
        lifetime = parse_expires_in(body.get("expires_in"))
        if lifetime is None:
            raise TokenError("token endpoint answer has no positive expires_in",
                             status=response.status, trace_id=trace_id)
        token = Secret(value)
        # A token shorter-lived than twice the margin is refreshed half-way instead of at
        # once; with the lifetime floor no answer can turn into a refresh loop.
        margin = min(self.refresh_margin, lifetime / 2)
        self._token = AccessToken(token, now + lifetime, now + lifetime - margin)
        return token
