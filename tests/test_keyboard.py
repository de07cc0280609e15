"""Keyboard builders: exact JSON and the documented limits (rest.md §6)."""

from __future__ import annotations

import pytest

from qqproto import _jsoncodec
from qqproto.rest._keyboard import (
    ActionType,
    Button,
    ButtonStyle,
    Keyboard,
    KeyboardTemplate,
    Modal,
    Permission,
    PermissionType,
)


def _button(n: int = 1, **kw: object) -> Button:
    return Button(id=f"b{n}", label=f"L{n}", data=f"d{n}", **kw)  # type: ignore[arg-type]


def test_callback_button_serialises_exactly() -> None:
    assert _jsoncodec.dumps(_button().to_dict()) == (
        b'{"id":"b1","render_data":{"label":"L1","visited_label":"L1","style":1},'
        b'"action":{"type":1,"permission":{"type":2},"data":"d1"}}')


def test_every_optional_field_is_sent_when_given() -> None:
    button = Button(id="go", label="Go", visited_label="Gone", data="/go",
                    action=ActionType.COMMAND, style=ButtonStyle.GREY_OUTLINE,
                    permission=Permission(type=PermissionType.SPECIFIED_USERS,
                                          user_ids=("u1",)),
                    enter=True, reply=True, anchor=1, unsupport_tips="upgrade",
                    group_id="default", modal=Modal(content="sure?"))
    assert button.to_dict() == {
        "id": "go",
        "render_data": {"label": "Go", "visited_label": "Gone", "style": 0},
        "action": {"type": 2, "permission": {"type": 0, "specify_user_ids": ["u1"]},
                   "data": "/go", "enter": True, "reply": True, "anchor": 1,
                   "unsupport_tips": "upgrade",
                   "modal": {"content": "sure?", "confirm_text": "确认",
                             "cancel_text": "取消"}},
        "group_id": "default",
    }


def test_role_permission() -> None:
    assert Permission(type=PermissionType.SPECIFIED_ROLES, role_ids=("r",)).to_dict() == {
        "type": 3, "specify_role_ids": ["r"]}


def test_keyboard_content_shape() -> None:
    kb = Keyboard([[_button(1), _button(2)], [_button(3)]])
    out = kb.to_dict()
    assert list(out) == ["content"]
    rows = out["content"]["rows"]
    assert [[b["id"] for b in row["buttons"]] for row in rows] == [["b1", "b2"], ["b3"]]
    assert kb.rows[1] == (_button(3),)


def test_template_keyboard() -> None:
    assert KeyboardTemplate("123_abc").to_dict() == {"id": "123_abc"}
    with pytest.raises(ValueError, match="template id"):
        KeyboardTemplate("")


def test_five_rows_of_five_buttons_is_the_maximum() -> None:
    rows = [[_button(r * 10 + c) for c in range(5)] for r in range(5)]
    assert len(Keyboard(rows).rows) == 5
    with pytest.raises(ValueError, match="at most 5 rows, got 6"):
        Keyboard([*rows, [_button(99)]])
    with pytest.raises(ValueError, match="row 1 has 6 buttons"):
        Keyboard([[_button(c) for c in range(6)]])


def test_label_of_ten_characters_is_allowed_eleven_is_not() -> None:
    Button(id="a", label="一二三四五六七八九十", data="x")
    with pytest.raises(ValueError, match="longer than 10"):
        Button(id="a", label="12345678901", data="x")
    with pytest.raises(ValueError, match="visited_label"):
        Button(id="a", label="ok", visited_label="12345678901", data="x")


@pytest.mark.parametrize("kwargs", [
    {"id": "", "label": "a", "data": "x"},
    {"id": "a", "label": "", "data": "x"},
    {"id": "a", "label": "a", "data": ""},
    {"id": "a", "label": "a", "data": "x", "enter": True},
    {"id": "a", "label": "a", "data": "x", "anchor": 1, "action": ActionType.LINK},
    {"id": "a", "label": "a", "data": "x", "style": 9},
    {"id": "a", "label": "a", "data": "x", "action": 7},
])
def test_bad_buttons_are_value_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Button(**kwargs)  # type: ignore[arg-type]


def test_duplicate_button_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="used twice"):
        Keyboard([[_button(1)], [_button(1)]])


def test_empty_keyboard_and_empty_row_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        Keyboard([])
    with pytest.raises(ValueError, match="row 2 has no buttons"):
        Keyboard([[_button(1)], []])


def test_a_row_must_hold_buttons() -> None:
    with pytest.raises(ValueError, match="not a Button"):
        Keyboard([["b1"]])  # type: ignore[list-item]


def test_permission_lists_are_required_for_specified_types() -> None:
    with pytest.raises(ValueError, match="user_ids"):
        Permission(type=PermissionType.SPECIFIED_USERS)
    with pytest.raises(ValueError, match="role_ids"):
        Permission(type=PermissionType.SPECIFIED_ROLES)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"content": "x" * 41}, "longer than 40"),
    ({"content": "see https://x.example"}, "URL"),
    ({"content": "ok", "confirm_text": "12345"}, "confirm_text"),
    ({"content": "ok", "cancel_text": ""}, "cancel_text"),
])
def test_modal_limits(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Modal(**kwargs)


def test_values_are_frozen_and_comparable() -> None:
    kb = Keyboard([[_button(1)]])
    assert kb == Keyboard(([_button(1)],))
    with pytest.raises(AttributeError):
        kb.rows = ()  # type: ignore[misc]


def test_the_approval_keyboard_convention_can_be_expressed() -> None:
    # rest.md §6.4: one row, three callback buttons sharing group_id "approval".
    key = "agent:main:qqbot:c2c:OPENID"
    row = [
        Button(id="allow", label="✅ 允许一次", visited_label="已允许",
               data=f"approve:{key}:allow-once", group_id="approval"),
        Button(id="always", label="⭐ 始终允许", visited_label="已始终允许",
               data=f"approve:{key}:allow-always", group_id="approval"),
        Button(id="deny", label="❌ 拒绝", visited_label="已拒绝",
               data=f"approve:{key}:deny", style=ButtonStyle.GREY_OUTLINE,
               group_id="approval"),
    ]
    content = Keyboard([row]).to_dict()["content"]
    assert _jsoncodec.dumps(content["rows"][0]["buttons"][2]) == (
        '{"id":"deny","render_data":{"label":"❌ 拒绝","visited_label":"已拒绝","style":0},'
        '"action":{"type":1,"permission":{"type":2},'
        '"data":"approve:agent:main:qqbot:c2c:OPENID:deny"},"group_id":"approval"}'
    ).encode()
    assert [b["render_data"]["style"] for b in content["rows"][0]["buttons"]] == [1, 1, 0]


def test_link_and_command_buttons() -> None:
    link = Button(id="doc", label="文档", data="https://q.qq.com", action=ActionType.LINK)
    command = Button(id="help", label="帮助", data="/help", action=ActionType.COMMAND,
                     enter=True)
    assert link.to_dict()["action"] == {"type": 0, "permission": {"type": 2},
                                        "data": "https://q.qq.com"}
    assert command.to_dict()["action"] == {"type": 2, "permission": {"type": 2},
                                           "data": "/help", "enter": True}


def test_admin_only_permission() -> None:
    button = Button(id="x", label="x", data="x", permission=Permission(
        type=PermissionType.ADMINS))
    assert button.to_dict()["action"]["permission"] == {"type": 1}
