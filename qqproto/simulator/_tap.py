"""``tap MESSAGE BUTTON [as USER]``: somebody taps a button of a keyboard the bot sent.

``MESSAGE`` is a sent message's id, a chat (the latest message with a keyboard sent
there: a user openid, group openid, channel id or DM guild id), or ``last``.
``BUTTON`` is the button's id, its label, or its position (1, 2, …).  ``USER`` is who
taps; without it, the first user the button names (``specify_user_ids``, the asker of an
approval), or in a C2C chat its user.  The tap is the ``INTERACTION_CREATE`` the platform
would push for that chat (rest.md §5.2), carrying the button's id and data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._records import SentMessage

if TYPE_CHECKING:
    from ._simulator import Simulator

__all__ = ["tap_command"]

_USAGE: Final = "error: tap MESSAGE BUTTON [as USER] (MESSAGE: a message id, a chat or last)"
_CALLBACK: Final = 1  # rest.md §6.3 action.type: only callbacks reach the bot


def _buttons(message: SentMessage) -> list[dict[str, Any]]:
    keyboard = message.body.get("keyboard")
    content = keyboard.get("content") if isinstance(keyboard, dict) else None
    rows = content.get("rows") if isinstance(content, dict) else None
    found: list[dict[str, Any]] = []
    for row in rows if isinstance(rows, list) else ():
        buttons = row.get("buttons") if isinstance(row, dict) else None
        if isinstance(buttons, list):
            found.extend(b for b in buttons if isinstance(b, dict))
    return found


def _find_message(sim: Simulator, ref: str) -> SentMessage | None:
    found = sim.find_sent(ref)
    if found is not None:
        return found
    for message in reversed(sim.sent_messages):
        if _buttons(message) and ref in ("last", message.target):
            return message
    return None


def _find_button(buttons: list[dict[str, Any]], ref: str) -> dict[str, Any] | None:
    for button in buttons:
        render = button.get("render_data")
        label = render.get("label") if isinstance(render, dict) else None
        if ref in (button.get("id"), label):
            return button
    if ref.isdigit() and 1 <= int(ref) <= len(buttons):
        return buttons[int(ref) - 1]
    return None


def _named_user(button: dict[str, Any]) -> str | None:
    action = button.get("action")
    permission = action.get("permission") if isinstance(action, dict) else None
    users = permission.get("specify_user_ids") if isinstance(permission, dict) else None
    return users[0] if isinstance(users, list) and users and isinstance(users[0], str) \
        else None


def tap_command(sim: Simulator, line: str, now: float) -> tuple[str, bool]:
    """Carry out a ``tap`` line: what to print and whether it worked."""
    words = line.split()
    if len(words) not in (3, 5) or (len(words) == 5 and words[3].lower() != "as"):
        return _USAGE, False
    message = _find_message(sim, words[1])
    if message is None:
        return f"error: no message with a keyboard matches {words[1]!r}", False
    button = _find_button(_buttons(message), words[2])
    if button is None:
        return f"error: message {message.id} has no button {words[2]!r}", False
    action = button.get("action")
    if not isinstance(action, dict) or action.get("type") != _CALLBACK:
        return f"error: button {words[2]!r} is not a callback button", False
    user = words[4] if len(words) == 5 else (
        _named_user(button) or (message.target if message.scope == "c2c" else None))
    if user is None:
        return f"error: say who taps: tap {words[1]} {words[2]} as USER", False
    data = action.get("data")
    common: dict[str, Any] = {"now": now, "button_id": str(button.get("id", "")),
                              "button_data": data if isinstance(data, str) else ""}
    if message.scope == "c2c":
        event = sim.inject_interaction("c2c", user_openid=user, **common)
    elif message.scope == "group":
        event = sim.inject_interaction("group", group_openid=message.target,
                                       member_openid=user, **common)
    elif message.scope == "channel":
        event = sim.inject_interaction("guild", channel_id=message.target, user_id=user,
                                       **common)
    else:  # a guild DM: the message went to the DM's own guild
        event = sim.inject_interaction("guild", guild_id=message.target, user_id=user,
                                       **common)
    return f"INTERACTION_CREATE {event.data['id']} ({words[2]} by {user})", True
