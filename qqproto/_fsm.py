"""State machines as data (STYLE.md pattern 6).

A machine is an :class:`enum.Enum` of states plus a table ``{(state, input): next_state}``.
:class:`StateMachine` looks the pair up, logs the change, and raises for a pair the table
does not have: a missing key is a bug in the caller's protocol handling, never silently
ignored.  ``docs/`` renders the same tables as diagrams.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

from ._log import BotLogger
from .errors import TransitionError

__all__ = ["StateMachine"]

S = TypeVar("S", bound=enum.Enum)
I = TypeVar("I", bound=enum.Enum)  # noqa: E741 - "I" for input, as in the tables




class StateMachine(Generic[S, I]):
    """Current state plus the table that moves it."""

    __slots__ = ("_log", "_name", "_table", "state")

    def __init__(self, name: str, initial: S, table: Mapping[tuple[S, I], S],
                 log: BotLogger) -> None:
        self._name = name
        self._table = table
        self._log = log
        self.state = initial

    def fire(self, event: I) -> S:
        """Apply ``event``; return the new state."""
        try:
            new = self._table[(self.state, event)]
        except KeyError:
            raise TransitionError(
                f"{self._name}: no transition from {self.state.name} on {event.name}"
            ) from None
        if new is not self.state:
            self._log.debug("%s: %s -> %s (%s)", self._name, self.state.name, new.name,
                            event.name)
            self.state = new
        return new

    def can_fire(self, event: I) -> bool:
        return (self.state, event) in self._table
