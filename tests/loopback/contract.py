"""What a driver adapter offers the loopback scenarios.

Every driver (asyncio, trio, threaded) gets one adapter that runs a bot in a background
thread and lets a plain synchronous test watch it.  The scenarios in
``tests/loopback/test_scenarios.py`` are written only against this protocol, so each
scenario runs unchanged on all three drivers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from qqproto import Settings
from qqproto._commands import Stop
from qqproto.events import Event


class BotHandle(Protocol):
    """One running bot, driven from the test's thread."""

    name: str

    def start(self, settings: Settings, *, session_file: str | None = None,
              env: dict[str, str] | None = None) -> None:
        """Run the bot (``run()``) in a background thread; returns at once."""

    def events(self) -> list[Event]:
        """Every event the application received so far, in order (a copy)."""

    def wait_for(self, predicate: Callable[[list[Event]], bool], timeout: float = 10.0) -> None:
        """Poll ``predicate(events())`` until true; AssertionError on timeout."""

    def call(self, rest_call: Any, timeout: float = 10.0) -> Any:
        """Run a sans-IO REST call on the bot's own runtime and return its result."""

    def on_dispatch(self, handler: Callable[[Any], Any]) -> None:
        """Register an application handler for every dispatch, before ``start``.

        ``handler(event)`` runs the way the driver runs handlers (a task, a worker);
        it may call ``reply(call)`` helpers of the adapter.
        """

    def stop(self, timeout: float = 10.0) -> Stop:
        """Ask the bot to close cleanly, wait for ``run()`` to return, return its Stop."""

    def result(self, timeout: float = 10.0) -> Stop:
        """Wait for ``run()`` to return on its own (fatal stop) and return its Stop."""
