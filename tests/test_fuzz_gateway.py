"""The gateway fuzz target, run by hypothesis in CI (fuzz/fuzz_gateway.py)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from fuzz.fuzz_gateway import _run, fuzz_one

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["op", "s", "t", "d", "id", "x"]), inner, max_size=5),
    max_leaves=12,
)
frames = st.fixed_dictionaries(
    {"op": st.sampled_from([0, 1, 7, 9, 10, 11, 2, 42]) | st.integers()},
    optional={"s": st.integers(-3, 2**40) | st.none() | st.text(max_size=3),
              "t": st.sampled_from(["READY", "RESUMED", "C2C_MESSAGE_CREATE", ""]) | st.none(),
              "id": st.text(max_size=10) | st.none(), "d": json_values},
)


def _server_frame(payload: bytes, opcode: Opcode = Opcode.TEXT, fin: bool = True) -> bytes:
    proto = FrameProtocol(client=False, extensions=[])
    return bytes(proto._serialize_frame(opcode, payload, fin=fin))


texts = st.one_of(
    frames.map(lambda f: json.dumps(f, allow_nan=True)),
    st.text(max_size=60),
)
streams = st.lists(
    st.one_of(
        texts.map(lambda t: _server_frame(t.encode("utf-8", "surrogatepass"))),
        st.binary(max_size=40).map(lambda b: _server_frame(b, Opcode.BINARY)),
        st.binary(max_size=10).map(lambda b: _server_frame(b, Opcode.PING)),
        texts.map(lambda t: _server_frame(t.encode("utf-8", "surrogatepass"), fin=False)),
        st.binary(max_size=30),
    ),
    max_size=8,
).map(b"".join)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_gateway_on_raw_bytes(data: bytes) -> None:
    fuzz_one(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(streams)
def test_fuzz_gateway_on_structured_frames(data: bytes) -> None:
    fuzz_one(data)


def test_fuzz_harness_sees_dispatches_and_errors() -> None:
    # Guard against a harness that cannot fail: real frames must produce events.
    good = _server_frame(b'{"op":0,"s":2,"t":"X","id":"e","d":{}}')
    events, outcome, _ = _run([good])
    assert outcome == "ok" and len(events) == 1
    events, outcome, _ = _run([_server_frame(b"not json")])
    assert outcome == 1007
