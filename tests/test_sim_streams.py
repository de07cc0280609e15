"""The simulator's stream_messages, share link and join-request approval, sans-IO."""

from __future__ import annotations

from typing import Any

import pytest

from qqproto.simulator._openapi_routes import sim_join_decisions
from qqproto.simulator._streams import sim_streams

from .test_sim_harness import HttpClient, make_sim, token_for

PATH = "/v2/users/U1/stream_messages"


def chunk(**fields: Any) -> dict[str, Any]:
    return {"input_mode": "replace", "input_state": 1, "index": 0, "content_type": "markdown",
            "content_raw": "a", **fields}


def setup() -> tuple[Any, HttpClient, str, str]:
    sim = make_sim()
    event = sim.inject_c2c_message("U1", "hi", now=0.0)
    return sim, HttpClient(sim), token_for(sim), event.data["id"]


def test_a_stream_grows_chunk_by_chunk_and_is_stored_once_done() -> None:
    sim, http, token, msg_id = setup()
    first = http.request("POST", PATH, json_body=chunk(msg_id=msg_id, msg_seq=1), token=token)
    assert first.status == 200
    answer = first.json()
    stream_id = answer["id"]
    assert answer["remain_msg_len"] == 0 and answer["ext_info"]["ref_idx"].startswith("REFIDX_")
    assert not sim.sent_messages
    second = http.request("POST", PATH, token=token, json_body=chunk(
        msg_id=msg_id, msg_seq=1, index=1, stream_msg_id=stream_id, content_raw="ab"))
    assert second.json()["id"] == stream_id
    third = http.request("POST", PATH, token=token, json_body=chunk(
        msg_id=msg_id, msg_seq=1, index=2, stream_msg_id=stream_id, input_mode="append",
        content_raw="c", input_state=10))
    assert third.status == 200
    [sent] = sim.sent_messages
    assert (sent.id, sent.scope, sent.target, sent.msg_id, sent.msg_seq) == (
        stream_id, "c2c", "U1", msg_id, 1)
    assert (sent.body["content_raw"], sent.body["stream"]) == ("abc", True)
    assert [c["index"] for c in sim_streams(sim).streams[stream_id].chunks] == [0, 1, 2]


@pytest.mark.parametrize(("second", "code"), [
    ({"index": 2}, 40061001),                        # out of order
    ({"content_raw": "b"}, 40007),                   # replace changes the shown prefix
    ({"stream_msg_id": "nope"}, 40061001),           # unknown stream
])
def test_a_bad_next_chunk_is_refused(second: dict[str, Any], code: int) -> None:
    _sim, http, token, msg_id = setup()
    stream_id = http.request("POST", PATH, token=token,
                             json_body=chunk(msg_id=msg_id, content_raw="a")).json()["id"]
    body = chunk(msg_id=msg_id, index=1, stream_msg_id=stream_id, content_raw="ab")
    reply = http.request("POST", PATH, token=token, json_body={**body, **second})
    assert (reply.status, reply.json()["code"]) == (400, code)


@pytest.mark.parametrize("body", [
    {"input_mode": "insert"}, {"input_state": 5}, {"input_state": True},
    {"content_type": "html"}, {"content_raw": 3}, {"index": -1}, {"index": None},
    {"msg_id": 5}, {"msg_seq": "1"}, {"msg_id": None},
])
def test_malformed_chunks_are_bad_params(body: dict[str, Any]) -> None:
    _sim, http, token, msg_id = setup()
    reply = http.request("POST", PATH, token=token, json_body={**chunk(msg_id=msg_id), **body})
    assert (reply.status, reply.json()["code"]) == (400, 40061001)


def test_the_first_chunk_follows_the_reply_rules() -> None:
    _sim, http, token, msg_id = setup()
    assert http.request("POST", PATH, token=token,
                        json_body=chunk(msg_id=msg_id, index=1)).status == 400
    unknown = http.request("POST", PATH, token=token, json_body=chunk(msg_id="nope"))
    assert unknown.json()["code"] == 40034024
    assert http.request("POST", PATH, token=token,
                        json_body=chunk(msg_id=msg_id, msg_seq=1)).status == 200
    again = http.request("POST", PATH, token=token, json_body=chunk(msg_id=msg_id, msg_seq=1))
    assert again.json()["code"] == 40054005


def test_the_share_link_and_a_join_decision() -> None:
    sim, http, token, _ = setup()
    link = http.request("POST", "/v2/generate_url_link", token=token,
                        json_body={"callback_data": "a b"})
    assert link.json() == {"url_link": "https://qun.qq.com/qunpro/robot/qunshare?robot_appid="
                                       f"{sim.app_id}&data=a%20b"}
    empty = http.request("POST", "/v2/generate_url_link", token=token)
    assert empty.json()["url_link"].endswith("&data=")
    too_long = http.request("POST", "/v2/generate_url_link", token=token,
                            json_body={"callback_data": "x" * 33})
    assert (too_long.status, too_long.json()["code"]) == (400, 10001)
    path = "/v2/groups/G1/approval_join_request/M1"
    assert http.request("POST", path, token=token, json_body={"op": "maybe"}).status == 400
    assert http.request("POST", path, token=token, body=b"[", headers=[
        ("Content-Type", "application/json")]).status == 400
    ok = http.request("POST", path, token=token, json_body={"op": "approve",
                                                              "join_request_id": "J"})
    assert (ok.status, ok.json()) == (200, {})
    [decision] = sim_join_decisions(sim)
    assert (decision.group_openid, decision.member_openid, decision.body) == (
        "G1", "M1", {"op": "approve", "join_request_id": "J"})
