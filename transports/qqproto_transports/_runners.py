"""Run one bot on a chosen transport for the command line, the same way on all three.

The command logic is a plain function ``handle(event, now) -> Reaction``: what to print
is its business, what to send back is a list of sans-IO REST calls, whether the event
counts as processed (or, on the webhook channel, failed: redeliver it), and whether to
stop.  Each runner executes that on its runtime, marks the event only after it was
handled (so ``--session-file`` restarts neither lose nor repeat an event), and turns
SIGINT/SIGTERM into a clean close.  :func:`run_events` serves any bot with the common
API (gateway or webhook); :func:`run_bot` builds a gateway bot for it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qqproto._commands import Stop
from qqproto.events import Dispatch, Event
from qqproto.gateway._session import GatewaySession

from ._shared import BotSettings

__all__ = ["TRANSPORTS", "Reaction", "TransportUnavailable", "run_bot", "run_events"]

TRANSPORTS = ("asyncio", "trio", "threaded")


@dataclass(slots=True)
class Reaction:
    """REST calls to run, whether to stop, and what the event counts as afterwards."""

    calls: list[Any] = field(default_factory=list)
    stop: bool = False
    processed: bool = True
    #: Webhook channel only: answer op 12 ``d=1`` so the platform redelivers it.
    failed: bool = False


Handler = Callable[[Event, float], Reaction | None]
MakeHandler = Callable[[GatewaySession], Handler]
#: Builds the bot for a transport name (called on that runtime) and its event handler.
MakeBot = Callable[[str], tuple[Any, Handler]]

_GATEWAY_BOTS = {"asyncio": ("asyncio_driver", "AsyncioBot"),
                 "trio": ("trio_driver", "TrioBot"),
                 "threaded": ("threaded_driver", "ThreadedBot")}


class TransportUnavailable(RuntimeError):
    """The chosen transport's driver (or its runtime) is not installed."""


def bot_class(transport: str, module: str, name: str) -> Any:
    """``qqproto_transports.<module>.<name>``, or :class:`TransportUnavailable`."""
    try:
        return getattr(__import__(f"qqproto_transports.{module}", fromlist=[name]), name)
    except ImportError as exc:
        raise TransportUnavailable(f"the {transport} transport is not available: {exc}"
                                   ) from None


def run_bot(transport: str, settings: BotSettings, *, session_file: str | None,
            env: Mapping[str, str], make_handler: MakeHandler) -> Stop:
    """Run a gateway bot until the session stops, a handler stops it, or a signal."""
    cls = bot_class(transport, *_GATEWAY_BOTS[transport])

    def make_bot(_: str) -> tuple[Any, Handler]:
        bot = cls(settings, session_file=session_file, env=dict(env))
        return bot, make_handler(bot.session)

    return run_events(transport, make_bot)


def run_events(transport: str, make_bot: MakeBot) -> Stop:
    """Run the bot ``make_bot`` builds, feeding its events to its handler, to the end."""
    runner = {"asyncio": _run_asyncio, "trio": _run_trio, "threaded": _run_threaded}
    if transport == "trio":
        bot_class(transport, "trio_driver", "TrioBot")  # trio itself may be missing
    return runner[transport](transport, make_bot)


def _settle(bot: Any, event: Event, reaction: Reaction | None) -> None:
    if reaction is not None and reaction.failed:
        bot.mark_failed(event)
    elif isinstance(event, Dispatch) and (reaction is None or reaction.processed):
        bot.mark_processed(event)


def _run_asyncio(transport: str, make_bot: MakeBot) -> Stop:
    import asyncio

    async def main() -> Stop:
        bot, handle = make_bot(transport)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bot.close)
        events = bot.events()
        runner = asyncio.create_task(bot.run())
        async for event in events:
            reaction = handle(event, loop.time())
            for call in reaction.calls if reaction else ():
                await bot.call(call)
            _settle(bot, event, reaction)
            if reaction and reaction.stop:
                bot.close()
        result: Stop = await runner
        return result

    return asyncio.run(main())


def _run_trio(transport: str, make_bot: MakeBot) -> Stop:
    import trio

    async def main() -> Stop:
        bot, handle = make_bot(transport)
        outcome: list[Stop | OSError] = []

        async def run() -> None:
            try:
                outcome.append(await bot.run())
            except OSError as exc:  # e.g. a webhook server cannot listen: re-raised below
                outcome.append(exc)

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
                _settle(bot, event, reaction)
                if reaction and reaction.stop:
                    bot.close()
            while not outcome:
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        if isinstance(outcome[0], OSError):
            raise outcome[0]
        return outcome[0]

    return trio.run(main)


def _run_threaded(transport: str, make_bot: MakeBot) -> Stop:
    bot, handle = make_bot(transport)

    def close(*_: object) -> None:
        bot.close(timeout=0)  # never wait here: this thread consumes the events

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, close)
    events = bot.events()
    bot.start()
    for event in events:
        reaction = handle(event, time.monotonic())
        for call in reaction.calls if reaction else ():
            bot.call(call)
        _settle(bot, event, reaction)
        if reaction and reaction.stop:
            close()
    stop: Stop = bot.join()
    return stop
