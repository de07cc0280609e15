"""Several shards of one bot in one process (gateway.md §10).

With ``Settings(shards=N)`` a driver's ``Bot`` becomes the *group*: it starts one child
bot of its own driver per shard ``(i, N)``.  The children share the group's access token
(one refresh serves all), HTTP client, handler registry, reply bookkeeping, event
subscribers and one :class:`~qqproto.gateway.IdentifyPacer`, so identifies are spaced by
``session_start_limit.max_concurrency`` (§8.4); each child keeps its own connection,
session snapshot and processed seq.  Guild events arrive on the shard
``(guild_id >> 22) % N`` (§10), so no state needs sharing between shards.  With a
shared store the group runs only the shards it holds leases for
(:mod:`qqproto_transports._leases`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from qqproto import Settings
from qqproto.events import Dispatch, Event
from qqproto.gateway import IdentifyPacer, SessionSnapshot, Stop
from qqproto.rest import TokenState

from .stores import Store

#: A shard's bot or its group (a ``BotCore``; named loosely: ``_bot`` imports this module).
BotCore = Any

__all__ = ["LockedPacer", "ShardRoutes", "ShardSeed", "group_stop", "shard_settings"]


@dataclass(frozen=True, slots=True)
class ShardSeed:
    """What a shard's bot takes from its group: ``loaded`` says ``snapshot`` was read
    from the store already (``None``: there is none); ``http`` is the group's client."""

    parent: BotCore
    token_state: TokenState
    pacer: IdentifyPacer
    store: Store | None = None
    snapshot: SessionSnapshot | None = None
    loaded: bool = False
    http: Any = None


class LockedPacer(IdentifyPacer):
    """An :class:`~qqproto.gateway.IdentifyPacer` for shards on several threads."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def learn(self, max_concurrency: int) -> None:
        with self._lock:
            super().learn(max_concurrency)

    def allowed_at(self, shard_id: int, now: float) -> float:
        with self._lock:
            return super().allowed_at(shard_id, now)

    def identified(self, shard_id: int, now: float) -> None:
        with self._lock:
            super().identified(shard_id, now)


def shard_settings(settings: Settings) -> list[Settings]:
    """One settings value per shard the group runs (``shards`` must be a number)."""
    count = settings.shards
    if not isinstance(count, int):
        raise ValueError("shards='auto' needs the count from /gateway/bot: resolve it "
                         "first (qqproto listen --shards auto does)")
    return [settings.replace(shard=(i, count), shards=None) for i in range(count)]


class ShardRoutes:
    """Which child delivered an event, so ``bot.mark_processed(event)`` on the group
    reaches the shard whose seq it is (seqs are per shard).  Bounded."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._owner: OrderedDict[str, BotCore] = OrderedDict()
        self._lock = threading.Lock()
        self._capacity = capacity

    def delivered(self, event: Event, child: BotCore) -> None:
        if isinstance(event, Dispatch) and event.id:
            with self._lock:
                self._owner[event.id] = child
                if len(self._owner) > self._capacity:
                    self._owner.popitem(last=False)

    def owner(self, which: object) -> BotCore | None:
        event_id = getattr(which, "id", None) if isinstance(which, Dispatch) \
            else getattr(which, "event_id", None)
        if not isinstance(event_id, str):
            return None
        with self._lock:
            return self._owner.get(event_id)


def group_stop(stops: list[Any]) -> Stop:
    """The group's result: the first fatal Stop of a shard, else the first one."""
    results = [s for s in stops if isinstance(s, Stop)]
    for stop in results:
        if stop.fatal:
            return stop
    return results[0] if results else Stop(reason="no shard ran", fatal=False)
