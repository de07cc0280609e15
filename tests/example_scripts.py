"""Run a bot script from the README or docs/examples as a user would: a child process with
the ``QQBOT_*`` variables of a simulator on 127.0.0.1, stopped with Ctrl-C (SIGINT).

The helpers wait on what the simulator records, never on a fixed sleep, and fail with
the script's stderr when it died or a deadline passed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from qqproto.simulator import SentMessage
from qqproto_transports.simulator import SimulatorThread

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
T = TypeVar("T")


def script_env(sim: SimulatorThread, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without proxy variables (127.0.0.1 must be dialled
    directly), plus the simulator's variables and the source tree on the path."""
    env = {key: value for key, value in os.environ.items()
           if not key.upper().endswith("_PROXY")}
    env.update(sim.env())
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "transports")])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class BotScript:
    """One running script: ``until(check)`` while it runs, then ``interrupt()``."""

    def __init__(self, path: Path, sim: SimulatorThread,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [sys.executable, str(path)], env=script_env(sim, extra_env), cwd=path.parent,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def __enter__(self) -> BotScript:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)

    def until(self, check: Callable[[], T], what: str, timeout: float = 20.0) -> T:
        """``check()`` once it returns something true; fails if the script exits first."""
        deadline = time.monotonic() + timeout
        while not (value := check()):
            if self.proc.poll() is not None:
                _out, err = self.proc.communicate()
                raise AssertionError(f"{self.path.name} exited ({self.proc.returncode}) "
                                     f"before {what}:\n{err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path.name}: timed out waiting for {what}")
            time.sleep(0.02)
        return value

    def read_line(self) -> str:
        """The next line the script prints (it flushes each one)."""
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().rstrip("\n")

    def interrupt(self, timeout: float = 20.0) -> tuple[int, str, str]:
        """Ctrl-C: ``(exit status, the rest of stdout, stderr)`` once the script ended."""
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def sent_count(sim: SimulatorThread, count: int) -> Callable[[], list[SentMessage] | None]:
    """A check for :meth:`BotScript.until`: the sent messages once there are ``count``."""
    def check() -> list[SentMessage] | None:
        sent = sim.sent_messages()
        return sent if len(sent) >= count else None
    return check


def acks(sim: SimulatorThread) -> list[tuple[str, int]]:
    """The interaction ACKs the simulator accepted: ``(interaction id, code)``."""
    return sim.call(lambda s, now: [(a.interaction_id, a.code) for a in s.interaction_acks])
