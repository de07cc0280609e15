"""The simulator's gateway, driven byte by byte with a raw wsproto client."""

from __future__ import annotations

import re

import pytest

from qqproto.simulator._gateway import LinkState
from qqproto.simulator._records import Direction, FrameKind

from .test_sim_harness import (
    C2C,
    HOST,
    GatewayClient,
    HttpClient,
    connect_ready,
    make_sim,
    token_for,
)

EVENT_ID = re.compile(r"^C2C_MESSAGE_CREATE:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                      r"[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# ------------------------------------------------------------------ handshake and Hello

def test_upgrade_answers_101_with_the_rfc6455_accept_key_then_hello() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    request = (b"GET /websocket HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n"
               b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")
    out = http.raw(request)
    # RFC 6455 §1.3 worked example: this key has this accept value.
    assert out == (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\n"
                   b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                   b"\x81\x2a" + b'{"op":10,"d":{"heartbeat_interval":41250}}')
    assert sim.counters.websockets == 1
    assert http.conn.link is not None and http.conn.link.state is LinkState.AWAITING_AUTH


def test_hello_carries_the_configured_heartbeat_interval() -> None:
    client = GatewayClient(make_sim(heartbeat_interval_ms=5000))
    assert client.received == [{"op": 10, "d": {"heartbeat_interval": 5000}}]


def test_frames_sent_in_the_same_packet_as_the_upgrade_are_processed() -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import Request, TextMessage
    from wsproto.frame_protocol import FrameProtocol

    sim = make_sim()
    ws = WSConnection(ConnectionType.CLIENT)
    conn = sim.new_connection(0.0)
    heartbeat = FrameProtocol(client=True, extensions=[]).send_data('{"op":1,"d":null}')
    conn.receive_data(ws.send(Request(host=HOST, target="/websocket")) + heartbeat, 0.0)
    ws.receive_data(conn.data_to_send())
    texts = [e.data for e in ws.events() if isinstance(e, TextMessage)]
    assert texts == ['{"op":10,"d":{"heartbeat_interval":41250}}', '{"op":11}']


def test_a_get_on_websocket_without_upgrade_headers_answers_426() -> None:
    reply = HttpClient(make_sim()).request("GET", "/websocket")
    assert reply.status == 426
    assert reply.json()["code"] == 426


# ------------------------------------------------------------------ Identify and READY

def test_identify_with_a_valid_token_gets_ready_with_seq_1() -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    frames = client.identify(token_for(sim), intents=C2C, shard=(0, 1))
    session_id = next(iter(sim.sessions))
    assert client.texts[-1] == (
        '{"op":0,"s":1,"t":"READY","d":{"version":1,"session_id":"' + session_id + '",'
        '"user":{"id":"11223344556677889900","username":"qqproto-sim-bot","bot":true},'
        '"shard":[0,1]}}')
    assert frames[0]["d"]["session_id"] == session_id
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        session_id)
    assert sim.counters.identifies == 1
    assert sim.session_start_remaining == sim.session_start_total - 1
    assert client.conn.link is not None and client.conn.link.state is LinkState.ACTIVE


def test_identify_without_shard_defaults_to_the_single_shard() -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    frames = client.send({"op": 2, "d": {"token": f"QQBot {token_for(sim)}",
                                         "intents": C2C}})
    assert frames[0]["d"]["shard"] == [0, 1]


@pytest.mark.parametrize("token", ["QQBot not-a-token", "Bot 1.abc", "", None, 42])
def test_identify_with_a_bad_token_closes_4004(token: object) -> None:
    sim = make_sim()
    token_for(sim)
    client = GatewayClient(sim)
    assert client.send({"op": 2, "d": {"token": token, "intents": C2C, "shard": [0, 1]}}) == []
    assert client.close is not None
    assert (client.close.code, client.close.reason) == (4004, "authentication failed")
    assert sim.counters.identifies == 0


def test_identify_with_the_bare_token_without_the_qqbot_prefix_closes_4004() -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    client.send({"op": 2, "d": {"token": token_for(sim), "intents": C2C}})
    assert client.close is not None and client.close.code == 4004


def test_identify_with_an_expired_token_closes_4004() -> None:
    sim = make_sim(token_lifetime=100)
    token = token_for(sim, 0.0)
    client = GatewayClient(sim, now=100.0)
    client.identify(token)
    assert client.close is not None and client.close.code == 4004


@pytest.mark.parametrize("intents", ["1", True, -1, 1 << 31, None, 1.5])
def test_identify_with_intents_that_are_not_a_31_bit_integer_closes_4002(
        intents: object) -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    client.send({"op": 2, "d": {"token": f"QQBot {token_for(sim)}", "intents": intents}})
    assert client.close is not None and client.close.code == 4002


@pytest.mark.parametrize("shard", [[1, 1], [0], "0,1", [-1, 2], [True, 1], [0, 0], [0, 65],
                                   None])
def test_identify_with_an_invalid_shard_closes_4010(shard: object) -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    client.send({"op": 2, "d": {"token": f"QQBot {token_for(sim)}", "intents": C2C,
                                "shard": shard}})
    assert client.close is not None and client.close.code == 4010


def test_identify_with_intents_beyond_the_allowed_mask_closes_4014() -> None:
    sim = make_sim(allowed_intents=C2C)
    client = GatewayClient(sim)
    client.identify(token_for(sim), intents=C2C | (1 << 26))
    assert client.close is not None and client.close.code == 4014


def test_a_second_identify_on_an_identified_connection_closes_4005() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    client.identify(token_for(sim))
    assert client.close is not None and client.close.code == 4005


def test_identify_payload_that_is_not_an_object_closes_4002() -> None:
    client = GatewayClient(make_sim())
    client.send({"op": 2, "d": "QQBot x"})
    assert client.close is not None and client.close.code == 4002


# ------------------------------------------------------------------ dispatches

def test_an_injected_c2c_message_is_a_dispatch_shaped_like_the_fact_sheet() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    event = sim.inject_c2c_message("USER_A", "hello there", now=2.0)
    frames = client.pump()
    assert len(frames) == 1
    frame = frames[0]
    assert list(frame) == ["op", "s", "t", "id", "d"]
    assert (frame["op"], frame["s"], frame["t"]) == (0, 2, "C2C_MESSAGE_CREATE")
    assert EVENT_ID.match(frame["id"]) and frame["id"] == event.id
    assert frame["d"] == {
        "id": event.data["id"],
        "content": "hello there",
        # now=2.0 with the default offset: 2025-01-01T00:00:02+08:00.
        "timestamp": "2025-01-01T00:00:02+08:00",
        "author": {"id": "USER_A", "user_openid": "USER_A", "union_openid": "USER_A"},
    }
    assert frame["d"]["id"].startswith("ROBOT1.0_")
    assert event.sessions == {next(iter(sim.sessions)): 2}


def test_a_group_at_message_keeps_the_space_left_by_the_removed_mention() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    sim.inject_group_at_message("GROUP_1", "MEMBER_1", "status please", now=0.0)
    (frame,) = client.pump()
    assert frame["t"] == "GROUP_AT_MESSAGE_CREATE"
    d = frame["d"]
    assert d["content"] == " status please"
    assert (d["group_id"], d["group_openid"]) == ("GROUP_1", "GROUP_1")
    assert d["author"] == {"id": "MEMBER_1", "member_openid": "MEMBER_1",
                           "union_openid": "MEMBER_1"}


def test_channel_and_dm_messages_carry_the_guild_message_object() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim, intents=(1 << 30) | (1 << 12) | (1 << 9))
    sim.inject_channel_message("CH1", "G1", "U1", "hi bot", now=0.0)
    sim.inject_channel_message("CH1", "G1", "U1", "plain", now=0.0, at_bot=False)
    sim.inject_dm_message("DMG", "U1", "psst", now=0.0, src_guild_id="G1")
    at, plain, dm = client.pump()
    assert at["t"] == "AT_MESSAGE_CREATE"
    assert at["d"]["content"] == "<@!11223344556677889900> hi bot"
    assert (at["d"]["channel_id"], at["d"]["guild_id"]) == ("CH1", "G1")
    assert at["d"]["seq_in_channel"] == "1" and plain["d"]["seq"] == 2
    assert at["d"]["author"]["bot"] is False
    assert plain["t"] == "MESSAGE_CREATE" and plain["d"]["content"] == "plain"
    assert dm["t"] == "DIRECT_MESSAGE_CREATE"
    assert dm["d"]["direct_message"] is True
    assert (dm["d"]["guild_id"], dm["d"]["src_guild_id"]) == ("DMG", "G1")


@pytest.mark.parametrize(("scene", "kwargs", "fields"), [
    ("c2c", {"user_openid": "U"}, {"user_openid": "U", "chat_type": 2}),
    ("group", {"group_openid": "G", "member_openid": "M"},
     {"group_openid": "G", "group_member_openid": "M", "chat_type": 1}),
    ("guild", {"guild_id": "1", "channel_id": "C", "user_id": "U"},
     {"guild_id": "1", "channel_id": "C", "chat_type": 0}),
])
def test_an_injected_interaction_has_the_scene_specific_fields(
        scene: str, kwargs: dict[str, str], fields: dict[str, object]) -> None:
    sim = make_sim()
    client, _ = connect_ready(sim, intents=1 << 26)
    event = sim.inject_interaction(scene, now=0.0, button_id="b1", button_data="go", **kwargs)
    (frame,) = client.pump()
    d = frame["d"]
    assert frame["t"] == "INTERACTION_CREATE" and d["id"] == event.data["id"]
    assert d["scene"] == scene and d["type"] == 11 and d["version"] == 1
    assert d["application_id"] == sim.app_id
    assert d["data"]["resolved"]["button_id"] == "b1"
    assert d["data"]["resolved"]["button_data"] == "go"
    for key, value in fields.items():
        assert d[key] == value


def test_an_interaction_in_an_unknown_scene_is_refused() -> None:
    with pytest.raises(ValueError, match="scene"):
        make_sim().inject_interaction("space", now=0.0)


def test_generic_dispatch_sends_any_type_with_the_given_payload() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    event = sim.dispatch("FRIEND_ADD", {"openid": "U", "timestamp": 1699240365}, now=0.0,
                         event_id="FRIEND_ADD:fixed")
    client.pump()
    assert client.texts[-1] == ('{"op":0,"s":2,"t":"FRIEND_ADD","id":"FRIEND_ADD:fixed",'
                                '"d":{"openid":"U","timestamp":1699240365}}')
    assert event.id == "FRIEND_ADD:fixed"


def test_dispatch_rejects_an_empty_type() -> None:
    with pytest.raises(ValueError):
        make_sim().dispatch("", {}, now=0.0)


def test_seqs_are_per_session_and_strictly_increasing() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    sim.dispatch_many([("C2C_MESSAGE_CREATE", {"n": n}) for n in range(5)], now=0.0)
    assert [f["s"] for f in client.pump()] == [2, 3, 4, 5, 6]
    other, ready = connect_ready(sim, shard=(0, 2))
    assert ready["s"] == 1
    sim.inject_c2c_message("U", "x", now=0.0)
    # Group/C2C events go to shard 0 of each shard layout (gateway.md §10).
    assert client.pump()[0]["s"] == 7 and other.pump()[0]["s"] == 2


def test_events_the_session_did_not_subscribe_to_are_filtered() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim, intents=C2C)
    event = sim.inject_channel_message("CH", "1", "U", "hi", now=0.0)
    assert client.pump() == [] and event.sessions == {}
    assert sim.counters.filtered_events == 1


def test_guild_events_go_to_the_shard_of_their_guild_id() -> None:
    sim = make_sim()
    shard0, _ = connect_ready(sim, intents=1 << 30, shard=(0, 2))
    shard1, _ = connect_ready(sim, intents=1 << 30, shard=(1, 2))
    guild = str((7 << 22) | 5)  # (guild_id >> 22) % 2 == 1
    sim.inject_channel_message("CH", guild, "U", "hi", now=0.0)
    assert shard0.pump() == [] and len(shard1.pump()) == 1


def test_events_injected_before_any_identify_are_delivered_after_ready() -> None:
    sim = make_sim()
    early = sim.inject_c2c_message("U", "early", now=0.0)
    assert early.sessions == {}
    client = GatewayClient(sim)
    frames = client.identify(token_for(sim))
    assert [f["t"] for f in frames] == ["READY", "C2C_MESSAGE_CREATE"]
    assert frames[1]["id"] == early.id and frames[1]["s"] == 2


# ------------------------------------------------------------------ heartbeats

def test_a_heartbeat_is_acknowledged_with_op_11() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    assert client.heartbeat(1) == [{"op": 11}]
    assert client.texts[-1] == '{"op":11}'
    assert (sim.counters.heartbeats, sim.counters.heartbeat_acks) == (1, 1)


def test_a_heartbeat_before_identify_is_acknowledged_too() -> None:
    client = GatewayClient(make_sim())
    assert client.heartbeat(None) == [{"op": 11}]


def test_missing_heartbeats_close_4009_after_the_interval_times_the_factor() -> None:
    sim = make_sim(heartbeat_interval_ms=10_000, heartbeat_timeout_factor=2.0)
    client, _ = connect_ready(sim, now=5.0)
    assert sim.get_timer() == 25.0
    client.at(20.0).heartbeat(1)
    assert sim.get_timer() == 40.0
    client.fire_timers(39.9)
    assert client.close is None
    client.fire_timers(sim.get_timer() or 0.0)
    assert client.close is not None
    assert (client.close.code, client.close.reason) == (4009, "heartbeat timeout")
    assert sim.counters.heartbeat_timeouts == 1
    # The client echoed the close: the server closes TCP and keeps the session.
    assert client.conn.should_close
    assert len(sim.sessions) == 1


def test_no_heartbeat_timeout_when_the_factor_is_none() -> None:
    sim = make_sim(heartbeat_timeout_factor=None)
    connect_ready(sim)
    assert sim.get_timer() is None


# ------------------------------------------------------------------ Resume

def test_resume_replays_every_missed_event_with_original_ids_then_resumed() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    session_id = ready["d"]["session_id"]
    sim.inject_c2c_message("U", "seen", now=1.0)
    client.pump()
    client.at(2.0).eof()
    missed = [sim.inject_c2c_message("U", f"missed {n}", now=3.0) for n in range(3)]
    again = GatewayClient(sim, now=4.0)
    frames = again.resume(token_for(sim, 4.0), session_id, 2)
    assert [(f["s"], f["t"], f.get("id")) for f in frames] == [
        (3, "C2C_MESSAGE_CREATE", missed[0].id),
        (4, "C2C_MESSAGE_CREATE", missed[1].id),
        (5, "C2C_MESSAGE_CREATE", missed[2].id),
        (6, "RESUMED", None),
    ]
    assert again.texts[-1] == '{"op":0,"s":6,"t":"RESUMED","d":""}'
    assert [f["d"]["content"] for f in frames[:3]] == ["missed 0", "missed 1", "missed 2"]
    assert (sim.counters.resumes, sim.counters.replayed_events) == (1, 3)
    assert sim.counters.lost_events == 0
    # Live again: the next event goes out with the next seq.
    sim.inject_c2c_message("U", "live", now=5.0)
    assert again.pump()[0]["s"] == 7


def test_resume_with_an_older_seq_replays_delivered_events_too() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    for n in range(3):
        sim.inject_c2c_message("U", str(n), now=0.0)
    client.pump()
    client.eof()
    frames = GatewayClient(sim).resume(token_for(sim), ready["d"]["session_id"], 2)
    assert [f["s"] for f in frames] == [3, 4, 5]


def test_resume_with_a_null_seq_replays_the_whole_buffer() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    sim.inject_c2c_message("U", "a", now=0.0)
    client.eof()
    frames = GatewayClient(sim).resume(token_for(sim), ready["d"]["session_id"], None)
    assert [f["t"] for f in frames] == ["C2C_MESSAGE_CREATE", "RESUMED"]


def test_resume_of_an_unknown_session_gets_op_9_false_and_may_identify_again() -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    assert client.resume(token_for(sim), "no-such-session", 3) == [{"op": 9, "d": False}]
    assert client.close is None
    assert sim.counters.resumes_rejected == 1
    assert client.identify(token_for(sim))[0]["t"] == "READY"


@pytest.mark.parametrize("seq", [99, -1])
def test_resume_with_a_seq_outside_the_session_closes_4007(seq: int) -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    client.eof()
    again = GatewayClient(sim)
    again.resume(token_for(sim), ready["d"]["session_id"], seq)
    assert again.close is not None and again.close.code == 4007


def test_resume_with_a_bad_token_closes_4004_and_keeps_the_session() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    client.eof()
    again = GatewayClient(sim)
    again.resume("wrong", ready["d"]["session_id"], 1)
    assert again.close is not None and again.close.code == 4004
    third = GatewayClient(sim)
    assert third.resume(token_for(sim), ready["d"]["session_id"], 1)[-1]["t"] == "RESUMED"


@pytest.mark.parametrize("d", [[], {"token": None}, {"session_id": 5, "seq": 1},
                               {"session_id": "s", "seq": "1"}])
def test_resume_with_a_malformed_payload_closes_4002(d: object) -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    if isinstance(d, dict) and "session_id" in d:
        d = {**d, "token": f"QQBot {token_for(sim)}"}
    client.send({"op": 6, "d": d})
    assert client.close is not None and client.close.code in (4002, 4004)


def test_resume_on_an_identified_connection_closes_4005() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    client.resume(token_for(sim), ready["d"]["session_id"], 1)
    assert client.close is not None and client.close.code == 4005


def test_resume_while_the_old_connection_still_looks_alive_closes_the_old_one() -> None:
    sim = make_sim()
    old, ready = connect_ready(sim)
    new = GatewayClient(sim)
    assert new.resume(token_for(sim), ready["d"]["session_id"], 1)[-1]["t"] == "RESUMED"
    old.pump()
    assert old.close is not None and old.close.code == 4009
    sim.inject_c2c_message("U", "x", now=0.0)
    assert old.pump() == [] and len(new.pump()) == 1


def test_a_new_identify_loses_the_events_buffered_for_the_old_session() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    sim.inject_c2c_message("U", "delivered", now=0.0)
    client.pump()
    client.eof()
    for n in range(3):
        sim.inject_c2c_message("U", f"missed {n}", now=1.0)
    _fresh, new_ready = connect_ready(sim, now=2.0)
    assert new_ready["d"]["session_id"] != ready["d"]["session_id"]
    assert new_ready["s"] == 1
    assert sim.counters.lost_events == 3
    # The old session is gone: resuming it is refused.
    late = GatewayClient(sim)
    assert late.resume(token_for(sim), ready["d"]["session_id"], 2) == [{"op": 9, "d": False}]


def test_events_queued_but_never_flushed_before_a_drop_count_as_lost() -> None:
    sim = make_sim()
    connect_ready(sim)
    sim.inject_c2c_message("U", "never flushed", now=0.0)
    sim.drop_connections(0.0)
    connect_ready(sim)
    assert sim.counters.lost_events == 1


def test_a_new_identify_closes_a_connection_still_attached_to_the_old_session() -> None:
    sim = make_sim()
    old, _ = connect_ready(sim)
    connect_ready(sim)
    old.pump()
    assert old.close is not None and old.close.code == 4009


def test_a_full_replay_buffer_drops_the_oldest_and_counts_undelivered_ones_lost() -> None:
    sim = make_sim(replay_buffer_size=3)
    client, ready = connect_ready(sim)
    client.eof()
    events = [sim.inject_c2c_message("U", str(n), now=0.0) for n in range(5)]
    assert sim.counters.lost_events == 2
    frames = GatewayClient(sim).resume(token_for(sim), ready["d"]["session_id"], 1)
    assert [f.get("id") for f in frames[:-1]] == [e.id for e in events[2:]]


def test_sessions_beyond_max_sessions_evict_the_oldest() -> None:
    sim = make_sim(max_sessions=2)
    connect_ready(sim, shard=(0, 1))
    connect_ready(sim, shard=(0, 2))
    connect_ready(sim, shard=(0, 3))
    assert len(sim.sessions) == 2
    assert sorted(s.shard for s in sim.sessions.values()) == [(0, 2), (0, 3)]


def test_events_waiting_for_a_first_session_are_bounded() -> None:
    sim = make_sim(replay_buffer_size=2)
    for n in range(3):
        sim.inject_c2c_message("U", str(n), now=0.0)
    assert sim.counters.lost_events == 1
    client = GatewayClient(sim)
    assert [f["d"].get("content") for f in client.identify(token_for(sim))[1:]] == ["1", "2"]


# ------------------------------------------------------------------ protocol errors

@pytest.mark.parametrize(("text", "code"), [
    ("not json", 4002),
    ("[1, 2]", 4002),
    ('{"op": "1"}', 4002),
    ('{"d": 1}', 4002),
    ('{"op": 7}', 4001),
    ('{"op": 42, "d": {}}', 4001),
])
def test_malformed_or_unexpected_client_frames_close_with_the_matching_code(
        text: str, code: int) -> None:
    client = GatewayClient(make_sim())
    client.send_text(text)
    assert client.close is not None and client.close.code == code


def test_a_binary_frame_closes_4002_and_is_recorded() -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    client.send_bytes(b"\x01\x02")
    assert client.close is not None and client.close.code == 4002
    binary = [f for f in sim.frames if f.kind is FrameKind.BINARY]
    assert [(f.direction, f.raw) for f in binary] == [(Direction.IN, b"\x01\x02")]


def test_a_message_over_the_size_limit_closes_1009() -> None:
    client = GatewayClient(make_sim(max_ws_message_size=64))
    client.send_text('{"op":1,"d":' + "1" * 100 + "}")
    assert client.close is not None and client.close.code == 1009


def test_a_ping_is_answered_with_a_pong() -> None:
    client = GatewayClient(make_sim())
    client.ping(b"abc")
    assert client.pongs == [b"abc"]


def test_a_client_close_is_echoed_and_the_connection_closes() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    from wsproto.events import CloseConnection

    client.conn.receive_data(client.ws.send(CloseConnection(code=1000, reason="bye")), 0.0)
    client.pump()
    assert client.close is not None and client.close.code == 1000
    assert client.conn.should_close and not client.conn.should_abort
    assert sim.sessions[ready["d"]["session_id"]].link is None
    closes = [f for f in sim.frames if f.kind is FrameKind.CLOSE]
    assert [(f.direction, f.close_code, f.raw) for f in closes] == [
        (Direction.IN, 1000, b"bye")]


def test_eof_detaches_the_session_so_events_are_buffered() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    client.eof()
    assert client.conn.should_close and sim.connections == ()
    event = sim.inject_c2c_message("U", "x", now=0.0)
    session = sim.sessions[ready["d"]["session_id"]]
    assert event.sessions == {session.session_id: 2}
    assert session.link is None and len(session.buffer) == 1
    assert session.undelivered() == 1


def test_a_server_close_that_the_client_never_answers_closes_tcp_after_the_timeout() -> None:
    sim = make_sim(close_timeout=5.0)
    client, _ = connect_ready(sim)
    client.echo_close = False
    sim.close_connections(4009, now=10.0)
    client.pump()
    assert client.close is not None and not client.conn.should_close
    assert sim.get_timer() == 15.0
    client.fire_timers(15.0)
    assert client.conn.should_close


def test_data_after_the_connection_closed_is_ignored() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    client.eof()
    client.conn.receive_data(b"\x81\x00", 0.0)
    assert client.conn.data_to_send() == b""


def test_garbage_bytes_on_the_websocket_close_with_a_protocol_error() -> None:
    client = GatewayClient(make_sim())
    # An unmasked client frame violates RFC 6455 §5.1.
    client.conn.receive_data(b"\x81\x02hi", 0.0)
    client.pump()
    assert client.close is not None and client.close.code == 1002
    assert client.conn.should_close
    assert client.conn.link is not None and client.conn.link.state is LinkState.CLOSED


def test_every_frame_both_ways_is_recorded_in_order() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    client.heartbeat(1)
    record = [(f.direction, f.op, f.t) for f in sim.frames]
    assert record == [
        (Direction.OUT, 10, None),
        (Direction.IN, 2, None),
        (Direction.OUT, 0, "READY"),
        (Direction.IN, 1, None),
        (Direction.OUT, 11, None),
    ]
    assert all(f.connection_id == client.conn.id for f in sim.frames)


def test_a_closing_link_records_but_does_not_answer_client_frames() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    client.echo_close = False
    sim.close_connections(4009, now=0.0)
    client.pump()
    link = client.conn.link
    assert link is not None and link.state is LinkState.CLOSING
    sent_before = len(sim.frames)
    # wsproto lets a client that has not answered the close keep talking.
    client.conn.receive_data(b"\x81\x91\x00\x00\x00\x00" + b'{"op":1,"d":null}', 0.0)
    assert client.conn.data_to_send() == b""
    assert [(f.direction, f.op) for f in list(sim.frames)[sent_before:]] == [
        (Direction.IN, 1)]
    link.send_text(b'{"op":11}', 0.0)
    assert client.conn.data_to_send() == b""


def test_a_fragmented_binary_message_over_the_limit_closes_4002() -> None:
    sim = make_sim(max_ws_message_size=8)
    client = GatewayClient(sim)
    from wsproto.events import BytesMessage

    client.conn.receive_data(client.ws.send(BytesMessage(data=b"x" * 6,
                                                         message_finished=False)), 0.0)
    client.conn.receive_data(client.ws.send(BytesMessage(data=b"y" * 6,
                                                         message_finished=False)), 0.0)
    client.pump()
    assert client.close is not None and client.close.code == 4002


def test_op_9_false_before_identify_leaves_the_connection_waiting_for_identify() -> None:
    sim = make_sim()
    client = GatewayClient(sim)
    assert sim.send_invalid_session(False, now=0.0) == 1
    assert client.pump() == [{"op": 9, "d": False}]
    assert client.identify(token_for(sim))[0]["t"] == "READY"


def test_retiring_a_session_twice_counts_its_losses_once() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    client.eof()
    sim.inject_c2c_message("U", "x", now=0.0)
    session = sim.sessions[ready["d"]["session_id"]]
    sim.retire_session(session)
    sim.retire_session(session)
    assert sim.counters.lost_events == 1 and sim.sessions == {}


def test_listeners_see_every_dispatched_event_with_its_time() -> None:
    sim = make_sim()
    seen: list[tuple[str, float]] = []
    sim.listeners.append(lambda event, now: seen.append((event.type, now)))
    sim.inject_c2c_message("U", "x", now=1.5)
    sim.dispatch("FRIEND_ADD", {"openid": "U", "timestamp": 1}, now=2.5)
    assert seen == [("C2C_MESSAGE_CREATE", 1.5), ("FRIEND_ADD", 2.5)]


def test_the_upgrade_also_works_on_the_production_spelling_with_a_slash() -> None:
    client = GatewayClient(make_sim(), target="/websocket/")
    assert client.accepted and client.received[0]["op"] == 10


def test_prepared_events_go_out_later_with_their_ids_and_fresh_seqs() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    prepared = sim.prepare_c2c_messages("U", ["a", "b", "c"], now=1.0)
    assert client.pump() == []  # preparing sends nothing
    seen: list[str] = []
    sim.listeners.append(lambda event, now: seen.append(event.id))
    assert sim.dispatch_prepared(prepared, now=2.0) == 3
    frames = client.pump()
    assert [(f["s"], f["id"], f["d"]["content"]) for f in frames] == [
        (2, prepared[0].id, "a"), (3, prepared[1].id, "b"), (4, prepared[2].id, "c")]
    assert client.texts[-1].encode().endswith(b',"d":' + prepared[2].d_json + b"}")
    assert seen == [e.id for e in prepared]
    assert repr(prepared[0]).startswith("PreparedEvent('C2C_MESSAGE_CREATE', ")


def test_a_prepared_event_keeps_a_given_id_and_refuses_an_empty_type() -> None:
    sim = make_sim()
    assert sim.prepare("FRIEND_ADD", {}, event_id="FRIEND_ADD:1").id == "FRIEND_ADD:1"
    with pytest.raises(ValueError):
        sim.prepare("", {})
