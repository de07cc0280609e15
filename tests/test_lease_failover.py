"""Shards across processes (issue 13): three gateway processes divide four shards by
leases in a real Redis; ``kill -9`` of one, and its shards are resumed by the others
within two heartbeat intervals, with no event lost and none handled twice.  Identifies
of every process are paced by ``max_concurrency`` through the store.  Real processes
(tests/support/shard_worker.py, forked from a warm server) against the simulator on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from qqproto.simulator._simulator import Simulator
from qqproto_transports.simulator import SimulatorThread
from qqproto_transports.stores import open_store

from .driver_support_loopback import wait_until
from .support import shard_worker

HEARTBEAT_MS = 1500
LEASE_TTL = 1.5  # at most one heartbeat interval: the takeover fits in two
#: The identify window, shortened from 5 s (§8.4) so that observing it costs little;
#: the workers start within a fraction of it, so without pacing they would identify
#: together.  tests/test_leases.py checks the 5 s arithmetic.
IDENTIFY_WINDOW = 1.5


def _guild(shard: int) -> str:
    """A guild whose events go to ``shard`` of four: ``(guild_id >> 22) % 4`` (§10)."""
    return str((shard + 4) << 22)


class Worker:
    """One gateway process and the lines its handlers wrote."""

    def __init__(self, driver: str, store: str, out: Path, env: dict[str, str], *,
                 shards: int = 4, per_process: int = 2) -> None:
        self.out = out
        self.proc = shard_worker.start(driver, store, shards, per_process, LEASE_TTL,
                                       str(out), env, IDENTIFY_WINDOW)

    def lines(self, kind: str) -> list[str]:
        try:
            text = self.out.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line.split(" ", 1)[1] for line in text.splitlines()
                if line.startswith(kind + " ")]

    def kill(self) -> None:
        """``kill -9``: no close frame, no lease released, no last snapshot saved."""
        self.proc.kill()
        self.proc.join()

    def stop(self) -> int | None:
        if self.proc.is_alive() and self.proc.pid is not None:
            os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        return self.proc.exitcode


@pytest.mark.parametrize("driver", ["asyncio", "threads", "trio"])
def test_a_killed_process_s_shards_are_resumed_elsewhere_and_nothing_is_lost_or_doubled(
        driver: str, redis_url: str, tmp_path: Path) -> None:
    app_id = f"8{uuid.uuid4().int % 10**8}"
    paced = driver == "asyncio"  # one run observes the identify buckets
    sim = Simulator(app_id=app_id, heartbeat_interval_ms=HEARTBEAT_MS,
                    max_concurrency=2 if paced else 4)
    store: Any = open_store(redis_url)
    with SimulatorThread(sim, lifetime=90) as server:
        env = server.env()
        workers = [Worker(driver, redis_url, tmp_path / f"w{i}.txt", env) for i in range(3)]
        try:
            wait_until(lambda: sum(len(w.lines("READY")) for w in workers) == 4,
                       timeout=25, what="four shards READY")
            for shard in range(4):
                server.inject_channel_message(f"C{shard}", _guild(shard), "A", f"before{shard}")
            wait_until(lambda: sum(len(w.lines("MSG")) for w in workers) == 4,
                       what="the first four messages")
            # Handled and marked done in the store (marks go out off the loop).
            wait_until(lambda: len(list(store._client.scan_iter(
                f"qqproto:{app_id}:processed:*"))) >= 4, what="done marks")
            victim = max(workers, key=lambda w: len(w.lines("MSG")))
            lost_shards = sorted(int(m[-1]) for m in victim.lines("MSG"))
            victim.kill()
            killed_at = time.time()
            for shard in range(4):
                server.inject_channel_message(f"C{shard}", _guild(shard), "A", f"after{shard}")
            survivors = [w for w in workers if w is not victim]
            wait_until(lambda: sum(len(w.lines("MSG")) for w in workers) == 8,
                       timeout=15, what="the four messages after the kill")

            def resumed() -> list[float]:  # (a worker pool may write it after the messages)
                found = [float(t) for w in survivors for t in w.lines("RESUMED")]
                return found if len(found) >= len(lost_shards) else []

            resumed_at = wait_until(resumed, what="RESUMED lines")
        finally:
            exits = [worker.stop() for worker in workers]
            store.close()
        counters = server.counters()
        identify_log = server.call(lambda s, now: list(s.identify_log))
    assert sorted(exits, key=str) == [-signal.SIGKILL, 0, 0]
    handled = sorted(m for w in workers for m in w.lines("MSG"))
    assert handled == sorted([f"before{i}" for i in range(4)] + [f"after{i}" for i in range(4)])
    assert len(lost_shards) >= 1
    # Each shard of the dead process was resumed (not identified) by a survivor, in time.
    assert counters.identifies == 4 and counters.resumes == len(lost_shards)
    assert len(resumed_at) == len(lost_shards)
    assert max(resumed_at) - killed_at < 2 * HEARTBEAT_MS / 1000
    assert counters.lost_events == 0
    if paced:  # buckets shard % 2: one identify per bucket per window, across processes
        for bucket in (0, 1):
            times = sorted(at for shard, at in identify_log if shard[0] % 2 == bucket)
            assert len(times) == 2 and times[1] - times[0] >= IDENTIFY_WINDOW - 0.05
