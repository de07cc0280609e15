"""Message builders and parsers: exact requests (rest.md §2, §3) and total parsing."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._values import ChatScope, FileType, UploadedMedia
from qqproto.errors import UnexpectedResponseError
from qqproto.rest._keyboard import Button, Keyboard, KeyboardTemplate
from qqproto.rest._messages import (
    AuditPending,
    Markdown,
    MessageReference,
    MessageSent,
    OutgoingMessage,
    build_media_upload,
    build_message,
    build_recall,
    build_typing,
    parse_empty,
    parse_message_sent,
    parse_uploaded_media,
    split_message,
)

API = "https://api.example.test"
EP = Endpoints(api_base=API, token_url="https://auth.example.test/t")
JSON = (("Content-Type", "application/json"),)


def text(content: str) -> OutgoingMessage:
    return OutgoingMessage(content=content)


# --- message requests, one per scene --------------------------------------------------------


def test_c2c_text_reply_is_exact() -> None:
    request = build_message(EP, ChatScope.C2C, "U_OPENID", text("hello"),
                            msg_id="ROBOT1.0_in", msg_seq=1)
    assert request == HttpRequest(
        method="POST", url=API + "/v2/users/U_OPENID/messages", headers=JSON,
        body=b'{"msg_type":0,"content":"hello","msg_id":"ROBOT1.0_in","msg_seq":1}',
        timeout=30.0)


def test_group_markdown_reply_is_exact() -> None:
    message = OutgoingMessage(markdown=Markdown("**done**"))
    request = build_message(EP, ChatScope.GROUP, "G_OPENID", message, msg_id="ROBOT1.0_in",
                            msg_seq=2)
    assert request.method == "POST"
    assert request.url == API + "/v2/groups/G_OPENID/messages"
    assert request.body == (b'{"msg_type":2,"markdown":{"content":"**done**"},'
                            b'"msg_id":"ROBOT1.0_in","msg_seq":2}')


def test_c2c_media_message_is_exact() -> None:
    request = build_message(EP, ChatScope.C2C, "U", OutgoingMessage(media="FILEINFO_TOKEN"),
                            msg_id="ROBOT1.0_in", msg_seq=3)
    assert request.body == (b'{"msg_type":7,"media":{"file_info":"FILEINFO_TOKEN"},'
                            b'"msg_id":"ROBOT1.0_in","msg_seq":3}')


def test_channel_message_has_no_msg_type_and_no_msg_seq() -> None:
    request = build_message(EP, ChatScope.CHANNEL, "C1", text("hi"), msg_id="M", msg_seq=4)
    assert request.url == API + "/channels/C1/messages"
    assert request.body == b'{"content":"hi","msg_id":"M"}'


def test_dm_message_with_embed_and_image() -> None:
    message = OutgoingMessage(embed={"title": "T"}, content="c",
                              image="https://img.example/x.png")
    request = build_message(EP, ChatScope.DM, "GUILD9", message, event_id="EV")
    assert request.url == API + "/dms/GUILD9/messages"
    assert request.body == (b'{"content":"c","embed":{"title":"T"},'
                            b'"image":"https://img.example/x.png","event_id":"EV"}')


def test_active_message_carries_no_reply_fields() -> None:
    request = build_message(EP, ChatScope.GROUP, "G", text("news"))
    assert request.body == b'{"msg_type":0,"content":"news"}'


def test_event_id_reply_with_keyboard_and_template_markdown() -> None:
    kb = Keyboard([[Button(id="1", label="OK", data="ok")]])
    message = OutgoingMessage(markdown=Markdown.template("tpl", {"a": "x", "b": ["y", "z"]}),
                              keyboard=kb)
    request = build_message(EP, ChatScope.C2C, "U", message, event_id="INTERACTION:1",
                            msg_seq=1)
    assert json.loads(request.body) == {
        "msg_type": 2,
        "markdown": {"custom_template_id": "tpl",
                     "params": [{"key": "a", "values": ["x"]},
                                {"key": "b", "values": ["y", "z"]}]},
        "keyboard": kb.to_dict(),
        "event_id": "INTERACTION:1", "msg_seq": 1,
    }


def test_ark_and_quote() -> None:
    message = OutgoingMessage(ark={"template_id": 23, "kv": []},
                              message_reference=MessageReference("REFIDX_1", True))
    request = build_message(EP, ChatScope.GROUP, "G", message)
    assert request.body == (b'{"msg_type":3,"ark":{"template_id":23,"kv":[]},'
                            b'"message_reference":{"message_id":"REFIDX_1",'
                            b'"ignore_get_message_error":true}}')


def test_keyboard_template_rides_on_markdown() -> None:
    message = OutgoingMessage(markdown=Markdown("x"), keyboard=KeyboardTemplate("KB"))
    assert message.to_body(ChatScope.C2C)["keyboard"] == {"id": "KB"}


def test_target_ids_are_percent_encoded() -> None:
    request = build_message(EP, ChatScope.C2C, "../a/b?x=1#f", text("x"))
    assert request.url == API + "/v2/users/..%2Fa%2Fb%3Fx%3D1%23f/messages"


def test_user_agent_headers_are_passed_through() -> None:
    request = build_message(EP, ChatScope.C2C, "U", text("x"),
                            headers=(("User-Agent", "bot/1"),))
    assert request.headers == (("User-Agent", "bot/1"), ("Content-Type", "application/json"))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "needs content"),
    ({"content": ""}, "needs content"),
    ({"markdown": Markdown("x"), "content": "y"}, "content must be empty"),
    ({"markdown": Markdown("x"), "ark": {}}, "markdown and ark"),
    ({"media": "f", "embed": {}}, "embed and media"),
    ({"content": "x", "keyboard": KeyboardTemplate("k")}, "keyboard rides on a markdown"),
    ({"media": ""}, "file_info"),
])
def test_impossible_messages_are_value_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OutgoingMessage(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("scope", "message", "match"), [
    (ChatScope.C2C, OutgoingMessage(embed={"t": 1}), "guild-only"),
    (ChatScope.GROUP, OutgoingMessage(image="https://x/y.png"), "guild-only"),
    (ChatScope.CHANNEL, OutgoingMessage(media="F"), "image=URL"),
])
def test_scene_only_fields_are_checked(scope: ChatScope, message: OutgoingMessage,
                                       match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_message(EP, scope, "T", message)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"msg_id": "a", "event_id": "b"}, "not both"),
    ({"msg_id": ""}, "msg_id must be"),
    ({"event_id": 5}, "event_id must be"),
    ({"msg_seq": 0}, "positive int"),
    ({"msg_seq": True}, "positive int"),
    ({"msg_seq": "1"}, "positive int"),
])
def test_bad_reply_fields_are_value_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_message(EP, ChatScope.C2C, "U", text("x"), **kwargs)  # type: ignore[arg-type]


def test_empty_target_id_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="target id"):
        build_message(EP, ChatScope.C2C, "", text("x"))


def test_markdown_needs_exactly_one_form() -> None:
    with pytest.raises(ValueError):
        Markdown()
    with pytest.raises(ValueError):
        Markdown("x", template_id="t")
    with pytest.raises(ValueError, match="params"):
        Markdown("x", params=(("k", ("v",)),))


# --- typing, recall -------------------------------------------------------------------------


def test_typing_notice_is_exact() -> None:
    request = build_typing(EP, "U", msg_id="IN", msg_seq=2)
    assert request == HttpRequest(
        method="POST", url=API + "/v2/users/U/messages", headers=JSON,
        body=(b'{"msg_type":6,"input_notify":{"input_type":1,"input_second":60},'
              b'"msg_id":"IN","msg_seq":2}'))


@pytest.mark.parametrize("seconds", [0, 61, True])
def test_typing_duration_is_bounded(seconds: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.60"):
        build_typing(EP, "U", msg_id="IN", msg_seq=1, seconds=seconds)


def test_typing_needs_a_msg_seq() -> None:
    with pytest.raises(ValueError, match="msg_seq"):
        build_typing(EP, "U", msg_id="IN", msg_seq=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("scope", "target", "url"), [
    (ChatScope.C2C, "U", API + "/v2/users/U/messages/M1"),
    (ChatScope.GROUP, "G", API + "/v2/groups/G/messages/M1"),
    (ChatScope.CHANNEL, "C", API + "/channels/C/messages/M1?hidetip=false"),
    (ChatScope.DM, "D", API + "/dms/D/messages/M1?hidetip=false"),
])
def test_recall_in_all_four_scopes(scope: ChatScope, target: str, url: str) -> None:
    assert build_recall(EP, scope, target, "M1") == HttpRequest(method="DELETE", url=url)


def test_recall_can_hide_the_tip_in_guilds_only() -> None:
    assert build_recall(EP, ChatScope.CHANNEL, "C", "M/1", hide_tip=True).url == (
        API + "/channels/C/messages/M%2F1?hidetip=true")
    with pytest.raises(ValueError, match="guild"):
        build_recall(EP, ChatScope.GROUP, "G", "M", hide_tip=True)


# --- single-call media upload ---------------------------------------------------------------


def test_upload_by_url_is_exact() -> None:
    request = build_media_upload(EP, ChatScope.C2C, "U", FileType.IMAGE,
                                 url="https://img.example/a.png")
    assert request == HttpRequest(
        method="POST", url=API + "/v2/users/U/files", headers=JSON,
        body=b'{"file_type":1,"url":"https://img.example/a.png","srv_send_msg":false}',
        timeout=120.0)


def test_upload_by_file_data_is_plain_base64() -> None:
    request = build_media_upload(EP, ChatScope.GROUP, "G", FileType.FILE,
                                 file_data=b"\x00\xffhello", srv_send_msg=True,
                                 file_name="r.bin")
    assert request.url == API + "/v2/groups/G/files"
    assert request.body == (b'{"file_type":4,"file_data":"' +
                            base64.b64encode(b"\x00\xffhello") +
                            b'","srv_send_msg":true,"file_name":"r.bin"}')


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "exactly one"),
    ({"url": "https://x", "file_data": b"x"}, "exactly one"),
    ({"url": "/etc/passwd"}, "public http"),
])
def test_upload_source_must_be_one_public_url_or_bytes(kwargs: dict[str, object],
                                                       match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_media_upload(EP, ChatScope.C2C, "U", FileType.IMAGE, **kwargs)  # type: ignore[arg-type]


def test_guild_scenes_have_no_media_upload() -> None:
    with pytest.raises(ValueError, match="c2c and group"):
        build_media_upload(EP, ChatScope.CHANNEL, "C", FileType.IMAGE, url="https://x/y")


def test_bad_file_type_is_rejected() -> None:
    with pytest.raises(ValueError):
        build_media_upload(EP, ChatScope.C2C, "U", 9, url="https://x/y")  # type: ignore[arg-type]


# --- parsers --------------------------------------------------------------------------------


def _resp(body: object, status: int = 200) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, body=raw)


def test_message_sent_from_c2c_answer() -> None:
    assert parse_message_sent(_resp({"id": "ROBOT1.0_x", "timestamp": 1700000000,
                                     "ext_info": {"ref_idx": "REFIDX_9"}})) == MessageSent(
        id="ROBOT1.0_x", timestamp=1700000000, ref_idx="REFIDX_9")


def test_message_sent_from_guild_answer_with_string_timestamp() -> None:
    body = {"id": "G1", "channel_id": "C", "timestamp": "2024-01-01T00:00:00+08:00"}
    assert parse_message_sent(_resp(body)) == MessageSent(
        id="G1", timestamp="2024-01-01T00:00:00+08:00")


def test_message_sent_tolerates_an_empty_body_and_odd_types() -> None:
    assert parse_message_sent(_resp(b"")) == MessageSent(id=None)
    assert parse_message_sent(_resp({"id": 5, "timestamp": True, "ext_info": "x"})) == \
        MessageSent(id="5")


@pytest.mark.parametrize("code", [304023, 304024])
def test_audit_pending_is_a_result(code: int) -> None:
    body = {"code": code, "message": "waiting", "data": {"message_audit": {"audit_id": "A1"}}}
    assert parse_message_sent(_resp(body, 202)) == AuditPending(audit_id="A1", code=code,
                                                                message="waiting")
    assert parse_message_sent(_resp({"err_code": code})) == AuditPending(audit_id=None,
                                                                         code=code)


def test_message_answer_that_is_not_json_is_unexpected() -> None:
    with pytest.raises(UnexpectedResponseError, match="not a JSON object"):
        parse_message_sent(_resp(b"<html>"))


def test_uploaded_media_parses_ttl_as_number_or_string() -> None:
    body = {"file_uuid": "U1", "file_info": "FI", "ttl": "300", "id": "M9",
            "raw_url": "https://cos/x"}
    assert parse_uploaded_media(_resp(body)) == UploadedMedia(
        file_info="FI", file_uuid="U1", ttl=300, message_id="M9", raw_url="https://cos/x")
    assert parse_uploaded_media(_resp({"file_info": "FI"})).ttl == 0
    assert parse_uploaded_media(_resp({"file_info": "FI", "ttl": -5})).ttl == 0
    assert parse_uploaded_media(_resp({"file_info": "FI", "ttl": "x"})).ttl == 0
    assert parse_uploaded_media(_resp({"file_info": "FI", "ttl": True})).ttl == 0


def test_uploaded_media_under_data_is_found() -> None:
    assert parse_uploaded_media(_resp({"data": {"file_info": "FI"}})).file_info == "FI"


@pytest.mark.parametrize("body", [{}, {"file_info": ""}, {"file_info": 5},
                                  {"file_uuid": "only"}, b"[]"])
def test_uploaded_media_without_file_info_is_unexpected(body: object) -> None:
    with pytest.raises(UnexpectedResponseError):
        parse_uploaded_media(_resp(body))


def test_parse_empty_accepts_anything_the_error_table_let_through() -> None:
    parse_empty(HttpResponse(status=204))  # returns None, raises nothing


@given(st.binary(max_size=80))
def test_parsers_are_total(body: bytes) -> None:
    response = HttpResponse(status=200, body=body)
    for parse in (parse_message_sent, parse_uploaded_media):
        with contextlib.suppress(UnexpectedResponseError):
            parse(response)


# --- split_message ----------------------------------------------------------------------


def test_short_message_is_not_split() -> None:
    message = text("short")
    assert split_message(message) == [message]


def test_text_message_split_keeps_the_quote_on_the_first_part() -> None:
    message = OutgoingMessage(content="a" * 50 + "\n" + "b" * 50,
                              message_reference=MessageReference("R"))
    parts = split_message(message, limit=64)
    assert parts == [
        OutgoingMessage(content="a" * 50 + "\n", message_reference=MessageReference("R")),
        OutgoingMessage(content="b" * 50),
    ]


def test_markdown_split_puts_the_keyboard_on_the_last_part_only() -> None:
    kb = KeyboardTemplate("K")
    message = OutgoingMessage(markdown=Markdown("x" * 100), keyboard=kb)
    parts = split_message(message, limit=64)
    assert [p.keyboard for p in parts] == [None, kb]
    assert [p.markdown.content for p in parts if p.markdown] == ["x" * 64, "x" * 36]


def test_unsplittable_kinds_raise_when_too_long() -> None:
    assert split_message(OutgoingMessage(media="F", content="x")) == [
        OutgoingMessage(media="F", content="x")]
    with pytest.raises(ValueError, match="only text and native markdown"):
        split_message(OutgoingMessage(media="F", content="x" * 100), limit=64)
    template = OutgoingMessage(markdown=Markdown.template("t"))
    assert split_message(template, limit=64) == [template]


def test_msg_type_follows_the_content_kind() -> None:
    assert [m.msg_type for m in (
        OutgoingMessage(content="t"), OutgoingMessage(markdown=Markdown("m")),
        OutgoingMessage(ark={"template_id": 23}), OutgoingMessage(embed={"title": "e"}),
        OutgoingMessage(media="F"), OutgoingMessage(image="https://i/x.png"))] == [
        0, 2, 3, 4, 7, 0]
