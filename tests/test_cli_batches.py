"""Output flushed once per batch of events (``qqproto listen``), and the asyncio inbox
behind ``bot.events()``: order, wake-ups, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio
import trio.testing

from qqproto_transports._inbox import Inbox
from qqproto_transports.cli._run import _Batches


class FakeBot:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class Output:
    def __init__(self, fail_on: int | None = None) -> None:
        self.flushes = 0
        self.fail_on = fail_on

    def flush(self) -> None:
        self.flushes += 1
        if self.fail_on is not None and self.flushes >= self.fail_on:
            raise BrokenPipeError(32, "Broken pipe")


def test_events_handled_in_one_loop_step_share_one_flush_asyncio() -> None:
    async def main() -> list[int]:
        out, bot = Output(), FakeBot()
        batches = _Batches(bot, out.flush, asyncio.get_running_loop().call_soon)
        seen = []
        for _ in range(100):
            batches.handled()
        seen.append(out.flushes)  # nothing yet: the batch is still being handled
        await asyncio.sleep(0)
        seen.append(out.flushes)  # the loop ran the queued flush once
        batches.handled()
        batches.handled()
        await asyncio.sleep(0)
        seen.append(out.flushes)
        batches.end()
        seen.append(out.flushes)  # the end always flushes
        assert bot.closed == 0
        return seen

    assert asyncio.run(main()) == [0, 1, 2, 3]


def test_events_handled_in_one_loop_step_share_one_flush_trio() -> None:
    async def main() -> list[int]:
        out, bot = Output(), FakeBot()
        batches = _Batches(bot, out.flush, trio.lowlevel.current_trio_token().run_sync_soon)
        seen = []
        for _ in range(50):
            batches.handled()
        seen.append(out.flushes)
        await trio.testing.wait_all_tasks_blocked()
        seen.append(out.flushes)
        batches.end()
        seen.append(out.flushes)
        return seen

    assert trio.run(main) == [0, 1, 2]


def test_a_deferred_flush_that_fails_closes_the_bot_and_is_raised_at_the_end() -> None:
    async def main() -> tuple[int, int, BaseException | None]:
        out, bot = Output(fail_on=1), FakeBot()
        batches = _Batches(bot, out.flush, asyncio.get_running_loop().call_soon)
        batches.handled()
        await asyncio.sleep(0)  # the flush fails on the loop, where nobody would see it
        batches.handled()
        await asyncio.sleep(0)  # not tried again
        raised: BaseException | None = None
        try:
            batches.end()
        except BrokenPipeError as exc:
            raised = exc
        return out.flushes, bot.closed, raised

    flushes, closed, raised = asyncio.run(main())
    assert (flushes, closed) == (1, 1)
    assert isinstance(raised, BrokenPipeError)


def test_inbox_keeps_order_and_wakes_its_waiter() -> None:
    async def main() -> list[Any]:
        inbox: Inbox[int | None] = Inbox()
        for item in (1, 2):
            inbox.put_nowait(item)
        got = [await inbox.get(), await inbox.get()]
        waiting = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        assert not waiting.done()  # empty: it waits
        inbox.put_nowait(3)
        inbox.put_nowait(None)
        got.append(await waiting)
        got.append(await inbox.get())
        assert inbox.qsize() == 0
        return got

    assert asyncio.run(main()) == [1, 2, 3, None]


def test_a_cancelled_get_loses_nothing() -> None:
    async def main() -> list[int]:
        inbox: Inbox[int] = Inbox()
        waiting = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        inbox.put_nowait(7)  # the cancelled waiter is not woken: the item stays
        inbox.put_nowait(8)
        return [await inbox.get(), await inbox.get()]

    assert asyncio.run(main()) == [7, 8]


def test_a_put_in_the_same_step_as_a_cancel_is_kept() -> None:
    async def main() -> list[int]:
        inbox: Inbox[int] = Inbox()
        waiting = asyncio.ensure_future(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait(5)  # wakes the waiter...
        waiting.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return [await inbox.get()]

    assert asyncio.run(main()) == [5]
