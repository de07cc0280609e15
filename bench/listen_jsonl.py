"""``qqproto listen --jsonl > /dev/null`` against qq-botpy printing each event (issue 15).

The simulator pushes the same burst of C2C_MESSAGE_CREATE dispatches as
bench/gateway_throughput.py; each row is a worker process that prints one line per event
to /dev/null, and the figure is that process's CPU per event (all its threads) from just
before the burst to the line of the N-th event:

* ``listen-jsonl``: the command line itself, ``qqproto listen --jsonl`` (its ``main()``,
  called in the worker with stdout on /dev/null), on the asyncio transport;
* ``botpy-print``: a ``botpy.Client`` whose ``on_c2c_message_create`` prints the message
  it was given (``print(message, flush=True)``: botpy's own text form of it), to
  /dev/null.

Both write through the same sink, which counts the lines of C2C messages as they reach
/dev/null.  Target: listen-jsonl CPU/event at most a third of botpy-print's, in the same
run.

    python bench/listen_jsonl.py [--events N] [--repeat K] [--only a,b] [--json] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import io
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import Counter, Sample, StopSignal

_common.ensure_repo_on_path()

#: How each printed line of a C2C message shows, in either row's output.
_MARKS: Final = {"listen-jsonl": b'"type":"C2C_MESSAGE_CREATE"', "botpy-print": b"'content':"}
ROWS: Final = ("listen-jsonl", "botpy-print")
NEEDS: Final = {"listen-jsonl": (), "botpy-print": ("botpy", "aiohttp")}


class _Sink(io.RawIOBase):
    """/dev/null, counting the event lines that reach it (one ``hit`` each)."""

    def __init__(self, counter: Counter, mark: bytes) -> None:
        self._fd = os.open(os.devnull, os.O_WRONLY)
        self._counter, self._mark = counter, mark

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = bytes(data)
        for _ in range(view.count(self._mark)):
            self._counter.hit()
        return os.write(self._fd, view)


def _out(counter: Counter, mark: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedWriter(_Sink(counter, mark)), encoding="utf-8")


def client_listen(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                  timeout: float) -> None:
    from qqproto_transports.cli import main

    # The run installs SIGINT/SIGTERM handlers that close the bot cleanly (docs/cli.rst).
    stop.register(lambda: os.kill(os.getpid(), signal.SIGINT))
    out = _out(counter, _MARKS["listen-jsonl"])
    with open(os.devnull, "w") as err:
        main(["listen", "--jsonl", "--transport", "asyncio"], env=sim_env, out=out, err=err)


def client_botpy_print(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                       timeout: float) -> None:
    import botpy
    from gateway_throughput import aim_botpy_at

    aim_botpy_at(sim_env)
    out = _out(counter, _MARKS["botpy-print"])

    class Bot(botpy.Client):  # type: ignore[misc]
        async def on_c2c_message_create(self, message: Any) -> None:
            print(message, file=out, flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stop.register(lambda: loop.call_soon_threadsafe(task.cancel))
        client = Bot(intents=botpy.Intents(public_messages=True), bot_log=False,
                     ext_handlers=False)
        with contextlib.suppress(asyncio.CancelledError):
            async with client:
                await asyncio.wait_for(client.start(appid=sim_env["QQBOT_APP_ID"],
                                                    secret=sim_env["QQBOT_CLIENT_SECRET"]),
                                       timeout)

    asyncio.run(main())


CLIENTS: Final = {"listen-jsonl": client_listen, "botpy-print": client_botpy_print}


def _missing(name: str) -> str | None:
    for module in NEEDS[name]:
        if importlib.util.find_spec(module) is None:
            return f"not installed ({module})"
    return None


def run_once(name: str, events: int, digest: str | None,
             profile: str | None = None) -> Sample:
    reason = _missing(name)
    if reason is not None:
        return _common.failed(events, reason)
    argv = [str(Path(__file__).resolve()), "--worker", name, "--events", str(events)]
    if profile:
        argv += ["--profile-out", profile]
    try:
        return _common.run_worker(argv, events, digest=digest)
    except Exception as exc:  # a row, never a crash of the whole bench
        return _common.failed(events, f"failed: {type(exc).__name__}: {exc}"[:200])


def target(rows: dict[str, Sample]) -> dict[str, Any]:
    listen, botpy = rows.get("listen-jsonl"), rows.get("botpy-print")
    check: dict[str, Any] = {"name": "listen-jsonl CPU/event <= botpy-print / 3"}
    if listen is None or botpy is None or not listen.complete or not botpy.complete:
        check.update(result="SKIP", detail="a row was not measured")
        return check
    value, limit = listen.cpu_us_per_event, botpy.cpu_us_per_event / 3
    check.update(result="PASS" if value <= limit else "FAIL", value_us=value, limit_us=limit,
                 ratio=value / botpy.cpu_us_per_event,
                 detail=f"{value:.1f} us vs {limit:.1f} us (botpy-print / 3); "
                        f"ratio {value / botpy.cpu_us_per_event:.2f}")
    return check


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=20_000, help="events per burst")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row; best kept")
    parser.add_argument("--only", default="", help="comma-separated rows: " + ",".join(ROWS))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target fails")
    parser.add_argument("--profile", metavar="ROW", default="", choices=("", *ROWS),
                        help="cProfile one row's worker (the thread that prints) and "
                             "print where its time goes")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sim-env", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(ROWS)
    if unknown := [n for n in names if n not in ROWS]:
        parser.error(f"unknown row(s) {', '.join(unknown)}; known: {', '.join(ROWS)}")
    if args.worker:
        _common.worker_main(CLIENTS[args.worker], args.events, json.loads(args.sim_env),
                            timeout=args.timeout, profile=args.profile_out or None)
        return 0  # not reached: the worker leaves with os._exit
    if args.profile:
        from gateway_throughput import profile_worker

        profile_worker(args.profile, lambda path: run_once(args.profile, args.events, None,
                                                           path), "the printing thread")
        return 0
    digest = _common.burst_digest(_common.burst_simulator(args.events)[1])
    runs: dict[str, list[Sample]] = {name: [] for name in names}
    for _ in range(args.repeat):  # round robin: load from elsewhere hits both rows alike
        for name in names:
            runs[name].append(run_once(name, args.events, digest))
    rows = {name: _common.best(samples) for name, samples in runs.items()}
    check = target(rows)
    if args.json:
        print(json.dumps({"events": args.events, "repeat": args.repeat, "burst_digest": digest,
                          "rows": [{"name": n, **s.to_dict()} for n, s in rows.items()],
                          "target": check}, indent=2))
    else:
        body = [[n, f"{s.events}", f"{s.wall:.3f}", f"{s.cpu_us_per_event:.1f}",
                 "" if s.complete else s.status] for n, s in rows.items()]
        print(f"qqproto listen --jsonl vs botpy printing: {args.events} C2C_MESSAGE_CREATE "
              f"dispatches, best of {args.repeat}, burst digest {digest}\n")
        print(_common.format_table(["row", "events", "wall s", "CPU us/event", "note"],
                                   body, "<>>><"))
        print(f"\n{check['result']:4}  {check['name']}: {check['detail']}")
    return 1 if args.check and check["result"] == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
