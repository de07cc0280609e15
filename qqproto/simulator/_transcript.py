"""One line (or a few) per thing a bot did, for ``qqproto sim``'s console transcript.

A reply is shown as the user would see it: its text, or its markdown source, its
media, its keyboard row by row (``[label → data]``; ``[label ↗ url]`` for a link), and
whether it answers a message or a button tap.  An interaction ACK shows its code.
"""

from __future__ import annotations

from typing import Any, Final

from ._records import InteractionAck, SentMessage

__all__ = ["describe_ack", "describe_sent"]

#: rest.md §5.6: the ACK codes.
_ACK_CODES: Final = {0: "success", 1: "failed", 2: "too frequent", 3: "duplicate",
                     4: "no permission", 5: "admin only"}


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, str) else "<none>"


def _button(button: Any) -> str:
    if not isinstance(button, dict):
        return "[?]"
    render = button.get("render_data")
    label = render.get("label") if isinstance(render, dict) else None
    action = button.get("action")
    data = action.get("data") if isinstance(action, dict) else None
    kind = action.get("type") if isinstance(action, dict) else None
    arrow = "↗" if kind == 0 else "→"  # rest.md §6.3: type 0 opens a link
    return f"[{label if isinstance(label, str) else '?'} {arrow} {data or ''}]".replace(
        " ]", "]")


def _keyboard(keyboard: Any) -> list[str]:
    if not isinstance(keyboard, dict):
        return []
    if "id" in keyboard and "content" not in keyboard:
        return [f"    keyboard template {keyboard['id']}"]
    content = keyboard.get("content")
    rows = content.get("rows") if isinstance(content, dict) else None
    if not isinstance(rows, list):
        return ["    keyboard <unreadable>"]
    lines = []
    for row in rows:
        buttons = row.get("buttons") if isinstance(row, dict) else None
        lines.append("    " + " ".join(_button(b) for b in buttons or ()))
    return lines


def describe_sent(message: SentMessage) -> str:
    """``bot -> c2c USER: 'text'`` plus what else the message carries."""
    body = message.body
    parts = []
    markdown = body.get("markdown")
    if isinstance(markdown, dict) and "content" in markdown:
        parts.append(f"markdown {_text(markdown.get('content'))}")
    elif isinstance(markdown, dict):
        parts.append(f"markdown template {markdown.get('custom_template_id', '?')}")
    media = body.get("media")
    if isinstance(media, dict):
        info = str(media.get("file_info", ""))
        parts.append(f"media {info[:16]}{'…' if len(info) > 16 else ''}")
    if isinstance(body.get("ark"), dict):
        parts.append(f"ark template {body['ark'].get('template_id', '?')}")
    if isinstance(body.get("image"), str):
        parts.append(f"image {body['image']}")
    if message.content is not None or not parts:
        parts.insert(0, _text(message.content))
    if body.get("msg_type") == 6:
        parts = ["typing…"]
    answer = f" (answers tap {message.event_id})" if message.event_id else ""
    lines = [f"bot -> {message.scope} {message.target}: {', '.join(parts)}{answer}"]
    return "\n".join(lines + _keyboard(body.get("keyboard")))


def describe_ack(ack: InteractionAck) -> str:
    """``bot acked tap ID: 0 (success)``."""
    return f"bot acked tap {ack.interaction_id}: {ack.code} ({_ACK_CODES.get(ack.code, '?')})"
