"""The two recipes of docs/scaling-out.rst work as written: their ``$ qqproto …`` lines
are read from the page and run as real processes against the simulator on 127.0.0.1
(only the store URL and the ports are swapped for the test's own)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from qqproto.simulator import WebhookPusher
from qqproto.simulator._simulator import Simulator
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.simulator import SimulatorThread

from .driver_support_loopback import wait_until

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "scaling-out.rst"
DOC_STORE = "redis://cache:6379/0"


def recipe(title: str) -> list[list[str]]:
    """The ``qqproto`` commands of the section ``title``, as argument lists."""
    text = PAGE.read_text(encoding="utf-8")
    body = text.split(f"\n{title}\n", 1)[1]
    body = re.split(r"\n\S.*\n-{3,}\n", body, maxsplit=1)[0]  # up to the next section
    return [shlex.split(line.strip()[2:].rstrip("&")) for line in body.splitlines()
            if line.strip().startswith("$ qqproto ")]


class Command:
    """One ``qqproto`` process; its stdout and stderr lines, read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        assert argv[0] == "qqproto"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qqproto_transports.cli", *argv[1:]], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # a clean close, exit status 0
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    return {**env, **extra, "PYTHONPATH": f"{ROOT}:{ROOT / 'transports'}"}


def _swap(argv: list[str], store: str) -> list[str]:
    """The test's store, and any free port instead of the page's."""
    out = [store if arg == DOC_STORE else arg for arg in argv]
    if "--port" in out:
        out[out.index("--port") + 1] = "0"
    return out


def test_several_webhook_instances_behind_a_load_balancer_handle_an_event_once(
        tmp_path: Path) -> None:
    commands = recipe("Recipe: several webhook instances behind a load balancer")
    assert [c[:3] for c in commands] == [["qqproto", "webhook", "serve"]] * 2
    assert all(DOC_STORE in c for c in commands)
    app_id, secret = "102000077", "recipe-secret"
    env = _env({"QQBOT_APP_ID": app_id, "QQBOT_CLIENT_SECRET": secret})
    store = f"sqlite:{tmp_path / 'hooks.db'}"  # one machine: two processes, one sqlite file
    a, b = (Command(_swap(c, store), env) for c in commands)
    try:
        urls = [wait_until(lambda c=c: next((line.split()[-1] for line in c.err
                                            if line.startswith("listening on")), None),
                           timeout=20, what="listening") for c in (a, b)]
        pushers = [WebhookPusher(callback_url=url, secret=secret, app_id=app_id,
                                 max_attempts=8, retry_delay=0.2, retry_factor=1.5,
                                 redelivery_urls=(other,))
                   for url, other in ((urls[0], urls[1]), (urls[1], urls[0]))]
        event = {"id": "M1", "content": "hi", "timestamp": "2025-01-01T00:00:00+08:00",
                 "author": {"id": "U", "user_openid": "U"}}
        with WebhookPushThread(pushers[0]) as to_a, WebhookPushThread(pushers[1]) as to_b:
            for push in (to_a, to_b, to_b):  # to each instance, and a late redelivery
                push.push_event("C2C_MESSAGE_CREATE", event, event_id="E1")
                assert push.wait_idle(30)
    finally:
        codes = [a.stop(), b.stop()]
    assert codes == [0, 0], a.err + b.err
    printed = [line for c in (a, b) for line in c.out if line.startswith("C2C_MESSAGE_CREATE")]
    assert len(printed) == 1 and "id=E1" in printed[0]


def test_shards_across_machines_divide_the_shards_and_print_each_event_once(
        redis_url: str) -> None:
    commands = recipe("Recipe: shards across machines")
    assert [c[:2] for c in commands] == [["qqproto", "listen"]] * 2
    assert all(c[c.index("--store") + 1] == DOC_STORE for c in commands)
    sim = Simulator(app_id=f"7{uuid.uuid4().int % 10**8}", heartbeat_interval_ms=1500,
                    max_concurrency=4)
    with SimulatorThread(sim, lifetime=60) as server:
        env = _env(server.env())
        procs = [Command(_swap(c, redis_url), env) for c in commands]
        try:
            wait_until(lambda: sum(line.startswith("ready:") for c in procs for line in c.err)
                       == 4, timeout=25, what="four shards ready")
            for shard in range(4):  # (guild_id >> 22) % 4 == shard
                server.inject_channel_message(f"C{shard}", str((shard + 4) << 22), "U",
                                              f"to {shard}")
            wait_until(lambda: sum(line.startswith("AT_MESSAGE_CREATE")
                                   for c in procs for line in c.out) == 4,
                       timeout=15, what="four messages printed")
        finally:
            codes = [c.stop() for c in procs]
        counters = server.counters()
    assert codes == [0, 0], [c.err for c in procs]
    readies = [sum(line.startswith("ready:") for line in c.err) for c in procs]
    assert readies == [2, 2]  # --shards-per-process 2 each
    assert counters.identifies == 4 and counters.lost_events == 0
