"""Message events and their normalised InboundMessage (gateway.md §6.2–§6.5)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from qqproto.events import Dispatch
from qqproto.models._base import MalformedEvent
from qqproto.models._common import Attachment
from qqproto.models._messages import (
    Author,
    C2CMessageCreate,
    ChannelAtMessageCreate,
    ChannelMessageCreate,
    ChatScope,
    DirectMessageCreate,
    GroupAtMessageCreate,
    GroupMessageCreate,
    GuildMember,
    InboundMessage,
    Mention,
    MessageDelete,
    MessageElement,
    MessageScene,
    QuotedMessage,
    ReferenceIndex,
)
from qqproto.models._parse import inbound_message, parse_event

CST = timezone(timedelta(hours=8))


def frame(t: str, d: Any, *, seq: int | None = 12, fid: str | None = "auto") -> Dispatch:
    return Dispatch(type=t, seq=seq, id=f"{t}:5f0c2a" if fid == "auto" else fid, data=d)


# --- C2C ---------------------------------------------------------------------------------

C2C = {
    "id": "ROBOT1.0_c2c.Xy1",
    "content": "hello bot",
    "timestamp": "2024-09-04T17:32:21+08:00",
    "author": {"id": "E4F4AEA3", "user_openid": "E4F4AEA3", "union_openid": "U9"},
    "attachments": [{"content_type": "image/jpeg", "filename": "cat.jpg",
                     "url": "//multimedia.nt.qq.com.cn/download?fileid=c1",
                     "size": 48213, "width": 800, "height": 600}],
    "message_scene": {"source": "default", "ext": ["msg_idx=REFIDX_c1"]},
}


def test_c2c_message_becomes_a_typed_event_with_a_c2c_view() -> None:
    event = parse_event(frame("C2C_MESSAGE_CREATE", C2C))
    author = Author(id="E4F4AEA3", user_openid="E4F4AEA3", union_openid="U9")
    assert event == C2CMessageCreate(
        type="C2C_MESSAGE_CREATE",
        event_id="C2C_MESSAGE_CREATE:5f0c2a",
        seq=12,
        raw=C2C,
        message=InboundMessage(
            event_type="C2C_MESSAGE_CREATE",
            scope=ChatScope.C2C,
            chat_id="E4F4AEA3",
            msg_id="ROBOT1.0_c2c.Xy1",
            event_id="C2C_MESSAGE_CREATE:5f0c2a",
            author_id="E4F4AEA3",
            author=author,
            content="hello bot",
            attachments=(Attachment(
                content_type="image/jpeg", filename="cat.jpg",
                url="https://multimedia.nt.qq.com.cn/download?fileid=c1",
                size=48213, width=800, height=600),),
            timestamp="2024-09-04T17:32:21+08:00",
            time=datetime(2024, 9, 4, 17, 32, 21, tzinfo=CST),
            reference_index=ReferenceIndex(msg_idx="REFIDX_c1"),
            scene=MessageScene(source="default", ext=("msg_idx=REFIDX_c1",),
                               msg_idx="REFIDX_c1"),
        ),
    )
    assert isinstance(event, C2CMessageCreate) and event.raw is C2C


def test_c2c_content_is_not_trimmed() -> None:
    d = {**C2C, "content": "  indented"}
    message = inbound_message(frame("C2C_MESSAGE_CREATE", d))
    assert message is not None and message.content == "  indented"


def test_c2c_reply_target_falls_back_to_author_id() -> None:
    d = {**C2C, "author": {"id": 700123}}
    message = inbound_message(frame("C2C_MESSAGE_CREATE", d))
    assert message is not None
    assert (message.chat_id, message.author_id) == ("700123", "700123")
    assert message.author == Author(id="700123")


def test_c2c_without_any_author_id_is_malformed() -> None:
    d = {**C2C, "author": {"union_openid": "U9"}}
    event = parse_event(frame("C2C_MESSAGE_CREATE", d))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.author: no user_openid or id (the reply target)"


def test_c2c_voice_message_carries_wav_url_and_asr_text() -> None:
    d = {**C2C, "content": "", "attachments": [{
        "content_type": "voice", "url": "multimedia.nt.qq.com.cn/v?f=1", "size": 3000,
        "voice_wav_url": "//multimedia.nt.qq.com.cn/w?f=1", "asr_refer_text": "打开灯"}]}
    message = inbound_message(frame("C2C_MESSAGE_CREATE", d))
    assert message is not None
    assert message.attachments == (Attachment(
        content_type="voice", url="https://multimedia.nt.qq.com.cn/v?f=1", size=3000,
        voice_wav_url="https://multimedia.nt.qq.com.cn/w?f=1", asr_refer_text="打开灯"),)


# --- groups ------------------------------------------------------------------------------

GROUP_AT = {
    "id": "ROBOT1.0_g1",
    "content": " status please",
    "timestamp": "2025-01-02T10:00:00+08:00",
    "group_id": "9A0C11",
    "group_openid": "9A0C11",
    "author": {"id": "0BA1", "member_openid": "0BA1", "union_openid": "0BA1U"},
    "message_type": 103,
    "msg_elements": [{"msg_idx": "REFIDX_x", "content": "earlier text", "message_type": 0,
                      "author": {"bot": True, "username": "demo-bot"},
                      "attachments": [{"content_type": "file", "filename": "r.pdf",
                                       "url": "gchat.qpic.cn/r.pdf"}]}],
    "message_scene": {"source": "default", "ext": ["ref_msg_idx=REFIDX_x", "msg_idx=REFIDX_y"]},
}


def test_group_at_message_trims_the_space_left_by_the_removed_mention() -> None:
    event = parse_event(frame("GROUP_AT_MESSAGE_CREATE", GROUP_AT, seq=99))
    quoted = QuotedMessage(
        msg_idx="REFIDX_x", content="earlier text", message_type=0, author_name="demo-bot",
        author_is_bot=True,
        attachments=(Attachment(content_type="file", filename="r.pdf",
                                url="https://gchat.qpic.cn/r.pdf"),))
    assert event == GroupAtMessageCreate(
        type="GROUP_AT_MESSAGE_CREATE",
        event_id="GROUP_AT_MESSAGE_CREATE:5f0c2a",
        seq=99,
        raw=GROUP_AT,
        group_openid="9A0C11",
        message=InboundMessage(
            event_type="GROUP_AT_MESSAGE_CREATE",
            scope=ChatScope.GROUP,
            chat_id="9A0C11",
            msg_id="ROBOT1.0_g1",
            event_id="GROUP_AT_MESSAGE_CREATE:5f0c2a",
            author_id="0BA1",
            author=Author(id="0BA1", member_openid="0BA1", union_openid="0BA1U"),
            content="status please",
            quoted=quoted,
            timestamp="2025-01-02T10:00:00+08:00",
            time=datetime(2025, 1, 2, 10, 0, tzinfo=CST),
            message_type=103,
            reference_index=ReferenceIndex(msg_idx="REFIDX_y", ref_msg_idx="REFIDX_x"),
            elements=(MessageElement(**{k: getattr(quoted, k)
                                        for k in MessageElement.__dataclass_fields__}),),
            scene=MessageScene(source="default",
                               ext=("ref_msg_idx=REFIDX_x", "msg_idx=REFIDX_y"),
                               msg_idx="REFIDX_y", ref_msg_idx="REFIDX_x"),
        ),
    )


def test_group_at_trim_keeps_trailing_whitespace_and_inner_spaces() -> None:
    d = {**GROUP_AT, "content": " \t/run  a b \n"}
    message = inbound_message(frame("GROUP_AT_MESSAGE_CREATE", d))
    assert message is not None and message.content == "/run  a b \n"


def test_all_group_messages_keep_their_content_and_carry_mentions() -> None:
    d = {
        "id": "ROBOT1.0_g2", "content": " hi all", "timestamp": "2025-01-02T10:01:00+08:00",
        "group_openid": "9A0C11",
        "author": {"id": "0BA2", "member_openid": "0BA2", "bot": False, "username": "ann",
                   "member_role": "admin"},
        "mentions": [
            {"scope": "single", "id": "B07", "member_openid": "B07", "username": "demo-bot",
             "bot": True, "is_you": True},
            {"scope": "all"},
        ],
    }
    event = parse_event(frame("GROUP_MESSAGE_CREATE", d))
    assert isinstance(event, GroupMessageCreate)
    assert event.group_openid == "9A0C11"
    message = event.message
    assert message.content == " hi all"
    assert message.author == Author(id="0BA2", member_openid="0BA2", username="ann",
                                    member_role="admin")
    assert (message.author_name, message.is_bot) == ("ann", False)
    assert message.mentions == (
        Mention(scope="single", id="B07", member_openid="B07", username="demo-bot", bot=True,
                is_you=True),
        Mention(scope="all"),
    )
    assert message.quoted is None and message.reference_index is None


def test_group_id_stands_in_for_a_missing_group_openid() -> None:
    d = {k: v for k, v in GROUP_AT.items() if k != "group_openid"}
    message = inbound_message(frame("GROUP_AT_MESSAGE_CREATE", d))
    assert message is not None and message.chat_id == "9A0C11"


def test_group_message_without_a_group_is_malformed() -> None:
    d = {k: v for k, v in GROUP_AT.items() if k not in ("group_openid", "group_id")}
    event = parse_event(frame("GROUP_AT_MESSAGE_CREATE", d))
    assert isinstance(event, MalformedEvent) and event.error == "d.group_openid: missing"


def test_group_message_without_a_member_id_is_malformed() -> None:
    d = {**GROUP_AT, "author": {"username": "ghost"}}
    event = parse_event(frame("GROUP_MESSAGE_CREATE", d))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.author: no member_openid or id"


# --- quoted messages and reference indices (gateway.md §6.2, rest.md §10.7) --------------


def test_msg_elements_are_ignored_unless_message_type_is_103() -> None:
    d = {**GROUP_AT, "message_type": 0}
    message = inbound_message(frame("GROUP_AT_MESSAGE_CREATE", d))
    assert message is not None
    assert message.quoted is None
    assert message.message_type == 0


def test_quote_marker_without_elements_gives_no_quote() -> None:
    for elements in (None, []):
        d = {**GROUP_AT, "msg_elements": elements, "message_scene": None}
        message = inbound_message(frame("GROUP_AT_MESSAGE_CREATE", d))
        assert message is not None
        assert message.quoted is None and message.reference_index is None


def test_quoted_author_id_prefers_member_then_user_openid_then_id() -> None:
    for author, expected in (
        ({"member_openid": "M", "user_openid": "U", "id": "I"}, "M"),
        ({"user_openid": "U", "id": "I"}, "U"),
        ({"id": 5}, "5"),
        ({}, None),
    ):
        d = {**GROUP_AT, "msg_elements": [{"content": "q", "author": author}]}
        message = inbound_message(frame("GROUP_AT_MESSAGE_CREATE", d))
        assert message is not None and message.quoted is not None
        assert message.quoted.author_id == expected


def test_quoted_element_that_is_not_an_object_is_malformed() -> None:
    d = {**GROUP_AT, "msg_elements": ["REFIDX_x"]}
    event = parse_event(frame("GROUP_AT_MESSAGE_CREATE", d))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.msg_elements[0]: expected an object, got string"


def test_ref_msg_idx_falls_back_to_the_quoted_element_and_msg_idx_to_the_top_level() -> None:
    d = {**GROUP_AT, "message_scene": {"source": "default"}, "msg_idx": "REFIDX_top"}
    message = inbound_message(frame("GROUP_AT_MESSAGE_CREATE", d))
    assert message is not None
    assert message.reference_index == ReferenceIndex(msg_idx="REFIDX_top",
                                                     ref_msg_idx="REFIDX_x")


def test_ext_entries_without_a_value_or_of_unknown_keys_are_skipped() -> None:
    d = {**C2C, "message_scene": {"ext": ["noise", "msg_idx=", " ref_msg_idx = REFIDX_r ",
                                          "other=1"]}}
    message = inbound_message(frame("C2C_MESSAGE_CREATE", d))
    assert message is not None
    assert message.reference_index == ReferenceIndex(ref_msg_idx="REFIDX_r")


def test_ext_entry_that_is_not_a_string_is_malformed() -> None:
    d = {**C2C, "message_scene": {"ext": ["msg_idx=a", 7]}}
    event = parse_event(frame("C2C_MESSAGE_CREATE", d))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.message_scene.ext[1]: expected a string, got number"


# --- guild channel and DM ----------------------------------------------------------------

CHANNEL_AT = {
    "id": "08e092eeb983afef9e0110f9c1",
    "channel_id": "100010",
    "guild_id": "18700000000001",
    "content": "<@!1234567> ping",
    "timestamp": "2024-05-01T20:15:00+08:00",
    "author": {"id": "1444000", "username": "alice", "avatar": "https://thirdqq.qlogo.cn/a",
               "bot": False},
    "member": {"nick": "Alice", "roles": ["4", 11], "joined_at": "2023-01-01T00:00:00+08:00"},
    "mentions": [{"id": "1234567", "username": "demo-bot", "bot": True}],
    "attachments": [{"id": "att1", "url": "gchat.qpic.cn/g.png", "content_type": "image/png"}],
    "seq": 57,
    "seq_in_channel": "57",
    "message_reference": {"message_id": "08e092eeb983afef9e0110f9c0"},
}


def test_channel_at_message_keeps_mention_markup_and_guild_fields() -> None:
    event = parse_event(frame("AT_MESSAGE_CREATE", CHANNEL_AT))
    assert event == ChannelAtMessageCreate(
        type="AT_MESSAGE_CREATE",
        event_id="AT_MESSAGE_CREATE:5f0c2a",
        seq=12,
        raw=CHANNEL_AT,
        guild_id="18700000000001",
        channel_id="100010",
        member=GuildMember(nick="Alice", roles=("4", "11"),
                           joined_at="2023-01-01T00:00:00+08:00"),
        seq_in_channel="57",
        reference_message_id="08e092eeb983afef9e0110f9c0",
        message_seq=57,
        message=InboundMessage(
            event_type="AT_MESSAGE_CREATE",
            scope=ChatScope.CHANNEL,
            chat_id="100010",
            msg_id="08e092eeb983afef9e0110f9c1",
            event_id="AT_MESSAGE_CREATE:5f0c2a",
            author_id="1444000",
            author=Author(id="1444000", username="alice", avatar="https://thirdqq.qlogo.cn/a"),
            content="<@!1234567> ping",
            guild_id="18700000000001",
            channel_id="100010",
            mentions=(Mention(id="1234567", username="demo-bot", bot=True),),
            attachments=(Attachment(id="att1", url="https://gchat.qpic.cn/g.png",
                                    content_type="image/png"),),
            timestamp="2024-05-01T20:15:00+08:00",
            time=datetime(2024, 5, 1, 20, 15, tzinfo=CST),
        ),
    )


def test_channel_message_create_is_its_own_class() -> None:
    d = {**CHANNEL_AT, "content": "plain", "mention_everyone": True,
         "edited_timestamp": "2024-05-01T20:16:00+08:00"}
    event = parse_event(frame("MESSAGE_CREATE", d))
    assert type(event) is ChannelMessageCreate
    assert event.mention_everyone is True
    assert event.edited_timestamp == "2024-05-01T20:16:00+08:00"
    assert event.message.scope is ChatScope.CHANNEL


def test_channel_message_without_member_or_reference() -> None:
    d = {k: v for k, v in CHANNEL_AT.items() if k not in ("member", "message_reference")}
    event = parse_event(frame("AT_MESSAGE_CREATE", d))
    assert isinstance(event, ChannelAtMessageCreate)
    assert event.member is None and event.reference_message_id is None


def test_channel_message_needs_channel_id_and_author_id() -> None:
    no_channel = {k: v for k, v in CHANNEL_AT.items() if k != "channel_id"}
    event = parse_event(frame("AT_MESSAGE_CREATE", no_channel))
    assert isinstance(event, MalformedEvent) and event.error == "d.channel_id: missing"
    no_author_id = {**CHANNEL_AT, "author": {"username": "x"}}
    event = parse_event(frame("AT_MESSAGE_CREATE", no_author_id))
    assert isinstance(event, MalformedEvent) and event.error == "d.author.id: missing"


def test_bad_role_id_names_its_index() -> None:
    d = {**CHANNEL_AT, "member": {"roles": ["1", None]}}
    event = parse_event(frame("AT_MESSAGE_CREATE", d))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.member.roles[1]: expected a string id, got null"


DM = {
    "id": "08d2a3c4",
    "channel_id": "200020",
    "guild_id": "DMGUILD77",
    "src_guild_id": "18700000000001",
    "direct_message": True,
    "content": "private hello",
    "timestamp": "2024-05-01T21:00:00+08:00",
    "author": {"id": "1444000", "username": "alice", "bot": False},
}


def test_direct_message_replies_go_to_the_dm_guild() -> None:
    event = parse_event(frame("DIRECT_MESSAGE_CREATE", DM))
    assert isinstance(event, DirectMessageCreate)
    assert event.src_guild_id == "18700000000001"
    assert event.guild_id == "DMGUILD77" and event.channel_id == "200020"
    assert event.message == InboundMessage(
        event_type="DIRECT_MESSAGE_CREATE",
        scope=ChatScope.DM,
        chat_id="DMGUILD77",
        msg_id="08d2a3c4",
        event_id="DIRECT_MESSAGE_CREATE:5f0c2a",
        author_id="1444000",
        author=Author(id="1444000", username="alice"),
        content="private hello",
        guild_id="DMGUILD77",
        channel_id="200020",
        timestamp="2024-05-01T21:00:00+08:00",
        time=datetime(2024, 5, 1, 21, 0, tzinfo=CST),
    )


def test_direct_message_without_guild_is_malformed() -> None:
    d = {k: v for k, v in DM.items() if k != "guild_id"}
    event = parse_event(frame("DIRECT_MESSAGE_CREATE", d))
    assert isinstance(event, MalformedEvent) and event.error == "d.guild_id: missing"


# --- deletes -----------------------------------------------------------------------------

DELETE = {
    "message": {"id": "08e092eeb983afef9e0110f9c1", "channel_id": "100010",
                "guild_id": "18700000000001",
                "author": {"id": "1444000", "username": "alice", "bot": False}},
    "op_user": {"id": "1555000"},
}


@pytest.mark.parametrize(("t", "scope"), [
    ("MESSAGE_DELETE", ChatScope.CHANNEL),
    ("PUBLIC_MESSAGE_DELETE", ChatScope.CHANNEL),
    ("DIRECT_MESSAGE_DELETE", ChatScope.DM),
])
def test_message_deletes_name_the_message_and_who_recalled_it(t: str, scope: ChatScope) -> None:
    assert parse_event(frame(t, DELETE, seq=None, fid=None)) == MessageDelete(
        type=t, event_id=None, seq=None, raw=DELETE, scope=scope,
        message_id="08e092eeb983afef9e0110f9c1", channel_id="100010",
        guild_id="18700000000001", author_id="1444000", author_name="alice",
        author_is_bot=False, op_user_id="1555000")


def test_delete_with_only_a_message_id() -> None:
    d = {"message": {"id": 42}}
    assert parse_event(frame("MESSAGE_DELETE", d)) == MessageDelete(
        type="MESSAGE_DELETE", event_id="MESSAGE_DELETE:5f0c2a", seq=12, raw=d,
        scope=ChatScope.CHANNEL, message_id="42")


def test_delete_without_a_message_object_is_malformed() -> None:
    event = parse_event(frame("MESSAGE_DELETE", {"message": ["x"]}))
    assert isinstance(event, MalformedEvent)
    assert event.error == "d.message: expected an object, got array"


# --- shared message rules ----------------------------------------------------------------


@pytest.mark.parametrize(("t", "base"), [
    ("C2C_MESSAGE_CREATE", C2C), ("GROUP_AT_MESSAGE_CREATE", GROUP_AT),
    ("GROUP_MESSAGE_CREATE", GROUP_AT), ("AT_MESSAGE_CREATE", CHANNEL_AT),
    ("MESSAGE_CREATE", CHANNEL_AT), ("DIRECT_MESSAGE_CREATE", DM),
])
class TestEveryMessageType:
    def test_numeric_message_id_is_stringified(self, t: str, base: dict[str, Any]) -> None:
        message = inbound_message(frame(t, {**base, "id": 880011}))
        assert message is not None and message.msg_id == "880011"

    def test_missing_message_id_is_malformed(self, t: str, base: dict[str, Any]) -> None:
        d = {k: v for k, v in base.items() if k != "id"}
        event = parse_event(frame(t, d))
        assert isinstance(event, MalformedEvent)
        assert (event.type, event.error, event.event_id, event.seq) == (
            t, "d.id: missing", f"{t}:5f0c2a", 12)
        assert event.raw is d and event.dispatch.data is d

    def test_author_as_a_list_is_malformed(self, t: str, base: dict[str, Any]) -> None:
        event = parse_event(frame(t, {**base, "author": [base["author"]]}))
        assert isinstance(event, MalformedEvent)
        assert event.error == "d.author: expected an object, got array"

    def test_missing_author_is_malformed(self, t: str, base: dict[str, Any]) -> None:
        d = {k: v for k, v in base.items() if k != "author"}
        event = parse_event(frame(t, d))
        assert isinstance(event, MalformedEvent) and event.error == "d.author: missing"

    def test_content_of_the_wrong_type_is_malformed(self, t: str, base: dict[str, Any]) -> None:
        event = parse_event(frame(t, {**base, "content": 5}))
        assert isinstance(event, MalformedEvent)
        assert event.error == "d.content: expected a string, got number"

    def test_absent_content_is_empty(self, t: str, base: dict[str, Any]) -> None:
        d = {k: v for k, v in base.items() if k != "content"}
        message = inbound_message(frame(t, d))
        assert message is not None and message.content == ""

    def test_unparseable_timestamp_is_kept_raw(self, t: str, base: dict[str, Any]) -> None:
        message = inbound_message(frame(t, {**base, "timestamp": "sometime"}))
        assert message is not None
        assert (message.timestamp, message.time) == ("sometime", None)

    def test_millisecond_timestamp_is_understood(self, t: str, base: dict[str, Any]) -> None:
        message = inbound_message(frame(t, {**base, "timestamp": "1699240365123"}))
        assert message is not None
        assert message.time == datetime(2023, 11, 6, 3, 12, 45, 123000, tzinfo=UTC)

    def test_data_that_is_not_an_object_is_malformed(self, t: str, base: dict[str, Any]) -> None:
        for data in (None, "", [base], 3):
            event = parse_event(frame(t, data))
            assert isinstance(event, MalformedEvent)
            assert event.error.startswith("d: expected an object, got ")

    def test_parsing_does_not_modify_the_payload(self, t: str, base: dict[str, Any]) -> None:
        before = copy.deepcopy(base)
        parse_event(frame(t, base))
        assert base == before


# --- inbound_message ---------------------------------------------------------------------


def test_inbound_message_accepts_an_event_or_a_dispatch() -> None:
    dispatch = frame("C2C_MESSAGE_CREATE", C2C)
    event = parse_event(dispatch)
    assert isinstance(event, C2CMessageCreate)
    assert inbound_message(event) is event.message
    assert inbound_message(dispatch) == event.message


def test_inbound_message_is_none_for_everything_else() -> None:
    assert inbound_message(frame("FRIEND_ADD", {"openid": "E4", "timestamp": 1})) is None
    assert inbound_message(parse_event(frame("FRIEND_ADD", {"openid": "E4"}))) is None
    assert inbound_message(frame("C2C_MESSAGE_CREATE", [])) is None
    assert inbound_message(frame("SOMETHING_NEW", {"id": "x"})) is None


def test_scope_values_are_the_scene_names_used_for_replies() -> None:
    assert [s.value for s in ChatScope] == ["c2c", "group", "channel", "dm"]
    assert ChatScope.GROUP == "group"
