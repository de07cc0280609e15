"""bench/webhook_throughput.py runs: a few signed pushes through one server, the floor
measured beside it (figures not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "webhook_throughput.py"


def test_a_few_pushes_reach_the_handler_and_the_floor_is_printed() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--requests", "20", "--only",
                           "asyncio", "--connections", "2"], capture_output=True, text=True,
                          timeout=120, cwd=BENCH.parent.parent, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("floor (Ed25519 verify + json.loads)") for line in lines)
    [row] = [line for line in lines if line.startswith("qqproto asyncio WebhookBot")]
    assert "failed" not in row
