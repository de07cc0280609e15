"""Run one bot on a chosen transport for the command line, the same way on all three.

The command logic is a plain function ``handle(event, now) -> Reaction``: what to print
is its business; what to answer is a reply (the bot sends it with ``bot.reply``), whether
the event counts as processed (or, on the webhook channel, failed: redeliver it), and
whether to stop.  The runner reads ``bot.events()`` in order, marks an event only after
it was handled (so ``--session-file`` restarts neither lose nor repeat an event) and
closes the bot cleanly on SIGINT/SIGTERM.  It uses the drivers' public API only.

Output is flushed once per batch, not once per line: a command that prints hands its
stream's ``flush`` to :func:`run_events`, and on asyncio and trio the runner calls it as
soon as the events that arrived together have been handled (a callback queued on the
loop after the first of them runs once the consumer waits for more), on threads after
every event, and at the end.  A reader of the pipe still sees each line before the
process waits for the network again; what it saves is a ``write`` system call per event.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from qqproto.events import Dispatch, Event
from qqproto.gateway import Stop

from ._common import driver

__all__ = ["Reaction", "run_events"]


@dataclass(slots=True)
class Reaction:
    """What to do after an event: a reply to send, whether to stop, how to mark it."""

    reply: tuple[Event, str] | None = None
    stop: bool = False
    processed: bool = True
    #: Webhook channel only: answer op 12 ``d=1`` so the platform redelivers it.
    failed: bool = False


Handler = Callable[[Event, float], Reaction | None]
#: Builds the bot (with the driver module of the chosen transport) and its handler.
MakeBot = Callable[[ModuleType], tuple[Any, Handler]]


def run_events(transport: str, make_bot: MakeBot,
               flush: Callable[[], None] | None = None) -> Stop:
    """Run the bot ``make_bot`` builds, feeding its events to its handler, to the end;
    ``flush`` (the output's) after each batch of events handled together."""
    module = driver(transport)
    runner = {"asyncio": _run_asyncio, "trio": _run_trio}.get(transport, _run_threaded)
    return runner(module, make_bot, flush or _nothing)


def _nothing() -> None:
    return None


class _Batches:
    """Calls ``flush`` once after each batch of events: :meth:`handled` queues it with
    ``later`` (the loop runs it when the consumer next waits) unless it is queued
    already.  A flush that fails (the reader of the pipe went away) closes the bot and
    is raised again by :meth:`end`, where the consumer sees it."""

    def __init__(self, bot: Any, flush: Callable[[], None],
                 later: Callable[[Callable[[], None]], object]) -> None:
        self._bot, self._flush, self._later = bot, flush, later
        self._queued = False
        self._failure: BaseException | None = None

    def handled(self) -> None:
        if not self._queued:
            self._queued = True
            self._later(self._run)

    def _run(self) -> None:
        self._queued = False
        if self._failure is None:
            try:
                self._flush()
            except Exception as exc:  # e.g. BrokenPipeError: stop, report it in end()
                self._failure = exc
                self._bot.close()

    def end(self) -> None:
        if self._failure is None:
            self._flush()
        if self._failure is not None:
            raise self._failure


def _settle(bot: Any, event: Event, reaction: Reaction | None) -> None:
    if reaction is not None and reaction.failed:
        bot.mark_failed(event)
    elif isinstance(event, Dispatch) and (reaction is None or reaction.processed) \
            and not bot.settings.auto_mark_processed:  # else the bot marked it on delivery
        bot.mark_processed(event)


async def _consume(bot: Any, events: AsyncIterator[Event], handle: Handler,
                   clock: Callable[[], float], batches: _Batches) -> None:
    """Hand each event to ``handle`` in order; send its reply, mark it, stop when asked."""
    try:
        async for event in events:
            reaction = handle(event, clock())
            batches.handled()
            if reaction is not None and reaction.reply is not None:
                await bot.reply(*reaction.reply)
            _settle(bot, event, reaction)
            if reaction and reaction.stop:
                bot.close()
    finally:
        batches.end()


def _run_asyncio(module: ModuleType, make_bot: MakeBot, flush: Callable[[], None]) -> Stop:
    import asyncio

    async def main() -> Stop:
        bot, handle = make_bot(module)
        loop = asyncio.get_running_loop()
        events = bot.events()
        runner = asyncio.create_task(bot.run())  # on this thread: it handles the signals
        await _consume(bot, events, handle, loop.time, _Batches(bot, flush, loop.call_soon))
        result: Stop = await runner
        return result

    return asyncio.run(main())


def _run_trio(module: ModuleType, make_bot: MakeBot, flush: Callable[[], None]) -> Stop:
    import trio

    async def main() -> Stop:
        bot, handle = make_bot(module)
        outcome: list[Stop | OSError] = []
        batches = _Batches(bot, flush, trio.lowlevel.current_trio_token().run_sync_soon)

        async def run() -> None:
            try:
                outcome.append(await bot.run())
            except OSError as exc:  # e.g. a webhook server cannot listen: re-raised below
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            events = bot.events()
            nursery.start_soon(run)
            await _consume(bot, events, handle, trio.current_time, batches)
            while not outcome:
                await trio.sleep(0.01)
        if isinstance(outcome[0], OSError):
            raise outcome[0]
        return outcome[0]

    return trio.run(main)


def _run_threaded(module: ModuleType, make_bot: MakeBot, flush: Callable[[], None]) -> Stop:
    bot, handle = make_bot(module)

    def close(*_: object) -> None:
        bot.close(timeout=0)  # never wait here: this thread consumes the events

    # The bot runs on a background thread, where signals cannot be caught: catch them here.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, close)
    events = bot.events()
    bot.start()
    try:
        for event in events:
            reaction = handle(event, time.monotonic())
            flush()  # no loop to tell when a batch ends: after every event
            if reaction is not None and reaction.reply is not None:
                bot.reply(*reaction.reply)
            _settle(bot, event, reaction)
            if reaction and reaction.stop:
                close()
    except BaseException:
        close()
        raise
    stop: Stop = bot.join()
    return stop
