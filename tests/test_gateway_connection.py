"""GatewayConnection: one gateway WebSocket, byte-exact and event-exact."""

from __future__ import annotations

import sys

import pytest
from wsproto.events import CloseConnection, Ping, Pong

from qqproto.errors import LocalProtocolError, RemoteProtocolError
from qqproto.events import (
    BotUser,
    ConnectionEnded,
    Dispatch,
    EndCause,
    HeartbeatAcknowledged,
    NextStep,
    Ready,
    Resumed,
    UnknownOpcode,
)
from qqproto.gateway._connection import CLOSE_RESUMABLE, ConnectionState, GatewayConnection
from qqproto.gateway._snapshot import SessionSnapshot

from .gateway_peer import GatewayPeer, drain, open_ready

TOKEN = "TOKEN-abc"
PROPS = {"$os": sys.platform, "$browser": "qqproto", "$device": "qqproto"}


def make(**kw: object) -> GatewayConnection:
    params: dict[str, object] = {"url": "wss://api.sgroup.qq.com/websocket/", "token": TOKEN,
                                 "intents": 1174409216}
    params.update(kw)
    return GatewayConnection(**params)  # type: ignore[arg-type]


def snapshot(seq: int | None = 41) -> SessionSnapshot:
    return SessionSnapshot(session_id="sess-old", seq=seq, intents=1174409216,
                           bot_user_id="bot-1", bot_username="demo-bot")


# ---------------------------------------------------------------- upgrade request

def test_initiate_writes_the_upgrade_request_for_the_gateway_path_and_query() -> None:
    conn = make(url="wss://gw.example:8443/websocket/?v=2&x=y")
    conn.initiate(0.0)
    data = conn.data_to_send()
    head = data.split(b"\r\n")
    assert head[0] == b"GET /websocket/?v=2&x=y HTTP/1.1"
    assert b"host: gw.example:8443" in [h.lower() for h in head]
    assert any(h.lower().startswith(b"sec-websocket-key: ") for h in head)
    assert b"upgrade: websocket" in [h.lower() for h in head]
    assert b"user-agent: qqproto" in [h.lower() for h in head]
    assert conn.state is ConnectionState.CONNECTING


def test_host_header_omits_the_default_port() -> None:
    conn = make(url="wss://api.sgroup.qq.com:443/websocket")
    conn.initiate(0.0)
    assert b"host: api.sgroup.qq.com\r\n" in conn.data_to_send().lower()


def test_plain_ws_url_with_empty_path_asks_for_root() -> None:
    conn = make(url="ws://127.0.0.1:9000")
    conn.initiate(0.0)
    assert conn.data_to_send().startswith(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("url", ["https://api.sgroup.qq.com/websocket", "wss://", "ftp://x/y"])
def test_non_websocket_url_is_refused(url: str) -> None:
    with pytest.raises(LocalProtocolError):
        make(url=url)


def test_bad_shard_and_bad_factor_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        make(shard=(1, 1))
    with pytest.raises(LocalProtocolError):
        make(heartbeat_factor=0)
    with pytest.raises(LocalProtocolError):
        make(max_message_size=10)


def test_initiate_twice_is_a_local_error() -> None:
    conn = make()
    conn.initiate(0.0)
    with pytest.raises(LocalProtocolError):
        conn.initiate(0.0)


def test_receive_data_before_initiate_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        make().receive_data(b"x", 0.0)


# ---------------------------------------------------------------- Hello → Identify → READY

def test_hello_is_answered_with_a_byte_exact_identify() -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    assert conn.state is ConnectionState.AWAITING_HELLO
    peer.hello(1.0, 45000)
    assert peer.raw_texts == [
        '{"op":2,"d":{"token":"QQBot TOKEN-abc","intents":1174409216,"shard":[0,1],'
        '"properties":{"$os":"' + sys.platform + '","$browser":"qqproto","$device":"qqproto"}}}'
    ]
    assert conn.state is ConnectionState.IDENTIFYING


def test_identify_carries_custom_properties_and_shard() -> None:
    conn = make(shard=(2, 4), properties={"$os": "linux"}, intents=513)
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    assert peer.raw_texts == ['{"op":2,"d":{"token":"QQBot TOKEN-abc","intents":513,'
                              '"shard":[2,4],"properties":{"$os":"linux"}}}']


def test_ready_produces_a_ready_event_and_opens_the_session() -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    peer.ready(0.5, seq=1)
    assert drain(conn) == [Ready(
        type="READY", seq=1, id=None,
        data={"version": 1, "session_id": "sess-1",
              "user": {"id": "bot-1", "username": "demo-bot", "bot": True}, "shard": [0, 1]},
        session_id="sess-1", user=BotUser(id="bot-1", username="demo-bot", bot=True),
        shard=(0, 1), version=1)]
    assert conn.state is ConnectionState.OPEN
    assert conn.session == SessionSnapshot(session_id="sess-1", seq=1, intents=1174409216,
                                           bot_user_id="bot-1", bot_username="demo-bot")


def test_frames_arriving_with_the_101_are_processed() -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.pump_from_client()
    from wsproto.events import AcceptConnection, TextMessage
    data = peer.ws.send(AcceptConnection()) + peer.ws.send(
        TextMessage(data='{"op":10,"d":{"heartbeat_interval":45000}}'))
    peer.to_client(data, 0.0)
    assert conn.state is ConnectionState.IDENTIFYING
    assert peer.received[0]["op"] == 2


def test_dispatches_become_dispatch_events_with_type_seq_id_and_data() -> None:
    conn = make()
    peer = open_ready(conn)
    peer.dispatch(1.0, seq=2, event_id="C2C_MESSAGE_CREATE:abc",
                  d={"id": "ROBOT1.0_x", "content": "hello"})
    assert drain(conn) == [Dispatch(type="C2C_MESSAGE_CREATE", seq=2,
                                    id="C2C_MESSAGE_CREATE:abc",
                                    data={"id": "ROBOT1.0_x", "content": "hello"})]
    assert conn.last_seq == 2


def test_dispatch_without_s_and_id_keeps_the_last_seq() -> None:
    conn = make()
    peer = open_ready(conn, seq=7)
    peer.send_json({"op": 0, "t": "GUILD_CREATE", "d": {"id": "g"}}, 1.0)
    assert drain(conn) == [Dispatch(type="GUILD_CREATE", seq=None, id=None, data={"id": "g"})]
    assert conn.last_seq == 7


def test_seq_never_moves_backwards() -> None:
    conn = make()
    peer = open_ready(conn, seq=10)
    peer.dispatch(1.0, seq=5)
    assert conn.last_seq == 10
    peer.dispatch(1.0, seq=11)
    assert conn.last_seq == 11


def test_fragmented_messages_are_reassembled() -> None:
    conn = make()
    peer = open_ready(conn)
    from wsproto.events import TextMessage
    text = '{"op":0,"s":2,"t":"AT_MESSAGE_CREATE","id":"e","d":{"content":"' + "x" * 50 + '"}}'
    data = (peer.ws.send(TextMessage(data=text[:20], message_finished=False))
            + peer.ws.send(TextMessage(data=text[20:40], message_finished=False))
            + peer.ws.send(TextMessage(data=text[40:], message_finished=True)))
    peer.to_client(data, 1.0)
    assert drain(conn) == [Dispatch(type="AT_MESSAGE_CREATE", seq=2, id="e",
                                    data={"content": "x" * 50})]


def test_byte_by_byte_feeding_gives_the_same_events() -> None:
    conn = make()
    peer = open_ready(conn)
    from wsproto.events import TextMessage
    data = b"".join(peer.ws.send(TextMessage(data=f'{{"op":0,"s":{i},"t":"T","d":{i}}}'))
                    for i in range(2, 6))
    for i in range(len(data)):
        conn.receive_data(data[i:i + 1], 1.0)
    assert [e.seq for e in drain(conn)] == [2, 3, 4, 5]


def test_pings_are_answered_with_pongs() -> None:
    conn = make()
    peer = open_ready(conn)
    peer.to_client(peer.ws.send(Ping(payload=b"are you there")), 1.0)
    assert peer.take() == [Pong(payload=b"are you there")]


# ---------------------------------------------------------------- resume

def test_hello_with_a_snapshot_sends_a_byte_exact_resume() -> None:
    conn = make(resume=snapshot(seq=41))
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    assert peer.raw_texts == ['{"op":6,"d":{"token":"QQBot TOKEN-abc",'
                              '"session_id":"sess-old","seq":41}}']
    assert conn.state is ConnectionState.RESUMING


def test_resume_with_no_recorded_seq_sends_zero() -> None:
    conn = make(resume=snapshot(seq=None))
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    assert peer.received[0]["d"]["seq"] == 0


def test_replayed_dispatches_then_resumed_with_empty_string_data() -> None:
    conn = make(resume=snapshot(seq=41))
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    peer.dispatch(0.1, seq=42, event_id="E:42")
    peer.dispatch(0.2, seq=43, event_id="E:43")
    peer.send_json({"op": 0, "s": 44, "t": "RESUMED", "d": ""}, 0.3)
    events = drain(conn)
    assert [type(e) for e in events] == [Dispatch, Dispatch, Resumed]
    assert events[2] == Resumed(type="RESUMED", seq=44, id=None, data="")
    assert conn.state is ConnectionState.OPEN
    assert conn.session is not None
    assert conn.session.session_id == "sess-old"
    assert conn.session.seq == 44


def test_ready_after_resume_replaces_the_session() -> None:
    conn = make(resume=snapshot())
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    peer.ready(0.1, seq=1, session_id="sess-new")
    assert isinstance(drain(conn)[0], Ready)
    assert conn.session is not None and conn.session.session_id == "sess-new"


# ---------------------------------------------------------------- heartbeats and timers

def test_heartbeat_timer_follows_the_hello_interval_times_the_factor() -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(100.0)
    peer.accept(100.0)
    peer.hello(100.0, interval_ms=45000)
    peer.ready(100.0)
    assert conn.get_timer() == pytest.approx(100.0 + 36.0)
    assert conn.heartbeat_interval == pytest.approx(36.0)


def test_heartbeat_carries_the_last_seq_byte_exactly() -> None:
    conn = make()
    peer = open_ready(conn, seq=1)
    peer.dispatch(1.0, seq=251)
    drain(conn)
    peer.take()
    peer.raw_texts.clear()
    conn.handle_timer(conn.get_timer())  # type: ignore[arg-type]
    peer.pump_from_client()
    assert peer.raw_texts == ['{"op":1,"d":251}']


def test_heartbeat_before_any_seq_is_null() -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0, interval_ms=1000)
    peer.raw_texts.clear()
    conn.handle_timer(conn.get_timer())  # type: ignore[arg-type]
    peer.pump_from_client()
    assert peer.raw_texts == ['{"op":1,"d":null}']


def test_acked_heartbeats_keep_the_connection_and_report_latency() -> None:
    conn = make()
    peer = open_ready(conn, interval_ms=10000)
    for _ in range(5):
        due = conn.get_timer()
        assert due is not None
        conn.handle_timer(due)
        peer.pump_from_client()
        peer.send_json({"op": 11}, due + 0.25)
        assert drain(conn) == [HeartbeatAcknowledged(latency=0.25)]
    assert conn.state is ConnectionState.OPEN
    assert [f["op"] for f in peer.take() if isinstance(f, dict)] == [1] * 5


def test_missing_heartbeat_ack_closes_and_resumes() -> None:
    conn = make()
    peer = open_ready(conn, interval_ms=10000)
    conn.handle_timer(conn.get_timer())  # type: ignore[arg-type]  # beat 1, never ACKed
    conn.handle_timer(conn.get_timer())  # type: ignore[arg-type]  # beat 2 due: zombie
    peer.pump_from_client()
    frames = peer.take()
    assert frames[0] == {"op": 1, "d": 1}
    assert frames[1] == CloseConnection(code=CLOSE_RESUMABLE,
                                        reason="heartbeat not acknowledged")
    assert drain(conn) == [ConnectionEnded(cause=EndCause.HEARTBEAT_TIMEOUT,
                                           next_step=NextStep.RESUME)]
    assert conn.state is ConnectionState.CLOSED
    assert conn.get_timer() is None
    assert conn.session is not None and conn.session.seq == 1


def test_server_heartbeat_request_is_answered_at_once() -> None:
    conn = make()
    peer = open_ready(conn, seq=9)
    peer.send_json({"op": 1}, 3.0)
    assert peer.raw_texts[-1] == '{"op":1,"d":9}'


def test_late_timer_does_not_cause_a_heartbeat_burst() -> None:
    conn = make()
    peer = open_ready(conn, interval_ms=10000)  # period 8 s
    conn.handle_timer(100.0)
    assert conn.get_timer() == pytest.approx(108.0)
    peer.take()


def test_handle_timer_before_the_deadline_does_nothing() -> None:
    conn = make()
    peer = open_ready(conn)
    conn.handle_timer(1.0)
    peer.pump_from_client()
    assert peer.take() == []


def test_no_hello_within_the_handshake_timeout_ends_the_connection() -> None:
    conn = make(handshake_timeout=10.0)
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(2.0)
    assert conn.get_timer() == 12.0
    conn.handle_timer(12.0)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.HANDSHAKE_TIMEOUT,
                                           next_step=NextStep.IDENTIFY,
                                           detail="no Hello in time")]


def test_no_upgrade_response_within_the_timeout_ends_the_connection() -> None:
    conn = make(handshake_timeout=5.0)
    conn.initiate(0.0)
    conn.handle_timer(5.0)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.HANDSHAKE_TIMEOUT,
                                           next_step=NextStep.IDENTIFY,
                                           detail="no upgrade response in time")]


def test_no_ready_within_the_ready_timeout_ends_the_connection() -> None:
    conn = make(ready_timeout=20.0)
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(1.0, interval_ms=100000)
    conn.handle_timer(21.0)
    assert drain(conn)[-1] == ConnectionEnded(cause=EndCause.HANDSHAKE_TIMEOUT,
                                              next_step=NextStep.IDENTIFY,
                                              detail="no READY in time")


def test_replays_extend_the_wait_for_resumed() -> None:
    conn = make(resume=snapshot(), ready_timeout=20.0)
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0, interval_ms=1_000_000)
    peer.dispatch(15.0, seq=42)
    assert conn.get_timer() == 35.0


# ---------------------------------------------------------------- endings

def test_op7_reconnect_closes_cleanly_and_resumes() -> None:
    conn = make()
    peer = open_ready(conn, seq=3)
    peer.send_json({"op": 7}, 5.0)
    assert peer.take() == [CloseConnection(code=CLOSE_RESUMABLE, reason="reconnect requested")]
    assert conn.state is ConnectionState.CLOSING
    assert drain(conn) == []
    peer.close(4009, "expired", 5.1)  # the server typically follows up with 4009
    assert drain(conn) == [ConnectionEnded(cause=EndCause.RECONNECT_REQUESTED,
                                           next_step=NextStep.RESUME)]
    assert conn.state is ConnectionState.CLOSED


def test_op7_without_a_close_reply_ends_after_the_close_timeout() -> None:
    conn = make(close_timeout=5.0)
    peer = open_ready(conn)
    peer.send_json({"op": 7}, 10.0)
    assert conn.get_timer() == 15.0
    conn.handle_timer(15.0)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.RECONNECT_REQUESTED,
                                           next_step=NextStep.RESUME)]


def test_eof_while_closing_finishes_with_the_pending_reason() -> None:
    conn = make()
    peer = open_ready(conn)
    peer.send_json({"op": 7}, 1.0)
    conn.receive_data(b"", 1.1)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.RECONNECT_REQUESTED,
                                           next_step=NextStep.RESUME)]


@pytest.mark.parametrize(("d", "step"), [(True, NextStep.RESUME), (False, NextStep.IDENTIFY),
                                         (None, NextStep.IDENTIFY), ({}, NextStep.IDENTIFY),
                                         (1, NextStep.IDENTIFY)])
def test_op9_invalid_session_follows_its_d_flag(d: object, step: NextStep) -> None:
    conn = make()
    peer = open_ready(conn)
    peer.send_json({"op": 9, "d": d}, 1.0)
    peer.close(4000, "", 1.1)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.INVALID_SESSION, next_step=step)]
    assert (conn.session is not None) is (step is NextStep.RESUME)


CLOSE_TABLE = [
    (4001, NextStep.STOP, 0.0, False), (4002, NextStep.STOP, 0.0, False),
    (4003, NextStep.RESUME, 0.0, False), (4004, NextStep.RESUME, 0.0, True),
    (4005, NextStep.RESUME, 0.0, False), (4006, NextStep.IDENTIFY, 0.0, False),
    (4007, NextStep.IDENTIFY, 0.0, False), (4008, NextStep.RESUME, 60.0, False),
    (4009, NextStep.RESUME, 0.0, False), (4010, NextStep.STOP, 0.0, False),
    (4011, NextStep.STOP, 0.0, False), (4012, NextStep.STOP, 0.0, False),
    (4013, NextStep.STOP, 0.0, False), (4014, NextStep.STOP, 0.0, False),
    *[(code, NextStep.IDENTIFY, 0.0, False) for code in range(4900, 4914)],
    (4914, NextStep.STOP, 0.0, False), (4915, NextStep.STOP, 0.0, False),
    (1000, NextStep.RESUME, 0.0, False), (1001, NextStep.RESUME, 0.0, False),
    (4321, NextStep.RESUME, 0.0, False),
]


@pytest.mark.parametrize(("code", "step", "wait", "refresh"), CLOSE_TABLE)
def test_every_close_code_ends_with_one_event_saying_what_next(
    code: int, step: NextStep, wait: float, refresh: bool
) -> None:
    conn = make()
    peer = open_ready(conn)
    peer.close(code, "bye", 2.0)
    events = drain(conn)
    assert len(events) == 1
    end = events[0]
    assert isinstance(end, ConnectionEnded)
    assert (end.cause, end.close_code, end.close_reason) == (EndCause.SERVER_CLOSED, code, "bye")
    assert (end.next_step, end.retry_after, end.refresh_token) == (step, wait, refresh)
    # The close handshake is completed by echoing the code.
    assert peer.take() == [CloseConnection(code=code, reason="bye")]
    assert conn.state is ConnectionState.CLOSED
    assert (conn.session is not None) is (step is NextStep.RESUME)


def test_abrupt_eof_is_a_lost_connection_that_may_resume() -> None:
    conn = make()
    open_ready(conn)
    conn.receive_data(b"", 3.0)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.CONNECTION_LOST,
                                           next_step=NextStep.RESUME,
                                           detail="connection closed without a close frame")]
    conn.receive_data(b"", 3.0)  # a second EOF is harmless
    assert drain(conn) == []


def test_eof_before_the_upgrade_is_a_lost_connection() -> None:
    conn = make()
    conn.initiate(0.0)
    conn.receive_data(b"", 1.0)
    assert drain(conn)[0].cause is EndCause.CONNECTION_LOST  # type: ignore[union-attr]


def test_refused_upgrade_reports_the_http_status() -> None:
    conn = make()
    conn.initiate(0.0)
    conn.data_to_send()
    conn.receive_data(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n", 1.0)
    assert drain(conn) == [ConnectionEnded(
        cause=EndCause.HANDSHAKE_FAILED, next_step=NextStep.IDENTIFY,
        detail="gateway refused the upgrade with HTTP 503")]


def test_local_close_sends_the_code_and_waits_for_the_reply() -> None:
    conn = make()
    peer = open_ready(conn, seq=5)
    conn.close(1000, "bye", now=10.0)
    assert peer.take() == []
    peer.pump_from_client()
    assert peer.take() == [CloseConnection(code=1000, reason="bye")]
    assert conn.state is ConnectionState.CLOSING
    assert conn.get_timer() == 15.0
    conn.close()  # idempotent
    peer.to_client(peer.ws.send(CloseConnection(code=1000)), 10.5)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.LOCAL_CLOSE,
                                           next_step=NextStep.RESUME, detail="bye")]


def test_local_close_deadline_defaults_to_the_last_known_time() -> None:
    conn = make(close_timeout=2.0)
    peer = open_ready(conn)
    peer.dispatch(50.0, seq=2)
    conn.close()
    assert conn.get_timer() == 52.0


def test_local_close_before_the_upgrade_ends_at_once() -> None:
    conn = make()
    conn.initiate(0.0)
    conn.close()
    assert drain(conn) == [ConnectionEnded(cause=EndCause.LOCAL_CLOSE,
                                           next_step=NextStep.IDENTIFY)]
    assert conn.state is ConnectionState.CLOSED


def test_dispatches_arriving_while_closing_are_still_delivered() -> None:
    conn = make()
    peer = open_ready(conn)
    conn.close(now=1.0)
    close_frame = conn.data_to_send()  # in flight: the server has not seen it yet
    peer.dispatch(1.1, seq=2)
    assert [type(e) for e in drain(conn)] == [Dispatch]
    assert conn.state is ConnectionState.CLOSING
    assert close_frame


# ---------------------------------------------------------------- bad input

def _raises_remote(conn: GatewayConnection, peer: GatewayPeer, send: object) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        send()  # type: ignore[operator]
    return info.value


@pytest.mark.parametrize(("text", "hint"), [
    ("not json", 1007),
    ("[1,2,3]", 1007),
    ('{"d":{}}', 1007),
    ('{"op":"0","d":{}}', 1007),
    ('{"op":0,"s":"7","t":"X","d":{}}', 1007),
    ('{"op":0,"s":-1,"t":"X","d":{}}', 1007),
    ('{"op":0,"s":1,"d":{}}', 1007),
    ('{"op":0,"s":1,"t":5,"d":{}}', 1007),
    ('{"op":0,"s":1,"t":"X","id":5,"d":{}}', 1007),
    ('{"op":10,"d":{"heartbeat_interval":1000}}', 1002),
    ('{"op":0,"s":1,"t":"READY","d":{"session_id":"x"}}', 1002),
    ("[" * 100000, 1007),
])
def test_malformed_frames_raise_remote_errors_after_queueing_a_close(text: str, hint: int) -> None:
    conn = make()
    peer = open_ready(conn)
    with pytest.raises(RemoteProtocolError) as info:
        peer.send_text(text, 1.0)
    assert info.value.close_code_hint == hint
    peer.pump_from_client()
    closes = [f for f in peer.take() if isinstance(f, CloseConnection)]
    assert [c.code for c in closes] == [hint]
    events = drain(conn)
    assert isinstance(events[-1], ConnectionEnded)
    assert events[-1].cause is EndCause.PROTOCOL_ERROR
    assert events[-1].next_step is NextStep.RESUME
    # Sticky: further input raises the same error.
    with pytest.raises(RemoteProtocolError) as again:
        conn.receive_data(b"\x81\x00", 2.0)
    assert again.value is info.value


@pytest.mark.parametrize("hello", [
    '{"op":10}', '{"op":10,"d":{}}', '{"op":10,"d":{"heartbeat_interval":"45000"}}',
    '{"op":10,"d":{"heartbeat_interval":0}}', '{"op":10,"d":{"heartbeat_interval":true}}',
    '{"op":10,"d":[45000]}',
])
def test_hello_without_a_usable_interval_is_a_protocol_error(hello: str) -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    with pytest.raises(RemoteProtocolError):
        peer.send_text(hello, 0.0)


@pytest.mark.parametrize("ready_d", [
    "[]", '{"session_id":""}', '{"session_id":7}', '{"session_id":"s","user":[]}',
    '{"session_id":"s","user":{"id":[1]}}',
])
def test_ready_without_a_session_id_or_user_is_a_protocol_error(ready_d: str) -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    with pytest.raises(RemoteProtocolError):
        peer.send_text('{"op":0,"s":1,"t":"READY","d":' + ready_d + "}", 0.0)


def test_ready_with_a_numeric_user_id_and_odd_shard_is_accepted() -> None:
    conn = make()
    peer = GatewayPeer(conn)
    conn.initiate(0.0)
    peer.accept(0.0)
    peer.hello(0.0)
    peer.send_text('{"op":0,"s":1,"t":"READY","d":{"session_id":"s","user":{"id":42},'
                   '"shard":[0,0]}}', 0.0)
    ready = drain(conn)[0]
    assert isinstance(ready, Ready)
    assert ready.user == BotUser(id="42", username="", bot=True)
    assert ready.shard == (0, 0)


def test_binary_frame_is_unsupported_data() -> None:
    conn = make()
    peer = open_ready(conn)
    from wsproto.events import BytesMessage
    with pytest.raises(RemoteProtocolError) as info:
        peer.to_client(peer.ws.send(BytesMessage(data=b'{"op":11}')), 1.0)
    assert info.value.close_code_hint == 1003


def test_oversize_message_is_refused_with_1009() -> None:
    conn = make(max_message_size=2048)
    peer = open_ready(conn)
    with pytest.raises(RemoteProtocolError) as info:
        peer.send_text('{"op":0,"s":2,"t":"X","d":"' + "y" * 4000 + '"}', 1.0)
    assert info.value.close_code_hint == 1009


def test_oversize_fragmented_message_is_refused_before_it_completes() -> None:
    conn = make(max_message_size=2048)
    peer = open_ready(conn)
    from wsproto.events import TextMessage
    with pytest.raises(RemoteProtocolError) as info:
        for _ in range(10):
            peer.to_client(peer.ws.send(TextMessage(data="z" * 1000, message_finished=False)),
                           1.0)
    assert info.value.close_code_hint == 1009


def test_invalid_websocket_frame_is_a_protocol_error() -> None:
    conn = make()
    open_ready(conn)
    # A masked frame from the server is forbidden (RFC 6455 §5.1).
    with pytest.raises(RemoteProtocolError) as info:
        conn.receive_data(b"\x81\x82abcd\x00\x00", 1.0)
    assert info.value.close_code_hint == 1002
    assert drain(conn)[-1].cause is EndCause.PROTOCOL_ERROR  # type: ignore[union-attr]


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: wrong\r\n\r\n",
    b"garbage\r\n\r\n",
])
def test_a_101_without_the_right_headers_is_a_handshake_failure(response: bytes) -> None:
    conn = make()
    conn.initiate(0.0)
    conn.data_to_send()
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(response, 1.0)
    events = drain(conn)
    assert [e.cause for e in events] == [EndCause.HANDSHAKE_FAILED]  # type: ignore[attr-defined]
    assert conn.data_to_send() == b""


def test_bytes_after_the_connection_ended_are_a_protocol_error() -> None:
    conn = make()
    peer = open_ready(conn)
    peer.close(4009, "", 1.0)
    drain(conn)
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(b"\x81\x00", 2.0)
    assert drain(conn) == []  # the one end event was already delivered


def test_second_hello_is_a_protocol_error() -> None:
    conn = make()
    peer = open_ready(conn)
    with pytest.raises(RemoteProtocolError):
        peer.hello(1.0)


def test_ready_on_an_open_session_is_a_protocol_error() -> None:
    conn = make()
    peer = open_ready(conn)
    with pytest.raises(RemoteProtocolError):
        peer.ready(1.0, seq=9)


def test_unknown_and_client_only_opcodes_become_events() -> None:
    conn = make()
    peer = open_ready(conn)
    peer.send_json({"op": 42, "d": {"x": 1}}, 1.0)
    peer.send_json({"op": 2, "d": None}, 1.0)
    assert drain(conn) == [UnknownOpcode(op=42, frame={"x": 1}), UnknownOpcode(op=2, frame=None)]
    assert conn.state is ConnectionState.OPEN


def test_repr_and_events_never_show_the_token() -> None:
    conn = make()
    peer = open_ready(conn)
    peer.close(4004, "auth", 1.0)
    assert TOKEN not in repr(conn)
    assert all(TOKEN not in repr(e) for e in drain(conn))


def test_bytes_following_a_close_frame_in_the_same_read_are_a_protocol_error() -> None:
    conn = make()
    peer = open_ready(conn)
    data = peer.ws.send(CloseConnection(code=4009, reason="bye"))
    trailing = b"\x81\x05hello"  # a text frame after the close: forbidden
    with pytest.raises(RemoteProtocolError):
        conn.receive_data(data + trailing, 1.0)
    events = drain(conn)
    assert len(events) == 1 and events[0].close_code == 4009  # type: ignore[union-attr]


def test_a_second_op7_while_closing_changes_nothing() -> None:
    conn = make()
    peer = open_ready(conn)
    peer.send_json({"op": 7}, 1.0)
    conn.receive_data(b'\x81\t{"op": 9}', 1.1)
    assert conn.state is ConnectionState.CLOSING
    conn.receive_data(b"", 1.2)
    assert drain(conn) == [ConnectionEnded(cause=EndCause.RECONNECT_REQUESTED,
                                           next_step=NextStep.RESUME)]


@pytest.mark.parametrize("tail", [b"\x02\x00", b"\x89\x00", b"\x81\x02{}"])
def test_bytes_after_a_close_frame_fail_the_same_whole_or_byte_by_byte(tail: bytes) -> None:
    from fuzz.fuzz_gateway import _run

    data = b"\x88\x00" + tail
    whole = _run([data, b""])
    bytewise = _run([*(data[i:i + 1] for i in range(len(data))), b""])
    assert whole[:2] == bytewise[:2]
    assert whole[1] is None  # a RemoteProtocolError: bytes after the connection ended
