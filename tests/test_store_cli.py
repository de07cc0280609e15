"""The command line's --store and --shards (fixed names: deployment recipes use them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qqproto.simulator._simulator import Simulator
from qqproto.stores import StoreKeys
from qqproto_transports.simulator import SimulatorThread
from qqproto_transports.stores import open_store

from .driver_support_loopback import wait_until

ROOT = Path(__file__).resolve().parent.parent


def test_listen_with_a_sqlite_store_and_two_shards(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'bot.db'}"
    sim = Simulator(heartbeat_interval_ms=1000, max_concurrency=2)
    with SimulatorThread(sim, lifetime=60) as server:
        env = {**os.environ, **server.env(), "PYTHONPATH": f"{ROOT}:{ROOT / 'transports'}"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "qqproto_transports.cli", "listen", "--jsonl",
             "--max-events", "2", "--store", url, "--shards", "2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: len(server.sim.identify_log) == 2, timeout=20,
                       what="two shards identified")
            server.inject_channel_message("C1", str(1 << 22), "A", "to one")
            server.inject_channel_message("C0", str(2 << 22), "A", "to zero")
            out, err = proc.communicate(timeout=20)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    types = [json.loads(line)["type"] for line in out.splitlines()]
    assert types.count("AT_MESSAGE_CREATE") == 2
    store = open_store(url)
    saved = store.get_many([StoreKeys(sim.app_id).session((i, 2)) for i in (0, 1)])
    store.close()
    assert all(saved)


def test_a_bad_store_url_is_a_usage_error() -> None:
    env = {**os.environ, "QQBOT_APP_ID": "1", "QQBOT_CLIENT_SECRET": "s",
           "PYTHONPATH": f"{ROOT}:{ROOT / 'transports'}"}
    done = subprocess.run([sys.executable, "-m", "qqproto_transports.cli", "listen",
                           "--store", "postgres://x"], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "unknown store URL" in done.stderr
