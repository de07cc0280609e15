"""Testing the threaded bot against the simulator (docs/writing-a-bot.rst).

``SimulatorThread`` serves the simulator from a background thread, so any bot can be
tested from plain synchronous code: the threaded one with ``start()``/``close()``, a trio
bot in a thread of its own.  Every method of the simulator is thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from bot_threads import RULES, make_bot

from qqproto import Settings
from qqproto.simulator import Simulator
from qqproto_transports.simulator import SimulatorThread

T = TypeVar("T")


def until(check: Callable[[], T], timeout: float = 10.0) -> T:
    """Wait until ``check()`` returns something true, and return it."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


def test_a_long_answer_is_split_into_numbered_replies() -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim:
        bot = make_bot(Settings.from_env(sim.env()))
        bot.start()  # the gateway runs on a thread named qqproto-io
        try:
            until(lambda: sim.counters().identifies)
            message = sim.inject_c2c_message("USER_1", "rules")
            parts = until(lambda: sent if len(sent := sim.sent_messages()) >= 2 else None)
        finally:
            bot.close()  # waits for run() to return
        assert bot.join(10).fatal is False

    assert "".join(part.content for part in parts) == RULES
    assert [(p.msg_id, p.msg_seq) for p in parts] == [(message.data["id"], 1),
                                                      (message.data["id"], 2)]
