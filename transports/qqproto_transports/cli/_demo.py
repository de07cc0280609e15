"""``qqproto demo``: an echo bot against the embedded simulator, no account, no network.

It starts the simulator on 127.0.0.1, connects a bot to it on the chosen transport
(identify, READY), lets three scripted users write to it (C2C and a group @-message),
echoes each one as a passive reply, and finally checks with the simulator that every
reply arrived with the right ``msg_id`` and a fresh ``msg_seq``.  It ends with one
approval (:mod:`._demo_approval`): a stranger's tap refused, the asker's accepted.
"""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Any, TextIO

from qqproto import ChatScope, Settings
from qqproto.approvals import Decision
from qqproto.events import Dispatch, Event, Ready
from qqproto.models import MessageEvent, parse_event
from qqproto.simulator import Simulator

from ..simulator import SimulatorThread
from . import _demo_approval as approval
from ._run import Reaction, run_events

__all__ = ["run_demo"]

#: (scene, chat, member, text): what the simulated users say.
SCRIPT = (
    ("c2c", "ALICE_OPENID", "", "你好, qqproto!"),
    ("group", "GROUP_OPENID_1", "BOB_MEMBER_OPENID", "echo this, please"),
    ("c2c", "ALICE_OPENID", "", "bye 👋"),
)
TIMEOUT = 30.0


def _who(scope: ChatScope, chat_id: str, author_id: str) -> str:
    name = author_id.split("_", maxsplit=1)[0].lower()
    return f"{name} (c2c)" if scope is ChatScope.C2C else f"{name} in group {chat_id}"


def run_demo(*, transport: str = "asyncio", out: TextIO) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    with SimulatorThread(Simulator(heartbeat_interval_ms=10_000), lifetime=120.0) as server:
        settings = Settings.from_env(server.env(), auto_mark_processed=False)
        say(f"qqproto demo: simulator on {server.api_base}, bot on the {transport} transport")

        decided: list[Decision] = []
        bots: list[Any] = []
        taps: list[int | None] = []

        def inject() -> None:
            for scene, chat, member, text in SCRIPT:
                if scene == "c2c":
                    server.inject_c2c_message(chat, text)
                else:
                    server.inject_group_at_message(chat, member, text)
            while len(server.sent_messages()) < len(SCRIPT):
                time.sleep(0.02)
            server.inject_group_at_message(approval.GROUP, approval.ASKER,
                                           approval.REQUEST_TEXT)
            taps.extend(approval.tap_twice(server, say))
            bots[0].close()  # once every ACK is recorded: the demo is over

        injector = threading.Thread(target=inject, daemon=True)

        def make_bot(driver: ModuleType) -> tuple[Any, Any]:
            answered = [0]
            watchdog = threading.Timer(TIMEOUT, server.close_connections, (4915, "timeout"))
            watchdog.daemon = True
            watchdog.start()

            def handle(event: Event, now: float) -> Reaction | None:
                if isinstance(event, Ready):
                    say(f"bot connected as {event.user.username!r} "
                        f"(session {event.session_id[:8]}…)")
                    injector.start()
                    return None
                parsed = parse_event(event) if isinstance(event, Dispatch) else None
                if not isinstance(parsed, MessageEvent) or \
                        parsed.message.content.strip() == approval.REQUEST_TEXT:
                    return None
                message = parsed.message
                who = _who(message.scope, message.chat_id, message.author_id)
                say(f"  {who} → bot: {message.content}")
                say(f"  bot → {who}: {message.content}")
                answered[0] += 1
                return Reaction(reply=(parsed, message.content))

            def finished(decision: Decision) -> None:
                watchdog.cancel()
                decided.append(decision)

            bot = driver.Bot(settings, env={})
            bots.append(bot)
            approval.register(bot, driver.__name__.endswith(".threads"), say, finished)
            return bot, handle

        stop = run_events(transport, make_bot)
        if injector.is_alive():
            injector.join(TIMEOUT)  # the last ACK may be recorded after the bot closed
        sent = [m for m in server.sent_messages() if m.target != approval.GROUP
                or m.content == SCRIPT[1][3]]
    if stop.fatal:
        say(f"demo failed: {stop.reason}")
        return 1
    if decided:
        say(f"  bot → bob: {approval.answer_text(decided[0])} ({decided[0].value})")
    say(f"simulator recorded {len(sent)} echo replies:")
    for message in sent:
        say(f"  {message.scope} {message.target}: {message.body.get('content')!r} "
            f"(msg_id={message.msg_id}, msg_seq={message.msg_seq})")
    ok = len(sent) == len(SCRIPT) and all(m.msg_id and m.msg_seq for m in sent)
    approved = taps == [4, 0] and decided == [Decision.ALLOW_ONCE]
    say("approval: the stranger's tap was refused, the asker's decided" if approved
        else f"demo failed: approval taps {taps}, decision {decided}")
    say("demo finished: every message was echoed" if ok else "demo failed: replies missing")
    return 0 if ok and approved else 1
