"""RestClient: every method end to end through the generic executor loop."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._values import ChatScope, FileType, UploadedMedia
from qqproto.errors import (
    ApiError,
    DuplicateMessageError,
    RateLimitedError,
    ReplyExhaustedError,
    ReplyWindowClosedError,
    UnexpectedResponseError,
)
from qqproto.rest._call import RestCall
from qqproto.rest._client import BotInfo, RestClient, parse_bot_info
from qqproto.rest._gateway_info import GatewayInfo, SessionStartLimit
from qqproto.rest._keyboard import Button, Keyboard
from qqproto.rest._messages import AuditPending, Markdown, MessageSent, OutgoingMessage
from qqproto.rest._replies import OnExhausted, Reply, ReplyContext
from qqproto.rest._token import TokenState
from qqproto.upload import UploadSession

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"
AUTH = (("Authorization", "QQBot TOK"), ("X-Union-Appid", "1001"))
JSON_AUTH = (("Content-Type", "application/json"), *AUTH)


def make_client(user_agent: str | None = None) -> RestClient:
    tokens = TokenState(app_id="1001", secret="s",
                        endpoints=Endpoints(api_base=API, token_url=TOKEN_URL))
    return RestClient(tokens, user_agent=user_agent)


def _json(body: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status=status, body=json.dumps(body).encode())


TOKEN_OK = _json({"access_token": "TOK", "expires_in": 7200})


def run(call: RestCall[Any], answer: Callable[[HttpRequest], HttpResponse]
        ) -> list[HttpRequest]:
    """Answer the token request, then ``answer`` the call's own request(s)."""
    sent = []
    while (request := call.next_request(0.0)) is not None:
        sent.append(request)
        call.receive_response(TOKEN_OK if request.url == TOKEN_URL else answer(request), 0.0)
    return [r for r in sent if r.url != TOKEN_URL]


def test_send_c2c_message_end_to_end() -> None:
    call = make_client().send_c2c_message("U1", content="hi", msg_id="IN", msg_seq=1)
    sent = run(call, lambda r: _json({"id": "OUT", "timestamp": 5}))
    assert sent == [HttpRequest(
        method="POST", url=API + "/v2/users/U1/messages", headers=JSON_AUTH,
        body=b'{"msg_type":0,"content":"hi","msg_id":"IN","msg_seq":1}')]
    assert call.result() == MessageSent(id="OUT", timestamp=5)


def test_user_agent_is_sent_before_the_auth_headers() -> None:
    call = make_client("qqproto-test/1").get_gateway()
    sent = run(call, lambda r: _json({"url": "wss://gw.example/ws"}))
    assert sent[0].headers == (("User-Agent", "qqproto-test/1"), *AUTH)


def test_send_group_markdown_with_keyboard_and_string_shortcuts() -> None:
    kb = Keyboard([[Button(id="1", label="Yes", data="y")]])
    call = make_client().send_group_message("G1", markdown="**hi**", keyboard=kb,
                                            message_reference="REFIDX_1", msg_id="IN",
                                            msg_seq=2)
    sent = run(call, lambda r: _json({"id": "OUT"}))
    assert json.loads(sent[0].body) == {
        "msg_type": 2, "markdown": {"content": "**hi**"}, "keyboard": kb.to_dict(),
        "message_reference": {"message_id": "REFIDX_1"}, "msg_id": "IN", "msg_seq": 2}
    assert sent[0].url == API + "/v2/groups/G1/messages"


def test_send_group_media_and_ark() -> None:
    call = make_client().send_group_message("G1", media="FI")
    assert run(call, lambda r: _json({"id": "x"}))[0].body == (
        b'{"msg_type":7,"media":{"file_info":"FI"}}')
    call = make_client().send_c2c_message("U", ark={"template_id": 24})
    assert run(call, lambda r: _json({"id": "x"}))[0].body == (
        b'{"msg_type":3,"ark":{"template_id":24}}')


def test_send_channel_message_reports_audit_pending() -> None:
    call = make_client().send_channel_message("C1", content="hi", msg_id="IN")
    body = {"code": 304023, "message": "push message is waiting for audit",
            "data": {"message_audit": {"audit_id": "AUD"}}}
    sent = run(call, lambda r: _json(body, 202))
    assert sent[0].url == API + "/channels/C1/messages"
    assert sent[0].body == b'{"content":"hi","msg_id":"IN"}'
    assert call.result() == AuditPending(audit_id="AUD", code=304023,
                                         message="push message is waiting for audit")


def test_send_dm_message_with_embed() -> None:
    call = make_client().send_dm_message("GLD", embed={"title": "t"}, event_id="EV")
    sent = run(call, lambda r: _json({"id": "D1", "timestamp": "2024-01-01T00:00:00Z"}))
    assert sent[0].url == API + "/dms/GLD/messages"
    assert sent[0].body == b'{"embed":{"title":"t"},"event_id":"EV"}'
    assert call.result() == MessageSent(id="D1", timestamp="2024-01-01T00:00:00Z")


def test_send_typing() -> None:
    call = make_client().send_typing("U", msg_id="IN", msg_seq=3, seconds=10)
    sent = run(call, lambda r: HttpResponse(status=200, body=b"{}"))
    assert sent[0].body == (b'{"msg_type":6,"input_notify":{"input_type":1,'
                            b'"input_second":10},"msg_id":"IN","msg_seq":3}')
    assert call.result() == MessageSent(id=None)


def test_http_200_with_err_code_raises_the_typed_error() -> None:
    call = make_client().send_c2c_message("U", content="x", msg_id="IN", msg_seq=1)
    run(call, lambda r: _json({"err_code": 40054005, "message": "dup",
                               "trace_id": "T9"}))
    with pytest.raises(DuplicateMessageError) as info:
        call.result()
    assert info.value.trace_id == "T9" and info.value.status == 200


def test_rate_limit_is_retryable() -> None:
    call = make_client().send_group_message("G", content="x")
    run(call, lambda r: HttpResponse(status=429, body=b"<html>slow down</html>"))
    with pytest.raises(RateLimitedError) as info:
        call.result()
    assert info.value.retryable


@pytest.mark.parametrize(("scope", "url"), [
    (ChatScope.C2C, API + "/v2/users/T/messages/M"),
    (ChatScope.GROUP, API + "/v2/groups/T/messages/M"),
    (ChatScope.CHANNEL, API + "/channels/T/messages/M?hidetip=false"),
    (ChatScope.DM, API + "/dms/T/messages/M?hidetip=false"),
])
def test_recall_in_every_scope(scope: ChatScope, url: str) -> None:
    call = make_client().recall_message(scope, "T", "M")
    sent = run(call, lambda r: HttpResponse(status=204))
    assert sent == [HttpRequest(method="DELETE", url=url, headers=AUTH)]
    assert call.result() is None


def test_upload_media_by_url() -> None:
    call = make_client().upload_media(ChatScope.GROUP, "G", FileType.VIDEO,
                                      url="https://v.example/a.mp4")
    sent = run(call, lambda r: _json({"file_uuid": "U", "file_info": "FI", "ttl": 3600}))
    assert sent == [HttpRequest(
        method="POST", url=API + "/v2/groups/G/files", headers=JSON_AUTH,
        body=b'{"file_type":2,"url":"https://v.example/a.mp4","srv_send_msg":false}',
        timeout=120.0)]
    assert call.result() == UploadedMedia(file_info="FI", file_uuid="U", ttl=3600)


def test_upload_media_by_data_sent_at_once() -> None:
    call = make_client().upload_media(ChatScope.C2C, "U", FileType.IMAGE, file_data=b"png",
                                      srv_send_msg=True)
    sent = run(call, lambda r: _json({"file_info": "FI", "id": "M1"}))
    assert sent[0].body == b'{"file_type":1,"file_data":"cG5n","srv_send_msg":true}'
    assert call.result() == UploadedMedia(file_info="FI", message_id="M1")


def test_get_gateway() -> None:
    call = make_client().get_gateway()
    sent = run(call, lambda r: _json({"url": "wss://api.example.test/websocket/"}))
    assert sent == [HttpRequest(method="GET", url=API + "/gateway", headers=AUTH)]
    assert call.result() == GatewayInfo(url="wss://api.example.test/websocket/")


def test_get_gateway_bot() -> None:
    call = make_client().get_gateway_bot()
    body = {"url": "wss://sandbox.example/websocket", "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 998,
                                    "reset_after": 86400000, "max_concurrency": 1}}
    sent = run(call, lambda r: _json(body))
    assert sent[0].url == API + "/gateway/bot"
    assert call.result() == GatewayInfo(
        url="wss://sandbox.example/websocket", shards=1,
        session_start_limit=SessionStartLimit(total=1000, remaining=998,
                                              reset_after=86400.0, max_concurrency=1))


def test_a_gateway_answer_without_ws_url_fails_the_call() -> None:
    call = make_client().get_gateway()
    run(call, lambda r: _json({"url": "https://not-ws"}))
    with pytest.raises(ApiError):
        call.result()


def test_get_bot_info() -> None:
    call = make_client().get_bot_info()
    sent = run(call, lambda r: _json({"id": "BOT", "username": "Bot", "avatar": "https://a",
                                      "union_openid": "UO"}))
    assert sent[0] == HttpRequest(method="GET", url=API + "/users/@me", headers=AUTH)
    assert call.result() == BotInfo(id="BOT", username="Bot", avatar="https://a",
                                    union_openid="UO")


def test_bot_info_parsing_is_total() -> None:
    assert parse_bot_info(_json({"id": 42})) == BotInfo(id="42")
    for body in ({}, {"id": ""}, {"id": None}, {"id": True}):
        with pytest.raises(UnexpectedResponseError):
            parse_bot_info(_json(body))
    with pytest.raises(UnexpectedResponseError):
        parse_bot_info(HttpResponse(status=200, body=b"<html>"))


def test_generic_call_for_a_request_built_elsewhere() -> None:
    client = make_client()
    call = client.call(HttpRequest(method="GET", url=API + "/x"), lambda r: r.status,
                       name="x")
    assert run(call, lambda r: HttpResponse(status=200))[0].headers == AUTH
    assert call.result() == 200
    assert repr(client) == f"RestClient(app_id='1001', api='{API}')"


# --- send_split: splitting + ReplyContext -------------------------------------------------


def test_send_split_gives_each_part_its_own_msg_seq() -> None:
    replies = ReplyContext()
    replies.received(ChatScope.GROUP, msg_id="IN", now=0.0)
    kb = Keyboard([[Button(id="1", label="More", data="more")]])
    message = OutgoingMessage(markdown=Markdown("a" * 60 + "\n" + "b" * 60), keyboard=kb)
    calls = make_client().send_split(ChatScope.GROUP, "G", message, replies=replies,
                                     msg_id="IN", now=1.0, limit=64)
    bodies = [json.loads(run(c, lambda r: _json({"id": "o"}))[0].body) for c in calls]
    assert [(b["msg_seq"], b["markdown"]["content"], "keyboard" in b) for b in bodies] == [
        (1, "a" * 60 + "\n", False), (2, "b" * 60, True)]
    assert replies.reply(ChatScope.GROUP, msg_id="IN", now=2.0) == Reply(msg_id="IN",
                                                                        msg_seq=3)


def test_send_split_raises_before_sending_when_the_cap_cannot_hold_all_parts() -> None:
    replies = ReplyContext()
    replies.received(ChatScope.C2C, msg_id="IN", now=0.0)
    message = OutgoingMessage(content="x" * 64 * 5)
    with pytest.raises(ReplyExhaustedError):
        make_client().send_split(ChatScope.C2C, "U", message, replies=replies, msg_id="IN",
                                 now=1.0, limit=64)
    assert replies.remaining(ChatScope.C2C, msg_id="IN", now=1.0) == 4


def test_send_split_active_fallback_for_the_overflow() -> None:
    replies = ReplyContext(on_exhausted=OnExhausted.ACTIVE)
    replies.received(ChatScope.C2C, msg_id="IN", now=0.0)
    calls = make_client().send_split(ChatScope.C2C, "U", OutgoingMessage(content="x" * 320),
                                     replies=replies, msg_id="IN", now=1.0, limit=64)
    bodies = [json.loads(run(c, lambda r: _json({"id": "o"}))[0].body) for c in calls]
    assert [b.get("msg_seq") for b in bodies] == [1, 2, 3, 4, None]
    assert "msg_id" not in bodies[-1]


def test_send_split_without_reply_is_active() -> None:
    calls = make_client().send_split(ChatScope.GROUP, "G", OutgoingMessage(content="y" * 100),
                                     now=0.0, limit=64)
    assert len(calls) == 2
    body = json.loads(run(calls[0], lambda r: _json({"id": "o"}))[0].body)
    assert body == {"msg_type": 0, "content": "y" * 64}


def test_send_split_passive_needs_a_reply_context() -> None:
    with pytest.raises(ValueError, match="ReplyContext"):
        make_client().send_split(ChatScope.GROUP, "G", OutgoingMessage(content="y"),
                                 msg_id="IN", now=0.0)


def test_exhaustion_is_caught_with_the_server_side_class() -> None:
    replies = ReplyContext()
    with pytest.raises(ReplyWindowClosedError):
        replies.reply(ChatScope.GROUP, msg_id="gone", now=0.0)


def test_the_models_scope_is_accepted_by_value() -> None:
    from qqproto.models import ChatScope

    replies = ReplyContext()
    replies.received(ChatScope.GROUP, msg_id="IN", now=0.0)
    reply = replies.reply(ChatScope.GROUP, msg_id="IN", now=1.0)
    call = make_client().send_message(ChatScope.GROUP, "G", OutgoingMessage(content="x"),
                                      reply=reply)
    assert OutgoingMessage(content="x").to_body("channel") == {"content": "x"}
    assert run(call, lambda r: _json({"id": "o"}))[0].url == API + "/v2/groups/G/messages"


def test_inline_upload_over_the_hard_limit_is_refused_before_sending() -> None:
    from qqproto.errors import FileTooLargeError

    with pytest.raises(FileTooLargeError):
        make_client().upload_media(ChatScope.C2C, "U", FileType.IMAGE,
                                   file_data=b"\0" * (200 * 1024 * 1024 + 1))


def test_upload_session_shares_the_clients_token_and_user_agent() -> None:
    from qqproto.upload._hashing import hash_bytes

    client = make_client("ua/1")
    session = UploadSession.for_client(client, ChatScope.GROUP, "G", FileType.FILE, file_name="f",
                                    file_size=3, hashes=hash_bytes(b"abc"))
    session.start(0.0)
    cmd = session.next_command()
    assert cmd is not None and cmd.request.url == TOKEN_URL  # type: ignore[attr-defined]
    session.http_response(cmd.id, TOKEN_OK, 0.0)  # type: ignore[attr-defined]
    prepare = session.next_command()
    assert prepare.request.headers == (  # type: ignore[union-attr]
        ("User-Agent", "ua/1"), ("Content-Type", "application/json"), *AUTH)
    assert client.token_state.current(0.0) is not None
