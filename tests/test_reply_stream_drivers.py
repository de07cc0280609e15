"""The drivers' stream pumps (asyncio, trio, threads) without sockets: a scripted HTTP
answer per request, so failures and a block that raises are exercised on each runtime."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from qqproto.errors import StreamPrefixError, TransientError
from qqproto.rest import HttpRequest, HttpResponse, ReplyContext, RestCall, RestClient
from qqproto_transports._stream import AsyncStreamApi, SyncStreamApi
from tests.test_reply_stream import TOKEN_OK, TOKEN_URL, answer, c2c, client

Answer = Callable[[HttpRequest], HttpResponse]


def ok(request: HttpRequest) -> HttpResponse:
    return answer()


def fails(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=503, body=b'{"code":50001,"message":"later"}')


class _Fake:
    def __init__(self, respond: Answer) -> None:
        self.rest: RestClient = client()
        self.replies = ReplyContext()
        self.respond = respond
        self.bodies: list[dict[str, Any]] = []

    def _now(self) -> float:
        return time.monotonic()

    def _exchange(self, call: RestCall[Any]) -> Any:
        while (request := call.next_request(self._now())) is not None:
            if request.url == TOKEN_URL:
                call.receive_response(TOKEN_OK, self._now())
                continue
            self.bodies.append(json.loads(request.body))
            call.receive_response(self.respond(request), self._now())
        return call.result()


class FakeAsync(_Fake, AsyncStreamApi):
    async def call(self, call: RestCall[Any]) -> Any:
        await anyio.sleep(0)
        return self._exchange(call)


class FakeSync(_Fake, SyncStreamApi):
    def call(self, call: RestCall[Any]) -> Any:
        return self._exchange(call)


BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_async_pump_streams_and_finishes(backend: str) -> None:
    bot = FakeAsync(ok)

    async def main() -> None:
        async with bot.stream_reply(c2c(), interval=0.02) as s:
            await s.write("a")
            await anyio.sleep(0.05)
            await s.replace("ab")
        assert s.stream.done and s.chunks[-1].final

    anyio.run(main, backend=backend)
    assert [b["content_raw"] for b in bot.bodies][-1] == "ab"
    assert bot.bodies[-1]["input_state"] == 10 and len(bot.bodies) >= 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_chunk_raises_from_the_next_write(backend: str) -> None:
    bot = FakeAsync(fails)

    async def main() -> None:
        with pytest.raises(TransientError):
            async with bot.stream_reply(c2c(), interval=0.02) as s:
                await s.write("a")
                with anyio.fail_after(5):
                    while not s.stream.done:
                        await anyio.sleep(0.01)
                await s.write("b")

    anyio.run(main, backend=backend)
    assert len(bot.bodies) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_block_that_raises_still_closes_the_stream(backend: str) -> None:
    bot = FakeAsync(ok)

    async def main() -> None:
        with pytest.raises(ZeroDivisionError):
            async with bot.stream_reply(c2c()) as s:
                await s.write("half an answer")
                1 / 0  # noqa: B018

    anyio.run(main, backend=backend)
    assert (bot.bodies[-1]["input_state"], bot.bodies[-1]["content_raw"]) == (
        10, "half an answer")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failure_at_the_end_raises_from_the_block(backend: str) -> None:
    bot = FakeAsync(fails)

    async def main() -> None:
        with pytest.raises(TransientError):
            async with bot.stream_reply(c2c(), interval=5) as s:
                await s.write("x")

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancelling_the_block_stops_the_pump(backend: str) -> None:
    bot = FakeAsync(ok)

    async def main() -> None:
        with anyio.move_on_after(0.05):
            async with bot.stream_reply(c2c(), interval=10) as s:
                await s.write("x")
                await anyio.sleep(1)
        assert not s.stream.done

    anyio.run(main, backend=backend)


def test_the_threads_pump_streams_fails_and_closes() -> None:
    bot = FakeSync(ok)
    with bot.stream_reply(c2c(), interval=0.02) as s:
        s.write("a")
        time.sleep(0.05)
        s.write("b")
    assert s.stream.done and bot.bodies[-1]["content_raw"] == "ab"
    assert bot.bodies[-1]["input_state"] == 10

    failing = FakeSync(fails)
    with pytest.raises(TransientError), failing.stream_reply(c2c(), interval=0.02) as s:
        s.write("a")
        deadline = time.monotonic() + 5
        while not s.stream.done and time.monotonic() < deadline:
            time.sleep(0.01)
        s.write("b")

    raising = FakeSync(ok)
    with pytest.raises(StreamPrefixError), raising.stream_reply(c2c(), interval=0.02) as s:
        s.write("draft")
        deadline = time.monotonic() + 5
        while not s.chunks and time.monotonic() < deadline:
            time.sleep(0.01)
        s.replace("final")
    assert raising.bodies[-1]["input_state"] == 10


def test_stream_reply_refuses_what_is_not_a_message_or_a_tap() -> None:
    from qqproto.events import Dispatch

    with pytest.raises(TypeError):
        FakeSync(ok).stream_reply(Dispatch(type="FRIEND_ADD", seq=1, id=None,
                                           data={"openid": "U"}))
