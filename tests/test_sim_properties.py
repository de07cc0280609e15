"""Hypothesis properties of the simulator: hostile bytes never escape as exceptions, the
outcome does not depend on how bytes are split, and Resume never loses or repeats."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from qqproto.simulator._connection import SimConnection

from .test_sim_harness import HOST, GatewayClient, connect_ready, make_sim, token_for

_UPGRADE = (b"GET /websocket HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n")
_PIECES = [
    b"GET /gateway HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /app/getAppAccessToken HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v2/users/U/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    _UPGRADE,
    # Masked client frames (mask key 0): op 1 heartbeat text, a close, a ping, a binary.
    b"\x81\x91\x00\x00\x00\x00" + b'{"op":1,"d":null}',
    b"\x88\x82\x00\x00\x00\x00\x03\xe8",
    b"\x89\x80\x00\x00\x00\x00",
    b"\x82\x81\x00\x00\x00\x00\x00",
    b"\r\n",
]
byte_streams = st.lists(st.sampled_from(_PIECES) | st.binary(max_size=40), max_size=8).map(
    b"".join)


def _feed(chunks: list[bytes]) -> tuple[bytes, bool, bool]:
    sim = make_sim(max_request_size=64, max_ws_message_size=64)
    token_for(sim)
    conn: SimConnection = sim.new_connection(0.0)
    out = b""
    for chunk in chunks:
        conn.receive_data(chunk, 0.0)
        out += conn.data_to_send()
    conn.receive_data(b"", 0.0)
    out += conn.data_to_send()
    return out, conn.should_close, conn.should_abort


@settings(max_examples=300, deadline=None)
@given(data=byte_streams, cuts=st.lists(st.integers(min_value=0, max_value=400),
                                        max_size=10))
def test_any_bytes_give_the_same_answer_whole_or_split_and_never_raise(
        data: bytes, cuts: list[int]) -> None:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert _feed([data]) == _feed(chunks)
    assert _feed([data])[1]  # EOF always ends with the connection closed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**40, max_value=2**40)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
frames = st.fixed_dictionaries(
    {"op": st.sampled_from([0, 1, 2, 6, 7, 9, 11, 99]) | json_values},
    optional={"d": json_values | st.fixed_dictionaries(
        {"token": st.sampled_from(["QQBot VALID", "QQBot bad", 3]),
         "intents": st.integers(min_value=-1, max_value=2**32) | json_values,
         "shard": st.lists(st.integers(min_value=-1, max_value=70), max_size=3),
         "session_id": st.sampled_from(["SESSION", "nope"]) | json_values,
         "seq": st.integers(min_value=-1, max_value=5) | json_values})})
ALLOWED_CLOSES = {1009, 4001, 4002, 4004, 4005, 4007, 4010}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(frames | json_values, max_size=6))
def test_any_client_frames_get_an_answer_or_a_documented_close(script: list[Any]) -> None:
    sim = make_sim()
    _, ready = connect_ready(sim)
    token = token_for(sim)
    session_id = ready["d"]["session_id"]
    sim.drop_connections(0.0)
    client = GatewayClient(sim)
    for item in script:
        text = json.dumps(item).replace("VALID", token).replace("SESSION", session_id)
        client.send_text(text)
        if client.close is not None:
            break
    if client.close is not None:
        assert client.close.code in ALLOWED_CLOSES


class ResumeNeverLosesOrRepeats(RuleBasedStateMachine):
    """A client that always resumes with the last seq it saw gets every event once."""

    @initialize()
    def start(self) -> None:
        self.sim = make_sim(heartbeat_timeout_factor=None)
        self.now = 0.0
        self.client, ready = connect_ready(self.sim)
        self.session_id = ready["d"]["session_id"]
        self.last_seq = ready["s"]
        self.injected: list[str] = []
        self.seen: list[str] = []
        self.connected = True

    def _absorb(self) -> None:
        for frame in self.client.pump():
            if isinstance(frame, dict) and frame.get("op") == 0:
                assert frame["s"] > self.last_seq
                self.last_seq = frame["s"]
                if frame["t"] not in ("READY", "RESUMED"):
                    self.seen.append(frame["id"])

    @rule(count=st.integers(min_value=1, max_value=4))
    def inject(self, count: int) -> None:
        self.now += 1.0
        for n in range(count):
            self.injected.append(self.sim.inject_c2c_message("U", str(n), now=self.now).id)

    @rule()
    def pump(self) -> None:
        if self.connected:
            self._absorb()

    @rule(how=st.sampled_from(["abort", "eof", "close"]))
    def disconnect(self, how: str) -> None:
        if not self.connected:
            return
        if how == "abort":
            self.sim.drop_connections(self.now)
        elif how == "eof":
            self._absorb()
            self.client.eof()
        else:
            self.sim.close_connections(4009, now=self.now)
            self._absorb()
        self.connected = False

    @rule()
    def resume(self) -> None:
        if self.connected:
            return
        self.client = GatewayClient(self.sim, self.now)
        self.client.received.clear()  # Hello
        self.client.resume(token_for(self.sim, self.now), self.session_id, self.last_seq)
        assert self.client.dispatches[-1]["t"] == "RESUMED"
        self._absorb_replayed()
        self.connected = True

    def _absorb_replayed(self) -> None:
        for frame in self.client.dispatches:
            assert frame["s"] > self.last_seq
            self.last_seq = frame["s"]
            if frame["t"] != "RESUMED":
                self.seen.append(frame["id"])

    @invariant()
    def nothing_repeated_or_lost(self) -> None:
        assert len(self.seen) == len(set(self.seen))
        assert self.seen == self.injected[:len(self.seen)]
        assert self.sim.counters.lost_events == 0
        if self.connected:
            self._absorb()
            assert self.seen == self.injected


TestResumeNeverLosesOrRepeats = ResumeNeverLosesOrRepeats.TestCase
TestResumeNeverLosesOrRepeats.settings = settings(max_examples=60, stateful_step_count=25,
                                                  deadline=None)
