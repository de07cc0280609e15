"""One gateway process of the lease scenarios (tests/test_lease_failover.py).

``python -m tests.support.shard_worker DRIVER STORE SHARDS PER_PROCESS LEASE_TTL OUT``
(or :func:`start`, which forks it from a warm server) runs
``Settings(shards=SHARDS, shards_per_process=PER_PROCESS, store=STORE)`` against the
simulator named by ``QQBOT_*`` in the environment given, and appends one line per event
to ``OUT`` as it is handled: ``READY <shard>``, ``RESUMED <unix time>`` or ``MSG <last
word of the message>``.  Lines are written unbuffered, so a ``kill -9`` loses none that
a handler finished.  SIGTERM closes cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.process
import os
import sys
import time
from typing import Any

import trio

from qqproto import Settings
from qqproto.events import Ready, Resumed
from qqproto.models import MessageEvent
from qqproto.stores import StoreTtl
from qqproto_transports import asyncio as asyncio_driver
from qqproto_transports import threads as threads_driver
from qqproto_transports import trio as trio_driver
from qqproto_transports._leases import LeaseRunner

DRIVERS = {"asyncio": asyncio_driver, "threads": threads_driver, "trio": trio_driver}


def run(driver: str, store: str, shards: int, per_process: int, lease_ttl: float,
        out_path: str, env: dict[str, str], identify_window: float | None = None) -> int:
    """Run the bot until SIGTERM (or a fatal stop); the exit status.  ``identify_window``
    shortens the 5 s identify window (gateway.md §8.4) for a test that observes it."""
    if identify_window is not None:
        LeaseRunner.identify_window = identify_window
    if env.get("QQPROTO_WORKER_LOG"):
        logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(message)s")
    settings = Settings.from_env(env, store=store, shards=shards,
                                 shards_per_process=per_process,
                                 store_ttl=StoreTtl(lease=lease_ttl))
    bot = DRIVERS[driver].Bot(settings, env={})
    out = open(out_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - for the run

    @bot.on(Ready)
    def ready(event: Ready) -> None:
        out.write(f"READY {event.shard[0] if event.shard else '?'}\n")

    @bot.on(Resumed)
    def resumed(event: Resumed) -> None:
        out.write(f"RESUMED {time.time():.3f}\n")

    @bot.on(MessageEvent)
    def message(event: MessageEvent) -> None:
        out.write(f"MSG {event.message.content.split()[-1]}\n")

    if driver == "asyncio":
        stop = asyncio.run(bot.run())
    elif driver == "trio":
        stop = trio.run(bot.run)
    else:
        stop = bot.run()
    out.write(f"STOP {stop.reason}\n")
    return 1 if stop.fatal else 0


def main(argv: list[str]) -> int:
    driver, store, shards, per_process, lease_ttl, out_path = argv
    return run(driver, store, int(shards), int(per_process), float(lease_ttl), out_path,
               dict(os.environ))


def start(driver: str, store: str, shards: int, per_process: int, lease_ttl: float,
          out_path: str, env: dict[str, str], identify_window: float | None = None,
          ) -> multiprocessing.process.BaseProcess:
    """:func:`run` in a new process forked from a server that imported everything once
    (a fresh interpreter per worker would cost a second or more of imports)."""
    process = _CONTEXT.Process(target=_exit_with, daemon=True, args=(
        driver, store, shards, per_process, lease_ttl, out_path, env, identify_window))
    process.start()
    return process


def _exit_with(*args: Any) -> None:
    sys.exit(run(*args))


_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
