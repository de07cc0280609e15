"""The queue behind ``bot.events()`` on asyncio: one producer, one consumer, one loop.

``asyncio.Queue`` is built for many producers and consumers, bounded sizes and
``join()``: per item it counts unfinished tasks, clears an event and scans two waiter
queues.  An events iterator needs none of that — the bot puts on its loop's thread, one
async generator takes — so this one appends to a deque and wakes its single waiter,
if it waits; at a few events per microsecond that difference is measurable
(bench/listen_jsonl.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Inbox"]

T = TypeVar("T")


class Inbox(Generic[T]):
    """An unbounded queue: ``put_nowait`` on the loop's thread, ``await get()`` from one
    consumer at a time (an async generator cannot be iterated by two)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # a consumer cancelled meanwhile: nothing to wake
                waiter.set_result(None)

    async def get(self) -> T:
        items = self._items
        while not items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return items.popleft()

    def qsize(self) -> int:
        return len(self._items)
