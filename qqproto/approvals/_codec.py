"""What an approval or confirmation button carries back: the ``button_data`` codec.

Two formats come from the seed adapters (rest.md §6.4 items 1, 2 and 4):

* ``approve:<key>:<decision>`` with ``<decision>`` one of ``allow-once``,
  ``allow-always``, ``deny``.  The key may contain colons (``agent:main:qqbot:c2c:…``):
  the decision is the last field and the key is everything between.
* ``update_prompt:<y|n>``.  qqproto's own confirmations add a key,
  ``update_prompt:<key>:<y|n>``, so that a tap on an old question can never answer a
  newer one in the same chat (the seed form has no way to tell them apart).

Parsing is a full match of the whole string (rest.md §6.4 item 2: the SDK's ``re.match``
with ``$`` lets a trailing newline through; a core should not).  Anything else is not
ours and parses to ``None``.

The budget: rest.md §6.4 item 6 gives 64 bytes for ``button_data`` (one source, ⚠; the
platform refuses oversized callback data with ``630007``, §5.10).  The smallest claim is
the safe reading, so :data:`BUTTON_DATA_BUDGET` is 64 UTF-8 bytes and a key that would
not fit is replaced by an opaque id (:class:`~qqproto.approvals.PendingApprovals`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

__all__ = [
    "APPROVE_PREFIX",
    "BUTTON_DATA_BUDGET",
    "CONFIRM_PREFIX",
    "ApprovalData",
    "ConfirmationData",
    "Decision",
    "fits_budget",
    "parse_button_data",
]

#: rest.md §6.4 item 6 (⚠ single source): the safe reading of the ``button_data`` size.
BUTTON_DATA_BUDGET: Final = 64
APPROVE_PREFIX: Final = "approve:"
CONFIRM_PREFIX: Final = "update_prompt:"


class Decision(enum.Enum):
    """How a question ended.  The first three are buttons; ``TIMEOUT`` is no answer."""

    ALLOW_ONCE = "allow-once"
    ALLOW_ALWAYS = "allow-always"
    DENY = "deny"
    TIMEOUT = "timeout"

    @property
    def allowed(self) -> bool:
        """True for ``ALLOW_ONCE`` and ``ALLOW_ALWAYS``."""
        return self is Decision.ALLOW_ONCE or self is Decision.ALLOW_ALWAYS


#: The decisions a button can carry (rest.md §6.4 item 2: ``allow-session`` and the rest
#: are refused).
_TAPPABLE: Final = {d.value: d for d in (Decision.ALLOW_ONCE, Decision.ALLOW_ALWAYS,
                                         Decision.DENY)}
_ANSWERS: Final = {"y": True, "n": False}  # rest.md §6.4 item 4: lowercase only


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("a question key must be a non-empty string")
    if not _encodable(key):
        raise ValueError("a question key must be encodable as UTF-8")


def fits_budget(data: str) -> bool:
    """Whether ``data`` fits :data:`BUTTON_DATA_BUDGET` bytes of UTF-8."""
    return len(data.encode("utf-8", "surrogatepass")) <= BUTTON_DATA_BUDGET


@dataclass(frozen=True, slots=True)
class ApprovalData:
    """``approve:<key>:<decision>``: which question, which button."""

    key: str
    decision: Decision

    def __post_init__(self) -> None:
        _check_key(self.key)
        if self.decision.value not in _TAPPABLE:
            raise ValueError(f"{self.decision.name} is not a button")

    def encode(self) -> str:
        return f"{APPROVE_PREFIX}{self.key}:{self.decision.value}"


@dataclass(frozen=True, slots=True)
class ConfirmationData:
    """``update_prompt:[<key>:]<y|n>``: which question (``None``: the seed's keyless
    form), and whether the answer is yes."""

    key: str | None
    yes: bool

    def __post_init__(self) -> None:
        if self.key is not None:
            _check_key(self.key)

    def encode(self) -> str:
        answer = "y" if self.yes else "n"
        return f"{CONFIRM_PREFIX}{answer}" if self.key is None \
            else f"{CONFIRM_PREFIX}{self.key}:{answer}"


def parse_button_data(data: str | None) -> ApprovalData | ConfirmationData | None:
    """The question and answer ``data`` names, or ``None`` when it is not in one of the
    two formats (then it belongs to the application)."""
    if not isinstance(data, str):
        return None
    if data.startswith(APPROVE_PREFIX):
        key, sep, value = data[len(APPROVE_PREFIX):].rpartition(":")
        decision = _TAPPABLE.get(value)
        if not sep or not key or decision is None:
            return None
        return ApprovalData(key, decision) if _encodable(key) else None
    if data.startswith(CONFIRM_PREFIX):
        rest = data[len(CONFIRM_PREFIX):]
        key, sep, value = rest.rpartition(":")
        answer = _ANSWERS.get(value)
        if answer is None or (sep and not key):
            return None
        if sep and not _encodable(key):
            return None
        return ConfirmationData(key if sep else None, answer)
    return None


def _encodable(key: str) -> bool:
    # JSON may carry a lone surrogate; such a key was never ours.
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
