"""Webhook deliveries deduplicated across instances through a shared store.

Behind a load balancer, the platform's push of an event, a double push and its op 12
redeliveries (gateway.md §9.5) may land on different instances.  Each instance keeps its
own replay cache (a replay *to it* is refused with 409); this gate adds the claims of
:mod:`qqproto.stores`, so that across instances an event is handled once:

* the store says **done** — some instance handled it: answer ``d = 0``, deliver nothing;
* **busy** — another instance is handling it now: answer ``d = 1`` so the platform comes
  back later (when it is done, or its claim expired because that instance died);
* **new** — claimed here: deliver; once answered, mark it done (``d = 0``) or drop the
  claim (``d = 1``) so the redelivery is handled.

The claim is written before any handler runs and marked done only after they finished:
an instance that dies mid-handler leaves a claim that expires, and the event is
delivered again (at-least-once, then idempotent by id).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from qqproto import Settings
from qqproto.events import Dispatch
from qqproto.gateway import dedupe_key
from qqproto.stores import Claim, StoreKeys, StoreTtl, parse_store_url

from .stores import EventClaims, Store, new_owner_id, open_store

__all__ = ["WebhookGate", "open_webhook_gate"]

log = logging.getLogger("qqproto_transports")


class WebhookGate:
    """Claims on event ids in a shared store (see the module docstring)."""

    def __init__(self, store: Store, app_id: str, *, ttl: StoreTtl | None = None,
                 owner: str | None = None, own_store: bool = False) -> None:
        ttl = ttl or StoreTtl()
        self.store = store
        self.keys = StoreKeys(app_id)
        self.claims = EventClaims(store, owner=owner or new_owner_id(), claim_ttl=ttl.claim,
                                  done_ttl=ttl.replay)
        self._own_store = own_store
        self._pool = ThreadPoolExecutor(2, "qqproto-store")
        #: Store round trips made (claims and marks), for benchmarks and tests.
        self.round_trips = 0

    def key(self, dispatch: Dispatch) -> str | None:
        """The store key of ``dispatch`` (``None``: it has no id to dedupe by)."""
        event_key = dedupe_key(dispatch)
        return None if event_key is None else self.keys.replay(event_key)

    def claim(self, key: str) -> Claim:
        """Blocking: claim ``key`` for this instance.  A store that fails is logged and
        the event delivered (at-least-once before at-most-once)."""
        self.round_trips += 1
        try:
            return self.claims.claim(key)
        except Exception:
            log.warning("store claim failed; delivering %s anyway", key, exc_info=True)
            return Claim.NEW

    def finish_later(self, key: str, ok: bool) -> None:
        """Mark ``key`` done (or drop the claim) on a worker thread."""
        self._pool.submit(self._finish, key, ok)

    def _finish(self, key: str, ok: bool) -> None:
        self.round_trips += 1
        try:
            self.claims.finish(key, ok)
        except Exception:
            log.warning("store mark failed for %s", key, exc_info=True)

    def close(self) -> None:
        """Wait for pending marks; close a store the gate opened."""
        self._pool.shutdown(wait=True)
        if self._own_store:
            self.store.close()


def open_webhook_gate(settings: Settings, store: Store | None = None) -> WebhookGate | None:
    """A gate when the bot's store is shared by instances (sqlite, Redis), else ``None``."""
    if store is None:
        if not parse_store_url(settings.store).shared or not settings.app_id:
            return None
        return WebhookGate(open_store(settings.store), settings.app_id,
                           ttl=settings.store_ttl, own_store=True)
    return WebhookGate(store, settings.app_id, ttl=settings.store_ttl) if store.shared else None
