"""Testing a bot against the simulator with pytest (docs/writing-a-bot.rst).

The bot under test is bot_asyncio.make_bot.  The simulator runs on the test's own event
loop, listens on 127.0.0.1 only, and records everything the bot sends; faults are one
call away.  No QQ account, no network, no sleeping on a guess.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from bot_asyncio import make_bot

from qqproto import Settings
from qqproto.simulator import Simulator
from qqproto_transports.simulator import SimulatorServer, serve_simulator

T = TypeVar("T")


async def until(check: Callable[[], T], timeout: float = 10.0) -> T:
    """Wait until ``check()`` returns something true, and return it."""
    async with asyncio.timeout(timeout):
        while not (value := check()):
            await asyncio.sleep(0.01)
    return value


def acks(sim: SimulatorServer) -> list[tuple[str, int]]:
    """The interaction ACKs the simulator received: (interaction id, code)."""
    return sim.call(lambda s, now: [(a.interaction_id, a.code) for a in s.interaction_acks])


async def poll_and_tap() -> None:
    async with serve_simulator(Simulator()) as sim:
        bot = make_bot(Settings.from_env(sim.env()))
        running = asyncio.create_task(bot.run(handle_signals=False))
        await until(lambda: sim.counters().identifies)

        sim.inject_c2c_message("USER_1", "poll")
        [question] = await until(sim.sent_messages)
        buttons = question.body["keyboard"]["content"]["rows"][0]["buttons"]
        assert [b["action"]["data"] for b in buttons] == ["vote:yes", "vote:no"]

        tap = sim.inject_interaction("c2c", user_openid="USER_1", button_data="vote:yes")
        [answer] = await until(lambda: sim.sent_messages()[1:])
        assert (answer.content, answer.event_id) == ("Noted: vote:yes", tap.id)
        assert await until(lambda: acks(sim)) == [(tap.data["id"], 0)]  # 0: success

        bot.close()
        await running


async def reconnect() -> None:
    async with serve_simulator(Simulator()) as sim:
        bot = make_bot(Settings.from_env(sim.env()))
        running = asyncio.create_task(bot.run(handle_signals=False))
        await until(lambda: sim.counters().identifies)

        sim.drop_connections()  # a TCP reset, no close frame
        sim.inject_c2c_message("USER_1", "still there?")
        [reply] = await until(sim.sent_messages)
        assert reply.content == "still there?"
        assert (sim.counters().identifies, sim.counters().resumes) == (1, 1)

        bot.close()
        await running


def test_a_poll_gets_buttons_and_a_tap_gets_an_answer() -> None:
    asyncio.run(poll_and_tap())


def test_the_bot_resumes_after_a_dropped_connection_and_misses_nothing() -> None:
    asyncio.run(reconnect())
