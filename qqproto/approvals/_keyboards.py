"""The two keyboards: ✅ once / ⭐ always / ❌ deny, and ✓ yes / ✗ no.

Layout, labels and styles follow the seed adapters (rest.md §6.4 items 3–4): one row of
callback buttons in one mutually exclusive group (§6.3 ``group_id``: tapping one greys
the others).  Two choices where the sources disagree:

* ``group_id``: the SDK uses ``approval`` and ``update_prompt``; one adapter reports that
  the platform refused values containing ``_`` or digits (§6.3, §12, ⚠).  ``approval``
  passes both readings; the confirmation group is ``confirm`` instead of
  ``update_prompt`` for the same reason.  (The button *data* keeps the seed format.)
* who may tap: where the scope lets a keyboard name users (groups and guild channels,
  ``permission.type`` 0 with ``specify_user_ids``, §6.3) the buttons name the asker and
  the approvers, so other people's clients grey them; in a C2C chat or a guild DM there
  is one user anyway and everyone (type 2) is kept.  The tap is still checked by
  :class:`~qqproto.approvals.PendingApprovals`: a client that ignores the permission
  gains nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .._values import ChatScope
from ..rest import Button, ButtonStyle, Keyboard, Permission, PermissionType
from ._codec import ApprovalData, ConfirmationData, Decision, fits_budget

__all__ = [
    "APPROVAL_GROUP",
    "CONFIRMATION_GROUP",
    "approval_keyboard",
    "button_permission",
    "confirmation_keyboard",
]

APPROVAL_GROUP: Final = "approval"
CONFIRMATION_GROUP: Final = "confirm"
#: The scopes where a button may name the users allowed to tap it.
_NAMED_USERS: Final = frozenset({ChatScope.GROUP, ChatScope.CHANNEL})

# (button id, label, label once tapped, style) per decision (rest.md §6.4 item 3).
_APPROVAL_BUTTONS: Final = (
    (Decision.ALLOW_ONCE, "allow", "✅ 允许一次", "已允许", ButtonStyle.BLUE_OUTLINE),
    (Decision.ALLOW_ALWAYS, "always", "⭐ 始终允许", "已始终允许", ButtonStyle.BLUE_OUTLINE),
    (Decision.DENY, "deny", "❌ 拒绝", "已拒绝", ButtonStyle.GREY_OUTLINE),
)
# rest.md §6.4 item 4.
_CONFIRM_BUTTONS: Final = (
    (True, "yes", "✓ 确认", "已确认", ButtonStyle.BLUE_OUTLINE),
    (False, "no", "✗ 取消", "已取消", ButtonStyle.GREY_OUTLINE),
)


def button_permission(scope: ChatScope | str | None, users: Iterable[str] = ()) -> Permission:
    """Who may tap: ``users`` where ``scope`` lets a button name them, else everyone."""
    named = tuple(dict.fromkeys(u for u in users if u))
    if scope is not None and ChatScope(scope) in _NAMED_USERS and named:
        return Permission(type=PermissionType.SPECIFIED_USERS, user_ids=named)
    return Permission()


def _data(data: str) -> str:
    if not fits_budget(data):
        raise ValueError(f"button data of {len(data.encode('utf-8'))} bytes is over the "
                         "64-byte budget (rest.md §6.4 item 6); use a shorter key")
    return data


def approval_keyboard(key: str, *, allow_always: bool = True,
                      scope: ChatScope | str | None = None,
                      users: Iterable[str] = ()) -> Keyboard:
    """✅ allow once, ⭐ always allow (unless ``allow_always`` is false), ❌ deny, each
    carrying ``approve:<key>:<decision>``; limited to ``users`` where ``scope`` allows."""
    permission = button_permission(scope, users)
    row = [Button(id=button_id, label=label, visited_label=visited, style=style,
                  data=_data(ApprovalData(key, decision).encode()), group_id=APPROVAL_GROUP,
                  permission=permission)
           for decision, button_id, label, visited, style in _APPROVAL_BUTTONS
           if allow_always or decision is not Decision.ALLOW_ALWAYS]
    return Keyboard([row])


def confirmation_keyboard(key: str | None = None, *, scope: ChatScope | str | None = None,
                          users: Iterable[str] = ()) -> Keyboard:
    """✓ yes and ✗ no, carrying ``update_prompt:[<key>:]<y|n>`` (no key: the seed's own
    form); limited to ``users`` where ``scope`` allows."""
    permission = button_permission(scope, users)
    return Keyboard([[
        Button(id=button_id, label=label, visited_label=visited, style=style,
               data=_data(ConfirmationData(key, yes).encode()), group_id=CONFIRMATION_GROUP,
               permission=permission)
        for yes, button_id, label, visited, style in _CONFIRM_BUTTONS]])
