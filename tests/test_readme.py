"""The README's code sample is real: it runs against the simulator and echoes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from qqproto.simulator._simulator import Simulator
from qqproto_transports.simulator import SimulatorThread

ROOT = Path(__file__).resolve().parent.parent


def readme_sample() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text("utf-8"),
                        re.DOTALL)
    assert len(blocks) == 1, "the README has exactly one Python sample"
    return blocks[0]


def test_the_readme_bot_echoes_a_message_through_the_simulator(tmp_path: Path) -> None:
    script = tmp_path / "readme_bot.py"
    script.write_text(readme_sample(), encoding="utf-8")
    with SimulatorThread(Simulator(), lifetime=60) as sim:
        env = {**os.environ, **sim.env(),
               "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "transports")])}
        proc = subprocess.Popen([sys.executable, str(script)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while sim.counters().identifies < 1:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the README bot never connected"
                time.sleep(0.05)
            sim.inject_c2c_message("READER", "does the README work?")
            while not sim.sent_messages():
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "the README bot never replied"
                time.sleep(0.05)
            [reply] = sim.sent_messages()
            assert (reply.scope, reply.target, reply.body["content"]) == (
                "c2c", "READER", "does the README work?")
            assert reply.msg_seq == 1 and reply.msg_id
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
