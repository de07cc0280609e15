"""Non-message events, interactions, and the dispatch table (gateway.md §6.1, §6.5;
rest.md §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from qqproto.errors import ModelError
from qqproto.events import BotUser, Dispatch, Ready, Resumed
from qqproto.gateway._intents import EVENT_INTENTS
from qqproto.models import ChatScope
from qqproto.models import __all__ as models_all
from qqproto.models._base import MalformedEvent, UnknownEvent
from qqproto.models._guild import (
    AudioEvent,
    AudioLiveMemberEvent,
    ChannelEvent,
    ForumEvent,
    GuildEvent,
    GuildMemberEvent,
    OpenForumEvent,
    ReactionEvent,
)
from qqproto.models._interaction import InteractionCreate
from qqproto.models._lifecycle import (
    C2CMsgReceive,
    C2CMsgReject,
    EnterAio,
    FriendAdd,
    FriendDel,
    GroupAddRobot,
    GroupDelRobot,
    GroupMemberAdd,
    GroupMemberRemove,
    GroupMsgReceive,
    GroupMsgReject,
    MessageAuditPass,
    MessageAuditReject,
    SubscribeMessageStatus,
    SubscriptionResult,
)
from qqproto.models._parse import EVENT_CLASSES, parse_event, parse_event_strict

CST = timezone(timedelta(hours=8))
T0 = datetime(2023, 11, 6, 3, 12, 45, tzinfo=UTC)  # 1699240365


def frame(t: str, d: Any, *, seq: int | None = 30, fid: str | None = "auto") -> Dispatch:
    return Dispatch(type=t, seq=seq, id=f"{t}:9be1" if fid == "auto" else fid, data=d)


def head(t: str, d: Any) -> dict[str, Any]:
    return {"type": t, "event_id": f"{t}:9be1", "seq": 30, "raw": d}


# --- C2C relationship events -------------------------------------------------------------

FRIEND = {"openid": "E4F4AEA33253A2797FB897C50B81D7ED", "timestamp": 1699240365}


@pytest.mark.parametrize(("t", "cls"), [
    ("FRIEND_DEL", FriendDel), ("C2C_MSG_REJECT", C2CMsgReject),
    ("C2C_MSG_RECEIVE", C2CMsgReceive),
])
def test_c2c_relationship_events_carry_openid_and_unix_seconds(t: str, cls: type) -> None:
    event = parse_event(frame(t, FRIEND))
    assert event == cls(**head(t, FRIEND), openid="E4F4AEA33253A2797FB897C50B81D7ED",
                        timestamp=1699240365, time=T0)
    assert event.chat_id == "E4F4AEA33253A2797FB897C50B81D7ED"  # type: ignore[union-attr]


def test_friend_add_keeps_scene_and_scene_param() -> None:
    d = {**FRIEND, "scene": 1, "scene_param": "qrcode"}
    assert parse_event(frame("FRIEND_ADD", d)) == FriendAdd(
        **head("FRIEND_ADD", d), openid=FRIEND["openid"], timestamp=1699240365, time=T0,
        scene=1, scene_param="qrcode")


def test_friend_event_without_openid_is_malformed() -> None:
    event = parse_event(frame("FRIEND_ADD", {"timestamp": 1699240365}))
    assert isinstance(event, MalformedEvent) and event.error == "d.openid: missing"


# --- group relationship events -----------------------------------------------------------

GROUP = {"group_openid": "C9F778FE6ADF9D1D1DBE395BF744A33A",
         "op_member_openid": "E4F4AEA33253A2797FB897C50B81D7ED", "timestamp": 1699240365}


@pytest.mark.parametrize(("t", "cls"), [
    ("GROUP_ADD_ROBOT", GroupAddRobot), ("GROUP_DEL_ROBOT", GroupDelRobot),
    ("GROUP_MSG_REJECT", GroupMsgReject), ("GROUP_MSG_RECEIVE", GroupMsgReceive),
])
def test_group_relationship_events_carry_group_and_operator(t: str, cls: type) -> None:
    event = parse_event(frame(t, GROUP))
    assert event == cls(**head(t, GROUP), group_openid=GROUP["group_openid"],
                        op_member_openid=GROUP["op_member_openid"], timestamp=1699240365,
                        time=T0)
    assert event.chat_id == GROUP["group_openid"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("stamp", "time"), [
    ("1699240365", T0),  # OC types it as a string (gateway.md §11 item 13)
    (1699240365.0, T0),
    ("2023-11-06T11:12:45+08:00", datetime(2023, 11, 6, 11, 12, 45, tzinfo=CST)),
    ("garbled", None),
])
def test_group_add_robot_accepts_every_timestamp_form(stamp: object, time: object) -> None:
    event = parse_event(frame("GROUP_ADD_ROBOT", {**GROUP, "timestamp": stamp}))
    assert isinstance(event, GroupAddRobot)
    assert (event.timestamp, event.time) == (stamp, time)


def test_group_event_with_a_list_timestamp_is_malformed() -> None:
    event = parse_event(frame("GROUP_DEL_ROBOT", {**GROUP, "timestamp": [1]}))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.timestamp: expected a timestamp, got array"


def test_group_event_without_a_group_is_malformed() -> None:
    event = parse_event(frame("GROUP_ADD_ROBOT", {"op_member_openid": "x"}))
    assert isinstance(event, MalformedEvent) and event.error == "d.group_openid: missing"


@pytest.mark.parametrize(("t", "cls"), [
    ("GROUP_MEMBER_ADD", GroupMemberAdd), ("GROUP_MEMBER_REMOVE", GroupMemberRemove),
])
def test_group_member_events(t: str, cls: type) -> None:
    d = {"group_openid": "G1", "member_openid": "M1", "timestamp": 1699240365,
         "op_member_openid": "M0"}
    assert parse_event(frame(t, d)) == cls(
        **head(t, d), group_openid="G1", member_openid="M1", op_member_openid="M0",
        timestamp=1699240365, time=T0)
    event = parse_event(frame(t, {"group_openid": "G1"}))
    assert isinstance(event, MalformedEvent) and event.error == "d.member_openid: missing"


# --- audit -------------------------------------------------------------------------------


def test_audit_pass_and_reject() -> None:
    d = {"audit_id": "a-77", "message_id": "m-1", "guild_id": "18700000000001",
         "channel_id": "100010", "audit_time": "2024-05-01T20:15:03+08:00",
         "create_time": "2024-05-01T20:15:00+08:00", "seq_in_channel": 58}
    assert parse_event(frame("MESSAGE_AUDIT_PASS", d)) == MessageAuditPass(
        **head("MESSAGE_AUDIT_PASS", d), audit_id="a-77", message_id="m-1",
        guild_id="18700000000001", channel_id="100010", seq_in_channel="58",
        audit_time="2024-05-01T20:15:03+08:00",
        audited_at=datetime(2024, 5, 1, 20, 15, 3, tzinfo=CST),
        create_time="2024-05-01T20:15:00+08:00",
        created_at=datetime(2024, 5, 1, 20, 15, tzinfo=CST))
    r = {"audit_id": "a-78", "group_openid": "G1", "user_openid": "U1"}
    assert parse_event(frame("MESSAGE_AUDIT_REJECT", r)) == MessageAuditReject(
        **head("MESSAGE_AUDIT_REJECT", r), audit_id="a-78", group_openid="G1",
        user_openid="U1")
    event = parse_event(frame("MESSAGE_AUDIT_REJECT", {"message_id": "m"}))
    assert isinstance(event, MalformedEvent) and event.error == "d.audit_id: missing"


# --- single-source events ----------------------------------------------------------------


def test_subscribe_message_status_lists_template_results() -> None:
    d = {"openid": "U1", "result": [
        {"template_id": 1, "custom_template_id": "c-1", "op": 1, "subscribe_id": "s-1",
         "update_ts": 1699240365},
        {"template_id": "2", "op": "2"},
    ]}
    assert parse_event(frame("SUBSCRIBE_MESSAGE_STATUS", d)) == SubscribeMessageStatus(
        **head("SUBSCRIBE_MESSAGE_STATUS", d), openid="U1", results=(
            SubscriptionResult(template_id="1", custom_template_id="c-1", op=1,
                               subscribe_id="s-1", update_ts=1699240365),
            SubscriptionResult(template_id="2", op=2),
        ))
    event = parse_event(frame("SUBSCRIBE_MESSAGE_STATUS", {"result": [1]}))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.result[0]: expected an object, got number"


def test_enter_aio_is_typed_with_every_field_optional() -> None:
    d = {"user_openid": "U1", "from_source": "profile", "timestamp": 1699240365}
    assert parse_event(frame("ENTER_AIO", d)) == EnterAio(
        **head("ENTER_AIO", d), user_openid="U1", from_source="profile",
        timestamp=1699240365, time=T0)
    assert parse_event(frame("ENTER_AIO", {"openid": "U2"})) == EnterAio(
        **head("ENTER_AIO", {"openid": "U2"}), user_openid="U2")
    assert parse_event(frame("ENTER_AIO", {})) == EnterAio(**head("ENTER_AIO", {}))


# --- guild families ----------------------------------------------------------------------


@pytest.mark.parametrize("t", ["GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"])
def test_guild_events(t: str) -> None:
    d = {"id": "18700000000001", "name": "Cats", "icon": "https://x/i.png",
         "owner_id": "1444000", "owner": False, "member_count": 42, "max_members": 500,
         "description": "we like cats", "joined_at": "2024-01-01T00:00:00+08:00",
         "op_user_id": "1444000"}
    assert parse_event(frame(t, d)) == GuildEvent(
        **head(t, d), guild_id="18700000000001", name="Cats", owner_id="1444000",
        member_count=42, max_members=500, description="we like cats",
        joined_at="2024-01-01T00:00:00+08:00", op_user_id="1444000", icon="https://x/i.png")


@pytest.mark.parametrize("t", ["CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE"])
def test_channel_events(t: str) -> None:
    d = {"id": "100010", "guild_id": "18700000000001", "name": "general", "type": 0,
         "sub_type": 0, "position": 1, "parent_id": "100001", "owner_id": "0",
         "op_user_id": "1444000"}
    assert parse_event(frame(t, d)) == ChannelEvent(
        **head(t, d), channel_id="100010", guild_id="18700000000001", name="general",
        channel_type=0, sub_type=0, parent_id="100001", owner_id="0", op_user_id="1444000")


@pytest.mark.parametrize("t", ["GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE",
                               "GUILD_MEMBER_REMOVE"])
def test_guild_member_events(t: str) -> None:
    d = {"guild_id": "18700000000001", "joined_at": "2024-02-02T12:00:00+08:00",
         "nick": "Bob", "roles": ["1"], "op_user_id": "1444000",
         "user": {"id": "1666000", "username": "bob", "avatar": "", "bot": False}}
    assert parse_event(frame(t, d)) == GuildMemberEvent(
        **head(t, d), guild_id="18700000000001", user_id="1666000", username="bob",
        is_bot=False, nick="Bob", roles=("1",), joined_at="2024-02-02T12:00:00+08:00",
        op_user_id="1444000", avatar="")


@pytest.mark.parametrize("t", ["MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"])
def test_reaction_events(t: str) -> None:
    d = {"user_id": "1444000", "guild_id": "18700000000001", "channel_id": "100010",
         "target": {"id": "08e092eeb983afef9e0110f9c1", "type": 0},
         "emoji": {"id": "4", "type": 1}}
    assert parse_event(frame(t, d)) == ReactionEvent(
        **head(t, d), user_id="1444000", guild_id="18700000000001", channel_id="100010",
        target_id="08e092eeb983afef9e0110f9c1", target_type=0, emoji_id="4", emoji_type=1)


def test_forum_thread_post_reply_and_audit_events() -> None:
    thread = {"guild_id": "G", "channel_id": "C", "author_id": "A",
              "thread_info": {"thread_id": "T1", "title": "Hi", "content": "{\"paragraphs\":[]}",
                              "date_time": "2024-03-03T10:00:00+08:00"}}
    assert parse_event(frame("FORUM_THREAD_CREATE", thread)) == ForumEvent(
        **head("FORUM_THREAD_CREATE", thread), guild_id="G", channel_id="C", author_id="A",
        thread_id="T1", title="Hi", content="{\"paragraphs\":[]}",
        date_time="2024-03-03T10:00:00+08:00")
    reply = {"guild_id": "G", "channel_id": "C", "author_id": "A",
             "reply_info": {"thread_id": "T1", "post_id": "P1", "reply_id": "R1"}}
    assert parse_event(frame("FORUM_REPLY_CREATE", reply)) == ForumEvent(
        **head("FORUM_REPLY_CREATE", reply), guild_id="G", channel_id="C", author_id="A",
        thread_id="T1", post_id="P1", reply_id="R1")
    audit = {"guild_id": "G", "channel_id": "C", "author_id": "A", "thread_id": "T1",
             "post_id": "P1", "type": 2, "result": 1, "err_msg": "blocked word"}
    assert parse_event(frame("FORUM_PUBLISH_AUDIT_RESULT", audit)) == ForumEvent(
        **head("FORUM_PUBLISH_AUDIT_RESULT", audit), guild_id="G", channel_id="C",
        author_id="A", thread_id="T1", post_id="P1", publish_type=2, result=1,
        err_msg="blocked word")


def test_open_forum_and_audio_events() -> None:
    d = {"guild_id": "G", "channel_id": "C", "author_id": "A"}
    assert parse_event(frame("OPEN_FORUM_POST_CREATE", d)) == OpenForumEvent(
        **head("OPEN_FORUM_POST_CREATE", d), guild_id="G", channel_id="C", author_id="A")
    a = {"guild_id": "G", "channel_id": "C", "audio_url": "https://x/a.mp3", "text": "song"}
    assert parse_event(frame("AUDIO_START", a)) == AudioEvent(
        **head("AUDIO_START", a), guild_id="G", channel_id="C", audio_url="https://x/a.mp3",
        text="song")
    m = {"guild_id": "G", "channel_id": "C", "user_id": "U"}
    assert parse_event(frame("AUDIO_ON_MIC", m)) == AudioEvent(
        **head("AUDIO_ON_MIC", m), guild_id="G", channel_id="C", user_id="U")
    live = {"guild_id": "G", "channel_id": "C", "channel_type": 5, "user_id": "U"}
    assert parse_event(frame("AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER", live)) == (
        AudioLiveMemberEvent(**head("AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER", live),
                             guild_id="G", channel_id="C", channel_type=5, user_id="U"))


def test_guild_family_needs_the_id_of_what_changed() -> None:
    for t, error in (("GUILD_CREATE", "d.id: missing"), ("CHANNEL_DELETE", "d.id: missing"),
                     ("GUILD_MEMBER_ADD", "d.guild_id: missing")):
        event = parse_event(frame(t, {"name": "x"}))
        assert isinstance(event, MalformedEvent) and event.error == error


# --- interactions (rest.md §5) -----------------------------------------------------------

GROUP_TAP = {
    "id": "ba3c1d2e-interaction",
    "type": 11,
    "scene": "group",
    "chat_type": 1,
    "timestamp": "2025-02-03T09:30:00+08:00",
    "group_openid": "G1",
    "group_member_openid": "M1",
    "application_id": 102000001,
    "version": 1,
    "data": {"type": 11, "resolved": {"button_data": "approve:abc:yes", "button_id": "b1"}},
}


def test_group_button_tap_operator_is_the_member_and_chat_the_group() -> None:
    assert parse_event(frame("INTERACTION_CREATE", GROUP_TAP)) == InteractionCreate(
        **head("INTERACTION_CREATE", GROUP_TAP), id="ba3c1d2e-interaction",
        interaction_type=11, scene="group", chat_type=1,
        timestamp="2025-02-03T09:30:00+08:00",
        time=datetime(2025, 2, 3, 9, 30, tzinfo=CST), group_openid="G1",
        group_member_openid="M1", application_id="102000001", version=1, data_type=11,
        button_data="approve:abc:yes", button_id="b1", operator_id="M1", chat_id="G1")


def test_c2c_menu_tap_without_scene_derives_it_from_chat_type() -> None:
    d = {"id": "i-2", "chat_type": 2, "user_openid": "U1", "timestamp": 1699240365,
         "data": {"type": 12, "resolved": {"feature_id": "menu-3"}}}
    assert parse_event(frame("INTERACTION_CREATE", d)) == InteractionCreate(
        **head("INTERACTION_CREATE", d), id="i-2", interaction_type=12, scene="c2c",
        chat_type=2, timestamp=1699240365, time=T0, user_openid="U1", data_type=12,
        feature_id="menu-3", operator_id="U1", chat_id="U1")


def test_guild_tap_operator_comes_from_resolved_user_and_chat_from_channel() -> None:
    d = {"id": "i-3", "type": 11, "chat_type": 0, "guild_id": "18700000000001",
         "channel_id": "100010",
         "data": {"type": 11, "resolved": {"button_data": 7, "button_id": "b2",
                                           "user_id": "1444000", "message_id": "m-9"}}}
    assert parse_event(frame("INTERACTION_CREATE", d)) == InteractionCreate(
        **head("INTERACTION_CREATE", d), id="i-3", interaction_type=11, scene="guild",
        chat_type=0, guild_id="18700000000001", channel_id="100010", data_type=11,
        button_data="7", button_id="b2", resolved_user_id="1444000", message_id="m-9",
        operator_id="1444000", chat_id="100010")


@pytest.mark.parametrize(("scene", "scope"), [
    ("c2c", ChatScope.C2C), ("group", ChatScope.GROUP), ("guild", ChatScope.CHANNEL),
    ("other", None), (None, None),
])
def test_interaction_scope_maps_the_scene_to_a_reply_scope(
    scene: str | None, scope: ChatScope | None
) -> None:
    event = parse_event(frame("INTERACTION_CREATE", {"id": "i", "scene": scene}))
    assert isinstance(event, InteractionCreate) and event.scope is scope


def test_the_documented_resoloved_typo_is_accepted_as_a_fallback() -> None:
    d = {"id": "i-4", "data": {"resoloved": {"button_id": "typo"}}}
    event = parse_event(frame("INTERACTION_CREATE", d))
    assert isinstance(event, InteractionCreate) and event.button_id == "typo"
    both = {"id": "i-4", "data": {"resolved": {"button_id": "real"},
                                  "resoloved": {"button_id": "typo"}}}
    event = parse_event(frame("INTERACTION_CREATE", both))
    assert isinstance(event, InteractionCreate) and event.button_id == "real"


def test_interaction_type_falls_back_to_data_type_and_scene_field_wins() -> None:
    d = {"id": "i-5", "scene": "c2c", "chat_type": 1, "data": {"type": 2001}}
    event = parse_event(frame("INTERACTION_CREATE", d))
    assert isinstance(event, InteractionCreate)
    assert (event.interaction_type, event.data_type, event.scene) == (2001, 2001, "c2c")


def test_interaction_with_unknown_chat_type_and_no_ids_has_no_operator_or_chat() -> None:
    d = {"id": 77, "chat_type": 9}
    assert parse_event(frame("INTERACTION_CREATE", d)) == InteractionCreate(
        **head("INTERACTION_CREATE", d), id="77", chat_type=9)


def test_operator_precedence_member_then_user_then_resolved() -> None:
    d = {"id": "i", "user_openid": "U", "group_member_openid": "M",
         "data": {"resolved": {"user_id": "R"}}}
    for drop, expected in (((), "M"), (("group_member_openid",), "U"),
                           (("group_member_openid", "user_openid"), "R")):
        payload = {k: v for k, v in d.items() if k not in drop}
        event = parse_event(frame("INTERACTION_CREATE", payload))
        assert isinstance(event, InteractionCreate) and event.operator_id == expected


def test_chat_precedence_group_then_user_then_channel() -> None:
    d = {"id": "i", "group_openid": "G", "user_openid": "U", "channel_id": "C"}
    for drop, expected in (((), "G"), (("group_openid",), "U"),
                           (("group_openid", "user_openid"), "C")):
        payload = {k: v for k, v in d.items() if k not in drop}
        event = parse_event(frame("INTERACTION_CREATE", payload))
        assert isinstance(event, InteractionCreate) and event.chat_id == expected


@pytest.mark.parametrize(("d", "error"), [
    ({"type": 11}, "d.id: missing"),
    ({"id": "i", "data": []}, "d.data: expected an object, got array"),
    ({"id": "i", "data": {"resolved": "x"}}, "d.data.resolved: expected an object, got string"),
    ({"id": "i", "data": {"resoloved": 1}}, "d.data.resoloved: expected an object, got number"),
    ({"id": "i", "chat_type": "group"}, "d.chat_type: expected an integer, got string"),
])
def test_malformed_interactions_say_what_is_wrong(d: dict[str, Any], error: str) -> None:
    event = parse_event(frame("INTERACTION_CREATE", d))
    assert isinstance(event, MalformedEvent) and event.error == error


# --- READY / RESUMED ---------------------------------------------------------------------


def test_ready_and_resumed_values_pass_through_unchanged() -> None:
    ready = Ready(type="READY", seq=1, id=None, data={}, session_id="s",
                  user=BotUser(id="b"))
    resumed = Resumed(type="RESUMED", seq=9, id=None, data="")
    assert parse_event(ready) is ready
    assert parse_event(resumed) is resumed


def test_plain_ready_dispatch_becomes_a_ready_value() -> None:
    d = {"version": 1, "session_id": "082ee18c-0be3", "shard": [0, 1],
         "user": {"id": "11586990140073229091", "username": "demo-bot", "bot": True}}
    assert parse_event(frame("READY", d, seq=1, fid=None)) == Ready(
        type="READY", seq=1, id=None, data=d, session_id="082ee18c-0be3",
        user=BotUser(id="11586990140073229091", username="demo-bot", bot=True),
        shard=(0, 1), version=1)
    minimal = {"session_id": "s", "user": {"id": 5}}
    assert parse_event(frame("READY", minimal, fid=None)) == Ready(
        type="READY", seq=30, id=None, data=minimal, session_id="s", user=BotUser(id="5"))


@pytest.mark.parametrize(("d", "error"), [
    ({"user": {"id": "b"}}, "d.session_id: missing"),
    ({"session_id": "s"}, "d.user: missing"),
    ({"session_id": "s", "user": {"id": "b"}, "shard": [0]},
     "d.shard: expected [shard_id, num_shards]"),
    ({"session_id": "s", "user": {"id": "b"}, "shard": [0, True]},
     "d.shard: expected [shard_id, num_shards]"),
])
def test_malformed_plain_ready(d: dict[str, Any], error: str) -> None:
    event = parse_event(frame("READY", d))
    assert isinstance(event, MalformedEvent) and event.error == error


def test_plain_resumed_dispatch_becomes_a_resumed_value() -> None:
    assert parse_event(frame("RESUMED", "", fid=None)) == Resumed(
        type="RESUMED", seq=30, id=None, data="")


# --- unknown, malformed, strict ----------------------------------------------------------


def test_unknown_types_keep_the_whole_dispatch() -> None:
    dispatch = frame("GROUP_RENAMED", {"group_openid": "G"})
    assert parse_event(dispatch) == UnknownEvent(
        type="GROUP_RENAMED", event_id="GROUP_RENAMED:9be1", seq=30,
        raw={"group_openid": "G"}, dispatch=dispatch)


def test_asdk_guild_message_names_are_not_wire_names() -> None:
    # gateway.md §6.1: GUILD_AT_MESSAGE_CREATE does not exist on the wire.
    assert isinstance(parse_event(frame("GUILD_AT_MESSAGE_CREATE", {})), UnknownEvent)


def test_malformed_event_keeps_everything() -> None:
    dispatch = frame("FRIEND_DEL", {"openid": ["x"]})
    assert parse_event(dispatch) == MalformedEvent(
        type="FRIEND_DEL", event_id="FRIEND_DEL:9be1", seq=30, raw={"openid": ["x"]},
        error="d.openid: expected a string id, got array", dispatch=dispatch)


def test_strict_parsing_raises_model_error_with_the_same_text() -> None:
    dispatch = frame("FRIEND_DEL", {"openid": ["x"]})
    with pytest.raises(ModelError) as info:
        parse_event_strict(dispatch)
    assert str(info.value) == (
        "malformed FRIEND_DEL payload: d.openid: expected a string id, got array")
    assert info.value.event_type == "FRIEND_DEL"
    assert info.value.dispatch is dispatch
    assert isinstance(info.value, ValueError)


def test_strict_parsing_returns_good_and_unknown_events() -> None:
    assert parse_event_strict(frame("FRIEND_DEL", FRIEND)) == parse_event(
        frame("FRIEND_DEL", FRIEND))
    assert isinstance(parse_event_strict(frame("NEW_THING", [1])), UnknownEvent)


def test_a_parser_bug_becomes_a_malformed_event_not_an_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qqproto.models import _parse

    def broken(dispatch: Dispatch) -> Any:
        raise KeyError("boom")

    monkeypatch.setitem(_parse._TABLE, "FRIEND_DEL", (broken, FriendDel))
    event = parse_event(frame("FRIEND_DEL", FRIEND))
    assert isinstance(event, MalformedEvent)
    assert event.error == "internal parser error (KeyError); please report this payload"
    with pytest.raises(ModelError):
        parse_event_strict(frame("FRIEND_DEL", FRIEND))


def test_a_non_string_type_is_unknown() -> None:
    dispatch = Dispatch(type=["X"], seq=None, id=None, data={})  # type: ignore[arg-type]
    assert isinstance(parse_event(dispatch), UnknownEvent)


# --- the table ---------------------------------------------------------------------------


def test_every_dispatch_type_with_an_intent_has_a_class() -> None:
    # gateway.md §6.1 (as encoded in the intents table) plus READY/RESUMED.
    assert set(EVENT_CLASSES) == set(EVENT_INTENTS) | {"READY", "RESUMED"}


def test_every_class_in_the_table_is_exported() -> None:
    exported = set(models_all)
    assert {cls.__name__ for cls in EVENT_CLASSES.values()} - {"Ready", "Resumed"} <= exported
