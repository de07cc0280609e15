"""What the trio gateway bot (:mod:`qqproto_transports.trio`) and the trio webhook server
(:mod:`._webhook_trio`) share: the errors of a stream that is gone, calling a function in
the trio run from any thread, and SIGINT/SIGTERM as a clean close.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import trio

from ._bot import SIGNALS

__all__ = ["_BROKEN", "_call_in", "_close_on_signals"]
_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError)


def _call_in(token: trio.lowlevel.TrioToken | None, fn: Callable[[], object]) -> None:
    """Run ``fn`` in the trio run of ``token``: at once when called there, else soon,
    from any thread (``close()`` may come from another thread or a test)."""
    try:
        current: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
    except RuntimeError:
        current = None
    if token is None or current is token:
        fn()
    else:
        with contextlib.suppress(trio.RunFinishedError):  # run() is over: nothing to stop
            token.run_sync_soon(fn)


async def _close_on_signals(close: Callable[[], object], *,
                            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
                            ) -> None:
    """SIGINT/SIGTERM call ``close`` (a clean close, exit status 0); main thread only.
    Started with ``nursery.start`` so the receiver is in place before the bot announces
    that it runs."""
    with trio.open_signal_receiver(*SIGNALS) as received:
        task_status.started()
        async for _ in received:
            close()
