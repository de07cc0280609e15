"""Several shards of one bot in one process (gateway.md §10, §8.4), against the
simulator on 127.0.0.1: guild events reach the group through the shard their guild
belongs to, identifies are paced by ``max_concurrency``, and 4011 stops a bot that
needs sharding."""

from __future__ import annotations

import pytest

from qqproto import Secret, Settings
from qqproto.events import Ready
from qqproto.models import MessageEvent
from qqproto.simulator._simulator import Simulator
from qqproto_transports.simulator import SimulatorThread

from .driver_support_loopback import settings_for, wait_until
from .support.running import RunningBot

#: (guild_id >> 22) % 2: shard 1, then shard 0.
GUILD_ON_1, GUILD_ON_0 = str(1 << 22), str(2 << 22)


@pytest.mark.parametrize("driver", ["asyncio", "threads", "trio"])
def test_two_shards_share_one_token_and_each_gets_its_guilds(driver: str) -> None:
    sim = Simulator(heartbeat_interval_ms=1000, max_concurrency=2, recommended_shards=2)
    with SimulatorThread(sim, lifetime=60) as server:
        runner = RunningBot(driver, settings_for(server, shards=2))
        ready: list[Ready] = []
        seen: list[tuple[str, str | None]] = []
        runner.bot.on(Ready)(ready.append)
        runner.bot.on(MessageEvent)(
            lambda e: seen.append((e.message.content.split()[-1], e.message.guild_id)))
        runner.start()
        wait_until(lambda: len(ready) == 2, what="both shards READY")
        server.inject_channel_message("C1", GUILD_ON_1, "A", "to one")
        server.inject_channel_message("C0", GUILD_ON_0, "A", "to zero")
        wait_until(lambda: len(seen) == 2, what="both messages")
        clients = {id(shard.http) for shard in runner.bot._shards}
        stop = runner.stop()
        shards = server.call(lambda s, now: sorted(shard for shard, _ in s.identify_log))
        tokens = server.counters().tokens_issued
    assert sorted(seen) == [("one", GUILD_ON_1), ("zero", GUILD_ON_0)]
    assert shards == [(0, 2), (1, 2)]
    assert not stop.fatal
    assert tokens == 1  # one token serves both shards
    assert clients == {id(runner.bot.http)}  # and one HTTP client
    sessions = sorted(tuple(r.shard) for r in ready)
    assert sessions == [(0, 2), (1, 2)]


@pytest.mark.parametrize("driver", ["asyncio", "threads", "trio"])
def test_auto_shards_run_as_many_shards_as_the_platform_recommends(driver: str) -> None:
    sim = Simulator(heartbeat_interval_ms=1000, max_concurrency=3, recommended_shards=3)
    with SimulatorThread(sim, lifetime=60) as server:
        runner = RunningBot(driver, settings_for(server, shards="auto"))
        ready: list[Ready] = []
        runner.bot.on(Ready)(ready.append)
        runner.start()
        wait_until(lambda: len(ready) == 3, what="three shards READY")
        stop = runner.stop()
    assert sorted(tuple(r.shard) for r in ready) == [(0, 3), (1, 3), (2, 3)]
    assert not stop.fatal


def test_identifies_are_paced_by_max_concurrency_per_five_seconds() -> None:
    sim = Simulator(heartbeat_interval_ms=1000, max_concurrency=2)
    with SimulatorThread(sim, lifetime=60) as server:
        runner = RunningBot("asyncio", settings_for(server, shards=3))
        ready: list[Ready] = []
        runner.bot.on(Ready)(ready.append)
        runner.start()
        wait_until(lambda: len(ready) == 3, timeout=15, what="three shards READY")
        runner.stop()
        log = server.call(lambda s, now: list(s.identify_log))
    times: dict[int, float] = {}
    for shard, at in log:  # the first identify of each shard (a later one may follow)
        times.setdefault(shard[0], at)
    # Shards 0 and 2 share bucket 0: whichever asks first goes, the other waits out the
    # window; shard 1 (bucket 1) goes with the first.
    first, second = sorted((times[0], times[2]))
    assert abs(times[1] - first) < 1.0
    assert second - first >= 4.9


def test_a_bot_that_needs_sharding_stops_with_4011() -> None:
    sim = Simulator(heartbeat_interval_ms=1000, required_shards=2)
    with SimulatorThread(sim, lifetime=60) as server:
        runner = RunningBot("asyncio", settings_for(server))
        runner.start()
        wait_until(lambda: runner.result is not None, what="the stop")
        stop = runner.stop()
    assert stop.fatal and stop.close_code == 4011


@pytest.mark.parametrize(("shards", "recommended", "expected"), [
    ("auto", 4, 4),      # gateway.md §2.2: the platform's recommendation
    ("auto", None, 1),   # no recommendation in the answer: one shard
    ("auto", 0, 1),
    (2, 8, 2),           # the application's own count stays
    (None, 8, None),
])
def test_auto_shards_take_the_platforms_recommendation(
        shards: object, recommended: int | None, expected: object) -> None:
    settings = Settings(app_id="102", secret=Secret("s"), shards=shards)  # type: ignore[arg-type]
    assert settings.with_recommended_shards(recommended).shards == expected
