"""The base values of the models layer: every typed event, and the two fallbacks.

A :class:`ModelEvent` carries what the frame carried (``type``, ``event_id`` = the frame
``id``, ``seq``) plus ``raw``, the decoded ``d`` exactly as it arrived, so a typed view
never loses a field the parser did not know about (DESIGN.md §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import Dispatch, Event

__all__ = ["MalformedEvent", "ModelEvent", "UnknownEvent", "envelope"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelEvent(Event):
    """Base of every event the models layer returns.

    ``type`` is the dispatch type (``t``), ``event_id`` the frame ``id`` (the value a
    passive reply may send as ``event_id``, rest.md §5 item 9), ``seq`` the frame ``s``
    and ``raw`` the untouched ``d``.
    """

    type: str
    event_id: str | None
    seq: int | None
    raw: Any = field(repr=False)


def envelope(dispatch: Dispatch) -> dict[str, Any]:
    """The :class:`ModelEvent` fields every parser takes from the frame as they are."""
    return {"type": dispatch.type, "event_id": dispatch.id, "seq": dispatch.seq,
            "raw": dispatch.data}


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(ModelEvent):
    """A dispatch type the models layer has no class for (new or undocumented)."""

    dispatch: Dispatch = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedEvent(ModelEvent):
    """A known dispatch type whose payload is not what the protocol documents.

    ``error`` says which field is wrong and how; ``dispatch`` is the frame as received.
    """

    error: str
    dispatch: Dispatch = field(repr=False)
