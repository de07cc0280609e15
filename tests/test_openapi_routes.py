"""The OpenAPI route table: every endpoint request-exact (method, URL, body as the docs
print them), its answer parsed, and bad arguments refused before anything is built."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qqproto.errors import UnexpectedResponseError
from qqproto.rest import (
    ROUTES,
    DMSession,
    Endpoints,
    HttpRequest,
    HttpResponse,
    RestCall,
    RestClient,
    TokenState,
    api_call,
)

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"
ENDPOINTS = Endpoints(api_base=API, token_url=TOKEN_URL)
G, C, U, M, R = "G1", "C1", "U1", "M1", "R1"

# name, keywords, method, path (+query), JSON body (None: no body).  Bodies are the
# official pages' request examples where they print one.
CASES: list[tuple[str, dict[str, Any], str, str, Any]] = [
    ("generate_url_link", {"callback_data": "custom_data_123"}, "POST",
     "/v2/generate_url_link", {"callback_data": "custom_data_123"}),
    ("create_dms", {"recipient_id": "123456", "source_guild_id": "112233"}, "POST",
     "/users/@me/dms", {"recipient_id": "123456", "source_guild_id": "112233"}),
    ("get_bot_guilds", {"limit": 20}, "GET", "/users/@me/guilds?limit=20", None),
    ("get_group_info", {"group_openid": G}, "GET", "/v2/groups/G1/info", None),
    ("get_group_bot_state", {"group_openid": G}, "GET", "/v2/groups/G1/bot_state", None),
    ("get_group_members", {"group_openid": G, "cursor": ""}, "GET",
     "/v2/groups/G1/members?cursor=", None),
    ("get_group_member", {"group_openid": G, "member_openid": M}, "GET",
     "/v2/groups/G1/members/M1", None),
    ("get_join_requests", {"group_openid": G, "limit": 50}, "GET",
     "/v2/groups/G1/join_request_list?limit=50", None),
    ("approve_join_request", {"group_openid": G, "member_openid": M, "op": "decline",
                              "join_request_id": "J", "reject_reason": "no",
                              "add_to_member_blacklist": True}, "POST",
     "/v2/groups/G1/approval_join_request/M1",
     {"op": "decline", "join_request_id": "J", "reject_reason": "no",
      "add_to_member_blacklist": True}),
    ("get_guild", {"guild_id": G}, "GET", "/guilds/G1", None),
    ("get_channels", {"guild_id": G}, "GET", "/guilds/G1/channels", None),
    ("get_channel", {"channel_id": C}, "GET", "/channels/C1", None),
    ("create_channel", {"guild_id": "123456789012345678", "name": "公告区", "type": 0,
                        "sub_type": 1, "position": 3, "parent_id": "0", "private_type": 0,
                        "speak_permission": 1}, "POST",
     "/guilds/123456789012345678/channels",
     {"name": "公告区", "type": 0, "sub_type": 1, "position": 3, "parent_id": "0",
      "private_type": 0, "speak_permission": 1}),
    ("update_channel", {"channel_id": "123456", "name": "新", "position": 5,
                        "parent_id": "0"}, "PATCH", "/channels/123456",
     {"name": "新", "position": 5, "parent_id": "0"}),
    ("delete_channel", {"channel_id": C}, "DELETE", "/channels/C1", None),
    ("get_online_nums", {"channel_id": "123456"}, "GET", "/channels/123456/online_nums", None),
    ("get_members", {"guild_id": "123456", "limit": 2}, "GET",
     "/guilds/123456/members?limit=2", None),
    ("get_member", {"guild_id": G, "user_id": U}, "GET", "/guilds/G1/members/U1", None),
    ("get_role_members", {"guild_id": "123456", "role_id": "4", "start_index": "0",
                          "limit": 2}, "GET",
     "/guilds/123456/roles/4/members?start_index=0&limit=2", None),
    ("delete_member", {"guild_id": "123456", "user_id": "112233", "add_blacklist": True,
                       "delete_history_msg_days": -1}, "DELETE",
     "/guilds/123456/members/112233", {"add_blacklist": True, "delete_history_msg_days": -1}),
    ("get_roles", {"guild_id": G}, "GET", "/guilds/G1/roles", None),
    ("create_role", {"guild_id": G, "name": "test", "color": 99999, "hoist": "1"}, "POST",
     "/guilds/G1/roles", {"name": "test", "color": 99999, "hoist": "1"}),
    ("update_role", {"guild_id": G, "role_id": R, "name": "x"}, "PATCH",
     "/guilds/G1/roles/R1", {"name": "x"}),
    ("delete_role", {"guild_id": G, "role_id": R}, "DELETE", "/guilds/G1/roles/R1", None),
    ("add_member_role", {"guild_id": G, "user_id": U, "role_id": "5",
                         "channel_id": "1744939"}, "PUT", "/guilds/G1/members/U1/roles/5",
     {"channel": {"id": "1744939"}}),
    ("remove_member_role", {"guild_id": G, "user_id": U, "role_id": R}, "DELETE",
     "/guilds/G1/members/U1/roles/R1", None),
    ("get_channel_permissions", {"channel_id": C, "user_id": U}, "GET",
     "/channels/C1/members/U1/permissions", None),
    ("update_channel_permissions", {"channel_id": C, "user_id": U, "add": 1, "remove": "4"},
     "PUT", "/channels/C1/members/U1/permissions", {"add": "1", "remove": "4"}),
    ("get_channel_role_permissions", {"channel_id": C, "role_id": R}, "GET",
     "/channels/C1/roles/R1/permissions", None),
    ("update_channel_role_permissions", {"channel_id": C, "role_id": R, "add": "6"}, "PUT",
     "/channels/C1/roles/R1/permissions", {"add": "6"}),
    ("get_message", {"channel_id": C, "message_id": "m/1"}, "GET",
     "/channels/C1/messages/m%2F1", None),
    ("get_pins", {"channel_id": C}, "GET", "/channels/C1/pins", None),
    ("add_pin", {"channel_id": "123456", "message_id": "112233"}, "PUT",
     "/channels/123456/pins/112233", None),
    ("delete_pin", {"channel_id": C, "message_id": "all"}, "DELETE", "/channels/C1/pins/all",
     None),
    ("create_announce", {"guild_id": G, "channel_id": "123456", "message_id": "xxxxxx"},
     "POST", "/guilds/G1/announces", {"message_id": "xxxxxx", "channel_id": "123456"}),
    ("delete_announce", {"guild_id": "123456", "message_id": "112233"}, "DELETE",
     "/guilds/123456/announces/112233", None),
    ("add_reaction", {"channel_id": "1013531", "message_id": "08c0", "emoji_type": 1,
                      "emoji_id": "203"}, "PUT",
     "/channels/1013531/messages/08c0/reactions/1/203", None),
    ("delete_reaction", {"channel_id": "1013531", "message_id": "08c0", "emoji_type": 1,
                         "emoji_id": "203"}, "DELETE",
     "/channels/1013531/messages/08c0/reactions/1/203", None),
    ("get_reaction_users", {"channel_id": "1013531", "message_id": "08c0", "emoji_type": 1,
                            "emoji_id": "203", "cookie": "", "limit": 20}, "GET",
     "/channels/1013531/messages/08c0/reactions/1/203?cookie=&limit=20", None),
    ("get_schedules", {"channel_id": C, "since": 1642076400000}, "GET",
     "/channels/C1/schedules", {"since": 1642076400000}),
    ("get_schedule", {"channel_id": C, "schedule_id": "S"}, "GET", "/channels/C1/schedules/S",
     None),
    ("create_schedule", {"channel_id": C, "name": "上王者", "start_timestamp": 1642076453000,
                         "end_timestamp": "1642083653000", "jump_channel_id": "0",
                         "remind_type": 0}, "POST", "/channels/C1/schedules",
     {"schedule": {"name": "上王者", "start_timestamp": "1642076453000",
                   "end_timestamp": "1642083653000", "jump_channel_id": "0",
                   "remind_type": "0"}}),
    ("update_schedule", {"channel_id": C, "schedule_id": "S", "name": "n"}, "PATCH",
     "/channels/C1/schedules/S", {"schedule": {"name": "n"}}),
    ("delete_schedule", {"channel_id": C, "schedule_id": "S"}, "DELETE",
     "/channels/C1/schedules/S", None),
    ("mute_guild", {"guild_id": G, "mute_seconds": 120}, "PATCH", "/guilds/G1/mute",
     {"mute_seconds": "120"}),
    ("mute_members", {"guild_id": G, "mute_end_timestamp": "1641916800", "mute_seconds": "120",
                      "user_ids": ["1201318637970874066", "1201318637970874067"]}, "PATCH",
     "/guilds/G1/mute", {"mute_end_timestamp": "1641916800", "mute_seconds": "120",
                         "user_ids": ["1201318637970874066", "1201318637970874067"]}),
    ("mute_member", {"guild_id": G, "user_id": U, "mute_seconds": "0"}, "PATCH",
     "/guilds/G1/members/U1/mute", {"mute_seconds": "0"}),
    ("get_message_setting", {"guild_id": G}, "GET", "/guilds/G1/message/setting", None),
    ("get_threads", {"channel_id": C}, "GET", "/channels/C1/threads", None),
    ("get_thread", {"channel_id": C, "thread_id": "T"}, "GET", "/channels/C1/threads/T", None),
    ("create_thread", {"channel_id": C, "title": "title", "content": "<p>x</p>", "format": 2},
     "PUT", "/channels/C1/threads", {"title": "title", "content": "<p>x</p>", "format": 2}),
    ("delete_thread", {"channel_id": C, "thread_id": "T"}, "DELETE", "/channels/C1/threads/T",
     None),
    ("audio_control", {"channel_id": C, "audio_url": "http:/xxxxx.mp3", "text": "xxx",
                       "status": 0}, "POST", "/channels/C1/audio",
     {"audio_url": "http:/xxxxx.mp3", "text": "xxx", "status": 0}),
    ("mic_on", {"channel_id": C}, "PUT", "/channels/C1/mic", {}),
    ("mic_off", {"channel_id": C}, "DELETE", "/channels/C1/mic", None),
    ("get_api_permissions", {"guild_id": G}, "GET", "/guilds/G1/api_permission", None),
    ("demand_api_permission", {"guild_id": G, "channel_id": "123456",
                               "api_path": "/guilds/{guild_id}", "api_method": "GET",
                               "desc": "显示频道信息"}, "POST",
     "/guilds/G1/api_permission/demand",
     {"channel_id": "123456", "api_identify": {"path": "/guilds/{guild_id}",
                                               "method": "GET"}, "desc": "显示频道信息"}),
]


def test_every_route_has_a_request_exact_case() -> None:
    assert sorted(name for name, *_ in CASES) == sorted(ROUTES)


@pytest.mark.parametrize(("name", "params", "method", "path", "body"), CASES,
                         ids=[c[0] for c in CASES])
def test_the_request_is_what_the_docs_show(name: str, params: dict[str, Any], method: str,
                                           path: str, body: Any) -> None:
    request = ROUTES[name].request(ENDPOINTS, **params)
    assert (request.method, request.url) == (method, API + path)
    if body is None:
        assert (request.body, request.headers) == (b"", ())
    else:
        assert request.headers == (("Content-Type", "application/json"),)
        assert json.loads(request.body) == body


def client(user_agent: str | None = None) -> RestClient:
    return RestClient(TokenState(app_id="1001", secret="s", endpoints=ENDPOINTS),
                      user_agent=user_agent)


def run(call: RestCall[Any], answer: HttpResponse) -> tuple[Any, HttpRequest]:
    sent = []
    while (request := call.next_request(0.0)) is not None:
        if request.url == TOKEN_URL:
            call.receive_response(HttpResponse(
                status=200, body=b'{"access_token":"TOK","expires_in":7200}'), 0.0)
            continue
        sent.append(request)
        call.receive_response(answer, 0.0)
    (request,) = sent
    return call.result(), request


def test_a_call_is_signed_and_carries_the_user_agent() -> None:
    result, request = run(api_call(client("bot/1"), "get_guild", guild_id="G"),
                          HttpResponse(status=200, body=b'{"id":"G","name":"n"}'))
    assert result == {"id": "G", "name": "n"}
    assert request.headers == (("User-Agent", "bot/1"), ("Authorization", "QQBot TOK"),
                               ("X-Union-Appid", "1001"))


def test_answers_are_json_or_none_or_typed() -> None:
    assert run(api_call(client(), "delete_channel", channel_id="C"),
               HttpResponse(status=204))[0] is None
    assert run(api_call(client(), "get_channels", guild_id="G"),
               HttpResponse(status=200, body=b'[{"id":"1"}]'))[0] == [{"id": "1"}]
    link = b'{"url_link":"https://qun.qq.com/qunpro/robot/qunshare?robot_appid=1"}'
    assert run(api_call(client(), "generate_url_link"), HttpResponse(status=200, body=link))[
        0] == "https://qun.qq.com/qunpro/robot/qunshare?robot_appid=1"
    dms = b'{"guild_id":"xxxxxx","channel_id":"yy","create_time":"1642545606"}'
    assert run(api_call(client(), "create_dms", recipient_id="1", source_guild_id="2"),
               HttpResponse(status=200, body=dms))[0] == DMSession(
        guild_id="xxxxxx", channel_id="yy", create_time="1642545606")


@pytest.mark.parametrize(("name", "body"), [
    ("generate_url_link", b'{"url":"x"}'),
    ("create_dms", b'{"channel_id":"c"}'),
    ("get_guild", b"<html>"),
    ("create_dms", b"[1]"),
])
def test_an_answer_without_what_the_route_returns_is_unexpected(name: str,
                                                                 body: bytes) -> None:
    params = {"generate_url_link": {}, "create_dms": {"recipient_id": "1",
                                                      "source_guild_id": "2"},
              "get_guild": {"guild_id": "G"}}[name]
    with pytest.raises(UnexpectedResponseError):
        run(api_call(client(), name, **params), HttpResponse(status=200, body=body))


def test_the_share_link_sends_an_empty_object_without_callback_data() -> None:
    request = ROUTES["generate_url_link"].request(ENDPOINTS)
    assert request.body == b"{}"


@pytest.mark.parametrize(("name", "params", "error"), [
    ("get_guild", {}, ValueError),
    ("get_guild", {"guild_id": ""}, ValueError),
    ("get_guild", {"guild_id": True}, ValueError),
    ("get_guild", {"guild_id": "G", "extra": 1}, TypeError),
    ("get_members", {"guild_id": "G", "limit": "2"}, ValueError),
    ("get_members", {"guild_id": "G", "limit": True}, ValueError),
    ("generate_url_link", {"callback_data": "x" * 33}, ValueError),
    ("approve_join_request", {"group_openid": "G", "member_openid": "M"}, ValueError),
    ("approve_join_request", {"group_openid": "G", "member_openid": "M", "op": "ok"},
     ValueError),
    ("delete_member", {"guild_id": "G", "user_id": "U", "delete_history_msg_days": 5},
     ValueError),
    ("create_role", {"guild_id": "G"}, ValueError),
    ("mute_member", {"guild_id": "G", "user_id": "U"}, ValueError),
    ("mute_members", {"guild_id": "G", "mute_seconds": 1, "user_ids": []}, ValueError),
    ("mute_members", {"guild_id": "G", "mute_seconds": 1, "user_ids": [1]}, ValueError),
    ("update_channel_permissions", {"channel_id": "C", "user_id": "U"}, ValueError),
    ("update_schedule", {"channel_id": "C", "schedule_id": "S"}, ValueError),
    ("create_dms", {"recipient_id": "1"}, ValueError),
])
def test_bad_arguments_are_refused_before_anything_is_built(
        name: str, params: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ROUTES[name].request(ENDPOINTS, **params)


def test_an_unknown_route_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="no OpenAPI route named 'nope'"):
        api_call(client(), "nope")


def test_every_route_names_its_docs_page_and_its_placeholders_are_keywords() -> None:
    for route in ROUTES.values():
        assert route.source and route.method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        assert not set(route.path_params) & (set(route.query) | set(route.body))
