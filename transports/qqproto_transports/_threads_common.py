"""What the threaded gateway bot (:mod:`qqproto_transports.threads`) and the threaded
webhook server (:mod:`._webhook_threads`) share: the bound on a blocking write, and
SIGINT/SIGTERM as a clean close while ``run()`` runs.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from ._bot import SIGNALS, main_thread_signals

__all__ = ["WRITE_TIMEOUT", "_close_on_signals"]
#: A write that cannot hand its bytes to the kernel in this long ends the connection.
WRITE_TIMEOUT = 10.0
_Previous = dict[int, Any]


@contextlib.contextmanager
def _close_on_signals(close: Callable[[], object], enabled: bool) -> Iterator[None]:
    """SIGINT/SIGTERM call ``close`` while the block runs on the main thread (a clean
    close, exit status 0); the previous handlers come back afterwards."""
    previous: _Previous = {}
    if enabled and main_thread_signals():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            close()

        for sig in SIGNALS:
            previous[sig] = signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
