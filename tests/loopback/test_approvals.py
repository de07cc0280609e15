"""Approvals, confirmations and the access policy over real sockets, on every driver.

One bot per driver answers ``deploy`` with ``bot.ask_approval`` and ``update?`` with
``bot.ask_confirmation``: two questions open at once in two groups, a stranger's tap
refused (ACK 4), the asker's accepted (0), a second tap a duplicate (3, and it still
reaches the ``InteractionCreate`` handler), a deny, a confirmation that times out (a
0.3 s real timeout) and a late tap on it (1).  The same bot has an access policy that
refuses one user in each of the four scopes: none of that user's messages reaches a
handler and their tap is ACKed "no permission".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from qqproto import Settings
from qqproto.approvals import AccessPolicy, ApprovalRequest, Audience, Decision
from qqproto.models import InteractionCreate, MessageEvent
from qqproto.simulator import SentMessage, Simulator, WebhookPusher
from qqproto.simulator._tap import tap_command
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.asgi import WebhookApp
from qqproto_transports.simulator import SimulatorThread

from ..example_scripts import EXAMPLES, BotScript
from ..test_asgi import uvicorn_serving
from .test_public_api import DRIVERS, Running, running, wait_until

REQUEST = ApprovalRequest(title="deploy", command="make deploy", cwd="/srv/app", timeout=20)
POLICY = AccessPolicy.open(deny_users={"BAD"})


def approval_bot(driver: str, seen: list[Any]) -> Callable[[Any], None]:
    """``deploy`` asks an approval, ``update?`` a 0.3 s confirmation, ``ask ADMIN`` an
    approval by an active message that an approver may decide; taps that are no
    question's are recorded; everything else is echoed."""

    def answer(event: MessageEvent) -> tuple[str, Any]:
        text = event.message.content.strip()
        if text == "deploy":
            return "approval", (REQUEST,)
        if text == "update?":
            return "confirmation", ("现在更新？",)
        if text == "ask admin":
            m = event.message
            return "active", (Audience(scope=m.scope, chat_id=m.chat_id, user_id=m.author_id,
                                       approvers=("ADMIN",)),)
        return "echo", (text,)

    def setup(bot: Any) -> None:
        if driver == "threads":
            @bot.on(MessageEvent)
            def handle(event: MessageEvent) -> None:
                kind, args = answer(event)
                if kind == "approval":
                    result: Any = bot.ask_approval(event, *args)
                elif kind == "confirmation":
                    result = bot.ask_confirmation(event, *args, timeout=0.3)
                elif kind == "active":
                    result = bot.ask_approval(args[0], REQUEST)
                else:
                    bot.reply(event, f"echo {args[0]}")
                    return
                bot.send(event.message.scope, event.message.chat_id, f"{kind}: {result}")

            @bot.on(InteractionCreate)
            def tapped(event: InteractionCreate) -> None:
                seen.append(event.button_data)
        else:
            @bot.on(MessageEvent)
            async def handle(event: MessageEvent) -> None:  # type: ignore[misc]
                kind, args = answer(event)
                if kind == "approval":
                    result: Any = await bot.ask_approval(event, *args)
                elif kind == "confirmation":
                    result = await bot.ask_confirmation(event, *args, timeout=0.3)
                elif kind == "active":
                    result = await bot.ask_approval(args[0], REQUEST)
                else:
                    await bot.reply(event, f"echo {args[0]}")
                    return
                await bot.send(event.message.scope, event.message.chat_id, f"{kind}: {result}")

            @bot.on(InteractionCreate)
            async def tapped(event: InteractionCreate) -> None:  # type: ignore[misc]
                seen.append(event.button_data)

    return setup


def sent(sim: SimulatorThread) -> list[SentMessage]:
    return sim.sent_messages()


def question_in(sim: SimulatorThread, chat: str) -> SentMessage:
    def found() -> SentMessage | None:
        return next((m for m in sent(sim) if m.target == chat and "keyboard" in m.body), None)
    message: SentMessage = wait_until(found, f"a question in {chat}")
    return message


def text_in(sim: SimulatorThread, chat: str, prefix: str) -> str:
    def found() -> str | None:
        return next((m.content for m in sent(sim) if m.target == chat
                     and isinstance(m.content, str) and m.content.startswith(prefix)), None)
    text: str = wait_until(found, f"{prefix!r} in {chat}")
    return text


def data_of(message: SentMessage, index: int) -> str:
    """The data of the ``index``-th button of the message's first keyboard row."""
    data: str = message.body["keyboard"]["content"]["rows"][0]["buttons"][index][
        "action"]["data"]
    return data


def tap(sim: SimulatorThread, line: str) -> str:
    text, ok = sim.call(lambda s, now: tap_command(s, line, now))
    assert ok, text
    return text.split()[1]  # the interaction id


def ack_of(sim: SimulatorThread, interaction: str) -> int:
    def found() -> int | None:
        codes = sim.call(lambda s, now: {a.interaction_id: a.code for a in s.interaction_acks})
        return codes.get(interaction)
    code: int = wait_until(lambda: (c := found()) is not None and (c,), "the ACK")[0]
    return code


@pytest.fixture
def sim() -> Any:
    with SimulatorThread(Simulator(), lifetime=120) as server:
        yield server


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_only_the_asker_decides_and_every_tap_gets_its_code(driver: str, sim: Any) -> None:
    seen: list[Any] = []
    with running(driver, "gateway", sim, approval_bot(driver, seen), access=POLICY):
        sim.inject_group_at_message("G1", "M1", "deploy")
        sim.inject_group_at_message("G2", "M3", "deploy")
        first, second = question_in(sim, "G1"), question_in(sim, "G2")  # both open
        assert first.msg_id and second.msg_id and first.body["msg_type"] == 2
        stranger = tap(sim, "tap G1 allow as M2")
        assert ack_of(sim, stranger) == 4  # no permission
        asker = tap(sim, "tap G1 allow")  # the button names M1: M1 taps
        assert ack_of(sim, asker) == 0
        assert text_in(sim, "G1", "approval:") == f"approval: {Decision.ALLOW_ONCE}"
        again = tap(sim, "tap G1 deny as M1")
        assert ack_of(sim, again) == 3  # duplicate, and the handler sees it
        wait_until(lambda: seen, "the duplicate to reach the tap handler")
        assert ack_of(sim, tap(sim, "tap G2 deny as M1")) == 4  # M1 is no one in G2
        no = tap(sim, "tap G2 3")
        assert ack_of(sim, no) == 0
        assert text_in(sim, "G2", "approval:") == f"approval: {Decision.DENY}"
        mine = sim.inject_interaction("group", group_openid="G1", member_openid="M1",
                                      button_data="my-own")
        assert ack_of(sim, mine.data["id"]) == 0
        sim.inject_c2c_message("U1", "update?")
        question_in(sim, "U1")
        assert text_in(sim, "U1", "confirmation:") == "confirmation: None"
        late = tap(sim, "tap U1 yes")
        assert ack_of(sim, late) == 1  # the question expired
        wait_until(lambda: len(seen) == 3, "every non-question tap at the handler")
        # The access policy: BAD is refused in each of the four scopes.
        sim.inject_c2c_message("BAD", "hi")
        sim.inject_group_at_message("G3", "BAD", "hi")
        sim.inject_channel_message("C1", "GUILD1", "BAD", "hi")
        sim.inject_dm_message("DMG1", "BAD", "hi")
        bad_tap = sim.inject_interaction("group", group_openid="G3", member_openid="BAD",
                                         button_data="my-own")
        assert ack_of(sim, bad_tap.data["id"]) == 4
        sim.inject_c2c_message("GOOD", "c2c")
        sim.inject_group_at_message("G3", "GOOD", "group")
        sim.inject_channel_message("C1", "GUILD1", "GOOD", "channel")
        sim.inject_dm_message("DMG1", "GOOD", "dm")
        for chat, text in (("GOOD", "c2c"), ("G3", "group"), ("C1", "channel"),
                           ("DMG1", "dm")):
            assert text_in(sim, chat, "echo ").endswith(text)
    echoed = [m.content for m in sent(sim) if str(m.content).startswith("echo")]
    assert len(echoed) == 4  # GOOD's four messages, none of BAD's
    assert seen == [data_of(first, 2), "my-own", data_of(question_in(sim, "U1"), 0)]


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_an_approval_by_an_active_message_is_decided_by_a_named_approver(
        driver: str, sim: Any) -> None:
    seen: list[Any] = []
    with running(driver, "gateway", sim, approval_bot(driver, seen)):
        sim.inject_group_at_message("G1", "M1", "ask admin")
        question = question_in(sim, "G1")
        assert question.msg_id is None and question.event_id is None  # active
        names = question.body["keyboard"]["content"]["rows"][0]["buttons"][0]["action"]
        assert names["permission"] == {"type": 0, "specify_user_ids": ["M1", "ADMIN"]}
        assert ack_of(sim, tap(sim, "tap G1 always as ADMIN")) == 0
        assert text_in(sim, "G1", "active:") == f"active: {Decision.ALLOW_ALWAYS}"
    assert seen == []


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_webhook_bot_asks_and_is_answered(driver: str, sim: Any) -> None:
    seen: list[Any] = []
    setup = approval_bot(driver, seen)
    bot = DRIVERS[driver].WebhookBot(Settings.from_env(sim.env()), env={})
    setup(bot)
    with Running(driver, bot):
        url = wait_until(lambda: bot.url, "the webhook server")
        # Two requests in flight: the tap arrives while the message's handler waits.
        pusher = WebhookPusher(callback_url=url, secret=sim.sim.secret, app_id=sim.sim.app_id,
                               retry_delay=0.05, max_in_flight=2, timeout=20)
        with WebhookPushThread(pusher) as push:
            push.attach(sim)
            sim.inject_c2c_message("U7", "deploy")
            question_in(sim, "U7")
            assert ack_of(sim, tap(sim, "tap U7 deny as U8")) == 4
            assert ack_of(sim, tap(sim, "tap U7 deny")) == 0
            assert text_in(sim, "U7", "approval:") == f"approval: {Decision.DENY}"


def test_the_approvals_page_example_runs_against_the_simulator(sim: Any) -> None:
    """docs/examples/approvals_bot.py as a user runs it: a blocked user is ignored, a
    stranger's tap refused, the sender's accepted, and Ctrl-C exits 0."""
    with BotScript(EXAMPLES / "approvals_bot.py", sim) as bot:
        bot.until(lambda: sim.counters().identifies, "the bot to connect")
        sim.inject_group_at_message("G1", "BLOCKED_USER", "run rm -rf /")
        sim.inject_group_at_message("G1", "M1", "run make deploy")
        question = question_in(sim, "G1")
        assert "make deploy" in question.body["markdown"]["content"]
        assert ack_of(sim, tap(sim, "tap G1 allow as M2")) == 4
        assert ack_of(sim, tap(sim, "tap G1 allow")) == 0
        assert text_in(sim, "G1", "✅") == "✅ running make deploy (allow-once)"
        status, _out, err = bot.interrupt()
    assert (status, "Traceback" in err) == (0, False), err
    assert not any("rm -rf" in str(m.body) for m in sent(sim))


def test_the_asgi_webhook_app_asks_and_is_answered(sim: Any) -> None:
    """WebhookApp under uvicorn: the same ask, the tap arriving on another request."""
    seen: list[Any] = []
    app = WebhookApp(Settings.from_env(sim.env()), env={})
    approval_bot("asyncio", seen)(app)
    with uvicorn_serving(app) as port:
        pusher = WebhookPusher(callback_url=f"http://127.0.0.1:{port}/qqbot",
                               secret=sim.sim.secret, app_id=sim.sim.app_id,
                               retry_delay=0.05, max_in_flight=2, timeout=20)
        with WebhookPushThread(pusher) as push:
            push.attach(sim)
            sim.inject_group_at_message("G5", "M5", "deploy")
            question_in(sim, "G5")
            assert ack_of(sim, tap(sim, "tap G5 allow as M6")) == 4
            assert ack_of(sim, tap(sim, "tap G5 deny")) == 0
            assert text_in(sim, "G5", "approval:") == f"approval: {Decision.DENY}"
