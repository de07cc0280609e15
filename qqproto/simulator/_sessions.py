"""Gateway sessions: what outlives one WebSocket connection on the server side.

A session is born from an Identify (READY consumes seq 1) and holds a bounded replay
buffer of the dispatches it produced.  A correct Resume replays every buffered event
with a seq above the one the client names, with the original ids and seqs (gateway.md
§4.3, §8.2).  The session also knows how far its events actually left the simulator
(``delivered_seq``: frames handed to a driver by ``data_to_send()``), which is what makes
"events lost by a re-Identify" a number a test can assert on.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterator
from typing import Protocol

from .. import _jsoncodec

__all__ = ["SessionLink", "SimSession", "encode_dispatch"]


@functools.lru_cache(maxsize=64)
def _encoded_type(event_type: str) -> bytes:
    return _jsoncodec.dumps(event_type)


def encode_dispatch(event_type: str, seq: int, event_id: str | None, d_json: bytes) -> bytes:
    """A dispatch frame with keys in the order ``op, s, t, id, d`` (gateway.md §3.1).

    ``d_json`` is the already encoded payload: an event going to several sessions (or a
    burst) is encoded once and spliced, not re-encoded per frame.
    """
    head = b'{"op":0,"s":' + str(seq).encode() + b',"t":' + _encoded_type(event_type)
    if event_id is not None:
        head += b',"id":' + _jsoncodec.dumps(event_id)
    return head + b',"d":' + d_json + b"}"


class SessionLink(Protocol):
    """The gateway connection a session is attached to, as the simulator drives it
    (:class:`~qqproto.simulator.GatewayLink`; declared here because links sit above
    sessions)."""

    session: SimSession | None

    def send_text(self, raw: bytes, now: float, seq: int = 0) -> None: ...

    def close(self, code: int, reason: str, now: float) -> None: ...


class SimSession:
    """One gateway session; see the module docstring.

    ``buffer`` holds ``(seq, frame)`` pairs, oldest first, at most ``buffer_size``.
    """

    __slots__ = ("buffer", "buffer_size", "delivered_seq", "intents", "last_seq", "link",
                 "overflow_lost", "session_id", "shard")

    def __init__(self, session_id: str, *, intents: int, shard: tuple[int, int],
                 buffer_size: int) -> None:
        self.session_id = session_id
        self.intents = intents
        self.shard = shard
        self.buffer_size = buffer_size
        self.buffer: deque[tuple[int, bytes]] = deque()
        self.last_seq = 0
        #: Highest seq whose frame left the simulator on some connection.
        self.delivered_seq = 0
        #: The connection this session is attached to (``None`` while disconnected).
        self.link: SessionLink | None = None
        #: Undelivered events pushed out of the full buffer.
        self.overflow_lost = 0

    def __repr__(self) -> str:
        return (f"SimSession({self.session_id!r}, shard={list(self.shard)}, "
                f"last_seq={self.last_seq}, buffered={len(self.buffer)}, "
                f"attached={self.link is not None})")

    def next_seq(self) -> int:
        """Seqs are per session and strictly increasing (gateway.md §8.2)."""
        self.last_seq += 1
        return self.last_seq

    def buffer_event(self, seq: int, frame: bytes) -> int:
        """Keep ``frame`` for replay; return 1 when an undelivered event fell out."""
        lost = 0
        if len(self.buffer) >= self.buffer_size:
            old_seq, _ = self.buffer.popleft()
            if old_seq > self.delivered_seq:
                lost = 1
                self.overflow_lost += 1
        self.buffer.append((seq, frame))
        return lost

    def undelivered(self) -> int:
        """Buffered events that never left the simulator."""
        count = 0
        for seq, _ in reversed(self.buffer):
            if seq <= self.delivered_seq:
                break
            count += 1
        return count

    def events_after(self, seq: int) -> Iterator[tuple[int, bytes]]:
        """Buffered frames with a seq above ``seq``, in order (what a Resume replays)."""
        for item in self.buffer:
            if item[0] > seq:
                yield item

    def mark_delivered(self, seq: int) -> None:
        self.delivered_seq = max(self.delivered_seq, seq)
