"""What a question says: :class:`ApprovalRequest` and its markdown.

Two variants, as the seed adapters show them (rest.md §6.4): an *exec* approval (a
command about to run, its working directory) and a *plugin* approval (a tool, with a
severity icon 🔴/🟡/🔵).  Every value that came from somewhere else is made inert before
it reaches the markdown:

* one-line fields (title, description, directory, tool) lose their line breaks and
  control characters, are capped, and have the markdown punctuation backslash-escaped
  (CommonMark §2.4), so they can neither start a second line nor format the rest;
* the command preview goes into a fenced code block whose backticks are replaced by the
  full-width ``｀`` (a code block has no escapes, and three backticks would close the
  fence and let the rest of the command render as the bot's own text); it is capped at
  :data:`PREVIEW_LINES` lines and :data:`PREVIEW_CHARS` characters.
"""

from __future__ import annotations

import enum
import math
import unicodedata
from dataclasses import dataclass
from typing import Final

from ..rest import Markdown

__all__ = [
    "PREVIEW_CHARS",
    "PREVIEW_LINES",
    "ApprovalRequest",
    "Severity",
    "confirmation_markdown",
    "escape_inline",
    "preview_block",
]

#: The command preview shows at most this many characters and lines.
PREVIEW_CHARS: Final = 300
PREVIEW_LINES: Final = 12
#: Caps of the one-line fields, in characters.
TITLE_CHARS: Final = 100
TEXT_CHARS: Final = 500
#: A confirmation question keeps its own lines, up to these caps.
QUESTION_CHARS: Final = 1000
QUESTION_LINES: Final = 20

_ELLIPSIS: Final = "…"
# CommonMark §2.4: any ASCII punctuation may be backslash-escaped; these start inline
# markup (emphasis, code, links, images, autolinks/HTML, tables, headings, quotes).
_MARKUP: Final = frozenset("\\`*_~[]()<>!#|")
_BREAKS: Final = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


class Severity(enum.Enum):
    """How risky a plugin approval is; it picks the icon."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def icon(self) -> str:
        return _ICONS[self]


_ICONS: Final = {Severity.CRITICAL: "🔴", Severity.WARNING: "🟡", Severity.INFO: "🔵"}


def _visible(char: str, *, tab: str) -> str:
    """``char``, or what stands in for it when it could hide or move text."""
    if char == "\t":
        return tab
    if char in _BREAKS:
        return " "
    if unicodedata.category(char) in _INVISIBLE:
        return "\ufffd"  # bidi overrides, zero-width marks, controls: shown, not obeyed
    return char


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def escape_inline(text: str, limit: int = TEXT_CHARS) -> str:
    """``text`` as one inert line of markdown: no line breaks or control characters, at
    most ``limit`` characters (before escaping), markdown punctuation escaped."""
    flat = _cap("".join(_visible(c, tab=" ") for c in text).strip(), limit)
    return "".join("\\" + c if c in _MARKUP else c for c in flat)


def preview_block(command: str, *, chars: int = PREVIEW_CHARS,
                  lines: int = PREVIEW_LINES) -> str:
    """``command`` as a fenced code block nothing inside can close."""
    cleaned = []
    for line in command.replace("\r\n", "\n").split("\n"):
        cleaned.append("".join(_visible(c, tab="\t") for c in line).replace("`", "｀"))
    text = "\n".join(cleaned).strip("\n")
    kept = text.split("\n")
    cut = len(kept) > lines
    text = "\n".join(kept[:lines])
    if len(text) > chars:
        text, cut = text[:chars], True
    if cut:
        text += "\n" + _ELLIPSIS
    return f"```\n{text}\n```"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequest:
    """What the user is asked to approve.

    ``command`` (with ``cwd``) makes it an exec approval; otherwise it is a plugin
    approval of ``tool_name`` with a ``severity``.  ``timeout`` is how long the question
    stays open, in seconds (``ask_approval(timeout=…)`` overrides it).  ``allow_always``
    offers the ⭐ button.  ``session_key`` is carried in the button data when it is
    unique and fits the budget (rest.md §6.4 item 1); otherwise an opaque id is.
    """

    title: str = ""
    description: str = ""
    command: str = ""
    cwd: str = ""
    tool_name: str = ""
    severity: Severity = Severity.WARNING
    timeout: float = 120.0
    allow_always: bool = True
    session_key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        for name in ("title", "description", "command", "cwd", "tool_name"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"ApprovalRequest.{name} must be a string")
        if not (self.title.strip() or self.command.strip() or self.tool_name.strip()):
            raise ValueError("an approval request needs a title, a command or a tool name")
        check_timeout(self.timeout)
        if self.session_key is not None and not (
                isinstance(self.session_key, str) and self.session_key):
            raise ValueError("session_key must be a non-empty string or None")

    @property
    def is_exec(self) -> bool:
        """An exec approval (a command), as opposed to a plugin approval (a tool)."""
        return bool(self.command.strip() or self.cwd.strip())

    def to_markdown(self) -> str:
        """The question as markdown; every field is escaped (see the module docstring)."""
        if self.is_exec:
            lines = ["🔐 **执行命令前需要你的同意**", ""]
        else:
            lines = [f"{self.severity.icon} **需要你的授权**", ""]
        if self.title.strip():
            lines.append("📋 " + escape_inline(self.title, TITLE_CHARS))
        if self.description.strip():
            lines.append("📝 " + escape_inline(self.description))
        if self.tool_name.strip():
            lines.append("🔧 工具：" + escape_inline(self.tool_name, TITLE_CHARS))
        if self.command.strip():
            lines += ["", preview_block(self.command), ""]
        if self.cwd.strip():
            lines.append("📁 目录：" + escape_inline(self.cwd, TITLE_CHARS))
        if lines[-1]:
            lines.append("")
        lines.append(f"⏱️ {math.ceil(self.timeout)} 秒内有效")
        return "\n".join(lines)


def check_timeout(timeout: float) -> float:
    """``timeout`` if it is a positive, finite number of seconds; ``ValueError`` if not."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
            or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def confirmation_markdown(text: str | Markdown, timeout: float) -> Markdown:
    """A yes/no question: ``text`` as plain text (each line escaped, capped), or a
    :class:`~qqproto.rest.Markdown` the application wrote, used as it is."""
    if isinstance(text, Markdown):
        return text
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a confirmation needs the question's text")
    raw = text.replace("\r\n", "\n").strip("\n")
    cut = len(raw) > QUESTION_CHARS
    rows = raw[:QUESTION_CHARS].split("\n")
    if len(rows) > QUESTION_LINES:
        rows, cut = rows[:QUESTION_LINES], True
    body = "\n".join(_block_safe(escape_inline(row, QUESTION_CHARS)) for row in rows)
    if cut:
        body += "\n" + _ELLIPSIS
    return Markdown(f"❓ {body}\n\n⏱️ {math.ceil(timeout)} 秒内有效")


def _block_safe(row: str) -> str:
    """``row`` unable to open a block at the start of a line (a list item, a setext
    heading underline, an ordered list number): CommonMark §4–§5."""
    if row[:1] in ("-", "+", "="):
        return "\\" + row
    digits = len(row) - len(row.lstrip("0123456789"))
    if digits > 0 and row[digits:digits + 1] in (".", ")"):
        return row[:digits] + "\\" + row[digits:]
    return row
