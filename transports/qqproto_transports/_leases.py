"""Shards divided among processes by leases, carried out for a group bot.

With ``Settings(shards=N)`` and a shared store (sqlite, Redis), a driver's group bot
runs the shards its :class:`~qqproto.stores.ShardLeases` holds, at most
``shards_per_process``: :class:`LeaseRunner` performs the machine's store calls off the
loop, starts a shard bot (from the shard's snapshot in the store, so a taken-over
session is resumed) when a lease is acquired, and stops it, saving nothing, when the
lease is lost.  Shards identify through :class:`StorePacer`, which spaces identifies of
every process of the bot by ``max_concurrency`` buckets in the store (gateway.md §8.4).

The driver supplies the loop: ``off_loop(call, then)`` (run ``call`` on a worker thread,
``then(result)`` back on the loop and wake it), ``start(child)`` (run a shard bot and
report its end with :meth:`LeaseRunner.ended`), ``stop(child)`` (close it without
waiting) and the loop's clock; it calls :meth:`LeaseRunner.pump` after every wake-up
and sleeps until the time it returns.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qqproto.gateway import IDENTIFY_WINDOW, SessionSnapshot, Stop
from qqproto.stores import (
    IdentifySlots,
    LeaseOp,
    LeaseRequest,
    LeaseState,
    ShardAcquired,
    ShardLeases,
    SlotOp,
    SlotRequest,
    StoreKeys,
)

from ._gate import OffLoop
from ._shards import ShardSeed, group_stop
from .stores import SessionSlot, Store, new_owner_id

__all__ = ["LeaseRunner", "StorePacer", "carry_out_lease"]

log = logging.getLogger("qqproto_transports")
#: A shard's bot or its group (a ``BotCore``; named loosely: ``_bot`` imports this module).
BotCore = Any
Shard = tuple[int, int]


def carry_out_lease(store: Store, request: LeaseRequest) -> bool:
    """One :class:`~qqproto.stores.LeaseRequest` against ``store``: its answer."""
    key, owner, ttl = request.key, request.owner, request.ttl
    if request.op is LeaseOp.CLAIM:
        return store.add(key, owner, ttl=ttl) or store.swap(key, owner, owner, ttl=ttl)
    if request.op is LeaseOp.RENEW:
        return store.swap(key, owner, owner, ttl=ttl)
    return store.delete(key, expected=owner)


class StorePacer(IdentifySlots):
    """:class:`~qqproto.stores.IdentifySlots` for shards on any thread (one lock), its
    store calls made on a worker thread of its own: the sessions never wait for them."""

    __slots__ = ("_lock", "_pool", "store")

    def __init__(self, store: Store, keys: StoreKeys, owner: str, *,
                 window: float = IDENTIFY_WINDOW) -> None:
        super().__init__(keys, owner, window=window)
        self.store = store
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, "qqproto-pacer")

    def learn(self, max_concurrency: int) -> None:
        with self._lock:
            super().learn(max_concurrency)

    def allowed_at(self, shard_id: int, now: float) -> float:
        with self._lock:
            at = super().allowed_at(shard_id, now)
        self._flush()
        return at

    def identified(self, shard_id: int, now: float) -> None:
        with self._lock:
            super().identified(shard_id, now)
        self._flush()

    def close(self) -> None:
        """Wait for the calls on their way (before the store closes)."""
        self._pool.shutdown(wait=True)

    def _flush(self) -> None:
        with self._lock:
            requests = []
            while (request := self.next_request()) is not None:
                requests.append(request)
        for request in requests:
            try:
                self._pool.submit(self._carry_out, request)
            except RuntimeError:  # closed: the group is shutting down
                return

    def _carry_out(self, request: SlotRequest) -> None:
        store, unix_now = self.store, time.time()
        value = request.value_at(unix_now)
        try:
            if request.op is SlotOp.RESTART:
                store.set(request.key, value, ttl=request.ttl)
                return
            won = store.add(request.key, value, ttl=request.ttl)
            holder = None if won else store.get(request.key)
        except Exception:
            log.warning("identify slot %s: the store failed", request.key, exc_info=True)
            with self._lock:
                self.answered(request.id, None)
            return
        with self._lock:
            self.answered(request.id, won, holder_value=holder, unix_now=time.time())


class LeaseRunner:
    """Carries out the group's :class:`~qqproto.stores.ShardLeases` (module docstring)."""

    #: gateway.md §8.4: one identify per bucket per this many seconds (tests shorten it).
    identify_window = IDENTIFY_WINDOW

    def __init__(self, group: BotCore, store: Store, *, off_loop: OffLoop,
                 start: Callable[[BotCore], None], stop: Callable[[BotCore], None],
                 clock: Callable[[], float]) -> None:
        settings = group.settings
        count = settings.shards
        assert isinstance(count, int)
        self.group, self.store, self.clock = group, store, clock
        self._off_loop, self._start, self._stop = off_loop, start, stop
        self.keys = StoreKeys(settings.app_id)
        owner = new_owner_id()
        self.leases = ShardLeases(self.keys, owner, count, limit=settings.shards_per_process,
                                  ttl=settings.store_ttl.lease)
        self.pacer = StorePacer(store, self.keys, owner, window=self.identify_window)
        self.children: dict[Shard, BotCore] = {}
        self._starting: set[Shard] = set()
        self._stops: list[Stop] = []
        self._failed: Stop | None = None

    @property
    def finished(self) -> bool:
        return self.leases.finished and not self.children and not self._starting

    def result(self) -> Stop:
        if self._failed is not None:
            return self._failed
        return group_stop(self._stops) if self._stops else Stop(
            reason="closed by the application", fatal=False)

    def pump(self, now: float) -> float | None:
        """Fire a due timer, carry out requests and events; the next timer."""
        leases = self.leases
        timer = leases.get_timer()
        if timer is not None and now >= timer:
            leases.handle_timer(now)
        while (request := leases.next_request()) is not None:
            self._off_loop(functools.partial(carry_out_lease, self.store, request),
                           functools.partial(self._answered, request))
        while (event := leases.next_event()) is not None:
            shard = event.shard
            if isinstance(event, ShardAcquired):
                log.info("shard %d/%d: lease acquired", *shard)
                slot = SessionSlot(self.store, self.keys, shard,
                                   ttl=self.group.settings.store_ttl.session)
                self._starting.add(shard)
                self._off_loop(slot.load, functools.partial(self._loaded, shard))
            else:
                log.warning("shard %d/%d: lease lost (%s); stopping it", *shard, event.reason)
                child = self.children.get(shard)
                if child is not None:
                    child._fence()
                    self._stop(child)
                elif shard not in self._starting:
                    leases.stopped(shard, now)
        return leases.get_timer()

    def close(self, now: float) -> None:
        """Stop every shard; leases are released once each has stopped."""
        self.leases.close(now)
        for child in list(self.children.values()):
            self._stop(child)

    def ended(self, child: BotCore, stop: Stop | BaseException) -> None:
        """A shard bot's ``run()`` returned ``stop`` (or raised it)."""
        shard = child.settings.shard
        if self.children.get(shard) is child:
            del self.children[shard]
            self.group._shards = list(self.children.values())
        if isinstance(stop, BaseException):
            log.error("shard %d/%d failed", *shard, exc_info=stop)
            stop = Stop(reason=f"shard {shard[0]} failed: {stop!r}", fatal=True)
        now = self.clock()
        leases = self.leases
        if leases.state(shard) is LeaseState.HELD and not leases.closing:
            # It stopped by itself (a fatal close code): the group stops with it.
            self._failed = stop
            self.close(now)
        self._stops.append(stop)
        leases.stopped(shard, now)

    def shutdown(self) -> None:
        """After the loop ended (blocking: run it off the loop)."""
        self.pacer.close()

    def _answered(self, request: LeaseRequest, result: object) -> None:
        if isinstance(result, BaseException):
            log.warning("shard %d/%d: lease %s failed: %r", *request.shard,
                        request.op.value, result)
        self.leases.answered(request.id, result if isinstance(result, bool) else None,
                             self.clock())

    def _loaded(self, shard: Shard, snapshot: object) -> None:
        self._starting.discard(shard)
        leases, now = self.leases, self.clock()
        if not leases.holds(shard, now) or leases.closing:
            leases.stopped(shard, now)  # lost or closing while the snapshot was read
            return
        if not isinstance(snapshot, SessionSnapshot):
            if snapshot is not None:
                log.warning("shard %d/%d: could not read its snapshot: %r", *shard, snapshot)
            snapshot = None
        group = self.group
        seed = ShardSeed(group, group.session.token_state, self.pacer, self.store,
                         snapshot, loaded=True, http=group.http)
        child = group._adopt(group._new_shard(
            group.settings.replace(shard=shard, shards=None), seed))
        self.children[shard] = child
        group._shards = list(self.children.values())
        self._start(child)
