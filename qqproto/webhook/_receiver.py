"""The server side of one webhook HTTP/1.1 connection, sans-IO (gateway.md §9).

:class:`WebhookReceiver` takes raw bytes from an accepted TCP (or TLS) connection, parses
them with h11 (a whole request of the platform's usual shape by :mod:`._fastpath`, which
reads it as h11 would), runs every complete request through
:func:`~qqproto.webhook.handle_webhook_request`, and writes the answers into an internal
buffer in request order.  A verified dispatch becomes a :class:`WebhookDispatch` event;
its answer (op 12) is written once the application calls :meth:`WebhookReceiver.acknowledge`.

Determinism: the receiver's events and output bytes depend only on the byte stream, not on
how it was split into ``receive_data`` calls.  h11's own buffer limit is therefore never
allowed to fire (it would depend on the split); the limits below are counted on the raw
stream instead, and h11 is never handed more of a request than they allow.

Limits (all per request): the head (request line + headers + blank line) may use at most
``max_header_size`` bytes (else 431); the decoded body at most ``policy.max_body_size``
bytes (else 413, also announced early by ``Content-Length``); the raw request in all
(head, body, chunk headers, extensions, trailers) at most ``2 * max_header_size +
policy.max_body_size`` bytes (else 413).  A
request still incomplete ``request_timeout`` seconds after its first byte gets 408.  Each
of these answers closes the connection, as does malformed HTTP (400, after which
``receive_data`` raises :class:`~qqproto.errors.RemoteProtocolError`).

Pipelining: requests are parsed ahead while fewer than ``max_pipelined`` answers are owed;
answers always leave in request order, so a validation or rejection queued behind an
unacknowledged dispatch waits for it.  When the limit is reached :attr:`reading_paused`
is true and a driver should stop reading from the socket until it is false again (bytes
fed meanwhile are buffered, not parsed).
"""

from __future__ import annotations

import enum
import functools
import math
from collections import deque
from collections.abc import Mapping
from typing import Final

import h11

from .._fsm import StateMachine
from .._http import HttpResponse
from .._log import bot_logger
from ..errors import LocalProtocolError, RemoteProtocolError
from ..events import (
    Delivery,
    Event,
    RequestRejected,
    ValidationAnswered,
    WebhookConnectionClosed,
    WebhookDispatch,
)
from ._decision import (
    DEFAULT_POLICY,
    ReplayCache,
    WebhookDelivery,
    WebhookPolicy,
    answered_event,
    handle_webhook_request,
)
from ._fastpath import read_simple_request
from ._signing import WebhookKey

__all__ = ["WebhookReceiver", "WebhookReceiverState"]

DEFAULT_MAX_HEADER_SIZE: Final = 16 * 1024
DEFAULT_MAX_PIPELINED: Final = 8
DEFAULT_REQUEST_TIMEOUT: Final = 30.0
DEFAULT_IDLE_TIMEOUT: Final = 75.0
# How much raw input h11 gets per step: bounds the copy of its leftover per request.
_HEAD_PIECE: Final = 4096
_BODY_PIECE: Final = 64 * 1024
_COMPACT_AT: Final = 64 * 1024

REASON_MALFORMED_HTTP: Final = "malformed HTTP request"
REASON_HEAD_TOO_LARGE: Final = "request header fields too large"
REASON_BODY_TOO_LARGE: Final = "request body too large"  # same text as the decision's 413
REASON_TIMEOUT: Final = "request timeout"
#: Refused requests one connection may send before it is closed (after the answer).
MAX_REJECTED: Final = 16

_PHRASES: Final = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    413: "Content Too Large", 415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_TEXT: Final = (("Content-Type", "text/plain; charset=utf-8"),)


# ---------------------------------------------------------------------------- events













# ---------------------------------------------------------------------------- state

class WebhookReceiverState(enum.Enum):
    """Where a :class:`WebhookReceiver` is in its life."""

    #: Reading requests.
    OPEN = "open"
    #: No more requests will be read; owed answers are still written in order.
    CLOSING = "closing"
    #: Done; :class:`WebhookConnectionClosed` has been queued.
    CLOSED = "closed"


class _Input(enum.Enum):
    STOP_READING = enum.auto()  # a closing answer was queued, or the peer sent EOF
    FINISH = enum.auto()        # every owed answer has been written
    ABORT = enum.auto()         # idle timeout or a local close()


_S = WebhookReceiverState

#: The receiver's transition table (rendered as a diagram in docs/).
TRANSITIONS: Final[Mapping[tuple[WebhookReceiverState, _Input], WebhookReceiverState]] = {
    (_S.OPEN, _Input.STOP_READING): _S.CLOSING,
    (_S.OPEN, _Input.ABORT): _S.CLOSED,
    (_S.CLOSING, _Input.FINISH): _S.CLOSED,
    (_S.CLOSING, _Input.ABORT): _S.CLOSED,
}


class _Slot:
    """One answer owed, in request order; ``data`` is ``None`` until it is known."""

    __slots__ = ("close", "data", "decision", "head")

    def __init__(self, *, close: bool, head: bool, data: bytes | None = None,
                 decision: WebhookDelivery | None = None) -> None:
        self.close = close
        self.head = head
        self.data = data
        self.decision = decision


@functools.lru_cache(maxsize=64)  # the op 12 answers and the fixed refusals, mostly
def _render(response: HttpResponse, *, close: bool, head: bool) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {_PHRASES.get(response.status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in response.headers]
    lines.append(f"Content-Length: {len(response.body)}")
    if close:
        lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_bytes if head else head_bytes + response.body


def _header_tokens(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [token.strip().lower() for key, value in headers if key == name
            for token in value.split(b",")]


# ---------------------------------------------------------------------------- receiver

class WebhookReceiver:
    """One accepted webhook connection (server side), driven like aioquic.

    Feed bytes to :meth:`receive_data` (``b""`` = EOF), send whatever
    :meth:`data_to_send` returns after *every* call, drain :meth:`next_event`, answer
    each :class:`WebhookDispatch` with :meth:`acknowledge`, and call :meth:`handle_timer`
    when :meth:`get_timer`'s deadline passes.  After :class:`WebhookConnectionClosed`,
    flush and close the socket.

    ``now`` is the caller's monotonic clock at accept time.  ``replay_cache`` should be
    the one cache shared by every connection of the endpoint (``None`` disables replay
    rejection).  Requests are judged against the ``unix_now`` of the latest call that
    passed one (requests parsed late because of pipelining use the latest value).
    """

    def __init__(
        self,
        key: WebhookKey,
        *,
        now: float,
        replay_cache: ReplayCache | None,
        policy: WebhookPolicy = DEFAULT_POLICY,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_pipelined: int = DEFAULT_MAX_PIPELINED,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if max_header_size < 64:
            raise LocalProtocolError("max_header_size must be at least 64 bytes")
        if max_pipelined < 1:
            raise LocalProtocolError("max_pipelined must be at least 1")
        if not (request_timeout > 0 and idle_timeout > 0):
            raise LocalProtocolError("timeouts must be positive")
        self._key = key
        self._policy = policy
        self._replay_cache = replay_cache
        self._max_head = max_header_size
        # Raw bytes one request may use in all: head, body, and framing slack.
        self._max_request = 2 * max_header_size + policy.max_body_size
        self._max_pipelined = max_pipelined
        self._request_timeout = request_timeout
        self._idle_timeout = idle_timeout
        self._log = bot_logger("qqproto.webhook", policy.app_id)
        self._fsm: StateMachine[WebhookReceiverState, _Input] = StateMachine(
            "webhook connection", WebhookReceiverState.OPEN, TRANSITIONS, self._log)

        self._now = now
        self._unix_now: float | None = None
        self._idle_since = now
        self._in = bytearray()
        self._pos = 0  # bytes of self._in already handed to a parser
        self._eof = False
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._slots: deque[_Slot] = deque()
        self._owed: dict[int, _Slot] = {}
        self._requests = 0
        self._error: RemoteProtocolError | None = None
        self._closed_reason = ""
        # The request being parsed (one fresh h11 connection per request).
        self._parser: h11.Connection | None = None
        self._fed = 0
        self._started_at = now
        self._request: h11.Request | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._rejected = 0

    # ------------------------------------------------------------------ properties

    @property
    def state(self) -> WebhookReceiverState:
        return self._fsm.state

    @property
    def reading_paused(self) -> bool:
        """True while ``max_pipelined`` answers are owed: stop reading from the socket."""
        return (self.state is WebhookReceiverState.OPEN and self._parser is None
                and len(self._slots) >= self._max_pipelined)

    # ------------------------------------------------------------------ driver API

    def receive_data(self, data: bytes, *, now: float, unix_now: float) -> None:
        """Feed bytes read from the socket (``b""`` when the peer closed its side).

        Raises :class:`~qqproto.errors.RemoteProtocolError` once the peer has sent
        malformed HTTP, after the 400 answer has been queued (and again on later calls).
        """
        if not math.isfinite(unix_now):
            raise LocalProtocolError("unix_now must be a finite number of seconds")
        if self._eof and data:
            raise LocalProtocolError("data received after EOF")
        self._now, self._unix_now = now, unix_now
        if self._error is not None:
            raise self._error
        if self.state is not WebhookReceiverState.OPEN:
            return  # a closing answer is queued: the rest of the stream is ignored
        if data:
            self._in += data
        else:
            self._eof = True
        self._pump()
        if self._error is not None:
            raise self._error

    def next_event(self) -> Event | None:
        """The next event, or ``None`` when there is none (more input or an ack is needed)."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """The answer bytes written since the last call; send them in order."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def acknowledge(self, delivery: Delivery, ok: bool) -> None:
        """Queue the op 12 answer for ``delivery``: ``ok`` → ``d = 0``, else ``d = 1``.

        Acknowledging after the connection closed is accepted and changes nothing on the
        wire (the replay cache still forgets a failed delivery).
        """
        slot = self._owed.pop(delivery.request, None)
        if slot is None or slot.decision is None:
            raise LocalProtocolError(f"no unacknowledged delivery {delivery.request}")
        response = slot.decision.acknowledge(ok)
        if self.state is WebhookReceiverState.CLOSED:
            return
        slot.data = _render(response, close=slot.close, head=slot.head)
        self._flush()
        self._pump()

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (the caller's clock), or None."""
        if self.state is not WebhookReceiverState.OPEN:
            return None
        if self._parser is not None:
            return self._started_at + self._request_timeout
        if not self._slots:
            return self._idle_since + self._idle_timeout
        return None

    def handle_timer(self, now: float) -> None:
        """A partial request past its deadline gets 408; an idle connection is closed."""
        self._now = now
        deadline = self.get_timer()
        if deadline is None or now < deadline:
            return
        if self._parser is not None:
            self._reject_and_close(408, REASON_TIMEOUT)
        else:
            self._fsm.fire(_Input.ABORT)
            self._events.append(WebhookConnectionClosed(reason="idle timeout"))

    def close(self) -> None:
        """Abandon the connection now (the driver's socket failed or is shutting down)."""
        if self.state is WebhookReceiverState.CLOSED:
            return
        self._fsm.fire(_Input.ABORT)
        self._slots.clear()
        self._parser = None
        self._in.clear()
        self._events.append(WebhookConnectionClosed(reason="closed locally"))

    # ------------------------------------------------------------------ parsing

    def _pump(self) -> None:
        """Parse as many requests as the pipelining bound allows."""
        while self.state is WebhookReceiverState.OPEN and self._error is None:
            if self._parser is None:
                if len(self._slots) >= self._max_pipelined:
                    return
                if self._pos == len(self._in):
                    if self._eof:
                        self._stop_reading()
                    return
                if self._read_simple():
                    continue
                self._start_request()
            if not self._advance():
                return

    def _read_simple(self) -> bool:
        """Read the next request without h11 when it is a whole, simple one
        (:mod:`._fastpath`: the same request h11 would read); False: h11 reads it."""
        request = read_simple_request(self._in, self._pos, max_head=self._max_head,
                                      max_body=self._policy.max_body_size)
        if request is None:
            return False
        self._requests += 1
        self._started_at = self._now
        self._pos = request.end
        self._compact()
        self._judge(request.method, request.target, b"1.1", request.headers, request.body)
        return True

    def _compact(self) -> None:
        if self._pos >= _COMPACT_AT:
            del self._in[:self._pos]
            self._pos = 0

    def _start_request(self) -> None:
        self._requests += 1
        # h11's own incomplete-event limit must never be the one that fires (it depends
        # on how the input was split); our raw-byte limits are always smaller.
        self._parser = h11.Connection(h11.SERVER,
                                      max_incomplete_event_size=self._max_request + 1)
        self._fed = 0
        self._started_at = self._now
        self._request = None
        self._body = []
        self._body_size = 0

    def _advance(self) -> bool:
        """Drive the current parser; True when it finished (or ended) its request."""
        parser = self._parser
        assert parser is not None
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError:
                self._malformed()
                return True
            if event is h11.NEED_DATA:
                limit = self._max_head if self._request is None else self._max_request
                if self._pos == len(self._in):
                    if self._eof:
                        self._stop_reading(mid_request=True)
                        return True
                    return False
                if self._fed >= limit:
                    if self._request is None:
                        self._reject_and_close(431, REASON_HEAD_TOO_LARGE)
                    else:
                        self._reject_and_close(413, REASON_BODY_TOO_LARGE)
                    return True
                piece = _HEAD_PIECE if self._request is None else _BODY_PIECE
                self._feed(min(limit - self._fed, piece))
            elif isinstance(event, h11.Request):
                if not self._accept_head(parser, event):
                    return True
            elif isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
                self._body_size += len(event.data)
                if self._body_size > self._policy.max_body_size:
                    self._reject_and_close(413, REASON_BODY_TOO_LARGE)
                    return True
            elif isinstance(event, h11.EndOfMessage):
                self._complete(parser)
                return True
            else:  # pragma: no cover - a server-side h11 parser yields nothing else
                raise AssertionError(f"unexpected h11 event {event!r}")

    def _feed(self, count: int) -> None:
        assert self._parser is not None
        end = self._pos + count
        self._parser.receive_data(bytes(self._in[self._pos:end]))
        self._fed += min(count, len(self._in) - self._pos)
        self._pos = min(end, len(self._in))

    def _accept_head(self, parser: h11.Connection, request: h11.Request) -> bool:
        self._request = request
        # h11's header list is read item by item in Python: copy it once per request.
        self._headers = headers = list(request.headers)
        lengths = [value for key, value in headers if key == b"content-length"]
        if lengths and _header_tokens(headers, b"transfer-encoding"):
            # RFC 9112 §6.3: both framings at once is a smuggling vector; refuse it.
            self._malformed()
            return False
        if lengths and int(lengths[0]) > self._policy.max_body_size:
            self._reject_and_close(413, REASON_BODY_TOO_LARGE)
            return False
        if parser.they_are_waiting_for_100_continue and not self._slots:
            # Interim answers obey request order too: only the oldest request gets one.
            self._out += _CONTINUE
        return True

    def _complete(self, parser: h11.Connection) -> None:
        """A whole request arrived: give back h11's leftover bytes and judge it."""
        leftover = len(parser.trailing_data[0])
        self._pos -= leftover
        request = self._request
        assert request is not None
        body = b"".join(self._body)
        self._parser, self._request, self._body = None, None, []
        self._compact()
        self._judge(request.method, request.target, request.http_version, self._headers,
                    body)

    def _judge(self, method: bytes, target: bytes, http_version: bytes,
               headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """Decide a whole request (however it was read) and queue its answer or event."""
        keep_alive = (http_version == b"1.1"
                      and b"close" not in _header_tokens(headers, b"connection"))
        unix_now = self._unix_now
        assert unix_now is not None  # set by receive_data before any byte is parsed
        decision = handle_webhook_request(
            self._key, headers, body, method=method.decode("ascii", "replace"),
            path=target.decode("latin-1"), unix_now=unix_now,
            replay_cache=self._replay_cache, policy=self._policy)
        number = self._requests
        slot = _Slot(close=not keep_alive, head=method == b"HEAD")
        if isinstance(decision, WebhookDelivery):
            slot.decision = decision
            self._owed[number] = slot
            self._events.append(WebhookDispatch(dispatch=decision.dispatch,
                                                delivery=Delivery(request=number)))
        else:
            event = answered_event(number, decision)
            if isinstance(event, RequestRejected):
                self._rejected += 1
                if self._rejected >= MAX_REJECTED and not slot.close:
                    # The platform signs every push: a connection that keeps sending
                    # refused requests is closed, so a pipelined flood of unsigned
                    # requests costs a few answers, not one per request.
                    slot.close = True
                    self._closed_reason = (f"closed after {self._rejected} refused "
                                           "requests")
            slot.data = _render(decision.response, close=slot.close, head=slot.head)
            self._log_answered(event)
            self._events.append(event)
        self._slots.append(slot)
        if slot.close:
            if not keep_alive:
                self._closed_reason = "the client asked to close the connection"
            self._fsm.fire(_Input.STOP_READING)
        self._flush()

    def _log_answered(self, event: Event) -> None:
        if isinstance(event, RequestRejected):
            self._log.info("request %d rejected: %d %s", event.request, event.status,
                           event.reason)
        elif isinstance(event, ValidationAnswered):
            self._log.info("request %d: callback URL validation answered", event.request)

    # ------------------------------------------------------------------ endings

    def _reject_and_close(self, status: int, reason: str) -> None:
        """Answer the current request with ``status`` and stop reading."""
        self._log.info("request %d rejected: %d %s", self._requests, status, reason)
        self._parser, self._request, self._body = None, None, []
        response = HttpResponse(status=status, headers=_TEXT, body=reason.encode("ascii"))
        self._slots.append(_Slot(close=True, head=False,
                                 data=_render(response, close=True, head=False)))
        self._events.append(RequestRejected(request=self._requests, status=status,
                                            reason=reason))
        self._closed_reason = f"closed after answering request {self._requests} with {status}"
        self._fsm.fire(_Input.STOP_READING)
        self._flush()

    def _malformed(self) -> None:
        self._reject_and_close(400, REASON_MALFORMED_HTTP)
        self._error = RemoteProtocolError(REASON_MALFORMED_HTTP)

    def _stop_reading(self, *, mid_request: bool = False) -> None:
        """The peer sent EOF: no more requests; finish once the owed answers are out."""
        self._parser = None
        self._closed_reason = ("peer closed the connection mid-request" if mid_request
                               else "peer closed the connection")
        self._fsm.fire(_Input.STOP_READING)
        self._flush()

    def _flush(self) -> None:
        """Write every answer whose turn has come; finish when nothing more is owed."""
        while self._slots and self._slots[0].data is not None:
            slot = self._slots.popleft()
            assert slot.data is not None
            self._out += slot.data
            if slot.close:
                break  # nothing is parsed after a closing request
        if self._slots or self._parser is not None:
            return
        if self.state is WebhookReceiverState.CLOSING:
            self._in.clear()
            self._pos = 0
            self._fsm.fire(_Input.FINISH)
            self._events.append(WebhookConnectionClosed(reason=self._closed_reason))
        else:
            self._idle_since = self._now
