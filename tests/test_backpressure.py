"""Backpressure on every driver: at ``limits.max_pending_events`` unfinished handlers the
bot stops reading from the gateway, keeps heartbeating (the connection is not taken for a
zombie although the ACKs wait unread), and reads on once the handlers catch up; nothing
is lost or delivered twice.  Loopback against the simulator on 127.0.0.1, plus the
sans-IO rule the drivers rely on."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import trio

from qqproto import Limits, Settings
from qqproto.events import ConnectionEnded, Dispatch, EndCause, NextStep
from qqproto.simulator._records import Direction, FrameKind
from qqproto_transports.asyncio import Bot as AsyncioBot
from qqproto_transports.threads import Bot as ThreadedBot
from qqproto_transports.trio import Bot as TrioBot

from .driver_support_loopback import frames, simulator, wait_until
from .gateway_peer import drain, open_ready
from .test_gateway_connection import make

LIMIT = 4


def _handler(driver: str, got: list[str], release: threading.Event) -> Callable[[Any], Any]:
    """A handler that records the event and blocks (the driver's way) until released."""
    if driver == "threads":
        def blocking(event: Dispatch) -> None:
            if type(event) is not Dispatch:
                return  # READY: not one of the messages
            got.append(event.id or "")
            release.wait(10)
        return blocking

    sleep = asyncio.sleep if driver == "asyncio" else trio.sleep

    async def waiting(event: Dispatch) -> None:
        if type(event) is not Dispatch:
            return
        got.append(event.id or "")
        while not release.is_set():
            await sleep(0.01)
    return waiting


def _run(driver: str, settings: Settings, handler: Callable[[Any], Any],
         ) -> tuple[Any, threading.Thread, list[Any]]:
    ends: list[Any] = []
    if driver == "threads":
        bot: Any = ThreadedBot(settings, env={})
    else:
        bot = (AsyncioBot if driver == "asyncio" else TrioBot)(settings, env={})
    bot.on(Dispatch)(handler)
    bot.on(ConnectionEnded)(ends.append)

    def main() -> None:
        if driver == "asyncio":
            asyncio.run(bot.run(handle_signals=False))
        elif driver == "trio":
            trio.run(lambda: bot.run(handle_signals=False))
        else:
            bot.run(handle_signals=False)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    return bot, thread, ends


@pytest.mark.parametrize("driver", ["asyncio", "trio", "threads"])
def test_reading_pauses_while_handlers_are_behind_and_heartbeats_go_on(driver: str) -> None:
    got: list[str] = []
    release = threading.Event()
    with simulator(heartbeat_interval_ms=100) as server:
        settings = Settings.from_env(server.env(),
                                     limits=Limits(max_pending_events=LIMIT))
        bot, thread, ends = _run(driver, settings, _handler(driver, got, release))
        try:
            wait_until(lambda: bot.session.connection is not None
                       and bot.session.connection.state.name == "OPEN", what="ready")
            first = [server.inject_c2c_message("U", f"m{i}").id for i in range(LIMIT)]
            wait_until(lambda: len(got) == LIMIT and bot.session.connection.reading_paused,
                       what="paused")
            rest = [server.inject_c2c_message("U", f"n{i}").id for i in range(20)]
            beats_before = _heartbeats(server)
            time.sleep(0.5)  # real sockets: five heartbeat periods pass while paused
            assert len(got) == LIMIT  # nothing more was read
            assert _heartbeats(server) >= beats_before + 3  # op 1 kept going out
            assert not ends  # and no zombie check ended the connection
            release.set()
            wait_until(lambda: len(got) == LIMIT + 20, what="the rest")
            assert sorted(got) == sorted(first + rest)  # each exactly once
            wait_until(lambda: not bot.session.connection.reading_paused, what="resumed")
        finally:
            release.set()
            bot.close()
            thread.join(10)
    assert not thread.is_alive()
    assert not [e for e in ends if e.cause is EndCause.HEARTBEAT_TIMEOUT]


def _heartbeats(server: Any) -> int:
    return sum(1 for f in frames(server) if f.direction is Direction.IN
               and f.kind is FrameKind.TEXT and f.json().get("op") == 1)


def test_a_missing_ack_is_no_zombie_while_reading_is_paused_only() -> None:
    conn = make()
    peer = open_ready(conn, interval_ms=10000)
    conn.handle_timer(conn.get_timer())  # type: ignore[arg-type]  # beat 1, never ACKed
    conn.reading_paused = True
    conn.handle_timer(conn.get_timer())  # type: ignore[arg-type]  # due again: beat 2
    conn.reading_paused = False
    conn.handle_timer(conn.get_timer())  # type: ignore[arg-type]  # still no ACK: zombie
    peer.pump_from_client()
    assert [f["op"] for f in peer.take() if isinstance(f, dict)] == [1, 1]
    assert drain(conn) == [ConnectionEnded(cause=EndCause.HEARTBEAT_TIMEOUT,
                                           next_step=NextStep.RESUME)]


def test_the_session_carries_the_pause_to_every_new_connection() -> None:
    from .session_harness import Driver, gateway_ok, make_session, token_ok

    driver = Driver(make_session())
    driver.session.start(0.0)
    driver.session.set_reading_paused(True)
    driver.answer_http(token_ok(), 0.0)
    driver.answer_http(gateway_ok(), 0.0)
    driver.connect(0.0)
    assert driver.session.connection is not None
    assert driver.session.connection.reading_paused
    driver.session.set_reading_paused(False)
    assert not driver.session.connection.reading_paused
