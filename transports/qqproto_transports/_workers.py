"""The threaded gateway bot's handler threads: :class:`HandlerPool`.

Handlers run off the I/O thread so that one that blocks never delays a heartbeat, and
up to ``size`` of them run at once.  A ``concurrent.futures`` pool costs a future, a
work item and a done callback per call, and the callback had to wake the I/O thread
(a byte on a socket, a turn of its loop) for every event just to count it finished.
Here a call is a tuple on one queue; a thread is started only when every started one
is busy; and a finished call only reaches the I/O thread when it matters: when the
backlog falls back to the mark where reading resumes (:mod:`._backlog`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from ._backlog import Backlog

__all__ = ["HandlerPool"]

_Call = tuple[Callable[..., object], tuple[Any, ...]]


class HandlerPool:
    """Run calls on up to ``size`` threads named ``name``; count them in ``backlog``.

    :meth:`put` says whether reading must pause now (the backlog is full);
    ``resume()`` is called, from a handler thread, when it may resume.
    """

    def __init__(self, size: int, name: str, backlog: Backlog,
                 resume: Callable[[], object]) -> None:
        if size < 1:
            raise ValueError("a handler pool needs at least one thread")
        self._size, self._name = size, name
        self._backlog, self._resume = backlog, resume
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: list[threading.Thread] = []
        self._closed = False

    def put(self, fn: Callable[..., object], *args: Any) -> bool:
        """Queue ``fn(*args)``; ``True`` when reading must pause now."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the handler pool is shut down")
            pause = self._backlog.started()
            if self._idle:
                self._idle -= 1  # that thread takes this call
                start = False
            else:
                start = len(self._threads) < self._size
        self._calls.put((fn, args))
        if start:
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"{self._name}_{len(self._threads)}")
            self._threads.append(thread)
            thread.start()
        return pause

    def _work(self) -> None:
        calls, lock, backlog = self._calls, self._lock, self._backlog
        while (call := calls.get()) is not None:
            fn, args = call
            try:
                fn(*args)
            finally:
                with lock:
                    resume = backlog.finished()
                    self._idle += 1
                if resume:
                    self._resume()

    def shutdown(self) -> None:
        """Let the queued calls finish, then join every thread (idempotent)."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._calls.put(None)
        for thread in threads:
            thread.join()
