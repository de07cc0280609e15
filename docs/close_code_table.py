"""The close-code table of docs/gateway.rst, generated from :mod:`qqproto.gateway._close_codes`.

``.. close-code-table::`` renders one row per close code the core knows, with what the
session does next (from :func:`~qqproto.gateway.advice_for_close_code`, so the page
cannot drift from the code) and where the sources disagree (gateway.md §7.2, §11).
Everything except :func:`setup` is plain Python, for tests/test_docs_tables.py.
"""

from __future__ import annotations

from typing import Any

from qqproto.events import NextStep
from qqproto.gateway._close_codes import CloseAdvice, advice_for_close_code, describe_close_code

__all__ = ["ROWS", "action", "render_rst", "rows"]

#: The rows in order: a code, a (first, last) range, or None for "no close frame".
ROWS: tuple[int | tuple[int, int] | None, ...] = (
    None, 1000, 1001, 1006, 4000, 4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008, 4009,
    4010, 4011, 4012, 4013, 4014, (4900, 4913), 4914, 4915,
)

#: Why, where the sources disagree or the row needs a word (gateway.md sections).
NOTES: dict[int | None, str] = {
    None: "Network drop or EOF without a close frame: resume (§7.3).",
    1000: "Standard WebSocket codes; not in DOC's table: resume (§7.3).",
    4003: "Not in DOC (BOTGO); ASDK and HERMES resume (§7.2).",
    4005: "Not in DOC (BOTGO); ASDK and HERMES resume (§7.2).",
    4000: "Not in DOC (BOTGO's \"unknown error\"); resume like any unknown code (§7.1).",
    4001: "DOC table says neither resume nor identify; BOTPY, NB, NET, OC resume, BOTGO "
          "re-identifies. Stopping is the safe reading: retrying a broken client loops "
          "(§7.2, §11 item 6).",
    4002: "As 4001.",
    4004: "The token is invalidated and fetched again before reconnecting (HERMES, OC, "
          "BOTPY; §7.2).",
    4006: "DOC: identify allowed, resume not (§7.1).",
    4007: "DOC: identify allowed, resume not (§7.1).",
    4008: "DOC: reconnect and obey the rate limit; ASDK, HERMES and OC wait 60 s (§8.4).",
    4009: "DOC, ASDK, HERMES, BOTGO resume; OC re-identifies (§11 item 5). A planned "
          "reconnect: it does not count as a failure for the backoff.",
    4010: "Configuration error: DOC table \"no/no\", ASDK and HERMES stop (§7.3).",
    4011: "As 4010: the bot must be sharded.",
    4012: "As 4010.",
    4013: "As 4010: fix the intents.",
    4014: "As 4010: the intent needs a permission the bot lacks.",
    4900: "Internal errors: DOC says identify (§7.1).",
    4914: "DOC, ASDK, HERMES, OC, BOTGO stop; BOTPY, NB, NET retry forever (§11 item 7).",
    4915: "As 4914.",
}


def action(advice: CloseAdvice) -> str:
    """What the session does after a close with this advice, in words."""
    if advice.next_step is NextStep.STOP:
        return "stop for good: fatal ``Stop``, session dropped"
    if advice.next_step is NextStep.IDENTIFY:
        return "drop the session; reconnect and Identify"
    steps = []
    if advice.refresh_token:
        steps.append("fetch a new token")
    if advice.retry_after:
        steps.append(f"wait at least {advice.retry_after:g} s")
    steps.append("reconnect and Resume")
    return "; ".join(steps)


def rows() -> list[tuple[str, str, str, str]]:
    """(code, meaning, what qqproto does, note) for every row of :data:`ROWS`."""
    out = []
    for row in ROWS:
        if isinstance(row, tuple):
            first, last = row
            code_text, code, key = f"{first}–{last}", first, first
        else:
            code_text = "none" if row is None else str(row)
            code, key = row, row
        out.append((code_text, describe_close_code(code),
                    action(advice_for_close_code(code)), NOTES.get(key, "")))
    return out


def render_rst() -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 10 26 30 34", "",
             "   * - code", "     - meaning", "     - what the session does", "     - notes"]
    for code, meaning, what, note in rows():
        lines += [f"   * - {code}", f"     - {meaning}", f"     - {what}",
                  f"     - {note}" if note else "     -"]
    lines.append("")
    return lines


def setup(app: Any) -> dict[str, Any]:
    """Register the ``close-code-table`` directive."""
    from docutils import nodes
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    class CloseCodeTable(Directive):
        has_content = False

        def run(self) -> list[nodes.Node]:
            container = nodes.container(classes=["close-codes"])
            self.state.nested_parse(StringList(render_rst(), source="<close-code-table>"),
                                    self.content_offset, container)
            return [container]

    app.add_directive("close-code-table", CloseCodeTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
