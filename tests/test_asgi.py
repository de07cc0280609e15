"""The ASGI webhook app: under uvicorn on 127.0.0.1 (real HTTP, lifespan), and called
directly on asyncio and on trio for what a server cannot easily provoke (disconnects,
cancellation, websocket scopes)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio
import pytest
import trio
import uvicorn

from qqproto.events import Dispatch, Event, RequestRejected, SessionStopped, ValidationAnswered
from qqproto.models import C2CMessageCreate
from qqproto.simulator._webhook_push import PushOutcome, WebhookPusher, signed_headers
from qqproto.webhook._decision import ReplayCache, WebhookPolicy
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.asgi import WebhookApp

from .webhook_client import (
    ACK_OK,
    ACK_RETRY,
    APP_ID,
    KEY,
    SECRET,
    VECTOR_ANSWER,
    RawClient,
    dispatch,
    forged,
    request,
    settings,
    validation,
)

T = TypeVar("T")


class Served:
    """A :class:`WebhookApp` under uvicorn in a thread, with an ``events()`` collector
    started at lifespan startup and the loop kept for thread-safe calls."""

    def __init__(self, app: WebhookApp, *, collect: bool = True) -> None:
        self.app = app
        self.seen: list[Event] = []
        self.handled: list[Dispatch] = []
        self.fail_once: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._collect = collect
        self._task: asyncio.Task[None] | None = None
        app.on(Dispatch)(self._handle)
        config = uvicorn.Config(self._asgi, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on", interface="asgi3")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def _handle(self, event: Dispatch) -> None:
        self.handled.append(event)
        if event.id in self.fail_once:
            self.fail_once.discard(event.id)
            raise RuntimeError("the application failed (on purpose)")

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" and self.loop is None:
            self.loop = asyncio.get_running_loop()
            if self._collect:
                self._task = asyncio.ensure_future(self._gather(self.app.events()))
        await self.app(scope, receive, send)

    async def _gather(self, events: Any) -> None:
        async for event in events:
            self.seen.append(event)

    def __enter__(self) -> Served:
        self.thread.start()
        wait_for(lambda: self.server.started, "uvicorn to start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/qqbot"

    def call(self, fn: Callable[[WebhookApp], T]) -> T:
        assert self.loop is not None
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(lambda: future.set_result(fn(self.app)))
        return future.result(10)

    def dispatches(self) -> list[Dispatch]:
        return [e for e in self.seen if isinstance(e, Dispatch)]


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture
def served() -> Iterator[Served]:
    with Served(WebhookApp(settings(), env={})) as running:
        yield running


# ---------------------------------------------------------------------------- under uvicorn

@contextlib.contextmanager
def uvicorn_serving(app: Any, **config: Any) -> Iterator[int]:
    """``app`` itself under uvicorn (interface detected by uvicorn); yields the port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                           log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, "uvicorn")
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(15)


def test_validation_is_answered_with_the_official_vector() -> None:
    app = WebhookApp(settings(), env={}, policy=WebhookPolicy(timestamp_window=1e10))
    observed: list[Event] = []
    app.observers.append(observed.append)
    with uvicorn_serving(app) as port, RawClient(port) as client:
        answer = client.exchange(validation())
    assert (answer.status, answer.body) == (200, VECTOR_ANSWER)
    assert answer.headers["content-type"] == "application/json"
    assert observed == [ValidationAnswered(request=1, plain_token="Arq0D5A61EgUu4OxUvOp")]
    assert app.stopped is not None  # lifespan shutdown ran aclose()


def test_pushed_events_reach_handlers_and_the_iterator(served: Served) -> None:
    pusher = WebhookPusher(callback_url=served.url, secret=SECRET, app_id=APP_ID)
    with WebhookPushThread(pusher) as push:
        for n in range(3):
            push.push_event("GROUP_AT_MESSAGE_CREATE", {"id": f"m{n}"}, event_id=f"E{n}")
        assert push.wait_idle()
        assert [a.outcome for a in push.attempts()] == [PushOutcome.VALIDATED,
                                                        *[PushOutcome.ACKED] * 3]
    assert [e.id for e in served.handled] == ["E0", "E1", "E2"]
    wait_for(lambda: len(served.dispatches()) == 3, "the iterator")
    assert [(e.type, e.seq, e.data) for e in served.dispatches()] == [
        ("GROUP_AT_MESSAGE_CREATE", n + 1, {"id": f"m{n}"}) for n in range(3)]


def test_a_failing_handler_answers_d1_and_the_redelivery_is_seen_again(served: Served) -> None:
    served.fail_once.add("E1")
    pusher = WebhookPusher(callback_url=served.url, secret=SECRET, app_id=APP_ID,
                           retry_delay=0.05)
    with WebhookPushThread(pusher) as push:
        push.push_event("C2C_MESSAGE_CREATE", {}, event_id="E1")
        push.push_event("C2C_MESSAGE_CREATE", {}, event_id="E2")
        assert push.wait_idle()
        outcomes = sorted((a.event_id or "", a.attempt, a.outcome.value)
                          for a in push.attempts()[1:])
    assert outcomes == [("E1", 1, "redeliver"), ("E1", 2, "acked"), ("E2", 1, "acked")]
    assert sorted(e.id or "" for e in served.handled) == ["E1", "E1", "E2"]


def test_every_rejection_on_one_keep_alive_connection(served: Served) -> None:
    body = dispatch("E1")
    genuine = request(body)
    signature = genuine.split(b"X-Signature-Ed25519: ")[1][:128].decode()
    now = int(time.time())
    with RawClient(served.port) as client:
        answers = [
            client.exchange(request(body, path="/other")),
            client.exchange(request(body, method="PUT")),
            client.exchange(request(body, content_type="text/html")),
            client.exchange(request(body, app_id="9")),
            client.exchange(request(body, signature=forged(signature))),
            client.exchange(request(body, timestamp=str(now - 3600))),
            client.exchange(request(b"[1]")),
            client.exchange(genuine),
            client.exchange(genuine),
        ]
    assert [(a.status, a.body) for a in answers] == [
        (404, b"not found"), (405, b"method not allowed"),
        (415, b"content type must be application/json"),
        (403, b"X-Bot-Appid does not match this bot"), (401, b"signature does not verify"),
        (401, b"timestamp outside the accepted window"), (400, b"body is not a JSON object"),
        (200, ACK_OK), (409, b"event already delivered")]
    assert answers[1].headers["allow"] == "POST"
    assert [e.id for e in served.handled] == ["E1"]


def test_an_oversize_body_is_413() -> None:
    app = WebhookApp(settings(), env={}, policy=WebhookPolicy(max_body_size=100,
                                                             app_id=APP_ID))
    with Served(app, collect=False) as running, RawClient(running.port) as client:
        answer = client.exchange(request(dispatch("E1", d={"x": "y" * 500})))
    assert (answer.status, answer.body) == (413, b"request body too large")
    assert running.handled == []


def test_manual_marks_hold_the_answer_and_shutdown_ends_the_iterator() -> None:
    app = WebhookApp(settings(auto_mark_processed=False), env={})
    with Served(app) as running, RawClient(running.port) as client:
        client.send(request(dispatch("E1", seq=5)))
        wait_for(lambda: len(running.dispatches()) == 1, "the delivery")
        assert running.call(lambda a: a._core.unanswered) == 1
        running.call(lambda a: a.mark_processed(5))
        assert client.answer().body == ACK_OK
        client.send(request(dispatch("E2", seq=6)))
        wait_for(lambda: len(running.dispatches()) == 2, "the second delivery")
        running.call(lambda a: a.mark_failed(running.dispatches()[1]))
        assert client.answer().body == ACK_RETRY
    wait_for(lambda: app.stopped is not None, "lifespan shutdown")
    assert isinstance(running.seen[-1], SessionStopped)


def test_mounted_below_a_root_path_and_with_path_none() -> None:
    routed = WebhookApp(settings(), env={})
    anywhere = WebhookApp(settings(), env={}, path=None)

    async def router(scope: Any, receive: Any, send: Any) -> None:
        # What Starlette's Mount does: root_path grows, path stays whole.
        if scope["type"] == "http" and scope["path"].startswith("/hooks/"):
            scope = {**scope, "root_path": scope.get("root_path", "") + "/hooks"}
            await routed(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/any/"):
            await anywhere(scope, receive, send)
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 418, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    with uvicorn_serving(router, lifespan="off") as port, RawClient(port) as client:
        assert client.exchange(request(dispatch("A"), path="/hooks/qqbot")).body == ACK_OK
        assert client.exchange(request(dispatch("B"), path="/hooks/other")).status == 404
        assert client.exchange(request(dispatch("C"), path="/any/x/y")).body == ACK_OK


# ---------------------------------------------------------------------------- called directly

def _scope(path: str = "/qqbot", method: str = "POST", root_path: str = "",
           headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path,
            "query_string": b"", "headers": headers or []}


def _signed(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in
            signed_headers(KEY, body, timestamp=str(int(time.time())), app_id=APP_ID)]


async def _call(app: WebhookApp, scope: dict[str, Any],
                messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def test_on_trio_a_coroutine_handler_runs_and_the_answer_is_d0() -> None:
    app = WebhookApp(settings(), env={})
    seen: list[str | None] = []

    @app.on("C2C_MESSAGE_CREATE")
    async def handler(event: C2CMessageCreate) -> None:
        await trio.sleep(0)
        seen.append(event.event_id)

    async def main() -> list[dict[str, Any]]:
        body = dispatch("T1")
        sent = await _call(app, _scope(headers=_signed(body)),
                           [{"type": "http.request", "body": body[:10], "more_body": True},
                            {"type": "http.request", "body": body[10:]}])
        await app.aclose()
        return sent

    sent = trio.run(main)
    assert sent[0]["status"] == 200 and sent[1]["body"] == ACK_OK
    assert (b"content-length", b"15") in sent[0]["headers"]
    assert seen == ["T1"] and app.stopped is not None


def test_a_handler_that_cannot_suspend_runs_in_the_requests_own_task() -> None:
    """No task group and no task per request for an ``async def`` without ``await``
    (as on the drivers); raising is still ``d = 1``; one that awaits gets a task."""
    app = WebhookApp(settings(), env={})
    seen: list[tuple[str, bool]] = []
    request_task: list[asyncio.Task[Any] | None] = []

    @app.on("C2C_MESSAGE_CREATE")
    async def at_once(event: C2CMessageCreate) -> None:
        seen.append(("at once", asyncio.current_task() is request_task[0]))
        if event.event_id == "FAIL":
            raise RuntimeError("on purpose")

    @app.on("GROUP_AT_MESSAGE_CREATE")
    async def suspends(event: Any) -> None:
        await asyncio.sleep(0)
        seen.append(("suspends", asyncio.current_task() is request_task[0]))

    group = {"id": "m", "content": "hi", "group_openid": "G",
             "author": {"id": "U", "member_openid": "U"}}

    async def one(body: bytes) -> bytes:
        request_task[:] = [asyncio.current_task()]
        sent = await _call(app, _scope(headers=_signed(body)),
                           [{"type": "http.request", "body": body}])
        return bytes(sent[1]["body"])

    async def main() -> list[bytes]:
        answers = [await one(dispatch("OK")), await one(dispatch("FAIL", seq=2)),
                   await one(dispatch("G1", seq=3, event_type="GROUP_AT_MESSAGE_CREATE",
                                      d=group))]
        await app.aclose()
        return answers

    assert asyncio.run(main()) == [ACK_OK, ACK_RETRY, ACK_OK]
    assert seen == [("at once", True), ("at once", True), ("suspends", False)]


def test_a_client_that_disconnects_mid_body_gets_nothing() -> None:
    app = WebhookApp(settings(), env={})
    sent = asyncio.run(_call(app, _scope(), [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"}]))
    assert sent == []


def test_a_cancelled_request_lets_a_redelivery_through() -> None:
    cache = ReplayCache()
    app = WebhookApp(settings(auto_mark_processed=False), env={}, replay_cache=cache)
    app._core.subscribe(lambda e: None)  # an iterator that never marks

    async def main() -> None:
        body = dispatch("E1")
        with anyio.move_on_after(0.05):
            await _call(app, _scope(headers=_signed(body)),
                        [{"type": "http.request", "body": body}])
        assert len(cache) == 0 and app._core.unanswered == 0

    asyncio.run(main())


def test_websocket_scopes_are_closed_and_lifespan_is_answered() -> None:
    app = WebhookApp(settings(), env={})

    async def main() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        websocket = await _call(app, {"type": "websocket", "path": "/qqbot"},
                                [{"type": "websocket.connect"}])
        lifespan = await _call(app, {"type": "lifespan"},
                               [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        await app.aclose()  # a second close changes nothing
        return websocket, lifespan

    websocket, lifespan = asyncio.run(main())
    assert websocket == [{"type": "websocket.close", "code": 1008}]
    assert lifespan == [{"type": "lifespan.startup.complete"},
                        {"type": "lifespan.shutdown.complete"}]


def test_rejections_are_reported_to_observers_with_request_numbers() -> None:
    app = WebhookApp(settings(), env={})
    observed: list[Event] = []
    app.observers.append(observed.append)

    async def main() -> None:
        await _call(app, _scope(method="GET"), [{"type": "http.request", "body": b""}])
        await _call(app, _scope(path="/x", root_path="/x"), [{"type": "http.request"}])

    asyncio.run(main())
    assert observed == [RequestRejected(request=1, status=405, reason="method not allowed"),
                        RequestRejected(request=2, status=404, reason="not found")]


def test_the_app_has_the_bot_api_of_the_gateway_bots() -> None:
    app = WebhookApp(settings(), env={})
    assert app._core.plan == app._plan_delivery  # the handlers and the auto-ACK
    assert app.rest is app.rest and app.rest.token_state is app.session.token_state
    assert callable(app.upload) and callable(app.ack_interaction)
    assert callable(app.reply) and callable(app.send)
