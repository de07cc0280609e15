"""``bot.run()`` on the main thread turns SIGINT and SIGTERM into a clean close: the close
frame goes out, the process exits with status 0 and prints no traceback — on every
driver, gateway and webhook alike.  Real processes, real signals, 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qqproto.simulator import Direction, FrameKind, Simulator
from qqproto_transports.simulator import SimulatorThread

ROOT = Path(__file__).resolve().parent.parent
RUN = {"asyncio": "asyncio.run(bot.run())", "trio": "trio.run(bot.run)",
       "threads": "bot.run()"}
HANDLER = {"asyncio": "async def", "trio": "async def", "threads": "def"}
AWAIT = {"asyncio": "await ", "trio": "await ", "threads": ""}


def script(driver: str, channel: str) -> str:
    """The README's echo bot on ``driver`` (and on the webhook channel when asked)."""
    cls = "Bot" if channel == "gateway" else "WebhookBot"
    return f"""\
import asyncio, os, sys, trio
from qqproto import Settings
from qqproto.events import Ready, WebhookServing
from qqproto.models import MessageEvent
from qqproto_transports.{driver} import {cls}

bot = {cls}(Settings.from_env(os.environ))

@bot.on(MessageEvent)
{HANDLER[driver]} echo(event: MessageEvent) -> None:
    {AWAIT[driver]}bot.reply(event, event.message.content)

@bot.on(Ready)
@bot.on(WebhookServing)
def started(event) -> None:
    print("started", flush=True)

stop = {RUN[driver]}
print("stopped:", stop.reason, flush=True)
"""


def wait_for_line(proc: subprocess.Popen[str], expected: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        assert line or proc.poll() is None, proc.communicate()[1]
    raise AssertionError(f"no {expected!r} from the bot")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("channel", ["gateway", "webhook"])
@pytest.mark.parametrize("driver", sorted(RUN))
def test_a_signal_closes_the_bot_cleanly_with_status_0(
        driver: str, channel: str, signum: signal.Signals, tmp_path: Path) -> None:
    path = tmp_path / "bot.py"
    path.write_text(script(driver, channel), encoding="utf-8")
    with SimulatorThread(Simulator(), lifetime=60) as sim:
        env = {**{k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")},
               **sim.env(), "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "transports")])}
        proc = subprocess.Popen([sys.executable, str(path)], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_line(proc, "started")
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        closes = sim.call(lambda s, now: [f.close_code for f in s.frames
                                          if f.direction is Direction.IN
                                          and f.kind is FrameKind.CLOSE])
    assert proc.returncode == 0, err
    assert "Traceback" not in err and err == ""
    assert out.strip() == "stopped: closed by the application"
    # The gateway bot said goodbye with a resumable close frame before the socket shut.
    assert closes == ([4000] if channel == "gateway" else [])
