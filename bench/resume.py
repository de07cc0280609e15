"""Resume after an abrupt drop: from the moment the simulator cuts the TCP connection
(no close frame) to the bot's RESUMED, on loopback, with every event delivered once
(issue 15).

The simulator runs in this process on its own thread (bench/README.md); each driver's
bot runs on another.  A run: READY, five messages delivered, then the drop; five more
messages are injected at once (the session queues them for the Resume's replay); the
figure is the time from the drop to the RESUMED dispatch reaching the bot's handler, and
the run counts only if all ten messages arrived exactly once.  The first reconnect after
a live connection goes at once (ReconnectPolicy.reconnect_at_once), so the figure is a
TCP connect, the upgrade, Hello, Resume and the replay.

    python bench/resume.py [--runs K] [--only asyncio,trio,threaded] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

_common.ensure_repo_on_path()

TARGET_S: Final = 0.25
#: What the issue measured elsewhere on this machine class (seconds, drop to RESUMED),
#: printed for context: the competitors are not driven through a drop here.
REFERENCE_S: Final = {"botpy": 5.0, "agent-sdk": 2.1, "qqproto before issue 15": 1.3}
DRIVERS: Final = ("asyncio", "trio", "threaded")


class Recorder:
    """The bot's one handler: every event with the time it arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, Any]] = []
        self.changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.changed:
            self.events.append((time.perf_counter(), event))
            self.changed.notify_all()

    def wait(self, predicate: Any, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not (found := predicate(self.events)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the bot did not get there")
                self.changed.wait(left)
        return found


def _start(driver: str, settings: Any, recorder: Recorder) -> tuple[Any, threading.Thread]:
    if driver == "threaded":
        from qqproto_transports.threads import Bot as ThreadedBot

        bot: Any = ThreadedBot(settings, env={})
        bot.on()(recorder)
        bot.start()
        return bot, bot._thread
    if driver == "asyncio":
        from qqproto_transports.asyncio import Bot as AsyncioBot

        bot = AsyncioBot(settings, env={})
        runner = functools.partial(asyncio.run, bot.run(handle_signals=False))
    else:
        import trio

        from qqproto_transports.trio import Bot as TrioBot

        bot = TrioBot(settings, env={})
        runner = functools.partial(trio.run, functools.partial(bot.run, handle_signals=False))
    bot.on()(recorder)
    thread = threading.Thread(target=runner, daemon=True, name=f"bench-{driver}")
    thread.start()
    return bot, thread


def _stop(driver: str, bot: Any, thread: threading.Thread) -> None:
    if driver == "threaded":
        bot.close(timeout=10)
        return
    if driver == "asyncio":
        loop = bot._loop
        if loop is not None:
            loop.call_soon_threadsafe(bot.close)
    else:
        bot.close()  # safe from any thread (docs/trio.rst)
    thread.join(10)


def one_run(driver: str) -> float:
    """Seconds from the drop to RESUMED, or raise if an event was lost or repeated."""
    from qqproto import Settings
    from qqproto.events import Dispatch, Ready, Resumed
    from qqproto.simulator import Simulator
    from qqproto_transports.simulator import SimulatorThread

    recorder = Recorder()
    with SimulatorThread(Simulator(), lifetime=120) as sim:
        bot, thread = _start(driver, Settings.from_env(sim.env()), recorder)
        try:
            recorder.wait(lambda evs: any(isinstance(e, Ready) for _, e in evs))
            ids = [sim.inject_c2c_message("BENCH_USER", f"before {i}").id for i in range(5)]
            recorder.wait(lambda evs: sum(type(e) is Dispatch and e.id in ids
                                          for _, e in evs) == 5)
            dropped_at = time.perf_counter()
            sim.drop_connections()
            ids += [sim.inject_c2c_message("BENCH_USER", f"after {i}").id for i in range(5)]
            resumed_at = recorder.wait(lambda evs: next(
                (t for t, e in evs if isinstance(e, Resumed)), None))
            recorder.wait(lambda evs: {e.id for _, e in evs if type(e) is Dispatch} >= set(ids))
            seen = [e.id for _, e in recorder.events if type(e) is Dispatch and e.id in ids]
            if sorted(seen) != sorted(ids):
                raise RuntimeError(f"lost or repeated events: {len(seen)} of {len(ids)}")
            return float(resumed_at - dropped_at)
        finally:
            _stop(driver, bot, thread)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=5, help="runs per driver (median kept)")
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(DRIVERS))
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    drivers = [d for d in (args.only.split(",") if args.only else DRIVERS) if d]
    rows, failed = [], False
    for driver in drivers:
        try:
            times = [one_run(driver) for _ in range(args.runs)]
        except Exception as exc:  # a row, never a crash of the whole bench
            rows.append([driver, "-", "-", "-", f"failed: {type(exc).__name__}: {exc}"[:80]])
            failed = True
            continue
        median = statistics.median(times)
        ok = median <= TARGET_S
        failed |= not ok
        rows.append([driver, f"{median:.3f}", f"{min(times):.3f}", f"{max(times):.3f}",
                     f"{'PASS' if ok else 'FAIL'} (<= {TARGET_S} s); "
                     f"x botpy {median / REFERENCE_S['botpy']:.3f}"])
    print(f"resume after an abrupt drop, loopback, {args.runs} runs per driver, zero loss "
          "checked\n")
    print(_common.format_table(["driver", "median s", "min s", "max s", "verdict"], rows,
                               "<>>><"))
    print("\ncompetitors (not driven through a drop here; the issue's figures on this "
          "machine class): " + ", ".join(f"{k} {v:g} s" for k, v in REFERENCE_S.items()))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
