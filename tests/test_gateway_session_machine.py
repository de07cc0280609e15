"""A hypothesis state machine drives a GatewaySession through random interleavings of HTTP
answers, connects, server frames, drops, close codes and timers, and checks the
invariants of issue 2 after every step."""

from __future__ import annotations

import json
import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from wsproto.events import CloseConnection as WSClose

from qqproto._commands import CloseConnection, OpenConnection, SendHttpRequest, Stop
from qqproto.events import Dispatch, SessionStopped
from qqproto.gateway._session import GatewaySession, SessionState

from .gateway_peer import GatewayPeer
from .session_harness import ENDPOINTS, gateway_ok, json_response, token_ok

FATAL = (4001, 4002, 4010, 4011, 4012, 4013, 4014, 4914, 4915)
CODES = (1000, 1001, 4000, 4003, 4004, 4006, 4007, 4008, 4009, 4900, 4913, 4321, *FATAL)


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.session = GatewaySession(app_id="1", secret="s", endpoints=ENDPOINTS,
                                      rng=random.Random(0))
        self.now = 0.0
        self.session.start(self.now)
        self.http: list[SendHttpRequest] = []
        self.opening: list[OpenConnection] = []
        self.peer: GatewayPeer | None = None
        self.peer_id: int | None = None
        self.upgraded = False
        self.checked = 0
        self.next_event_id = 0
        self.sent_ids: list[str] = []
        self.delivered_ids: list[str] = []
        self.processed: list[int] = []
        self.stopped = False
        self.fatal_stop = False
        self.resume_checks = 0
        self.server_seq = 0
        self.pump()

    # -- plumbing -------------------------------------------------------------------
    def pump(self) -> None:
        session = self.session
        if self.peer is not None:
            self.peer.pump_from_client()
            for frame in self.peer.received[self.checked:]:
                if isinstance(frame, dict) and frame.get("op") == 6:
                    # Resume always carries the latest processed seq.
                    assert frame["d"]["seq"] == (session.processed_seq or 0)
                    self.resume_checks += 1
            self.checked = len(self.peer.received)
        while (cmd := session.next_command()) is not None:
            # After Stop only CloseConnection may follow (for a socket that opened late).
            assert not self.stopped or isinstance(cmd, CloseConnection), f"{cmd} after Stop"
            if isinstance(cmd, SendHttpRequest):
                self.http.append(cmd)
            elif isinstance(cmd, OpenConnection):
                self.opening.append(cmd)
            elif isinstance(cmd, CloseConnection):
                if cmd.id == self.peer_id:
                    self.peer = None
                    self.peer_id = None
                    self.upgraded = False
            elif isinstance(cmd, Stop):
                self.stopped = True
                self.fatal_stop = cmd.fatal
        while (event := session.next_event()) is not None:
            if type(event) is Dispatch:
                assert event.id is not None
                self.delivered_ids.append(event.id)
            if isinstance(event, Dispatch) and event.seq is not None:
                self.processed.append(session.processed_seq or 0)
            if isinstance(event, SessionStopped):
                assert self.session.state is SessionState.STOPPED

    def server_send(self, obj: object) -> None:
        assert self.peer is not None
        text = json.dumps(obj)
        try:
            self.peer.send_text(text, self.now)
        except Exception as exc:  # the peer's own wsproto may refuse after a close
            assert type(exc).__module__.startswith("wsproto"), exc
        self.pump()

    # -- rules: driver side ------------------------------------------------------------
    @rule(dt=st.floats(0, 30))
    def time_passes(self, dt: float) -> None:
        self.now += dt

    @rule()
    def timer_fires(self) -> None:
        due = self.session.get_timer()
        if due is not None:
            self.now = max(self.now, due)
            self.session.handle_timer(self.now)
            self.pump()

    @precondition(lambda self: self.http)
    @rule(kind=st.sampled_from(["ok", "ok", "ok", "error", "fail", "bad credentials"]))
    def http_answered(self, kind: str) -> None:
        cmd = self.http.pop(0)
        if kind == "fail":
            self.session.http_failed(cmd.id, "refused", self.now)
        elif kind == "error":
            self.session.http_response(cmd.id, json_response(503, {"message": "busy"}), self.now)
        elif kind == "bad credentials" and cmd.purpose == "token":
            self.session.http_response(cmd.id, json_response(200, {"code": 100016}), self.now)
        elif cmd.purpose == "token":
            self.session.http_response(cmd.id, token_ok(expires_in=7200), self.now)
        else:
            self.session.http_response(cmd.id, gateway_ok(remaining=100, max_concurrency=2),
                                       self.now)
        self.pump()

    @precondition(lambda self: self.opening)
    @rule(ok=st.booleans())
    def connect_answered(self, ok: bool) -> None:
        cmd = self.opening.pop(0)
        if ok:
            self.session.connection_made(cmd.id, self.now)
            if self.session.connection is not None and self.session.state is \
                    SessionState.CONNECTED:
                self.peer = GatewayPeer(self.session)
                self.peer_id = cmd.id
                self.checked = 0
        else:
            self.session.connection_failed(cmd.id, "refused", self.now)
        self.pump()

    # -- rules: server side ------------------------------------------------------------
    @precondition(lambda self: self.peer is not None and not self.upgraded)
    @rule()
    def server_accepts(self) -> None:
        assert self.peer is not None
        self.peer.accept(self.now)
        self.upgraded = True
        self.pump()
        self.server_send({"op": 10, "d": {"heartbeat_interval": 10000}})

    @precondition(lambda self: self.upgraded)
    @rule()
    def server_ready(self) -> None:
        self.server_seq += 1
        self.server_send({"op": 0, "s": self.server_seq, "t": "READY", "d": {
            "session_id": f"sess-{self.server_seq}", "user": {"id": "bot"}}})

    @precondition(lambda self: self.upgraded)
    @rule(count=st.integers(1, 3))
    def server_dispatches(self, count: int) -> None:
        for _ in range(count):
            self.server_seq += 1
            self.next_event_id += 1
            event_id = f"E:{self.next_event_id}"
            self.sent_ids.append(event_id)
            self.server_send({"op": 0, "s": self.server_seq, "t": "C2C_MESSAGE_CREATE",
                              "id": event_id, "d": {"id": event_id}})

    @precondition(lambda self: self.upgraded and self.sent_ids)
    @rule(data=st.data())
    def server_replays(self, data: st.DataObject) -> None:
        event_id = data.draw(st.sampled_from(self.sent_ids))
        seq = int(event_id.split(":")[1])
        self.server_send({"op": 0, "s": seq, "t": "C2C_MESSAGE_CREATE", "id": event_id,
                          "d": {"id": event_id}})

    @precondition(lambda self: self.upgraded)
    @rule()
    def server_resumed(self) -> None:
        self.server_send({"op": 0, "s": self.server_seq, "t": "RESUMED", "d": ""})

    @precondition(lambda self: self.upgraded)
    @rule()
    def server_acks(self) -> None:
        self.server_send({"op": 11})

    @precondition(lambda self: self.upgraded)
    @rule(op=st.sampled_from([{"op": 7}, {"op": 9, "d": True}, {"op": 9, "d": False},
                              {"op": 1}]))
    def server_control(self, op: dict[str, object]) -> None:
        self.server_send(op)

    @precondition(lambda self: self.upgraded)
    @rule(code=st.sampled_from(CODES))
    def server_closes(self, code: int) -> None:
        assert self.peer is not None
        try:
            data = self.peer.ws.send(WSClose(code=code, reason="x"))
        except Exception:  # the peer already received our close
            return
        self.session.receive_data(data, self.now)
        self.pump()

    @precondition(lambda self: self.peer is not None)
    @rule()
    def network_drops(self) -> None:
        self.session.receive_data(b"", self.now)
        self.pump()

    @precondition(lambda self: self.upgraded)
    @rule(garbage=st.sampled_from([b"\x81\x03abc", b"\x82\x01x", b"\xff\xff"]))
    def server_sends_garbage(self, garbage: bytes) -> None:
        self.session.receive_data(garbage, self.now)
        self.pump()

    @rule()
    def application_closes_sometimes(self) -> None:
        if random.Random(self.now).random() < 0.05:
            self.session.close(self.now)
            self.pump()

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def no_dispatch_is_delivered_twice(self) -> None:
        assert len(self.delivered_ids) == len(set(self.delivered_ids))

    @invariant()
    def processed_seq_never_decreases(self) -> None:
        assert self.processed == sorted(self.processed)

    @invariant()
    def the_session_never_waits_forever(self) -> None:
        if self.session.state is not SessionState.STOPPED:
            assert self.session.get_timer() is not None
        else:
            assert self.stopped

    @invariant()
    def a_stop_is_for_good(self) -> None:
        if self.stopped:
            assert self.session.state is SessionState.STOPPED
            self.session.handle_timer(self.now + 1e6)
            assert self.session.next_command() is None

    @invariant()
    def ready_resets_the_seq_to_the_new_session(self) -> None:
        snap = self.session.snapshot()
        if snap is not None:
            assert snap.seq == self.session.processed_seq


TestSessionMachine = SessionMachine.TestCase
TestSessionMachine.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_machine_exercises_resume() -> None:
    # Guard: a scripted walk through the same rules reaches a Resume and checks it.
    machine = SessionMachine()
    machine.http_answered("ok")
    machine.http_answered("ok")
    machine.connect_answered(True)
    machine.server_accepts()
    machine.server_ready()
    machine.server_dispatches(2)
    machine.network_drops()
    machine.timer_fires()
    machine.connect_answered(True)
    machine.server_accepts()
    assert machine.resume_checks == 1
