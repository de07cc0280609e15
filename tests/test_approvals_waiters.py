"""The drivers' executor of approvals (qqproto_transports._questions), without sockets: a
question whose message cannot be sent is withdrawn and the error surfaces; an asker
cancelled while waiting ends its question as expired; a tap wakes exactly its asker."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from qqproto import ChatScope, Secret, Settings
from qqproto.approvals import ApprovalRequest, Audience, Decision, QuestionState
from qqproto.errors import NetworkError
from qqproto.events import Dispatch
from qqproto_transports._questions import Questions, ask_async, ask_sync, confirmed

SETTINGS = Settings(app_id="1", secret=Secret("s"))
AUDIENCE = Audience(scope=ChatScope.GROUP, chat_id="G1", user_id="M1")
REQUEST = ApprovalRequest(title="t", session_key="K", timeout=5)


class FakeBot:
    """What ``ask_*`` needs of a bot: ``questions``, a clock, ``send``/``reply``."""

    def __init__(self, fail: bool = False) -> None:
        self.questions = Questions(SETTINGS)
        self.fail = fail
        self.sent: list[Any] = []
        self.clock = 0.0

    def _now(self) -> float:
        return self.clock

    def send(self, scope: Any, chat: str, message: Any) -> None:
        if self.fail:
            raise NetworkError("the network is down")
        self.sent.append((scope, chat, message))


class AsyncFakeBot(FakeBot):
    async def send(self, scope: Any, chat: str, message: Any) -> None:  # type: ignore[override]
        FakeBot.send(self, scope, chat, message)


def ask(bot: FakeBot) -> Any:
    return lambda audience, now: bot.questions.table.ask_approval(REQUEST, audience, now=now)


def tap(data: str, member: str = "M1") -> Dispatch:
    return Dispatch(type="INTERACTION_CREATE", seq=1, id="ev", data={
        "id": "i1", "scene": "group", "group_openid": "G1", "group_member_openid": member,
        "data": {"resolved": {"button_data": data}}})


def test_a_question_that_cannot_be_sent_is_withdrawn_and_the_error_surfaces() -> None:
    bot = FakeBot(fail=True)
    with pytest.raises(NetworkError):
        ask_sync(bot, AUDIENCE, (), ask(bot))
    assert bot.questions.table.state_of("K") is QuestionState.WITHDRAWN
    admission, _ = bot.questions.admit(tap("approve:K:deny"), now=1.0)
    assert (admission.deliver, int(admission.ack or 0)) == (True, 1)  # failed


def test_a_tap_from_another_thread_wakes_the_blocked_asker() -> None:
    bot = FakeBot()
    answer: list[Decision] = []
    asker = threading.Thread(target=lambda: answer.append(ask_sync(bot, AUDIENCE, (),
                                                                   ask(bot))))
    asker.start()
    while not bot.sent:
        threading.Event().wait(0.001)
    stranger, _ = bot.questions.admit(tap("approve:K:allow-once", "M2"), now=1.0)
    assert not answer and int(stranger.ack or 0) == 4
    bot.questions.admit(tap("approve:K:allow-always"), now=1.0)
    asker.join(5)
    assert answer == [Decision.ALLOW_ALWAYS]
    assert bot.sent[0][:2] == (ChatScope.GROUP, "G1")  # an Audience: an active message


def test_an_asker_that_times_out_or_is_cancelled_ends_its_question_as_expired() -> None:
    bot = FakeBot()
    bot.clock = 10.0  # the deadline (5 s after asking at 10) is 15; the wait is real
    short = ApprovalRequest(title="t", timeout=0.01)
    decision = ask_sync(bot, AUDIENCE, (), lambda audience, now:
                        bot.questions.table.ask_approval(short, audience, now=now))
    assert decision is Decision.TIMEOUT and confirmed(decision) is None
    key = bot.sent[0][2].keyboard.rows[0][0].data.split(":")[1]
    assert bot.questions.table.state_of(key) is QuestionState.EXPIRED

    async def cancelled() -> None:
        abot = AsyncFakeBot()
        with anyio.move_on_after(0.01):
            await ask_async(abot, AUDIENCE, (), ask(abot))
        assert abot.questions.table.state_of("K") is QuestionState.EXPIRED

    anyio.run(cancelled)
    assert confirmed(Decision.ALLOW_ONCE) is True and confirmed(Decision.DENY) is False


def test_questions_answer_a_message_or_a_tap_and_nothing_else() -> None:
    bot = FakeBot()
    with pytest.raises(TypeError, match="a question answers a message or a button tap"):
        bot.questions.open(Dispatch(type="FRIEND_ADD", seq=1, id="e", data={"openid": "U"}),
                           (), ask(bot), lambda: None, 0.0)
    q = bot.questions.open(tap("x", "M7"), ("ADMIN",), ask(bot), lambda: None, 0.0)
    assert q.audience == Audience(scope=ChatScope.GROUP, chat_id="G1", user_id="M7",
                                  approvers=("ADMIN",))
