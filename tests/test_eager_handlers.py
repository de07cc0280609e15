"""Coroutine handlers on asyncio start eagerly (transports/qqproto_transports/_eager.py):
their first step runs at delivery, inside their own task, and a handler that never
suspends leaves nothing scheduled behind it."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import pytest

from qqproto import Settings, bot_logger
from qqproto.events import Dispatch
from qqproto.models import C2CMessageCreate
from qqproto_transports._eager import start_eagerly
from qqproto_transports.asyncio import Bot

MESSAGE = {"id": "M1", "content": "hi", "timestamp": "2025-01-01T00:00:00+08:00",
           "author": {"user_openid": "U1"}}


def dispatch(seq: int) -> Dispatch:
    return Dispatch(type="C2C_MESSAGE_CREATE", seq=seq, id=f"C2C:{seq}",
                    data={**MESSAGE, "id": f"M{seq}"})


def bot_on(loop: asyncio.AbstractEventLoop) -> Bot:
    bot = Bot(Settings.from_env({"QQBOT_APP_ID": "1", "QQBOT_CLIENT_SECRET": "s"}), env={})
    bot._loop = loop
    return bot


def test_a_handler_that_never_suspends_is_done_before_the_next_event_with_no_task_left(
) -> None:
    seen: list[tuple[str, int | None]] = []

    async def main() -> None:
        bot = bot_on(asyncio.get_running_loop())

        @bot.on(C2CMessageCreate)
        async def count(event: C2CMessageCreate) -> None:
            seen.append((event.message.content, event.seq))

        before = asyncio.all_tasks()
        for seq in (1, 2, 3):
            bot._deliver(dispatch(seq))
            assert seen[-1] == ("hi", seq)  # already ran
        assert asyncio.all_tasks() == before
        assert bot._tasks == set()
        assert bot._backlog.pending == 0
        await bot.http.aclose()

    asyncio.run(main())


def test_a_handler_that_suspends_goes_on_in_the_task_it_started_in() -> None:
    steps: list[Any] = []

    async def main() -> None:
        bot = bot_on(asyncio.get_running_loop())
        gate = asyncio.Event()

        @bot.on(C2CMessageCreate)
        async def slow(event: C2CMessageCreate) -> None:
            first = asyncio.current_task()
            async with asyncio.timeout(5):  # needs a task from the first line on
                steps.append(("started", event.seq))
                await gate.wait()
            steps.append(("same task", asyncio.current_task() is first is not None))

        bot._deliver(dispatch(1))
        bot._deliver(dispatch(2))  # not held up by the first
        assert steps == [("started", 1), ("started", 2)]
        assert len(bot._tasks) == 2 and bot._backlog.pending == 2
        gate.set()
        await asyncio.gather(*bot._tasks)
        await asyncio.sleep(0)
        assert steps[2:] == [("same task", True), ("same task", True)]
        assert bot._tasks == set() and bot._backlog.pending == 0
        await bot.http.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("suspend", [False, True])
def test_a_failing_handler_is_logged_and_the_bot_goes_on(
        suspend: bool, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        bot = bot_on(asyncio.get_running_loop())

        @bot.on(C2CMessageCreate)
        async def broken(event: C2CMessageCreate) -> None:
            if suspend:
                await asyncio.sleep(0)
            raise ValueError("boom")

        bot._deliver(dispatch(1))
        while bot._tasks:
            await asyncio.sleep(0)
        await bot.http.aclose()

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    [record] = [r for r in caplog.records if "failed on" in r.getMessage()]
    assert record.getMessage() == "[app 1] handler test_a_failing_handler_is_logged_and_the_" \
        "bot_goes_on.<locals>.main.<locals>.broken failed on C2C_MESSAGE_CREATE"
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)


def test_started_from_inside_a_task_the_first_step_still_runs_in_its_own() -> None:
    async def main() -> None:
        outer = asyncio.current_task()
        inner: list[Any] = []

        async def handler() -> str:
            inner.append(asyncio.current_task())
            return "done"

        task = start_eagerly(asyncio.get_running_loop(), handler())
        assert task.done() and task.result() == "done"
        assert inner == [task]
        assert asyncio.current_task() is outer  # given back

    asyncio.run(main())


def test_a_loop_without_a_ready_queue_runs_the_task_as_usual() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        ran: list[int] = []

        async def handler() -> None:
            ran.append(1)

        ready = loop._ready  # type: ignore[attr-defined]
        stand_in: list[Any] = []
        loop._ready = stand_in  # type: ignore[attr-defined]  # not a deque: no eager step
        try:
            task = start_eagerly(loop, handler())
        finally:
            loop._ready = ready  # type: ignore[attr-defined]
            ready.extend(stand_in)  # the task's step, queued as usual
        assert not task.done() and ran == []
        await task
        assert ran == [1]

    asyncio.run(main())


# --- coroutine handlers that cannot suspend run inline on every driver ---------------------


async def no_await(event: Any) -> None:
    event.append("ran")


async def awaits(event: Any) -> None:
    await asyncio.sleep(0)


async def iterates(event: Any) -> None:
    async for _ in event:
        pass


async def enters(event: Any) -> None:
    async with event:
        pass


def plain(event: Any) -> None:
    pass


class Holder:
    async def method(self, event: Any) -> None:
        event.append("method")


def test_only_coroutine_functions_without_await_async_for_or_async_with_cannot_suspend(
) -> None:
    from qqproto_transports._handlers import cannot_suspend

    assert cannot_suspend(no_await) and cannot_suspend(Holder().method)
    assert not any(cannot_suspend(f) for f in (awaits, iterates, enters, plain, print,
                                               functools.partial(no_await)))


def test_a_coroutine_handler_without_await_runs_to_its_end_at_delivery() -> None:
    from qqproto_transports._handlers import start_handler

    log = bot_logger("test", "1")
    seen: list[str] = []
    assert start_handler(no_await, seen, log) is None  # nothing left to schedule
    assert start_handler(Holder().method, seen, log) is None
    assert seen == ["ran", "method"]
    pending = start_handler(awaits, seen, log)
    assert pending is not None
    pending.close()  # type: ignore[attr-defined]
