"""ReplyStream: streamed C2C replies and the one-message fallback, request-exact."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from qqproto.errors import (
    LocalProtocolError,
    ReplyExhaustedError,
    StreamPrefixError,
    TransientError,
)
from qqproto.events import Dispatch
from qqproto.models import C2CMessageCreate, InteractionCreate, MessageEvent, parse_event
from qqproto.rest import (
    Endpoints,
    HttpRequest,
    HttpResponse,
    MessageSent,
    OnExhausted,
    ReplyContext,
    ReplyStream,
    RestCall,
    RestClient,
    StreamChunk,
    StreamMode,
    StreamState,
    TokenState,
)
from qqproto.rest._stream import MIN_GAP, TRANSITIONS

API = "https://api.example.test"
TOKEN_URL = "https://auth.example.test/token"
TOKEN_OK = HttpResponse(status=200, body=b'{"access_token":"TOK","expires_in":7200}')
STREAM_URL = API + "/v2/users/U1/stream_messages"


def client() -> RestClient:
    return RestClient(TokenState(app_id="1001", secret="s",
                                 endpoints=Endpoints(api_base=API, token_url=TOKEN_URL)))


def c2c(msg_id: str = "ROBOT1.0_m1") -> MessageEvent:
    event = parse_event(Dispatch(type="C2C_MESSAGE_CREATE", seq=1, id="C2C_MESSAGE_CREATE:e1",
                                 data={"id": msg_id, "content": "q",
                                       "author": {"user_openid": "U1"}}))
    assert isinstance(event, C2CMessageCreate)
    return event


def group() -> MessageEvent:
    event = parse_event(Dispatch(
        type="GROUP_AT_MESSAGE_CREATE", seq=1, id="GROUP_AT_MESSAGE_CREATE:e2",
        data={"id": "ROBOT1.0_g1", "content": " q", "group_openid": "G1",
              "author": {"member_openid": "M1"}}))
    assert isinstance(event, MessageEvent)
    return event


def answer(stream_id: str = "S-1", remain: int = 0) -> HttpResponse:
    return HttpResponse(status=200, body=json.dumps(
        {"id": stream_id, "timestamp": "2026-07-21T10:00:00+08:00",
         "ext_info": {"ref_idx": "REFIDX_r"}, "remain_msg_len": remain}).encode())


def run(call: RestCall[Any], response: HttpResponse) -> HttpRequest:
    """Pump ``call`` (answering the token request) with ``response``; its request."""
    sent = []
    while (request := call.next_request(0.0)) is not None:
        if request.url == TOKEN_URL:
            call.receive_response(TOKEN_OK, 0.0)
            continue
        sent.append(request)
        call.receive_response(response, 0.0)
    (request,) = sent
    return request


def step(stream: ReplyStream, now: float, response: HttpResponse | None = None
         ) -> dict[str, Any]:
    """The chunk due at ``now``, answered; its JSON body."""
    call = stream.next_call(now)
    assert call is not None
    request = run(call, response or answer())
    stream.call_finished(call, now)
    assert request.method == "POST" and request.url == STREAM_URL
    body: dict[str, Any] = json.loads(request.body)
    return body


def test_a_c2c_stream_sends_indexed_chunks_then_the_final_one() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    assert stream.next_call(0.0) is None and stream.get_timer() is None  # nothing written
    stream.write("Hel", 0.0)
    assert step(stream, 0.0, answer("a1b2")) == {
        "input_mode": "replace", "input_state": 1, "index": 0, "content_type": "markdown",
        "content_raw": "Hel", "msg_id": "ROBOT1.0_m1", "msg_seq": 1}
    assert stream.stream_msg_id == "a1b2" and stream.shown == "Hel"
    stream.write("lo", 0.2)
    stream.write(" world", 0.4)
    assert stream.get_timer() == 1.0 and stream.next_call(0.9) is None
    assert step(stream, 1.0, answer("a1b2")) == {
        "input_mode": "replace", "input_state": 1, "index": 1, "content_type": "markdown",
        "content_raw": "Hello world", "msg_id": "ROBOT1.0_m1", "stream_msg_id": "a1b2",
        "msg_seq": 1}
    stream.close(1.5)
    assert stream.get_timer() == 1.0 + MIN_GAP  # the final chunk waits for no interval
    assert step(stream, 1.5, answer("a1b2", remain=3))["input_state"] == 10
    assert stream.done and stream.state is StreamState.DONE
    assert stream.chunks == [
        StreamChunk(stream_msg_id="a1b2", index=i, final=i == 2, ref_idx="REFIDX_r",
                    timestamp="2026-07-21T10:00:00+08:00", remain_msg_len=3 if i == 2 else 0)
        for i in range(3)]
    assert stream.next_call(5.0) is None and stream.get_timer() is None


def test_append_mode_sends_only_the_new_text() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0,
                                   mode=StreamMode.APPEND, markdown=False, interval=0.5)
    stream.write("one", 0.0)
    first = step(stream, 0.0)
    assert (first["input_mode"], first["content_type"], first["content_raw"]) == (
        "append", "text", "one")
    stream.write(" two", 0.1)
    stream.close(0.1)
    final = step(stream, 0.5)
    assert (final["index"], final["input_state"], final["content_raw"]) == (1, 10, " two")


def test_a_close_with_nothing_new_sends_an_empty_final_chunk_after_the_short_gap() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0,
                                   mode=StreamMode.APPEND)
    stream.write("all", 0.0)
    call = stream.next_call(0.0)
    assert call is not None
    stream.close(0.1)  # while the chunk is out
    assert stream.state is StreamState.CLOSING_SENDING and stream.next_call(0.1) is None
    run(call, answer())
    stream.call_finished(call, 0.1)
    assert stream.get_timer() == MIN_GAP
    assert step(stream, MIN_GAP)["content_raw"] == ""


def test_a_stream_closed_without_text_sends_nothing() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.close(0.0)
    assert stream.next_call(0.0) is None
    assert stream.done and stream.chunks == [] and stream.sent == []


def test_writes_while_a_chunk_is_out_ride_on_the_next_one() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.write("a", 0.0)
    call = stream.next_call(0.0)
    assert call is not None
    stream.write("b", 0.1)
    stream.write("c", 0.2)
    assert stream.next_call(2.0) is None  # one call at a time
    run(call, answer())
    stream.call_finished(call, 2.0)
    assert stream.shown == "a"
    assert step(stream, 2.0)["content_raw"] == "abc"


def test_replace_may_rewrite_only_what_was_not_shown() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.write("The answer is 4", 0.0)
    stream.replace("The answer is 42", 0.0)  # nothing accepted yet: anything goes
    step(stream, 0.0)
    stream.write("!", 0.1)
    stream.replace("The answer is 42.", 0.2)
    with pytest.raises(StreamPrefixError) as info:
        stream.replace("The answer was 42", 0.3)
    assert (info.value.code, stream.text) == (40007, "The answer is 42.")
    assert step(stream, 1.0)["content_raw"] == "The answer is 42."


def test_replace_keeps_the_text_of_a_chunk_in_flight() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.write("draft", 0.0)
    assert stream.next_call(0.0) is not None
    with pytest.raises(StreamPrefixError):
        stream.replace("final", 0.1)


def test_the_platforms_40007_ends_the_stream_with_the_typed_error() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.write("x", 0.0)
    call = stream.next_call(0.0)
    assert call is not None
    run(call, HttpResponse(status=400, body=b'{"code":40007,"message":"prefix"}'))
    stream.call_finished(call, 0.0)
    assert stream.state is StreamState.FAILED and stream.done
    assert isinstance(stream.error, StreamPrefixError) and stream.error.code == 40007
    with pytest.raises(LocalProtocolError):
        stream.write("more", 0.1)


def test_a_failed_final_chunk_fails_the_stream() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.write("x", 0.0)
    stream.close(0.0)
    call = stream.next_call(0.0)
    assert call is not None
    run(call, HttpResponse(status=200, body=b'{"code":50001,"message":"later"}'))
    stream.call_finished(call, 0.0)
    assert isinstance(stream.error, TransientError) and stream.state is StreamState.FAILED


def test_a_c2c_tap_is_streamed_by_event_id() -> None:
    tap = parse_event(Dispatch(type="INTERACTION_CREATE", seq=2, id="INTERACTION_CREATE:t",
                               data={"id": "I1", "scene": "c2c", "user_openid": "U1",
                                     "data": {"resolved": {"button_data": "b"}}}))
    assert isinstance(tap, InteractionCreate)
    stream = ReplyStream.for_event(client(), ReplyContext(), tap, now=0.0)
    stream.write("ok", 0.0)
    body = step(stream, 0.0)
    assert (body["event_id"], body["msg_seq"], "msg_id" in body) == (
        "INTERACTION_CREATE:t", 1, False)


def test_the_stream_takes_one_msg_seq_of_the_message() -> None:
    replies = ReplyContext()
    event = c2c()
    ReplyStream.for_event(client(), replies, event, now=0.0)
    second = ReplyStream.for_event(client(), replies, event, now=0.0)
    assert second.msg_seq == 2
    assert replies.remaining("c2c", now=0.0, msg_id="ROBOT1.0_m1") == 2


def test_a_message_whose_replies_are_used_up_cannot_be_streamed() -> None:
    replies = ReplyContext(limits={"c2c": 1})  # type: ignore[dict-item]
    ReplyStream.for_event(client(), replies, c2c(), now=0.0)
    with pytest.raises(ReplyExhaustedError):
        ReplyStream.for_event(client(), replies, c2c(), now=0.0)
    active = ReplyContext(limits={"c2c": 1}, on_exhausted=OnExhausted.ACTIVE)  # type: ignore[dict-item]
    ReplyStream.for_event(client(), active, c2c(), now=0.0)
    with pytest.raises(ReplyExhaustedError):
        ReplyStream.for_event(client(), active, c2c(), now=0.0)


def test_a_group_gets_one_message_when_the_stream_closes() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), group(), now=0.0)
    assert not stream.streaming
    stream.write("Hello", 0.0)
    stream.write(" group", 5.0)
    assert stream.next_call(9.0) is None and stream.get_timer() is None
    stream.close(9.0)
    assert stream.get_timer() == 0.0
    call = stream.next_call(9.0)
    assert call is not None
    request = run(call, HttpResponse(status=200, body=b'{"id":"M9","timestamp":"t"}'))
    stream.call_finished(call, 9.0)
    assert request.url == API + "/v2/groups/G1/messages"
    assert json.loads(request.body) == {"msg_type": 2, "markdown": {"content": "Hello group"},
                                        "msg_id": "ROBOT1.0_g1", "msg_seq": 1}
    assert stream.sent == [MessageSent(id="M9", timestamp="t")] and stream.done


def test_a_long_fallback_goes_out_in_parts_one_after_another() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), group(), now=0.0, markdown=False)
    stream.write("a" * 3000 + "\n\n" + "b" * 3000, 0.0)
    stream.close(0.0)
    bodies = []
    while not stream.done:
        call = stream.next_call(0.0)
        assert call is not None
        bodies.append(json.loads(run(call, HttpResponse(status=200, body=b'{"id":"M"}')).body))
        stream.call_finished(call, 0.0)
    assert [(b["content"][0], b["msg_seq"]) for b in bodies] == [("a", 1), ("b", 2)]


def test_an_empty_fallback_sends_nothing() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), group(), now=0.0)
    stream.close(0.0)
    assert stream.next_call(0.0) is None and stream.done and stream.sent == []


def test_misuse_is_a_local_protocol_error() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.write("x", 0.0)
    other = client().get_bot_info()
    with pytest.raises(LocalProtocolError):
        stream.call_finished(other, 0.0)
    stream.close(0.0)
    with pytest.raises(LocalProtocolError):
        stream.close(0.0)
    with pytest.raises(TypeError):
        ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0).write(b"x", 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [
    {"scope": "group", "target_id": "G", "msg_id": "m"},
    {"scope": "c2c", "target_id": "U"},
    {"scope": "c2c", "target_id": "U", "msg_id": "m", "event_id": "e"},
    {"scope": "c2c", "target_id": "U", "msg_id": "m", "interval": 0.001},
    {"scope": "c2c", "target_id": "", "msg_id": "m"},
    {"scope": "group", "target_id": "G", "streaming": False},
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ReplyStream(client(), now=0.0, **kwargs)


def test_the_repr_shows_sizes_not_text() -> None:
    stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0)
    stream.write("private words", 0.0)
    assert repr(stream) == "ReplyStream(c2c, state=OPEN, 13 chars, 0 chunks)"


# --- a hypothesis machine ------------------------------------------------------------------


class StreamMachine(RuleBasedStateMachine):
    """Any order of writes, replaces, time, answers (good or failing) and the close:
    one call at a time, indexes in order, the shown text only grows, and the text the
    platform ends with is exactly what was written."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = StreamMode.REPLACE
        self.stream: ReplyStream | None = None
        self.now = 0.0
        self.call: RestCall[Any] | None = None
        self.server_text = ""
        self.indexes: list[int] = []
        self.shown_history: list[str] = []

    @rule(mode=st.sampled_from(list(StreamMode)), interval=st.sampled_from([0.02, 0.5, 1.0]))
    @precondition(lambda self: self.stream is None)
    def open(self, mode: StreamMode, interval: float) -> None:
        self.mode = mode
        self.stream = ReplyStream.for_event(client(), ReplyContext(), c2c(), now=0.0,
                                            mode=mode, interval=interval)

    @rule(text=st.text(alphabet="ab", max_size=3))
    @precondition(lambda self: self.stream is not None
                  and self.stream.state in (StreamState.OPEN, StreamState.SENDING))
    def write(self, text: str) -> None:
        assert self.stream is not None
        self.stream.write(text, self.now)

    @rule(cut=st.integers(0, 5), tail=st.text(alphabet="xy", max_size=2))
    @precondition(lambda self: self.stream is not None
                  and self.stream.state in (StreamState.OPEN, StreamState.SENDING))
    def replace(self, cut: int, tail: str) -> None:
        assert self.stream is not None
        before = self.stream.text
        new = before[:max(0, len(before) - cut)] + tail
        try:
            self.stream.replace(new, self.now)
        except StreamPrefixError:
            assert self.stream.text == before
        else:
            assert new.startswith(self.stream.shown)

    @rule()
    @precondition(lambda self: self.stream is not None
                  and self.stream.state in (StreamState.OPEN, StreamState.SENDING))
    def close(self) -> None:
        assert self.stream is not None
        self.stream.close(self.now)

    @rule(dt=st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    @precondition(lambda self: self.stream is not None and self.call is None)
    def tick(self, dt: float) -> None:
        assert self.stream is not None
        self.now += dt
        timer = self.stream.get_timer()
        call = self.stream.next_call(self.now)
        if call is None:
            assert timer is None or timer > self.now or self.stream.done
        self.call = call

    @rule(ok=st.booleans())
    @precondition(lambda self: self.call is not None)
    def answer(self, ok: bool) -> None:
        assert self.stream is not None and self.call is not None
        call, self.call = self.call, None
        response = answer() if ok else HttpResponse(status=500, body=b"{}")
        request = run(call, response)
        body = json.loads(request.body)
        self.indexes.append(body["index"])
        if ok:
            raw = body["content_raw"]
            if body["input_mode"] == "replace":
                assert raw.startswith(self.server_text)
                self.server_text = raw
            else:
                self.server_text += raw
        self.stream.call_finished(call, self.now)
        self.shown_history.append(self.stream.shown)

    @invariant()
    def consistent(self) -> None:
        stream = self.stream
        if stream is None:
            return
        assert stream.text.startswith(stream.shown)
        assert stream.shown == self.server_text
        assert self.indexes == sorted(self.indexes)
        assert all(b.startswith(a) for a, b in zip(self.shown_history,
                                                   self.shown_history[1:], strict=False))
        if stream.state is StreamState.DONE:
            assert stream.shown == stream.text and stream.error is None
        if stream.state is StreamState.FAILED:
            assert stream.error is not None
        assert stream.state in {s for pair in TRANSITIONS for s in (pair[0],)} | {
            StreamState.DONE, StreamState.FAILED}


TestStreamMachine = StreamMachine.TestCase
TestStreamMachine.settings = __import__("hypothesis").settings(max_examples=150,
                                                                stateful_step_count=30)
