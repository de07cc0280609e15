"""One OpenAPI call as a small sans-IO state machine a driver pumps.

A :class:`RestCall` holds the request it wants sent and the parser for the answer.  The
driver loop is the same for every call::

    call = client.send_c2c_message(openid, content="hi", msg_id=mid, msg_seq=1)
    while (request := call.next_request(now())) is not None:
        try:
            response = perform(request)           # the driver's HTTP client
        except OSError as exc:                     # or httpx.TransportError, …
            call.transport_failed(str(exc), now())
        else:
            call.receive_response(response, now())
    result = call.result()                         # a typed value, or raises ApiError

``next_request`` first yields the token request when the shared
:class:`~qqproto.rest.TokenState` has no usable token.  A ``401`` answer invalidates
the token, fetches a new one and sends the call once more — once only (gateway.md §1.3,
NB; rest.md §7.5).  A ``429`` (or a rate-limit code) whose answer says how long to wait
(``Retry-After`` or a body ``retry_after`` of at most :data:`MAX_RATE_LIMIT_WAIT` s) is
sent again, at most :data:`MAX_RATE_LIMIT_RETRIES` times, as a request whose ``delay``
tells the driver to wait that long first.  While the token endpoint is in its back-off
after a failure (:meth:`~qqproto.rest.TokenState.backoff_until`), a call that needs a
new token fails at once with a retryable :class:`~qqproto.errors.TokenError`.  The
token is attached only to the OpenAPI origin (:meth:`~qqproto.Endpoints.is_api_url`):
requests to any other host go out exactly as built, and never wait for a token.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Final, Generic, TypeVar

from .._endpoints import Endpoints
from .._fsm import StateMachine
from .._http import HttpRequest, HttpResponse
from .._log import bot_logger
from .._secret import Secret
from ..errors import (
    ApiError,
    LocalProtocolError,
    NetworkError,
    RateLimitedError,
    TokenError,
    TransitionError,
)
from ._errors import api_error_from_response
from ._token import TokenState

__all__ = ["MAX_RATE_LIMIT_RETRIES", "MAX_RATE_LIMIT_WAIT", "TRANSITIONS", "CallState",
           "RestCall", "authorize"]

#: rest.md §7.7: no ``Retry-After`` is documented; when one comes, a call waits for it
#: at most this long (a longer wait fails the call with its ``retry_after`` set) …
MAX_RATE_LIMIT_WAIT: Final = 60.0
#: … and at most this many times.
MAX_RATE_LIMIT_RETRIES: Final = 2

T = TypeVar("T")


def authorize(request: HttpRequest, token: Secret, *, app_id: str,
              endpoints: Endpoints) -> HttpRequest:
    """``request`` with ``Authorization: QQBot <token>`` and ``X-Union-Appid`` added when it
    targets the OpenAPI origin, else ``request`` itself, untouched.

    gateway.md §1.3: the prefix is the literal ``QQBot`` and one space; ``X-Union-Appid``
    is sent by two SDKs and harmless (rest.md §1.3).  Pre-signed upload URLs and CDNs are
    other origins and must never see the token (rest.md §4.13, DESIGN.md §2.5).
    """
    if not endpoints.is_api_url(request.url):
        return request
    return _sign(request, token, app_id)


def _sign(request: HttpRequest, token: Secret, app_id: str) -> HttpRequest:
    """:func:`authorize` for a request the caller has already checked targets the
    OpenAPI origin (a :class:`RestCall` checks once, when it is built)."""
    headers = tuple((k, v) for k, v in request.headers
                    if k.lower() not in ("authorization", "x-union-appid"))
    headers += (("Authorization", f"QQBot {token.reveal()}"), ("X-Union-Appid", app_id))
    return HttpRequest(method=request.method, url=request.url, headers=headers,
                       body=request.body, timeout=request.timeout, delay=request.delay)


class CallState(enum.Enum):
    """Where a :class:`RestCall` stands."""

    NEED_TOKEN = enum.auto()
    AWAITING_TOKEN = enum.auto()
    READY = enum.auto()
    AWAITING_RESPONSE = enum.auto()
    DONE = enum.auto()


class _Input(enum.Enum):
    #: ``next_request`` found no usable token and hands out the token request.
    FETCH_TOKEN = enum.auto()
    #: ``next_request`` hands out the call's own request.
    SEND = enum.auto()
    #: The token request was answered with a token.
    TOKEN = enum.auto()
    #: The first 401 of an OpenAPI call: refresh the token and send once more.
    UNAUTHORIZED = enum.auto()
    #: A rate-limit answer that said how long to wait: send again after that long.
    RATE_LIMITED = enum.auto()
    #: The call's answer arrived; its outcome is a result or an :class:`ApiError`.
    ANSWER = enum.auto()
    #: The token request failed, or the transport lost an outstanding request.
    FAIL = enum.auto()
    #: A token is needed while the token endpoint backs off after a failure.
    TOKEN_BACKOFF = enum.auto()


_S = CallState

#: The call's transition table (rendered as a diagram in docs/).  A pair it lacks is the
#: driver's mistake, reported as :class:`LocalProtocolError`.
TRANSITIONS: Final[Mapping[tuple[CallState, _Input], CallState]] = {
    (_S.NEED_TOKEN, _Input.FETCH_TOKEN): _S.AWAITING_TOKEN,
    (_S.NEED_TOKEN, _Input.SEND): _S.AWAITING_RESPONSE,
    (_S.NEED_TOKEN, _Input.TOKEN_BACKOFF): _S.DONE,
    (_S.AWAITING_TOKEN, _Input.TOKEN): _S.READY,
    (_S.AWAITING_TOKEN, _Input.FAIL): _S.DONE,
    # The token may expire again between the 401 retry's token and the retry itself.
    (_S.READY, _Input.FETCH_TOKEN): _S.AWAITING_TOKEN,
    (_S.READY, _Input.SEND): _S.AWAITING_RESPONSE,
    (_S.READY, _Input.TOKEN_BACKOFF): _S.DONE,
    # gateway.md §1.3 NB, rest.md §7.5: one 401 refreshes the token and retries once.
    (_S.AWAITING_RESPONSE, _Input.UNAUTHORIZED): _S.READY,
    (_S.AWAITING_RESPONSE, _Input.RATE_LIMITED): _S.READY,
    (_S.AWAITING_RESPONSE, _Input.ANSWER): _S.DONE,
    (_S.AWAITING_RESPONSE, _Input.FAIL): _S.DONE,
}

_OUTSTANDING = "a request is still outstanding"
_NOTHING_OUTSTANDING = "no request is outstanding"


class RestCall(Generic[T]):
    """One request/response exchange (plus the token fetch and the 401 retry it may need).

    ``name`` labels the call in logs and errors.  ``parse`` turns a response the error
    table accepted into the result, raising an :class:`ApiError` for a malformed body.
    The response body is decoded once for both (:meth:`HttpResponse.json` caches it).
    """

    def __init__(
        self,
        request: HttpRequest,
        parse: Callable[[HttpResponse], T],
        *,
        token_state: TokenState,
        name: str = "",
    ) -> None:
        self._request = request
        self._parse = parse
        self._tokens = token_state
        self.name = name or f"{request.method} {request.url}"
        # The one origin check of the call: only the OpenAPI origin gets the token
        # (rest.md §4.13); next_request signs without asking again.
        self._needs_token = token_state.endpoints.is_api_url(request.url)
        self._used_token: Secret | None = None
        self._retried_auth = False
        self._rate_limited = 0
        self._send_at: float | None = None
        self._result: T | None = None
        self._error: ApiError | None = None
        self._log = bot_logger("qqproto.rest", token_state.app_id)
        self._fsm: StateMachine[CallState, _Input] = StateMachine(
            f"rest call {self.name}",
            CallState.NEED_TOKEN if self._needs_token else CallState.READY,
            TRANSITIONS, self._log)

    def __repr__(self) -> str:
        return f"RestCall({self.name!r}, state={self.state.name})"

    @property
    def state(self) -> CallState:
        return self._fsm.state

    @property
    def done(self) -> bool:
        return self._fsm.state is CallState.DONE

    def next_request(self, now: float) -> HttpRequest | None:
        """The next request to perform, or ``None`` when the call has its outcome."""
        if self._fsm.state is CallState.DONE:
            return None
        if not self._needs_token:
            self._set_state(_Input.SEND, _OUTSTANDING)
            return self._delayed(self._request, now)
        token = self._tokens.current(now)
        if token is None:
            if not self._fsm.can_fire(_Input.FETCH_TOKEN):
                raise LocalProtocolError(f"{self.name}: {_OUTSTANDING}")
            until = self._tokens.backoff_until(now)
            if until is not None:
                self._finish_error(_Input.TOKEN_BACKOFF, TokenError(
                    f"{self.name}: the token endpoint failed; next try in "
                    f"{until - now:.1f} s", retryable=True))
                return None
            self._set_state(_Input.FETCH_TOKEN, _OUTSTANDING)
            return self._tokens.request()
        self._set_state(_Input.SEND, _OUTSTANDING)
        self._used_token = token
        return self._delayed(_sign(self._request, token, self._tokens.app_id), now)

    def _delayed(self, request: HttpRequest, now: float) -> HttpRequest:
        """``request``, told to wait out what is left of a rate limit (else as is)."""
        send_at, self._send_at = self._send_at, None
        if send_at is None or send_at <= now:
            return request
        return HttpRequest(method=request.method, url=request.url, headers=request.headers,
                           body=request.body, timeout=request.timeout, delay=send_at - now)

    def receive_response(self, response: HttpResponse, now: float) -> None:
        """Feed the answer to the request :meth:`next_request` returned last."""
        if self._fsm.state is CallState.AWAITING_TOKEN:
            try:
                self._tokens.receive_response(response, now)
            except ApiError as exc:
                self._finish_error(_Input.FAIL, exc)
            else:
                self._set_state(_Input.TOKEN, _NOTHING_OUTSTANDING)
            return
        if response.status == 401 and self._needs_token and not self._retried_auth:
            self._set_state(_Input.UNAUTHORIZED, _NOTHING_OUTSTANDING)
            self._retried_auth = True
            # Another call may already have replaced the token; only drop the one we used.
            if self._tokens.current(now) == self._used_token:
                self._tokens.invalidate()
            self._log.info("%s: HTTP 401, refreshing the token and retrying once", self.name)
            return
        if not self._fsm.can_fire(_Input.ANSWER):
            raise LocalProtocolError(f"{self.name}: {_NOTHING_OUTSTANDING}")
        # One decode: the classifier and the parser share the response's cached body.
        error = api_error_from_response(response)
        if (isinstance(error, RateLimitedError) and error.retry_after is not None
                and error.retry_after <= MAX_RATE_LIMIT_WAIT
                and self._rate_limited < MAX_RATE_LIMIT_RETRIES):
            self._rate_limited += 1
            self._send_at = now + error.retry_after
            self._set_state(_Input.RATE_LIMITED, _NOTHING_OUTSTANDING)
            self._log.info("%s: rate limited, sending again in %.1f s", self.name,
                           error.retry_after)
            return
        if error is not None:
            self._finish_error(_Input.ANSWER, error)
            return
        try:
            result = self._parse(response)
        except ApiError as exc:
            self._finish_error(_Input.ANSWER, exc)
        else:
            self._result = result
            self._set_state(_Input.ANSWER, _NOTHING_OUTSTANDING)

    def transport_failed(self, description: str, now: float) -> None:
        """The outstanding request did not complete (refused, reset, TLS, timeout)."""
        what = "token request" if self._fsm.state is CallState.AWAITING_TOKEN else self.name
        self._finish_error(_Input.FAIL, NetworkError(f"{what} failed: {description}"))

    def _set_state(self, event: _Input, misuse: str) -> None:
        """Move along :data:`TRANSITIONS`; a pair the table lacks is the caller's misuse."""
        try:
            self._fsm.fire(event)
        except TransitionError:
            raise LocalProtocolError(f"{self.name}: {misuse}") from None

    def _finish_error(self, event: _Input, error: ApiError) -> None:
        self._set_state(event, _NOTHING_OUTSTANDING)
        self._error = error
        self._log.debug("%s failed: %r", self.name, error)

    @property
    def error(self) -> ApiError | None:
        """The failure, once the call is done and failed."""
        return self._error

    def result(self) -> T:
        """The typed result; raises the call's :class:`ApiError` if it failed."""
        if self._fsm.state is not CallState.DONE:
            raise LocalProtocolError(f"{self.name}: the call has not finished")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
