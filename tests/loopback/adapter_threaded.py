"""The loopback adapter for the threaded driver (:class:`ThreadedBot`).

``start`` runs the bot with ``bot.start()`` (its own I/O thread); a collector thread
iterates ``bot.events()``; handlers run on the bot's worker pool, where ``reply(call)``
simply blocks on ``bot.call``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from qqproto import Settings
from qqproto._commands import Stop
from qqproto.events import Dispatch, Event
from qqproto_transports.threads import Bot as ThreadedBot

__all__ = ["ThreadedHandle"]


class ThreadedHandle:
    """A :class:`~tests.loopback.contract.BotHandle` for the threaded driver."""

    name = "threaded"

    def __init__(self, *, workers: int = 4) -> None:
        self.workers = workers
        self.bot: ThreadedBot | None = None
        self._handlers: list[Callable[[Any], Any]] = []
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._collector: threading.Thread | None = None

    def on_dispatch(self, handler: Callable[[Any], Any]) -> None:
        self._handlers.append(handler)

    def start(self, settings: Settings, *, session_file: str | None = None,
              env: dict[str, str] | None = None) -> None:
        # An explicit env (default: none) keeps the machine's proxy variables out of tests.
        bot = self.bot = ThreadedBot(settings, session_file=session_file,
                                     env=env if env is not None else {},
                                     workers=self.workers)
        for handler in self._handlers:
            bot.on(Dispatch)(handler)
        events = bot.events()  # subscribed before the bot starts: nothing is missed
        self._collector = threading.Thread(target=self._collect, args=(events,),
                                           name="threaded-adapter-events", daemon=True)
        self._collector.start()
        bot.start()

    def _collect(self, events: Any) -> None:
        for event in events:
            with self._lock:
                self._events.append(event)

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            if time.monotonic() >= deadline:
                names = [type(e).__name__ for e in self.events()]
                raise AssertionError(f"threaded: condition not met in {timeout} s; events {names}")
            time.sleep(0.005)

    def call(self, rest_call: Any, timeout: float = 10.0) -> Any:
        assert self.bot is not None
        return self.bot.call(rest_call)  # bounded by the request's own timeout

    def reply(self, rest_call: Any) -> Any:
        """For handlers: they run on a worker thread, so this simply blocks."""
        assert self.bot is not None
        return self.bot.call(rest_call)

    def stop(self, timeout: float = 10.0) -> Stop:
        assert self.bot is not None
        self.bot.close(timeout)
        return self.result(timeout)

    def result(self, timeout: float = 10.0) -> Stop:
        assert self.bot is not None and self._collector is not None
        stop = self.bot.join(timeout)
        self._collector.join(timeout)
        return stop
