"""Exact error texts for malformed payloads, nested paths included, and a transcript of
JSON frames parsed end to end."""

from __future__ import annotations

from typing import Any

import pytest

from qqproto._jsoncodec import loads
from qqproto.errors import ModelError
from qqproto.events import Dispatch, Ready
from qqproto.models._base import MalformedEvent, UnknownEvent
from qqproto.models._guild import ForumEvent, GuildMemberEvent
from qqproto.models._interaction import InteractionCreate
from qqproto.models._lifecycle import FriendAdd, GroupAddRobot
from qqproto.models._messages import (
    C2CMessageCreate,
    ChatScope,
    DirectMessageCreate,
    GroupAtMessageCreate,
    GroupMessageCreate,
    MessageDelete,
    QuotedMessage,
)
from qqproto.models._parse import inbound_message, parse_event, parse_event_strict

C2C = {"id": "m1", "content": "hi", "author": {"user_openid": "U1"}}
GROUP = {"id": "m2", "content": " hi", "group_openid": "G1", "author": {"member_openid": "M1"}}
CHANNEL = {"id": "m3", "channel_id": "C1", "guild_id": "D1", "author": {"id": "A1"}}


def frame(t: str, d: Any) -> Dispatch:
    return Dispatch(type=t, seq=5, id=f"{t}:e", data=d)


ERRORS: list[tuple[str, dict[str, Any], str]] = [
    # messages: nested objects and lists
    ("C2C_MESSAGE_CREATE", {**C2C, "author": {"user_openid": ["U1"]}},
     "d.author.user_openid: expected a string id, got array"),
    ("C2C_MESSAGE_CREATE", {**C2C, "author": {"user_openid": "U1", "bot": "no"}},
     "d.author.bot: expected a boolean, got string"),
    ("C2C_MESSAGE_CREATE", {**C2C, "author": {"user_openid": "U1", "username": 1}},
     "d.author.username: expected a string, got number"),
    ("C2C_MESSAGE_CREATE", {**C2C, "message_type": "quote"},
     "d.message_type: expected an integer, got string"),
    ("C2C_MESSAGE_CREATE", {**C2C, "timestamp": {"s": 1}},
     "d.timestamp: expected a timestamp, got object"),
    ("C2C_MESSAGE_CREATE", {**C2C, "attachments": [{"url": 5}]},
     "d.attachments[0].url: expected a string, got number"),
    ("C2C_MESSAGE_CREATE", {**C2C, "attachments": [{"voice_wav_url": []}]},
     "d.attachments[0].voice_wav_url: expected a string, got array"),
    ("C2C_MESSAGE_CREATE", {**C2C, "message_scene": "default"},
     "d.message_scene: expected an object, got string"),
    ("C2C_MESSAGE_CREATE", {**C2C, "message_scene": {"ext": "msg_idx=1"}},
     "d.message_scene.ext: expected an array, got string"),
    ("C2C_MESSAGE_CREATE", {**C2C, "msg_idx": {}},
     "d.msg_idx: expected a string id, got object"),
    ("C2C_MESSAGE_CREATE", {**C2C, "msg_elements": "x", "message_type": 103},
     "d.msg_elements: expected an array, got string"),
    ("GROUP_MESSAGE_CREATE", {**GROUP, "mentions": [{"scope": "all"}, None]},
     "d.mentions[1]: expected an object, got null"),
    ("GROUP_MESSAGE_CREATE", {**GROUP, "mentions": [{"is_you": "yes"}]},
     "d.mentions[0].is_you: expected a boolean, got string"),
    ("GROUP_MESSAGE_CREATE", {**GROUP, "mentions": {"id": "x"}},
     "d.mentions: expected an array, got object"),
    ("GROUP_AT_MESSAGE_CREATE", {**GROUP, "group_openid": True},
     "d.group_openid: expected a string id, got boolean"),
    ("GROUP_AT_MESSAGE_CREATE",
     {**GROUP, "message_type": 103, "msg_elements": [{"author": "bot"}]},
     "d.msg_elements[0].author: expected an object, got string"),
    ("GROUP_AT_MESSAGE_CREATE",
     {**GROUP, "message_type": 103, "msg_elements": [{"author": {"bot": 1}}]},
     "d.msg_elements[0].author.bot: expected a boolean, got number"),
    ("GROUP_AT_MESSAGE_CREATE",
     {**GROUP, "message_type": 103, "msg_elements": [{"attachments": [[]]}]},
     "d.msg_elements[0].attachments[0]: expected an object, got array"),
    ("AT_MESSAGE_CREATE", {**CHANNEL, "member": "Alice"},
     "d.member: expected an object, got string"),
    ("AT_MESSAGE_CREATE", {**CHANNEL, "member": {"roles": "1,2"}},
     "d.member.roles: expected an array, got string"),
    ("AT_MESSAGE_CREATE", {**CHANNEL, "member": {"joined_at": [2024]}},
     "d.member.joined_at: expected a timestamp, got array"),
    ("MESSAGE_CREATE", {**CHANNEL, "message_reference": "m0"},
     "d.message_reference: expected an object, got string"),
    ("MESSAGE_CREATE", {**CHANNEL, "message_reference": {"message_id": 1.5}},
     "d.message_reference.message_id: expected a string id, got number"),
    ("MESSAGE_CREATE", {**CHANNEL, "mention_everyone": "true"},
     "d.mention_everyone: expected a boolean, got string"),
    ("DIRECT_MESSAGE_CREATE", {**CHANNEL, "src_guild_id": {}},
     "d.src_guild_id: expected a string id, got object"),
    # deletes
    ("MESSAGE_DELETE", {"message": {"id": "m", "author": []}},
     "d.message.author: expected an object, got array"),
    ("MESSAGE_DELETE", {"message": {"id": "m", "author": {"bot": "y"}}},
     "d.message.author.bot: expected a boolean, got string"),
    ("DIRECT_MESSAGE_DELETE", {"message": {"id": "m"}, "op_user": "me"},
     "d.op_user: expected an object, got string"),
    ("PUBLIC_MESSAGE_DELETE", {"message": {}}, "d.message.id: missing"),
    # interactions
    ("INTERACTION_CREATE", {"id": "i", "data": {"resolved": {"button_id": []}}},
     "d.data.resolved.button_id: expected a string id, got array"),
    ("INTERACTION_CREATE", {"id": "i", "data": {"resolved": {"user_id": {}}}},
     "d.data.resolved.user_id: expected a string id, got object"),
    ("INTERACTION_CREATE", {"id": "i", "data": {"type": "button"}},
     "d.data.type: expected an integer, got string"),
    ("INTERACTION_CREATE", {"id": "i", "version": True},
     "d.version: expected an integer, got boolean"),
    # relationships and single-source events
    ("FRIEND_ADD", {"openid": "o", "scene": "qr"}, "d.scene: expected an integer, got string"),
    ("GROUP_MSG_RECEIVE", {"group_openid": "g", "op_member_openid": 1.25},
     "d.op_member_openid: expected a string id, got number"),
    ("SUBSCRIBE_MESSAGE_STATUS", {"result": [{"op": "allow"}]},
     "d.result[0].op: expected an integer, got string"),
    ("SUBSCRIBE_MESSAGE_STATUS", {"result": {"op": 1}},
     "d.result: expected an array, got object"),
    ("ENTER_AIO", {"from_source": 3}, "d.from_source: expected a string, got number"),
    # guild families
    ("GUILD_MEMBER_ADD", {"guild_id": "g", "user": "bob"},
     "d.user: expected an object, got string"),
    ("GUILD_MEMBER_ADD", {"guild_id": "g", "user": {"bot": 0}},
     "d.user.bot: expected a boolean, got number"),
    ("GUILD_MEMBER_UPDATE", {"guild_id": "g", "roles": [{}]},
     "d.roles[0]: expected a string id, got object"),
    ("MESSAGE_REACTION_ADD", {"target": {"type": "message"}},
     "d.target.type: expected an integer, got string"),
    ("MESSAGE_REACTION_REMOVE", {"emoji": []}, "d.emoji: expected an object, got array"),
    ("FORUM_POST_CREATE", {"post_info": "p"}, "d.post_info: expected an object, got string"),
    ("FORUM_THREAD_UPDATE", {"thread_info": {"thread_id": []}},
     "d.thread_info.thread_id: expected a string id, got array"),
    ("FORUM_REPLY_DELETE", {"reply_info": {"date_time": {}}},
     "d.reply_info.date_time: expected a timestamp, got object"),
    ("AUDIO_FINISH", {"audio_url": ["u"]}, "d.audio_url: expected a string, got array"),
    ("AUDIO_OR_LIVE_CHANNEL_MEMBER_ENTER", {"channel_type": "voice"},
     "d.channel_type: expected an integer, got string"),
    # READY as a plain dispatch
    ("READY", {"session_id": "s", "user": {"id": "b", "bot": "yes"}},
     "d.user.bot: expected a boolean, got string"),
    ("READY", {"session_id": 5, "user": {"id": "b"}},
     "d.session_id: expected a string, got number"),
]


@pytest.mark.parametrize(("t", "d", "error"), ERRORS,
                         ids=[f"{t}:{e.split(':')[0]}" for t, _, e in ERRORS])
def test_malformed_payload_error_names_the_exact_path(t: str, d: dict[str, Any],
                                                      error: str) -> None:
    event = parse_event(frame(t, d))
    assert isinstance(event, MalformedEvent), event
    assert event.error == error
    with pytest.raises(ModelError, match="^malformed " + t + " payload: "):
        parse_event_strict(frame(t, d))


def test_forum_ids_come_from_the_most_specific_info_object() -> None:
    d = {"guild_id": "G", "thread_info": {"thread_id": "T"},
         "post_info": {"thread_id": "T", "post_id": "P"}}
    event = parse_event(frame("FORUM_POST_CREATE", d))
    assert isinstance(event, ForumEvent)
    assert (event.thread_id, event.post_id, event.reply_id) == ("T", "P", None)
    # The audit result's top-level "type" is its publish type; inside an info object
    # there is no such field.
    assert event.publish_type is None


def test_guild_member_without_user_object_keeps_guild_and_operator() -> None:
    d = {"guild_id": "G", "op_user_id": "O"}
    event = parse_event(frame("GUILD_MEMBER_REMOVE", d))
    assert event == GuildMemberEvent(type="GUILD_MEMBER_REMOVE", event_id="GUILD_MEMBER_REMOVE:e",
                                     seq=5, raw=d, guild_id="G", op_user_id="O")


def test_quoted_attachment_urls_are_normalised_too() -> None:
    d = {**GROUP, "message_type": 103, "msg_elements": [
        {"msg_idx": 9, "attachments": [{"content_type": "image/gif", "url": "//h/q.gif"}]}]}
    message = inbound_message(frame("GROUP_AT_MESSAGE_CREATE", d))
    assert message is not None and message.quoted is not None
    assert message.quoted == QuotedMessage(
        msg_idx="9", attachments=message.quoted.attachments)
    assert [a.url for a in message.quoted.attachments] == ["https://h/q.gif"]


def test_webhook_deliveries_without_seq_or_id_parse_the_same() -> None:
    # gateway.md §3.1: in webhook deliveries "s" may be absent; "id" too in old captures.
    gateway = parse_event(Dispatch(type="C2C_MESSAGE_CREATE", seq=9, id="C2C:1", data=C2C))
    webhook = parse_event(Dispatch(type="C2C_MESSAGE_CREATE", seq=None, id=None, data=C2C))
    assert isinstance(gateway, C2CMessageCreate) and isinstance(webhook, C2CMessageCreate)
    assert (webhook.seq, webhook.event_id, webhook.message.event_id) == (None, None, None)
    assert webhook.message.msg_id == gateway.message.msg_id == "m1"


TRANSCRIPT = b"""\
{"op":0,"s":1,"t":"READY","d":{"version":1,"session_id":"sess-1","user":{"id":"9001","username":"demo-bot","bot":true},"shard":[0,1]}}
{"op":0,"s":2,"t":"GROUP_ADD_ROBOT","id":"GROUP_ADD_ROBOT:a1","d":{"group_openid":"G1","op_member_openid":"M1","timestamp":1699240365}}
{"op":0,"s":3,"t":"GROUP_AT_MESSAGE_CREATE","id":"GROUP_AT_MESSAGE_CREATE:a2","d":{"id":"ROBOT1.0_m1","content":" /help","timestamp":"2025-01-02T10:00:00+08:00","group_openid":"G1","author":{"id":"M1","member_openid":"M1"}}}
{"op":0,"s":4,"t":"GROUP_MESSAGE_CREATE","id":"GROUP_MESSAGE_CREATE:a3","d":{"id":"ROBOT1.0_m1","content":" /help","timestamp":"2025-01-02T10:00:00+08:00","group_openid":"G1","author":{"id":"M1","member_openid":"M1"}}}
{"op":0,"s":5,"t":"INTERACTION_CREATE","id":"INTERACTION_CREATE:a4","d":{"id":"int-1","type":11,"chat_type":1,"group_openid":"G1","group_member_openid":"M1","data":{"type":11,"resolved":{"button_id":"ok","button_data":"confirm"}}}}
{"op":0,"s":6,"t":"FRIEND_ADD","id":"FRIEND_ADD:a5","d":{"openid":"U1","timestamp":"1699240365"}}
{"op":0,"s":7,"t":"DIRECT_MESSAGE_CREATE","id":"DIRECT_MESSAGE_CREATE:a6","d":{"id":"dm1","guild_id":"DM1","channel_id":"C9","src_guild_id":"G7","content":"psst","author":{"id":"A1","username":"a"}}}
{"op":0,"s":8,"t":"DIRECT_MESSAGE_DELETE","id":"DIRECT_MESSAGE_DELETE:a7","d":{"message":{"id":"dm1","guild_id":"DM1"},"op_user":{"id":"A1"}}}
{"op":0,"s":9,"t":"GROUP_RENAMED","id":"GROUP_RENAMED:a8","d":{"group_openid":"G1"}}
{"op":0,"s":10,"t":"C2C_MESSAGE_CREATE","id":"C2C_MESSAGE_CREATE:a9","d":{"id":"m9","author":"U1"}}
"""  # noqa: E501 (one recorded frame per line)


def test_a_recorded_transcript_parses_frame_by_frame() -> None:
    events = []
    for line in TRANSCRIPT.splitlines():
        f = loads(line)
        events.append(parse_event(Dispatch(type=f["t"], seq=f["s"], id=f.get("id"),
                                           data=f["d"])))
    assert [type(e) for e in events] == [
        Ready, GroupAddRobot, GroupAtMessageCreate, GroupMessageCreate, InteractionCreate,
        FriendAdd, DirectMessageCreate, MessageDelete, UnknownEvent, MalformedEvent]
    assert [e.seq for e in events] == list(range(1, 11))
    at, everyone = events[2], events[3]
    assert isinstance(at, GroupAtMessageCreate) and isinstance(everyone, GroupMessageCreate)
    # The same message arrives twice (gateway.md §6.1): msg_id is the dedupe key, and only
    # the @ variant has its leading space trimmed.
    assert at.message.msg_id == everyone.message.msg_id == "ROBOT1.0_m1"
    assert (at.message.content, everyone.message.content) == ("/help", " /help")
    tap = events[4]
    assert isinstance(tap, InteractionCreate)
    assert (tap.scene, tap.scope, tap.operator_id, tap.chat_id, tap.button_data) == (
        "group", ChatScope.GROUP, "M1", "G1", "confirm")
    dm = events[6]
    assert isinstance(dm, DirectMessageCreate)
    assert (dm.message.scope, dm.message.chat_id) == (ChatScope.DM, "DM1")
    bad = events[9]
    assert isinstance(bad, MalformedEvent)
    assert bad.error == "d.author: expected an object, got string"
