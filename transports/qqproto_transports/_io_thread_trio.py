"""``Bot(settings, io_thread=True)`` on trio: the connection in a trio run of its own, on
its own thread; handlers in the application's run (the design is :mod:`._io_thread`'s).

The two runs share one clock: trio gives every run a clock with a random offset, and the
bot compares times taken on both sides (a reply window opened at delivery, a token's
expiry set by the session and checked by a reply), so the I/O thread's run reads the
application's clock.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any

import trio

from qqproto.events import Event
from qqproto.gateway import SendHttpRequest, Stop

from ._bot import BotCore
from ._handlers import Handler, settle, start_handler
from ._httpx import async_http_client, send_async
from ._io_thread import Handoff, IoThread, shadow_hooks

__all__ = ["run_trio_io_thread"]

#: How long a cancelled ``run()`` waits for the clean close (as the trio driver does).
_CLOSE_GRACE = 10.0


class _SameClock(trio.abc.Clock):
    """The application's clock, read from the I/O thread's run."""

    def __init__(self, clock: trio.abc.Clock) -> None:
        self._clock = clock

    def start_clock(self) -> None:
        return None

    def current_time(self) -> float:
        return self._clock.current_time()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        return max(0.0, deadline - self._clock.current_time())


class _TrioHandlers:
    """Handler calls in the application's run, as the driver makes them (plain functions
    and coroutines that cannot suspend inline, others as tasks of ``nursery``)."""

    def __init__(self, bot: Any, nursery: trio.Nursery, handoff: Handoff) -> None:
        self.bot, self.nursery, self.handoff = bot, nursery, handoff

    def run(self, handler: Handler, argument: Event) -> None:
        pending = start_handler(handler, argument, self.bot.log)
        if pending is not None:
            self.handoff.started()
            self.nursery.start_soon(self._settle, handler, pending, argument)

    async def _settle(self, handler: Handler, pending: Any, argument: Event) -> None:
        try:
            await settle(handler, pending, argument, self.bot.log)
        finally:
            self.handoff.finished()


async def _perform(bot: Any, client: Any, cmd: SendHttpRequest) -> None:
    """A session's HTTP request, in the I/O thread's run with its own client."""
    result = await send_async(client, cmd.request)
    bot._http_done(cmd.id, result, trio.current_time())
    bot._after()


async def run_trio_io_thread(bot: Any) -> Stop:
    """``bot.run()`` with ``io_thread=True``: ``bot._serve()`` in a trio run on a thread
    of its own, handlers in this run; the Stop."""
    token = trio.lowlevel.current_trio_token()
    clock = _SameClock(trio.lowlevel.current_clock())
    client = async_http_client(bot.settings, bot._env, bot._ssl_option)
    outcome: list[Stop | BaseException] = []
    ended = trio.Event()

    def finish(result: Stop | BaseException) -> None:
        outcome.append(result)
        ended.set()

    async def gateway() -> Stop:
        try:
            stop: Stop = await bot._serve(False)
            return stop
        finally:
            with trio.CancelScope(shield=True):
                await client.aclose()

    def main() -> None:
        result: Stop | BaseException
        try:
            result = trio.run(gateway, clock=clock)
        except BaseException as exc:  # handed to run(), which raises it there
            result = exc
        with contextlib.suppress(trio.RunFinishedError):  # the application's run is over
            token.run_sync_soon(finish, result)

    async with trio.open_nursery() as nursery:
        handoff = Handoff(bot._backlog, functools.partial(BotCore._deliver, bot),
                          token.run_sync_soon, bot._pause, bot.log)
        io = IoThread(handoff, bot._close_now)
        handlers = _TrioHandlers(bot, nursery, handoff)

        def http(cmd: SendHttpRequest) -> None:
            if bot._nursery is not None:
                bot._nursery.start_soon(_perform, bot, client, cmd)

        undo = shadow_hooks(bot, io, handlers.run, http)
        thread = threading.Thread(target=main, name="qqproto-gateway-io", daemon=True)
        thread.start()
        try:
            await ended.wait()
        finally:
            with trio.CancelScope(shield=True):
                if not ended.is_set():  # run() was cancelled: close cleanly first
                    bot.close()
                    with trio.move_on_after(_CLOSE_GRACE):
                        await ended.wait()
                handoff.drain()  # what was handed over before the end (SessionStopped…)
                nursery.cancel_scope.cancel()  # handler tasks still running
                undo()
                if bot._owns_http:
                    await bot.http.aclose()
                bot._end_subscribers()
    result = outcome[0] if outcome else None
    if isinstance(result, BaseException):
        raise result
    if result is None:  # pragma: no cover - cancelled: trio raised Cancelled above
        raise RuntimeError("the gateway thread did not finish")
    return result
