"""The approval part of ``qqproto demo``: only the asker's tap decides.

Bob asks the bot in a group to deploy; the bot asks him to approve (``bot.ask_approval``,
public API only).  Carol, another member, taps "allow once" first: the bot ACKs her tap
with "no permission" and the question stays open.  Then Bob taps it: ACK 0, and the bot
goes ahead.  The taps are the simulator's own ``tap`` command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from qqproto.approvals import ApprovalRequest, Decision
from qqproto.models import GroupAtMessageCreate
from qqproto.simulator import CommandResult, SentMessage, run_command

from ..simulator import SimulatorThread

__all__ = ["ASKER", "GROUP", "REQUEST_TEXT", "answer_text", "register", "tap_twice"]

GROUP, ASKER, STRANGER = "GROUP_OPENID_1", "BOB_MEMBER_OPENID", "CAROL_MEMBER_OPENID"
REQUEST_TEXT = "deploy, please"
REQUEST = ApprovalRequest(title="部署到生产环境", command="make deploy", cwd="/srv/app",
                          timeout=20)
_ACKS = {0: "accepted", 3: "duplicate", 4: "no permission: only bob may answer"}


def register(bot: Any, threaded: bool, say: Callable[[str], None],
             finished: Callable[[Decision], None]) -> None:
    """Bob's request is answered with a question; the decision goes to ``finished``, the
    answer to Bob."""

    def answer(decision: Decision) -> str:
        finished(decision)
        return answer_text(decision)

    def wanted(event: GroupAtMessageCreate) -> bool:
        if event.message.content.strip() != REQUEST_TEXT:
            return False
        say(f"  bob in group {GROUP} → bot: {REQUEST_TEXT}")
        say("  bot → bob: approval question [✅ 允许一次] [⭐ 始终允许] [❌ 拒绝], "
            "only bob may answer")
        return True

    on: Callable[[type], Callable[[Callable[[GroupAtMessageCreate], Any]], Any]] = bot.on
    if threaded:
        @on(GroupAtMessageCreate)
        def ask(event: GroupAtMessageCreate) -> None:
            if wanted(event):
                bot.reply(event, answer(bot.ask_approval(event, REQUEST)))
    else:
        @on(GroupAtMessageCreate)
        async def ask_async(event: GroupAtMessageCreate) -> None:
            if wanted(event):
                await bot.reply(event, answer(await bot.ask_approval(event, REQUEST)))


def answer_text(decision: Decision) -> str:
    """What the bot tells Bob once he decided."""
    return "✅ deploying" if decision.allowed else f"not deploying ({decision.value})"


def _wait(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
    return value


def _ack(server: SimulatorThread, interaction: str) -> int | None:
    def code() -> tuple[int] | None:
        codes = server.call(lambda s, now: {a.interaction_id: a.code
                                            for a in s.interaction_acks})
        return (codes[interaction],) if interaction in codes else None
    found = _wait(code)
    return found[0] if found else None


def _command(server: SimulatorThread, line: str) -> CommandResult:
    return server.call(lambda sim, now: run_command(sim, line, now))


def tap_twice(server: SimulatorThread, say: Callable[[str], None]) -> list[int | None]:
    """Wait for the question; Carol taps, then Bob; the ACK code of each tap, once the
    bot has told Bob what it does (``None`` for whatever did not happen in time)."""
    def question() -> SentMessage | None:
        return next((m for m in server.sent_messages()
                     if m.target == GROUP and "keyboard" in m.body), None)
    if _wait(question) is None:
        return []
    codes = []
    for who, line in (("carol", f"tap {GROUP} allow as {STRANGER}"),
                      ("bob", f"tap {GROUP} allow")):
        result = _command(server, line)
        code = _ack(server, result.text.split()[1]) if result.ok else None
        meaning = "no answer" if code is None else _ACKS.get(code, "?")
        say(f"  {who} taps ✅ 允许一次 → ACK {code} ({meaning})")
        codes.append(code)
    answered = _wait(lambda: any(m.target == GROUP and str(m.content).startswith(
        ("✅", "not deploying")) for m in server.sent_messages()))
    return codes if answered else [*codes, None]
