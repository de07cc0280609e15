"""The simulator's HTTP side: token, discovery, auth, messages, recall, interactions."""

from __future__ import annotations

from typing import Any

import pytest

from qqproto.simulator._rest import Route, SimRequest, SimResponse, json_response
from qqproto.simulator._simulator import Simulator

from .test_sim_harness import SECRET, HttpClient, Reply, connect_ready, make_sim, token_for

TOKEN_PATH = "/app/getAppAccessToken"


def post_token(http: HttpClient, body: Any, now: float = 0.0) -> Reply:
    return http.request("POST", TOKEN_PATH, json_body=body, now=now)


def credentials(sim: Simulator) -> dict[str, str]:
    return {"appId": sim.app_id, "clientSecret": SECRET}


# ------------------------------------------------------------------ token endpoint

def test_the_token_endpoint_answers_byte_exactly() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    body = b'{"appId":"102000001","clientSecret":"qqproto-simulator-secret"}'
    out = http.raw(http.encode("POST", TOKEN_PATH, body=body,
                               headers=[("Content-Type", "application/json")]))
    reply = http.decode(out)
    token = reply.json()["access_token"]
    trace = reply.headers["x-tps-trace-id"]
    payload = b'{"access_token":"' + token.encode() + b'","expires_in":"7200"}'
    assert out == (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   b"X-Tps-trace-ID: " + trace.encode() + b"\r\n"
                   b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    assert len(token) == 48 and len(trace) == 32
    assert sim.token_is_valid(token, 0.0, prefixed=False)
    assert sim.counters.tokens_issued == 1


def test_the_same_token_comes_back_until_the_last_60_seconds() -> None:
    sim = make_sim(token_lifetime=7200)
    http = HttpClient(sim)
    first = post_token(http, credentials(sim), now=0.0).json()
    again = post_token(http, credentials(sim), now=7000.0).json()
    assert again == {"access_token": first["access_token"], "expires_in": "200"}
    fresh = post_token(http, credentials(sim), now=7141.0).json()
    assert fresh["access_token"] != first["access_token"]
    assert fresh["expires_in"] == "7200"
    # gateway.md §1.2: the old token stays valid for its last seconds.
    assert sim.token_is_valid(first["access_token"], 7199.0, prefixed=False)
    assert not sim.token_is_valid(first["access_token"], 7200.0, prefixed=False)


@pytest.mark.parametrize("body", [
    {"appId": "102000001", "clientSecret": "wrong"},
    {"appId": "999", "clientSecret": SECRET},
    {"appId": "102000001"},
    {},
    [1, 2],
])
def test_bad_credentials_answer_code_100016_under_http_200(body: Any) -> None:
    sim = make_sim()
    reply = post_token(HttpClient(sim), body)
    assert reply.status == 200
    assert reply.json() == {"code": 100016, "message": "invalid appid or secret",
                            "err_code": 100016, "trace_id": reply.headers["x-tps-trace-id"]}
    assert sim.counters.tokens_issued == 0


def test_a_numeric_app_id_is_accepted() -> None:
    sim = make_sim()
    body = {"appId": int(sim.app_id), "clientSecret": SECRET}
    assert "access_token" in post_token(HttpClient(sim), body).json()


def test_a_token_body_that_is_not_json_is_refused() -> None:
    sim = make_sim()
    reply = HttpClient(sim).request("POST", TOKEN_PATH, body=b"appId=1")
    assert reply.json()["code"] == 100016


# ------------------------------------------------------------------ discovery and auth

def test_gateway_returns_the_websocket_url_on_the_same_origin() -> None:
    sim = make_sim()
    reply = HttpClient(sim).request("GET", "/gateway", token=token_for(sim))
    assert reply.json() == {"url": "ws://127.0.0.1:8080/websocket"}


def test_gateway_bot_reports_the_session_start_limit() -> None:
    sim = make_sim(gateway_url="ws://example.invalid/ws")
    connect_ready(sim)
    reply = HttpClient(sim).request("GET", "/gateway/bot", token=token_for(sim))
    assert reply.json() == {
        "url": "ws://example.invalid/ws", "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 86400000,
                                "max_concurrency": 1},
    }


def test_users_me_describes_the_bot() -> None:
    sim = make_sim()
    reply = HttpClient(sim).request("GET", "/users/@me", token=token_for(sim))
    assert reply.json()["id"] == sim.bot_user_id
    assert reply.json()["username"] == sim.bot_username


@pytest.mark.parametrize("header", [None, "QQBot nope", "Bearer x", "QQBot"])
def test_a_missing_or_bad_authorization_answers_401_with_an_error_body(
        header: str | None) -> None:
    sim = make_sim()
    token_for(sim)
    headers = [] if header is None else [("Authorization", header)]
    reply = HttpClient(sim).request("GET", "/gateway", headers=headers)
    assert reply.status == 401
    assert reply.json() == {"code": 11244, "message": "token invalid or expired",
                            "err_code": 11244, "trace_id": reply.headers["x-tps-trace-id"]}
    assert sim.requests[-1].status == 401 and sim.requests[-1].code == 11244


def test_an_expired_token_answers_401() -> None:
    sim = make_sim(token_lifetime=10)
    token = token_for(sim, 0.0)
    assert HttpClient(sim).request("GET", "/gateway", token=token, now=10.0).status == 401


def test_an_unknown_path_answers_404_and_a_wrong_method_405() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    missing = http.request("GET", "/nothing/here", token=token_for(sim))
    wrong = http.request("DELETE", "/gateway", token=token_for(sim))
    assert (missing.status, missing.json()["code"]) == (404, 404)
    assert (wrong.status, wrong.json()["code"]) == (405, 405)


# ------------------------------------------------------------------ HTTP mechanics

def test_pipelined_requests_are_answered_in_order_on_one_connection() -> None:
    sim = make_sim()
    auth = b"Authorization: QQBot " + token_for(sim).encode() + b"\r\n"
    out = HttpClient(sim).raw(b"GET /gateway HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n"
                              b"GET /users/@me HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert out.index(b'"url"') < out.index(b'"username"')


def test_connection_close_from_the_client_closes_after_the_answer() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    http.request("GET", "/users/@me", token=token_for(sim), headers=[("Connection", "close")])
    assert http.conn.should_close and not http.conn.should_abort


def test_a_declared_body_over_the_limit_answers_413_and_closes() -> None:
    sim = make_sim(max_request_size=100)
    http = HttpClient(sim)
    out = http.raw(b"POST /v2/users/U/messages HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: 101\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    assert b"Connection: close" in out and http.conn.should_close
    assert sim.requests[-1].status == 413


def test_a_chunked_body_over_the_limit_answers_413_and_closes() -> None:
    sim = make_sim(max_request_size=10)
    http = HttpClient(sim)
    out = http.raw(b"POST /v2/users/U/messages HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n")
    assert out.startswith(b"HTTP/1.1 413 ") and http.conn.should_close


def test_a_malformed_request_answers_400_and_closes() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    out = http.raw(b"NOT HTTP AT ALL\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n") and http.conn.should_close


def test_an_oversized_request_head_answers_431() -> None:
    sim = make_sim(max_header_size=256)
    http = HttpClient(sim)
    out = http.raw(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 400)
    assert out.startswith(b"HTTP/1.1 431 ") and http.conn.should_close


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    sim = make_sim(idle_timeout=30.0)
    http = HttpClient(sim, now=5.0)
    http.request("GET", "/users/@me", token=token_for(sim), now=10.0)
    assert http.conn.get_timer() == 40.0 and sim.get_timer() == 40.0
    sim.handle_timer(39.0)
    assert not http.conn.should_close
    sim.handle_timer(40.0)
    assert http.conn.should_close and sim.connections == ()


def test_eof_on_an_http_connection_closes_it() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    http.raw(b"")
    assert http.conn.should_close


def test_connections_over_the_cap_get_503_and_are_closed() -> None:
    sim = make_sim(max_connections=1)
    HttpClient(sim)
    refused = HttpClient(sim)
    out = refused.conn.data_to_send()
    assert out.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert refused.conn.should_close and sim.counters.connections_refused == 1
    assert sim.touched_connections()[-1] is refused.conn


def test_touched_connections_lists_each_connection_with_news_once() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    sim.touched_connections()
    assert sim.touched_connections() == []
    sim.inject_c2c_message("U", "x", now=0.0)
    assert sim.touched_connections() == [client.conn]


def test_every_request_is_recorded_with_its_status() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    post_token(http, credentials(sim))
    http.request("GET", "/gateway?compress=0", token=token_for(sim))
    recorded = [(r.method, r.path, r.query, r.status) for r in sim.requests]
    assert recorded == [("POST", TOKEN_PATH, "", 200), ("GET", "/gateway", "compress=0", 200)]
    assert sim.requests[0].json() == credentials(sim)
    assert sim.requests[1].header("AUTHORIZATION") == f"QQBot {token_for(sim)}"


# ------------------------------------------------------------------ the router

def test_an_added_route_extends_the_simulator() -> None:
    sim = make_sim()

    def files(sim: Simulator, request: SimRequest, params: dict[str, str],
              now: float) -> SimResponse:
        return json_response({"file_info": f"FI-{params['openid']}"})

    sim.router.add(Route("POST", "/v2/users/{openid}/files", files))
    reply = HttpClient(sim).request("POST", "/v2/users/U%201/files", json_body={},
                                    token=token_for(sim))
    assert reply.json() == {"file_info": "FI-U 1"}


def test_an_added_route_overrides_a_built_in_one() -> None:
    sim = make_sim()
    sim.router.add(Route("GET", "/gateway", lambda *a: json_response({"url": "x"}),
                         auth=False))
    assert HttpClient(sim).request("GET", "/gateway").json() == {"url": "x"}


def test_a_failing_handler_answers_500_instead_of_crashing() -> None:
    sim = make_sim()

    def broken(*args: Any) -> SimResponse:
        raise RuntimeError("bug")

    sim.router.add(Route("GET", "/broken", broken, auth=False))
    reply = HttpClient(sim).request("GET", "/broken")
    assert reply.status == 500 and reply.json()["code"] == 500


def test_the_built_in_route_table_lists_every_endpoint() -> None:
    table = [(r.method, r.pattern, r.auth) for r in make_sim().router.routes]
    assert table == [
        ("POST", "/app/getAppAccessToken", False),
        ("GET", "/gateway", True),
        ("GET", "/gateway/bot", True),
        ("GET", "/users/@me", True),
        ("GET", "/websocket", False),
        ("POST", "/v2/users/{openid}/messages", True),
        ("POST", "/v2/groups/{group_openid}/messages", True),
        ("POST", "/channels/{channel_id}/messages", True),
        ("POST", "/dms/{guild_id}/messages", True),
        ("DELETE", "/v2/users/{openid}/messages/{message_id}", True),
        ("DELETE", "/v2/groups/{group_openid}/messages/{message_id}", True),
        ("DELETE", "/channels/{channel_id}/messages/{message_id}", True),
        ("DELETE", "/dms/{guild_id}/messages/{message_id}", True),
        ("PUT", "/interactions/{interaction_id}", True),
        ("POST", "/v2/users/{openid}/stream_messages", True),
        ("POST", "/v2/generate_url_link", True),
        ("POST", "/v2/groups/{group_openid}/approval_join_request/{member_openid}", True),
        ("POST", "/v2/users/{openid}/upload_prepare", True),
        ("POST", "/v2/users/{openid}/upload_part_finish", True),
        ("POST", "/v2/users/{openid}/files", True),
        ("POST", "/v2/groups/{group_openid}/upload_prepare", True),
        ("POST", "/v2/groups/{group_openid}/upload_part_finish", True),
        ("POST", "/v2/groups/{group_openid}/files", True),
        ("PUT", "/presigned/{upload_id}/{index}", False),
        ("GET", "/cdn/{file_id}/{name}", False),
        ("POST", "/lite/create_bind_task", False),
        ("POST", "/lite/poll_bind_result", False),
        ("GET", "/qqbot/openclaw/connect.html", False),
    ]


def test_a_handler_answer_http_cannot_express_closes_the_connection() -> None:
    sim = make_sim()
    sim.router.add(Route("GET", "/odd", lambda *a: SimResponse(status=100), auth=False))
    http = HttpClient(sim)
    assert http.raw(http.encode("GET", "/odd")) == b""
    assert http.conn.should_close and sim.requests[-1].status == 100


def test_a_204_answer_never_carries_a_body() -> None:
    sim = make_sim()
    sim.router.add(Route("GET", "/nobody", lambda *a: SimResponse(status=204, body=b"x"),
                         auth=False))
    http = HttpClient(sim)
    out = http.raw(http.encode("GET", "/nobody"))
    assert out.startswith(b"HTTP/1.1 204 No Content\r\n") and out.endswith(b"\r\n\r\n")
    assert b"Content-Length" not in out


def test_a_request_repr_shows_no_body() -> None:
    request = SimRequest(connection_id=3, method="POST", path="/p", query="",
                         headers=(("Authorization", "QQBot t0k"),), body=b"secret",
                         trace_id="t")
    assert repr(request) == "SimRequest(POST /p, body=6 bytes, connection_id=3)"


def test_closed_connections_have_no_timer_and_ignore_timers_and_aborts() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    http.conn.abort()
    http.conn.abort()
    assert http.conn.get_timer() is None
    http.conn.handle_timer(1e9)
    assert http.conn.should_abort and not http.conn.should_close
    assert repr(http.conn) == f"SimConnection(id={http.conn.id}, http, aborted)"


def test_issued_tokens_are_capped_even_when_each_request_mints_one() -> None:
    sim = make_sim(token_lifetime=30)  # inside the 60 s overlap: every call mints
    first = token_for(sim, 0.0)
    for n in range(1, 1001):
        token_for(sim, n / 1000)
    assert sim.counters.tokens_issued == 1001
    assert not sim.token_is_valid(first, 1.0, prefixed=False)
    assert sim.token_is_valid(token_for(sim, 1.0), 1.0, prefixed=False)
