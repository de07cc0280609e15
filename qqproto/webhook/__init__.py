"""The webhook (HTTP callback) channel, gateway.md §9: Ed25519 signatures
(:class:`WebhookKey`), the per-request verdict (:func:`handle_webhook_request`: reject,
op 13 validation, op 12 heartbeat or a verified dispatch) and the server side of one
HTTP/1.1 connection (:class:`WebhookReceiver`, h11 inside).
"""

from __future__ import annotations

from ._decision import (
    DEFAULT_POLICY,
    DEFAULT_WEBHOOK_PATH,
    ReplayCache,
    WebhookDecision,
    WebhookDelivery,
    WebhookHeartbeat,
    WebhookPolicy,
    WebhookRejection,
    WebhookValidation,
    answered_event,
    body_timeout_rejection,
    early_rejection,
    handle_webhook_request,
)
from ._receiver import WebhookReceiver, WebhookReceiverState
from ._signing import WebhookKey

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_WEBHOOK_PATH",
    "ReplayCache",
    "WebhookDecision",
    "WebhookDelivery",
    "WebhookHeartbeat",
    "WebhookKey",
    "WebhookPolicy",
    "WebhookReceiver",
    "WebhookReceiverState",
    "WebhookRejection",
    "WebhookValidation",
    "answered_event",
    "body_timeout_rejection",
    "early_rejection",
    "handle_webhook_request",
]
