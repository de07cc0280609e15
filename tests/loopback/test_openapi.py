"""The OpenAPI route table over real sockets on every driver: a handler asks for a share
link and answers a join request through ``bot.call(api_call(...))``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from qqproto.models import MessageEvent
from qqproto.rest import api_call
from qqproto.simulator import Simulator
from qqproto.simulator._openapi_routes import sim_join_decisions
from qqproto_transports.simulator import SimulatorThread
from tests.loopback.test_public_api import DRIVERS, running, wait_until


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(), lifetime=120) as server:
        yield server


def route_bot(driver: str) -> Any:
    def setup(bot: Any) -> None:
        def calls() -> tuple[Any, Any]:
            return (api_call(bot.rest, "generate_url_link", callback_data="from-chat"),
                    api_call(bot.rest, "approve_join_request", group_openid="G9",
                             member_openid="M9", op="approve", join_request_id="J9"))

        if driver == "threads":
            @bot.on(MessageEvent)
            def answer(event: MessageEvent) -> None:
                link, approval = calls()
                assert bot.call(approval) == {}
                bot.reply(event, bot.call(link))
        else:
            @bot.on(MessageEvent)
            async def answer(event: MessageEvent) -> None:  # type: ignore[misc]
                link, approval = calls()
                assert await bot.call(approval) == {}
                await bot.reply(event, await bot.call(link))
    return setup


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_routes_run_through_bot_call_on_every_driver(driver: str,
                                                     sim: SimulatorThread) -> None:
    with running(driver, "gateway", sim, route_bot(driver)):
        sim.inject_c2c_message("USER_A", "link please")
        [sent] = wait_until(lambda: sim.sent_messages() or None, "the reply")
        decisions = sim.call(lambda s, now: list(sim_join_decisions(s)))
    assert sent.content == ("https://qun.qq.com/qunpro/robot/qunshare?robot_appid="
                            f"{sim.sim.app_id}&data=from-chat")
    [decision] = decisions
    assert (decision.group_openid, decision.member_openid, decision.body) == (
        "G9", "M9", {"op": "approve", "join_request_id": "J9"})
