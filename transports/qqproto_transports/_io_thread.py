"""``Bot(settings, io_thread=True)`` on asyncio and trio: the connection on its own thread.

A handler that blocks the application's loop (a synchronous tool call) also stops the
loop from sending heartbeats; after two missed intervals the platform ends the
connection (close code 4009, gateway.md §8.1) and the bot resumes.  The threaded driver
never had that problem: its I/O thread owns the socket and the session.  This module
gives the loop drivers the same shape, as an option:

* the **I/O thread** runs its own event loop (an asyncio loop, or a second trio run
  whose clock is the application's, so every ``now`` the bot compares is on one scale)
  and, on it, the driver's own gateway code unchanged: the socket, the session's timer,
  the session's HTTP requests (with a client of its own: an ``httpx.AsyncClient`` belongs
  to one loop);
* every event the session emits is handed to the **application's loop**
  (:class:`Handoff`), where the bot delivers it as usual: subscribers, the access gate,
  parsing, the reply windows, the handlers, the bot's HTTP client.  Everything a handler
  touches lives on that loop; only the session lives on the I/O thread, and what a
  handler asks of it (``mark_processed``, ``close``) is posted there.

Events cross in batches: the I/O thread appends to a list and wakes the application's
loop only when no wake-up is pending, so a burst costs one cross-thread call, not one
per event.  Backpressure (``max_pending_events``, :mod:`._backlog`) counts an event from
the moment it is handed over until the application has delivered it; the first handler
task it starts takes its count over (so at the limit, as without the option, that many
handler calls are in flight); reading pauses and resumes on the I/O thread.

This module is the runtime-independent part and the asyncio runner;
:mod:`._io_thread_trio` is the trio runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from qqproto import BotLogger
from qqproto.events import Event
from qqproto.gateway import SendHttpRequest, Stop

from ._backlog import Backlog
from ._bot import BotCore
from ._eager import start_eagerly
from ._handlers import Handler, handler_failed, settle, start_handler
from ._httpx import async_http_client, send_async

__all__ = ["Handoff", "IoThread", "run_asyncio_io_thread", "shadow_hooks"]

Schedule = Callable[[Callable[[], object]], object]


class Handoff:
    """Events from the I/O thread to the application's loop, in order, in batches.

    ``to_app(fn)`` runs ``fn`` soon on the application's loop (from any thread);
    ``deliver(event)`` delivers there; ``apply_pause(paused)`` pauses or resumes reading
    (called on the I/O thread, only when the state changes).
    """

    def __init__(self, backlog: Backlog, deliver: Callable[[Event], None], to_app: Schedule,
                 apply_pause: Callable[[bool], None], log: BotLogger) -> None:
        self._backlog, self._deliver, self._to_app = backlog, deliver, to_app
        self._apply_pause, self._log = apply_pause, log
        self._lock = threading.Lock()
        self._items: list[Event] = []
        self._scheduled = False
        self._applied = False  # the reading state last applied (I/O thread only)
        self._carry = False  # delivering an event whose count no task has taken yet
        #: Posts a call to the I/O thread (set by :class:`IoThread` once it runs).
        self.to_io: Schedule | None = None

    # -- the I/O thread ---------------------------------------------------------------
    def put(self, event: Event) -> None:
        """Hand ``event`` over (the bot's ``_deliver`` while the I/O thread runs)."""
        with self._lock:
            self._items.append(event)
            self._backlog.started()
            wake = not self._scheduled
            self._scheduled = True
        if wake:
            with contextlib.suppress(RuntimeError):  # the application's loop is gone
                self._to_app(self.drain)
        if self._backlog.paused and not self._applied:
            self.sync_pause()

    def sync_pause(self) -> None:
        """Make reading follow the backlog (on the I/O thread)."""
        paused = self._backlog.paused
        if paused != self._applied:
            self._applied = paused
            self._apply_pause(paused)

    # -- the application's loop -------------------------------------------------------
    def drain(self) -> None:
        """Deliver every event handed over so far, in order."""
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
        for event in items:
            self._carry = True  # the event's count passes to the first task it starts
            try:
                self._deliver(event)
            except Exception:  # pragma: no cover - delivery logs handler failures itself
                self._log.exception("delivering %s failed", type(event).__name__)
            finally:
                if self._carry:
                    self._carry = False
                    self.finished()

    def started(self) -> None:
        """A handler task is in flight (it counts until :meth:`finished`)."""
        if self._carry:  # it takes over the count of the event being delivered
            self._carry = False
            return
        with self._lock:
            changed = self._backlog.started()
        if changed:
            self._post_sync()

    def finished(self) -> None:
        """An event is delivered, or a handler task it started is done."""
        with self._lock:
            changed = self._backlog.finished()
        if changed:
            self._post_sync()

    def _post_sync(self) -> None:
        if self.to_io is not None:
            self.to_io(self.sync_pause)


class IoThread:
    """The bot's side of the I/O thread while it runs: closing it (before its loop runs,
    too) and posting calls to it."""

    def __init__(self, handoff: Handoff, close_now: Callable[[], object]) -> None:
        self.handoff = handoff
        self._close_now = close_now
        self._lock = threading.Lock()
        self._closing = False
        self._to_io: Schedule | None = None

    def started(self, to_io: Schedule) -> None:
        """The session has started on the I/O thread; ``to_io`` posts calls to it."""
        with self._lock:
            self._to_io = self.handoff.to_io = to_io
            closing = self._closing
        if closing:  # close() came before the thread's loop ran
            self._close_now()

    def close(self) -> None:
        """Close the connection cleanly (any thread)."""
        with self._lock:
            self._closing = True
            to_io = self._to_io
        if to_io is not None:
            to_io(self._close_now)

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the I/O thread (dropped once it has ended)."""
        with self._lock:
            to_io = self._to_io
        if to_io is not None:
            to_io(fn)


def shadow_hooks(bot: Any, io: IoThread, run_handler: Callable[[Handler, Event], None],
                 http: Callable[[SendHttpRequest], None]) -> Callable[[], None]:
    """Point the bot's delivery at the handoff (the I/O thread's side), its handler
    calls at ``run_handler`` (the application's side) and its session HTTP at ``http``
    (the I/O thread's client); the function that undoes it."""
    bot._io = io
    bot._to_gateway = io.call
    bot._deliver = io.handoff.put
    bot._run_handler = run_handler
    bot._http = http
    if bot._gate is not None:
        bot._gate.deliver = io.handoff.put

    def undo() -> None:
        for name in ("_deliver", "_run_handler", "_http"):
            bot.__dict__.pop(name, None)
        if bot._gate is not None:
            bot._gate.deliver = bot._deliver
        bot._io = bot._to_gateway = None

    return undo


# ====================================================================== asyncio

class _AsyncioHandlers:
    """Handler calls on the application's asyncio loop, as the driver makes them
    (plain functions inline, coroutines as eager tasks), counted in the handoff."""

    def __init__(self, bot: Any, loop: asyncio.AbstractEventLoop, handoff: Handoff) -> None:
        self.bot, self.loop, self.handoff = bot, loop, handoff
        self.tasks: set[asyncio.Task[Any]] = set()

    def run(self, handler: Handler, argument: Event) -> None:
        pending = start_handler(handler, argument, self.bot.log)
        if pending is None:
            return
        if isinstance(pending, Coroutine):
            task = start_eagerly(self.loop, pending)
            if task.done():
                self._failed(handler, argument, task)
                return
        else:
            task = self.loop.create_task(settle(handler, pending, argument, self.bot.log))
        self.tasks.add(task)
        self.handoff.started()
        task.add_done_callback(functools.partial(self._done, handler, argument))

    def _done(self, handler: Handler, argument: Event, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self._failed(handler, argument, task)
        self.handoff.finished()

    def _failed(self, handler: Handler, argument: Event, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            handler_failed(handler, argument, exc, self.bot.log)

    async def shutdown(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _perform(bot: Any, client: Any, cmd: SendHttpRequest) -> None:
    """A session's HTTP request, on the I/O thread's loop with its own client."""
    result = await send_async(client, cmd.request)
    bot._http_done(cmd.id, result, bot._loop.time())
    bot._after()


async def run_asyncio_io_thread(bot: Any, loop: asyncio.AbstractEventLoop) -> Stop:
    """``bot.run()`` with ``io_thread=True``: the connection on a thread of its own
    (``bot._serve()`` on a new loop there), handlers on ``loop``; the Stop."""
    handoff = Handoff(bot._backlog, functools.partial(BotCore._deliver, bot),
                      loop.call_soon_threadsafe, bot._pause, bot.log)
    io = IoThread(handoff, bot._close_now)
    handlers = _AsyncioHandlers(bot, loop, handoff)
    client = async_http_client(bot.settings, bot._env, bot._ssl_option)
    undo = shadow_hooks(bot, io, handlers.run,
                        lambda cmd: bot._spawn(_perform(bot, client, cmd)))
    result: asyncio.Future[Stop] = loop.create_future()

    def finish(outcome: Stop | BaseException) -> None:
        if result.done():
            return
        if isinstance(outcome, BaseException):
            result.set_exception(outcome)
        else:
            result.set_result(outcome)

    async def gateway() -> Stop:
        try:
            stop: Stop = await bot._serve()
            return stop
        finally:
            await client.aclose()

    def main() -> None:
        outcome: Stop | BaseException
        try:
            outcome = asyncio.run(gateway())
        except BaseException as exc:  # handed to run(), which raises it there
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the application's loop is gone
            loop.call_soon_threadsafe(finish, outcome)

    thread = threading.Thread(target=main, name="qqproto-gateway-io", daemon=True)
    thread.start()
    try:
        try:
            return await asyncio.shield(result)
        except asyncio.CancelledError:  # close cleanly, then let the cancellation through
            bot.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(result), 10.0)
            raise
    finally:
        handoff.drain()  # what was handed over before the end (SessionStopped…)
        await handlers.shutdown()
        undo()
        if bot._owns_http:
            await bot.http.aclose()
        bot._end_subscribers()
