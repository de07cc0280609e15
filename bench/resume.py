"""Resume after an abrupt drop: from the moment the simulator cuts the TCP connection
(no close frame) to the bot's RESUMED, on loopback, with every event delivered once
(issue 15).

The simulator runs in this process on its own thread (bench/README.md); each driver's
bot runs on another, and so does the competitor, qq-botpy (``on_ready``,
``on_resumed``, ``on_c2c_message_create`` recorded the same way; its row is skipped when
it is not installed: ``pip install -e '.[bench]'``).  A run: READY, five messages
delivered, then the drop; five more messages are injected at once (the session queues
them for the Resume's replay); the figure is the time from the drop to the RESUMED
dispatch reaching the bot's handler, and the run counts only if all ten messages
arrived exactly once.  The first reconnect after a live connection goes at once
(ReconnectPolicy.reconnect_at_once), so the figure is a TCP connect, the upgrade,
Hello, Resume and the replay.

    python bench/resume.py [--runs K] [--only botpy,asyncio,trio,threaded] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
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
#: printed for context (qqbot-agent-sdk has no RESUMED callback to time here).
REFERENCE_S: Final = {"agent-sdk": 2.1, "qqproto before issue 15": 1.3}
DRIVERS: Final = ("asyncio", "trio", "threaded")
COMPETITOR: Final = "botpy"


def _seen(event: Any) -> Any:
    """What the run checks of a qqproto event: "READY", "RESUMED", ("MSG", event id)."""
    from qqproto.events import Dispatch, Ready, Resumed

    if isinstance(event, Ready):
        return "READY"
    if isinstance(event, Resumed):
        return "RESUMED"
    if type(event) is Dispatch:
        return ("MSG", event.id)
    return None


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
    record = lambda event: recorder(_seen(event))  # noqa: E731
    if driver == "threaded":
        from qqproto_transports.threads import Bot as ThreadedBot

        bot: Any = ThreadedBot(settings, env={})
        bot.on()(record)
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
    bot.on()(record)
    thread = threading.Thread(target=runner, daemon=True, name=f"bench-{driver}")
    thread.start()
    return bot, thread


def _start_botpy(sim_env: dict[str, str], recorder: Recorder) -> tuple[Any, threading.Thread]:
    """qq-botpy aimed at the simulator (as bench/gateway_throughput.py aims it), on a
    thread with its own loop; the "bot" returned is that loop and its main task."""
    import botpy
    from gateway_throughput import aim_botpy_at

    aim_botpy_at(sim_env)

    class Client(botpy.Client):  # type: ignore[misc]
        async def on_ready(self) -> None:
            recorder("READY")

        async def on_resumed(self) -> None:
            recorder("RESUMED")

        async def on_c2c_message_create(self, message: Any) -> None:
            recorder(("MSG", message.event_id))

    handle: dict[str, Any] = {}

    async def main() -> None:
        handle["loop"], handle["task"] = asyncio.get_running_loop(), asyncio.current_task()
        client = Client(intents=botpy.Intents(public_messages=True), bot_log=False,
                        ext_handlers=False)
        try:
            async with client:
                await client.start(appid=sim_env["QQBOT_APP_ID"],
                                   secret=sim_env["QQBOT_CLIENT_SECRET"])
        except asyncio.CancelledError:
            pass

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True,
                              name="bench-botpy")
    thread.start()
    return handle, thread


def _stop(driver: str, bot: Any, thread: threading.Thread) -> None:
    if driver == COMPETITOR:
        if "loop" in bot:
            bot["loop"].call_soon_threadsafe(bot["task"].cancel)
        thread.join(10)
        return
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
    from qqproto.simulator import Simulator
    from qqproto_transports.simulator import SimulatorThread

    def messages(events: list[tuple[float, Any]]) -> list[str]:
        return [e[1] for _, e in events if isinstance(e, tuple)]

    recorder = Recorder()
    with SimulatorThread(Simulator(), lifetime=120) as sim:
        if driver == COMPETITOR:
            bot, thread = _start_botpy(sim.env(), recorder)
        else:
            bot, thread = _start(driver, Settings.from_env(sim.env()), recorder)
        try:
            recorder.wait(lambda evs: any(e == "READY" for _, e in evs))
            ids = [sim.inject_c2c_message("BENCH_USER", f"before {i}").id for i in range(5)]
            recorder.wait(lambda evs: sum(m in ids for m in messages(evs)) == 5)
            dropped_at = time.perf_counter()
            sim.drop_connections()
            ids += [sim.inject_c2c_message("BENCH_USER", f"after {i}").id for i in range(5)]
            resumed_at = recorder.wait(lambda evs: next(
                (t for t, e in evs if e == "RESUMED"), None))
            recorder.wait(lambda evs: set(messages(evs)) >= set(ids))
            seen = [m for m in messages(recorder.events) if m in ids]
            if sorted(seen) != sorted(ids):
                raise RuntimeError(f"lost or repeated events: {len(seen)} of {len(ids)}")
            return float(resumed_at - dropped_at)
        finally:
            _stop(driver, bot, thread)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=5, help="runs per row (median kept)")
    parser.add_argument("--only", default="",
                        help="comma-separated: " + ",".join((*DRIVERS, COMPETITOR)))
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    names = [d for d in (args.only.split(",") if args.only else [COMPETITOR, *DRIVERS]) if d]
    medians: dict[str, list[float] | str] = {}
    for name in names:
        if name == COMPETITOR and importlib.util.find_spec("botpy") is None:
            medians[name] = "not installed (pip install -e '.[bench]')"
            continue
        try:
            medians[name] = [one_run(name) for _ in range(args.runs)]
        except Exception as exc:  # a row, never a crash of the whole bench
            medians[name] = f"failed: {type(exc).__name__}: {exc}"[:80]
    rival = medians.get(COMPETITOR)
    rival_s = statistics.median(rival) if isinstance(rival, list) else None
    rows, failed = [], False
    for name, times in medians.items():
        label = "qq-botpy" if name == COMPETITOR else name
        if isinstance(times, str):
            rows.append([label, "-", "-", "-", "-", times])
            failed |= name != COMPETITOR
            continue
        median = statistics.median(times)
        ratio = "-" if rival_s is None else f"{median / rival_s:.3f}x"
        if name == COMPETITOR:
            rows.append([label, f"{median:.3f}", f"{min(times):.3f}", f"{max(times):.3f}",
                         ratio, "competitor"])
            continue
        ok = median <= TARGET_S
        failed |= not ok
        rows.append([label, f"{median:.3f}", f"{min(times):.3f}", f"{max(times):.3f}", ratio,
                     f"{'PASS' if ok else 'FAIL'} (<= {TARGET_S} s)"])
    print(f"resume after an abrupt drop, loopback, {args.runs} runs per row, zero loss "
          "checked\n")
    print(_common.format_table(["row", "median s", "min s", "max s", "x qq-botpy", "verdict"],
                               rows, "<>>>><"))
    print("\nfor context, the issue's figures on this machine class: "
          + ", ".join(f"{k} {v:g} s" for k, v in REFERENCE_S.items()))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
