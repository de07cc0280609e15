"""Loopback adapter for the asyncio driver: the bot runs ``asyncio.run`` in a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from qqproto import Settings
from qqproto._commands import Stop
from qqproto.events import Dispatch, Event
from qqproto_transports.asyncio import Bot as AsyncioBot


class AsyncioHandle:
    name = "asyncio"

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._handlers: list[Callable[[Any], Any]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: AsyncioBot | None = None
        self._stop: Stop | None = None
        self._error: BaseException | None = None
        self._started = threading.Event()

    def on_dispatch(self, handler: Callable[[Any], Any]) -> None:
        self._handlers.append(handler)

    def start(self, settings: Settings, *, session_file: str | None = None,
              env: dict[str, str] | None = None) -> None:
        def record(event: Event) -> None:
            with self._lock:
                self._events.append(event)

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            bot = self._bot = AsyncioBot(settings, session_file=session_file, env=env or {})
            bot.on()(record)
            for handler in self._handlers:
                bot.on(Dispatch)(handler)
            self._started.set()
            self._stop = await bot.run()

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # surfaced by stop()/result()
                self._error = exc
            finally:
                self._started.set()

        self._thread = threading.Thread(target=run, name="asyncio-bot", daemon=True)
        self._thread.start()
        self._started.wait(10)

    @property
    def bot(self) -> AsyncioBot:
        assert self._bot is not None
        return self._bot

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            if self._error is not None:
                raise AssertionError(f"bot crashed: {self._error!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; events so far: {self.events()!r}")
            time.sleep(0.01)

    def call(self, rest_call: Any, timeout: float = 10.0) -> Any:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self.bot.call(rest_call), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 10.0) -> Stop:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.bot.close)
        return self.result(timeout)

    def result(self, timeout: float = 10.0) -> Stop:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the bot did not stop in time")
        if self._error is not None:
            raise self._error
        assert self._stop is not None
        return self._stop
