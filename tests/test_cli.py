"""The ``qqproto`` command line against the simulator on 127.0.0.1 (real processes)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qqproto.simulator._simulator import Simulator
from qqproto_transports.cli import main
from qqproto_transports.simulator import SimulatorThread

ROOT = Path(__file__).resolve().parent.parent
#: Every loopback scenario runs on the three drivers (the ``--transport`` names).
TRANSPORTS = ["asyncio", "trio", "threaded"]


class Listener:
    """A ``qqproto listen --jsonl`` process whose output lines are collected as they come."""

    def __init__(self, sim: SimulatorThread, *args: str, env: dict[str, str] | None = None):
        full_env = {**os.environ, **sim.env(), **(env or {}),
                    "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "transports")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qqproto_transports.cli", "listen", "--jsonl", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self.lines: list[dict[str, Any]] = []
        self.stderr: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(json.loads(raw))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr.append(raw)

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"listen exited early: {self.finish()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; lines: {self.lines}")
            time.sleep(0.02)

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        # Only the reader threads read the pipes (communicate() would race them).
        status = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        self._err_reader.join(5)
        return status, b"".join(self.stderr).decode()

    def dispatch_ids(self) -> list[str]:
        return [line["id"] for line in self.lines if line["type"] not in ("READY", "RESUMED")]


def types(lines: list[dict[str, Any]]) -> list[str]:
    return [line["type"] for line in lines]


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(heartbeat_interval_ms=300), lifetime=120) as server:
        yield server


def inject(sim: SimulatorThread, *texts: str) -> list[str]:
    return [sim.inject_c2c_message("USER_A", text).id for text in texts]


# ---------------------------------------------------------------- demo

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_demo_echoes_every_scripted_message_and_exits_zero(transport: str) -> None:
    out = io.StringIO()
    assert main(["demo", "--transport", transport], out=out) == 0
    text = out.getvalue()
    assert "bot connected as 'qqproto-sim-bot'" in text
    assert "alice (c2c) → bot: 你好, qqproto!" in text
    assert "bot → bob in group GROUP_OPENID_1: echo this, please" in text
    assert "simulator recorded 3 echo replies:" in text
    assert "carol taps ✅ 允许一次 → ACK 4 (no permission: only bob may answer)" in text
    assert "bob taps ✅ 允许一次 → ACK 0 (accepted)" in text
    assert "approval: the stranger's tap was refused, the asker's decided" in text
    assert text.rstrip().endswith("demo finished: every message was echoed")


# ---------------------------------------------------------------- listen

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_listen_jsonl_survives_every_fault_with_nothing_lost_or_repeated(
    sim: SimulatorThread, transport: str
) -> None:
    listener = Listener(sim, "--transport", transport, "--max-events", "12")
    listener.wait_for(lambda lines: "READY" in types(lines))
    expected: list[str] = []
    faults = [
        sim.drop_connections,
        sim.send_reconnect,
        lambda: sim.send_invalid_session(True),
        lambda: sim.close_connections(4009, "expired"),
        lambda: sim.set_faults(ack_heartbeats=False, close_on_missed_heartbeats=False),
    ]
    for i, fault in enumerate(faults):
        expected += inject(sim, f"before fault {i}")
        fault()
        expected += inject(sim, f"after fault {i}")
        if i == len(faults) - 1:
            time.sleep(1.0)  # let the zombie be noticed, then heal
            sim.set_faults(ack_heartbeats=True, close_on_missed_heartbeats=True)
        count = len(expected)
        listener.wait_for(lambda lines, n=count: len([
            line for line in lines if line["type"] not in ("READY", "RESUMED")]) >= n)
    expected += inject(sim, "last one", "beyond the limit")
    status, err = listener.finish()
    assert status == 0, err
    assert listener.dispatch_ids() == expected[:12], (types(listener.lines), err)
    for line in listener.lines:
        assert set(line) == {"type", "seq", "id", "data"}
    assert types(listener.lines).count("READY") == 1
    assert sim.counters().identifies == 1


def test_listen_exits_nonzero_with_one_line_on_a_fatal_close(sim: SimulatorThread) -> None:
    listener = Listener(sim)
    listener.wait_for(lambda lines: "READY" in types(lines))
    sim.close_connections(4914, "offline")
    status, err = listener.finish()
    assert status == 1
    assert err.strip().splitlines()[1:] == [
        "connection ended: server closed (close code 4914 'offline'): bot taken offline "
        "(sandbox only); next: stop",
        "qqproto: stopped: gateway closed with 4914: bot taken offline (sandbox only)"]
    assert err.startswith("ready: session ")


def test_listen_exits_nonzero_on_bad_credentials_without_leaking_the_secret(
    sim: SimulatorThread
) -> None:
    listener = Listener(sim, env={"QQBOT_CLIENT_SECRET": "definitely-wrong-secret"})
    status, err = listener.finish()
    assert status == 1
    [line] = err.strip().splitlines()
    assert line.startswith("qqproto: stopped: credentials rejected")
    assert "definitely-wrong-secret" not in err
    assert "Traceback" not in err


def test_listen_without_credentials_is_a_usage_error(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["listen"], env={}, err=err) == 2
    assert err.getvalue() == "qqproto: set QQBOT_APP_ID and QQBOT_CLIENT_SECRET\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_listen_exits_zero_after_a_clean_close_on_a_signal(sim: SimulatorThread,
                                                           sig: int) -> None:
    listener = Listener(sim)
    listener.wait_for(lambda lines: "READY" in types(lines))
    listener.proc.send_signal(sig)
    status, err = listener.finish()
    assert status == 0, err
    frames = sim.call(lambda s, now: [f for f in s.frames if f.kind.name == "CLOSE"])
    assert frames, "no close frame reached the simulator"


def test_restarted_listen_with_a_session_file_resumes_where_it_stopped(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    session_file = str(tmp_path / "session.json")
    first = Listener(sim, "--max-events", "2", "--session-file", session_file)
    first.wait_for(lambda lines: "READY" in types(lines))
    ids = inject(sim, "1", "2", "3", "4")
    status, err = first.finish()
    assert status == 0, err
    assert first.dispatch_ids() == ids[:2]
    ids += inject(sim, "5")
    second = Listener(sim, "--max-events", "3", "--session-file", session_file)
    status, err = second.finish()
    assert status == 0, err
    assert types(second.lines)[0] == "RESUMED" or "READY" not in types(second.lines)
    assert second.dispatch_ids() == ids[2:]
    assert sim.counters().identifies == 1


# ---------------------------------------------------------------- sim and echo as processes

def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    full_env = {**os.environ, **(env or {}),
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "transports")])}
    return subprocess.Popen([sys.executable, "-m", "qqproto_transports.cli", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env, bufsize=1)


class Lines:
    """Collects a text stream's lines in a thread; ``wait`` polls them."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait(self, predicate: Any, timeout: float = 20.0, poke: Any = None) -> list[str]:
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; got {self.lines}")
            if poke is not None:
                poke()
            time.sleep(0.2)
        return list(self.lines)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sim_prints_its_env_takes_stdin_commands_and_shows_the_echo_bots_replies(
    transport: str,
) -> None:
    sim = _cli("sim", "--port", "0")
    try:
        assert sim.stdout is not None and sim.stdin is not None
        out = Lines(sim.stdout)
        head = out.wait(lambda ls: any(ln.startswith("# simulator ready") for ln in ls))
        env = dict(line.split("=", 1) for line in head if line.startswith("QQBOT_"))
        assert set(env) >= {"QQBOT_API_BASE", "QQBOT_TOKEN_URL", "QQBOT_APP_ID",
                            "QQBOT_CLIENT_SECRET"}
        assert env["QQBOT_API_BASE"].startswith("http://127.0.0.1:")
        echo = _cli("echo", "--transport", transport, env=env)
        stdin = sim.stdin
        try:
            out.wait(lambda ls: any("identifies=1" in ln for ln in ls),
                     poke=lambda: stdin.write("status\n"))
            stdin.write("c2c ALICE hello from stdin\n")
            stdin.write("group G1 BOB  spaced out\n")
            replies = out.wait(lambda ls: sum(ln.startswith("bot -> ") for ln in ls) >= 2)
            assert "bot -> c2c ALICE: 'hello from stdin'" in replies
            assert any(ln.startswith("bot -> group G1: ") for ln in replies)
        finally:
            echo.send_signal(signal.SIGINT)
            assert echo.wait(20) == 0
        stdin.write("quit\n")
        assert sim.wait(20) == 0
    finally:
        if sim.poll() is None:
            sim.kill()
