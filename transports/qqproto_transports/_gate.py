"""Gateway dispatches checked against a shared store before delivery.

When several processes run one bot (a shared store: sqlite or Redis), a shard that
moves to another process is resumed from the stored snapshot, whose seq may lag by up
to the save interval: the server replays what the old process already handled
(gateway.md §4.3, §8.2).  :class:`DispatchGate` asks the store whether an event id is
already *done* (by any process) and delivers events in their arrival order, dropping
those that are.  A delivered event is marked done, and becomes the resume point, when
it counts as processed (at delivery with ``auto_mark_processed``, else at the
application's mark) — so an event is never lost, and never handled twice unless its
process died mid-handler (at-least-once).

Store calls go through ``off_loop(call, then)``: the driver runs ``call`` on a worker
thread and ``then(result)`` back on its own loop, so a slow store delays no heartbeat.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from qqproto.events import Dispatch, Event
from qqproto.gateway import dedupe_key
from qqproto.stores import StoreKeys

from .stores import EventClaims

__all__ = ["DispatchGate", "OffLoop"]

#: ``off_loop(call, then)``: run ``call()`` off the loop, then ``then(result)`` on it.
OffLoop = Callable[[Callable[[], Any], Callable[[Any], None]], None]
_WAITING = object()


class _Entry:
    __slots__ = ("event", "key", "verdict")

    def __init__(self, event: Event, key: str | None) -> None:
        self.event, self.key = event, key
        self.verdict: object = _WAITING if key is not None else False


class DispatchGate:
    """Ordered delivery behind the shared dedupe (see the module docstring).

    ``deliver(event)`` hands an event to the application; ``mark(seq)`` advances the
    session's processed seq; ``auto`` is ``Settings.auto_mark_processed``.
    """

    def __init__(self, claims: EventClaims, keys: StoreKeys, off_loop: OffLoop, *,
                 deliver: Callable[[Event], None], mark: Callable[[int | None], None],
                 auto: bool) -> None:
        self.claims, self.keys, self.off_loop = claims, keys, off_loop
        self.deliver, self.mark, self.auto = deliver, mark, auto
        self._queue: deque[_Entry] = deque()
        self._unmarked: deque[tuple[int, str]] = deque()  # delivered, awaiting a mark
        self.duplicates_dropped = 0

    @property
    def waiting(self) -> int:
        """Events held until the store answers."""
        return len(self._queue)

    def admit(self, event: Event) -> None:
        """Queue ``event``; a dispatch with an id waits for the store's answer."""
        key = None
        if isinstance(event, Dispatch):
            event_key = dedupe_key(event)
            key = self.keys.processed(event_key) if event_key is not None else None
        entry = _Entry(event, key)
        self._queue.append(entry)
        if key is not None:
            self.off_loop(lambda: self.claims.is_done(key), lambda done: self._answer(entry, done))
        else:
            self._release()

    def _answer(self, entry: _Entry, done: object) -> None:
        entry.verdict = bool(done) if not isinstance(done, BaseException) else False
        self._release()

    def _release(self) -> None:
        queue = self._queue
        while queue and queue[0].verdict is not _WAITING:
            entry = queue.popleft()
            event = entry.event
            seq = event.seq if isinstance(event, Dispatch) else None
            if entry.verdict:
                self.duplicates_dropped += 1
                self.mark(seq)
                continue
            self.deliver(event)
            if entry.key is None or seq is None:
                if self.auto:
                    self.mark(seq)
            elif self.auto:
                self._done(seq, entry.key)
            else:
                self._unmarked.append((seq, entry.key))

    def processed(self, seq: int | None) -> None:
        """The application marked ``seq``: it and everything delivered before are done."""
        self.mark(seq)
        while self._unmarked and seq is not None and self._unmarked[0][0] <= seq:
            self._done(*self._unmarked.popleft())

    def _done(self, seq: int, key: str) -> None:
        self.mark(seq)
        self.off_loop(lambda: self.claims.mark_done(key), _ignore)


def _ignore(result: object) -> None:
    """A mark that failed costs at most one duplicate after a failover."""
