"""The API a bot author sees, over real sockets, on every driver and both channels.

The same few lines of bot code (``@bot.on(MessageEvent)`` + ``bot.reply``) answer a C2C
and a group message on the gateway and on the webhook channel of asyncio, trio and
threads; a button tap is ACKed and answered without any bookkeeping by the application,
even when a handler raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio

from qqproto import Settings
from qqproto.models import GroupAtMessageCreate, InteractionCreate, MessageEvent
from qqproto.simulator import Simulator, WebhookPusher
from qqproto_transports import asyncio as asyncio_driver
from qqproto_transports import threads as threads_driver
from qqproto_transports import trio as trio_driver
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.simulator import SimulatorThread

DRIVERS = {"asyncio": asyncio_driver, "trio": trio_driver, "threads": threads_driver}
CHANNELS = ("gateway", "webhook")


class Running:
    """One bot run in a background thread on its own runtime; closed from the test."""

    def __init__(self, driver: str, bot: Any) -> None:
        self.driver, self.bot = driver, bot
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: Any = None
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            if self.driver == "asyncio":
                asyncio.run(self._asyncio())
            elif self.driver == "trio":
                trio.run(self._trio)
            else:
                self._running.set()
                self.bot.run(handle_signals=False)
        except BaseException as exc:  # surfaced by close()
            self.error = exc
        finally:
            self._running.set()

    async def _asyncio(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._running.set()
        await self.bot.run(handle_signals=False)

    async def _trio(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._running.set()
        await self.bot.run(handle_signals=False)

    def __enter__(self) -> Running:
        self._thread.start()
        assert self._running.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.bot.close()  # from the test's thread: close() is safe from anywhere
        self._thread.join(15)
        assert not self._thread.is_alive(), "run() did not return after close()"
        assert self.error is None, repr(self.error)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(), lifetime=120) as server:
        yield server



@contextlib.contextmanager
def running(driver: str, channel: str, sim: SimulatorThread, setup: Callable[[Any], object],
            **settings: Any) -> Iterator[Any]:
    """A bot of ``driver`` on ``channel`` pointed at ``sim``, ``setup(bot)`` done, running;
    on the webhook channel the simulator pushes its events to the bot's URL."""
    module = DRIVERS[driver]
    bot_settings = Settings.from_env(sim.env(), **settings)
    if channel == "gateway":
        bot = module.Bot(bot_settings, env={})
        setup(bot)
        with Running(driver, bot):
            wait_until(lambda: sim.counters().identifies, "the bot to identify")
            yield bot
        return
    bot = module.WebhookBot(bot_settings, env={})
    setup(bot)
    with Running(driver, bot):
        url = wait_until(lambda: bot.url, "the webhook server")
        pusher = WebhookPusher(callback_url=url, secret=sim.sim.secret,
                               app_id=sim.sim.app_id, retry_delay=0.05)
        with WebhookPushThread(pusher) as push:
            push.attach(sim)
            yield bot


def echo_bot(driver: str) -> Callable[[Any], None]:
    """The README's echo bot, as written for ``driver`` (threads: a plain function)."""

    def setup(bot: Any) -> None:
        if driver == "threads":
            @bot.on(MessageEvent)
            def echo(event: MessageEvent) -> None:
                bot.reply(event, event.message.content)
        else:
            @bot.on(MessageEvent)
            async def echo(event: MessageEvent) -> None:  # type: ignore[misc]
                await bot.reply(event, event.message.content)

    return setup


def replies(sim: SimulatorThread, count: int) -> list[Any]:
    def enough() -> list[Any] | None:
        sent = sim.sent_messages()
        return sent if len(sent) >= count else None

    found: list[Any] = wait_until(enough, f"{count} replies")
    return found


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_the_echo_bot_answers_c2c_and_group_messages(driver: str, channel: str,
                                                     sim: SimulatorThread) -> None:
    with running(driver, channel, sim, echo_bot(driver)):
        hello = sim.inject_c2c_message("USER_A", "hello")
        group = sim.inject_group_at_message("GROUP_1", "MEMBER_B", "hi all")
        sent = replies(sim, 2)
    assert sorted((m.scope, m.target, m.content, m.msg_id, m.msg_seq) for m in sent) == [
        ("c2c", "USER_A", "hello", hello.data["id"], 1),
        ("group", "GROUP_1", "hi all", group.data["id"], 1)]


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_transport_neutral_handler_runs_unchanged_on_every_driver(
        driver: str, sim: SimulatorThread) -> None:
    def setup(bot: Any) -> None:
        @bot.on("GROUP_AT_MESSAGE_CREATE")
        def echo(event: GroupAtMessageCreate) -> Any:
            assert isinstance(event, GroupAtMessageCreate)
            return bot.reply(event, "a" * 3000 + "\n\n" + "b" * 3000)  # awaited as needed

    with running(driver, "gateway", sim, setup):
        event = sim.inject_group_at_message("GROUP_1", "MEMBER_B", "split this")
        sent = replies(sim, 2)
    assert [(m.msg_id, m.msg_seq, m.content[0]) for m in sent] == [
        (event.data["id"], 1, "a"), (event.data["id"], 2, "b")]


def tap_bot(driver: str, answer: str, *, raises: bool = False) -> Callable[[Any], None]:
    def setup(bot: Any) -> None:
        if driver == "threads":
            @bot.on(InteractionCreate)
            def tapped(event: InteractionCreate) -> None:
                bot.reply(event, f"{answer}: {event.button_data}")
                if raises:
                    raise RuntimeError("the tap handler failed (on purpose)")
        else:
            @bot.on(InteractionCreate)
            async def tapped(event: InteractionCreate) -> None:  # type: ignore[misc]
                await bot.reply(event, f"{answer}: {event.button_data}")
                if raises:
                    raise RuntimeError("the tap handler failed (on purpose)")

    return setup


def acks(sim: SimulatorThread) -> list[tuple[str, int]]:
    return sim.call(lambda s, now: [(a.interaction_id, a.code) for a in s.interaction_acks])


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_tap_is_acked_and_answered_with_no_bookkeeping(driver: str, channel: str,
                                                         sim: SimulatorThread) -> None:
    with running(driver, channel, sim, tap_bot(driver, "you chose")):
        tap = sim.inject_interaction("group", group_openid="GROUP_1",
                                     member_openid="MEMBER_B", button_data="yes")
        [sent] = replies(sim, 1)
        wait_until(lambda: acks(sim), "the ACK")
    assert acks(sim) == [(tap.data["id"], 0)]
    assert (sent.scope, sent.target, sent.content) == ("group", "GROUP_1", "you chose: yes")
    assert (sent.body.get("event_id"), sent.msg_seq, sent.msg_id) == (tap.id, 1, None)


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_handler_that_raises_on_a_tap_still_gets_it_acked_and_the_bot_goes_on(
        driver: str, sim: SimulatorThread, caplog: pytest.LogCaptureFixture) -> None:
    def setup(bot: Any) -> None:
        tap_bot(driver, "noted", raises=True)(bot)
        echo_bot(driver)(bot)

    with caplog.at_level(logging.ERROR, logger="qqproto_transports"), \
            running(driver, "gateway", sim, setup) as bot:
        tap = sim.inject_interaction("c2c", user_openid="USER_A", button_data="b1")
        replies(sim, 1)
        sim.inject_c2c_message("USER_A", "still there?")
        sent = replies(sim, 2)
        wait_until(lambda: acks(sim), "the ACK")
        app_id = bot.settings.app_id
    assert acks(sim) == [(tap.data["id"], 0)]
    assert [m.content for m in sent] == ["noted: b1", "still there?"]
    [failure] = [r.getMessage() for r in caplog.records if "failed on" in r.getMessage()]
    assert failure.startswith(f"[app {app_id}] handler ")
    assert failure.endswith(".tapped failed on INTERACTION_CREATE")
