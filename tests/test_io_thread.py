"""``Bot(settings, io_thread=True)`` on asyncio and trio: the connection runs on its own
thread, handlers on the application's loop.  Loopback against the simulator on
127.0.0.1 with a 200 ms heartbeat (the bot beats every 160 ms).

The control: the same blocking handler without the option costs the connection (the
simulator ends it with 4009, gateway.md §8.1, and the bot resumes) — so the tests that
pass with the option on are able to fail.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import trio

from qqproto import Limits, Settings
from qqproto.events import ConnectionEnded, Dispatch, Event, Resumed
from qqproto.gateway import Stop
from qqproto.models import C2CMessageCreate
from qqproto.simulator._records import Direction, FrameKind
from qqproto_transports.asyncio import Bot as AsyncioBot
from qqproto_transports.trio import Bot as TrioBot

from .driver_support_loopback import frames, simulator, wait_until

DRIVERS = ["asyncio", "trio"]
BLOCK = 1.0  # seconds: six heartbeat periods of the bot


def _ops(server: Any, direction: Direction, op: int) -> int:
    return sum(1 for f in frames(server) if f.direction is direction
               and f.kind is FrameKind.TEXT and f.json().get("op") == op)


class _Run:
    """A bot of ``driver`` running on its own thread (its loop is the application's)."""

    def __init__(self, driver: str, settings: Settings, *, io_thread: bool) -> None:
        self.driver = driver
        self.bot: AsyncioBot | TrioBot = (AsyncioBot if driver == "asyncio" else TrioBot)(
            settings, env={}, io_thread=io_thread)
        self.stop: list[Stop] = []
        self.ends: list[ConnectionEnded] = []
        self.resumed: list[Resumed] = []
        self.bot.on(ConnectionEnded)(self.ends.append)
        self.bot.on(Resumed)(self.resumed.append)
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        if self.driver == "asyncio":
            self.stop.append(asyncio.run(self.bot.run(handle_signals=False)))
        else:
            self.stop.append(trio.run(lambda: self.bot.run(handle_signals=False)))

    def start(self) -> _Run:
        self.thread.start()
        wait_until(lambda: self.bot.session.connection is not None
                   and self.bot.session.connection.state.name == "OPEN", what="ready")
        return self

    def close(self) -> None:
        self.bot.close()
        self.thread.join(10)
        assert not self.thread.is_alive()


def _blocking_run(driver: str, io_thread: bool) -> tuple[_Run, list[str], list[int]]:
    """Five messages; the handler of the first blocks its loop for BLOCK seconds and
    counts the heartbeats the simulator saw and ACKed meanwhile; each handler replies."""
    got: list[str] = []
    during: list[int] = []
    with simulator(heartbeat_interval_ms=200) as server:
        run = _Run(driver, Settings.from_env(server.env()), io_thread=io_thread)
        bot = run.bot

        @bot.on(C2CMessageCreate)
        async def on_message(event: C2CMessageCreate) -> None:
            got.append(event.message.content)
            if event.message.content == "m0":
                beats = _ops(server, Direction.IN, 1)
                acks = _ops(server, Direction.OUT, 11)
                time.sleep(BLOCK)  # a synchronous tool call, on the application's loop
                during.extend([_ops(server, Direction.IN, 1) - beats,
                               _ops(server, Direction.OUT, 11) - acks])
            await bot.reply(event, f"re: {event.message.content}")

        run.start()
        try:
            sent = [server.inject_c2c_message("U", f"m{i}").id for i in range(5)]
            wait_until(lambda: len(got) >= 5 and len(server.sent_messages()) >= 5,
                       timeout=15, what="five replies")
            time.sleep(0.3)  # anything repeated would arrive now
            replies = sorted(m.content for m in server.sent_messages())
        finally:
            run.close()
    assert len(sent) == 5
    assert replies == [f"re: m{i}" for i in range(5)]
    return run, got, during


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_blocking_handler_keeps_the_connection_with_io_thread(driver: str) -> None:
    run, got, during = _blocking_run(driver, io_thread=True)
    assert sorted(got) == [f"m{i}" for i in range(5)]  # each exactly once
    beats, acks = during
    assert beats >= 3 and acks >= 3  # heartbeats went out and were ACKed while it blocked
    assert [e.close_code for e in run.ends] == [None]  # only the final, local close
    assert not run.resumed
    assert run.stop and not run.stop[0].fatal


@pytest.mark.parametrize("driver", DRIVERS)
def test_without_io_thread_the_same_handler_costs_the_connection(driver: str) -> None:
    run, got, during = _blocking_run(driver, io_thread=False)
    assert sorted(got) == [f"m{i}" for i in range(5)]  # the resume replays nothing twice
    # The blocked loop sent no heartbeat: at most one it wrote just before the handler
    # blocked is still on its way when the count is taken (with io_thread: six).
    assert during[0] <= 1
    assert 4009 in [e.close_code for e in run.ends]  # session timed out (§8.1)
    assert run.resumed  # and the bot had to resume


@pytest.mark.parametrize("driver", DRIVERS)
def test_close_ends_cleanly_and_leaves_no_thread(driver: str) -> None:
    before = set(threading.enumerate())
    with simulator() as server:
        run = _Run(driver, Settings.from_env(server.env()), io_thread=True).start()
        assert any(t.name == "qqproto-gateway-io" for t in threading.enumerate())
        run.close()
        closes = [f.close_code for f in frames(server)
                  if f.direction is Direction.IN and f.kind is FrameKind.CLOSE]
    assert run.stop[0].reason == "closed by the application" and not run.stop[0].fatal
    assert closes  # the bot sent a close frame
    wait_until(lambda: not [t for t in threading.enumerate()
                            if t not in before and t.name == "qqproto-gateway-io"],
               what="the I/O thread ended")


@pytest.mark.parametrize("driver", DRIVERS)
def test_events_marks_and_close_from_a_handler(driver: str) -> None:
    """``events()`` yields on the application's loop; ``mark_processed`` from a handler
    reaches the session on the I/O thread; ``close()`` from a handler ends the run."""
    seen: list[Event | None] = []
    marked: list[int | None] = []
    with simulator() as server:
        settings = Settings.from_env(server.env(), auto_mark_processed=False)
        run = _Run(driver, settings, io_thread=True)
        bot = run.bot
        bot._subscribe(seen.append)

        @bot.on(Dispatch)
        def on_dispatch(event: Dispatch) -> None:
            bot.mark_processed(event)
            marked.append(event.seq)
            if event.type == "C2C_MESSAGE_CREATE" and event.data["content"] == "last":
                bot.close()

        run.start()
        server.inject_c2c_message("U", "first")
        server.inject_c2c_message("U", "last")
        run.thread.join(10)
        assert not run.thread.is_alive()
    assert run.stop[0].reason == "closed by the application"
    types = [type(e).__name__ for e in seen if e is not None]
    assert types.count("Dispatch") == 2 and types[-1] == "SessionStopped"
    snapshot = bot.session.snapshot(0.0)
    # Only marks move the resume point here (auto_mark_processed=False): they arrived.
    assert snapshot is not None and snapshot.seq == marked[-1] is not None


def _waiting(driver: str, got: list[str], release: threading.Event) -> Callable[[Any], Any]:
    sleep = asyncio.sleep if driver == "asyncio" else trio.sleep

    async def waiting(event: Dispatch) -> None:
        if type(event) is not Dispatch:
            return
        got.append(event.id or "")
        while not release.is_set():
            await sleep(0.01)
    return waiting


def _paused(run: _Run) -> bool:
    connection = run.bot.session.connection
    return connection is not None and connection.reading_paused


@pytest.mark.parametrize("driver", DRIVERS)
def test_backpressure_pauses_reading_on_the_io_thread(driver: str) -> None:
    got: list[str] = []
    release = threading.Event()
    with simulator(heartbeat_interval_ms=100) as server:
        settings = Settings.from_env(server.env(), limits=Limits(max_pending_events=4))
        run = _Run(driver, settings, io_thread=True)
        run.bot.on(Dispatch)(_waiting(driver, got, release))
        run.start()
        try:
            first = [server.inject_c2c_message("U", f"m{i}").id for i in range(4)]
            wait_until(lambda: len(got) == 4 and _paused(run), what="paused")
            rest = [server.inject_c2c_message("U", f"n{i}").id for i in range(20)]
            time.sleep(0.5)  # five heartbeat periods while paused
            assert len(got) == 4
            assert not [e for e in run.ends if e.close_code is not None]
            release.set()
            wait_until(lambda: len(got) == 24, what="the rest")
            assert sorted(got) == sorted(first + rest)
            wait_until(lambda: not _paused(run), what="resumed")
        finally:
            release.set()
            run.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_io_thread_does_not_combine_with_shards(driver: str) -> None:
    with simulator() as server:
        settings = Settings.from_env(server.env(), shards=2)
        with pytest.raises(ValueError, match="io_thread"):
            (AsyncioBot if driver == "asyncio" else TrioBot)(settings, env={}, io_thread=True)
