"""Identify pacing for the shards of one bot (gateway.md §8.4, §10).

``session_start_limit.max_concurrency`` sessions may start per 5 s (DOC).  Shards are
put in ``max_concurrency`` buckets by ``shard_id % max_concurrency`` and each bucket
identifies at most once per 5-second window, so however the shards' connections come
and go, no 5 s window holds more than ``max_concurrency`` identifies.  (Of the spacings
the SDKs use — BOTPY 5 s / max_concurrency, BOTGO 2 s, NB max_concurrency seconds, NET
a 5 s slot per bucket — this is the safe reading of the DOC's 5 s window, §11 item 9.)

One :class:`IdentifyPacer` is shared by the :class:`~qqproto.gateway.GatewaySession` of
every shard a process runs; it learns ``max_concurrency`` from the first discovery
answer.  A shard is told it may identify before it connects, and identifies once
connected: the bucket is *held* for it meanwhile (at most one window), so two shards of
one bucket that ask at the same moment do not both go.  It is plain data, fed ``now``;
drivers whose shards run on several threads serialise calls into it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["IDENTIFY_WINDOW", "IdentifyPacer"]

#: gateway.md §8.4: ``max_concurrency`` identifies per this many seconds.
IDENTIFY_WINDOW: Final = 5.0


class IdentifyPacer:
    """When each shard may send its next Identify (see the module docstring)."""

    __slots__ = ("_held", "_last", "log", "max_concurrency", "window")

    def __init__(self, max_concurrency: int = 1, *, window: float = IDENTIFY_WINDOW) -> None:
        if max_concurrency < 1 or not window > 0:
            raise ValueError("max_concurrency must be >= 1 and window > 0")
        self.max_concurrency = max_concurrency
        self.window = window
        self._last: dict[int, float] = {}  # bucket -> time of its last identify
        self._held: dict[int, tuple[int, float]] = {}  # bucket -> (shard told "go", when)
        #: ``(shard_id, now)`` of every identify granted, oldest first (bounded).
        self.log: list[tuple[int, float]] = []

    def learn(self, max_concurrency: int) -> None:
        """The discovery answer's ``max_concurrency`` (buckets are re-drawn from it)."""
        if max_concurrency >= 1 and max_concurrency != self.max_concurrency:
            # Re-bucketing may free a bucket early; keep the strictest past: every
            # bucket waits as long as the most recent identify requires.
            latest = max([*self._last.values(), *(at for _, at in self._held.values())],
                         default=None)
            self.max_concurrency = max_concurrency
            self._last = {} if latest is None else dict.fromkeys(range(max_concurrency), latest)
            self._held = {}

    def bucket(self, shard_id: int) -> int:
        return shard_id % self.max_concurrency

    def allowed_at(self, shard_id: int, now: float) -> float:
        """The earliest time ``shard_id`` may identify (``now`` when it may at once; the
        bucket is then held for it until it identifies, at most one window)."""
        bucket = self.bucket(shard_id)
        held = self._held.get(bucket)
        if held is not None and now < held[1] + self.window:
            if held[0] != shard_id:
                return held[1] + self.window
        else:
            held = None
        last = self._last.get(bucket)
        at = now if last is None else max(now, last + self.window)
        if at <= now and held is None:
            self._held[bucket] = (shard_id, now)
        return at

    def identified(self, shard_id: int, now: float) -> None:
        """``shard_id`` sends an Identify at ``now`` (its bucket is taken for a window)."""
        bucket = self.bucket(shard_id)
        self._last[bucket] = now
        self._held.pop(bucket, None)
        self.log.append((shard_id, now))
        if len(self.log) > 1024:
            del self.log[:512]
