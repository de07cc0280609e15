"""asyncio-specific behaviour of AsyncioBot (the shared scenarios live in tests/loopback)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator

import pytest

from qqproto.events import ConnectionEnded, Dispatch, Event, Ready, SessionStopped
from qqproto.sim import Simulator
from qqproto_transports._shared import BotSettings
from qqproto_transports.asyncio_driver import AsyncioBot
from qqproto_transports.sim_server import SimulatorThread


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(heartbeat_interval_ms=1000), lifetime=60) as server:
        yield server


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def test_raising_handlers_are_logged_and_never_cost_the_connection(
    sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Event] = []

    async def main() -> None:
        bot = AsyncioBot(BotSettings.from_env(sim.env()), env={})

        @bot.on("C2C_MESSAGE_CREATE")
        def broken_sync(event: Dispatch) -> None:
            raise RuntimeError("sync handler bug")

        @bot.on("C2C_MESSAGE_CREATE")
        async def broken_async(event: Dispatch) -> None:
            raise RuntimeError("async handler bug")

        bot.on()(seen.append)
        runner = asyncio.create_task(bot.run())
        await wait_until(lambda: any(isinstance(e, Ready) for e in seen))
        await asyncio.to_thread(sim.inject_c2c_message, "U", "one")
        await asyncio.to_thread(sim.inject_c2c_message, "U", "two")
        await wait_until(lambda: sum(isinstance(e, Dispatch) and e.type == "C2C_MESSAGE_CREATE"
                                     for e in seen) == 2)
        bot.close()
        await runner

    asyncio.run(main())
    assert not any(isinstance(e, ConnectionEnded) and e.cause.name != "LOCAL_CLOSE"
                   for e in seen)
    failures = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert sorted(failures) == ["async handler bug"] * 2 + ["sync handler bug"] * 2


def test_events_iterator_ends_after_the_stop_and_nothing_leaks(sim: SimulatorThread) -> None:
    async def main() -> list[type]:
        bot = AsyncioBot(BotSettings.from_env(sim.env()), env={})
        kinds: list[type] = []
        events = bot.events()
        runner = asyncio.create_task(bot.run())
        async for event in events:
            kinds.append(type(event))
            if isinstance(event, Ready):
                bot.close()
        stop = await runner
        assert not stop.fatal
        await asyncio.sleep(0)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []
        return kinds

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        kinds = asyncio.run(main())
        gc.collect()
    assert kinds[0] is Ready and kinds[-1] is SessionStopped


def test_cancelling_run_closes_the_gateway_cleanly(sim: SimulatorThread) -> None:
    async def main() -> None:
        bot = AsyncioBot(BotSettings.from_env(sim.env()), env={})
        seen: list[Event] = []
        bot.on()(seen.append)
        runner = asyncio.create_task(bot.run())
        await wait_until(lambda: any(isinstance(e, Ready) for e in seen))
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        assert isinstance(seen[-1], SessionStopped)

    asyncio.run(main())
    closes = sim.call(lambda s, now: [f for f in s.frames if f.kind.name == "CLOSE"])
    assert closes, "the simulator saw no close frame"


def test_unverified_tls_contexts_are_refused() -> None:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    settings = BotSettings.from_env({"QQBOT_APP_ID": "1", "QQBOT_CLIENT_SECRET": "s"},
                                    ssl_context=context)
    with pytest.raises(ValueError, match="always verifies TLS"):
        AsyncioBot(settings, env={})
