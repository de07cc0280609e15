"""Testing your first bot with the ``qq_simulator`` fixture (docs/first-bot.rst).

``pip install 'qqproto[test]'`` brings the fixture; anyio's pytest plugin runs the async
tests.  Run them with ``pytest test_first_bot.py``.
"""

import pytest
from first_bot import install

from qqproto_transports.asyncio import Bot

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the bot is an asyncio bot


async def test_it_echoes_and_offers_a_menu_whose_taps_are_answered(qq_simulator) -> None:
    bot = Bot(qq_simulator.settings, env={})
    install(bot)
    async with qq_simulator.running(bot):
        hello = qq_simulator.send_c2c("USER_1", "hello")
        [echo] = await qq_simulator.wait_replies(1)
        assert (echo.content, echo.msg_id, echo.msg_seq) == ("hello", hello.data["id"], 1)

        qq_simulator.send_group_at("GROUP_1", "MEMBER_1", "menu")
        [menu] = await qq_simulator.wait_replies(1)
        assert menu.content == "**What next?**"
        assert menu.buttons == [("Say hi", "menu:hi"), ("A picture", "menu:picture")]

        tap = qq_simulator.tap("MEMBER_1", "menu:hi", group_openid="GROUP_1")
        [answer] = await qq_simulator.wait_replies(1)
        assert (answer.content, answer.event_id) == ("Hi! 👋", tap.id)
        assert qq_simulator.acks() == [(tap.data["id"], 0)]  # 0: success


async def test_it_sends_a_picture(qq_simulator) -> None:
    bot = Bot(qq_simulator.settings, env={})
    install(bot)
    async with qq_simulator.running(bot):
        qq_simulator.send_c2c("USER_1", "picture")
        [picture] = await qq_simulator.wait_replies(1)
    assert picture.body["msg_type"] == 7  # a media message
    assert picture.body["media"]["file_info"]


async def test_nothing_is_lost_when_the_connection_drops(qq_simulator) -> None:
    bot = Bot(qq_simulator.settings, env={})
    install(bot)
    async with qq_simulator.running(bot):
        qq_simulator.fault("drop")  # a TCP reset: the bot resumes its session
        qq_simulator.send_c2c("USER_1", "still there?")
        [reply] = await qq_simulator.wait_replies(1)
        assert reply.content == "still there?"
