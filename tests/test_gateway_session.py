"""GatewaySession: the supervisor's decisions as data, driven by arithmetic time."""

from __future__ import annotations

import json
import random

import pytest

from qqproto._commands import OpenConnection, SendHttpRequest, Stop
from qqproto.errors import LocalProtocolError
from qqproto.events import (
    ConnectionEnded,
    Dispatch,
    EndCause,
    NextStep,
    Ready,
    Reconnecting,
    Resumed,
    SessionStopped,
)
from qqproto.gateway._backoff import Backoff
from qqproto.gateway._connection import CLOSE_RESUMABLE
from qqproto.gateway._policy import ReconnectPolicy
from qqproto.gateway._session import GatewaySession, SessionState
from qqproto.gateway._snapshot import SessionSnapshot

from .session_harness import (
    APP_ID,
    GATEWAY_URL,
    SECRET,
    Driver,
    gateway_ok,
    json_response,
    make_session,
    token_ok,
)


def started(seed: int = 7, **kw: object) -> Driver:
    session = make_session(seed=seed, **kw)  # type: ignore[arg-type]
    session.start(0.0)
    return Driver(session)


def jitter(seed: int, ceilings: list[float]) -> list[float]:
    rng = random.Random(seed)
    return [c * (0.5 + 0.5 * rng.random()) for c in ceilings]


# ---------------------------------------------------------------- first connection

def test_start_asks_for_a_token_with_the_exact_request() -> None:
    d = started()
    cmd = d.take(SendHttpRequest)
    assert cmd.purpose == "token"
    assert cmd.request.method == "POST"
    assert cmd.request.url == "https://bots.example.test/app/getAppAccessToken"
    assert cmd.request.header("Content-Type") == "application/json"
    assert json.loads(cmd.request.body) == {"appId": APP_ID, "clientSecret": SECRET}
    assert SECRET not in repr(cmd)
    assert d.session.state is SessionState.FETCHING_TOKEN


def test_token_then_gateway_bot_then_open_connection() -> None:
    d = started()
    d.answer_http(token_ok("TOK"), 1.0)
    cmd = d.take(SendHttpRequest)
    assert cmd.purpose == "gateway"
    assert (cmd.request.method, cmd.request.url) == ("GET", "https://api.example.test/gateway/bot")
    assert cmd.request.header("Authorization") == "QQBot TOK"
    assert cmd.request.header("X-Union-Appid") == APP_ID
    d.session.http_response(cmd.id, gateway_ok(), 1.5)
    open_cmd = d.take(OpenConnection)
    assert (open_cmd.url, open_cmd.host, open_cmd.port, open_cmd.tls) == (
        GATEWAY_URL, "gw.example.test", 443, True)
    assert d.session.state is SessionState.CONNECTING


def test_plain_gateway_discovery_can_be_chosen() -> None:
    d = started(use_gateway_bot=False)
    d.answer_http(token_ok(), 0.0)
    cmd = d.answer_http(json_response(200, {"url": "ws://127.0.0.1:9/websocket"}), 0.0)
    assert cmd.request.url == "https://api.example.test/gateway"
    open_cmd = d.take(OpenConnection)
    assert (open_cmd.host, open_cmd.port, open_cmd.tls) == ("127.0.0.1", 9, False)


def test_hello_identify_ready_and_dispatches_reach_the_application() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    assert peer.received[0]["op"] == 2
    assert peer.received[0]["d"]["token"] == "QQBot TOKEN-1"
    peer.dispatch(1.0, seq=2, event_id="E:2")
    events = d.events()
    assert [type(e) for e in events] == [Ready, Dispatch]
    assert d.session.state is SessionState.CONNECTED
    assert d.session.snapshot() == SessionSnapshot(
        session_id="sess-1", seq=2, intents=1174409216, bot_user_id="bot-1",
        bot_username="demo-bot")


def test_start_twice_is_a_local_error() -> None:
    d = started()
    with pytest.raises(LocalProtocolError):
        d.session.start(0.0)


def test_session_needs_a_secret_or_a_token_state() -> None:
    with pytest.raises(LocalProtocolError):
        GatewaySession(app_id="1")


# ---------------------------------------------------------------- reconnect and resume

def test_abrupt_drop_resumes_with_the_processed_seq_and_drops_replayed_duplicates() -> None:
    d = started(seed=3)
    peer = d.bring_up(seq=1)
    for seq in (2, 3, 4):
        peer.dispatch(1.0, seq=seq, event_id=f"E:{seq}")
    assert [e.seq for e in d.events()] == [1, 2, 3, 4]
    d.session.receive_data(b"", 10.0)  # TCP reset: no close frame
    events = d.events()
    assert events[0] == ConnectionEnded(cause=EndCause.CONNECTION_LOST, next_step=NextStep.RESUME,
                                        detail="connection closed without a close frame")
    # The first end of a live connection: reconnect at once (ReconnectPolicy).
    assert events[1] == Reconnecting(at=10.0, attempt=1, next_step=NextStep.RESUME)
    assert d.closed == [] and d.collect() == []
    assert len(d.closed) == 1
    assert d.session.state is SessionState.WAITING
    assert d.session.get_timer() == 10.0
    d.fire_timer()
    peer = d.connect(20.0)  # token and gateway URL are reused
    peer.hello(20.0)
    assert peer.raw_texts == ['{"op":6,"d":{"token":"QQBot TOKEN-1","session_id":"sess-1",'
                              '"seq":4}}']
    # The server replays from its own idea of the seq: 3 and 4 again, then 5 is new.
    for seq in (3, 4, 5):
        peer.dispatch(20.1, seq=seq, event_id=f"E:{seq}")
    peer.send_json({"op": 0, "s": 6, "t": "RESUMED", "d": ""}, 20.2)
    events = d.events()
    assert [(type(e).__name__, e.seq) for e in events] == [("Dispatch", 5), ("Resumed", 6)]
    assert d.session.duplicates_dropped == 2


def test_manual_marking_resumes_from_the_last_marked_seq() -> None:
    d = started(auto_mark_processed=False)
    peer = d.bring_up(seq=1)
    for seq in (2, 3, 4):
        peer.dispatch(1.0, seq=seq)
    d.events()
    d.session.mark_processed(2)
    d.session.mark_processed(None)
    d.session.mark_processed(1)  # never backwards
    assert d.session.processed_seq == 2
    d.session.receive_data(b"", 2.0)
    d.events()
    d.fire_timer()
    peer = d.connect(5.0)
    peer.hello(5.0)
    assert peer.received[0]["d"]["seq"] == 2


def test_op7_reconnects_and_resumes_at_once() -> None:
    d = started(seed=11)
    peer = d.bring_up(seq=1)
    peer.dispatch(100.0, seq=5)
    peer.send_json({"op": 7}, 100.0)
    peer.close(4009, "", 100.1)
    events = d.events()
    assert isinstance(events[-2], ConnectionEnded)
    assert events[-2].cause is EndCause.RECONNECT_REQUESTED
    # Asked for by the server, of a live connection: at once, attempt 0.
    assert events[-1] == Reconnecting(at=100.1, attempt=0, next_step=NextStep.RESUME)


def test_op9_false_drops_the_session_and_identifies() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.send_json({"op": 9, "d": False}, 1.0)
    peer.close(4000, "", 1.0)
    events = d.events()
    assert events[-1].next_step is NextStep.IDENTIFY
    assert d.session.snapshot() is None
    d.fire_until_open()
    peer = d.connect(5.0)
    peer.hello(5.0)
    assert peer.received[0]["op"] == 2


def test_close_4009_resumes() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4009, "expired", 1.0)
    d.events()
    d.fire_timer()
    peer = d.connect(5.0)
    peer.hello(5.0)
    assert peer.received[0]["op"] == 6


def test_close_4004_refreshes_the_token_before_resuming() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4004, "auth failed", 1.0)
    d.events()
    d.fire_timer()
    cmd = d.answer_http(token_ok("TOKEN-2"), 3.0)
    assert cmd.purpose == "token"
    peer = d.connect(3.0)  # the gateway URL is still good
    peer.hello(3.0)
    assert peer.received[0]["op"] == 6
    assert peer.received[0]["d"]["token"] == "QQBot TOKEN-2"


def test_close_4008_waits_at_least_sixty_seconds() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4008, "too fast", 1.0)
    reconnecting = d.events()[-1]
    assert isinstance(reconnecting, Reconnecting)
    assert reconnecting.at == 61.0


@pytest.mark.parametrize("code", [4001, 4002, 4010, 4011, 4012, 4013, 4014, 4914, 4915])
def test_fatal_close_codes_stop_for_good(code: int) -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(code, "no", 1.0)
    events = d.events()
    assert isinstance(events[-1], SessionStopped)
    assert events[-1].fatal and events[-1].close_code == code
    d.collect()
    assert d.stops == [Stop(reason=events[-1].reason, fatal=True, close_code=code)]
    assert d.session.state is SessionState.STOPPED
    assert d.session.get_timer() is None
    assert d.session.snapshot() is None
    d.session.handle_timer(1000.0)
    assert d.collect() == [] and d.events() == []


def test_4914_reason_names_the_code_without_secrets() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4914, "", 1.0)
    stopped = d.events()[-1]
    assert stopped.reason == "gateway closed with 4914: bot taken offline (sandbox only)"
    assert SECRET not in stopped.reason and "TOKEN-1" not in stopped.reason


@pytest.mark.parametrize("code", [4006, 4007, 4900, 4913])
def test_session_ending_codes_identify_afresh(code: int) -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(code, "", 1.0)
    d.events()
    d.fire_until_open()
    peer = d.connect(5.0)
    peer.hello(5.0)
    assert peer.received[0]["op"] == 2


def test_resume_failures_fall_back_to_identify() -> None:
    d = started(policy=ReconnectPolicy(max_resume_failures=2))
    peer = d.bring_up(seq=1)
    peer.close(4009, "", 1.0)
    ops = []
    now = 1.0
    for _ in range(3):
        d.events()
        now = d.fire_until_open()  # the Identify may wait for its 5 s window (§8.4)
        peer = d.connect(now)
        peer.hello(now)
        ops.append(peer.received[0]["op"])
        peer.close(4009, "", now)  # dies before RESUMED
    assert ops == [6, 6, 2]


def test_quick_disconnects_slow_reconnects_and_warn_but_keep_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = started(seed=4, policy=ReconnectPolicy(max_resume_failures=100,
                                               quick_disconnect_limit=3))
    peer = d.bring_up(seq=1)
    peer.close(4009, "", 100.0)  # a healthy first connection: not quick
    ops, attempts = [], []
    for _ in range(4):
        d.events()
        now = d.fire_timer()
        peer = d.connect(now)
        peer.hello(now)
        ops.append(peer.received[0]["op"])
        peer.send_json({"op": 0, "s": 2, "t": "RESUMED", "d": ""}, now)
        d.session.receive_data(b"", now + 1.0)  # a network drop one second later
        attempts.append(d.events()[-1].attempt)
    assert ops == [6, 6, 6, 6]
    assert attempts == [1, 2, 3, 4]
    assert "3 quick disconnects in a row" in caplog.text


def test_server_requested_reconnects_are_not_failures() -> None:
    d = started(seed=4)
    peer = d.bring_up(seq=1)
    attempts = []
    for fault in ({"op": 7}, {"op": 9, "d": True}, None):
        if fault is None:
            peer.close(4009, "", 1.0)
        else:
            peer.send_json(fault, 1.0)
            peer.close(4000, "", 1.0)
        attempts.append(d.events()[-1].attempt)
        now = d.fire_timer()
        peer = d.connect(now)
        peer.hello(now)
        peer.send_json({"op": 0, "s": 2, "t": "RESUMED", "d": ""}, now)
    assert attempts == [0, 0, 0]


# ---------------------------------------------------------------- backoff

def test_backoff_grows_exponentially_with_seeded_jitter_and_caps() -> None:
    d = started(seed=5)
    now = 0.0
    waits = []
    for _ in range(8):
        cmd = d.take(SendHttpRequest)
        d.session.http_failed(cmd.id, "connection refused", now)
        reconnecting = d.events()[-1]
        waits.append(reconnecting.at - now)
        now = d.fire_timer()
    expected = jitter(5, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0])
    assert waits == pytest.approx(expected)


RESUMED = {"op": 0, "s": 2, "t": "RESUMED", "d": ""}


def test_only_the_first_end_of_a_live_connection_reconnects_at_once() -> None:
    d = started(seed=6)
    peer = d.bring_up(seq=1)
    d.session.receive_data(b"", 10.0)  # a live connection drops: at once
    assert d.events()[-1] == Reconnecting(at=10.0, attempt=1, next_step=NextStep.RESUME)
    now = d.fire_timer()
    peer = d.connect(now)
    peer.hello(now)
    peer.send_json(RESUMED, now)
    d.session.receive_data(b"", 12.0)  # live again, and dropped again 2 s later
    [delay] = jitter(6, [4.0])  # the second failure in a row: backoff attempt 2
    assert d.events()[-1] == Reconnecting(at=12.0 + delay, attempt=2,
                                          next_step=NextStep.RESUME)
    now = d.fire_timer()
    peer = d.connect(now)
    peer.hello(now)
    peer.send_json(RESUMED, now)
    d.session.receive_data(b"", now + 31.0)  # healthy: the backoff resets, at once again
    assert d.events()[-1] == Reconnecting(at=now + 31.0, attempt=0,
                                          next_step=NextStep.RESUME)


def test_at_most_one_reconnect_per_healthy_after_goes_at_once() -> None:
    d = started(seed=8)
    peer = d.bring_up(seq=1)
    peer.send_json({"op": 7}, 1.0)  # asked for: not a failure, at once
    peer.close(4009, "", 1.0)
    assert d.events()[-1].at == 1.0
    now = d.fire_timer()
    peer = d.connect(now)
    peer.hello(now)
    peer.send_json(RESUMED, now)
    peer.send_json({"op": 7}, 2.0)  # again within healthy_after (30 s): the backoff
    peer.close(4009, "", 2.0)
    [delay] = jitter(8, [1.0])
    assert d.events()[-1] == Reconnecting(at=2.0 + delay, attempt=0,
                                          next_step=NextStep.RESUME)


def test_a_connection_that_never_went_live_waits_the_backoff() -> None:
    d = started(seed=2)
    peer = d.bring_up(seq=1)
    d.session.receive_data(b"", 5.0)  # at once (live)
    d.events()
    now = d.fire_timer()
    peer = d.connect(now)
    peer.hello(now)  # Resume sent; the connection dies before RESUMED
    d.session.receive_data(b"", now + 0.5)
    [delay] = jitter(2, [4.0])  # failure 2
    assert d.events()[-1] == Reconnecting(at=now + 0.5 + delay, attempt=2,
                                          next_step=NextStep.RESUME)


def test_a_close_code_that_asks_for_a_wait_is_waited_even_at_once() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4008, "rate limited", 3.0)  # gateway.md §7.3: 60 s
    assert d.events()[-1].at == 63.0


def test_without_reconnect_at_once_the_first_drop_waits_the_backoff() -> None:
    d = started(seed=3, policy=ReconnectPolicy(reconnect_at_once=False))
    d.bring_up(seq=1)
    d.session.receive_data(b"", 10.0)
    [delay] = jitter(3, [2.0])
    assert d.events()[-1] == Reconnecting(at=10.0 + delay, attempt=1,
                                          next_step=NextStep.RESUME)


def test_backoff_resets_after_a_healthy_connection() -> None:
    d = started(seed=9)
    cmd = d.take(SendHttpRequest)
    d.session.http_failed(cmd.id, "refused", 0.0)
    d.events()
    now = d.fire_timer()
    peer = d.bring_up(now)
    peer.close(4009, "", now + 31.0)  # open for more than healthy_after
    assert d.events()[-1].attempt == 0


def test_backoff_validates_its_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(base=-1)
    with pytest.raises(ValueError):
        Backoff(jitter=2)
    with pytest.raises(ValueError):
        Backoff().ceiling(-1)
    assert Backoff().ceiling(10_000) == 60.0


def test_max_consecutive_failures_stops_the_session() -> None:
    d = started(policy=ReconnectPolicy(max_consecutive_failures=2))
    now = 0.0
    for _ in range(3):
        cmd = d.take(SendHttpRequest)
        d.session.http_failed(cmd.id, "refused", now)
        if d.session.state is SessionState.STOPPED:
            break
        now = d.fire_timer()
    assert d.session.state is SessionState.STOPPED
    assert d.events()[-1].fatal is True


# ---------------------------------------------------------------- token handling

def test_invalid_credentials_stop_with_a_clear_reason() -> None:
    d = started()
    d.answer_http(json_response(200, {"code": 100016, "message": "invalid appid or secret"}), 0.0)
    stopped = d.events()[-1]
    assert isinstance(stopped, SessionStopped)
    assert stopped.fatal
    assert stopped.reason.startswith("credentials rejected: invalid appid or secret")
    assert SECRET not in stopped.reason


@pytest.mark.parametrize("response", [
    json_response(500, {"message": "oops"}),
    json_response(200, {"expires_in": 7200}),
    json_response(200, {"access_token": "T", "expires_in": "soon"}),
    json_response(200, ["not", "an", "object"]),
])
def test_unusable_token_answers_are_retried_with_backoff(response: object) -> None:
    d = started()
    d.answer_http(response, 0.0)  # type: ignore[arg-type]
    assert d.session.state is SessionState.WAITING
    d.fire_timer()
    assert d.take(SendHttpRequest).purpose == "token"


def test_html_token_answer_is_retried() -> None:
    from qqproto._http import HttpResponse
    d = started()
    d.answer_http(HttpResponse(status=502, body=b"<html>bad gateway</html>"), 0.0)
    assert d.session.state is SessionState.WAITING


def test_token_close_to_expiry_is_refreshed_before_reconnecting() -> None:
    d = started()
    d.answer_http(token_ok(expires_in=120), 0.0)
    d.answer_http(gateway_ok(), 0.0)
    peer = d.connect(0.0)
    peer.hello(0.0)
    peer.ready(0.0)
    peer.close(4009, "", 70.0)  # 50 s left: inside the 60 s refresh margin
    d.events()
    d.fire_timer()
    assert d.take(SendHttpRequest).purpose == "token"


def test_gateway_401_invalidates_the_token() -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(json_response(401, {"code": 11244, "message": "token expired"}), 0.0)
    d.fire_timer()
    assert d.take(SendHttpRequest).purpose == "token"


def test_gateway_rate_limit_is_retried_later() -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(json_response(429, {"code": 22009, "message": "slow down"}), 0.0)
    assert d.session.state is SessionState.WAITING
    d.fire_timer()
    assert d.take(SendHttpRequest).purpose == "gateway"


@pytest.mark.parametrize("body", [{"url": "https://not-ws"}, {"shards": 1}, "text"])
def test_gateway_answer_without_a_websocket_url_is_retried(body: object) -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(json_response(200, body), 0.0)
    assert d.session.state is SessionState.WAITING


# ---------------------------------------------------------------- timeouts and stale answers

def test_http_timeout_retries_and_ignores_the_late_answer() -> None:
    d = started()
    cmd = d.take(SendHttpRequest)
    assert d.session.get_timer() == pytest.approx(cmd.request.timeout + 5.0)
    d.fire_timer()
    assert d.session.state is SessionState.WAITING
    d.session.http_response(cmd.id, token_ok(), 40.0)  # too late: ignored
    assert d.session.state is SessionState.WAITING
    d.session.http_failed(cmd.id, "late failure", 40.0)
    assert d.session.state is SessionState.WAITING


def test_connect_timeout_closes_the_attempt_and_refuses_it_later() -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(), 0.0)
    cmd = d.take(OpenConnection)
    assert d.session.get_timer() == 20.0
    d.fire_timer()
    d.collect()
    assert d.closed == [cmd.id]
    d.session.connection_made(cmd.id, 25.0)  # the socket opened after all: close it
    d.collect()
    assert d.closed == [cmd.id, cmd.id]
    d.session.connection_failed(cmd.id, "late", 25.0)
    assert d.session.state is SessionState.WAITING


def test_connection_failure_refetches_the_gateway_url() -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(), 0.0)
    cmd = d.take(OpenConnection)
    d.session.connection_failed(cmd.id, "connection refused", 1.0)
    d.fire_timer()
    assert d.take(SendHttpRequest).purpose == "gateway"


# ---------------------------------------------------------------- identify budget

def test_identify_waits_for_the_daily_budget_to_reset() -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(remaining=0, reset_after=90_000), 0.0)
    reconnecting = d.events()[-1]
    assert isinstance(reconnecting, Reconnecting)
    assert reconnecting.at == 90.0
    d.fire_timer()
    assert d.take(SendHttpRequest).purpose == "gateway"  # re-read the budget


def test_identifies_are_paced_by_max_concurrency_per_five_seconds() -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(max_concurrency=1), 0.0)
    peer = d.connect(0.0)
    peer.hello(0.0)
    peer.close(4006, "", 1.0)  # identify again, but one identify already in this window
    d.events()
    assert d.fire_timer() < 5.0
    reconnecting = d.events()[-1]
    assert reconnecting.at == 5.0


def test_resume_does_not_use_the_identify_budget() -> None:
    d = started()
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(remaining=1), 0.0)
    peer = d.connect(0.0)
    peer.hello(0.0)
    peer.ready(0.0)
    peer.close(4009, "", 1.0)
    d.events()
    d.fire_timer()
    assert isinstance(d.take(OpenConnection), OpenConnection)


# ---------------------------------------------------------------- snapshots

def test_snapshot_round_trips_and_a_restored_session_resumes() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.dispatch(1.0, seq=9)
    d.events()
    snap = d.session.snapshot(unix_now=1_700_000_000.0)
    assert snap is not None and snap.last_active == 1_700_000_000.0
    restored = SessionSnapshot.from_dict(json.loads(json.dumps(snap.to_dict())))
    assert restored == snap
    session2 = make_session(snapshot=restored)
    session2.start(0.0, unix_now=1_700_000_100.0)
    d2 = Driver(session2)
    d2.answer_http(token_ok(), 0.0)
    d2.answer_http(gateway_ok(), 0.0)
    peer2 = d2.connect(0.0)
    peer2.hello(0.0)
    assert peer2.received[0] == {"op": 6, "d": {"token": "QQBot TOKEN-1",
                                                "session_id": "sess-1", "seq": 9}}


@pytest.mark.parametrize(("session_kw", "unix_now"), [
    ({"intents": 1}, 1_700_000_100.0),
    ({"shard": (0, 2)}, 1_700_000_100.0),
    ({}, 1_700_009_000.0),  # older than the one-hour resume window
])
def test_unusable_snapshots_identify_instead(session_kw: dict[str, object],
                                             unix_now: float) -> None:
    snap = SessionSnapshot(session_id="old", seq=5, intents=1174409216,
                           last_active=1_700_000_000.0)
    session = make_session(snapshot=snap, **session_kw)
    session.start(0.0, unix_now=unix_now)
    d = Driver(session)
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(), 0.0)
    peer = d.connect(0.0)
    peer.hello(0.0)
    assert peer.received[0]["op"] == 2
    assert session.snapshot() is None


@pytest.mark.parametrize("bad", [
    None, [], {"format": 2}, {"format": 1}, {"format": 1, "session_id": "s", "seq": "1",
                                             "intents": 1},
    {"format": 1, "session_id": "s", "seq": 1, "intents": -1},
    {"format": 1, "session_id": "s", "seq": 1, "intents": 1, "shard": [1, 1]},
    {"format": 1, "session_id": "s", "seq": 1, "intents": 1, "bot_user_id": 5},
    {"format": 1, "session_id": "s", "seq": 1, "intents": 1, "last_active": "x"},
])
def test_corrupt_snapshots_are_refused_with_a_typed_error(bad: object) -> None:
    from qqproto.errors import SnapshotError
    with pytest.raises(SnapshotError):
        SessionSnapshot.from_dict(bad)


# ---------------------------------------------------------------- application close

def test_close_sends_a_resumable_close_frame_then_stops_cleanly() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    d.events()
    d.session.close(5.0)
    peer.pump_from_client()
    from wsproto.events import CloseConnection as WSClose
    assert peer.take()[-1] == WSClose(code=CLOSE_RESUMABLE, reason="closing")
    peer.to_client(peer.ws.send(WSClose(code=CLOSE_RESUMABLE)), 5.1)
    events = d.events()
    assert [type(e) for e in events] == [ConnectionEnded, SessionStopped]
    assert events[1] == SessionStopped(reason="closed by the application", fatal=False)
    d.collect()
    assert d.stops == [Stop(reason="closed by the application", fatal=False)]
    assert d.session.snapshot() is not None


def test_close_while_waiting_stops_at_once_and_can_forget_the_session() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4009, "", 1.0)
    d.events()
    d.session.close(2.0, keep_session=False)
    assert d.events() == [SessionStopped(reason="closed by the application", fatal=False)]
    assert d.session.snapshot() is None
    d.session.close(3.0)  # idempotent
    assert d.events() == []


def test_data_after_the_connection_was_closed_is_ignored() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4009, "", 1.0)
    d.events()
    d.session.receive_data(b"\x81\x00", 1.5)
    assert d.events() == []


def test_protocol_errors_become_a_reconnect_not_an_exception() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.send_text("definitely not json", 1.0)  # the session swallows the RemoteProtocolError
    events = d.events()
    assert events[-2].cause is EndCause.PROTOCOL_ERROR
    assert isinstance(events[-1], Reconnecting)


def test_events_without_ids_are_not_deduplicated() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.send_json({"op": 0, "s": 2, "t": "X", "d": {}}, 1.0)
    peer.send_json({"op": 0, "s": 3, "t": "X", "d": {}}, 1.0)
    peer.send_json({"op": 0, "s": 4, "t": "X", "d": {"id": "m"}}, 1.0)
    peer.send_json({"op": 0, "s": 5, "t": "X", "d": {"id": "m"}}, 1.0)
    assert [e.seq for e in d.events()] == [1, 2, 3, 4]


def test_heartbeat_latency_is_recorded_not_delivered() -> None:
    d = started()
    peer = d.bring_up(seq=1, interval_ms=10_000)
    d.events()
    due = d.fire_timer()
    peer.pump_from_client()
    peer.send_json({"op": 11}, due + 0.125)
    assert d.events() == []
    assert d.session.latency == 0.125
    assert d.session.connection is not None
    assert repr(d.session).startswith("<GatewaySession app=102000001")


def test_unknown_opcodes_are_passed_on() -> None:
    from qqproto.events import UnknownOpcode
    d = started()
    peer = d.bring_up(seq=1)
    d.events()
    peer.send_json({"op": 99}, 1.0)
    assert d.events() == [UnknownOpcode(op=99, frame=None)]


def test_resumed_seq_is_marked_when_delivered() -> None:
    d = started()
    peer = d.bring_up(seq=1)
    peer.close(4009, "", 1.0)
    d.events()
    d.fire_timer()
    peer = d.connect(5.0)
    peer.hello(5.0)
    peer.send_json({"op": 0, "s": 7, "t": "RESUMED", "d": ""}, 5.0)
    assert d.session.processed_seq == 1
    assert [type(e) for e in d.events()] == [Resumed]
    assert d.session.processed_seq == 7


# ---------------------------------------------------------------- proxies

def proxied(env: dict[str, str], url: str = GATEWAY_URL,
            **kw: object) -> tuple[Driver, OpenConnection]:
    session = make_session(proxy_env=env, **kw)  # type: ignore[arg-type]
    session.start(0.0)
    d = Driver(session)
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(url=url), 0.0)
    return d, d.take(OpenConnection)


def test_gateway_through_an_http_proxy_tunnels_then_starts_tls() -> None:
    from qqproto._commands import StartTls
    d, cmd = proxied({"HTTPS_PROXY": "http://proxy.local:3128"})
    assert (cmd.host, cmd.port, cmd.tls, cmd.via) == ("proxy.local", 3128, False,
                                                      "http://proxy.local:3128")
    d.session.connection_made(cmd.id, 1.0)
    request = d.session.data_to_send()
    assert request.startswith(b"CONNECT gw.example.test:443 HTTP/1.1\r\n")
    d.session.receive_data(b"HTTP/1.1 200 Connection established\r\n\r\n", 1.1)
    assert d.session.next_command() == StartTls(id=cmd.id, server_hostname="gw.example.test")
    d.session.tls_started(cmd.id, 1.2)
    assert d.session.data_to_send().startswith(b"GET /websocket/ HTTP/1.1\r\n")
    assert d.session.state is SessionState.CONNECTED


def test_plain_ws_through_a_proxy_keeps_bytes_that_follow_the_connect_answer() -> None:
    d, cmd = proxied({"ALL_PROXY": "http://proxy.local:3128"}, url="ws://gw.example.test/ws")
    d.session.connection_made(cmd.id, 1.0)
    d.session.data_to_send()
    d.session.receive_data(b"HTTP/1.1 200 OK\r\n\r\n", 1.1)  # no StartTls for ws://
    assert d.session.data_to_send().startswith(b"GET /ws HTTP/1.1\r\n")


def test_bytes_after_a_plain_connect_answer_are_the_gateways() -> None:
    d, cmd = proxied({"ALL_PROXY": "http://proxy.local:3128"}, url="ws://gw.example.test/ws")
    d.session.connection_made(cmd.id, 1.0)
    d.session.data_to_send()
    d.session.receive_data(b"HTTP/1.1 200 OK\r\n\r\n"
                           b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", 1.1)
    ended = [e for e in d.events() if isinstance(e, ConnectionEnded)]
    assert [(e.cause, e.detail) for e in ended] == [
        (EndCause.HANDSHAKE_FAILED, "gateway refused the upgrade with HTTP 503")]
    d.collect()
    assert d.closed == [cmd.id]


def test_a_proxy_that_speaks_before_tls_starts_is_closed_and_retried() -> None:
    from qqproto._commands import StartTls
    d, cmd = proxied({"HTTPS_PROXY": "http://proxy.local:3128"})
    d.session.connection_made(cmd.id, 1.0)
    d.session.data_to_send()
    d.session.receive_data(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01", 1.1)
    d.collect()
    assert d.closed == [cmd.id]  # the socket is not left open
    assert not any(isinstance(c, StartTls) for c in d.pending)
    assert d.session.state is SessionState.WAITING
    reconnecting = d.events()[-1]
    assert isinstance(reconnecting, Reconnecting) and reconnecting.attempt == 1


def test_tls_started_on_a_connection_that_asked_for_no_tls_is_ignored() -> None:
    d, cmd = proxied({"HTTPS_PROXY": "http://proxy.local:3128"})
    d.session.connection_made(cmd.id, 1.0)
    assert d.session.data_to_send().startswith(b"CONNECT ")
    d.session.tls_started(cmd.id, 1.1)  # the tunnel is not even up
    assert d.session.state is SessionState.CONNECTING
    assert d.session.data_to_send() == b""  # no WebSocket upgrade on an unready stream


def test_no_proxy_connects_directly() -> None:
    _, cmd = proxied({"HTTPS_PROXY": "http://proxy.local:3128", "NO_PROXY": ".example.test"})
    assert (cmd.host, cmd.via) == ("gw.example.test", "")


def test_proxy_authentication_failure_stops_with_a_clear_reason() -> None:
    d, cmd = proxied({"HTTPS_PROXY": "http://bob:hunter2@proxy.local:3128"})
    d.session.connection_made(cmd.id, 1.0)
    assert b"Proxy-Authorization: Basic " in d.session.data_to_send()
    d.session.receive_data(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                           b"Content-Length: 0\r\n\r\n", 1.1)
    stopped = d.events()[-1]
    assert isinstance(stopped, SessionStopped) and stopped.fatal
    assert stopped.reason.startswith("proxy refused")
    assert "hunter2" not in stopped.reason


def test_proxy_refusal_is_retried_with_backoff() -> None:
    d, cmd = proxied({"HTTPS_PROXY": "http://proxy.local:3128"})
    d.session.connection_made(cmd.id, 1.0)
    d.session.data_to_send()
    d.session.receive_data(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 1.1)
    d.collect()
    assert d.closed == [cmd.id]
    assert d.session.state is SessionState.WAITING


def test_proxy_that_never_answers_times_out() -> None:
    d, cmd = proxied({"HTTPS_PROXY": "http://proxy.local:3128"})
    d.session.connection_made(cmd.id, 1.0)
    d.fire_timer()
    d.collect()
    assert d.closed == [cmd.id]
    assert d.session.state is SessionState.WAITING


def test_an_unusable_proxy_setting_stops_the_session() -> None:
    d = Driver(make_session(proxy_env={"HTTPS_PROXY": "ftp://nope"}))
    d.session.start(0.0)
    d.answer_http(token_ok(), 0.0)
    d.answer_http(gateway_ok(), 0.0)
    stopped = d.events()[-1]
    assert isinstance(stopped, SessionStopped)
    assert stopped.reason.startswith("unusable proxy setting")


def test_the_close_reply_of_an_ended_connection_is_still_sent() -> None:
    from wsproto.events import CloseConnection as WSClose
    d = started()
    peer = d.bring_up(seq=1)
    data = peer.ws.send(WSClose(code=4009, reason="expired"))
    d.session.receive_data(data, 1.0)
    assert d.session.connection is None  # the connection is over for the session
    reply = d.session.data_to_send()  # but its close reply must still go out
    peer.ws.receive_data(reply)
    assert [e for e in peer.ws.events()] == [WSClose(code=4009, reason="expired")]
    assert d.session.data_to_send() == b""
