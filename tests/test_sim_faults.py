"""Scripted faults: each one observed byte- or frame-exactly from a raw client."""

from __future__ import annotations

import pytest

from qqproto.simulator._faults import Faults
from qqproto.simulator._records import Direction, FrameKind

from .test_sim_harness import (
    GatewayClient,
    HttpClient,
    connect_ready,
    make_sim,
    token_for,
)

# ------------------------------------------------------------------ immediate faults


def test_drop_connections_resets_tcp_without_a_close_frame_and_keeps_the_session() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    sim.inject_c2c_message("U", "queued", now=0.0)
    assert sim.drop_connections(1.0) == 1
    assert client.conn.should_abort and client.conn.data_to_send() == b""
    assert sim.connections == ()
    assert sim.counters.faults_fired == 1
    # The session survives; the unflushed event is replayed on Resume.
    frames = GatewayClient(sim).resume(token_for(sim), ready["d"]["session_id"], 1)
    assert [f["t"] for f in frames] == ["C2C_MESSAGE_CREATE", "RESUMED"]


def test_drop_connections_leaves_http_connections_unless_asked() -> None:
    sim = make_sim()
    http = HttpClient(sim)
    connect_ready(sim)
    assert sim.drop_connections(0.0) == 1 and not http.conn.should_abort
    assert sim.drop_connections(0.0, gateway_only=False) == 1 and http.conn.should_abort


@pytest.mark.parametrize("code", [4009, 4914, 4915, 4900, 1000])
def test_close_connections_sends_a_close_frame_with_any_code(code: int) -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    assert sim.close_connections(code, "scripted", now=0.0) == 1
    client.pump()
    assert client.close is not None
    assert (client.close.code, client.close.reason) == (code, "scripted")
    assert client.conn.should_close
    out_closes = [f for f in sim.frames if f.kind is FrameKind.CLOSE
                  and f.direction is Direction.OUT]
    assert [(f.close_code, f.raw) for f in out_closes] == [(code, b"scripted")]


def test_send_reconnect_sends_op_7_and_keeps_the_connection_open() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    sim.send_reconnect(0.0)
    assert client.pump() == [{"op": 7}] and client.texts[-1] == '{"op":7}'
    assert client.close is None


def test_op_9_true_keeps_the_session_resumable() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    sim.send_invalid_session(True, now=0.0)
    assert client.pump() == [{"op": 9, "d": True}]
    client.eof()
    frames = GatewayClient(sim).resume(token_for(sim), ready["d"]["session_id"], 1)
    assert frames[-1]["t"] == "RESUMED"


def test_op_9_false_invalidates_the_session_and_allows_identify_on_the_same_socket() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    sim.send_invalid_session(False, now=0.0)
    assert client.pump() == [{"op": 9, "d": False}]
    assert ready["d"]["session_id"] not in sim.sessions
    assert sim.counters.invalid_sessions == 1
    assert client.identify(token_for(sim))[0]["t"] == "READY"


@pytest.mark.parametrize(("kind", "expected"), [
    ("text", "this is not JSON {"),
    ("binary", b"\x00\xffnot a text frame"),
    ("array", [0, 1, 2]),
    ("unknown-op", {"op": 99, "d": {}}),
    ("no-op", {"d": {"heartbeat_interval": 1}}),
])
def test_send_garbage_sends_a_frame_a_robust_client_must_survive(kind: str,
                                                                 expected: object) -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    sim.send_garbage(kind, now=0.0)
    assert client.pump() == [expected]


def test_send_garbage_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="garbage"):
        make_sim().send_garbage("poetry", now=0.0)


def test_immediate_faults_skip_connections_that_are_already_closing() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    client.echo_close = False
    sim.close_connections(4009, now=0.0)
    assert sim.send_reconnect(0.0) == 0
    assert sim.close_connections(4000, now=0.0) == 0


def test_invalidated_tokens_make_identify_close_4004_and_rest_answer_401() -> None:
    sim = make_sim()
    token = token_for(sim)
    sim.invalidate_tokens()
    client = GatewayClient(sim)
    client.identify(token)
    assert client.close is not None and client.close.code == 4004
    assert HttpClient(sim).request("GET", "/gateway", token=token).status == 401
    # A fresh token works again.
    assert token_for(sim) != token
    assert HttpClient(sim).request("GET", "/gateway", token=token_for(sim)).status == 200


# ------------------------------------------------------------------ standing faults

def test_stopped_heartbeat_acks_are_recorded_but_unanswered() -> None:
    sim = make_sim()
    client, _ = connect_ready(sim)
    sim.faults.ack_heartbeats = False
    assert client.heartbeat(1) == []
    assert (sim.counters.heartbeats, sim.counters.heartbeat_acks) == (1, 0)
    assert [f.op for f in sim.frames if f.direction is Direction.IN][-1] == 1


def test_close_on_missed_heartbeats_can_be_switched_off() -> None:
    sim = make_sim(heartbeat_interval_ms=1000)
    client, _ = connect_ready(sim)
    sim.faults.close_on_missed_heartbeats = False
    client.fire_timers(sim.get_timer() or 0.0)
    assert client.close is None and sim.get_timer() is None


def test_frame_delay_holds_frames_back_in_order_until_the_timer() -> None:
    sim = make_sim(heartbeat_timeout_factor=None)
    client, _ = connect_ready(sim)
    sim.faults.frame_delay = 3.0
    first = sim.inject_c2c_message("U", "one", now=10.0)
    sim.faults.frame_delay = 0.0
    second = sim.inject_c2c_message("U", "two", now=11.0)
    assert client.pump() == []
    assert sim.get_timer() == 13.0
    assert [f["id"] for f in client.fire_timers(13.0)] == [first.id, second.id]
    assert sim.get_timer() is None


def test_frame_delay_applies_to_hello() -> None:
    sim = make_sim(heartbeat_timeout_factor=None)
    sim.faults.frame_delay = 2.0
    client = GatewayClient(sim, now=1.0)
    assert client.accepted and client.received == []
    assert client.fire_timers(3.0) == [{"op": 10, "d": {"heartbeat_interval": 41250}}]


def test_a_delayed_close_follows_the_delayed_frames() -> None:
    sim = make_sim(heartbeat_timeout_factor=None, close_timeout=5.0)
    client, _ = connect_ready(sim)
    sim.faults.frame_delay = 1.0
    sim.inject_c2c_message("U", "last words", now=0.0)
    sim.close_connections(4009, now=0.0)
    assert client.pump() == [] and client.close is None
    frames = client.fire_timers(1.0)
    assert [f["t"] for f in frames] == ["C2C_MESSAGE_CREATE"]
    assert client.close is not None and client.close.code == 4009


def test_events_held_by_a_delay_are_not_delivered_until_they_leave() -> None:
    sim = make_sim(heartbeat_timeout_factor=None)
    client, _ = connect_ready(sim)
    sim.faults.frame_delay = 5.0
    sim.inject_c2c_message("U", "held", now=0.0)
    sim.drop_connections(1.0)
    sim.faults.frame_delay = 0.0
    connect_ready(sim)
    assert sim.counters.lost_events == 1
    assert client.conn.should_abort


def test_refuse_identify_closes_every_identify_with_the_configured_code() -> None:
    sim = make_sim()
    sim.faults.refuse_identify = 4914
    for _ in range(2):
        client = GatewayClient(sim)
        client.identify(token_for(sim))
        assert client.close is not None and client.close.code == 4914
    assert sim.counters.identifies == 0
    sim.faults.refuse_identify = None
    connect_ready(sim)


def test_unknown_session_can_be_answered_with_a_close_code_instead_of_op_9() -> None:
    sim = make_sim()
    sim.faults.unknown_session_close_code = 4006
    client = GatewayClient(sim)
    client.resume(token_for(sim), "nope", 1)
    assert client.close is not None and client.close.code == 4006


def test_faults_reset_restores_correct_behaviour() -> None:
    faults = Faults(ack_heartbeats=False, frame_delay=2.0, reject_resumes=3,
                    refuse_identify=4915, rate_limit_gateway=1)
    faults.reset()
    assert faults == Faults()


# ------------------------------------------------------------------ counted faults

def test_a_rejected_resume_closes_4902_and_the_next_identify_loses_the_events() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    client.eof()
    for n in range(2):
        sim.inject_c2c_message("U", str(n), now=0.0)
    sim.faults.reject_resumes = 1
    again = GatewayClient(sim)
    assert again.resume(token_for(sim), ready["d"]["session_id"], 1) == []
    assert again.close is not None and again.close.code == 4902
    assert sim.faults.reject_resumes == 0
    assert sim.counters.resumes_rejected == 1 and sim.counters.lost_events == 2
    assert connect_ready(sim)[1]["t"] == "READY"


def test_a_rejected_resume_can_be_answered_with_op_9_false() -> None:
    sim = make_sim()
    client, ready = connect_ready(sim)
    client.eof()
    sim.faults.reject_resumes = 1
    sim.faults.resume_reject_code = None
    again = GatewayClient(sim)
    assert again.resume(token_for(sim), ready["d"]["session_id"], 1) == [{"op": 9,
                                                                            "d": False}]
    assert again.identify(token_for(sim))[0]["t"] == "READY"


def test_rate_limited_gateway_answers_429_for_the_next_n_calls() -> None:
    sim = make_sim()
    sim.faults.rate_limit_gateway = 2
    http = HttpClient(sim)
    token = token_for(sim)
    first = http.request("GET", "/gateway", token=token)
    second = http.request("GET", "/gateway/bot", token=token)
    third = http.request("GET", "/gateway", token=token)
    assert (first.status, second.status, third.status) == (429, 429, 200)
    assert first.json() == {"code": 100001, "message": "too many requests",
                            "err_code": 100001, "trace_id": first.headers["x-tps-trace-id"]}


def test_rejected_credentials_answer_100016_under_http_200_for_the_next_n_calls() -> None:
    sim = make_sim()
    sim.faults.reject_credentials = 1
    http = HttpClient(sim)
    body = {"appId": sim.app_id, "clientSecret": "qqproto-simulator-secret"}
    refused = http.request("POST", "/app/getAppAccessToken", json_body=body)
    accepted = http.request("POST", "/app/getAppAccessToken", json_body=body)
    assert refused.status == 200 and refused.json()["code"] == 100016
    assert "access_token" in accepted.json()
