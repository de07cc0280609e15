"""How far the application has got in the session: what a Resume needs, as bookkeeping.

:class:`SessionProgress` holds the snapshot taken from READY, the seq of the last
dispatch the application has *processed* (what a Resume sends, gateway.md §4.3, §8.2)
and the ids of recent dispatches, so replays after a Resume and double pushes are
dropped (§6.2).  It decides whether a persisted snapshot is still worth resuming (§8.3).
"""

from __future__ import annotations

from dataclasses import replace

from ..events import Ready
from ._dedupe import RecentIds
from ._snapshot import SessionSnapshot

__all__ = ["SessionProgress"]


class SessionProgress:
    """The resumable session (``snapshot``), the processed seq and recent event ids."""

    __slots__ = ("duplicates_dropped", "processed_seq", "recent", "snapshot")

    def __init__(self, snapshot: SessionSnapshot | None, *, dedupe_capacity: int,
                 dedupe_window: float) -> None:
        self.snapshot = snapshot
        self.processed_seq: int | None = snapshot.seq if snapshot else None
        self.recent = RecentIds(capacity=dedupe_capacity, window=dedupe_window)
        self.duplicates_dropped = 0

    def mark(self, seq: int) -> None:
        """The application is done with the dispatch carrying ``seq`` (seqs only grow)."""
        if self.processed_seq is None or seq > self.processed_seq:
            self.processed_seq = seq

    def unusable_reason(self, *, intents: int, shard: tuple[int, int],
                        unix_now: float | None, max_age: float) -> str:
        """Why the stored snapshot cannot be resumed (``""``: it can, or there is none)."""
        snap = self.snapshot
        if snap is None:
            return ""
        if snap.intents != intents:
            return "intents changed"
        if tuple(snap.shard) != tuple(shard):
            return "shard changed"
        if (unix_now is not None and snap.last_active is not None
                and unix_now - snap.last_active > max_age):
            return "it is older than the resume window"
        return ""

    def drop(self) -> None:
        """Forget the session: the next connection identifies afresh."""
        self.snapshot = None
        self.processed_seq = None

    def ready(self, event: Ready, *, intents: int, shard: tuple[int, int]) -> None:
        """A new session began (READY): its id and seq become the resume point."""
        self.snapshot = SessionSnapshot(
            session_id=event.session_id, seq=event.seq, intents=intents, shard=shard,
            bot_user_id=event.user.id, bot_username=event.user.username)
        self.processed_seq = event.seq

    def resume_point(self) -> SessionSnapshot | None:
        """What the next connection resumes from: the snapshot at the processed seq."""
        snap = self.snapshot
        return replace(snap, seq=self.processed_seq) if snap is not None else None

    def export(self, unix_now: float | None) -> SessionSnapshot | None:
        """The snapshot to persist, stamped with ``unix_now`` when given."""
        snap = self.snapshot
        if snap is None:
            return None
        return replace(snap, seq=self.processed_seq,
                       last_active=unix_now if unix_now is not None else snap.last_active)
