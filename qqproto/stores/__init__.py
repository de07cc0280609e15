"""What outlives a process, decided by the core and kept by a store (DESIGN.md §3a).

The core names *what* to keep and for how long — :class:`StoreKeys` (namespaced by app
id), :class:`StoreTtl` (lifetimes from the protocol), the event-claim values
(:func:`busy_mark`, :data:`DONE`, :func:`read_claim`) — and *where*, as a URL
(:func:`parse_store_url`).  Across processes it decides who runs which shard
(:class:`ShardLeases`) and when a shard may identify (:class:`IdentifySlots`).  The
stores themselves (memory, JSON file, sqlite, Redis) are I/O and live in
:mod:`qqproto_transports.stores`.
"""

from __future__ import annotations

from ._identify import IdentifySlots, SlotOp, SlotRequest, slot_free_in
from ._keys import DONE, Claim, StoreKeys, StoreTtl, busy_mark, read_claim
from ._leases import (
    LeaseEvent,
    LeaseOp,
    LeaseRequest,
    LeaseState,
    ShardAcquired,
    ShardLeases,
    ShardLost,
)
from ._location import MEMORY, StoreKind, StoreLocation, parse_store_url

__all__ = [
    "DONE",
    "MEMORY",
    "Claim",
    "IdentifySlots",
    "LeaseEvent",
    "LeaseOp",
    "LeaseRequest",
    "LeaseState",
    "ShardAcquired",
    "ShardLeases",
    "ShardLost",
    "SlotOp",
    "SlotRequest",
    "StoreKeys",
    "StoreKind",
    "StoreLocation",
    "StoreTtl",
    "busy_mark",
    "parse_store_url",
    "read_claim",
    "slot_free_in",
]
