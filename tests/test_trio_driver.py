"""The trio driver against the simulator on 127.0.0.1 (real sockets, ``trio.run``).

Heartbeats are 200 ms; waits poll a condition under ``trio.fail_after``.  Every test
also checks that no thread and no socket is left behind (``error::ResourceWarning``).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trustme

from qqproto.events import (
    ConnectionEnded,
    Dispatch,
    EndCause,
    Event,
    Ready,
    Reconnecting,
    Resumed,
    SessionStopped,
)
from qqproto.models import C2CMessageCreate
from qqproto.rest._client import RestClient
from qqproto_transports.simulator import SimulatorThread
from qqproto_transports.trio import Bot as TrioBot
from tests.driver_support_loopback import (
    NO_RETRY,
    QUICK_RETRY,
    TlsForwarder,
    bot_close_codes,
    event_names,
    new_threads,
    settings_for,
    simulator,
    tls_settings_for,
    wait_until,
)
from tests.loopback.adapter_trio import TrioHandle
from tests.support.connect_proxy import ConnectProxy
from tests.support.garbage import collected_after

pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")
T = TypeVar("T")



@pytest.fixture
def server() -> Iterator[SimulatorThread]:
    with simulator() as server:
        yield server


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """No thread survives a test (trio's own idle worker cache aside); no socket is
    left to the garbage collector (the ResourceWarning would be an error)."""
    before = set(threading.enumerate())
    with collected_after():
        yield
    wait_until(lambda: not new_threads(before), 5.0, "threads to end")


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll a condition that depends on real sockets."""
    with trio.fail_after(timeout):
        while not (value := predicate()):
            await trio.sleep(0.005)
        return value


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """A blocking call (the simulator's thread-safe controls) off the trio thread."""
    return await trio.to_thread.run_sync(fn, *args)


async def running(bot: TrioBot, body: Callable[[list[Event]], Awaitable[None]],
                  ) -> tuple[Any, list[Event]]:
    """Run ``bot`` and ``body(events)`` side by side; ``run()``'s Stop and the events."""
    seen: list[Event] = []
    result: list[Any] = []
    events = bot.events()

    async def collect() -> None:
        async for event in events:
            seen.append(event)

    async def run() -> None:
        result.append(await bot.run())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect)
        nursery.start_soon(run)
        with trio.fail_after(15):
            await body(seen)
    return result[0] if result else None, seen


def has(kind: type[Event]) -> Callable[[list[Event]], Callable[[], bool]]:
    return lambda seen: lambda: any(isinstance(e, kind) for e in seen)


# ---------------------------------------------------------------- connect and deliver


def test_connects_identifies_and_delivers_ready_first(server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server), env={})

    async def body(seen: list[Event]) -> None:
        await until(lambda: seen)
        bot.close()

    stop, seen = trio.run(running, bot, body)
    assert isinstance(seen[0], Ready) and seen[0].session_id
    assert event_names(seen) == ["Ready", "ConnectionEnded", "SessionStopped"]
    assert stop.fatal is False and stop.reason == "closed by the application"
    counters = server.counters()
    assert (counters.tokens_issued, counters.identifies, counters.websockets) == (1, 1, 1)
    assert bot_close_codes(server) == [4000]  # resumable, sent before the socket closed


def test_a_dispatch_reaches_async_and_plain_handlers_and_the_channel(
        server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server), env={})
    plain: list[C2CMessageCreate] = []
    awaited: list[C2CMessageCreate] = []
    bot.on("C2C_MESSAGE_CREATE")(plain.append)

    @bot.on(C2CMessageCreate)
    async def handler(event: C2CMessageCreate) -> None:
        await trio.sleep(0)
        awaited.append(event)

    async def body(seen: list[Event]) -> None:
        await until(lambda: seen)
        sent = await in_thread(server.inject_c2c_message, "user-1", "hello")
        await until(lambda: plain and awaited)
        assert plain[0].event_id == awaited[0].event_id == sent.id
        bot.close()

    _, seen = trio.run(running, bot, body)
    dispatches = [e for e in seen if type(e) is Dispatch]
    assert plain == awaited and plain[0] is awaited[0]  # parsed once for both handlers
    assert [e.event_id for e in plain] == [d.id for d in dispatches]
    assert plain[0].message.content == dispatches[0].data["content"] == "hello"


def test_handler_failure_is_logged_and_the_bot_goes_on(
        server: SimulatorThread, caplog: pytest.LogCaptureFixture) -> None:
    bot = TrioBot(settings_for(server), env={})
    good: list[Dispatch] = []

    @bot.on("C2C_MESSAGE_CREATE")
    async def broken(event: Dispatch) -> None:
        raise RuntimeError("handler bug")

    bot.on("C2C_MESSAGE_CREATE")(good.append)

    async def body(seen: list[Event]) -> None:
        await until(lambda: seen)
        await in_thread(server.inject_c2c_message, "user-1", "one")
        await in_thread(server.inject_c2c_message, "user-1", "two")
        await until(lambda: len(good) == 2)
        bot.close()

    with caplog.at_level(logging.ERROR, logger="qqproto_transports"):
        stop, _ = trio.run(running, bot, body)
    assert stop.fatal is False
    failures = [r for r in caplog.records
                if r.getMessage().startswith(f"[app {bot.settings.app_id}] handler ")
                and r.getMessage().endswith("failed on C2C_MESSAGE_CREATE")]
    assert len(failures) == 2 and all("handler bug" in (r.exc_text or "") for r in failures)


def test_a_dropped_connection_is_resumed(server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server, policy=QUICK_RETRY), env={})

    async def body(seen: list[Event]) -> None:
        await until(lambda: seen)
        await in_thread(server.drop_connections)
        await until(has(Resumed)(seen))
        bot.close()

    _, seen = trio.run(running, bot, body)
    ends = [e for e in seen if isinstance(e, ConnectionEnded)]
    assert [e.cause for e in ends] == [EndCause.CONNECTION_LOST, EndCause.LOCAL_CLOSE]
    assert any(isinstance(e, Reconnecting) for e in seen)
    assert server.counters().resumes == 1


# ---------------------------------------------------------------- shutdown


def test_cancelling_the_scope_around_run_closes_the_gateway_cleanly(
        server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server), env={})
    seen: list[Event] = []

    async def main() -> bool:
        events = bot.events()
        with trio.move_on_after(10) as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(bot.run)
                async for event in events:
                    seen.append(event)
                    if isinstance(event, Ready):
                        nursery.cancel_scope.cancel()  # structured shutdown, no close()
                        break
        async for event in events:  # the channel still ends after SessionStopped
            seen.append(event)
        return scope.cancelled_caught

    assert trio.run(main) is False
    assert bot_close_codes(server) == [4000]  # the close handshake ran under the shield
    assert event_names(seen) == ["Ready", "ConnectionEnded", "SessionStopped"]
    assert bot.stopped is not None and bot.stopped.fatal is False


def test_a_cancelled_run_while_connecting_stops_at_once(server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server), env={})

    async def main() -> float:
        started = trio.current_time()
        with trio.move_on_after(0):
            await bot.run()
        return trio.current_time() - started

    assert trio.run(main) < 5.0
    assert bot.stopped is not None and server.counters().websockets == 0


def test_close_from_another_thread_through_the_adapter(server: SimulatorThread) -> None:
    handle = TrioHandle()
    handle.start(settings_for(server))
    handle.wait_for(lambda events: any(isinstance(e, Ready) for e in events))
    stop = handle.stop()
    assert stop.fatal is False
    assert event_names(handle.events()) == ["Ready", "ConnectionEnded", "SessionStopped"]
    assert bot_close_codes(server) == [4000]


def test_events_asked_for_after_the_end_is_an_ended_channel(server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server), env={})

    async def main() -> list[Event]:
        async def close_soon(seen: list[Event]) -> None:
            await until(lambda: seen)
            bot.close()

        await running(bot, close_soon)
        return [event async for event in bot.events()]

    assert trio.run(main) == []


def test_a_closed_events_channel_is_dropped_without_harm(server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server), env={})

    async def main() -> tuple[Any, list[Event]]:
        abandoned = bot.events()
        await abandoned.aclose()

        async def body(seen: list[Event]) -> None:
            await until(lambda: seen)
            bot.close()

        return await running(bot, body)

    stop, seen = trio.run(main)
    assert stop.fatal is False and isinstance(seen[-1], SessionStopped)


# ---------------------------------------------------------------- REST, marks, slow handlers


def test_call_runs_rest_calls_concurrently_with_the_gateway_token(
        server: SimulatorThread) -> None:
    bot = TrioBot(settings_for(server), env={})

    async def body(seen: list[Event]) -> None:
        await until(lambda: seen)
        rest = RestClient(bot.session.token_state)
        async with trio.open_nursery() as nursery:
            for n in range(4):
                nursery.start_soon(bot.call, rest.send_c2c_message(f"u{n}", content=f"hi {n}"))
        bot.close()

    trio.run(running, bot, body)
    assert sorted(m.content for m in server.sent_messages()) == [f"hi {n}" for n in range(4)]
    assert server.counters().tokens_issued == 1


def test_with_manual_marks_resume_sends_the_last_processed_seq(
        server: SimulatorThread, tmp_path: Path) -> None:
    session_file = tmp_path / "session.json"
    settings = settings_for(server, auto_mark_processed=False)
    bot = TrioBot(settings, session_file=str(session_file), env={})

    @bot.on(C2CMessageCreate)
    def handle(event: C2CMessageCreate) -> None:
        if event.message.content == "done":
            bot.mark_processed(event)

    async def first(seen: list[Event]) -> None:
        await until(lambda: seen)
        await in_thread(server.inject_c2c_message, "user-1", "done")
        await in_thread(server.inject_c2c_message, "user-1", "not marked")
        await until(lambda: sum(type(e) is Dispatch for e in seen) == 2)
        bot.close()

    _, seen = trio.run(running, bot, first)
    marked = next(e.seq for e in seen if type(e) is Dispatch and e.data["content"] == "done")
    assert json.loads(session_file.read_text())["seq"] == marked

    again = TrioBot(settings, session_file=str(session_file), env={})

    async def second(seen: list[Event]) -> None:
        await until(lambda: any(type(e) is Dispatch for e in seen))
        again.close()

    _, seen = trio.run(running, again, second)
    assert any(isinstance(e, Resumed) for e in seen)
    assert [e.data["content"] for e in seen if type(e) is Dispatch] == ["not marked"]


def test_slow_work_in_a_worker_thread_does_not_cost_the_connection(
        server: SimulatorThread) -> None:
    # The trio spelling of the blocking-handler fix: trio.to_thread.run_sync.
    bot = TrioBot(settings_for(server), env={})
    done = trio.Event()

    @bot.on("C2C_MESSAGE_CREATE")
    async def slow(event: Dispatch) -> None:
        await trio.to_thread.run_sync(time.sleep, 0.6)  # 3 heartbeat intervals
        done.set()

    async def body(seen: list[Event]) -> None:
        await until(lambda: seen)
        await in_thread(server.inject_c2c_message, "user-1", "slow")
        await done.wait()
        bot.close()

    _, seen = trio.run(running, bot, body)
    counters = server.counters()
    assert counters.heartbeat_timeouts == 0 and counters.websockets == 1
    assert [e.cause for e in seen if isinstance(e, ConnectionEnded)] == [EndCause.LOCAL_CLOSE]


# ---------------------------------------------------------------- proxies and TLS


def run_until_ready(bot: TrioBot) -> tuple[Any, list[Event]]:
    async def body(seen: list[Event]) -> None:
        await until(lambda: seen)
        bot.close()
    return trio.run(running, bot, body)


def test_connects_through_an_http_connect_proxy(
        server: SimulatorThread, connect_proxy: ConnectProxy) -> None:
    stop, seen = run_until_ready(TrioBot(settings_for(server),
                                         env={"WS_PROXY": connect_proxy.url}))
    assert isinstance(seen[0], Ready) and stop.fatal is False
    assert connect_proxy.targets == [f"127.0.0.1:{server.port}"]  # the gateway only
    assert bot_close_codes(server) == [4000]


def test_speaks_tls_with_sni_to_a_private_ca(
        server: SimulatorThread, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext) -> None:
    with TlsForwarder(tls_server_context, server.port) as forwarder:
        settings = tls_settings_for(server, forwarder)
        stop, seen = run_until_ready(TrioBot(settings, env={},
                                             ssl_context=tls_client_context))
    assert isinstance(seen[0], Ready) and stop.fatal is False
    assert "localhost" in forwarder.server_names and forwarder.handshake_failures == 0
    assert bot_close_codes(server) == [4000]


def test_tls_through_a_proxy_tunnel_uses_start_tls(
        server: SimulatorThread, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext, connect_proxy: ConnectProxy) -> None:
    with TlsForwarder(tls_server_context, server.port) as forwarder:
        settings = tls_settings_for(server, forwarder)
        stop, seen = run_until_ready(TrioBot(settings, env={"HTTPS_PROXY": connect_proxy.url},
                  ssl_context=tls_client_context))
    assert isinstance(seen[0], Ready) and stop.fatal is False
    assert set(connect_proxy.targets) == {f"localhost:{forwarder.port}"}
    assert len(connect_proxy.targets) >= 2  # REST through httpx, the gateway through us
    assert forwarder.server_names.count("localhost") >= 2
    assert bot_close_codes(server) == [4000]


@pytest.mark.parametrize("via_proxy", [False, True], ids=["direct", "tunnel"])
def test_an_untrusted_gateway_certificate_fails_the_connection(
        server: SimulatorThread, tls_server_context: ssl.SSLContext, connect_proxy: ConnectProxy,
        via_proxy: bool) -> None:
    stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts another CA only
    trustme.CA().configure_trust(stranger)
    # REST over plain HTTP to the simulator (never proxied: only https_proxy is set), the
    # gateway over TLS via the forwarder, directly or through a CONNECT tunnel (StartTls).
    env = {"HTTPS_PROXY": connect_proxy.url} if via_proxy else {}
    with TlsForwarder(tls_server_context, server.port) as forwarder:
        server.call(lambda sim, now: setattr(sim, "gateway_url",
                                             f"wss://localhost:{forwarder.port}/websocket"))
        bot = TrioBot(settings_for(server, policy=NO_RETRY), env=env,
                         ssl_context=stranger)
        stop = trio.run(bot.run)
        wait_until(lambda: forwarder.handshake_failures == 1, what="the refused handshake")
    assert stop.fatal and "could not connect" in stop.reason
    assert "CERTIFICATE_VERIFY_FAILED" in stop.reason
    assert server.counters().websockets == 0
    assert connect_proxy.tunnels == (1 if via_proxy else 0)


def test_a_refused_connection_is_reported_to_the_session(server: SimulatorThread) -> None:
    with socket.socket() as probe:  # a port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = TrioBot(settings_for(server, policy=NO_RETRY),
                  env={"WS_PROXY": f"http://127.0.0.1:{port}"})
    stop = trio.run(bot.run)
    assert stop.fatal and "could not connect" in stop.reason
    assert "OSError" in stop.reason or "ConnectionRefused" in stop.reason


def test_the_loopback_adapter_runs_a_plain_handler_that_replies(
        server: SimulatorThread) -> None:
    handle = TrioHandle()
    replies: list[Any] = []

    def echo(event: Dispatch) -> None:  # a plain handler: the adapter runs it in a thread
        if type(event) is not Dispatch:
            return  # READY
        assert handle.bot is not None
        rest = RestClient(handle.bot.session.token_state)
        replies.append(handle.reply(rest.send_c2c_message(
            "user-1", content=event.data["content"], msg_id=event.data["id"], msg_seq=1)))

    handle.on_dispatch(echo)
    handle.start(settings_for(server))
    handle.wait_for(lambda events: any(isinstance(e, Ready) for e in events))
    server.inject_c2c_message("user-1", "echo me")
    wait_until(lambda: replies, what="the reply")
    assert handle.stop().fatal is False
    assert [m.content for m in server.sent_messages()] == ["echo me"]
