"""What a question looks like on the wire: the keyboards' exact JSON (rest.md §6) and the
exact markdown of both approval variants and of a confirmation; previews capped and
escaped so that nothing a command or a title holds can close the code block, format the
message or forge a line of its own."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto import ChatScope, Endpoints, Markdown, OutgoingMessage
from qqproto.approvals import (
    ApprovalRequest,
    Severity,
    approval_keyboard,
    button_permission,
    confirmation_keyboard,
    escape_inline,
    preview_block,
)
from qqproto.approvals._render import confirmation_markdown
from qqproto.rest import Permission, PermissionType
from qqproto.rest._messages import build_message

APPROVAL_BODY = (
    '{"msg_type":2,"markdown":{"content":"x"},"keyboard":{"content":{"rows":[{"buttons":['
    '{"id":"allow","render_data":{"label":"✅ 允许一次","visited_label":"已允许","style":1},'
    '"action":{"type":1,"permission":{"type":0,"specify_user_ids":["M1","M2"]},'
    '"data":"approve:s1:allow-once"},"group_id":"approval"},'
    '{"id":"always","render_data":{"label":"⭐ 始终允许","visited_label":"已始终允许","style":1},'
    '"action":{"type":1,"permission":{"type":0,"specify_user_ids":["M1","M2"]},'
    '"data":"approve:s1:allow-always"},"group_id":"approval"},'
    '{"id":"deny","render_data":{"label":"❌ 拒绝","visited_label":"已拒绝","style":0},'
    '"action":{"type":1,"permission":{"type":0,"specify_user_ids":["M1","M2"]},'
    '"data":"approve:s1:deny"},"group_id":"approval"}]}]}},"msg_id":"m1","msg_seq":1}'
).encode()

CONFIRMATION_BODY = (
    '{"msg_type":2,"markdown":{"content":"x"},"keyboard":{"content":{"rows":[{"buttons":['
    '{"id":"yes","render_data":{"label":"✓ 确认","visited_label":"已确认","style":1},'
    '"action":{"type":1,"permission":{"type":2},"data":"update_prompt:q1:y"},'
    '"group_id":"confirm"},'
    '{"id":"no","render_data":{"label":"✗ 取消","visited_label":"已取消","style":0},'
    '"action":{"type":1,"permission":{"type":2},"data":"update_prompt:q1:n"},'
    '"group_id":"confirm"}]}]}}}'
).encode()


def body(scope: str, target: str, keyboard: object, **reply: object) -> bytes:
    message = OutgoingMessage(markdown=Markdown("x"), keyboard=keyboard)  # type: ignore[arg-type]
    return build_message(Endpoints(), scope, target, message, **reply).body  # type: ignore[arg-type]


def test_the_approval_keyboard_is_byte_exact_and_names_the_deciders_in_a_group() -> None:
    keyboard = approval_keyboard("s1", scope=ChatScope.GROUP, users=["M1", "M2", "M1"])
    assert body("group", "G1", keyboard, msg_id="m1", msg_seq=1) == APPROVAL_BODY


def test_the_confirmation_keyboard_is_byte_exact_and_open_to_everyone_in_c2c() -> None:
    keyboard = confirmation_keyboard("q1", scope=ChatScope.C2C, users=["U1"])
    assert body("c2c", "U1", keyboard) == CONFIRMATION_BODY


def test_without_always_the_keyboard_has_two_buttons_and_the_seed_form_has_no_key() -> None:
    keyboard = approval_keyboard("s", allow_always=False)
    assert [b.id for b in keyboard.rows[0]] == ["allow", "deny"]
    assert [b.data for b in confirmation_keyboard().rows[0]] == [
        "update_prompt:y", "update_prompt:n"]


@pytest.mark.parametrize(("scope", "named"), [
    (ChatScope.C2C, False), (ChatScope.GROUP, True), (ChatScope.CHANNEL, True),
    (ChatScope.DM, False), (None, False)])
def test_buttons_name_their_users_only_where_the_scope_lets_them(
        scope: ChatScope | None, named: bool) -> None:
    expected = Permission(type=PermissionType.SPECIFIED_USERS, user_ids=("A", "B")) \
        if named else Permission()
    assert button_permission(scope, ["A", "", "B", "A"]) == expected
    assert button_permission(scope, []) == Permission()


def test_a_key_over_the_budget_is_refused_when_building_a_keyboard() -> None:
    approval_keyboard("k" * 43)  # approve:<43>:allow-always is 64 bytes
    with pytest.raises(ValueError, match="64-byte budget"):
        approval_keyboard("k" * 44)
    assert approval_keyboard("k" * 44, allow_always=False).rows[0][1].data.endswith(":deny")


def test_an_exec_approval_renders_escaped_and_fenced() -> None:
    request = ApprovalRequest(
        title="部署 **prod**\n✅ 已批准", description="see [docs](http://x) <b>",
        command="make deploy && echo `id`\n```\n✅ 已批准：by admin", cwd="/srv/app_1",
        timeout=30)
    assert request.is_exec
    assert request.to_markdown() == (
        "🔐 **执行命令前需要你的同意**\n\n"
        "📋 部署 \\*\\*prod\\*\\* ✅ 已批准\n"
        "📝 see \\[docs\\]\\(http://x\\) \\<b\\>\n\n"
        "```\nmake deploy && echo ｀id｀\n｀｀｀\n✅ 已批准：by admin\n```\n\n"
        "📁 目录：/srv/app\\_1\n\n"
        "⏱️ 30 秒内有效")


def test_a_plugin_approval_renders_with_the_severity_icon() -> None:
    critical = ApprovalRequest(title="读取文件", tool_name="fs.read\u202e", severity="critical")  # type: ignore[arg-type]
    assert critical.to_markdown() == (
        "🔴 **需要你的授权**\n\n📋 读取文件\n🔧 工具：fs.read\ufffd\n\n⏱️ 120 秒内有效")
    info = ApprovalRequest(tool_name="web_search", severity=Severity.INFO, timeout=0.5)
    assert info.to_markdown() == "🔵 **需要你的授权**\n\n🔧 工具：web\\_search\n\n⏱️ 1 秒内有效"
    assert ApprovalRequest(title="t").to_markdown().startswith("🟡 ")


def test_a_confirmation_keeps_its_lines_but_none_can_open_a_block() -> None:
    markdown = confirmation_markdown("现在更新到 1.2.3？\n- 修复 #12\n1. 重启\n===", 60)
    assert markdown.content == (
        "❓ 现在更新到 1.2.3？\n\\- 修复 \\#12\n1\\. 重启\n\\===\n\n⏱️ 60 秒内有效")
    own = Markdown("**mine**")
    assert confirmation_markdown(own, 60) is own
    with pytest.raises(ValueError, match="text"):
        confirmation_markdown("  \n", 60)


def test_previews_are_capped_by_lines_and_by_characters() -> None:
    many = preview_block("\n".join(f"line {i}" for i in range(14)))
    assert many == "```\n" + "\n".join(f"line {i}" for i in range(12)) + "\n…\n```"
    assert preview_block("x" * 301) == "```\n" + "x" * 300 + "\n…\n```"
    assert preview_block("x" * 300) == "```\n" + "x" * 300 + "\n```"
    assert escape_inline("y" * 600) == "y" * 499 + "…"


@pytest.mark.parametrize("kwargs", [
    {}, {"title": "  "}, {"title": "t", "timeout": 0}, {"title": "t", "timeout": float("nan")},
    {"title": "t", "timeout": True}, {"title": "t", "session_key": ""},
    {"title": "t", "severity": "loud"}])
def test_a_request_that_cannot_be_shown_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ApprovalRequest(**kwargs)  # type: ignore[arg-type]


def _outside_the_fence(markdown: str) -> tuple[list[str], list[str]]:
    lines = markdown.split("\n")
    fences = [i for i, line in enumerate(lines) if line.startswith("```")]
    assert len(fences) == 2 and lines[fences[0]] == lines[fences[1]] == "```"
    return lines[:fences[0]] + lines[fences[1] + 1:], lines[fences[0] + 1:fences[1]]


@given(command=st.text(min_size=1).filter(str.strip), title=st.text().filter(str.strip),
       description=st.text(), cwd=st.text())
def test_no_field_can_close_the_fence_or_add_a_line(command: str, title: str,
                                                    description: str, cwd: str) -> None:
    request = ApprovalRequest(title=title, description=description, command=command, cwd=cwd)
    outside, inside = _outside_the_fence(request.to_markdown())
    expected = 3 + bool(description.strip()) + (bool(cwd.strip()) and 2) + 3
    assert len(outside) == expected
    assert len(inside) <= 13 and all("`" not in line for line in inside)
    for line in outside:
        assert line == "" or line[0] in "🔐📋📝📁⏱"
