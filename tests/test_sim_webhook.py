"""The simulator's webhook pusher: exact signed requests, answer judging, redelivery with
backoff (time moved by arithmetic), bounds, and round trips through the real receiver.
The last tests run its httpx thread against 127.0.0.1."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qqproto._http import HttpRequest, HttpResponse
from qqproto.errors import LocalProtocolError
from qqproto.events import WebhookDispatch
from qqproto.simulator._simulator import Simulator
from qqproto.simulator._webhook_push import (
    TRANSITIONS,
    JobState,
    PusherState,
    PushKind,
    PushOutcome,
    WebhookPusher,
    event_body,
    signed_headers,
)
from qqproto.webhook._decision import ReplayCache, WebhookPolicy
from qqproto.webhook._receiver import WebhookReceiver
from qqproto.webhook._signing import WebhookKey
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.simulator import SimulatorThread

from .webhook_client import (
    APP_ID,
    EVENT_TS,
    KEY,
    PLAIN_TOKEN,
    SECRET,
    VECTOR_ANSWER,
    VECTOR_BODY,
    VECTOR_SIGNATURE,
)

URL = "https://bot.example/qqbot"
# KEY.sign(EVENT_TS, VECTOR_BODY): the header the platform would put on the DOC request.
VECTOR_HEADER_SIGNATURE = (
    "83b6ac087184094d12acfde703017aad101fcff2f8345fd977de7300e7062b13"
    "ecf6bef86f29068624f8c6fd5747713c85a5ad5a151b2e532e8a8afcda39e80c")
UNIX = 1725442341.75
OK = HttpResponse(status=200, headers=(("Content-Type", "application/json"),),
                  body=b'{"op":12,"d":0}')
RETRY = HttpResponse(status=200, body=b'{"op":12,"d":1}')


def make(**kw: Any) -> WebhookPusher:
    options: dict[str, Any] = {"callback_url": URL, "secret": SECRET, "app_id": APP_ID, **kw}
    return WebhookPusher(**options)


def validated(**kw: Any) -> WebhookPusher:
    pusher = make(**kw)
    pusher.start(plain_token=PLAIN_TOKEN)
    work = pusher.next_request(0.0, UNIX)
    assert work is not None
    assert pusher.receive_response(work.job_id, HttpResponse(status=200, body=VECTOR_ANSWER),
                                   0.0) is PushOutcome.VALIDATED
    return pusher


# ---------------------------------------------------------------------------- exact bytes

def test_the_validation_request_is_the_doc_example_signed_like_the_platform() -> None:
    pusher = make()
    pusher.start(plain_token=PLAIN_TOKEN)
    assert pusher.state is PusherState.VALIDATING
    work = pusher.next_request(0.0, UNIX)
    assert work is not None and work.attempt == 1
    assert work.request == HttpRequest(
        method="POST", url=URL, body=VECTOR_BODY, timeout=5.0,
        headers=(("Content-Type", "application/json"), ("User-Agent", "QQBot-Callback"),
                 ("X-Bot-Appid", "11111111"),
                 ("X-Signature-Ed25519", VECTOR_HEADER_SIGNATURE),
                 ("X-Signature-Method", "Ed25519"),
                 ("X-Signature-Timestamp", EVENT_TS)))
    assert KEY.verify(EVENT_TS, VECTOR_BODY, VECTOR_HEADER_SIGNATURE)


def test_the_official_validation_answer_is_accepted() -> None:
    pusher = validated()
    assert pusher.state is PusherState.READY
    assert [(a.kind, a.status, a.outcome) for a in pusher.attempts] == [
        (PushKind.VALIDATION, 200, PushOutcome.VALIDATED)]
    assert VECTOR_SIGNATURE.encode() in VECTOR_ANSWER


def test_signed_headers_reproduce_the_botgo_vector() -> None:
    body = ('{"id":"ROBOT1.0_veoihSEXDc8Q.g-6eLpNIa11bH8MisOjn-m-LKxCPntMk6exUXgcWCGpVO7L2QK'
            'TNZzjZzFFDSbiOFcqAPWyVA!!","content":"哦一下","timestamp":"2024-10-15T16:33:15+08:00",'
            '"author":{"id":"675860273","user_openid":"675860273"}}').encode()
    headers = dict(signed_headers(WebhookKey("123456abcdef"), body, timestamp="1728981195",
                                  app_id="1"))
    assert headers["X-Signature-Ed25519"] == (
        "e949b5b94ef4103df903fb031d1d16e358db3db83e79e117edd404c8508be3ce"
        "8a76d7bad1bed353194c126a1a5915b4ad8b5288c1191cc53a12acffccd82004")
    assert headers["X-Signature-Timestamp"] == "1728981195"


def test_events_are_op0_frames_with_the_gateways_key_order() -> None:
    pusher = validated()
    job = pusher.push_event("C2C_MESSAGE_CREATE", {"id": "m1", "content": "hi"},
                            event_id="C2C_MESSAGE_CREATE:abc")
    assert job is not None and job.state is JobState.QUEUED
    work = pusher.next_request(1.0, UNIX + 1)
    assert work is not None
    assert work.request.body == (b'{"op":0,"s":1,"t":"C2C_MESSAGE_CREATE",'
                                 b'"id":"C2C_MESSAGE_CREATE:abc","d":{"id":"m1","content":"hi"}}')
    headers = dict(work.request.headers)
    assert headers["X-Signature-Timestamp"] == str(int(UNIX + 1))
    assert KEY.verify(headers["X-Signature-Timestamp"], work.request.body,
                      headers["X-Signature-Ed25519"])


def test_seq_numbering_and_seqless_events() -> None:
    assert event_body("T", 1, event_id=None, seq=None) == b'{"op":0,"t":"T","d":1}'
    pusher = validated(include_seq=False)
    pusher.push_event("T", {}, event_id="A")
    pusher.push_event("T", {}, event_id="B", seq=42)
    bodies = []
    for _ in range(2):
        work = pusher.next_request(0.0, UNIX)
        assert work is not None
        bodies.append(work.request.body)
        pusher.receive_response(work.job_id, OK, 0.0)
    assert bodies == [b'{"op":0,"t":"T","id":"A","d":{}}',
                      b'{"op":0,"s":42,"t":"T","id":"B","d":{}}']


# ---------------------------------------------------------------------------- judging

@pytest.mark.parametrize(("status", "body", "outcome"), [
    (200, b'{"op":12,"d":0}', PushOutcome.ACKED),
    (200, b' {"d":0, "op":12}\n', PushOutcome.ACKED),
    (200, b"", PushOutcome.ACKED),  # NB answers an empty 200 (gateway.md §9.5)
    (200, b'{"op":12,"d":1}', PushOutcome.REDELIVER),
    (200, b'{"op":12,"d":false}', PushOutcome.RETRY),
    (200, b'{"op":12,"d":0.0}', PushOutcome.RETRY),
    (200, b'{"op":12,"d":0,"x":1}', PushOutcome.RETRY),
    (200, b'{"op":11,"d":0}', PushOutcome.RETRY),
    (200, b"[12,0]", PushOutcome.RETRY),
    (200, b"not json", PushOutcome.RETRY),
    (409, b"event already delivered", PushOutcome.DUPLICATE),
    (401, b"signature does not verify", PushOutcome.REJECTED),
    (404, b"", PushOutcome.REJECTED),
    (302, b"", PushOutcome.REJECTED),
    (408, b"", PushOutcome.RETRY),
    (429, b"", PushOutcome.RETRY),
    (500, b"", PushOutcome.RETRY),
    (503, b"", PushOutcome.RETRY),
])
def test_event_answers_mean_what_the_table_says(status: int, body: bytes,
                                                outcome: PushOutcome) -> None:
    pusher = validated()
    pusher.push_event("T", {}, event_id="E1")
    work = pusher.next_request(0.0, UNIX)
    assert work is not None
    assert pusher.receive_response(work.job_id, HttpResponse(status=status, body=body),
                                   0.0) is outcome
    final = {PushOutcome.ACKED: JobState.DELIVERED, PushOutcome.DUPLICATE: JobState.DELIVERED,
             PushOutcome.REJECTED: JobState.REJECTED}.get(outcome, JobState.WAITING)
    job = pusher.finished[-1] if final is not JobState.WAITING else pusher.pending[0]
    assert (job.event_id, job.state, job.last_outcome) == ("E1", final, outcome)


@pytest.mark.parametrize(("response", "detail"), [
    (HttpResponse(status=200, body=b'{"plain_token":"other","signature":"00"}'),
     "plain_token missing or different"),
    (HttpResponse(status=200, body=b"[]"), "plain_token missing or different"),
    (HttpResponse(status=200, body=b"<html>"), "answer is not JSON"),
    (HttpResponse(status=200, body=WebhookKey("wrong-secret").validation_response(
        PLAIN_TOKEN, EVENT_TS)), "signature does not verify"),
    (HttpResponse(status=200, body=b'{"plain_token":"Arq0D5A61EgUu4OxUvOp","signature":7}'),
     "signature does not verify"),
    (HttpResponse(status=401, body=b"signature does not verify"), "HTTP 401"),
])
def test_a_failed_validation_stops_everything(response: HttpResponse, detail: str) -> None:
    pusher = make()
    queued = pusher.push_event("T", {}, event_id="EARLY")
    pusher.start(plain_token=PLAIN_TOKEN)
    work = pusher.next_request(0.0, UNIX)
    assert work is not None and work.request.body == VECTOR_BODY  # op 13 goes first
    assert pusher.receive_response(work.job_id, response, 0.0) is PushOutcome.VALIDATION_FAILED
    assert pusher.state is PusherState.FAILED and pusher.attempts[-1].detail == detail
    assert queued is not None and queued.state is JobState.REJECTED
    assert pusher.push_event("T", {}) is None and pusher.counters.events_dropped == 1
    assert pusher.next_request(1.0, UNIX) is None and pusher.idle


def test_validation_is_retried_on_transient_failures_then_given_up() -> None:
    pusher = make(max_attempts=2, retry_delay=1.0)
    pusher.start()
    work = pusher.next_request(0.0, UNIX)
    assert work is not None
    assert pusher.receive_response(work.job_id, HttpResponse(status=503), 0.0) \
        is PushOutcome.RETRY
    assert pusher.next_request(0.5, UNIX) is None and pusher.get_timer() == 1.0
    work = pusher.next_request(1.0, UNIX + 1)
    assert work is not None and work.attempt == 2
    pusher.request_failed(work.job_id, "ConnectError: refused", 1.0)
    assert pusher.state is PusherState.FAILED and pusher.counters.gave_up == 1


def test_events_wait_until_the_url_is_validated() -> None:
    pusher = make()
    pusher.push_event("T", {}, event_id="E1")
    assert pusher.state is PusherState.NEW and pusher.next_request(0.0, UNIX) is None
    pusher.start(plain_token=PLAIN_TOKEN)
    work = pusher.next_request(0.0, UNIX)
    assert work is not None and work.request.body == VECTOR_BODY
    assert pusher.next_request(0.0, UNIX) is None  # one in flight, and E1 waits anyway
    pusher.receive_response(work.job_id, HttpResponse(status=200, body=VECTOR_ANSWER), 0.0)
    work = pusher.next_request(0.0, UNIX)
    assert work is not None and b'"id":"E1"' in work.request.body


def test_without_validate_first_events_go_at_once() -> None:
    pusher = make(validate_first=False)
    pusher.start()
    pusher.push_event("T", {}, event_id="E1")
    assert pusher.state is PusherState.READY
    work = pusher.next_request(0.0, UNIX)
    assert work is not None and b'"op":0' in work.request.body


# ---------------------------------------------------------------------------- redelivery

def test_d1_is_redelivered_with_backoff_and_fresh_signatures_until_the_bound() -> None:
    pusher = validated(max_attempts=3, retry_delay=1.0, retry_factor=2.0)
    pusher.push_event("T", {}, event_id="E1")
    signatures = []
    now = 10.0
    for attempt, expected_wait in ((1, 1.0), (2, 2.0), (3, None)):
        work = pusher.next_request(now, UNIX + now)
        assert work is not None and work.attempt == attempt
        signatures.append(dict(work.request.headers)["X-Signature-Ed25519"])
        pusher.receive_response(work.job_id, RETRY, now)
        if expected_wait is not None:
            assert pusher.get_timer() == now + expected_wait
            assert pusher.next_request(now + expected_wait - 0.001, UNIX) is None
            now = pusher.get_timer() or 0.0
    assert pusher.finished[-1].state is JobState.GAVE_UP and pusher.idle
    assert len(set(signatures)) == 3  # each attempt signed with its own timestamp
    assert (pusher.counters.redeliveries, pusher.counters.gave_up) == (2, 1)
    assert [a.outcome for a in pusher.attempts][1:] == [PushOutcome.REDELIVER] * 3


def test_the_backoff_is_capped() -> None:
    pusher = validated(max_attempts=10, retry_delay=5.0, retry_factor=10.0,
                       max_retry_delay=7.0)
    pusher.push_event("T", {})
    for now in (0.0, 5.0, 12.0):
        work = pusher.next_request(now, UNIX)
        assert work is not None
        pusher.request_failed(work.job_id, "reset", now)
    assert pusher.get_timer() == 19.0


def test_a_waiting_redelivery_does_not_hold_back_later_events() -> None:
    pusher = validated(retry_delay=30.0)
    pusher.push_event("T", {}, event_id="E1")
    pusher.push_event("T", {}, event_id="E2")
    first = pusher.next_request(0.0, UNIX)
    assert first is not None
    pusher.receive_response(first.job_id, RETRY, 0.0)
    second = pusher.next_request(0.0, UNIX)
    assert second is not None and b'"id":"E2"' in second.request.body
    pusher.receive_response(second.job_id, OK, 0.0)
    again = pusher.next_request(30.0, UNIX)
    assert again is not None and again.job_id == first.job_id and again.attempt == 2


def test_in_flight_requests_are_bounded() -> None:
    pusher = validated(max_in_flight=2)
    for n in range(3):
        pusher.push_event("T", {}, event_id=f"E{n}")
    works = [pusher.next_request(0.0, UNIX) for _ in range(3)]
    assert works[2] is None and all(w is not None for w in works[:2])
    assert works[0] is not None
    pusher.receive_response(works[0].job_id, OK, 0.0)
    assert pusher.next_request(0.0, UNIX) is not None


# ---------------------------------------------------------------------------- bounds and misuse

def test_queue_and_records_are_bounded() -> None:
    pusher = validated(max_queued=2, record_limit=2)
    assert pusher.push_event("T", {}) is not None and pusher.push_event("T", {}) is not None
    assert pusher.push_event("T", {}) is None and pusher.counters.events_dropped == 1
    for _ in range(2):
        work = pusher.next_request(0.0, UNIX)
        assert work is not None
        pusher.receive_response(work.job_id, OK, 0.0)
    assert len(pusher.attempts) == 2 and len(pusher.finished) == 2
    assert pusher.counters.delivered == 2


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        make(max_attempts=0)
    with pytest.raises(ValueError, match="retry_delay"):
        make(retry_factor=0.5)
    with pytest.raises(ValueError, match="empty"):
        make(secret="")
    pusher = validated()
    with pytest.raises(ValueError, match="event_type"):
        pusher.push_event("", {})
    with pytest.raises(LocalProtocolError, match="unix_now"):
        pusher.next_request(0.0, float("nan"))
    with pytest.raises(LocalProtocolError, match="no request in flight"):
        pusher.receive_response(99, OK, 0.0)
    job = pusher.push_event("T", {})
    assert job is not None
    with pytest.raises(LocalProtocolError, match="no request in flight"):
        pusher.request_failed(job.id, "queued, not sent", 0.0)
    assert "WebhookPusher(url='https://bot.example/qqbot', state=READY" in repr(pusher)
    assert SECRET not in repr(pusher)


def test_the_transition_table_has_one_way_out_of_validation() -> None:
    assert {(s.name, i.name, t.name) for (s, i), t in TRANSITIONS.items()} == {
        ("NEW", "VALIDATE", "VALIDATING"), ("NEW", "SKIP_VALIDATION", "READY"),
        ("VALIDATING", "VALIDATED", "READY"), ("VALIDATING", "VALIDATION_FAILED", "FAILED")}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(100, 599), st.binary(max_size=40)), max_size=12),
       st.integers(1, 4))
def test_any_answers_leave_the_pusher_consistent(answers: list[tuple[int, bytes]],
                                                 max_attempts: int) -> None:
    pusher = validated(max_attempts=max_attempts, retry_delay=1.0)
    pusher.push_event("T", {}, event_id="E1")
    now = 0.0
    for status, body in answers:
        work = pusher.next_request(now, UNIX)
        if work is None:
            break
        outcome = pusher.receive_response(work.job_id, HttpResponse(status=status, body=body),
                                          now)
        assert isinstance(outcome, PushOutcome)
        now += 100.0
    event_attempts = [a for a in pusher.attempts if a.kind is PushKind.EVENT]
    assert len(event_attempts) <= max_attempts
    if not pusher.idle:
        assert pusher.pending[0].state in (JobState.QUEUED, JobState.WAITING)
    else:
        assert pusher.finished[-1].state in (JobState.DELIVERED, JobState.REJECTED,
                                             JobState.GAVE_UP)


# ---------------------------------------------------------------------------- with the receiver

def _wire(request: HttpRequest) -> bytes:
    head = f"{request.method} /qqbot HTTP/1.1\r\nHost: bot.example\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers)
    head += f"Content-Length: {len(request.body)}\r\n\r\n"
    return head.encode() + request.body


def _response(raw: bytes) -> HttpResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    return HttpResponse(status=int(head.split()[1]), body=body)


def test_pusher_and_receiver_agree_byte_for_byte_including_a_redelivery() -> None:
    cache = ReplayCache()
    receiver = WebhookReceiver(KEY, now=0.0, replay_cache=cache,
                               policy=WebhookPolicy(app_id=APP_ID))
    pusher = make(retry_delay=1.0)
    pusher.start(plain_token=PLAIN_TOKEN)
    pusher.push_event("C2C_MESSAGE_CREATE", {"id": "m"}, event_id="E1")
    now, handled = 0.0, []
    while not pusher.idle:
        work = pusher.next_request(now, UNIX + now)
        if work is None:
            now = pusher.get_timer() or now
            continue
        receiver.receive_data(_wire(work.request), now=now, unix_now=UNIX + now)
        while (event := receiver.next_event()) is not None:
            if isinstance(event, WebhookDispatch):
                handled.append(event.dispatch.id)
                receiver.acknowledge(event.delivery, ok=len(handled) > 1)  # fail once
        pusher.receive_response(work.job_id, _response(receiver.data_to_send()), now)
    assert [(a.kind, a.attempt, a.outcome) for a in pusher.attempts] == [
        (PushKind.VALIDATION, 1, PushOutcome.VALIDATED),
        (PushKind.EVENT, 1, PushOutcome.REDELIVER), (PushKind.EVENT, 2, PushOutcome.ACKED)]
    assert handled == ["E1", "E1"] and now == 1.0 and len(cache) == 1


# ---------------------------------------------------------------------------- the thread

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_push_thread_gives_up_on_a_closed_port() -> None:
    pusher = WebhookPusher(callback_url=f"http://127.0.0.1:{_closed_port()}/qqbot",
                           secret=SECRET, app_id=APP_ID, max_attempts=2, retry_delay=0.01)
    with WebhookPushThread(pusher) as push:
        push.push_event("T", {})
        assert push.wait_idle()
        attempts = push.attempts()
    assert [(a.status, a.outcome) for a in attempts] == [(None, PushOutcome.RETRY)] * 2
    assert "ConnectError" in attempts[0].detail
    assert pusher.state is PusherState.FAILED


def test_attach_mirrors_simulator_events_until_stopped() -> None:
    with SimulatorThread(Simulator(), lifetime=30) as sim:
        pusher = WebhookPusher(callback_url=f"http://127.0.0.1:{_closed_port()}/qqbot",
                               secret=sim.sim.secret, app_id=sim.sim.app_id,
                               validate_first=False, max_attempts=1)
        push = WebhookPushThread(pusher).start()
        push.attach(sim)
        event = sim.inject_c2c_message("USER_A", "hi")
        assert push.wait_idle()
        assert [a.event_id for a in push.attempts()] == [event.id]
        push.stop()
        assert sim.call(lambda s, now: list(s.listeners)) == []
        sim.inject_c2c_message("USER_A", "after stop")
        assert len(push.attempts()) == 1


def test_wait_idle_reports_a_timeout() -> None:
    pusher = make()  # never started: the event waits for validation forever
    push = WebhookPushThread(pusher)
    push.push_event("T", {})
    assert push.wait_idle(timeout=0.01) is False


# ---------------------------------------------------------------------------- more properties

@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 10**12))
def test_signed_headers_verify_for_any_body_and_break_when_the_body_changes(
        body: bytes, stamp: int) -> None:
    headers = dict(signed_headers(KEY, body, timestamp=str(stamp), app_id=APP_ID))
    signature = headers["X-Signature-Ed25519"]
    assert len(signature) == 128 and headers["X-Signature-Timestamp"] == str(stamp)
    assert KEY.verify(str(stamp), body, signature)
    assert not KEY.verify(str(stamp), body + b" ", signature)
    assert not KEY.verify(str(stamp + 1), body, signature)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_validation_bodies_round_trip_any_token_through_the_receiver(token: str) -> None:
    receiver = WebhookReceiver(KEY, now=0.0, replay_cache=None,
                               policy=WebhookPolicy(timestamp_window=1e10))
    pusher = make()
    pusher.start(plain_token=token)
    work = pusher.next_request(0.0, UNIX)
    assert work is not None
    receiver.receive_data(_wire(work.request), now=0.0, unix_now=UNIX)
    answer = _response(receiver.data_to_send())
    assert pusher.receive_response(work.job_id, answer, 0.0) is PushOutcome.VALIDATED


_ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("push"), st.booleans()),
    st.tuples(st.just("answer"), st.sampled_from([200, 200, 409, 401, 500])),
    st.tuples(st.just("redeliver"), st.just(0)),
    st.tuples(st.just("fail"), st.just(0)),
    st.tuples(st.just("wait"), st.floats(0.0, 10.0)),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(_ACTIONS, st.integers(1, 3), st.integers(1, 3))
def test_any_interleaving_keeps_every_event_accounted_for(
        actions: list[tuple[str, Any]], max_attempts: int, in_flight: int) -> None:
    pusher = validated(max_attempts=max_attempts, max_in_flight=in_flight, retry_delay=1.0)
    now, outstanding, pushed = 0.0, [], 0
    for kind, value in actions:
        if kind == "push":
            pusher.push_event("T", {}, event_id=f"E{pushed}" if value else None)
            pushed += 1
        elif kind == "wait":
            now += value
        elif outstanding:
            work = outstanding.pop(0)
            if kind == "fail":
                pusher.request_failed(work.job_id, "reset", now)
            else:
                body = b'{"op":12,"d":1}' if kind == "redeliver" else b""
                status = 200 if kind == "redeliver" else value
                pusher.receive_response(work.job_id, HttpResponse(status=status, body=body),
                                        now)
        while (work := pusher.next_request(now, UNIX + now)) is not None:
            outstanding.append(work)
        assert len(outstanding) <= in_flight
        assert sum(j.state is JobState.IN_FLIGHT for j in pusher.pending) == len(outstanding)
    events_finished = [j for j in pusher.finished if j.kind is PushKind.EVENT]
    assert len(events_finished) + len(pusher.pending) == pushed
    counters = pusher.counters
    assert counters.delivered + counters.rejected + counters.gave_up == len(events_finished)
    for job in [*events_finished, *pusher.pending]:
        assert job.attempts <= max_attempts
        made = [a.attempt for a in pusher.attempts if a.job_id == job.id]
        assert made == list(range(1, len(made) + 1))  # attempts numbered in order


# ---------------------------------------------------------------------------- smaller facts

def test_events_without_an_id_leave_it_out_and_are_still_sent() -> None:
    pusher = validated()
    pusher.push_event("T", [1, 2])
    work = pusher.next_request(0.0, UNIX)
    assert work is not None and work.request.body == b'{"op":0,"s":1,"t":"T","d":[1,2]}'


def test_a_duplicate_counts_as_delivered_and_a_rejection_as_rejected() -> None:
    pusher = validated()
    for event_id in ("D", "R"):
        pusher.push_event("T", {}, event_id=event_id)
    first = pusher.next_request(0.0, UNIX)
    assert first is not None
    pusher.receive_response(first.job_id, HttpResponse(status=409), 0.0)
    second = pusher.next_request(0.0, UNIX)
    assert second is not None
    pusher.receive_response(second.job_id, HttpResponse(status=403), 0.0)
    assert [(j.event_id, j.state, j.finished) for j in pusher.finished][1:] == [
        ("D", JobState.DELIVERED, True), ("R", JobState.REJECTED, True)]
    assert (pusher.counters.delivered, pusher.counters.rejected) == (1, 1)
    assert pusher.idle and pusher.pending == []


def test_a_transport_failure_during_validation_is_retried() -> None:
    pusher = make(retry_delay=2.0)
    pusher.start(plain_token=PLAIN_TOKEN)
    work = pusher.next_request(0.0, UNIX)
    assert work is not None
    assert pusher.request_failed(work.job_id, "ConnectError", 0.0) is PushOutcome.RETRY
    assert pusher.state is PusherState.VALIDATING and pusher.get_timer() == 2.0
    retry = pusher.next_request(2.0, UNIX + 2)
    assert retry is not None and retry.attempt == 2
    assert b'"event_ts":"1725442343"' in retry.request.body  # a fresh event_ts
    signed = dict(retry.request.headers)["X-Signature-Timestamp"]
    answer = KEY.validation_response(PLAIN_TOKEN, signed)
    assert pusher.receive_response(retry.job_id, HttpResponse(status=200, body=answer),
                                   2.0) is PushOutcome.VALIDATED


def test_start_twice_is_a_transition_error() -> None:
    from qqproto.errors import TransitionError

    pusher = make()
    pusher.start()
    with pytest.raises(TransitionError):
        pusher.start()


def test_the_timestamp_header_is_whole_seconds() -> None:
    pusher = validated()
    pusher.push_event("T", {})
    work = pusher.next_request(0.0, 1700000000.999)
    assert work is not None
    assert dict(work.request.headers)["X-Signature-Timestamp"] == "1700000000"
    with pytest.raises(LocalProtocolError):
        pusher.next_request(0.0, -1.0)
