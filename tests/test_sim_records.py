"""Records, payload builders, ids: exact values, bounds and secret hygiene."""

from __future__ import annotations

import random

import pytest

from qqproto.simulator._payloads import IdSource, c2c_message, rfc3339
from qqproto.simulator._records import Direction, FrameKind, RecordedFrame, RecordedRequest
from qqproto.simulator._sessions import SimSession, encode_dispatch
from qqproto.simulator._simulator import Simulator

from .test_sim_harness import SECRET, HttpClient, connect_ready, make_sim, token_for


def test_encode_dispatch_orders_keys_op_s_t_id_d_and_splices_the_payload() -> None:
    assert encode_dispatch("C2C_MESSAGE_CREATE", 7, "C2C_MESSAGE_CREATE:x", b'{"a":1}') == (
        b'{"op":0,"s":7,"t":"C2C_MESSAGE_CREATE","id":"C2C_MESSAGE_CREATE:x","d":{"a":1}}')
    assert encode_dispatch("READY", 1, None, b"{}") == b'{"op":0,"s":1,"t":"READY","d":{}}'
    assert encode_dispatch('Q"T', 1, 'a"b', b"1") == (
        b'{"op":0,"s":1,"t":"Q\\"T","id":"a\\"b","d":1}')


def test_rfc3339_is_beijing_time_with_offset() -> None:
    assert rfc3339(0) == "1970-01-01T08:00:00+08:00"
    assert rfc3339(1_699_240_365.9) == "2023-11-06T11:12:45+08:00"


def test_ids_are_deterministic_for_a_seed_and_shaped_like_the_platform() -> None:
    first, second = IdSource(random.Random(5)), IdSource(random.Random(5))
    assert [first.uuid(), first.message_id(), first.hex(4)] == [
        second.uuid(), second.message_id(), second.hex(4)]
    assert first.event_id("X").startswith("X:") and len(first.hex(4)) == 8
    assert first.message_id().startswith("ROBOT1.0_")
    assert 10**17 <= int(first.snowflake()) < 10**19


def test_two_simulators_with_the_same_seed_produce_the_same_conversation() -> None:
    def run() -> list[bytes]:
        sim = make_sim()
        client, _ = connect_ready(sim)
        sim.inject_c2c_message("U", "x", now=1.0)
        client.pump()
        return [f.raw for f in sim.frames]

    assert run() == run()


def test_builders_add_attachments_and_extra_fields() -> None:
    d = c2c_message(message_id="M", user_openid="U", content="pic", timestamp="T",
                    attachments=[{"content_type": "image/png", "url": "//x/y.png"}],
                    extra={"message_type": 103})
    assert d["attachments"] == [{"content_type": "image/png", "url": "//x/y.png"}]
    assert d["message_type"] == 103


def test_recorded_frame_reprs_never_show_the_token() -> None:
    sim = make_sim()
    token = token_for(sim)
    connect_ready(sim)
    identify = next(f for f in sim.frames if f.op == 2)
    assert token.encode() in identify.raw
    assert token not in repr(identify) and token not in repr(list(sim.frames))
    assert repr(identify) == (f"RecordedFrame(connection_id=1, direction=in, at=0.0, "
                              f"kind=text, op=2, t=None, s=None, {len(identify.raw)} bytes)")


def test_recorded_frame_accessors_cope_with_any_payload() -> None:
    def frame(kind: FrameKind, raw: bytes) -> RecordedFrame:
        return RecordedFrame(connection_id=1, direction=Direction.OUT, at=0.0, kind=kind,
                             raw=raw)

    assert frame(FrameKind.TEXT, b"not json").json() is None
    assert frame(FrameKind.TEXT, b"[1]").op is None
    assert frame(FrameKind.BINARY, b'{"op":1}').json() is None
    assert frame(FrameKind.TEXT, b'{"op":0,"t":"X","s":3,"d":{"a":1}}').d == {"a": 1}
    close = RecordedFrame(connection_id=1, direction=Direction.IN, at=0.0,
                          kind=FrameKind.CLOSE, raw=b"bye", close_code=1000)
    assert "close_code=1000" in repr(close)


def test_recorded_request_reprs_hide_headers_and_bodies() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    http.request("POST", "/app/getAppAccessToken",
                 json_body={"appId": sim.app_id, "clientSecret": SECRET})
    token = token_for(sim)
    http.request("GET", "/gateway", token=token)
    text = repr(list(sim.requests))
    assert SECRET not in text and token not in text
    assert "authorization" in text  # the header name (h11 lower-cases it), not its value
    assert repr(sim.requests[0]).startswith("RecordedRequest(POST /app/getAppAccessToken -> 200")


def test_recorded_request_json_tolerates_empty_and_invalid_bodies() -> None:
    def req(body: bytes) -> RecordedRequest:
        return RecordedRequest(connection_id=1, at=0.0, method="POST", path="/", query="",
                               headers=(), body=body, status=200)

    assert req(b"").json() is None and req(b"{x").json() is None
    assert req(b'{"a":1}').json() == {"a": 1}


def test_the_simulator_repr_and_secret_are_redacted() -> None:
    sim = Simulator(secret="top-secret-value")
    assert "top-secret-value" not in repr(sim) and "top-secret-value" not in repr(sim.secret)
    assert sim.secret.reveal() == "top-secret-value"
    token = sim.issue_token(0.0)[0]
    assert token.reveal() not in repr(token)


def test_record_rings_keep_only_the_most_recent_entries() -> None:
    sim = make_sim(record_limit=4)
    client, _ = connect_ready(sim)
    for n in range(10):
        sim.inject_c2c_message("U", str(n), now=0.0)
    client.pump()
    assert len(sim.frames) == 4
    assert [f.d["content"] for f in sim.frames] == ["6", "7", "8", "9"]


def test_sent_message_index_is_bounded_and_recall_forgets_old_messages() -> None:
    sim = make_sim(record_limit=2)
    http = HttpClient(sim)
    ids = [http.request("POST", "/v2/users/U/messages", json_body={"msg_type": 0,
                                                                   "content": str(n)},
                        token=token_for(sim)).json()["id"] for n in range(3)]
    assert sim.find_sent(ids[0]) is None and sim.find_sent(ids[2]) is not None
    assert sim.counters.messages_sent == 3 and len(sim.sent_messages) == 2


def test_the_session_counts_undelivered_events_from_the_newest_backwards() -> None:
    session = SimSession("s", intents=0, shard=(0, 1), buffer_size=10)
    for seq in range(1, 6):
        session.buffer_event(seq, b"")
    session.mark_delivered(3)
    session.mark_delivered(2)
    assert session.delivered_seq == 3 and session.undelivered() == 2
    assert [s for s, _ in session.events_after(3)] == [4, 5]
    assert "buffered=5" in repr(session)


@pytest.mark.parametrize("kwargs", [{"heartbeat_interval_ms": 0}, {"token_lifetime": -1},
                                    {"record_limit": 0}, {"max_connections": 0}])
def test_nonsensical_limits_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Simulator(**kwargs)  # type: ignore[arg-type]


def test_gateway_links_lists_only_connections_that_are_not_closing() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    HttpClient(sim)
    assert sim.gateway_links() == [client.conn.link]
    client.echo_close = False
    sim.close_connections(4009, now=0.0)
    assert sim.gateway_links() == []
    assert repr(client.conn) == f"SimConnection(id={client.conn.id}, gateway, open)"
