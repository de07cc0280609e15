"""bench/listen_jsonl.py runs and reports: a small burst through ``qqproto listen --jsonl``
in a worker process, as a subprocess.

Not a performance test (figures are not asserted): it keeps the benchmark from rotting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "listen_jsonl.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=120, cwd=BENCH.parent.parent, check=False)


def test_the_listen_row_counts_every_line_of_a_small_burst() -> None:
    done = _run("--events", "200", "--only", "listen-jsonl", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    [row] = report["rows"]
    assert row["name"] == "listen-jsonl"
    assert row["events"] == row["expected"] == 200 and row["status"] == "ok"
    assert row["cpu_us_per_event"] > 0
    assert report["target"]["result"] == "SKIP"  # botpy-print was not measured


def test_an_unknown_row_is_refused() -> None:
    done = _run("--only", "listen-jsonl,nonesuch")
    assert done.returncode == 2
    assert "nonesuch" in done.stderr
