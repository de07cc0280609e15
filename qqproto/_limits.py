"""How much a peer may make a bot hold, and for how long: :class:`Limits`.

The core bounds what it parses itself (gateway messages, webhook requests); these are the
bounds on what the *drivers* hold and wait for on its behalf: HTTP answers, the events
the application has not handled yet, webhook connections and request bodies.  They are
plain data, part of :class:`~qqproto.Settings` (``Settings(limits=Limits(...))``), and
every driver enforces the same values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = ["Limits"]

_MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Caps every driver enforces; the defaults suit a bot on the QQ platform.

    HTTP answers (REST, token, gateway discovery, uploads) — an answer over a cap is a
    failed exchange (``NetworkError`` for a REST call, a retry with back-off for the
    gateway session), never an unbounded read:

    - ``max_response_size``: body bytes (8 MiB; OpenAPI answers are a few KiB);
    - ``max_response_chunks``: network reads the body may take (65,536), so a body
      dribbled a byte at a time costs a bounded number of steps;
    - ``max_response_headers``: header fields (128);
    - ``http_deadline``: seconds any exchange may take in all, connect to last byte
      (``None``: the request's own ``timeout``, 30 s for calls and 120 s for uploads —
      a total deadline either way, not a per-read timeout).

    Delivery (backpressure):

    - ``max_pending_events``: dispatches handed to handlers and not finished yet; at
      this many the gateway driver stops reading from the socket until half of them
      are done (heartbeats keep going out meanwhile; see docs/gateway.rst).

    Webhook servers:

    - ``max_webhook_connections``: connections served at once by the threaded server
      (its worker pool); when all are taken, the one idle or stalled the longest is
      shed for the newcomer;
    - ``webhook_request_timeout``: seconds the ASGI app waits for a request body
      (the raw servers' :class:`~qqproto.webhook.WebhookReceiver` has the same 30 s
      ``request_timeout``); a ``Content-Length`` over the body limit is refused at once.
    """

    max_response_size: int = 8 * _MIB
    max_response_chunks: int = 65536
    max_response_headers: int = 128
    http_deadline: float | None = None
    max_pending_events: int = 1024
    max_webhook_connections: int = 128
    webhook_request_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("max_response_size", "max_response_chunks", "max_response_headers",
                     "max_pending_events", "max_webhook_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, not {value!r}")
        for name in ("http_deadline", "webhook_request_timeout"):
            value = getattr(self, name)
            if value is None and name == "http_deadline":
                continue
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value <= 0):
                raise ValueError(f"Limits.{name} must be a positive number of seconds")

    def deadline_for(self, timeout: float) -> float:
        """The total time an exchange whose request says ``timeout`` may take."""
        return timeout if self.http_deadline is None else min(timeout, self.http_deadline)
