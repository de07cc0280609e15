"""Run one bot on a chosen transport for the command line, the same way on all three.

The command logic is a plain function ``handle(event, now) -> Reaction``: what to print
is its business, what to send back is a list of sans-IO REST calls, and whether to stop.
Each runner executes that on its runtime, marks the event processed only after it was
handled (so ``--session-file`` restarts neither lose nor repeat an event), and turns
SIGINT/SIGTERM into a clean close.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qqproto._commands import Stop
from qqproto._session import GatewaySession
from qqproto.events import Dispatch, Event

from ._shared import BotSettings

__all__ = ["TRANSPORTS", "Reaction", "TransportUnavailable", "run_bot"]

TRANSPORTS = ("asyncio", "trio", "threaded")


@dataclass(slots=True)
class Reaction:
    """REST calls to run, whether to stop, whether the event counts as processed."""

    calls: list[Any] = field(default_factory=list)
    stop: bool = False
    processed: bool = True


Handler = Callable[[Event, float], Reaction | None]
MakeHandler = Callable[[GatewaySession], Handler]


class TransportUnavailable(RuntimeError):
    """The chosen transport's driver (or its runtime) is not installed."""


def _seq(event: Event, reaction: Reaction | None) -> int | None:
    if reaction is not None and not reaction.processed:
        return None
    return event.seq if isinstance(event, Dispatch) else None


def run_bot(transport: str, settings: BotSettings, *, session_file: str | None,
            env: Mapping[str, str], make_handler: MakeHandler) -> Stop:
    """Run until the session stops, a handler asks to stop, or SIGINT/SIGTERM."""
    runner = {"asyncio": _run_asyncio, "trio": _run_trio, "threaded": _run_threaded}[transport]
    return runner(settings, session_file, dict(env), make_handler)


def _run_asyncio(settings: BotSettings, session_file: str | None, env: dict[str, str],
                 make_handler: MakeHandler) -> Stop:
    import asyncio

    from .asyncio_driver import AsyncioBot

    async def main() -> Stop:
        bot = AsyncioBot(settings, session_file=session_file, env=env)
        handle = make_handler(bot.session)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bot.close)
        events = bot.events()
        runner = asyncio.create_task(bot.run())
        async for event in events:
            reaction = handle(event, loop.time())
            for call in reaction.calls if reaction else ():
                await bot.call(call)
            bot.mark_processed(_seq(event, reaction))
            if reaction and reaction.stop:
                bot.close()
        return await runner

    return asyncio.run(main())


def _run_trio(settings: BotSettings, session_file: str | None, env: dict[str, str],
              make_handler: MakeHandler) -> Stop:
    try:
        import trio

        from .trio_driver import TrioBot
    except ImportError as exc:
        raise TransportUnavailable(f"the trio transport is not available: {exc}") from None

    async def main() -> Stop:
        bot = TrioBot(settings, session_file=session_file, env=env)
        handle = make_handler(bot.session)
        result: list[Stop] = []

        async def run() -> None:
            result.append(await bot.run())

        async def signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                async for _ in received:
                    bot.close()

        async with trio.open_nursery() as nursery:
            events = bot.events()
            nursery.start_soon(run)
            nursery.start_soon(signals)
            async for event in events:
                reaction = handle(event, trio.current_time())
                for call in reaction.calls if reaction else ():
                    await bot.call(call)
                bot.mark_processed(_seq(event, reaction))
                if reaction and reaction.stop:
                    bot.close()
            while not result:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        return result[0]

    return trio.run(main)


def _run_threaded(settings: BotSettings, session_file: str | None, env: dict[str, str],
                  make_handler: MakeHandler) -> Stop:
    try:
        from .threaded_driver import ThreadedBot
    except ImportError as exc:
        raise TransportUnavailable(f"the threaded transport is not available: {exc}") from None
    bot = ThreadedBot(settings, session_file=session_file, env=env)
    handle = make_handler(bot.session)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: bot.close())
    events = bot.events()
    bot.start()
    for event in events:
        reaction = handle(event, time.monotonic())
        for call in reaction.calls if reaction else ():
            bot.call(call)
        bot.mark_processed(_seq(event, reaction))
        if reaction and reaction.stop:
            bot.close()
    stop: Stop = bot.join()
    return stop
