"""Gateway bots keep their session in a store, and skip events another process already
handled (a shared store), on every driver against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from qqproto.events import Ready, Resumed
from qqproto.models import MessageEvent
from qqproto.simulator._simulator import Simulator
from qqproto.stores import StoreKeys
from qqproto_transports.simulator import SimulatorThread
from qqproto_transports.stores import open_store

from .driver_support_loopback import settings_for, wait_until
from .support.running import RunningBot


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(heartbeat_interval_ms=1000), lifetime=60) as server:
        yield server


def _bot(driver: str, sim: SimulatorThread, store: str, seen: list[str],
         ready: list[object]) -> RunningBot:
    runner = RunningBot(driver, settings_for(sim, store=store))

    def record(event: MessageEvent) -> None:
        seen.append(event.message.content)

    runner.bot.on(MessageEvent)(record)
    runner.bot.on(Ready)(ready.append)
    runner.bot.on(Resumed)(ready.append)
    return runner.start()


@pytest.mark.parametrize("driver", ["asyncio", "threads", "trio"])
def test_a_restart_from_a_lagging_snapshot_replays_nothing_already_handled(
        driver: str, sim: SimulatorThread, tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'bot.db'}"
    first_seen: list[str] = []
    ready: list[object] = []
    first = _bot(driver, sim, url, first_seen, ready)
    wait_until(lambda: ready, what="READY")
    for text in ("one", "two", "three"):
        sim.inject_c2c_message("U", text)
    wait_until(lambda: len(first_seen) == 3, what="three messages")
    first.stop()

    # The saved snapshot lags (the process died between saves): back to READY's seq.
    store = open_store(url)
    key = StoreKeys(sim.sim.app_id).session((0, 1))
    snapshot = json.loads(store.get(key) or "{}")
    assert snapshot["seq"] >= 4
    store.set(key, json.dumps({**snapshot, "seq": 1}))

    sim.inject_c2c_message("U", "four")  # while nobody is connected
    second_seen: list[str] = []
    resumed: list[object] = []
    second = _bot(driver, sim, url, second_seen, resumed)
    wait_until(lambda: "four" in second_seen, what="the new message")
    second.stop()
    store.close()
    assert first_seen == ["one", "two", "three"]
    assert second_seen == ["four"]  # one..three were replayed, and dropped as done
    assert [type(e) for e in resumed] == [Resumed]
    counters = sim.counters()
    assert counters.resumes == 1 and counters.replayed_events == 4


def test_a_file_store_keeps_the_session_across_restarts(sim: SimulatorThread,
                                                          tmp_path: Path) -> None:
    url = f"file:{tmp_path / 'bot.json'}"
    seen: list[str] = []
    ready: list[object] = []
    first = _bot("asyncio", sim, url, seen, ready)
    wait_until(lambda: ready, what="READY")
    sim.inject_c2c_message("U", "one")
    wait_until(lambda: seen == ["one"])
    first.stop()
    again: list[object] = []
    second = _bot("asyncio", sim, url, seen, again)
    wait_until(lambda: again, what="RESUMED")
    second.stop()
    assert [type(e) for e in again] == [Resumed]
    assert sim.counters().identifies == 1


def test_a_redis_store_is_namespaced_by_app_id(redis_url: str) -> None:
    app_id = f"9{uuid.uuid4().int % 10**8}"
    ready: list[object] = []
    with SimulatorThread(Simulator(app_id=app_id, heartbeat_interval_ms=1000),
                         lifetime=60) as sim:
        runner = RunningBot("asyncio", settings_for(sim, store=redis_url))
        runner.bot.on(Ready)(ready.append)
        runner.start()
        wait_until(lambda: ready, what="READY")
        runner.stop()
    store = open_store(redis_url)
    saved = store.get(StoreKeys(app_id).session((0, 1)))
    store.close()
    assert saved is not None and json.loads(saved)["shard"] == [0, 1]
