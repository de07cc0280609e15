"""Webhook servers and the ASGI app against hostile clients on 127.0.0.1.

What the issue saw: the ASGI app (under uvicorn) read a 100 MB ``Content-Length`` instead
of refusing it, and waited for ever on a body trickled at 5 B/s; the threaded server ran
one thread per connection without a cap (1,002 threads under 1,000 slow-loris
connections); 10k pipelined unsigned requests delayed a legitimate one by 1.9 s.  Now an
announced body over the limit is a 413 before it is read, a slow body a 408, the
threaded server keeps a bounded pool and sheds the connection that stalled the longest,
and a connection that keeps sending refused requests is closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from qqproto import Limits
from qqproto.events import RequestRejected
from qqproto.webhook import WebhookPolicy, early_rejection
from qqproto.webhook._receiver import MAX_REJECTED
from qqproto_transports.asgi import WebhookApp

from .test_webhook_servers import Harness
from .webhook_client import RawClient, dispatch, post, request, settings

# ---------------------------------------------------------------- sans-IO verdicts


@pytest.mark.parametrize(("length", "status"), [
    ("1048577", 413), ("100000000", 413), ("99999999999999999999999", 400), ("\u00b2", 400),
    ("-1", 400), ("1048576", None), ("0", None), (None, None)])
def test_the_head_alone_refuses_an_announced_body_over_the_limit(length: str | None,
                                                                status: int | None) -> None:
    headers = [] if length is None else [(b"content-length", length.encode())]
    verdict = early_rejection(headers, WebhookPolicy())
    assert (verdict.status if verdict else None) == status


def test_two_content_lengths_are_refused_from_the_head() -> None:
    verdict = early_rejection([("Content-Length", "1"), ("content-length", "2")])
    assert verdict is not None and verdict.status == 400


# ---------------------------------------------------------------- the ASGI app


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/qqbot", "root_path": "",
            "headers": headers}


async def _call(app: WebhookApp, headers: list[tuple[bytes, bytes]], chunks: list[bytes],
                then_wait: bool) -> list[dict[str, Any]]:
    """Run one request through the app; the body arrives in ``chunks`` and then, with
    ``then_wait``, never finishes (a client that stalls)."""
    sent: list[dict[str, Any]] = []
    pieces = iter(chunks)

    async def receive() -> dict[str, Any]:
        piece = next(pieces, None)
        if piece is not None:
            return {"type": "http.request", "body": piece, "more_body": True}
        if then_wait:
            await anyio.sleep(3600)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(headers), receive, send)
    return sent


def _status(sent: list[dict[str, Any]]) -> int:
    return int(sent[0]["status"])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_asgi_app_refuses_a_huge_content_length_before_reading(backend: str) -> None:
    app = WebhookApp(settings(), env={})
    observed: list[Any] = []
    app.observers.append(observed.append)
    sent = anyio.run(_call, app, [(b"content-length", b"100000000")], [], True,
                     backend=backend)
    assert _status(sent) == 413 and sent[1]["body"] == b"request body too large"
    assert [type(e) for e in observed] == [RequestRejected]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_asgi_app_gives_a_trickled_body_a_408(backend: str) -> None:
    app = WebhookApp(settings(limits=Limits(webhook_request_timeout=0.2)), env={})
    started = time.monotonic()
    sent = anyio.run(_call, app, [(b"content-length", b"500")], [b"{", b"\""], True,
                     backend=backend)
    assert _status(sent) == 408 and sent[1]["body"] == b"request timeout"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_asgi_app_refuses_a_body_in_too_many_pieces(backend: str) -> None:
    from qqproto_transports.asgi import MAX_BODY_MESSAGES

    app = WebhookApp(settings(), env={})
    sent = anyio.run(_call, app, [], [b"x"] * (MAX_BODY_MESSAGES + 1), False,
                     backend=backend)
    assert _status(sent) == 413


def test_under_uvicorn_a_100_mb_content_length_is_refused_before_the_body() -> None:
    uvicorn = pytest.importorskip("uvicorn", reason="uvicorn comes with the test extra")
    app = WebhookApp(settings(), env={})
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with RawClient(port, timeout=5) as client:
            # The head only: the app answers without waiting for 100 MB.
            answer = client.exchange(b"POST /qqbot HTTP/1.1\r\nHost: x\r\n"
                                     b"Content-Type: application/json\r\n"
                                     b"Content-Length: 100000000\r\n\r\n")
        assert answer.status == 413
    finally:
        server.should_exit = True
        thread.join(10)


# ---------------------------------------------------------------- the raw servers


@pytest.fixture(params=["asyncio", "trio", "threaded"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = Harness(request.param)
    yield h
    if h._thread is not None and h._thread.is_alive():
        h.stop()


def test_a_pipelined_flood_of_unsigned_requests_is_cut_off(harness: Harness) -> None:
    harness.start()
    unsigned = (b"POST /qqbot HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\n\r\n{}")
    with RawClient(harness.port, timeout=5) as flood:
        flood.send(unsigned * 2000)
        answers = []
        while not flood.at_eof():
            answers.append(flood.answer())
            if answers[-1].closes:
                break
        assert len(answers) == MAX_REJECTED and answers[-1].closes
        assert {a.status for a in answers} == {403}  # no X-Bot-Appid: refused unread
    # A legitimate push is served at once.
    started = time.monotonic()
    assert post(harness.port, request(dispatch("E1"))).status == 200
    assert time.monotonic() - started < 1.0
    harness.stop()


def test_the_threaded_server_sheds_stalled_connections_and_stays_bounded() -> None:
    harness = Harness("threaded")
    limit = 8
    harness.start(settings(limits=Limits(max_webhook_connections=limit)))
    loris: list[socket.socket] = []
    try:
        for _ in range(60):  # slow-loris: a head that never ends
            sock = socket.create_connection(("127.0.0.1", harness.port), timeout=5)
            sock.sendall(b"POST /qqbot HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            loris.append(sock)
        harness.wait_for(lambda: len(harness.bot._conns) <= limit, "shedding")
        workers = [t for t in threading.enumerate() if t.name == "qqproto-webhook-conn"]
        assert len(workers) <= limit + 1
        started = time.monotonic()
        assert post(harness.port, request(dispatch("E2"))).status == 200
        assert time.monotonic() - started < 2.0
        harness.wait_for(lambda: harness.handled_ids() == ["E2"], "the push")
    finally:
        for sock in loris:
            sock.close()
        harness.stop()


def test_a_connection_owing_an_answer_is_never_shed() -> None:
    release = threading.Event()
    harness = Harness("threaded")
    harness.start(settings(limits=Limits(max_webhook_connections=1)), handler=False,
                  setup=lambda bot: bot.on("C2C_MESSAGE_CREATE")(lambda e: release.wait(5)))
    try:
        with RawClient(harness.port, timeout=5) as busy:
            busy.send(request(dispatch("E3")))
            harness.wait_for(lambda: any(c.busy for c in harness.bot._conns), "busy")
            newcomer = socket.create_connection(("127.0.0.1", harness.port), timeout=5)
            try:
                with contextlib.suppress(OSError):  # closed at once: a reset is as good
                    newcomer.sendall(request(dispatch("E4")))
                try:
                    answer = newcomer.recv(100)
                except ConnectionResetError:
                    answer = b""
                assert answer == b""  # shed: the only worker owes an answer
            finally:
                newcomer.close()
            release.set()
            assert busy.answer().status == 200
    finally:
        release.set()
        harness.stop()

