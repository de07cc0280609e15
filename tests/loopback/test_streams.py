"""``bot.stream_reply`` over real sockets on every driver: a C2C answer grows chunk by
chunk against the simulator's ``stream_messages``; a group answer arrives as one message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from qqproto.models import MessageEvent
from qqproto.simulator import Simulator
from qqproto.simulator._streams import sim_streams
from qqproto_transports.simulator import SimulatorThread
from tests.loopback.test_public_api import DRIVERS, running, wait_until

PARTS = ("Hel", "lo", " wor", "ld")


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(), lifetime=120) as server:
        yield server


def streaming_bot(driver: str) -> Any:
    def setup(bot: Any) -> None:
        if driver == "threads":
            @bot.on(MessageEvent)
            def answer(event: MessageEvent) -> None:
                with bot.stream_reply(event, interval=0.05) as s:
                    for part in PARTS:
                        s.write(part)
                        time.sleep(0.08)
        else:
            @bot.on(MessageEvent)
            async def answer(event: MessageEvent) -> None:  # type: ignore[misc]
                async with bot.stream_reply(event, interval=0.05) as s:
                    for part in PARTS:
                        await s.write(part)
                        await anyio.sleep(0.08)
    return setup


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_c2c_answer_streams_and_a_group_answer_arrives_whole(
        driver: str, sim: SimulatorThread) -> None:
    with running(driver, "gateway", sim, streaming_bot(driver)):
        hello = sim.inject_c2c_message("USER_A", "hello")
        group = sim.inject_group_at_message("GROUP_1", "MEMBER_B", "hi")

        def both() -> list[Any] | None:
            sent = sim.sent_messages()
            return sent if len(sent) >= 2 else None

        sent = {m.scope: m for m in wait_until(both, "both answers")}
        chunks = sim.call(lambda s, now: [list(st.chunks) for st in
                                          sim_streams(s).streams.values()])
    streamed, whole = sent["c2c"], sent["group"]
    assert (streamed.target, streamed.msg_id, streamed.msg_seq) == ("USER_A",
                                                                    hello.data["id"], 1)
    assert streamed.body["content_raw"] == "Hello world" and streamed.body["stream"]
    [stream] = chunks
    assert [c["index"] for c in stream] == list(range(len(stream)))
    assert len(stream) >= 3  # the answer grew on the user's screen
    assert [c["input_state"] for c in stream] == [1] * (len(stream) - 1) + [10]
    assert all(c["stream_msg_id"] == streamed.id for c in stream[1:])
    assert (whole.target, whole.msg_id, whole.msg_seq, whole.body["markdown"]) == (
        "GROUP_1", group.data["id"], 1, {"content": "Hello world"})
