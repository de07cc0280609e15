"""Answering a button tap: the interaction ACK (rest.md §5.5–5.6).

When a user taps a callback button the platform pushes ``INTERACTION_CREATE`` and the
client shows a spinner until the bot answers ``PUT /interactions/{id}`` with
``{"code": N}``.  Success is HTTP 200/204 with an empty body.  The reply *message* to a
tap is a separate, passive send that uses the event id (§5.9).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from .._endpoints import Endpoints
from .._http import HttpRequest, json_request
from ._messages import DEFAULT_TIMEOUT, path_id

__all__ = ["InteractionResult", "build_interaction_ack"]


class InteractionResult(enum.IntEnum):
    """The ``code`` of an ACK (rest.md §5.6; OD msg-btn.md and BP agree)."""

    SUCCESS = 0
    FAILED = 1
    TOO_FREQUENT = 2
    DUPLICATE = 3
    NO_PERMISSION = 4
    ADMIN_ONLY = 5


def build_interaction_ack(endpoints: Endpoints, interaction_id: str,
                          result: InteractionResult = InteractionResult.SUCCESS, *,
                          data: Mapping[str, Any] | None = None,
                          headers: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    """``PUT /interactions/{interaction_id}`` with ``{"code": result}``.

    ``data`` is an optional extra object some clients attach (rest.md §5.7, single
    source); leave it out unless the platform feature needs it.
    """
    code = InteractionResult(result)
    body: dict[str, Any] = {"code": int(code)}
    if data is not None:
        body["data"] = dict(data)
    url = endpoints.api_url("/interactions/" + path_id(interaction_id, "interaction id"))
    return json_request("PUT", url, body, headers=headers, timeout=DEFAULT_TIMEOUT)
