"""Identify pacing across the processes of one bot, through the store (gateway.md §8.4).

``session_start_limit.max_concurrency`` sessions may start per 5 s for the whole bot,
not per process.  :class:`IdentifySlots` is the :class:`~qqproto.gateway.IdentifyPacer`
of a process whose shards share a store with other processes: besides the in-process
spacing, a shard's bucket (``shard_id % max_concurrency``) must be *taken* in the store
before the shard identifies — a key per bucket (:meth:`StoreKeys.identify`) written
only when absent.  When the Identify goes out, the key is rewritten with the window's
lifetime, so the bucket's next identify, from any process, comes at least one window
later.  A slot taken for an identify that never happens frees itself after
``window + hold``.

The session asks :meth:`IdentifySlots.allowed_at` synchronously; while the store has not
answered, the answer is "in ``poll`` seconds", and the session asks again then.  The
driver carries out :meth:`IdentifySlots.next_request` and answers with
:meth:`IdentifySlots.answered`.  A slot's value (:meth:`SlotRequest.value_at`) says who
holds it, whether its identify went out and until when, so a process that finds the
bucket taken knows when to come back: at the end of the window after an identify, or
soon (a fifth of the window) while the identify is still to come.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from ..gateway import IDENTIFY_WINDOW, IdentifyPacer
from ._keys import StoreKeys

__all__ = ["IdentifySlots", "SlotOp", "SlotRequest", "slot_free_in"]


class SlotOp(enum.Enum):
    """What a :class:`SlotRequest` asks of the store."""

    #: ``add(key, value_at(unix_now), ttl)``; when that fails, read the key's value.
    TAKE = "take"
    #: ``set(key, value_at(unix_now), ttl)``: the identify went out now.
    RESTART = "restart"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotRequest:
    """A store call for the driver; answer a TAKE with :meth:`IdentifySlots.answered`."""

    id: int
    op: SlotOp
    bucket: int
    key: str
    owner: str
    ttl: float

    def value_at(self, unix_now: float) -> str:
        """The value to write at wall-clock time ``unix_now``: who, whether the identify
        went out, and until when the slot is held: ``"<owner> taken|identified <unix>"``."""
        kind = "taken" if self.op is SlotOp.TAKE else "identified"
        return f"{self.owner} {kind} {unix_now + self.ttl:.3f}"


def _parse(value: str | None) -> tuple[str, bool, float] | None:
    """``(owner, identified, expires_at)`` of a slot value, ``None`` if unreadable."""
    parts = (value or "").split(" ")
    if len(parts) != 3 or parts[1] not in ("taken", "identified"):
        return None
    try:
        return parts[0], parts[1] == "identified", float(parts[2])
    except ValueError:
        return None


def slot_free_in(value: str | None, unix_now: float) -> float | None:
    """Seconds until the slot holding ``value`` frees itself at the latest (``None``:
    unknown)."""
    parsed = _parse(value)
    return None if parsed is None else max(0.0, parsed[2] - unix_now)


class _Bucket(enum.Enum):
    OPEN = "open"        # ask the store
    ASKING = "asking"    # a TAKE is on its way
    GRANTED = "granted"  # ours for one shard, until ``until``
    BUSY = "busy"        # another process's, until ``until``


class IdentifySlots(IdentifyPacer):
    """See the module docstring.  ``owner`` names this process; ``hold`` is how long a
    taken slot waits for its identify (connect time) before it is given up."""

    __slots__ = ("_buckets", "_next_id", "_requests", "hold", "keys", "owner", "poll")

    def __init__(self, keys: StoreKeys, owner: str, *, max_concurrency: int = 1,
                 window: float = IDENTIFY_WINDOW, hold: float = 5.0,
                 poll: float = 0.05) -> None:
        super().__init__(max_concurrency, window=window)
        self.keys, self.owner = keys, owner
        self.hold, self.poll = hold, poll
        # bucket -> (state, shard_id it is granted to or asked for, until, request id)
        self._buckets: dict[int, tuple[_Bucket, int, float, int]] = {}
        self._requests: deque[SlotRequest] = deque()
        self._next_id = 0

    def learn(self, max_concurrency: int) -> None:
        if max_concurrency >= 1 and max_concurrency != self.max_concurrency:
            self._buckets.clear()  # re-drawn buckets: ask the store afresh
        super().learn(max_concurrency)

    def allowed_at(self, shard_id: int, now: float) -> float:
        local = super().allowed_at(shard_id, now)
        if local > now:
            return local
        bucket = self.bucket(shard_id)
        state, holder, until, _ = self._buckets.get(bucket, (_Bucket.OPEN, -1, 0.0, 0))
        if state is _Bucket.GRANTED and now < until:
            return now if holder == shard_id else until
        if state is _Bucket.BUSY and now < until:
            return until
        if state is not _Bucket.ASKING:
            self._next_id += 1
            self._buckets[bucket] = (_Bucket.ASKING, shard_id, now, self._next_id)
            self._requests.append(self._request(self._next_id, SlotOp.TAKE, bucket,
                                                self.window + self.hold))
        return now + self.poll

    def identified(self, shard_id: int, now: float) -> None:
        super().identified(shard_id, now)
        bucket = self.bucket(shard_id)
        self._buckets[bucket] = (_Bucket.BUSY, shard_id, now + self.window, 0)
        self._next_id += 1
        self._requests.append(self._request(self._next_id, SlotOp.RESTART, bucket,
                                            self.window))

    def next_request(self) -> SlotRequest | None:
        return self._requests.popleft() if self._requests else None

    def answered(self, request_id: int, won: bool | None, *, holder_value: str | None = None,
                 unix_now: float = 0.0) -> None:
        """The answer to TAKE ``request_id``: ``won``, else the value found in the key
        (``holder_value``, read at wall-clock ``unix_now``); ``None``: the store failed.
        Times count from when the TAKE was sent (the answer may come from any thread)."""
        found = next(((bucket, entry) for bucket, entry in self._buckets.items()
                      if entry[0] is _Bucket.ASKING and entry[3] == request_id), None)
        if found is None:
            return  # answered after a re-bucketing or an identify: nothing waits for it
        bucket, (_, shard_id, asked_at, _) = found
        holder = _parse(holder_value) if won is False else None
        if won or (holder is not None and holder[0] == self.owner):
            # Ours (a slot this process took earlier): the in-process spacing applies.
            self._buckets[bucket] = (_Bucket.GRANTED, shard_id, asked_at + self.hold, 0)
            return
        if holder is None or not holder[1]:
            # Unknown, a failed store, or taken for an identify still to come (its window
            # restarts then, sooner than the taken slot's lifetime): look again soon.
            free_in = self.window / 5
        else:
            free_in = max(0.0, holder[2] - unix_now)
        wait = min(max(free_in, self.poll), self.window + self.hold)
        self._buckets[bucket] = (_Bucket.BUSY, shard_id, asked_at + wait, 0)

    def _request(self, request_id: int, op: SlotOp, bucket: int, ttl: float) -> SlotRequest:
        return SlotRequest(id=request_id, op=op, bucket=bucket,
                           key=self.keys.identify(bucket), owner=self.owner, ttl=ttl)
