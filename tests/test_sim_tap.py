"""``tap MESSAGE BUTTON [as USER]`` in ``qqproto sim``: the INTERACTION_CREATE the platform
would push for a tap on a keyboard the bot sent (sans-IO, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from qqproto import ChatScope, Endpoints, OutgoingMessage, _jsoncodec
from qqproto.approvals import ApprovalRequest, Audience, PendingApprovals
from qqproto.rest import ActionType, Button, Keyboard, Markdown
from qqproto.rest._messages import build_message
from qqproto.simulator import SentMessage, SimEvent, Simulator
from qqproto.simulator._commands import COMMAND_HELP, run_command


def sim_with(scope: str, target: str, message: OutgoingMessage) -> tuple[Simulator, list[Any]]:
    sim = Simulator()
    body = _jsoncodec.loads(build_message(Endpoints(), scope, target, message).body)
    sim.store_sent(SentMessage(id=f"MSG-{scope}", scope=scope, target=target, body=body, at=0))
    taps: list[Any] = []
    sim.listeners.append(lambda event, now: taps.append(event))
    return sim, taps


def approval(scope: ChatScope, chat: str, user: str) -> OutgoingMessage:
    table = PendingApprovals()
    q = table.ask_approval(ApprovalRequest(title="t", session_key="K"),
                           Audience(scope=scope, chat_id=chat, user_id=user), now=0.0)
    return q.message


def only(taps: list[SimEvent]) -> dict[str, Any]:
    (event,) = taps
    assert event.type == "INTERACTION_CREATE"
    data: dict[str, Any] = event.data
    return data


def test_a_group_tap_by_the_named_asker_or_by_someone_else() -> None:
    sim, taps = sim_with("group", "G1", approval(ChatScope.GROUP, "G1", "M1"))
    result = run_command(sim, "tap G1 allow", 1.0)
    d = only(taps)
    assert result.ok and result.text == f"INTERACTION_CREATE {d['id']} (allow by M1)"
    assert (d["scene"], d["group_openid"], d["group_member_openid"]) == ("group", "G1", "M1")
    assert d["data"]["resolved"] == {"button_id": "allow", "button_data": "approve:K:allow-once"}
    taps.clear()
    assert run_command(sim, "tap MSG-group 3 AS M2", 1.0).ok  # by id, by position
    d = only(taps)
    assert (d["group_member_openid"], d["data"]["resolved"]["button_data"]) == (
        "M2", "approve:K:deny")
    taps.clear()
    assert run_command(sim, "tap last ⭐ 始终允许 as M3", 1.0).ok is False  # labels are one word
    assert run_command(sim, "tap last always as M3", 1.0).ok
    assert only(taps)["data"]["resolved"]["button_id"] == "always"


@pytest.mark.parametrize(("scope", "target", "expected"), [
    ("c2c", "U1", {"scene": "c2c", "user_openid": "U1"}),
    ("channel", "C1", {"scene": "guild", "channel_id": "C1"}),
    ("dm", "DMG", {"scene": "guild", "guild_id": "DMG"}),
])
def test_taps_land_in_the_scene_of_the_message(scope: str, target: str,
                                               expected: dict[str, str]) -> None:
    sim, taps = sim_with(scope, target, approval(ChatScope(scope), target, "U1"))
    assert run_command(sim, f"tap {target} deny as U1", 1.0).ok
    d = only(taps)
    assert {k: d[k] for k in expected} == expected
    if scope != "c2c":
        assert d["data"]["resolved"]["user_id"] == "U1"


@pytest.mark.parametrize(("line", "error"), [
    ("tap", "tap MESSAGE BUTTON"),
    ("tap G1 allow by M1", "tap MESSAGE BUTTON"),
    ("tap NOWHERE allow", "no message with a keyboard matches 'NOWHERE'"),
    ("tap G1 nope", "has no button 'nope'"),
    ("tap G1 9", "has no button '9'"),
    ("tap G1 docs", "is not a callback button"),
    ("tap G1 hello", "say who taps: tap G1 hello as USER"),
])
def test_a_tap_that_cannot_happen_is_a_one_line_error(line: str, error: str) -> None:
    keyboard = Keyboard([[Button(id="docs", label="docs", data="https://example.com",
                                 action=ActionType.LINK),
                          Button(id="hello", label="hi", data="hello")]])
    sim, taps = sim_with("group", "G1", OutgoingMessage(markdown=Markdown("x"),
                                                        keyboard=keyboard))
    result = run_command(sim, line, 1.0)
    assert not result.ok and error in result.text and taps == []


def test_the_help_lists_the_tap_command() -> None:
    assert "tap MESSAGE BUTTON [as USER]" in COMMAND_HELP
