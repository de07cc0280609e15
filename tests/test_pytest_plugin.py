"""The ``qq_simulator`` fixture (qqproto_transports.pytest_plugin), as bot authors use
it: a threaded bot in a plain test, asyncio and trio bots in anyio tests, each user
action (message, group @, tap, voice), each fault (drop, op 7, 4009) and a webhook bot
fed by the simulator's signed pushes."""

from __future__ import annotations

import importlib.metadata
import threading
from typing import Any

import pytest

from qqproto import Button, Keyboard, Markdown, OutgoingMessage
from qqproto.models import InteractionCreate, MessageEvent
from qqproto.simulator import SentMessage
from qqproto_transports import asyncio as asyncio_driver
from qqproto_transports import threads as threads_driver
from qqproto_transports import trio as trio_driver
from qqproto_transports.pytest_plugin import QQSimulator, Reply

KEYBOARD = Keyboard([[Button(id="a", label="A", data="pick:a"),
                      Button(id="b", label="B", data="pick:b")], [
                      Button(id="c", label="C", data="pick:c")]])


def test_the_plugin_is_registered_for_pytest() -> None:
    [entry] = [e for e in importlib.metadata.entry_points(group="pytest11")
               if e.name == "qqproto"]
    assert entry.value == "qqproto_transports.pytest_plugin"


def test_a_threaded_bot_in_a_plain_test(qq_simulator: QQSimulator) -> None:
    bot = threads_driver.Bot(qq_simulator.settings, env={})

    @bot.on(MessageEvent)
    def echo(event: MessageEvent) -> None:
        if event.message.attachments:
            voice = event.message.attachments[0]
            bot.reply(event, f"heard: {voice.asr_refer_text}")
        else:
            bot.reply(event, OutgoingMessage(markdown=Markdown(f"*{event.message.content}*"),
                                             keyboard=KEYBOARD))

    @bot.on(InteractionCreate)
    def tapped(event: InteractionCreate) -> None:
        bot.reply(event, f"tapped {event.button_data}")

    with qq_simulator.running(bot):
        first = qq_simulator.send_c2c("U1", "one")
        qq_simulator.send_group_at("G1", "M1", "two")
        replies = qq_simulator.wait_replies(2)
        assert sorted((r.scope, r.target, r.content, r.markdown, r.msg_seq)
                      for r in replies) == [("c2c", "U1", "*one*", "*one*", 1),
                                            ("group", "G1", "*two*", "*two*", 1)]
        assert {r.msg_id for r in replies} >= {first.data["id"]}
        assert replies[0].buttons == [("A", "pick:a"), ("B", "pick:b"), ("C", "pick:c")]
        assert replies[0].keyboard is not None
        tap = qq_simulator.tap("U1", "pick:b")
        [answer] = qq_simulator.wait_replies(1)
        assert (answer.content, answer.event_id, answer.keyboard) == (
            "tapped pick:b", tap.id, None)
        assert qq_simulator.acks() == [(tap.data["id"], 0)]
        qq_simulator.send_voice("U1", asr_text="你好")
        [heard] = qq_simulator.wait_replies(1)
        assert heard.content == "heard: 你好"
        assert len(qq_simulator.replies()) == 4


@pytest.mark.parametrize("fault", ["drop", "reconnect", 7, 4009])
def test_every_fault_is_one_call_and_the_bot_comes_back(qq_simulator: QQSimulator,
                                                       fault: Any) -> None:
    bot = threads_driver.Bot(qq_simulator.settings, env={})
    bot.on(MessageEvent)(lambda event: bot.reply(event, event.message.content))
    with qq_simulator.running(bot):
        assert qq_simulator.fault(fault) == 1
        qq_simulator.wait_connected()
        qq_simulator.send_c2c("U1", "after")
        [reply] = qq_simulator.wait_replies(1)
    assert reply.content == "after"
    counters = qq_simulator.server.counters()
    assert (counters.identifies, counters.resumes) == (1, 1)  # resumed: nothing lost


def test_unknown_faults_and_missing_replies_fail_loudly(qq_simulator: QQSimulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        qq_simulator.fault("explode")
    with pytest.raises(AssertionError, match="timed out waiting for 1 more reply"):
        qq_simulator.wait_replies(1, timeout=0.05)


@pytest.mark.qq_simulator(bot_username="marked-bot")
def test_the_marker_configures_the_simulator(qq_simulator: QQSimulator) -> None:
    assert qq_simulator.server.sim.bot_username == "marked-bot"
    assert qq_simulator.settings.app_id == qq_simulator.env()["QQBOT_APP_ID"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_async_bots_on_asyncio_and_trio(qq_simulator: QQSimulator,
                                             anyio_backend: str) -> None:
    driver = asyncio_driver if anyio_backend == "asyncio" else trio_driver
    bot = driver.Bot(qq_simulator.settings, env={})

    @bot.on(MessageEvent)
    async def echo(event: MessageEvent) -> None:
        await bot.reply(event, event.message.content)

    async with qq_simulator.running(bot):
        qq_simulator.send_c2c("U1", anyio_backend)
        [reply] = await qq_simulator.wait_replies(1)
        qq_simulator.fault(4009)
        await qq_simulator.wait_connected()
        qq_simulator.send_group_at("G1", "M1", "again")
        [again] = await qq_simulator.wait_replies(1)
    assert (reply.content, again.content, again.target) == (anyio_backend, "again", "G1")
    with pytest.raises(AssertionError, match="timed out"):
        await qq_simulator.wait_replies(1, timeout=0.05)


def test_a_webhook_bot_gets_the_simulators_signed_pushes(qq_simulator: QQSimulator) -> None:
    bot = threads_driver.WebhookBot(qq_simulator.settings, host="127.0.0.1", port=0, env={})
    bot.on(MessageEvent)(lambda event: bot.reply(event, f"webhook: {event.message.content}"))
    serving = threading.Event()
    bot.on()(lambda event: serving.set())
    with qq_simulator.running(bot, wait_connected=False):
        assert serving.wait(10)
        push = qq_simulator.push_webhook(f"http://127.0.0.1:{bot.port}/qqbot")
        qq_simulator.send_c2c("U1", "hi")
        [reply] = qq_simulator.wait_replies(1)
        assert push.wait_idle()
    assert reply.content == "webhook: hi"
    assert [a.outcome.name for a in push.attempts()] == ["VALIDATED", "ACKED"]


def test_a_reply_reads_like_what_the_user_sees() -> None:
    def sent(body: dict[str, Any]) -> Reply:
        return Reply.from_sent(SentMessage(id="m", scope="c2c", target="U", body=body,
                                           at=0.0, msg_id="x", msg_seq=2))
    assert sent({"content": "hi"}).content == "hi"
    assert (sent({"markdown": {"content": "**b**"}}).content,
            sent({"markdown": {"content": "**b**"}}).markdown) == ("**b**", "**b**")
    media = sent({"msg_type": 7, "media": {"file_info": "F"}})
    assert (media.content, media.markdown, media.keyboard, media.buttons) == ("", None, None,
                                                                              [])
    assert "body" not in repr(media)
