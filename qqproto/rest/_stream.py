"""Streaming replies: an answer shown while it is generated (rest.md §2.1, §11 item 8).

C2C only: ``POST /v2/users/{openid}/stream_messages``.  Every chunk of one stream names
the message it answers (``msg_id``/``event_id``) with one ``msg_seq``, counts ``index``
up from 0, says ``input_state`` 1 (generating) or 10 (done), and from the second chunk on
carries the ``stream_msg_id`` the first answer returned (autogen page
v2_users_user_openid_stream_messages.post).  Other chats have no streaming; there the
same object collects the text and sends it as one ordinary reply when it is closed (the
documented fallback, rest.md §2.1 "group has no streaming").

:class:`ReplyStream` is sans-IO.  The application feeds text in (:meth:`write`,
:meth:`replace`, :meth:`close`); a driver asks :meth:`next_call` for the chunk that is due,
runs it, hands it back with :meth:`call_finished`, and sleeps until :meth:`get_timer`::

    stream = ReplyStream.for_event(rest, replies, event, now=now())
    stream.write("Thinking", now())          # from the application, any time
    while not stream.done:                   # the driver's pump
        call = stream.next_call(now())
        if call is not None:
            run(call)                        # next_request/receive_response until done
            stream.call_finished(call, now())
        else:
            wait until stream.get_timer() or until the application wrote or closed

Pacing: one chunk in flight at a time, and a new chunk at most every ``interval`` seconds
(text written meanwhile rides on the next one).  The endpoint allows 50 QPS per bot
(rest.md §2.1): the default of one chunk per second keeps 50 simultaneous streams within
it; the final chunk waits only for the 1/50 s gap.

Modes (``input_mode``): ``replace`` (the official examples) sends the whole text so far
in every chunk, so a chunk may rewrite text the user has not seen yet; ``append`` (the
endpoint's default) sends only what was added.  Either way the text already shown to the
user cannot change (``40007``).  When that part begins is not documented —
``remain_msg_len`` reads as "characters not yet shown" or as "characters left", the page
does not say — so the safe reading is taken: everything the platform has accepted counts
as shown, and :meth:`replace` refuses (:class:`~qqproto.errors.StreamPrefixError`, before
anything is sent) a text that does not begin with it.  ``remain_msg_len`` is reported as
sent, unused.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .._fsm import StateMachine
from .._http import HttpResponse, json_request
from .._log import bot_logger
from .._values import ChatScope
from ..errors import (
    ApiError,
    ExhaustedReason,
    LocalProtocolError,
    ReplyExhaustedError,
    StreamPrefixError,
    TransitionError,
)
from ..models import InboundMessage, InteractionCreate, MessageEvent
from ._call import RestCall
from ._conversation import reply_to
from ._errors import response_json_object
from ._messages import DEFAULT_TIMEOUT, AuditPending, Markdown, MessageSent, OutgoingMessage
from ._messages import path_id as _path_id

if TYPE_CHECKING:
    from ._client import RestClient
    from ._replies import ReplyContext

__all__ = [
    "DEFAULT_STREAM_INTERVAL",
    "TRANSITIONS",
    "ReplyStream",
    "StreamChunk",
    "StreamMode",
    "StreamState",
]

#: rest.md §2.1: stream_messages allows 50 QPS; one chunk per second per stream.
DEFAULT_STREAM_INTERVAL: Final = 1.0
#: The smallest gap between two chunks of one stream (50 QPS).
MIN_GAP: Final = 1 / 50
#: input_state values (autogen page): 1 generating, 10 done.
GENERATING: Final = 1
DONE: Final = 10


class StreamMode(enum.StrEnum):
    """``input_mode`` of the chunks."""

    #: Each chunk carries the whole text so far (the official examples).
    REPLACE = "replace"
    #: Each chunk carries only the text added since the last one.
    APPEND = "append"


class StreamState(enum.Enum):
    """Where a :class:`ReplyStream` stands."""

    OPEN = enum.auto()
    SENDING = enum.auto()
    CLOSING = enum.auto()
    CLOSING_SENDING = enum.auto()
    FINAL_SENDING = enum.auto()
    DONE = enum.auto()
    FAILED = enum.auto()


class _Input(enum.Enum):
    #: A chunk (input_state 1) was handed out.
    SEND = enum.auto()
    #: The outstanding chunk or message was accepted.
    ANSWER = enum.auto()
    #: The application closed the stream.
    CLOSE = enum.auto()
    #: The final chunk (or a part of the fallback message) was handed out.
    SEND_FINAL = enum.auto()
    #: A part of the fallback message was accepted and another one follows.
    MORE = enum.auto()
    #: Closed without any text: nothing to send.
    EMPTY = enum.auto()
    #: The outstanding call failed.
    FAIL = enum.auto()


_S, _I = StreamState, _Input

#: The stream's transition table (drawn in docs/state-machines.rst).
TRANSITIONS: Final = {
    (_S.OPEN, _I.SEND): _S.SENDING,
    (_S.SENDING, _I.ANSWER): _S.OPEN,
    (_S.OPEN, _I.CLOSE): _S.CLOSING,
    (_S.SENDING, _I.CLOSE): _S.CLOSING_SENDING,
    (_S.CLOSING_SENDING, _I.ANSWER): _S.CLOSING,
    (_S.CLOSING, _I.SEND_FINAL): _S.FINAL_SENDING,
    (_S.CLOSING, _I.EMPTY): _S.DONE,
    (_S.FINAL_SENDING, _I.ANSWER): _S.DONE,
    (_S.FINAL_SENDING, _I.MORE): _S.CLOSING,
    (_S.SENDING, _I.FAIL): _S.FAILED,
    (_S.CLOSING_SENDING, _I.FAIL): _S.FAILED,
    (_S.FINAL_SENDING, _I.FAIL): _S.FAILED,
}

_WRITABLE: Final = frozenset({StreamState.OPEN, StreamState.SENDING})
_IN_FLIGHT: Final = frozenset({StreamState.SENDING, StreamState.CLOSING_SENDING,
                               StreamState.FINAL_SENDING})


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamChunk:
    """The platform's answer to one chunk.  ``stream_msg_id`` is the answer's ``id`` (the
    first answer creates it); ``remain_msg_len`` is as sent (see the module docstring)."""

    stream_msg_id: str | None
    index: int
    final: bool
    timestamp: int | str | None = None
    ref_idx: str | None = None
    remain_msg_len: int | None = None


def _opt_id(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _parse_chunk(index: int, final: bool) -> Callable[[HttpResponse], StreamChunk]:
    def parse(response: HttpResponse) -> StreamChunk:
        body = response_json_object(response) or {}
        timestamp = body.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | str):
            timestamp = None
        ext = body.get("ext_info")
        remain = body.get("remain_msg_len")
        if isinstance(remain, bool) or not isinstance(remain, int) or remain < 0:
            remain = None
        return StreamChunk(stream_msg_id=_opt_id(body.get("id")), index=index, final=final,
                           timestamp=timestamp,
                           ref_idx=_opt_id(ext.get("ref_idx")) if isinstance(ext, dict)
                           else None,
                           remain_msg_len=remain)
    return parse


class ReplyStream:
    """One streamed reply (see the module docstring).

    Build it with :meth:`for_event`, which picks streaming for a C2C message or tap and
    the one-message fallback elsewhere.  ``text`` is everything written so far;
    ``chunks`` the platform's answers in order; ``sent`` what the fallback message
    returned; ``error`` the failure that ended the stream.
    """

    def __init__(self, rest: RestClient, *, scope: ChatScope, target_id: str,
                 msg_id: str | None = None, event_id: str | None = None,
                 msg_seq: int | None = None, now: float, streaming: bool = True,
                 fallback: tuple[ReplyContext, MessageEvent | InboundMessage |
                                 InteractionCreate] | None = None,
                 markdown: bool = True, mode: StreamMode = StreamMode.REPLACE,
                 interval: float = DEFAULT_STREAM_INTERVAL) -> None:
        if streaming and ChatScope(scope) is not ChatScope.C2C:
            raise ValueError("stream_messages exists for c2c chats only (rest.md §2.1)")
        if streaming and (msg_id is None) == (event_id is None):
            raise ValueError("a streamed reply answers exactly one msg_id or event_id")
        if not streaming and fallback is None:
            raise ValueError("the fallback needs the reply context and the event")
        if interval < MIN_GAP:
            raise ValueError(f"interval must be at least {MIN_GAP} s")
        self._rest = rest
        self.scope = ChatScope(scope)
        _path_id(target_id, "target id")  # checked now, quoted when a chunk is built
        self.target_id = target_id
        self.msg_id, self.event_id, self.msg_seq = msg_id, event_id, msg_seq
        self.streaming = streaming
        self.markdown = markdown
        self.mode = StreamMode(mode)
        self.interval = interval
        self._fallback = fallback
        self.text = ""
        self._accepted = ""  # what the platform has taken: counts as shown (see above)
        self._in_flight_text = ""
        self._in_flight: RestCall[Any] | None = None
        self._final_calls: deque[RestCall[MessageSent | AuditPending]] | None = None
        self.stream_msg_id: str | None = None
        self.chunks: list[StreamChunk] = []
        self.sent: list[MessageSent | AuditPending] = []
        self.error: ApiError | None = None
        self._next_at = now  # the next chunk while generating (the interval)
        self._final_at = now  # the final chunk (the 50 QPS gap only)
        self._log = bot_logger("qqproto.rest", rest.token_state.app_id)
        self._fsm: StateMachine[StreamState, _Input] = StateMachine(
            "reply stream", StreamState.OPEN, TRANSITIONS, self._log)

    @classmethod
    def for_event(cls, rest: RestClient, replies: ReplyContext,
                  event: MessageEvent | InboundMessage | InteractionCreate, *, now: float,
                  markdown: bool = True, mode: StreamMode = StreamMode.REPLACE,
                  interval: float = DEFAULT_STREAM_INTERVAL) -> ReplyStream:
        """The stream that answers ``event``: streamed in C2C (one ``msg_seq`` from
        ``replies``, taken now), one message at :meth:`close` elsewhere."""
        options: dict[str, Any] = {"now": now, "markdown": markdown, "mode": mode,
                                   "interval": interval}
        if isinstance(event, InteractionCreate):
            scope, chat, event_id, msg_id = event.scope, event.chat_id, event.event_id, None
            if scope is None or not chat or not event_id:
                raise ValueError(f"interaction {event.id!r} does not say where to reply")
        else:
            message = event.message if isinstance(event, MessageEvent) else event
            scope, chat, event_id, msg_id = message.scope, message.chat_id, None, message.msg_id
        if ChatScope(scope) is not ChatScope.C2C:
            return cls(rest, scope=scope, target_id=chat, now=now, streaming=False,
                       fallback=(replies, event), markdown=markdown, mode=mode,
                       interval=interval)
        replies.received(scope, now=now, msg_id=msg_id, event_id=event_id)
        reply = replies.reply(scope, now=now, msg_id=msg_id, event_id=event_id)
        if not reply.passive:  # OnExhausted.ACTIVE: a stream cannot be an active message
            raise ReplyExhaustedError(reply.fallback or ExhaustedReason.UNKNOWN, scope,
                                      msg_id or event_id or "")
        return cls(rest, scope=scope, target_id=chat, msg_id=msg_id, event_id=event_id,
                   msg_seq=reply.msg_seq, **options)

    def __repr__(self) -> str:
        return (f"ReplyStream({self.scope.value}, state={self.state.name}, "
                f"{len(self.text)} chars, {len(self.chunks)} chunks)")

    @property
    def state(self) -> StreamState:
        return self._fsm.state

    @property
    def done(self) -> bool:
        """True once the final chunk (or message) was accepted, or the stream failed."""
        return self._fsm.state in (StreamState.DONE, StreamState.FAILED)

    @property
    def shown(self) -> str:
        """The text that can no longer change (the platform accepted it)."""
        return self._accepted

    # --- the application's side -------------------------------------------------------

    def _check_writable(self) -> None:
        if self._fsm.state not in _WRITABLE:
            raise LocalProtocolError(f"the stream is {self._fsm.state.name.lower()}; "
                                     "nothing more can be written")

    def write(self, text: str, now: float) -> None:
        """Append ``text``; it goes out with the next chunk."""
        self._check_writable()
        if not isinstance(text, str):
            raise TypeError("a stream takes str")
        self.text += text

    def replace(self, text: str, now: float) -> None:
        """Make ``text`` the whole answer.  It must begin with :attr:`shown` (the text the
        platform already accepted), else :class:`StreamPrefixError` and nothing changes."""
        self._check_writable()
        if not isinstance(text, str):
            raise TypeError("a stream takes str")
        locked = self._accepted if self.streaming else ""
        if not text.startswith(locked) or (
                self._in_flight is not None and not text.startswith(self._in_flight_text)):
            raise StreamPrefixError(
                "the new text changes what the user was already shown (40007)",
                code=40007)
        self.text = text

    def close(self, now: float) -> None:
        """No more text: the final chunk (or the fallback message) becomes due."""
        self._check_writable()
        self._fsm.fire(_Input.CLOSE)

    # --- the driver's side ------------------------------------------------------------

    def get_timer(self) -> float | None:
        """When :meth:`next_call` will have a call (``None``: only after an answer, a
        write or :meth:`close`)."""
        state = self._fsm.state
        if state is StreamState.OPEN and self.streaming and self.text != self._accepted:
            return self._next_at
        if state is StreamState.CLOSING:
            return self._final_at
        return None

    def next_call(self, now: float) -> RestCall[Any] | None:
        """The call that is due at ``now``, or ``None``.  One call is out at a time."""
        state = self._fsm.state
        if state is StreamState.OPEN:
            if not self.streaming or self.text == self._accepted or now < self._next_at:
                return None
            return self._chunk(_Input.SEND, now)
        if state is not StreamState.CLOSING:
            return None
        if not self.streaming:
            return self._next_fallback(now)
        if now < self._final_at:
            return None
        if not self.chunks and not self.text:
            self._fsm.fire(_Input.EMPTY)  # nothing was ever said: no message at all
            return None
        return self._chunk(_Input.SEND_FINAL, now)

    def call_finished(self, call: RestCall[Any], now: float) -> None:
        """Hand back the call :meth:`next_call` returned, once it is done."""
        if call is not self._in_flight or not call.done:
            raise LocalProtocolError("call_finished() takes the finished outstanding call")
        self._in_flight = None
        if call.error is not None:
            self.error = call.error
            self._fsm.fire(_Input.FAIL)
            self._log.debug("reply stream failed: %r", call.error)
            return
        result = call.result()
        if isinstance(result, StreamChunk):
            self.chunks.append(result)
            if self.stream_msg_id is None:
                self.stream_msg_id = result.stream_msg_id
            self._accepted = self._in_flight_text
        else:
            self.sent.append(result)
        if self._fsm.state is StreamState.FINAL_SENDING and self._final_calls:
            self._fsm.fire(_Input.MORE)
        else:
            self._fsm.fire(_Input.ANSWER)

    # --- internals ----------------------------------------------------------------------

    def _chunk(self, event: _Input, now: float) -> RestCall[StreamChunk]:
        final = event is _Input.SEND_FINAL
        text = self.text
        raw = text[len(self._accepted):] if self.mode is StreamMode.APPEND else text
        body: dict[str, Any] = {
            "input_mode": self.mode.value,
            "input_state": DONE if final else GENERATING,
            "index": len(self.chunks),
            "content_type": "markdown" if self.markdown else "text",
            "content_raw": raw,
        }
        if self.msg_id is not None:
            body["msg_id"] = self.msg_id
        else:
            body["event_id"] = self.event_id
        if self.stream_msg_id is not None:
            body["stream_msg_id"] = self.stream_msg_id
        if self.msg_seq is not None:
            body["msg_seq"] = self.msg_seq
        rest = self._rest
        headers = (("User-Agent", rest.user_agent),) if rest.user_agent else ()
        url = rest.endpoints.api_url(
            f"/v2/users/{_path_id(self.target_id, 'target id')}/stream_messages")
        request = json_request("POST", url, body, headers=headers, timeout=DEFAULT_TIMEOUT)
        call: RestCall[StreamChunk] = rest.call(
            request, _parse_chunk(len(self.chunks), final),
            name=f"stream chunk {len(self.chunks)}")
        self._fire(event)
        self._in_flight, self._in_flight_text = call, text
        self._next_at = now + self.interval
        self._final_at = now + MIN_GAP
        return call

    def _next_fallback(self, now: float) -> RestCall[MessageSent | AuditPending] | None:
        if self._final_calls is None:
            assert self._fallback is not None
            replies, event = self._fallback
            if not self.text:
                self._fsm.fire(_Input.EMPTY)
                return None
            message = (OutgoingMessage(markdown=Markdown(self.text)) if self.markdown
                       else OutgoingMessage(content=self.text))
            # rest.md §2.1: no streaming here; the documented fallback is one reply
            # (split only when it is longer than one message may be, §11.5).
            self._final_calls = deque(reply_to(self._rest, replies, event, message, now=now))
        call = self._final_calls.popleft()
        self._fire(_Input.SEND_FINAL)
        self._in_flight, self._in_flight_text = call, self.text
        return call

    def _fire(self, event: _Input) -> None:
        try:
            self._fsm.fire(event)
        except TransitionError:  # pragma: no cover - guarded by the callers
            raise LocalProtocolError(f"reply stream: {event.name} in {self.state.name}") from None
