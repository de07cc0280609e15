"""Shard leases: which process runs which shard of one bot (gateway.md §10, DESIGN.md §3a).

A process that runs ``Settings(shards=N)`` against a shared store takes shards by
*lease*: one key per shard (:meth:`StoreKeys.lease`) whose value is the process's owner
id.  :class:`ShardLeases` decides what to ask the store and when; the driver carries out
its :class:`LeaseRequest` values and answers with :meth:`ShardLeases.answered`:

- *claim*: write the key only if it is absent (or already ours), with lifetime ``ttl``;
- *renew*: compare-and-set from ours to ours, which restarts the lifetime;
- *release*: compare-and-delete, only if it is still ours.

**At most one holder, by arithmetic.**  A claim or renewal *sent* at ``t`` makes the
store keep the key until at least ``t + ttl`` (the store starts the lifetime when it
applies the write, which is after ``t``).  This process counts the lease as its own only
until ``t + ttl - margin``, so its belief ends before the store forgets the key, and no
other process can write the key before that.  Clocks are assumed to run at the same
rate (not to agree); ``margin`` absorbs drift and the moment it takes to stop a shard.

**Liveness.**  A held lease is renewed every ``renew_every`` (``ttl / 3``: two renewals
may fail before it is lost); a failed renewal is retried until the lease runs out, and
then the shard is lost (:class:`ShardLost`): the driver stops it without saving its
session, because another process may already be resuming it.  A process that stops
renewing (killed, cut off) loses every lease after ``ttl``.  Every ``scan_every``
(``ttl / 3``) a process below its ``limit`` (``shards_per_process``) tries to claim free
shards, so a dead process's shards are taken within ``ttl + scan_every`` and the new
holder resumes each from the snapshot in the store (Resume, not Identify, while the
session is resumable, gateway.md §8.3).  Keep ``ttl`` at or below one heartbeat interval
(41.25 s on QQ, §8.1) and the takeover fits in two.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Final

from ._keys import StoreKeys

__all__ = [
    "LeaseEvent",
    "LeaseOp",
    "LeaseRequest",
    "LeaseState",
    "ShardAcquired",
    "ShardLeases",
    "ShardLost",
]

Shard = tuple[int, int]
#: A renewal that failed (the store did not answer) is tried again after ``ttl`` × this.
_RETRY_SHARE: Final = 0.1


class LeaseOp(enum.Enum):
    """What a :class:`LeaseRequest` asks of the store."""

    #: ``add(key, owner, ttl)``; when the key exists, ``swap(key, owner, owner, ttl)``
    #: (it may be ours from an answer that came too late).  Answer: whether we hold it.
    CLAIM = "claim"
    #: ``swap(key, owner, owner, ttl)``.  Answer: whether it was still ours.
    RENEW = "renew"
    #: ``delete(key, expected=owner)``.  Answer: ignored.
    RELEASE = "release"


class LeaseState(enum.Enum):
    """One shard, as this process sees it."""

    FREE = "free"            # not ours; may be claimed
    CLAIMING = "claiming"    # a claim is on its way
    HELD = "held"            # ours until ``valid_until``; the driver runs the shard
    STOPPING = "stopping"    # lost: the driver is stopping the shard
    RELEASING = "releasing"  # the shard stopped; the release is on its way


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseRequest:
    """A store call for the driver (see :class:`LeaseOp`); answer it with
    :meth:`ShardLeases.answered` and its ``id``."""

    id: int
    op: LeaseOp
    shard: Shard
    key: str
    owner: str
    ttl: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardAcquired:
    """This process holds ``shard`` now: start it (from its snapshot in the store)."""

    shard: Shard


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardLost:
    """``shard`` is no longer this process's: stop it at once and save nothing of it
    (``reason``: ``"expired"``, not renewed in time, or ``"taken"``, another holder)."""

    shard: Shard
    reason: str


LeaseEvent = ShardAcquired | ShardLost


class _Lease:
    __slots__ = ("renew_at", "request", "sent_at", "state", "valid_until")

    def __init__(self) -> None:
        self.state = LeaseState.FREE
        self.request: int | None = None  # the id of the call on its way, if any
        self.sent_at = 0.0
        self.valid_until = 0.0
        self.renew_at = 0.0


class ShardLeases:
    """The leases of one process over the ``shard_count`` shards of one bot (see the
    module docstring).

    Drive it like every sans-IO object here: :meth:`start`, then after each input
    (:meth:`answered`, :meth:`handle_timer`, :meth:`stopped`, :meth:`close`) carry out
    :meth:`next_request` and :meth:`next_event` and re-arm the timer from
    :meth:`get_timer`.  ``limit`` is how many shards this process runs at most.
    """

    def __init__(self, keys: StoreKeys, owner: str, shard_count: int, *,
                 limit: int | None = None, ttl: float = 15.0,
                 renew_every: float | None = None, scan_every: float | None = None,
                 margin: float | None = None) -> None:
        if shard_count < 1 or (limit is not None and limit < 1) or not ttl > 0:
            raise ValueError("need shard_count >= 1, limit >= 1 and ttl > 0")
        self.keys, self.owner = keys, owner
        self.shard_count = shard_count
        self.limit = shard_count if limit is None else min(limit, shard_count)
        self.ttl = ttl
        self.renew_every = ttl / 3 if renew_every is None else renew_every
        self.scan_every = ttl / 3 if scan_every is None else scan_every
        self.margin = ttl / 10 if margin is None else margin
        if not 0 < self.renew_every < ttl - self.margin or not self.scan_every > 0:
            raise ValueError("renew_every must be positive and below ttl - margin")
        self._leases = {(i, shard_count): _Lease() for i in range(shard_count)}
        self._requests: deque[LeaseRequest] = deque()
        self._events: deque[LeaseEvent] = deque()
        self._in_flight: dict[int, tuple[LeaseOp, Shard]] = {}
        self._next_id = 0
        self._scan_at: float | None = None
        self._pass: deque[Shard] = deque()  # free shards still to try in this scan
        self.closing = False

    def __repr__(self) -> str:
        held = [s[0] for s, lease in self._leases.items() if lease.state is LeaseState.HELD]
        return (f"<ShardLeases owner={self.owner} held={held}/{self.shard_count} "
                f"limit={self.limit}{' closing' if self.closing else ''}>")

    # -- what the driver reads ------------------------------------------------------

    def state(self, shard: Shard) -> LeaseState:
        return self._leases[shard].state

    def holds(self, shard: Shard, now: float) -> bool:
        """Whether ``shard`` is this process's at ``now`` (held and not run out)."""
        lease = self._leases[shard]
        return lease.state is LeaseState.HELD and now < lease.valid_until

    def held(self, now: float) -> list[Shard]:
        return [shard for shard in self._leases if self.holds(shard, now)]

    def valid_until(self, shard: Shard) -> float | None:
        """Until when this process may run ``shard`` (``None``: it may not)."""
        lease = self._leases[shard]
        return lease.valid_until if lease.state is LeaseState.HELD else None

    @property
    def finished(self) -> bool:
        """Closing, every shard stopped and released, no call on its way."""
        return self.closing and not self._in_flight and all(
            lease.state is LeaseState.FREE for lease in self._leases.values())

    def next_request(self) -> LeaseRequest | None:
        return self._requests.popleft() if self._requests else None

    def next_event(self) -> LeaseEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        times = [t for lease in self._leases.values() if lease.state is LeaseState.HELD
                 for t in ((lease.valid_until,) if lease.request is not None
                           else (lease.valid_until, lease.renew_at))]
        if self._scan_at is not None and not self.closing and self._busy() < self.limit:
            times.append(self._scan_at)
        return min(times) if times else None

    # -- inputs -----------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin: look for free shards at once."""
        if self._scan_at is None and not self.closing:
            self._scan_at = now
            self.handle_timer(now)

    def handle_timer(self, now: float) -> None:
        for shard, lease in self._leases.items():
            if lease.state is not LeaseState.HELD:
                continue
            if now >= lease.valid_until:
                self._lose(shard, lease, "expired")
            elif lease.request is None and now >= lease.renew_at:
                self._send(LeaseOp.RENEW, shard, lease, now)
        if self._scan_at is not None and now >= self._scan_at and not self.closing:
            self._scan_at = now + self.scan_every
            self._pass = deque(shard for shard, lease in self._leases.items()
                               if lease.state is LeaseState.FREE)
        self._fill(now)

    def answered(self, request_id: int, result: bool | None, now: float) -> None:
        """The store's answer to request ``request_id``: ``True``/``False`` as
        :class:`LeaseOp` says, ``None`` when the call failed (the store is down)."""
        entry = self._in_flight.pop(request_id, None)
        if entry is None:
            return
        op, shard = entry
        lease = self._leases[shard]
        if lease.request != request_id:  # overtaken (lost meanwhile): a late answer
            return
        lease.request = None
        if op is LeaseOp.CLAIM:
            self._claimed(shard, lease, result, now)
        elif op is LeaseOp.RENEW:
            self._renewed(shard, lease, result, now)
        else:
            lease.state = LeaseState.FREE
        self._fill(now)

    def stopped(self, shard: Shard, now: float) -> None:
        """The driver's shard ``shard`` has stopped (its snapshot saved, unless lost):
        release the lease (a lost one is not ours to release)."""
        lease = self._leases[shard]
        if lease.state is LeaseState.HELD:
            self._send(LeaseOp.RELEASE, shard, lease, now)
        elif lease.state is LeaseState.STOPPING:
            lease.state = LeaseState.FREE
        self._fill(now)

    def close(self, now: float) -> None:
        """Take no more shards.  The driver stops every shard it runs and reports each
        with :meth:`stopped`; leases are renewed until then, then released."""
        self.closing = True
        self._pass.clear()

    # -- internals --------------------------------------------------------------------

    def _busy(self) -> int:
        return sum(lease.state is not LeaseState.FREE for lease in self._leases.values())

    def _fill(self, now: float) -> None:
        """Claim free shards of this scan while below the limit."""
        while self._pass and not self.closing and self._busy() < self.limit:
            shard = self._pass.popleft()
            lease = self._leases[shard]
            if lease.state is LeaseState.FREE:
                self._send(LeaseOp.CLAIM, shard, lease, now)

    def _send(self, op: LeaseOp, shard: Shard, lease: _Lease, now: float) -> None:
        self._next_id += 1
        request_id = self._next_id
        if lease.request is not None:
            self._in_flight.pop(lease.request, None)
        lease.request = request_id
        if op is LeaseOp.CLAIM:
            lease.state = LeaseState.CLAIMING
        elif op is LeaseOp.RELEASE:
            lease.state = LeaseState.RELEASING
        if op is not LeaseOp.RELEASE:
            lease.sent_at = now
        self._in_flight[request_id] = (op, shard)
        self._requests.append(LeaseRequest(id=request_id, op=op, shard=shard,
                                           key=self.keys.lease(shard), owner=self.owner,
                                           ttl=self.ttl))

    def _claimed(self, shard: Shard, lease: _Lease, won: bool | None, now: float) -> None:
        valid_until = lease.sent_at + self.ttl - self.margin
        if not won:
            lease.state = LeaseState.FREE
        elif self.closing or now >= valid_until:
            # Not wanted any more, or the answer came too late to run the shard safely.
            self._send(LeaseOp.RELEASE, shard, lease, now)
        else:
            lease.state = LeaseState.HELD
            lease.valid_until = valid_until
            lease.renew_at = lease.sent_at + self.renew_every
            self._events.append(ShardAcquired(shard=shard))

    def _renewed(self, shard: Shard, lease: _Lease, ours: bool | None, now: float) -> None:
        if ours is None:  # the store failed: try again soon, while the lease lasts
            lease.renew_at = now + self.ttl * _RETRY_SHARE
        elif ours:
            lease.valid_until = max(lease.valid_until,
                                    lease.sent_at + self.ttl - self.margin)
            lease.renew_at = lease.sent_at + self.renew_every
        else:
            self._lose(shard, lease, "taken")

    def _lose(self, shard: Shard, lease: _Lease, reason: str) -> None:
        if lease.request is not None:
            self._in_flight.pop(lease.request, None)
            lease.request = None
        lease.state = LeaseState.STOPPING
        self._events.append(ShardLost(shard=shard, reason=reason))
