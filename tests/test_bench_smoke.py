"""bench/gateway_throughput.py runs and reports: a small in-memory burst, as a subprocess.

Not a performance test (figures are not asserted): it keeps the benchmark from rotting.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent / "bench" / "gateway_throughput.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=60, cwd=BENCH.parent.parent, check=False)


def _table_rows(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("----"))
    rows = {}
    for line in lines[rule + 1:]:
        if not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells
    return rows


def test_floor_and_core_rows_count_every_event_of_a_small_burst() -> None:
    done = _run("--events", "200", "--only", "floor,core")
    assert done.returncode == 0, done.stderr
    assert "contender" in done.stdout and "CPU us/event" in done.stdout
    rows = _table_rows(done.stdout)
    assert list(rows) == ["floor", "core"]
    assert rows["floor"][1] == rows["core"][1] == "200"
    assert rows["floor"][5] == "1.00x"  # the floor is its own unit
    assert "core CPU/event <= 1.5 x floor" in done.stdout
    assert "asyncio CPU/event <= best competitor / 3" in done.stdout


def test_json_output_has_the_rows_and_both_target_checks() -> None:
    done = _run("--events", "200", "--only", "floor,core", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["events"] == 200
    assert [row["name"] for row in report["rows"]] == ["floor", "core"]
    for row in report["rows"]:
        assert row["events"] == row["expected"] == 200
        assert row["status"] == "ok"
        assert row["cpu_us_per_event"] > 0
    results = {check["name"]: check["result"] for check in report["targets"]}
    assert results["asyncio CPU/event <= best competitor / 3"] == "SKIP"  # not measured
    assert results["core CPU/event <= 1.5 x floor"] in ("PASS", "FAIL")


def test_an_unknown_contender_is_refused() -> None:
    done = _run("--only", "floor,nonesuch")
    assert done.returncode == 2
    assert "nonesuch" in done.stderr


def _bench_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_gateway_throughput", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_missing_competitor_is_a_row_not_a_crash() -> None:
    bench = _bench_module()
    ghost = bench.Contender("ghost", "a client nobody installed", "competitor",
                            needs=("qqproto_bench_no_such_module",),
                            client=bench.client_botpy)
    sample = bench.run_once(ghost, 10, None, None)
    assert sample.status == "not installed (qqproto_bench_no_such_module)"
    assert not sample.complete
    rows = [bench.Row(ghost, sample, [sample])]
    text = bench.render(rows, bench.targets(rows), 10, 1, "digest")
    assert "ghost" in text and "not installed" in text
    assert "SKIP" in text
