"""Many bots in one process: memory and CPU per connected, idle bot (issue 15).

A multi-tenant host runs one bot per tenant.  This starts N asyncio bots (100 by
default) in one event loop against the simulator (in this process, on its own thread,
each bot with its own session, token state and connection), waits until every one is READY,
then measures for ``--idle`` seconds: resident memory the bots added (over the process
before the first was created) and the process CPU spent while they only heartbeat.  The
simulator's heartbeat interval is shortened (``--heartbeat-ms``) so that an idle window
of a few seconds holds several heartbeats per bot; CPU per heartbeat is printed too.

The competitor row runs qq-botpy the same way in a fresh process: one ``botpy.Client``
whose app the simulator tells to open as many shards as there are bots (botpy opens
every shard ``/gateway/bot`` recommends, each its own session and connection; one
simulator, so at most 50), measured alike, per connection.  botpy heartbeats every
30 s whatever interval the server's Hello gives, so its simulator does not close
connections for missed heartbeats (``heartbeat_timeout_factor=None``); its CPU figure is
therefore that of fewer heartbeats than qqproto answers.

    python bench/idle_bots.py [--bots N] [--idle S] [--heartbeat-ms MS] [--only qqproto]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import resource
import subprocess
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


class _Readiness:
    """Counts READY callbacks (``ready``); :meth:`wait` until ``count`` came."""

    def __init__(self, count: int, what: str) -> None:
        self.count, self.what, self.seen = count, what, 0
        self._all = asyncio.Event()

    def ready(self, *_: object) -> None:
        self.seen += 1
        if self.seen == self.count:
            self._all.set()

    async def wait(self) -> float:
        """Seconds until every one was READY (60 at most, else an error)."""
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._all.wait(), 60)
        except TimeoutError:
            raise RuntimeError(f"{self.seen} of {self.count} {self.what} READY") from None
        return time.perf_counter() - started


async def _idle_figures(sims: list[Any], count: int, idle: float, before: float,
                        connect_s: float) -> dict[str, Any]:
    """Memory added since ``before``, and the CPU and heartbeats of ``idle`` seconds."""
    gc.collect()
    beats_before = sum(sim.counters().heartbeats for sim in sims)
    cpu0, rss_ready = time.process_time(), _rss_mb()
    await asyncio.sleep(idle)
    cpu = time.process_time() - cpu0
    beats = sum(sim.counters().heartbeats for sim in sims) - beats_before
    return {"bots": count, "connect_s": connect_s, "rss_added_mb": rss_ready - before,
            "idle_s": idle, "idle_cpu_s": cpu, "heartbeats": beats}


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
        readiness = _Readiness(count, "bots")
        bots = []
        for sim, size in zip(sims, sizes, strict=True):
            for n in range(size):
                bot = Bot(Settings.from_env(sim.env()).replace(shard=(n, size)), env={})
                bot.on(Ready)(readiness.ready)
                bots.append(bot)
        runs = [asyncio.ensure_future(bot.run(handle_signals=False)) for bot in bots]
        figures = await _idle_figures(sims, count, idle, before, await readiness.wait())
        for bot in bots:
            bot.close()
        await asyncio.wait_for(asyncio.gather(*runs), 60)
    return figures


async def _run_botpy(count: int, idle: float, heartbeat_ms: int) -> dict[str, Any]:
    """qq-botpy: one client opening ``count`` shards (each a session and a connection)."""
    import botpy
    from gateway_throughput import aim_botpy_at

    from qqproto.simulator import Simulator
    from qqproto_transports.simulator import SimulatorThread

    count = min(count, SHARDS_PER_SIMULATOR)
    model = Simulator(heartbeat_interval_ms=heartbeat_ms, heartbeat_timeout_factor=None,
                      recommended_shards=count, max_connections=4 * count + 16,
                      max_sessions=count + 16)
    # botpy 1.2 fails to start more than two shards when max_concurrency exceeds half of
    # them (it pops its session list by a growing index); the simulator does not pace
    # identifies, so with 1 every shard still connects at once.
    model.max_concurrency = 1
    with SimulatorThread(model, lifetime=600) as sim:
        aim_botpy_at(sim.env())
        gc.collect()
        before = _rss_mb()
        readiness = _Readiness(count, "botpy shards")

        class Client(botpy.Client):  # type: ignore[misc]
            async def on_ready(self) -> None:
                readiness.ready()

        client = Client(intents=botpy.Intents(public_messages=True), bot_log=False,
                        ext_handlers=False)

        async def run() -> None:
            async with client:
                await client.start(appid=sim.env()["QQBOT_APP_ID"],
                                   secret=sim.env()["QQBOT_CLIENT_SECRET"])

        task = asyncio.ensure_future(run())
        figures = await _idle_figures([sim], count, idle, before, await readiness.wait())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return figures


def _measure_in_a_fresh_process(row: str, args: argparse.Namespace,
                                count: int) -> dict[str, Any]:
    """One row in its own interpreter (memory figures must not share a heap)."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--row", row, "--bots", str(count),
         "--idle", str(args.idle), "--heartbeat-ms", str(args.heartbeat_ms)],
        capture_output=True, text=True, timeout=args.idle + 180, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("@@row "):
            return json.loads(line[len("@@row "):])  # type: ignore[no-any-return]
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"failed: {tail}"[:90]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds measured idle")
    parser.add_argument("--heartbeat-ms", type=int, default=2000,
                        help="the simulator's heartbeat interval")
    parser.add_argument("--only", default="", help="comma-separated: qqproto,botpy")
    parser.add_argument("--row", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row:  # one row, in this fresh process
        run = _run if args.row == "qqproto" else _run_botpy
        print("@@row " + json.dumps(asyncio.run(run(args.bots, args.idle, args.heartbeat_ms))))
        return 0
    rows = [r for r in (args.only.split(",") if args.only else ["qqproto", "botpy"]) if r]
    results: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row == "botpy" and importlib.util.find_spec("botpy") is None:
            results[row] = {"error": "not installed (pip install -e '.[bench]')"}
            continue
        # Twice, at half the bots and at all of them, each in a fresh process: the
        # difference is what one more bot costs, with nothing paid once per process
        # (modules imported on first use, a trust store) spread over the bots.
        count = args.bots if row == "qqproto" else min(args.bots, SHARDS_PER_SIMULATOR)
        half = _measure_in_a_fresh_process(row, args, max(1, count // 2))
        full = _measure_in_a_fresh_process(row, args, count)
        bad = half.get("error") or full.get("error")
        results[row] = {"error": bad} if bad else {**full, "half": half}
    rival = results.get("botpy", {})
    rival_kb = _marginal_kb(rival) if "bots" in rival else None
    table = []
    for row, r in results.items():
        label = "qqproto asyncio bots" if row == "qqproto" else "qq-botpy shards"
        if "error" in r:
            table.append([label, "-", "-", "-", "-", "-", "-", "-", "-", str(r["error"])])
            continue
        marginal_kb = _marginal_kb(r)
        per_bot_kb = r["rss_added_mb"] * 1e3 / r["bots"]
        cpu_per_bot_us = r["idle_cpu_s"] / r["bots"] / r["idle_s"] * 1e6
        per_beat_us = r["idle_cpu_s"] / max(1, r["heartbeats"]) * 1e6
        ratio = "-" if rival_kb is None else f"{marginal_kb / rival_kb:.2f}x"
        table.append([label, f"{r['half']['bots']}/{r['bots']}", f"{r['connect_s']:.2f}",
                      f"{marginal_kb:.0f}", ratio, f"{per_bot_kb:.0f}",
                      f"{cpu_per_bot_us:.0f}", f"{r['heartbeats']}", f"{per_beat_us:.0f}", ""])
    print(f"idle bots in one process, simulator heartbeat {args.heartbeat_ms} ms, measured "
          f"over {args.idle:g} s, each figure from a fresh process\n")
    print(_common.format_table(
        ["row", "bots", "READY after s", "kB per more bot", "x qq-botpy", "kB per bot (all)",
         "CPU us/bot/s", "heartbeats", "us CPU/heartbeat", "note"], table, "<>>>>>>>><"))
    print("\nkB per more bot: (memory added by all the bots - by half of them) / the other "
          "half; the simulator runs in the same process: its share is in the memory and "
          "CPU figures; qq-botpy's shards share one client (one token, one HTTP session); "
          "it heartbeats every 30 s whatever the server asks, so it answers fewer")
    return 0


def _marginal_kb(result: dict[str, Any]) -> float:
    half = result["half"]
    extra = result["bots"] - half["bots"]
    return float((result["rss_added_mb"] - half["rss_added_mb"]) * 1e3 / max(1, extra))


if __name__ == "__main__":
    sys.exit(main())
