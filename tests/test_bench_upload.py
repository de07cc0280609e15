"""bench/upload_throughput.py runs (figures not asserted), and its deferred check refuses
what the simulator would have refused inline."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from qqproto.simulator import Simulator
from qqproto.upload import hash_bytes

BENCH = Path(__file__).resolve().parent.parent / "bench" / "upload_throughput.py"


def _bench_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_upload_throughput", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _kept(bench: Any, parts: list[bytes]) -> Any:
    check = bench.DeferredCheck(Simulator())
    for index, data in enumerate(parts, start=1):
        check.parts["U1", str(index)] = data
        check.announced["U1", str(index)] = (len(data), hashlib.md5(data).hexdigest())
    return check


def test_the_deferred_check_passes_the_announced_file_and_refuses_others() -> None:
    bench = _bench_module()
    parts = [b"a" * 10, b"b" * 10, b"c" * 3]
    record = SimpleNamespace(upload_id="U1", parts=3, hashes=hash_bytes(b"".join(parts)))
    assert _kept(bench, parts).check(record) == ""
    check = _kept(bench, parts)
    check.parts["U1", "2"] = b"x" * 10  # other bytes than the finish announced
    assert "md5 of upload_part_finish" in check.check(record)
    other = SimpleNamespace(upload_id="U1", parts=3, hashes=hash_bytes(b"other"))
    assert "does not match upload_prepare" in _kept(bench, parts).check(other)
    assert "parts finished" in _kept(bench, parts[:2]).check(record)


def test_the_deferred_check_adds_routes_in_front_of_the_simulators() -> None:
    bench = _bench_module()
    sim = Simulator()
    before = len(sim.router.routes)
    bench.DeferredCheck(sim)
    added = sim.router.routes[:len(sim.router.routes) - before]
    assert sorted(route.method for route in added) == ["POST", "POST", "PUT"]


def test_a_small_upload_runs_with_every_floor_row() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--size-mb", "12", "--only",
                           "threaded"], capture_output=True, text=True, timeout=120,
                          cwd=BENCH.parent.parent, check=False)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    for name in ("hashing-limit", "protocol-floor", "transfer-floor", "threaded"):
        assert rows[name].rstrip().endswith("ok"), rows[name]
    assert "x the transfer-floor" in done.stdout
