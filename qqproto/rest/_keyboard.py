"""Inline keyboards (message buttons) as small frozen values.

rest.md §6: a keyboard is either a console template (``{"id": ...}``) or custom content
(``{"content": {"rows": [{"buttons": [...]}]}}``), at most 5 rows of at most 5 buttons,
button ids unique, labels at most 10 characters (§2.7, §6.2).  The limits are checked when
the value is built, so a bad keyboard is a ``ValueError`` in the caller's code instead of
a ``40034029`` from the platform.

Decisions where the sources disagree (§12): ``permission.type`` 2 means everyone (OD and
the SDK; one TS comment says 0); ``unsupport_tips`` is sent only when given (required in
OD, optional in OD2, never sent by the SDK that works in practice); the deprecated
``click_limit`` is never sent; ``visited_label`` defaults to the label (OD2).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "ActionType",
    "Button",
    "ButtonStyle",
    "Keyboard",
    "KeyboardTemplate",
    "Modal",
    "Permission",
    "PermissionType",
]

MAX_ROWS: Final = 5  # rest.md §6.2
MAX_BUTTONS_PER_ROW: Final = 5  # rest.md §6.2
MAX_LABEL_CHARS: Final = 10  # rest.md §2.7 / §6.2
MAX_MODAL_CONTENT: Final = 40  # rest.md §2.7 / §6.3 action.modal
MAX_MODAL_BUTTON_TEXT: Final = 4


class ButtonStyle(enum.IntEnum):
    """``render_data.style`` (rest.md §6.3)."""

    GREY_OUTLINE = 0
    BLUE_OUTLINE = 1
    RED_TEXT = 3  # OD2: white background, red text
    BLUE_FILLED = 4  # OD2: blue background, white text


class ActionType(enum.IntEnum):
    """``action.type`` (rest.md §6.3)."""

    LINK = 0  # open ``data`` (http(s) or mini-program scheme)
    CALLBACK = 1  # the platform pushes INTERACTION_CREATE (rest.md §5.1)
    COMMAND = 2  # put ``@bot <data>`` into the input box


class PermissionType(enum.IntEnum):
    """``action.permission.type`` (rest.md §6.3, OD numbering)."""

    SPECIFIED_USERS = 0
    ADMINS = 1
    EVERYONE = 2
    SPECIFIED_ROLES = 3  # guild only


def _need_text(name: str, value: object, limit: int | None = None) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{name} {value!r} is longer than {limit} characters")


@dataclass(frozen=True, slots=True, kw_only=True)
class Permission:
    """Who may tap a button.  Default: everyone."""

    type: PermissionType = PermissionType.EVERYONE
    user_ids: tuple[str, ...] = ()
    role_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", PermissionType(self.type))
        object.__setattr__(self, "user_ids", tuple(self.user_ids))
        object.__setattr__(self, "role_ids", tuple(self.role_ids))
        if self.type is PermissionType.SPECIFIED_USERS and not self.user_ids:
            raise ValueError("SPECIFIED_USERS permission needs user_ids")
        if self.type is PermissionType.SPECIFIED_ROLES and not self.role_ids:
            raise ValueError("SPECIFIED_ROLES permission needs role_ids")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": int(self.type)}
        if self.user_ids:
            out["specify_user_ids"] = list(self.user_ids)
        if self.role_ids:
            out["specify_role_ids"] = list(self.role_ids)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Modal:
    """A second confirmation before the action runs (OD2 ``action.modal``)."""

    content: str
    confirm_text: str = "确认"
    cancel_text: str = "取消"

    def __post_init__(self) -> None:
        _need_text("modal content", self.content, MAX_MODAL_CONTENT)
        if "://" in self.content:
            raise ValueError("modal content may not contain a URL")  # rest.md §2.7
        _need_text("modal confirm_text", self.confirm_text, MAX_MODAL_BUTTON_TEXT)
        _need_text("modal cancel_text", self.cancel_text, MAX_MODAL_BUTTON_TEXT)

    def to_dict(self) -> dict[str, Any]:
        return {"content": self.content, "confirm_text": self.confirm_text,
                "cancel_text": self.cancel_text}


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """One button.  ``data`` is echoed back as ``resolved.button_data`` (callbacks), the
    command text (commands) or the URL (links)."""

    id: str
    label: str
    data: str
    action: ActionType = ActionType.CALLBACK
    visited_label: str | None = None
    style: ButtonStyle = ButtonStyle.BLUE_OUTLINE
    permission: Permission = field(default_factory=Permission)
    enter: bool = False
    reply: bool = False
    anchor: int | None = None
    unsupport_tips: str | None = None
    group_id: str | None = None
    modal: Modal | None = None

    def __post_init__(self) -> None:
        _need_text("button id", self.id)
        _need_text("button label", self.label, MAX_LABEL_CHARS)
        if self.visited_label is not None:
            _need_text("button visited_label", self.visited_label, MAX_LABEL_CHARS)
        _need_text("button data", self.data)  # rest.md §6.3: required for types 1 and 2
        object.__setattr__(self, "action", ActionType(self.action))
        object.__setattr__(self, "style", ButtonStyle(self.style))
        if (self.enter or self.reply or self.anchor is not None) and \
                self.action is not ActionType.COMMAND:
            raise ValueError("enter, reply and anchor apply to COMMAND buttons only")

    def to_dict(self) -> dict[str, Any]:
        action: dict[str, Any] = {"type": int(self.action),
                                  "permission": self.permission.to_dict(),
                                  "data": self.data}
        if self.enter:
            action["enter"] = True
        if self.reply:
            action["reply"] = True
        if self.anchor is not None:
            action["anchor"] = self.anchor
        if self.unsupport_tips is not None:
            action["unsupport_tips"] = self.unsupport_tips
        if self.modal is not None:
            action["modal"] = self.modal.to_dict()
        out: dict[str, Any] = {
            "id": self.id,
            "render_data": {"label": self.label,
                            "visited_label": self.visited_label or self.label,
                            "style": int(self.style)},
            "action": action,
        }
        if self.group_id is not None:
            out["group_id"] = self.group_id
        return out


@dataclass(frozen=True, slots=True)
class Keyboard:
    """Custom keyboard content: ``Keyboard([[b1, b2], [b3]])``."""

    rows: tuple[tuple[Button, ...], ...]

    def __init__(self, rows: Iterable[Iterable[Button]]) -> None:
        frozen = tuple(tuple(row) for row in rows)
        if not frozen:
            raise ValueError("a keyboard needs at least one row")
        if len(frozen) > MAX_ROWS:
            raise ValueError(f"a keyboard has at most {MAX_ROWS} rows, got {len(frozen)}")
        seen: set[str] = set()
        for number, row in enumerate(frozen, 1):
            if not row:
                raise ValueError(f"row {number} has no buttons")
            if len(row) > MAX_BUTTONS_PER_ROW:
                raise ValueError(f"row {number} has {len(row)} buttons; at most "
                                 f"{MAX_BUTTONS_PER_ROW} are allowed")
            for button in row:
                if not isinstance(button, Button):
                    raise ValueError(f"row {number} holds {type(button).__name__}, "
                                     "not a Button")
                if button.id in seen:
                    raise ValueError(f"button id {button.id!r} is used twice")  # §6.2
                seen.add(button.id)
        object.__setattr__(self, "rows", frozen)

    def to_dict(self) -> dict[str, Any]:
        """The value of a message's ``keyboard`` field."""
        return {"content": {"rows": [{"buttons": [b.to_dict() for b in row]}
                                     for row in self.rows]}}


@dataclass(frozen=True, slots=True)
class KeyboardTemplate:
    """A keyboard template approved in the console (no variables, rest.md §6.1)."""

    id: str

    def __post_init__(self) -> None:
        _need_text("keyboard template id", self.id)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id}
