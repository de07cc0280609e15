"""Run a gateway bot of any driver on a background thread, for multi-bot scenarios."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import trio

from qqproto import Settings
from qqproto.gateway import Stop
from qqproto_transports import asyncio as asyncio_driver
from qqproto_transports import threads as threads_driver
from qqproto_transports import trio as trio_driver

DRIVERS = {"asyncio": asyncio_driver, "threads": threads_driver, "trio": trio_driver}


class RunningBot:
    """``bot`` of ``driver`` running until :meth:`stop`; ``result`` is its Stop."""

    def __init__(self, driver: str, settings: Settings, **options: Any) -> None:
        self.driver = driver
        self.bot: Any = DRIVERS[driver].Bot(settings, env={}, **options)
        self.result: Stop | BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"test-bot-{driver}")

    def start(self) -> RunningBot:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            if self.driver == "asyncio":
                self.result = asyncio.run(self.bot.run(handle_signals=False))
            elif self.driver == "trio":
                self.result = trio.run(functools.partial(self.bot.run, handle_signals=False))
            else:
                self.result = self.bot.run(handle_signals=False)
        except BaseException as exc:
            self.result = exc

    def stop(self, timeout: float = 15.0) -> Stop:
        if self._thread.is_alive():
            if self.driver == "threads":
                self.bot.close(timeout=0)
            else:
                self.bot.close()
            self._thread.join(timeout)
        assert not self._thread.is_alive(), "the bot did not stop"
        if isinstance(self.result, BaseException):
            raise self.result
        assert self.result is not None
        return self.result
