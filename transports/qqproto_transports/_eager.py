"""Coroutine handlers on asyncio start eagerly: their first step runs at delivery.

A task per event is most of what an ``async def`` handler costs (bench/README.md): the
task, the loop callback that starts it, the done callbacks that follow.  Each handler
call still gets its own task — ``asyncio.current_task()``, ``asyncio.timeout()``,
``TaskGroup`` and anyio's cancel scopes (which httpx uses) all need the task a coroutine
starts in to be the one it finishes in — but the task's first step runs at once, inside
that task, instead of one trip round the loop later.  A handler that finishes without
suspending is then done before the next event is delivered, with nothing scheduled;
one that suspends (an HTTP reply) goes on as its task, so no handler waits for another.

This is what Python 3.12's eager tasks are (``asyncio.Task(..., eager_start=True)``),
used there as they are.  On Python 3.11 the task is created as usual and the step the
loop was asked to run is taken back off its ready queue and run now (a loop without
that queue, such as uvloop, runs the task as usual).

What changes for a handler (docs/asyncio.rst): its code up to the first ``await`` that
suspends runs while the bot delivers the event, before the next event is delivered — as
a plain ``def`` handler's does.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Coroutine
from typing import Any

__all__ = ["start_eagerly"]

_EAGER_TASKS = sys.version_info >= (3, 12)


def start_eagerly(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                  ) -> asyncio.Task[Any]:
    """A task for ``coro`` whose first step has run (it may be done already)."""
    if _EAGER_TASKS:  # pragma: no cover - Python 3.12+
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
    task = loop.create_task(coro)
    ready = getattr(loop, "_ready", None)
    if type(ready) is not deque or not ready:
        return task
    step = ready[-1]
    # The handle create_task just queued: its callback is the task's step.
    owner = getattr(getattr(step, "_callback", None), "__self__", None)
    if id(owner) != id(task):
        return task
    try:
        ready.remove(step)
    except ValueError:  # pragma: no cover - taken meanwhile: the loop runs it
        return task
    current = asyncio.current_task(loop)
    if current is not None:  # delivered from one of the bot's own tasks
        asyncio.tasks._leave_task(loop, current)
    try:
        step._run()
    finally:
        if current is not None:
            asyncio.tasks._enter_task(loop, current)
    return task
