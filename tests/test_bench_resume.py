"""bench/resume.py runs: one drop and Resume per driver, every event delivered once.

Not a performance test (the figure is not asserted): it keeps the benchmark from rotting.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "resume.py"


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_resume", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_resume", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("driver", ["asyncio", "trio", "threaded"])
def test_a_drop_is_resumed_with_every_event_delivered_once(driver: str) -> None:
    seconds = _bench().one_run(driver)  # type: ignore[attr-defined]  # raises on a loss
    assert seconds > 0
