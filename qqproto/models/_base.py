"""The base values of the models layer: every typed event, and the two fallbacks.

A :class:`ModelEvent` carries what the frame carried (``type``, ``event_id`` = the frame
``id``, ``seq``) plus ``raw``, the decoded ``d`` exactly as it arrived, so a typed view
never loses a field the parser did not know about (DESIGN.md §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..events import Dispatch, Event

__all__ = ["Invalid", "MalformedEvent", "ModelError", "ModelEvent", "UnknownEvent"]


class ModelError(ValueError):
    """A dispatch of a known type whose payload does not have the documented shape.

    Raised only by :func:`~qqproto.models.parse_event_strict`; :func:`parse_event`
    returns a :class:`MalformedEvent` with the same ``error`` text instead.
    """

    def __init__(self, message: str, *, event_type: str, dispatch: Dispatch) -> None:
        super().__init__(message)
        self.event_type = event_type
        self.dispatch = dispatch


class Invalid(Exception):
    """Internal: one field has the wrong shape.  ``str()`` names the path, e.g.
    ``"d.author: expected an object, got array"``.  Never escapes :mod:`qqproto.models`."""


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
