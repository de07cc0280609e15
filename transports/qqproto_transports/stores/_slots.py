"""What the drivers keep in a store, on top of the key/value interface: a shard's
session snapshot, event claims, and a writer that saves snapshots off the event loop.

Names, values and lifetimes are the core's (:mod:`qqproto.stores`); this module only
carries them out.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Protocol

from qqproto.errors import SnapshotError
from qqproto.gateway import SessionSnapshot
from qqproto.stores import DONE, Claim, StoreKeys, busy_mark, read_claim

from ._base import Store

__all__ = ["EventClaims", "SessionSlot", "SnapshotWriter", "new_owner_id"]

log = logging.getLogger("qqproto_transports")


def new_owner_id() -> str:
    """A name for this process in claims and leases: unique across machines."""
    return uuid.uuid4().hex[:16]


class SessionSlot:
    """One shard's session snapshot in a store (JSON, with the resume-window lifetime)."""

    def __init__(self, store: Store, keys: StoreKeys, shard: tuple[int, int], *,
                 ttl: float) -> None:
        self.store, self.key, self.ttl = store, keys.session(shard), ttl

    def load(self) -> SessionSnapshot | None:
        """The stored snapshot; an unreadable one is logged and ignored."""
        raw = self.store.get(self.key)
        if raw is None:
            return None
        try:
            return SessionSnapshot.from_dict(json.loads(raw))
        except (ValueError, SnapshotError) as exc:
            log.warning("ignoring unreadable session snapshot %s: %s", self.key, exc)
            return None

    def save(self, snapshot: SessionSnapshot | None) -> None:
        """Keep ``snapshot`` (``None``: forget the session)."""
        if snapshot is None:
            self.store.delete(self.key)
        else:
            self.store.set(self.key, json.dumps(snapshot.to_dict(), separators=(",", ":")),
                           ttl=self.ttl)


class EventClaims:
    """At-least-once across instances, then idempotent by event id (see
    :mod:`qqproto.stores`): :meth:`claim` before handling, :meth:`finish` after."""

    def __init__(self, store: Store, *, owner: str, claim_ttl: float,
                 done_ttl: float) -> None:
        self.store, self.owner = store, owner
        self.claim_ttl, self.done_ttl = claim_ttl, done_ttl
        self._busy = busy_mark(owner)

    def claim(self, key: str) -> Claim:
        """Take ``key`` for this instance, or say who has it (one round trip when free)."""
        if self.store.add(key, self._busy, ttl=self.claim_ttl):
            return Claim.NEW
        verdict = read_claim(self.store.get(key), self.owner)
        if verdict is Claim.NEW:  # expired in between, or our own claim: take it
            self.store.set(key, self._busy, ttl=self.claim_ttl)
        return verdict

    def finish(self, key: str, ok: bool) -> None:
        """Handlers done: ``ok`` marks the id processed; a failure drops the claim so
        the platform's redelivery is handled."""
        if ok:
            self.store.set(key, DONE, ttl=self.done_ttl)
        else:
            self.store.delete(key, expected=self._busy)

    def is_done(self, key: str) -> bool:
        return self.store.get(key) == DONE

    def mark_done(self, key: str) -> None:
        self.store.set(key, DONE, ttl=self.done_ttl)


class SavesSnapshots(Protocol):
    def save(self, snapshot: SessionSnapshot | None) -> None: ...


class SnapshotWriter:
    """Saves the latest snapshot on its own thread: a slow store delays nothing else.

    :meth:`offer` never blocks; if saves pile up only the newest is written.
    :meth:`flush` waits until what was offered is saved (at shutdown).
    """

    _NOTHING = object()

    def __init__(self, slot: SavesSnapshots) -> None:
        self.slot = slot
        self._cond = threading.Condition()
        self._pending: object = self._NOTHING
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def offer(self, snapshot: SessionSnapshot | None) -> None:
        with self._cond:
            if self._closed:
                return
            self._pending = snapshot
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="qqproto-store")
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until nothing is pending; whether that happened in time."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._pending is self._NOTHING and not self._busy, timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abandon(self) -> None:
        """Drop what is pending and save nothing more (the shard's lease is lost; a save
        already under way still lands)."""
        with self._cond:
            self._pending = self._NOTHING
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not self._NOTHING
                                    or self._closed)
                if self._pending is self._NOTHING:
                    return
                snapshot, self._pending = self._pending, self._NOTHING
                self._busy = True
            try:
                assert snapshot is None or isinstance(snapshot, SessionSnapshot)
                self.slot.save(snapshot)
            except Exception:
                log.warning("could not save the session snapshot", exc_info=True)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
