"""bench/idle_bots.py runs (a few bots; figures not asserted), and the bots of a process
share one system trust store instead of loading it per bot."""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import sys
from pathlib import Path

from qqproto_transports._httpx import verified_ssl_context

BENCH = Path(__file__).resolve().parent.parent / "bench" / "idle_bots.py"


def test_every_bot_shares_one_verifying_default_context() -> None:
    first, second = verified_ssl_context(), verified_ssl_context()
    assert first is second
    assert first.verify_mode is ssl.CERT_REQUIRED and first.check_hostname


def test_a_few_idle_bots_connect_and_are_measured() -> None:
    spec = importlib.util.spec_from_file_location("bench_idle_bots", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_idle_bots", module)
    spec.loader.exec_module(module)
    result = asyncio.run(module._run(3, 0.3, 100))
    assert result["bots"] == 3 and result["heartbeats"] > 0
