"""Gateway behaviour over real sockets on 127.0.0.1, the same scenarios on every driver.

Each test runs the simulator in a background thread and a bot on one driver (through its
adapter, see contract.py), provokes a fault with the simulator's controls and checks what
the application saw: every injected event delivered exactly once, the right kind of
reconnect, the right stop.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qqproto import Settings
from qqproto.events import ConnectionEnded, Dispatch, EndCause, Event, Ready, Resumed
from qqproto.models._parse import inbound_message
from qqproto.rest._client import RestClient
from qqproto.rest._conversation import reply_to
from qqproto.rest._replies import ReplyContext
from qqproto.simulator._simulator import Simulator
from qqproto_transports.simulator import SimulatorThread

from .contract import BotHandle

ADAPTERS = {"asyncio": ("tests.loopback.adapter_asyncio", "AsyncioHandle"),
            "trio": ("tests.loopback.adapter_trio", "TrioHandle"),
            "threaded": ("tests.loopback.adapter_threaded", "ThreadedHandle")}


DRIVERS = list(ADAPTERS)


def make_handle(name: str) -> BotHandle:
    module, cls = ADAPTERS[name]
    handle: BotHandle = getattr(importlib.import_module(module), cls)()
    return handle


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[SimulatorThread]:
    marker = request.node.get_closest_marker("heartbeat_ms")
    interval = marker.args[0] if marker else 1000
    with SimulatorThread(Simulator(heartbeat_interval_ms=interval), lifetime=120) as server:
        yield server


@pytest.fixture(params=DRIVERS)
def bot(request: pytest.FixtureRequest) -> Iterator[BotHandle]:
    handle = make_handle(request.param)
    yield handle
    with contextlib.suppress(AssertionError):  # never started, or already stopped
        handle.stop(timeout=10)


def settings_for(sim: SimulatorThread) -> Settings:
    return Settings.from_env(sim.env())


def dispatch_ids(events: list[Event]) -> list[str]:
    return [e.id for e in events if type(e) is Dispatch and e.id is not None]


def has(kind: type, n: int = 1) -> Any:
    return lambda events: sum(isinstance(e, kind) for e in events) >= n


def ended(cause: EndCause) -> Any:
    return lambda events: any(isinstance(e, ConnectionEnded) and e.cause is cause
                              for e in events)


def inject(sim: SimulatorThread, texts: list[str]) -> list[str]:
    return [sim.inject_c2c_message("USER_A", text).id for text in texts]


def assert_exactly_once(bot: BotHandle, expected: list[str]) -> None:
    bot.wait_for(lambda events: set(expected) <= set(dispatch_ids(events)))
    got = dispatch_ids(bot.events())
    assert sorted(got) == sorted(set(got)), "an event was delivered twice"
    assert [i for i in got if i in expected] == expected, "events out of order"


# ---------------------------------------------------------------- the scenarios

def test_connects_identifies_and_receives_ready(bot: BotHandle, sim: SimulatorThread) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    ready = next(e for e in bot.events() if isinstance(e, Ready))
    assert ready.user.username == "qqproto-sim-bot"
    assert sim.counters().identifies == 1


def test_echo_round_trip_sends_a_passive_reply(bot: BotHandle, sim: SimulatorThread) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    [event_id] = inject(sim, ["ping?"])
    bot.wait_for(lambda events: event_id in dispatch_ids(events))
    event = next(e for e in bot.events() if isinstance(e, Dispatch) and e.id == event_id)
    message = inbound_message(event)
    assert message is not None
    settings = settings_for(sim)
    from qqproto.rest._token import TokenState
    rest = RestClient(TokenState(app_id=settings.app_id, secret=settings.secret,
                                 endpoints=settings.endpoints))
    [call] = reply_to(rest, ReplyContext(), message, "pong!", now=0.0)
    sent = bot.call(call)
    assert sent.id.startswith("ROBOT1.0_")
    [recorded] = sim.sent_messages()
    assert (recorded.scope, recorded.target, recorded.body["content"]) == ("c2c", "USER_A",
                                                                          "pong!")
    assert (recorded.msg_id, recorded.msg_seq) == (message.msg_id, 1)


def test_abrupt_drop_resumes_and_delivers_every_event_exactly_once(
    bot: BotHandle, sim: SimulatorThread
) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    before = inject(sim, [f"before {i}" for i in range(5)])
    bot.wait_for(lambda events: set(before) <= set(dispatch_ids(events)))
    sim.drop_connections()
    during = inject(sim, [f"during {i}" for i in range(5)])
    bot.wait_for(has(Resumed))
    after = inject(sim, [f"after {i}" for i in range(5)])
    assert_exactly_once(bot, before + during + after)
    counters = sim.counters()
    assert (counters.identifies, counters.resumes, counters.lost_events) == (1, 1, 0)


def test_op7_reconnect_resumes(bot: BotHandle, sim: SimulatorThread) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    first = inject(sim, ["one", "two"])
    sim.send_reconnect()
    second = inject(sim, ["three", "four"])
    bot.wait_for(has(Resumed))
    assert_exactly_once(bot, first + second)
    assert any(isinstance(e, ConnectionEnded) and e.cause is EndCause.RECONNECT_REQUESTED
               for e in bot.events())
    assert sim.counters().identifies == 1


def test_op9_resumable_resumes(bot: BotHandle, sim: SimulatorThread) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    sim.send_invalid_session(True)
    bot.wait_for(has(Resumed))
    assert sim.counters().identifies == 1
    assert_exactly_once(bot, inject(sim, ["still here"]))


def test_op9_not_resumable_identifies_afresh(bot: BotHandle, sim: SimulatorThread) -> None:
    # Two identifies per 5 s window (gateway.md §8.4), so the second needs no wait: the
    # window itself is arithmetic, in test_identify_pacing.py and the session tests.
    sim.sim.max_concurrency = 2
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    sim.send_invalid_session(False)
    bot.wait_for(has(Ready, 2))
    assert sim.counters().identifies == 2
    assert_exactly_once(bot, inject(sim, ["new session"]))


@pytest.mark.heartbeat_ms(300)
def test_missing_heartbeat_acks_are_detected_and_the_session_resumes(
    bot: BotHandle, sim: SimulatorThread
) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    sim.set_faults(ack_heartbeats=False, close_on_missed_heartbeats=False)
    bot.wait_for(ended(EndCause.HEARTBEAT_TIMEOUT))
    sim.set_faults(ack_heartbeats=True, close_on_missed_heartbeats=True)
    bot.wait_for(has(Resumed))
    assert_exactly_once(bot, inject(sim, ["after the zombie"]))


def test_close_4009_resumes(bot: BotHandle, sim: SimulatorThread) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    sim.close_connections(4009, "connection expired")
    bot.wait_for(has(Resumed))
    assert sim.counters().identifies == 1


def test_close_4004_refreshes_the_token_then_resumes(bot: BotHandle,
                                                     sim: SimulatorThread) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    sim.invalidate_tokens()
    sim.close_connections(4004, "authentication failed")
    bot.wait_for(has(Resumed))
    counters = sim.counters()
    assert counters.tokens_issued == 2
    assert counters.identifies == 1


def test_close_4914_stops_for_good_with_the_code(bot: BotHandle, sim: SimulatorThread) -> None:
    bot.start(settings_for(sim))
    bot.wait_for(has(Ready))
    sim.close_connections(4914, "offline")
    stop = bot.result(timeout=10)
    assert stop.fatal and stop.close_code == 4914
    assert "4914" in stop.reason


def test_restart_with_a_session_file_resumes_and_misses_nothing(
    bot: BotHandle, sim: SimulatorThread, tmp_path: Path
) -> None:
    session_file = str(tmp_path / "session.json")
    bot.start(settings_for(sim), session_file=session_file)
    bot.wait_for(has(Ready))
    first = inject(sim, ["a", "b", "c"])
    bot.wait_for(lambda events: set(first) <= set(dispatch_ids(events)))
    stop = bot.stop()
    assert not stop.fatal
    missed = inject(sim, ["d", "e", "f"])
    second = make_handle(bot.name)
    second.start(settings_for(sim), session_file=session_file)
    try:
        second.wait_for(has(Resumed))
        assert_exactly_once(second, missed)
        assert not any(isinstance(e, Ready) for e in second.events())
        assert not set(first) & set(dispatch_ids(second.events()))
    finally:
        second.stop()
    assert sim.counters().identifies == 1
