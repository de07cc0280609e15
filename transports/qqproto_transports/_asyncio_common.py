"""What the asyncio gateway bot (:mod:`qqproto_transports.asyncio`) and the asyncio webhook
server (:mod:`._webhook_asyncio`) share: SIGINT/SIGTERM handlers while ``run()`` runs, and
calling a function on the loop from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from ._bot import SIGNALS, main_thread_signals

__all__ = ["_call_on", "_install_signals", "_remove_signals"]


def _install_signals(loop: asyncio.AbstractEventLoop, close: Callable[[], object],
                     enabled: bool) -> list[int]:
    """SIGINT/SIGTERM call ``close`` (a clean close, exit status 0) while ``run()`` runs
    on the main thread; the signals installed, to remove afterwards."""
    installed: list[int] = []
    if enabled and main_thread_signals():
        for sig in SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, close)
                installed.append(sig)
    return installed


def _call_on(loop: asyncio.AbstractEventLoop | None, fn: Callable[[], object]) -> None:
    """Run ``fn`` on ``loop``: at once when called there, else soon, from any thread
    (``close()`` may come from a signal handler, another thread or a test)."""
    if loop is None:
        fn()
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn()
    else:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to stop
            loop.call_soon_threadsafe(fn)


def _remove_signals(loop: asyncio.AbstractEventLoop, installed: list[int]) -> None:
    for sig in installed:
        loop.remove_signal_handler(sig)
