"""Many bots in one process: memory and CPU per connected, idle bot (issue 15).

A multi-tenant host runs one bot per tenant.  This starts N asyncio bots (100 by
default) in one event loop against the simulator (in this process, on its own thread,
each bot with its own session, token state and connection), waits until every one is READY,
then measures for ``--idle`` seconds: resident memory the bots added (over the process
before the first was created) and the process CPU spent while they only heartbeat.  The
simulator's heartbeat interval is shortened (``--heartbeat-ms``) so that an idle window
of a few seconds holds several heartbeats per bot; CPU per heartbeat is printed too.

    python bench/idle_bots.py [--bots N] [--idle S] [--heartbeat-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

_common.ensure_repo_on_path()

SHARDS_PER_SIMULATOR = 50


def _rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 1e6
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


async def _run(count: int, idle: float, heartbeat_ms: int) -> dict[str, Any]:
    from qqproto import Settings
    from qqproto.events import Ready
    from qqproto.simulator import Simulator
    from qqproto_transports.asyncio import Bot
    from qqproto_transports.simulator import SimulatorThread

    # A simulator plays one app, so each bot is one shard of one (its own session and
    # connection, as each tenant's bot would be); a simulator takes at most 64 shards.
    sizes = [min(SHARDS_PER_SIMULATOR, count - start)
             for start in range(0, count, SHARDS_PER_SIMULATOR)]
    with contextlib.ExitStack() as stack:
        sims = []
        for size in sizes:
            model = Simulator(heartbeat_interval_ms=heartbeat_ms,
                              max_connections=4 * size + 16, max_sessions=size + 16)
            model.max_concurrency = size  # all of them may identify at once
            sims.append(stack.enter_context(SimulatorThread(model, lifetime=600)))
        gc.collect()
        before = _rss_mb()
        ready = 0
        all_ready = asyncio.Event()

        def on_ready(event: Ready) -> None:
            nonlocal ready
            ready += 1
            if ready == count:
                all_ready.set()

        bots = []
        for sim, size in zip(sims, sizes, strict=True):
            for n in range(size):
                bot = Bot(Settings.from_env(sim.env()).replace(shard=(n, size)), env={})
                bot.on(Ready)(on_ready)
                bots.append(bot)
        runs = [asyncio.ensure_future(bot.run(handle_signals=False)) for bot in bots]
        started = time.perf_counter()
        try:
            await asyncio.wait_for(all_ready.wait(), 60)
        except TimeoutError:
            raise RuntimeError(f"{ready} of {count} bots READY") from None
        connect_s = time.perf_counter() - started
        gc.collect()
        beats_before = sum(sim.counters().heartbeats for sim in sims)
        cpu0, rss_ready = time.process_time(), _rss_mb()
        await asyncio.sleep(idle)
        cpu = time.process_time() - cpu0
        beats = sum(sim.counters().heartbeats for sim in sims) - beats_before
        for bot in bots:
            bot.close()
        await asyncio.wait_for(asyncio.gather(*runs), 60)
    return {"bots": count, "connect_s": connect_s, "rss_added_mb": rss_ready - before,
            "idle_s": idle, "idle_cpu_s": cpu, "heartbeats": beats}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds measured idle")
    parser.add_argument("--heartbeat-ms", type=int, default=2000,
                        help="the simulator's heartbeat interval")
    args = parser.parse_args(argv)
    r = asyncio.run(_run(args.bots, args.idle, args.heartbeat_ms))
    per_bot_kb = r["rss_added_mb"] * 1e3 / r["bots"]
    cpu_per_bot_s = r["idle_cpu_s"] / r["bots"] / r["idle_s"]
    per_beat_us = r["idle_cpu_s"] / max(1, r["heartbeats"]) * 1e6
    print(f"{r['bots']} idle asyncio bots in one process, simulator heartbeat "
          f"{args.heartbeat_ms} ms, measured over {r['idle_s']:g} s\n")
    print(_common.format_table(
        ["figure", "value"],
        [["all READY after", f"{r['connect_s']:.2f} s"],
         ["resident memory added", f"{r['rss_added_mb']:.1f} MB ({per_bot_kb:.0f} kB per bot)"],
         ["idle CPU", f"{r['idle_cpu_s']:.3f} s ({cpu_per_bot_s * 1e6:.0f} us per bot per s)"],
         ["heartbeats answered", f"{r['heartbeats']} ({per_beat_us:.0f} us CPU each, the "
                                 "simulator's included)"]], "<<"))
    print("\nthe simulator runs in the same process: its share is in the CPU figure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
