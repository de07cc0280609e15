"""What a store keeps, as key names, values and lifetimes: the core's decisions.

Every key is namespaced by the bot's app id, so bots share one Redis safely.  Lifetimes
come from the protocol: a session snapshot lives as long as it may be resumed
(gateway.md §8.3), a processed event id as long as a replay of it may arrive (the resume
window on the gateway, the signed-timestamp window on webhooks, §9.3), a claim on an
event in progress as long as one instance may take to handle it.

Event claims (at-least-once across instances, then idempotent by id): an instance first
*claims* an event id (``busy:<owner>``, short lifetime), runs the handlers, then marks it
``done`` (long lifetime) — or deletes the claim when the handlers failed, so that a
redelivery gets through.  An instance that dies mid-handler leaves a claim that expires:
the event is delivered again, never silently dropped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

__all__ = [
    "DONE",
    "Claim",
    "StoreKeys",
    "StoreTtl",
    "busy_mark",
    "read_claim",
]

#: The value of an event id whose handlers finished.
DONE: Final = "done"
_BUSY: Final = "busy:"


class Claim(enum.Enum):
    """What a store says about an event id."""

    #: Nobody has it: this instance may handle it.
    NEW = "new"
    #: Another instance is handling it right now.
    BUSY = "busy"
    #: Already handled by some instance: acknowledge, do not deliver.
    DONE = "done"


def busy_mark(owner: str) -> str:
    """The claim value of an event being handled by ``owner``."""
    return f"{_BUSY}{owner}"


def read_claim(value: str | None, owner: str = "") -> Claim:
    """The claim a stored value stands for (``None``: no key); a claim by ``owner``
    itself counts as :attr:`Claim.NEW` (it is taking its own event back)."""
    if value is None:
        return Claim.NEW
    if value == DONE:
        return Claim.DONE
    if owner and value == busy_mark(owner):
        return Claim.NEW
    return Claim.BUSY


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreTtl:
    """Lifetimes in seconds (defaults cite the fact sheet).

    - ``session``: a snapshot older than the resume window is not resumed (§8.3, 3600 s).
    - ``processed``: a gateway event id is remembered as long as a Resume may replay it
      (the same window).
    - ``replay``: a webhook event id, the signed-timestamp window both ways (§9.3).
    - ``claim``: how long one instance may hold an event it is handling before another
      may take it (keep it below the platform's redelivery horizon).
    - ``lease``: a shard lease (:class:`~qqproto.stores.ShardLeases`), renewed every
      ``lease / 3`` seconds; a dead process's shards are taken over within about
      ``lease * 4 / 3``.  Keep it at or below one heartbeat interval (41.25 s, §8.1).
    """

    session: float = 3600.0
    processed: float = 3600.0
    replay: float = 600.0
    claim: float = 30.0
    lease: float = 15.0

    def __post_init__(self) -> None:
        for name in ("session", "processed", "replay", "claim", "lease"):
            if not getattr(self, name) > 0:
                raise ValueError(f"StoreTtl.{name} must be a positive number of seconds")


class StoreKeys:
    """The key names of one bot: ``qqproto:<app id>:<what>:<which>``."""

    __slots__ = ("prefix",)

    def __init__(self, app_id: str, *, namespace: str = "qqproto") -> None:
        if not app_id or ":" in app_id:
            raise ValueError("app_id must be non-empty and contain no ':'")
        self.prefix = f"{namespace}:{app_id}:"

    def session(self, shard: tuple[int, int]) -> str:
        """The session snapshot of one shard (a resumable session is per shard)."""
        return f"{self.prefix}session:{shard[0]}/{shard[1]}"

    def processed(self, event_key: str) -> str:
        """A gateway event handled by some process (the dedupe window)."""
        return f"{self.prefix}processed:{event_key}"

    def replay(self, replay_key: str) -> str:
        """A webhook event handled by some instance (the replay window)."""
        return f"{self.prefix}replay:{replay_key}"

    def lease(self, shard: tuple[int, int]) -> str:
        """Which process runs a shard, until the lease expires."""
        return f"{self.prefix}lease:{shard[0]}/{shard[1]}"

    def identify(self, bucket: int) -> str:
        """An identify bucket's slot (``shard_id % max_concurrency``, gateway.md §8.4)."""
        return f"{self.prefix}identify:{bucket}"

    def cache(self, name: str, key: str) -> str:
        """An entry of a named cache (e.g. uploaded media's ``file_info``)."""
        return f"{self.prefix}cache:{name}:{key}"

    def file_info(self, scope: str, target: str, file_type: int, content_hash: str) -> str:
        """An uploaded file's ``file_info`` for one target (rest.md §3.5: reusable
        within its ``ttl``; keyed as narrowly as :class:`~qqproto.media.MediaKey`).
        ``target`` and ``content_hash`` are percent-encoded, so no ``:`` of theirs can
        make two keys one."""
        return (f"{self.prefix}file_info:{quote(scope, safe='')}:{quote(target, safe='')}:"
                f"{int(file_type)}:{quote(content_hash, safe='')}")
