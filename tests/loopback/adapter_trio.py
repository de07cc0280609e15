"""The loopback adapter for the trio driver (:class:`TrioBot`).

``start`` runs ``trio.run`` on a background thread: one task collects ``bot.events()``,
another awaits ``bot.run()``.  Plain (blocking) scenario handlers run the trio way for
blocking code, ``trio.to_thread.run_sync``, so ``reply(call)`` may block on
``trio.from_thread``; coroutine handlers run as tasks, as the driver runs them.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import trio

from qqproto import Settings
from qqproto._commands import Stop
from qqproto.events import Dispatch, Event
from qqproto_transports.trio import Bot as TrioBot

__all__ = ["TrioHandle"]


class TrioHandle:
    """A :class:`~tests.loopback.contract.BotHandle` for the trio driver."""

    name = "trio"

    def __init__(self) -> None:
        self.bot: TrioBot | None = None
        self._handlers: list[Callable[[Any], Any]] = []
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._stop: Stop | None = None
        self._error: BaseException | None = None

    def on_dispatch(self, handler: Callable[[Any], Any]) -> None:
        self._handlers.append(handler)

    def start(self, settings: Settings, *, session_file: str | None = None,
              env: dict[str, str] | None = None) -> None:
        # An explicit env (default: none) keeps the machine's proxy variables out of tests.
        self._thread = threading.Thread(
            target=self._main, args=(settings, session_file, env if env is not None else {}),
            name="trio-adapter", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise AssertionError("trio: the bot did not start")

    def _main(self, settings: Settings, session_file: str | None,
              env: dict[str, str]) -> None:
        try:
            trio.run(self._amain, settings, session_file, env)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _amain(self, settings: Settings, session_file: str | None,
                     env: dict[str, str]) -> None:
        self._token = trio.lowlevel.current_trio_token()
        bot = self.bot = TrioBot(settings, session_file=session_file, env=env)
        for handler in self._handlers:
            bot.on(Dispatch)(handler if inspect.iscoroutinefunction(handler)
                             else _in_thread(handler))
        events = bot.events()  # subscribed before the bot starts: nothing is missed
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._collect, events)
            self._ready.set()
            self._stop = await bot.run()

    async def _collect(self, events: trio.MemoryReceiveChannel[Event]) -> None:
        async for event in events:
            with self._lock:
                self._events.append(event)

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            if self._error is not None:
                raise self._error
            if time.monotonic() >= deadline:
                names = [type(e).__name__ for e in self.events()]
                raise AssertionError(f"trio: condition not met in {timeout} s; events {names}")
            time.sleep(0.005)

    def call(self, rest_call: Any, timeout: float = 10.0) -> Any:
        async def run() -> Any:
            assert self.bot is not None
            with trio.fail_after(timeout):
                return await self.bot.call(rest_call)
        return trio.from_thread.run(run, trio_token=self._token)

    def reply(self, rest_call: Any) -> Any:
        """For plain handlers, which run in trio's worker threads."""
        return self.call(rest_call)

    def stop(self, timeout: float = 10.0) -> Stop:
        assert self.bot is not None
        with contextlib.suppress(trio.RunFinishedError):  # it had stopped on its own
            trio.from_thread.run_sync(self.bot.close, trio_token=self._token)
        return self.result(timeout)

    def result(self, timeout: float = 10.0) -> Stop:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"trio: run() did not return within {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._stop is not None
        return self._stop


def _in_thread(handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
    async def run(event: Any) -> Any:
        return await trio.to_thread.run_sync(handler, event)
    return run
