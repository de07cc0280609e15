"""Run one bot on a chosen transport for the command line, the same way on all three.

The command logic is a plain function ``handle(event, now) -> Reaction``: what to print
is its business; what to answer is a reply (the bot sends it with ``bot.reply``), whether
the event counts as processed (or, on the webhook channel, failed: redeliver it), and
whether to stop.  The runner reads ``bot.events()`` in order, marks an event only after
it was handled (so ``--session-file`` restarts neither lose nor repeat an event) and
closes the bot cleanly on SIGINT/SIGTERM.  It uses the drivers' public API only.
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


def run_events(transport: str, make_bot: MakeBot) -> Stop:
    """Run the bot ``make_bot`` builds, feeding its events to its handler, to the end."""
    module = driver(transport)
    runner = {"asyncio": _run_asyncio, "trio": _run_trio}.get(transport, _run_threaded)
    return runner(module, make_bot)


def _settle(bot: Any, event: Event, reaction: Reaction | None) -> None:
    if reaction is not None and reaction.failed:
        bot.mark_failed(event)
    elif isinstance(event, Dispatch) and (reaction is None or reaction.processed):
        bot.mark_processed(event)


async def _consume(bot: Any, events: AsyncIterator[Event], handle: Handler,
                   clock: Callable[[], float]) -> None:
    """Hand each event to ``handle`` in order; send its reply, mark it, stop when asked."""
    async for event in events:
        reaction = handle(event, clock())
        if reaction is not None and reaction.reply is not None:
            await bot.reply(*reaction.reply)
        _settle(bot, event, reaction)
        if reaction and reaction.stop:
            bot.close()


def _run_asyncio(module: ModuleType, make_bot: MakeBot) -> Stop:
    import asyncio

    async def main() -> Stop:
        bot, handle = make_bot(module)
        loop = asyncio.get_running_loop()
        events = bot.events()
        runner = asyncio.create_task(bot.run())  # on this thread: it handles the signals
        await _consume(bot, events, handle, loop.time)
        result: Stop = await runner
        return result

    return asyncio.run(main())


def _run_trio(module: ModuleType, make_bot: MakeBot) -> Stop:
    import trio

    async def main() -> Stop:
        bot, handle = make_bot(module)
        outcome: list[Stop | OSError] = []

        async def run() -> None:
            try:
                outcome.append(await bot.run())
            except OSError as exc:  # e.g. a webhook server cannot listen: re-raised below
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            events = bot.events()
            nursery.start_soon(run)
            await _consume(bot, events, handle, trio.current_time)
            while not outcome:
                await trio.sleep(0.01)
        if isinstance(outcome[0], OSError):
            raise outcome[0]
        return outcome[0]

    return trio.run(main)


def _run_threaded(module: ModuleType, make_bot: MakeBot) -> Stop:
    bot, handle = make_bot(module)

    def close(*_: object) -> None:
        bot.close(timeout=0)  # never wait here: this thread consumes the events

    # The bot runs on a background thread, where signals cannot be caught: catch them here.
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, close)
    events = bot.events()
    bot.start()
    for event in events:
        reaction = handle(event, time.monotonic())
        if reaction is not None and reaction.reply is not None:
            bot.reply(*reaction.reply)
        _settle(bot, event, reaction)
        if reaction and reaction.stop:
            close()
    stop: Stop = bot.join()
    return stop
