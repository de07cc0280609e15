"""One attachment download as a sans-IO state machine a driver pumps.

Like :class:`~qqproto.rest.RestCall`, the call hands out requests and takes answers;
unlike it, the answer is streamed (attachments may be large) and the call itself follows
redirects and retries.  The driver loop::

    call = DownloadCall(url, policy=settings.media)
    while not call.done:
        request = call.next_request(now())
        if request is None:                    # backing off before a retry
            sleep_until(call.get_timer()); call.handle_timer(now()); continue
        try:
            response = send(request, stream=True, follow_redirects=False)
            if call.response_started(response.status, response.headers, now()):
                for chunk in response.body_chunks():
                    if not call.receive_data(chunk):
                        break                  # over the byte limit: the call failed
                    if call.storing:
                        file.write(chunk)      # a fresh (truncated) file per attempt
            call.response_ended(now())
        except TransportError as exc:
            call.transport_failed(str(exc), now())
    result = call.result()                     # Downloaded, or raises a DownloadError

What the call decides (rest.md §10.2, §10.4, §10.6): every URL it requests, the first and
each redirect target, passes the policy (:func:`~qqproto.media.check_url`); timeouts,
broken transfers, 429 and 5xx are retried after the policy's delays (a ``Retry-After``
is honoured up to a bound); any other 4xx is final, and on a signed URL it says the key
has most likely expired; the body is cut off at ``max_bytes``; the token goes only to
``token_hosts``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urljoin, urlsplit

from .._fsm import StateMachine
from .._http import Headers, HttpRequest, HttpResponse, header_value
from .._log import bot_logger
from ..errors import (
    ApiError,
    DownloadError,
    DownloadExpiredError,
    DownloadFailedError,
    DownloadRefusedError,
    DownloadTooLargeError,
    LocalProtocolError,
    TransitionError,
)
from ..rest._token import TokenState
from ._policy import MediaPolicy, check_url, redact_url

__all__ = ["TRANSITIONS", "DownloadCall", "DownloadState", "Downloaded"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
#: Statuses that, on a URL with a query (a signed link), mean its key is no longer good.
_EXPIRED: Final = frozenset({400, 401, 403, 404, 410})
#: How much of a token answer is read (it is a few hundred bytes).
_TOKEN_BODY_LIMIT: Final = 64 * 1024


class DownloadState(enum.Enum):
    """Where a :class:`DownloadCall` stands."""

    READY = enum.auto()
    AWAITING_TOKEN = enum.auto()
    AWAITING_RESPONSE = enum.auto()
    READING_BODY = enum.auto()
    BACKING_OFF = enum.auto()
    DONE = enum.auto()


class _Input(enum.Enum):
    FETCH_TOKEN = enum.auto()  # next_request hands out the token request
    SEND = enum.auto()  # next_request hands out the download request
    TOKEN = enum.auto()  # the token answer gave a token
    BODY = enum.auto()  # a 2xx: its body is the download
    REDIRECT = enum.auto()  # a 3xx to an allowed URL
    RETRY = enum.auto()  # a timeout, a broken transfer, a 429 or a 5xx with attempts left
    TIMER = enum.auto()  # the back-off is over
    FINISH = enum.auto()  # the whole body arrived
    FAIL = enum.auto()  # a final error


_S = DownloadState
#: The call's transition table (rendered as a diagram in docs/).
TRANSITIONS: Final[Mapping[tuple[DownloadState, _Input], DownloadState]] = {
    (_S.READY, _Input.FETCH_TOKEN): _S.AWAITING_TOKEN,
    (_S.READY, _Input.SEND): _S.AWAITING_RESPONSE,
    (_S.READY, _Input.FAIL): _S.DONE,  # a refused URL is found before sending
    (_S.AWAITING_TOKEN, _Input.TOKEN): _S.READY,
    (_S.AWAITING_TOKEN, _Input.FAIL): _S.DONE,
    (_S.AWAITING_RESPONSE, _Input.BODY): _S.READING_BODY,
    (_S.AWAITING_RESPONSE, _Input.REDIRECT): _S.READY,
    (_S.AWAITING_RESPONSE, _Input.RETRY): _S.BACKING_OFF,
    (_S.AWAITING_RESPONSE, _Input.FAIL): _S.DONE,
    (_S.READING_BODY, _Input.FINISH): _S.DONE,
    (_S.READING_BODY, _Input.RETRY): _S.BACKING_OFF,
    (_S.READING_BODY, _Input.FAIL): _S.DONE,
    (_S.BACKING_OFF, _Input.TIMER): _S.READY,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Downloaded:
    """A finished download: ``size`` bytes of ``content_type`` (the answer's header, or
    ``None``) fetched from ``final_url`` after ``redirects`` redirects and ``attempts``
    attempts.  The bytes themselves are where the driver stored them."""

    url: str
    final_url: str
    size: int
    content_type: str | None
    redirects: int
    attempts: int

    def __repr__(self) -> str:
        return (f"Downloaded({redact_url(self.final_url)!r}, {self.size} bytes, "
                f"content_type={self.content_type!r})")


def _retry_after(headers: Headers) -> float | None:
    value = header_value(headers, "Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: ignored, the policy's delay applies
    return seconds if seconds >= 0 else None


class DownloadCall:
    """Download ``url`` under ``policy`` (see the module docstring).

    ``token_state`` is needed only when the policy lists the URL's host in
    ``token_hosts``; ``app_id`` labels the log records.
    """

    def __init__(self, url: str, *, policy: MediaPolicy,
                 token_state: TokenState | None = None, app_id: str = "",
                 name: str = "") -> None:
        self.url = url
        self.policy = policy
        self._tokens = token_state
        self.name = name or f"download {redact_url(url)}"
        self._log = bot_logger("qqproto.media",
                               app_id or (token_state.app_id if token_state else ""))
        self._fsm: StateMachine[DownloadState, _Input] = StateMachine(
            self.name, DownloadState.READY, TRANSITIONS, self._log)
        self._current = url
        self._redirects = 0
        self._attempts = 0
        self._timer: float | None = None
        self._status: int | None = None
        self._headers: Headers = ()
        self._received = 0
        self._token_body = bytearray()
        self._content_type: str | None = None
        self._result: Downloaded | None = None
        self._error: DownloadError | ApiError | None = None
        self._pending_error: DownloadError | ApiError | None = None
        try:
            check_url(url, policy)
        except DownloadRefusedError as exc:
            self._pending_error = exc

    def __repr__(self) -> str:
        return f"DownloadCall({redact_url(self._current)!r}, state={self.state.name})"

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> DownloadState:
        return self._fsm.state

    @property
    def done(self) -> bool:
        return self._fsm.state is DownloadState.DONE

    @property
    def storing(self) -> bool:
        """Whether the body being read is the download itself (the driver stores the
        chunks :meth:`receive_data` accepts only then)."""
        return self._fsm.state is DownloadState.READING_BODY

    @property
    def outstanding(self) -> bool:
        """Whether a request handed out by :meth:`next_request` is still unanswered (a
        transport failure may be reported only then)."""
        return self._fsm.state in (DownloadState.AWAITING_TOKEN,
                                   DownloadState.AWAITING_RESPONSE,
                                   DownloadState.READING_BODY)

    @property
    def attempts(self) -> int:
        return self._attempts

    def get_timer(self) -> float | None:
        """When the back-off before the next attempt ends (``None``: nothing to wait)."""
        return self._timer if self._fsm.state is DownloadState.BACKING_OFF else None

    def handle_timer(self, now: float) -> None:
        if self._timer is not None and self._fsm.state is DownloadState.BACKING_OFF \
                and now >= self._timer:
            self._timer = None
            self._fire(_Input.TIMER)

    # ------------------------------------------------------------------ requests out

    def next_request(self, now: float) -> HttpRequest | None:
        """The next request to perform; ``None`` while backing off or once done."""
        if self._fsm.state is not DownloadState.READY:
            return None
        if self._pending_error is not None:
            self._finish(self._pending_error)
            return None
        # identity: the byte count and the limit are about the bytes stored.
        headers: list[tuple[str, str]] = [("Accept", "*/*"), ("Accept-Encoding", "identity")]
        if self.policy.sends_token_to(self._current):
            if self._tokens is None:
                raise LocalProtocolError(f"{self.name}: the host is on token_hosts but the "
                                         "call has no token_state")
            token = self._tokens.current(now)
            if token is None:
                self._fire(_Input.FETCH_TOKEN)
                self._status, self._token_body = None, bytearray()
                return self._tokens.request()
            headers.append(("Authorization", f"QQBot {token.reveal()}"))
        self._fire(_Input.SEND)
        self._attempts += 1
        self._status, self._headers, self._received = None, (), 0
        return HttpRequest(method="GET", url=self._current, headers=tuple(headers),
                           timeout=self.policy.timeout)

    # ------------------------------------------------------------------ answers in

    def response_started(self, status: int, headers: Iterable[tuple[str, str]] |
                         Mapping[str, str], now: float) -> bool:
        """The status and headers of the answer arrived; ``True`` when the driver should
        read the body and feed it to :meth:`receive_data`."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        frozen: Headers = tuple((str(k), str(v)) for k, v in items)
        state = self._fsm.state
        if state is DownloadState.AWAITING_TOKEN:
            self._status, self._headers = status, frozen
            return True
        if state is not DownloadState.AWAITING_RESPONSE:
            raise LocalProtocolError(f"{self.name}: no request is outstanding")
        self._status, self._headers = status, frozen
        shown = redact_url(self._current)
        if 200 <= status < 300:
            return self._accept_body(frozen, shown)
        if status in _REDIRECTS and header_value(frozen, "Location"):
            self._redirect(header_value(frozen, "Location") or "", shown)
            return False
        if status == 429 or status >= 500:
            self._retry(now, f"HTTP {status}", _retry_after(frozen) if status == 429 else None,
                        status=status)
            return False
        if status in _EXPIRED and urlsplit(self._current).query:
            self._finish(DownloadExpiredError(
                f"HTTP {status}: the link's key has most likely expired (download "
                "attachments when they arrive)", url=shown, status=status))
        else:
            self._finish(DownloadFailedError(f"HTTP {status}", url=shown, status=status))
        return False

    def _accept_body(self, headers: Headers, shown: str) -> bool:
        length = header_value(headers, "Content-Length")
        announced = int(length) if length is not None and length.strip().isdigit() else None
        if announced is not None and announced > self.policy.max_bytes:
            self._finish(DownloadTooLargeError(
                f"the body is {announced} bytes, over the {self.policy.max_bytes}-byte "
                "limit", url=shown, limit=self.policy.max_bytes, size=announced,
                status=self._status))
            return False
        self._content_type = header_value(headers, "Content-Type")
        self._received = 0
        self._fire(_Input.BODY)
        return True

    def _redirect(self, location: str, shown: str) -> None:
        target = urljoin(self._current, location.strip())
        if self._redirects >= self.policy.max_redirects:
            self._finish(DownloadRefusedError(
                f"more than {self.policy.max_redirects} redirects", url=shown,
                status=self._status))
            return
        try:
            check_url(target, self.policy)
        except DownloadRefusedError as exc:
            self._finish(DownloadRefusedError(f"redirect refused: {exc}", url=exc.url,
                                              status=self._status))
            return
        self._redirects += 1
        self._current = target
        self._log.debug("%s: redirected to %s", self.name, redact_url(target))
        self._fire(_Input.REDIRECT)

    def receive_data(self, data: bytes) -> bool:
        """A piece of the body; ``False`` when the driver must stop reading (the body
        went over the byte limit and the call has failed)."""
        state = self._fsm.state
        if state is DownloadState.AWAITING_TOKEN:
            if len(self._token_body) + len(data) > _TOKEN_BODY_LIMIT:
                self._finish(ApiError("token answer too large", status=self._status))
                return False
            self._token_body += data
            return True
        if state is not DownloadState.READING_BODY:
            raise LocalProtocolError(f"{self.name}: no body is being read")
        self._received += len(data)
        if self._received > self.policy.max_bytes:
            self._finish(DownloadTooLargeError(
                f"the body went over the {self.policy.max_bytes}-byte limit",
                url=redact_url(self._current), limit=self.policy.max_bytes,
                status=self._status))
            return False
        return True

    def response_ended(self, now: float) -> None:
        """The answer is over (its whole body read, or none wanted)."""
        state = self._fsm.state
        if state is DownloadState.AWAITING_TOKEN:
            assert self._tokens is not None
            response = HttpResponse(status=self._status or 0, headers=self._headers,
                                    body=bytes(self._token_body))
            try:
                self._tokens.receive_response(response, now)
            except ApiError as exc:
                self._finish(exc)
            else:
                self._fire(_Input.TOKEN)
            return
        if state is not DownloadState.READING_BODY:
            return  # a redirect, a retry or a failure was decided at the headers
        length = header_value(self._headers, "Content-Length")
        encoding = (header_value(self._headers, "Content-Encoding") or "identity").lower()
        if encoding == "identity" and length is not None and length.strip().isdigit() \
                and int(length) != self._received:
            self._retry(now, f"body ended after {self._received} of {length} bytes")
            return
        self._result = Downloaded(url=self.url, final_url=self._current, size=self._received,
                                  content_type=self._content_type, redirects=self._redirects,
                                  attempts=self._attempts)
        self._fire(_Input.FINISH)

    def receive_response(self, response: HttpResponse, now: float) -> None:
        """A whole answer at once (tests, small files): the three calls above."""
        if self.response_started(response.status, response.headers, now):
            self.receive_data(response.body)
        if not self.done:
            self.response_ended(now)

    def transport_failed(self, description: str, now: float) -> None:
        """The outstanding request or its body did not complete (timeout, reset, TLS)."""
        state = self._fsm.state
        if state is DownloadState.AWAITING_TOKEN:
            self._finish(DownloadFailedError(f"token request failed: {description}",
                                             url=redact_url(self._current), retryable=True))
        elif state in (DownloadState.AWAITING_RESPONSE, DownloadState.READING_BODY):
            self._retry(now, description)
        else:
            raise LocalProtocolError(f"{self.name}: no request is outstanding")

    # ------------------------------------------------------------------ outcome

    def _retry(self, now: float, why: str, retry_after: float | None = None, *,
               status: int | None = None) -> None:
        if self._attempts >= self.policy.max_attempts:
            self._finish(DownloadFailedError(
                f"{why} (gave up after {self._attempts} attempts)",
                url=redact_url(self._current), status=status, retryable=True))
            return
        delays = self.policy.retry_delays
        delay = delays[min(self._attempts - 1, len(delays) - 1)]
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.policy.max_retry_after))
        self._timer = now + delay
        self._log.info("%s: %s, retrying in %.1f s", self.name, why, delay)
        self._fire(_Input.RETRY)

    def _finish(self, error: DownloadError | ApiError) -> None:
        self._error = error
        self._fire(_Input.FAIL)
        self._log.debug("%s failed: %s", self.name, error)

    def _fire(self, event: _Input) -> None:
        try:
            self._fsm.fire(event)
        except TransitionError as exc:
            raise LocalProtocolError(str(exc)) from None

    @property
    def error(self) -> DownloadError | ApiError | None:
        return self._error

    def result(self) -> Downloaded:
        """The finished download; raises the call's error if it failed."""
        if self._fsm.state is not DownloadState.DONE:
            raise LocalProtocolError(f"{self.name}: the download has not finished")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result
