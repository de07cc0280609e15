"""The webhook servers over real sockets on 127.0.0.1, the same scenarios on every driver.

Each test runs one webhook bot (asyncio, trio or threaded) in a background thread through
a small harness, talks to it with a raw HTTP/1.1 client (exact bytes in, exact answers
out) or with the simulator's pusher, and checks what the application saw: handlers,
the ``events()`` iterator and the observers.  The last section tests the shared ack
bookkeeping (:class:`WebhookCore`) directly, without I/O.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import trio

from qqproto import Settings
from qqproto._commands import Stop
from qqproto.events import (
    Dispatch,
    Event,
    RequestRejected,
    SessionStopped,
    ValidationAnswered,
    WebhookConnectionClosed,
    WebhookServing,
)
from qqproto.models import InteractionCreate, MessageEvent
from qqproto.simulator._simulator import Simulator
from qqproto.simulator._webhook_push import PushOutcome, WebhookPusher
from qqproto.webhook._decision import ReplayCache, WebhookPolicy
from qqproto_transports._handlers import Handlers
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports._webhook_core import LockedReplayCache, Ticket, WebhookCore, WebhookSession
from qqproto_transports.asyncio import WebhookBot as AsyncioWebhookBot
from qqproto_transports.simulator import SimulatorThread
from qqproto_transports.threads import WebhookBot as ThreadedWebhookBot
from qqproto_transports.trio import WebhookBot as TrioWebhookBot

from .webhook_client import (
    ACK_OK,
    ACK_RETRY,
    APP_ID,
    SECRET,
    VECTOR_ANSWER,
    Answer,
    RawClient,
    dispatch,
    forged,
    post,
    request,
    settings,
    validation,
)

T = TypeVar("T")
KINDS = ["asyncio", "trio", "threaded"]


# ---------------------------------------------------------------------------- harness

class Harness:
    """One webhook bot on one driver, run in a background thread, seen from the test.

    The default handler records every dispatch and raises once for ids in ``fail_once``;
    an iterator (when ``iterate``) records every event; observers are recorded too.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.bot: Any = None
        self.handled: list[Dispatch] = []
        self.iterated: list[Event] = []
        self.observed: list[Event] = []
        self.fail_once: set[str] = set()
        self.stop_value: Stop | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    # -- recording
    def _handle(self, event: Dispatch) -> None:
        with self._lock:
            self.handled.append(event)
            failing = event.id in self.fail_once
            self.fail_once.discard(event.id or "")
        if failing:
            raise RuntimeError("the application failed (on purpose)")

    def _record(self, event: Event) -> None:
        with self._lock:
            self.iterated.append(event)

    def _observe(self, event: Event) -> None:
        with self._lock:
            self.observed.append(event)

    # -- lifecycle
    def start(self, bot_settings: Settings | None = None, *, handler: bool = True,
              iterate: bool = True, setup: Callable[[Any], object] | None = None,
              **options: Any) -> Harness:
        """Make the bot (``setup(bot)`` registers more before it runs) and run it."""
        cls = {"asyncio": AsyncioWebhookBot, "trio": TrioWebhookBot,
               "threaded": ThreadedWebhookBot}[self.kind]
        options.setdefault("env", {})
        self.bot = cls(bot_settings or settings(), **options)
        if handler:
            self.bot.on(Dispatch)(self._handle)
        if setup is not None:
            setup(self.bot)
        self.bot.observers.append(self._observe)
        self._thread = threading.Thread(target=self._main, args=(iterate,), daemon=True)
        self._thread.start()
        self.wait_for(lambda: self.bot.url is not None, "the server did not start")
        return self

    def _main(self, iterate: bool) -> None:
        try:
            if self.kind == "asyncio":
                asyncio.run(self._amain(iterate))
            elif self.kind == "trio":
                trio.run(self._tmain, iterate)
            else:
                collector = None
                if iterate:
                    events = self.bot.events()
                    collector = threading.Thread(
                        target=lambda: [self._record(e) for e in events], daemon=True)
                    collector.start()
                self.stop_value = self.bot.run()
                if collector is not None:
                    collector.join(10)
        except BaseException as exc:
            self.error = exc

    async def _amain(self, iterate: bool) -> None:
        self._loop = asyncio.get_running_loop()

        async def collect(events: Any) -> None:
            async for event in events:
                self._record(event)

        task = asyncio.create_task(collect(self.bot.events())) if iterate else None
        self.stop_value = await self.bot.run()
        if task is not None:
            await task

    async def _tmain(self, iterate: bool) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            if iterate:
                channel = self.bot.events()

                async def collect() -> None:
                    async for event in channel:
                        self._record(event)

                nursery.start_soon(collect)
            self.stop_value = await self.bot.run()

    def call(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(bot)`` where the bot's API may be used (its loop, or any thread)."""
        if self.kind == "trio":
            assert self._token is not None
            return trio.from_thread.run_sync(fn, self.bot, trio_token=self._token)
        if self.kind == "asyncio":
            assert self._loop is not None
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            self._loop.call_soon_threadsafe(lambda: future.set_result(fn(self.bot)))
            return future.result(10)
        return fn(self.bot)

    def close(self) -> None:
        if self.kind == "threaded":
            self.bot.close(timeout=0)
        else:
            self.call(lambda bot: bot.close())

    def result(self, timeout: float = 15.0) -> Stop:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the bot did not stop in time")
        if self.error is not None:
            raise self.error
        assert self.stop_value is not None
        return self.stop_value

    def stop(self) -> Stop:
        self.close()
        return self.result()

    # -- observing
    @property
    def port(self) -> int:
        return int(self.bot.port)

    def wait_for(self, predicate: Callable[[], bool], what: str = "condition",
                 timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.error is not None:
                raise AssertionError(f"the bot crashed: {self.error!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.005)

    def handled_ids(self) -> list[str | None]:
        with self._lock:
            return [e.id for e in self.handled]

    def dispatches(self) -> list[Dispatch]:
        with self._lock:
            return [e for e in self.iterated if isinstance(e, Dispatch)]

    def rejections(self) -> list[RequestRejected]:
        with self._lock:
            return [e for e in self.observed if isinstance(e, RequestRejected)]


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[Harness]:
    harness = Harness(request.param)
    yield harness
    if harness.bot is not None and harness._thread is not None and harness._thread.is_alive():
        with contextlib.suppress(Exception):
            harness.stop()


def pusher_for(url: str, **kw: Any) -> WebhookPusher:
    options: dict[str, Any] = {"retry_delay": 0.05, **kw}
    return WebhookPusher(callback_url=url, secret=SECRET, app_id=APP_ID, **options)


def statuses(answers: list[Answer]) -> list[int]:
    return [a.status for a in answers]


# ---------------------------------------------------------------------------- op 13

def test_validation_is_answered_with_the_official_vector(server: Harness) -> None:
    # The DOC example is from 2024; a wide window lets its exact bytes through.
    server.start(policy=WebhookPolicy(timestamp_window=1e10, app_id=APP_ID))
    answer = post(server.port, validation())
    assert (answer.status, answer.body) == (200, VECTOR_ANSWER)
    assert answer.headers["content-type"] == "application/json"
    server.wait_for(lambda: any(isinstance(e, ValidationAnswered) for e in server.observed))
    assert server.handled == [] and server.dispatches() == []


def test_an_unsigned_validation_is_refused_by_default(server: Harness) -> None:
    server.start(policy=WebhookPolicy(timestamp_window=1e10))
    answer = post(server.port, validation(drop=("X-Signature-Ed25519",)))
    assert (answer.status, answer.body) == (
        401, b"missing X-Signature-Ed25519 or X-Signature-Timestamp")


# ---------------------------------------------------------------------------- delivery

def test_the_pusher_validates_then_every_event_reaches_handlers_and_iterator(
        server: Harness) -> None:
    server.start()
    with WebhookPushThread(pusher_for(server.bot.url)) as push:
        ids = [f"C2C_MESSAGE_CREATE:{n}" for n in range(3)]
        for event_id in ids:
            push.push_event("C2C_MESSAGE_CREATE", {"id": event_id, "content": "hi"},
                            event_id=event_id)
        assert push.wait_idle()
        outcomes = [(a.event_id, a.outcome) for a in push.attempts()]
    assert outcomes == [(None, PushOutcome.VALIDATED),
                        *[(i, PushOutcome.ACKED) for i in ids]]
    server.wait_for(lambda: len(server.dispatches()) == 3)
    assert server.handled_ids() == ids
    got = server.dispatches()
    assert [(e.type, e.seq, e.id, e.data["id"]) for e in got] == [
        ("C2C_MESSAGE_CREATE", n + 1, ids[n], ids[n]) for n in range(3)]
    assert isinstance(server.iterated[0], WebhookServing)
    assert server.iterated[0].url == server.bot.url == f"http://127.0.0.1:{server.port}/qqbot"


def test_a_failing_handler_answers_d1_and_only_that_event_is_seen_twice(
        server: Harness) -> None:
    server.start()
    server.fail_once.add("E2")
    with WebhookPushThread(pusher_for(server.bot.url)) as push:
        for event_id in ("E1", "E2", "E3"):
            push.push_event("C2C_MESSAGE_CREATE", {"id": event_id}, event_id=event_id)
        assert push.wait_idle()
        attempts = [(a.event_id, a.attempt, a.outcome) for a in push.attempts()][1:]
    assert sorted(attempts, key=lambda a: (a[0] or "", a[1])) == [
        ("E1", 1, PushOutcome.ACKED), ("E2", 1, PushOutcome.REDELIVER),
        ("E2", 2, PushOutcome.ACKED), ("E3", 1, PushOutcome.ACKED)]
    assert sorted(server.handled_ids()) == ["E1", "E2", "E2", "E3"]  # type: ignore[type-var]


@pytest.mark.parametrize("kind", ["asyncio", "trio"])
def test_coroutine_handlers_get_a_task_only_when_they_can_suspend(kind: str) -> None:
    """``async def`` without ``await`` runs at delivery (no task per request, as on the
    gateway); one that awaits runs in a task of its own; either one raising is d = 1."""
    harness = Harness(kind)
    seen: list[tuple[str, bool]] = []

    def in_a_task_of_its_own() -> bool:
        if kind == "asyncio":
            return asyncio.current_task() is not None  # data_received runs in no task
        return "_reader" not in trio.lowlevel.current_task().name

    async def at_once(event: MessageEvent) -> None:
        seen.append(("at once", in_a_task_of_its_own()))
        if event.event_id == "E-fails-at-once":
            raise RuntimeError("on purpose")

    async def suspends(event: MessageEvent) -> None:
        if kind == "asyncio":
            await asyncio.sleep(0)
        else:
            await trio.lowlevel.checkpoint()
        seen.append(("suspends", in_a_task_of_its_own()))
        if event.event_id == "E-fails-later":
            raise RuntimeError("on purpose")

    def setup(bot: Any) -> None:
        bot.on("C2C_MESSAGE_CREATE")(at_once)
        bot.on("GROUP_AT_MESSAGE_CREATE")(suspends)

    harness.start(handler=False, iterate=False, setup=setup)
    try:
        group = {"id": "m", "content": "hi", "group_openid": "G",
                 "author": {"id": "U", "member_openid": "U"}}
        answers = [post(harness.port, request(body)) for body in (
            dispatch("E1"), dispatch("E-fails-at-once", seq=2),
            dispatch("E3", seq=3, event_type="GROUP_AT_MESSAGE_CREATE", d=group),
            dispatch("E-fails-later", seq=4, event_type="GROUP_AT_MESSAGE_CREATE", d=group))]
    finally:
        harness.stop()
    assert [(a.status, a.body) for a in answers] == [
        (200, ACK_OK), (200, ACK_RETRY), (200, ACK_OK), (200, ACK_RETRY)]
    assert seen == [("at once", False), ("at once", False), ("suspends", True),
                    ("suspends", True)]


def test_a_resent_copy_is_refused_as_replay_and_never_seen_again(server: Harness) -> None:
    server.start()
    raw = request(dispatch("E1"))
    with RawClient(server.port) as client:
        first, second = client.exchange(raw), client.exchange(raw)
    assert (first.status, first.body) == (200, ACK_OK)
    assert (second.status, second.body) == (409, b"event already delivered")
    server.wait_for(lambda: len(server.dispatches()) == 1)
    assert server.handled_ids() == ["E1"]


def test_redelivery_after_d1_passes_the_replay_cache(server: Harness) -> None:
    server.start()
    server.fail_once.add("E1")
    with RawClient(server.port) as client:
        first = client.exchange(request(dispatch("E1")))
        again = client.exchange(request(dispatch("E1")))  # what the platform would do
        third = client.exchange(request(dispatch("E1")))
    assert [(a.status, a.body) for a in (first, again, third)] == [
        (200, ACK_RETRY), (200, ACK_OK), (409, b"event already delivered")]
    assert server.handled_ids() == ["E1", "E1"]


def test_events_without_a_seq_are_delivered_and_marked_by_the_event_itself(
        server: Harness) -> None:
    server.start(settings(auto_mark_processed=False), handler=False)
    with RawClient(server.port) as client:
        client.send(request(dispatch("E1", seq=None)))
        server.wait_for(lambda: len(server.dispatches()) == 1)
        event = server.dispatches()[0]
        assert event.seq is None
        server.call(lambda bot: bot.mark_processed(None))  # names nothing, as on the gateway
        assert server.call(lambda bot: bot._core.unanswered) == 1
        server.call(lambda bot: bot.mark_processed(event))
        assert (client.answer().body) == ACK_OK


# ---------------------------------------------------------------------------- rejections

def test_a_forged_signature_is_401_and_never_reaches_the_application(server: Harness) -> None:
    server.start()
    body = dispatch("E1")
    genuine = request(body)
    signature = genuine.split(b"X-Signature-Ed25519: ")[1][:128].decode()
    answers = []
    with RawClient(server.port) as client:
        answers.append(client.exchange(request(body, signature=forged(signature))))
        answers.append(client.exchange(request(body, signature="zz" * 64)))
        answers.append(client.exchange(request(body, drop=("X-Signature-Timestamp",))))
        tampered = genuine.replace(b'"hello"', b'"HELLO"')
        answers.append(client.exchange(tampered))
    assert [(a.status, a.body) for a in answers] == [
        (401, b"signature does not verify"), (401, b"malformed X-Signature-Ed25519"),
        (401, b"missing X-Signature-Ed25519 or X-Signature-Timestamp"),
        (401, b"signature does not verify")]
    server.wait_for(lambda: len(server.rejections()) == 4)
    assert server.handled == [] and server.dispatches() == []
    assert [r.status for r in server.rejections()] == [401] * 4


def test_stale_and_future_timestamps_are_401(server: Harness) -> None:
    server.start()
    now = int(time.time())
    with RawClient(server.port) as client:
        stale = client.exchange(request(dispatch("E1"), timestamp=str(now - 301)))
        ahead = client.exchange(request(dispatch("E2"), timestamp=str(now + 3600)))
        fresh = client.exchange(request(dispatch("E3"), timestamp=str(now - 100)))
    assert [(a.status, a.body) for a in (stale, ahead)] == [
        (401, b"timestamp outside the accepted window")] * 2
    assert (fresh.status, fresh.body) == (200, ACK_OK)
    assert server.handled_ids() == ["E3"]


def test_wrong_path_method_content_type_and_app_id_on_one_keep_alive_connection(
        server: Harness) -> None:
    server.start()
    body = dispatch("E1")
    with RawClient(server.port) as client:
        answers = [client.exchange(request(body, path="/elsewhere")),
                   client.exchange(request(body, method="PUT")),
                   client.exchange(request(body, content_type="text/plain")),
                   client.exchange(request(body, app_id="22222222")),
                   client.exchange(request(body, path="/qqbot?x=1"))]
    assert [(a.status, a.body) for a in answers] == [
        (404, b"not found"), (405, b"method not allowed"),
        (415, b"content type must be application/json"),
        (403, b"X-Bot-Appid does not match this bot"), (200, ACK_OK)]
    assert answers[1].headers["allow"] == "POST"
    assert not any(a.closes for a in answers)
    assert server.handled_ids() == ["E1"]


def test_an_oversize_body_is_413_before_it_is_read_and_closes(server: Harness) -> None:
    server.start(policy=WebhookPolicy(max_body_size=1024, app_id=APP_ID))
    body = dispatch("E1", d={"content": "x" * 2000})
    with RawClient(server.port) as client:
        client.send(request(body).split(b"\r\n\r\n")[0] + b"\r\n\r\n")  # head only
        answer = client.answer()
        assert (answer.status, answer.body, answer.closes) == (
            413, b"request body too large", True)
        assert client.at_eof()
    assert server.handled == []


def test_malformed_http_is_400_and_closes(server: Harness) -> None:
    server.start()
    with RawClient(server.port) as client:
        answer = client.exchange(b"POST /qqbot HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert (answer.status, answer.body, answer.closes) == (
            400, b"malformed HTTP request", True)
        assert client.at_eof()


def test_a_partial_request_gets_408_when_its_timer_runs_out(server: Harness) -> None:
    server.start(receiver_options={"request_timeout": 0.3})
    with RawClient(server.port) as client:
        client.send(request(dispatch("E1"))[:40])
        answer = client.answer()
        assert (answer.status, answer.body, answer.closes) == (408, b"request timeout", True)
        assert client.at_eof()


def test_a_request_whose_timer_is_already_due_still_gets_its_408(server: Harness) -> None:
    # The deadline passes before the server next waits: it must answer, not drop.
    server.start(receiver_options={"request_timeout": 1e-6})
    with RawClient(server.port) as client:
        client.send(request(dispatch("E1"))[:40])
        answer = client.answer()
        assert (answer.status, answer.body, answer.closes) == (408, b"request timeout", True)


def test_an_idle_connection_is_closed_by_its_timer(server: Harness) -> None:
    server.start(receiver_options={"idle_timeout": 0.3})
    with RawClient(server.port) as client:
        assert client.exchange(request(dispatch("E1"))).body == ACK_OK
        assert client.at_eof()
    server.wait_for(lambda: any(isinstance(e, WebhookConnectionClosed)
                                and e.reason == "idle timeout" for e in server.observed))


# ---------------------------------------------------------------------------- connections

def test_keep_alive_and_pipelined_requests_are_answered_in_order(server: Harness) -> None:
    server.start()
    with RawClient(server.port) as client:
        sequential = [client.exchange(request(dispatch(f"S{n}"))) for n in range(3)]
        client.send(b"".join([request(dispatch("P0")), request(dispatch("P0")),
                              request(dispatch("P1"), path="/nope"),
                              request(dispatch("P2"), close=True)]))
        pipelined = [client.answer() for _ in range(4)]
        assert client.at_eof()
    assert [a.body for a in sequential] == [ACK_OK] * 3
    assert [(a.status, a.closes) for a in pipelined] == [
        (200, False), (409, False), (404, False), (200, True)]
    # Handlers run as tasks: pipelined ones may run in any order; the iterator keeps order.
    # The iterator is a consumer of its own (a thread on the threaded server): wait for it.
    assert sorted(server.handled_ids()) == ["P0", "P2", "S0", "S1", "S2"]  # type: ignore[type-var]
    server.wait_for(lambda: len(server.dispatches()) >= 5)
    assert [e.id for e in server.dispatches()] == ["S0", "S1", "S2", "P0", "P2"]


def test_reading_pauses_while_answers_are_owed_and_resumes_after_marks(
        server: Harness) -> None:
    limit = 1 if server.kind == "threaded" else 2  # the threaded server pins it to 1
    server.start(settings(auto_mark_processed=False), handler=False,
                 receiver_options={"max_pipelined": 2})
    with RawClient(server.port) as client:
        client.send(b"".join(request(dispatch(f"E{n}", seq=n)) for n in range(1, 6)))
        server.wait_for(lambda: len(server.dispatches()) == limit)
        assert server.call(lambda bot: [c.rx.reading_paused for c in bot._conns]) == [True]
        for n in range(1, 6):
            server.wait_for(lambda n=n: len(server.dispatches()) >= n)
            server.call(lambda bot, n=n: bot.mark_processed(n))
            assert client.answer().body == ACK_OK
    assert [e.seq for e in server.dispatches()] == [1, 2, 3, 4, 5]


def test_op1_over_http_is_answered_with_op11(server: Harness) -> None:
    server.start()
    answer = post(server.port, request(b'{"op":1,"d":5}'))
    assert (answer.status, answer.body) == (200, b'{"op":11,"d":5}')
    assert server.handled == []


def test_lifecycle_handlers_see_serving_and_stopped(server: Harness) -> None:
    seen: list[Event] = []

    def setup(bot: Any) -> None:
        bot.on(WebhookServing)(seen.append)
        bot.on(SessionStopped)(seen.append)

    server.start(handler=False, iterate=False, setup=setup)
    server.wait_for(lambda: len(seen) == 1, "the serving handler")
    assert server.stop().fatal is False
    assert [type(e).__name__ for e in seen] == ["WebhookServing", "SessionStopped"]


def test_a_handler_that_never_returns_does_not_hold_close_forever(server: Harness) -> None:
    gate = threading.Event()

    def setup(bot: Any) -> None:
        if server.kind == "asyncio":
            @bot.on(Dispatch)
            async def stuck(event: Dispatch) -> None:
                await asyncio.sleep(60)
        elif server.kind == "trio":
            @bot.on(Dispatch)
            async def stuck(event: Dispatch) -> None:
                await trio.sleep(60)
        else:
            bot.on(Dispatch)(lambda event: gate.wait(10))

    server.start(handler=False, close_timeout=0.2, setup=setup)
    try:
        with RawClient(server.port) as client:
            client.send(request(dispatch("E1")))
            server.wait_for(lambda: server.call(lambda bot: bot._core.unanswered) == 1)
            started = time.monotonic()
            server.close()
            assert client.at_eof()  # no answer: counted as failed
            server.result()
            assert time.monotonic() - started < 5
    finally:
        gate.set()


def test_connections_are_served_concurrently(server: Harness) -> None:
    # The first connection's delivery waits for a mark; a second connection still works.
    server.start(settings(auto_mark_processed=False), handler=False)
    with RawClient(server.port) as held, RawClient(server.port) as other:
        held.send(request(dispatch("HELD")))
        server.wait_for(lambda: len(server.dispatches()) == 1)
        other.send(request(dispatch("OTHER")))
        server.wait_for(lambda: len(server.dispatches()) == 2)
        server.call(lambda bot: bot.mark_failed(server.dispatches()[0]))
        assert held.answer().body == ACK_RETRY
        server.call(lambda bot: bot.mark_processed(server.dispatches()[1]))
        assert other.answer().body == ACK_OK


def test_manual_marks_are_cumulative_like_the_gateways_processed_seq(server: Harness) -> None:
    server.start(settings(auto_mark_processed=False), handler=False)
    clients = [RawClient(server.port) for _ in range(3)]
    try:
        for n, client in enumerate(clients):
            client.send(request(dispatch(f"E{n}", seq=n + 1)))
            server.wait_for(lambda n=n: len(server.dispatches()) == n + 1)
        server.call(lambda bot: bot.mark_processed(2))  # E0 and E1, not E2
        assert [c.answer().body for c in clients[:2]] == [ACK_OK, ACK_OK]
        assert server.call(lambda bot: bot._core.unanswered) == 1
        server.call(lambda bot: bot.mark_processed(3))
        assert clients[2].answer().body == ACK_OK
    finally:
        for client in clients:
            client.close()


def test_tls_serves_validation_and_events(server: Harness, tls_server_context: ssl.SSLContext,
                                          tls_client_context: ssl.SSLContext) -> None:
    server.start(server_ssl_context=tls_server_context)
    assert server.bot.url == f"https://127.0.0.1:{server.port}/qqbot"
    with WebhookPushThread(pusher_for(server.bot.url),
                           ssl_context=tls_client_context) as push:
        push.push_event("C2C_MESSAGE_CREATE", {"id": "m"}, event_id="T1")
        assert push.wait_idle()
        assert [a.outcome for a in push.attempts()] == [PushOutcome.VALIDATED,
                                                        PushOutcome.ACKED]
    with RawClient(server.port, ssl_context=tls_client_context) as client:
        assert client.exchange(request(dispatch("T2"))).body == ACK_OK
    assert server.handled_ids() == ["T1", "T2"]


def test_a_failed_tls_handshake_reaches_nobody(server: Harness,
                                               tls_server_context: ssl.SSLContext) -> None:
    server.start(server_ssl_context=tls_server_context)
    with RawClient(server.port) as client:  # plain HTTP to a TLS port
        client.send(request(dispatch("E1")))
        assert client.at_eof()
    assert server.handled == []


# ---------------------------------------------------------------------------- stopping

def test_close_lets_a_delivery_in_progress_finish(server: Harness) -> None:
    server.start(settings(auto_mark_processed=False), handler=False)
    with RawClient(server.port) as client:
        client.send(request(dispatch("E1")))
        server.wait_for(lambda: len(server.dispatches()) == 1)
        server.close()
        server.wait_for(lambda: post_refused(server.port), "the listener to close")
        server.call(lambda bot: bot.mark_processed(1))
        answer = client.answer()
        assert (answer.status, answer.body) == (200, ACK_OK)
        assert client.at_eof()
    stop = server.result()
    assert (stop.reason, stop.fatal) == ("closed by the application", False)
    assert isinstance(server.iterated[-1], SessionStopped)


def test_close_gives_up_on_unanswered_deliveries_after_close_timeout(server: Harness) -> None:
    cache = ReplayCache()
    server.start(settings(auto_mark_processed=False), handler=False, close_timeout=0.2,
                 replay_cache=cache)
    with RawClient(server.port) as client:
        client.send(request(dispatch("E1")))
        server.wait_for(lambda: len(server.dispatches()) == 1)
        assert len(cache) == 1
        server.close()
        assert client.at_eof()  # no answer: the platform will retry
    server.result()
    assert len(cache) == 0  # counted as failed: a redelivery would be accepted


def test_a_port_in_use_raises_from_run(server: Harness) -> None:
    first = Harness(server.kind).start()
    try:
        server.bot = None
        cls = type(first.bot)
        bot = cls(settings(), port=first.port, env={})
        with pytest.raises(OSError):
            if server.kind == "asyncio":
                asyncio.run(bot.run())
            elif server.kind == "trio":
                trio.run(bot.run)
            else:
                bot.run()
    finally:
        first.stop()


def test_the_threaded_bot_feeds_an_asyncio_consumer_and_needs_start_before_join() -> None:
    bot = ThreadedWebhookBot(settings(), env={})
    with pytest.raises(RuntimeError, match="start"):
        bot.join(0)

    async def consume() -> list[Event]:
        seen: list[Event] = []
        async for event in bot.aiter_events():
            seen.append(event)
            if isinstance(event, Dispatch):
                bot.close(timeout=0)
        return seen

    async def main() -> list[Event]:
        consumer = asyncio.ensure_future(consume())
        await asyncio.sleep(0)  # subscribed before the server starts
        bot.start()
        while bot.url is None:
            await asyncio.sleep(0.005)
        answer = await asyncio.to_thread(post, bot.port, request(dispatch("E1")))
        assert answer.body == ACK_OK
        return await consumer

    seen = asyncio.run(main())
    assert [type(e).__name__ for e in seen] == ["WebhookServing", "Dispatch", "SessionStopped"]
    assert bot.join(10).reason == "closed by the application"


def post_refused(port: int) -> bool:
    try:
        post(port, request(dispatch("LATE")), timeout=2.0)
    except OSError:
        return True
    return False


# ---------------------------------------------------------------------------- one line

def test_a_gateway_bot_runs_unchanged_on_the_webhook_channel(server: Harness) -> None:
    """docs/asyncio.rst's echo bot; only the constructor line differs from the gateway."""

    def echo_bot(bot: Any) -> None:  # the README's echo bot, as written for its driver
        if server.kind == "threaded":
            @bot.on(MessageEvent)
            def echo(event: MessageEvent) -> None:
                bot.reply(event, event.message.content)
        else:
            @bot.on(MessageEvent)
            async def echo(event: MessageEvent) -> None:
                await bot.reply(event, event.message.content)

    with SimulatorThread(Simulator(), lifetime=60) as sim:
        server.start(Settings.from_env(sim.env()), handler=False, setup=echo_bot)
        pusher = WebhookPusher(callback_url=server.bot.url, secret=sim.sim.secret,
                               app_id=sim.sim.app_id, retry_delay=0.05)
        with WebhookPushThread(pusher) as push:
            push.attach(sim)
            sim.inject_c2c_message("USER_A", "hello over webhook")
            assert push.wait_idle()
        server.wait_for(lambda: bool(sim.sent_messages()), "the reply")
        [sent] = sim.sent_messages()
        assert (sent.scope, sent.target, sent.content) == ("c2c", "USER_A",
                                                           "hello over webhook")
        assert [a.outcome for a in push.attempts()] == [PushOutcome.VALIDATED,
                                                        PushOutcome.ACKED]
        assert server.stop().fatal is False


@pytest.mark.parametrize("auto", [False, True], ids=["handler-acks", "auto-ack"])
def test_the_bot_api_mixins_work_on_the_webhook_channel(server: Harness, auto: bool) -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim:
        env = sim.env()
        bot_settings = Settings.from_env(env, auto_ack_interactions=auto)

        def setup(bot: Any) -> None:
            assert bot._core.plan == bot._plan_delivery
            if auto:
                return
            if server.kind == "threaded":
                bot.on(InteractionCreate)(bot.ack_interaction)
            else:
                @bot.on(InteractionCreate)
                async def ack(event: InteractionCreate) -> None:
                    await bot.ack_interaction(event)

        server.start(bot_settings, setup=setup)
        pusher = WebhookPusher(callback_url=server.bot.url, secret=sim.sim.secret,
                               app_id=sim.sim.app_id, retry_delay=0.05)
        with WebhookPushThread(pusher) as push:
            push.attach(sim)
            tap = sim.inject_interaction("c2c", user_openid="USER_A", button_id="b1")
            assert push.wait_idle()
        acks = sim.call(lambda s, now: [a.interaction_id for a in s.interaction_acks])
        assert acks == [tap.data["id"]]
        assert server.handled_ids() == [tap.id]
        assert server.bot.rest is server.bot.rest  # one RestClient on the bot's token


# ---------------------------------------------------------------------------- the core

class _Recorder:
    def __init__(self) -> None:
        self.acks: list[tuple[str | None, bool]] = []

    def ack_for(self, event: Dispatch) -> Callable[[bool], None]:
        return lambda ok: self.acks.append((event.id, ok))


def _core(**settings_overrides: Any) -> Any:
    """A core whose plan is a handler registry (``core.handlers.on``), as in a bot."""
    handlers = Handlers()
    core: Any = WebhookCore(settings(**settings_overrides),
                            lambda event, now: handlers.route(event)[0], lambda: 0.0, env={})
    core.handlers = handlers
    return core


def _event(event_id: str, seq: int | None) -> Dispatch:
    return Dispatch(type="C2C_MESSAGE_CREATE", seq=seq, id=event_id, data={})


def test_core_without_handlers_or_iterators_answers_d0_at_once() -> None:
    core, rec = _core(), _Recorder()
    event = _event("E1", 1)
    ticket = core.accept(event, rec.ack_for(event))
    assert ticket.to_run == [] and rec.acks == [("E1", True)] and core.unanswered == 0


def test_core_answers_after_every_handler_and_d1_if_any_raised() -> None:
    core, rec = _core(), _Recorder()
    core.handlers.on("C2C_MESSAGE_CREATE")(lambda e: None)
    core.handlers.on(Dispatch)(lambda e: None)
    event = _event("E1", 1)
    ticket = core.accept(event, rec.ack_for(event))
    assert len(ticket.to_run) == 2 and rec.acks == []
    core.handler_done(ticket, False)
    assert rec.acks == []
    core.handler_done(ticket, True)
    assert rec.acks == [("E1", False)]
    core.handler_done(ticket, True)  # a late report changes nothing
    assert rec.acks == [("E1", False)]


def test_core_in_auto_mark_mode_does_not_wait_for_the_iterator() -> None:
    core, rec = _core(), _Recorder()
    core.subscribe(lambda e: None)
    event = _event("E1", 1)
    core.accept(event, rec.ack_for(event))
    assert rec.acks == [("E1", True)]


def test_core_in_manual_mode_waits_for_marks_cumulatively_and_fails_alone() -> None:
    core, rec = _core(auto_mark_processed=False), _Recorder()
    seen: list[Event | None] = []
    core.subscribe(seen.append)
    events = [_event(f"E{n}", n) for n in range(1, 5)]
    for event in events:
        core.accept(event, rec.ack_for(event))
    assert seen == events and rec.acks == []
    core.mark_failed(2)
    assert rec.acks == [("E2", False)]
    core.mark_processed(99)  # unknown seq: nothing
    core.mark_processed(None)
    assert len(rec.acks) == 1
    core.mark_processed(events[2])  # E1 and E3 (E2 is already answered)
    assert rec.acks == [("E2", False), ("E1", True), ("E3", True)]
    core.abandon()
    assert rec.acks[-1] == ("E4", False) and core.unanswered == 0


def test_core_waits_for_both_handlers_and_the_mark() -> None:
    core, rec = _core(auto_mark_processed=False), _Recorder()
    core.subscribe(lambda e: None)
    core.handlers.on(Dispatch)(lambda e: None)
    event = _event("E1", 7)
    ticket = core.accept(event, rec.ack_for(event))
    core.mark_processed(7)
    assert rec.acks == []
    core.handler_done(ticket, True)
    assert rec.acks == [("E1", True)]


def test_core_discard_forgets_a_ticket_without_answering() -> None:
    core, rec = _core(auto_mark_processed=False), _Recorder()
    core.subscribe(lambda e: None)
    event = _event("E1", 1)
    ticket = core.accept(event, rec.ack_for(event))
    core.discard(ticket)
    core.mark_processed(1)
    core.abandon()
    assert rec.acks == [] and core.unanswered == 0


def test_core_survives_a_failing_ack_observer_and_subscriber() -> None:
    core = _core()

    def broken(_: object) -> None:
        raise RuntimeError("gone")

    core.subscribe(broken)
    core.observers.append(broken)
    event = _event("E1", 1)
    ticket: Ticket = core.accept(event, broken)  # the ack raising is logged, not fatal
    assert ticket.done
    core.observe(event)
    assert core._subscribers == []


def test_core_lifecycle_events_and_urls() -> None:
    core = _core()
    seen: list[Event | None] = []
    core.subscribe(seen.append)
    event, handlers = core.serving("::1", 8443, tls=True)
    assert core.url == "https://[::1]:8443/qqbot" and handlers == []
    core.stopping()
    core.end_subscribers()
    late: list[Event | None] = []
    core.subscribe(late.append)
    assert seen == [event, SessionStopped(reason="closed by the application", fatal=False),
                    None]
    assert late == [None] and core.stopped == Stop(reason="closed by the application",
                                                   fatal=False)


def test_core_checks_the_app_id_only_when_one_is_configured() -> None:
    assert _core().policy.app_id == APP_ID
    assert _core(app_id="").policy.app_id is None
    assert _core().policy.path == "/qqbot"
    assert WebhookCore(settings(), lambda e, now: [], lambda: 0.0, policy=WebhookPolicy(path="/x"),
                       env={}).policy.path == "/x"


def test_webhook_session_shares_a_token_state_and_needs_an_app_id() -> None:
    session = WebhookSession(settings())
    assert session.token_state is session.token_state
    assert session.token_state.app_id == APP_ID
    with pytest.raises(ValueError, match="app id"):
        _ = WebhookSession(settings(app_id="")).token_state


def test_the_locked_replay_cache_delegates_and_never_accepts_a_key_twice() -> None:
    inner = ReplayCache(max_entries=4)
    cache = LockedReplayCache(inner)
    assert cache.add("k", expires_at=10.0, unix_now=0.0)
    assert cache.contains("k", unix_now=5.0) and len(cache) == len(inner) == 1
    cache.forget("k")
    assert not inner.contains("k", unix_now=5.0) and repr(cache).startswith("Locked")
    hammered = LockedReplayCache()
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        wins.extend(hammered.add(f"key{n}", expires_at=1e9, unix_now=0.0) for n in range(500))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 500 and len(hammered) == 500


def test_only_the_threaded_server_locks_its_cache_and_pins_pipelining() -> None:
    mine = ReplayCache()
    threaded = ThreadedWebhookBot(settings(), env={}, replay_cache=mine)
    assert isinstance(threaded._core.replay_cache, LockedReplayCache)
    assert threaded._core.replay_cache.inner is mine
    assert threaded._core.receiver_options == {"max_pipelined": 1}
    already = LockedReplayCache()
    assert ThreadedWebhookBot(settings(), env={}, replay_cache=already)._core.replay_cache \
        is already
    plain = AsyncioWebhookBot(settings(), env={}, replay_cache=mine)
    assert plain._core.replay_cache is mine and plain._core.receiver_options == {}
