"""``bot.stream_reply(event)``: a reply shown while it is written, on every driver.

The decisions (C2C streams, other chats get one message at the end; chunk bodies,
``stream_msg_id``, pacing, the 40007 prefix rule) are :class:`qqproto.rest.ReplyStream`'s.
This module only runs it: a pump (an anyio task on asyncio and trio, a thread for the
threads driver) performs the call the stream says is due, hands it back and sleeps until
the stream's timer or the application's next write::

    async with bot.stream_reply(event) as s:      # asyncio, trio
        async for token in llm(prompt):
            await s.write(token)

    with bot.stream_reply(event) as s:            # threads
        for token in llm(prompt):
            s.write(token)

Leaving the block closes the stream (the final chunk, or the fallback message) and waits
for it; a block that raised still closes it, so the user never sees an answer stuck in
"generating", and its exception goes on.  A failed stream raises its
:class:`~qqproto.errors.ApiError` from the next ``write`` and from the block's end.
"""

from __future__ import annotations

import contextlib
import math
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from qqproto.errors import ApiError
from qqproto.events import Dispatch, Event
from qqproto.models import InteractionCreate, MessageEvent, ModelEvent, parse_event
from qqproto.rest import (
    DEFAULT_STREAM_INTERVAL,
    ReplyStream,
    StreamChunk,
    StreamMode,
    StreamState,
)

#: States in which the application may still write (and so must close on leaving).
_OPEN = (StreamState.OPEN, StreamState.SENDING)

if TYPE_CHECKING:
    from qqproto.rest import ReplyContext, RestCall, RestClient

__all__ = ["AsyncStreamApi", "AsyncStreamReply", "SyncStreamApi", "SyncStreamReply"]


def _target(event: Event) -> MessageEvent | InteractionCreate:
    target: Event = parse_event(event) if isinstance(event, Dispatch) else event
    if not isinstance(target, MessageEvent | InteractionCreate):
        kind = target.type if isinstance(target, ModelEvent) else type(target).__name__
        raise TypeError(f"bot.stream_reply() answers a message or a button tap, not {kind}")
    return target


class _StreamBase:
    """What both halves share: the core stream and what it produced."""

    _stream: ReplyStream

    @property
    def stream(self) -> ReplyStream:
        """The sans-IO stream (``text``, ``chunks``, ``stream_msg_id``, ``sent``)."""
        return self._stream

    @property
    def chunks(self) -> list[StreamChunk]:
        return self._stream.chunks

    def _raise_failure(self) -> None:
        if self._stream.error is not None:
            raise self._stream.error


class AsyncStreamReply(_StreamBase):
    """The ``async with`` object of :meth:`AsyncStreamApi.stream_reply`."""

    def __init__(self, bot: AsyncStreamApi, stream: ReplyStream) -> None:
        self._bot, self._stream = bot, stream
        self._wake = anyio.Event()
        self._group: anyio.abc.TaskGroup | None = None

    async def write(self, text: str) -> None:
        """Append ``text`` to the answer (sent with the next chunk)."""
        self._raise_failure()
        self._stream.write(text, self._bot._now())
        self._wake.set()

    async def replace(self, text: str) -> None:
        """Make ``text`` the whole answer; it must begin with what was already shown
        (:class:`~qqproto.errors.StreamPrefixError` otherwise)."""
        self._raise_failure()
        self._stream.replace(text, self._bot._now())
        self._wake.set()

    async def __aenter__(self) -> AsyncStreamReply:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._pump)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._group is not None
        stream = self._stream
        if isinstance(exc, anyio.get_cancelled_exc_class()):
            # Cancelled (the bot is closing): stop at once, nothing more is sent.
            self._group.cancel_scope.cancel()
            await self._group.__aexit__(exc_type, exc, tb)
            return
        if stream.state in _OPEN:
            stream.close(self._bot._now())
            self._wake.set()
        # The block's own exception is not the group's: the pump finishes the stream.
        await self._group.__aexit__(None, None, None)
        if exc is None:
            self._raise_failure()

    async def _pump(self) -> None:
        stream, bot = self._stream, self._bot
        while not stream.done:
            call = stream.next_call(bot._now())
            if call is not None:
                with contextlib.suppress(ApiError):  # the call keeps it; the stream reads it
                    await bot.call(call)
                stream.call_finished(call, bot._now())
                continue
            timer = stream.get_timer()
            delay = math.inf if timer is None else max(0.0, timer - bot._now())
            with anyio.move_on_after(delay):
                await self._wake.wait()
            self._wake = anyio.Event()


class SyncStreamReply(_StreamBase):
    """The ``with`` object of :meth:`SyncStreamApi.stream_reply` (threads)."""

    def __init__(self, bot: SyncStreamApi, stream: ReplyStream) -> None:
        self._bot, self._stream = bot, stream
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, name="qqproto-stream",
                                        daemon=True)

    def write(self, text: str) -> None:
        """Append ``text`` to the answer (sent with the next chunk)."""
        with self._cond:
            self._raise_failure()
            self._stream.write(text, self._bot._now())
            self._cond.notify()

    def replace(self, text: str) -> None:
        """Make ``text`` the whole answer (see :meth:`AsyncStreamReply.replace`)."""
        with self._cond:
            self._raise_failure()
            self._stream.replace(text, self._bot._now())
            self._cond.notify()

    def __enter__(self) -> SyncStreamReply:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._cond:
            stream = self._stream
            if stream.state in _OPEN:
                stream.close(self._bot._now())
                self._cond.notify()
        self._thread.join()
        if exc is None:
            self._raise_failure()

    def _pump(self) -> None:
        stream, bot = self._stream, self._bot
        with self._cond:
            while not stream.done:
                call = stream.next_call(bot._now())
                if call is not None:
                    self._cond.release()
                    try:
                        bot.call(call)
                    except ApiError:
                        pass  # the call holds its error; the stream reads it
                    finally:
                        self._cond.acquire()
                    stream.call_finished(call, bot._now())
                    continue
                timer = stream.get_timer()
                self._cond.wait(None if timer is None else max(0.0, timer - bot._now()))


class _StreamApi:
    """Builds the core stream for an event (both halves)."""

    if TYPE_CHECKING:
        @property
        def rest(self) -> RestClient: ...

        replies: ReplyContext

        def _now(self) -> float: ...

    def _reply_stream(self, event: Event, markdown: bool, mode: StreamMode | str,
                      interval: float) -> ReplyStream:
        return ReplyStream.for_event(self.rest, self.replies, _target(event),
                                     now=self._now(), markdown=markdown,
                                     mode=StreamMode(mode), interval=interval)


class AsyncStreamApi(_StreamApi):
    """``bot.stream_reply`` on asyncio and trio."""

    if TYPE_CHECKING:
        async def call(self, call: RestCall[Any]) -> Any: ...

    def stream_reply(self, event: Event, *, markdown: bool = True,
                     mode: StreamMode | str = StreamMode.REPLACE,
                     interval: float = DEFAULT_STREAM_INTERVAL) -> AsyncStreamReply:
        """Answer a message or a tap while the answer is being written::

            async with bot.stream_reply(event) as s:
                await s.write("partial text")

        C2C chats see it grow (``stream_messages``, a chunk at most every ``interval``
        seconds); groups and guilds get one message when the block ends (they have no
        streaming, rest.md §2.1).  ``markdown=False`` sends plain text."""
        return AsyncStreamReply(self, self._reply_stream(event, markdown, mode, interval))


class SyncStreamApi(_StreamApi):
    """``bot.stream_reply`` on the threads driver (a blocking context manager)."""

    if TYPE_CHECKING:
        def call(self, call: RestCall[Any]) -> Any: ...

    def stream_reply(self, event: Event, *, markdown: bool = True,
                     mode: StreamMode | str = StreamMode.REPLACE,
                     interval: float = DEFAULT_STREAM_INTERVAL) -> SyncStreamReply:
        """As the asyncio bot's :meth:`AsyncStreamApi.stream_reply`, with ``with``."""
        return SyncStreamReply(self, self._reply_stream(event, markdown, mode, interval))
