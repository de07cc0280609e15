"""The threaded driver against the simulator on 127.0.0.1 (real sockets, real threads).

Protocol time cannot be moved by arithmetic here: the sockets are real.  Heartbeats are
200 ms and every wait polls a condition with a deadline.  Every test also checks that
the bot leaves no thread and no socket behind (``error::ResourceWarning``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from qqproto.events import (
    ConnectionEnded,
    Dispatch,
    EndCause,
    Event,
    Ready,
    Resumed,
    SessionStopped,
)
from qqproto.models import C2CMessageCreate
from qqproto.rest._client import RestClient
from qqproto_transports.asyncio import Bot as AsyncioBot
from qqproto_transports.simulator import SimulatorThread
from qqproto_transports.threads import Bot as ThreadedBot
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
from tests.loopback.adapter_threaded import ThreadedHandle
from tests.support.connect_proxy import ConnectProxy
from tests.support.garbage import collected_after

pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")



@pytest.fixture
def server() -> Iterator[SimulatorThread]:
    with simulator() as server:
        yield server


@pytest.fixture
def threads_before() -> Iterator[set[threading.Thread]]:
    """The threads alive before the test; afterwards the bot must have joined its own."""
    before = set(threading.enumerate())
    with collected_after():  # an unclosed socket warns then, and the warning is an error
        yield before
    wait_until(lambda: not new_threads(before), 5.0, "the bot's threads to end")


def ready_flag(bot: ThreadedBot) -> threading.Event:
    """Set when READY has been delivered (a handler on the worker pool)."""
    flag = threading.Event()
    bot.on(Ready)(lambda event: flag.set())
    return flag


def collect(bot: ThreadedBot) -> tuple[list[Event], threading.Thread]:
    """Iterate ``bot.events()`` on a thread into a list (subscribed before returning)."""
    seen: list[Event] = []
    events = bot.events()
    thread = threading.Thread(target=lambda: seen.extend(events), daemon=True)
    thread.start()
    return seen, thread


# ---------------------------------------------------------------- connect and deliver


def test_connects_identifies_and_delivers_ready_first(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    seen, collector = collect(bot)
    bot.start()
    wait_until(lambda: seen, what="the first event")
    assert isinstance(seen[0], Ready)
    assert seen[0].session_id and bot.session.snapshot() is not None
    counters = server.counters()
    assert (counters.tokens_issued, counters.identifies, counters.websockets) == (1, 1, 1)
    bot.close()
    stop = bot.join(5)
    collector.join(5)
    assert stop.fatal is False and stop.reason == "closed by the application"
    assert event_names(seen) == ["Ready", "ConnectionEnded", "SessionStopped"]


def test_a_dispatch_reaches_handlers_and_the_iterator_once_each(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    by_type: list[C2CMessageCreate] = []
    by_class: list[Event] = []
    everything: list[Event] = []
    bot.on("C2C_MESSAGE_CREATE")(by_type.append)
    bot.on(Dispatch)(by_class.append)
    bot.on()(everything.append)
    seen, collector = collect(bot)
    bot.start()
    wait_until(lambda: seen, what="READY")
    sent = server.inject_c2c_message("user-1", "hello")
    wait_until(lambda: by_type and len(by_class) == 2, what="the handlers")
    bot.close()
    bot.join(5)
    collector.join(5)
    dispatches = [e for e in seen if isinstance(e, Dispatch)]  # READY is a Dispatch too
    assert [d.id for d in dispatches] == [None, sent.id]
    assert dispatches[1].data["content"] == "hello"
    # Handlers run on a pool, so their order is not guaranteed; each ran once.
    assert sorted(by_class, key=id) == sorted(dispatches, key=id)
    assert [e.event_id for e in by_type] == [d.id for d in dispatches[1:]]
    assert isinstance(by_type[0], C2CMessageCreate) and by_type[0].message.content == "hello"
    assert sorted(map(id, everything)) == sorted(map(id, seen))


def test_handler_failure_is_logged_and_the_bot_goes_on(
        server: SimulatorThread, threads_before: set[threading.Thread],
        caplog: pytest.LogCaptureFixture) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    ready = ready_flag(bot)
    good: list[Dispatch] = []

    @bot.on("C2C_MESSAGE_CREATE")
    def broken(event: Dispatch) -> None:
        raise RuntimeError("handler bug")

    bot.on("C2C_MESSAGE_CREATE")(good.append)
    bot.start()
    assert ready.wait(5)
    with caplog.at_level(logging.ERROR, logger="qqproto_transports"):
        server.inject_c2c_message("user-1", "one")
        server.inject_c2c_message("user-1", "two")
        wait_until(lambda: len(good) == 2, what="both dispatches")
    bot.close()
    bot.join(5)
    failures = [r for r in caplog.records
                if r.getMessage().startswith(f"[app {bot.settings.app_id}] handler ")
                and r.getMessage().endswith("failed on C2C_MESSAGE_CREATE")]
    assert len(failures) == 2 and all("handler bug" in (r.exc_text or "") for r in failures)


def test_run_blocks_the_calling_thread_and_close_from_another_thread_returns_it(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    ready = ready_flag(bot)
    closer_saw: list[bool] = []

    def closer() -> None:
        assert ready.wait(5)
        bot.close()  # not one of the bot's threads: waits for run() to return
        closer_saw.append(bot.stopped is not None)

    thread = threading.Thread(target=closer)
    thread.start()
    stop = bot.run()
    thread.join(5)
    assert closer_saw == [True]  # close() returned after run() had finished
    assert stop.fatal is False
    assert bot_close_codes(server) == [4000]  # resumable close, sent before the socket shut


def test_close_from_another_thread_waits_until_every_thread_is_joined(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    busy = threading.Event()

    @bot.on("C2C_MESSAGE_CREATE")
    def slow(event: Dispatch) -> None:
        busy.set()
        time.sleep(0.2)  # a worker thread is busy when close() is called

    ready = ready_flag(bot)
    bot.start()
    assert ready.wait(5)
    server.inject_c2c_message("user-1", "slow")
    assert busy.wait(5)
    bot.close(timeout=5)
    assert not any(t.name.startswith("qqproto-") for t in new_threads(threads_before))
    assert bot.join(0).fatal is False
    assert bot_close_codes(server) == [4000]


def test_close_from_a_handler_does_not_wait_for_itself(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    ready = ready_flag(bot)
    returned = threading.Event()

    @bot.on("C2C_MESSAGE_CREATE")
    def stop_now(event: Dispatch) -> None:
        bot.close(timeout=None)  # on a worker: must return at once, not deadlock
        returned.set()

    bot.start()
    assert ready.wait(5)
    server.inject_c2c_message("user-1", "stop")
    assert bot.join(5).reason == "closed by the application"
    assert returned.is_set()


def test_close_before_start_makes_run_return_at_once(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    bot.close()
    stop = bot.run()
    assert stop.reason == "closed by the application"
    assert server.counters().websockets == 0


def test_events_after_the_end_is_an_empty_iterator(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    bot.close()
    bot.run()
    assert list(bot.events()) == []


@pytest.mark.parametrize("fault", ["drop", "close 4009"])
def test_a_lost_connection_is_resumed(
        server: SimulatorThread, threads_before: set[threading.Thread], fault: str) -> None:
    bot = ThreadedBot(settings_for(server, policy=QUICK_RETRY), env={})
    seen, collector = collect(bot)
    bot.start()
    wait_until(lambda: seen, what="READY")
    if fault == "drop":
        server.drop_connections()
    else:
        server.close_connections(4009, "session timed out")
    wait_until(lambda: any(isinstance(e, Resumed) for e in seen), what="RESUMED")
    bot.close()
    bot.join(5)
    collector.join(5)
    ends = [e for e in seen if isinstance(e, ConnectionEnded)]
    expected = (EndCause.CONNECTION_LOST if fault == "drop" else EndCause.SERVER_CLOSED)
    assert [e.cause for e in ends] == [expected, EndCause.LOCAL_CLOSE]
    assert server.counters().resumes == 1


def test_a_server_close_is_answered_with_a_close_frame(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server, policy=QUICK_RETRY), env={})
    seen, collector = collect(bot)
    bot.start()
    wait_until(lambda: seen, what="READY")
    server.close_connections(4009, "session timed out")
    wait_until(lambda: any(isinstance(e, Resumed) for e in seen), what="RESUMED")
    bot.close()
    bot.join(5)
    collector.join(5)
    assert len(bot_close_codes(server)) == 2  # the reply to 4009 (RFC 6455 §5.5.1), then ours


# ---------------------------------------------------------------- REST and delivery marks


def test_call_runs_rest_calls_from_several_threads_at_once(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    ready = ready_flag(bot)
    bot.start()
    assert ready.wait(5)
    rest = RestClient(bot.session.token_state)
    results: list[Any] = []

    def send(n: int) -> None:
        results.append(bot.call(rest.send_c2c_message(f"user-{n}", content=f"hi {n}")))

    senders = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(10)
    bot.close()
    bot.join(5)
    assert len(results) == 4
    assert sorted(m.content for m in server.sent_messages()) == [f"hi {n}" for n in range(4)]
    assert server.counters().tokens_issued == 1  # the call shares the gateway's token


def test_with_manual_marks_resume_sends_the_last_processed_seq(
        server: SimulatorThread, tmp_path: Path, threads_before: set[threading.Thread]) -> None:
    session_file = tmp_path / "session.json"
    settings = settings_for(server, auto_mark_processed=False)
    bot = ThreadedBot(settings, session_file=str(session_file), env={})
    ready = ready_flag(bot)
    handled: list[int] = []

    @bot.on(C2CMessageCreate)
    def handle(event: C2CMessageCreate) -> None:
        if event.message.content == "done":
            assert event.seq is not None
            bot.mark_processed(event)  # from a worker thread, by the parsed model
            handled.append(event.seq)

    bot.start()
    assert ready.wait(5)
    server.inject_c2c_message("user-1", "done")
    wait_until(lambda: handled, what="the handler")
    server.inject_c2c_message("user-1", "not marked")
    wait_until(lambda: server.counters().dispatched_events == 2)
    bot.close()
    bot.join(5)
    saved = json.loads(session_file.read_text())
    assert saved["seq"] == handled[0]

    again = ThreadedBot(settings, session_file=str(session_file), env={})
    seen, collector = collect(again)
    again.start()
    wait_until(lambda: any(isinstance(e, Resumed) for e in seen), what="RESUMED")
    wait_until(lambda: any(type(e) is Dispatch for e in seen), what="the replay")
    again.close()
    again.join(5)
    collector.join(5)
    replayed = [e.data["content"] for e in seen if type(e) is Dispatch]
    assert replayed == ["not marked"]  # processed once, the unmarked one comes again
    assert server.counters().resumes == 1


# ---------------------------------------------------------------- slow handlers


def test_a_handler_blocking_for_three_heartbeat_intervals_does_not_cost_the_connection(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    # 200 ms heartbeats; the simulator closes with 4009 after 2 intervals without one.
    bot = ThreadedBot(settings_for(server), env={}, workers=1)
    slept = threading.Event()

    @bot.on("C2C_MESSAGE_CREATE")
    def slow(event: Dispatch) -> None:
        time.sleep(0.6)  # the scenario itself: blocking work in a handler
        slept.set()

    seen, collector = collect(bot)
    bot.start()
    wait_until(lambda: seen, what="READY")
    beats_before = server.counters().heartbeats
    server.inject_c2c_message("user-1", "block for a while")
    assert slept.wait(5)
    counters = server.counters()
    bot.close()
    bot.join(5)
    collector.join(5)
    assert counters.heartbeats - beats_before >= 2  # they went on while the handler slept
    assert counters.heartbeat_timeouts == 0
    assert counters.websockets == 1 and counters.resumes == 0
    ends = [e for e in seen if isinstance(e, ConnectionEnded)]
    assert [e.cause.value for e in ends] == ["closed locally"]  # only our own close
    assert bot_close_codes(server) == [4000]


def test_on_asyncio_a_blocking_handler_costs_the_connection_and_to_thread_avoids_it(
        server: SimulatorThread) -> None:
    """The same scenario on the asyncio driver, for the docs: a handler that *blocks*
    the event loop stops the heartbeats, the simulator closes with 4009 and the bot
    resumes; the same work in ``asyncio.to_thread`` costs nothing."""

    def run(blocking: bool) -> tuple[list[Event], Any]:
        seen: list[Event] = []

        async def main() -> None:
            bot = AsyncioBot(settings_for(server), env={})

            @bot.on("C2C_MESSAGE_CREATE")
            async def slow(event: Dispatch) -> None:
                if blocking:
                    time.sleep(0.6)  # blocks the loop: no heartbeat for 3 intervals
                else:
                    await asyncio.to_thread(time.sleep, 0.6)

            async def watch() -> None:
                async for event in bot.events():
                    seen.append(event)
                    if isinstance(event, Ready):
                        await asyncio.to_thread(server.inject_c2c_message, "u", "slow")
                    if type(event) is Dispatch:
                        await asyncio.sleep(1.0 if not blocking else 0)
                        if not blocking:
                            bot.close()
                    if isinstance(event, Resumed):
                        bot.close()

            runner = asyncio.ensure_future(bot.run())
            await asyncio.wait_for(watch(), 10)
            await runner

        asyncio.run(main())
        return seen, server.counters()

    seen, counters = run(blocking=True)
    ended = [e for e in seen if isinstance(e, ConnectionEnded)]
    assert ended[0].close_code == 4009  # the server gave up on our heartbeats
    assert any(isinstance(e, Resumed) for e in seen) and counters.heartbeat_timeouts == 1

    seen, counters = run(blocking=False)
    assert counters.heartbeat_timeouts == 1  # unchanged: no new timeout
    assert [e.cause for e in seen if isinstance(e, ConnectionEnded)] == [EndCause.LOCAL_CLOSE]


# ---------------------------------------------------------------- asyncio bridge


def test_an_asyncio_application_gets_events_on_its_own_loop(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    """The "gateway on its own thread" setup (docs/threaded.rst shows it)."""
    received: list[Event] = []
    loops: set[int] = set()

    async def main() -> None:
        bot = ThreadedBot(settings_for(server), env={})
        events = bot.aiter_events()  # subscribed now, before the bot starts
        bot.start()
        rest = RestClient(bot.session.token_state)
        async for event in events:
            received.append(event)
            loops.add(threading.get_ident())
            if isinstance(event, Ready):
                await asyncio.to_thread(server.inject_c2c_message, "user-1", "ping")
            elif type(event) is Dispatch:
                await asyncio.to_thread(bot.call, rest.send_c2c_message(
                    "user-1", content="pong", msg_id=event.data["id"], msg_seq=1))
                await asyncio.to_thread(bot.close)
        await asyncio.to_thread(bot.join, 5)

    asyncio.run(main())
    assert loops == {threading.get_ident()}  # every event arrived on the loop's thread
    assert event_names(received) == ["Ready", "Dispatch", "ConnectionEnded", "SessionStopped"]
    assert isinstance(received[1], Dispatch) and received[1].data["content"] == "ping"
    assert [m.content for m in server.sent_messages()] == ["pong"]


def test_events_to_fills_an_asyncio_queue_and_ends_with_none(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    async def main() -> list[Event]:
        bot = ThreadedBot(settings_for(server), env={})
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        bot.events_to(asyncio.get_running_loop(), queue)
        bot.start()
        out = []
        while (event := await asyncio.wait_for(queue.get(), 10)) is not None:
            out.append(event)
            if isinstance(event, Ready):
                bot.close(timeout=0)  # never block the loop
        await asyncio.to_thread(bot.join, 5)
        return out

    assert event_names(asyncio.run(main())) == ["Ready", "ConnectionEnded", "SessionStopped"]


def test_a_subscriber_whose_loop_is_gone_is_dropped(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={})
    loop = asyncio.new_event_loop()
    bot.events_to(loop, asyncio.Queue())
    loop.close()  # call_soon_threadsafe now raises: the bot must not mind
    seen, collector = collect(bot)
    bot.start()
    wait_until(lambda: seen, what="READY")
    bot.close()
    bot.join(5)
    collector.join(5)
    assert isinstance(seen[-1], SessionStopped)


# ---------------------------------------------------------------- proxies and TLS


def test_connects_through_an_http_connect_proxy(
        server: SimulatorThread, connect_proxy: ConnectProxy,
        threads_before: set[threading.Thread]) -> None:
    bot = ThreadedBot(settings_for(server), env={"WS_PROXY": connect_proxy.url})
    ready = ready_flag(bot)
    bot.start()
    assert ready.wait(5), "READY through the proxy"
    bot.close()
    bot.join(5)
    assert connect_proxy.targets == [f"127.0.0.1:{server.port}"]  # the gateway only
    assert bot_close_codes(server) == [4000]


def test_speaks_tls_with_sni_to_a_private_ca(
        server: SimulatorThread, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext, threads_before: set[threading.Thread]) -> None:
    with TlsForwarder(tls_server_context, server.port) as forwarder:
        bot = ThreadedBot(tls_settings_for(server, forwarder), env={},
                          ssl_context=tls_client_context)
        ready = ready_flag(bot)
        bot.start()
        assert ready.wait(5), "READY over TLS"
        bot.close()
        bot.join(5)
    assert "localhost" in forwarder.server_names  # SNI: REST and the gateway
    assert forwarder.handshake_failures == 0
    assert bot_close_codes(server) == [4000]


def test_tls_through_a_proxy_tunnel_uses_start_tls(
        server: SimulatorThread, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext, connect_proxy: ConnectProxy,
        threads_before: set[threading.Thread]) -> None:
    with TlsForwarder(tls_server_context, server.port) as forwarder:
        settings = tls_settings_for(server, forwarder)
        bot = ThreadedBot(settings, env={"HTTPS_PROXY": connect_proxy.url},
                  ssl_context=tls_client_context)
        ready = ready_flag(bot)
        bot.start()
        assert ready.wait(5), "READY over TLS in a tunnel"
        bot.close()
        bot.join(5)
    assert set(connect_proxy.targets) == {f"localhost:{forwarder.port}"}
    assert len(connect_proxy.targets) >= 2  # REST through httpx, the gateway through us
    assert forwarder.server_names.count("localhost") >= 2
    assert bot_close_codes(server) == [4000]


@pytest.mark.parametrize("via_proxy", [False, True], ids=["direct", "tunnel"])
def test_an_untrusted_gateway_certificate_fails_the_connection(
        server: SimulatorThread, tls_server_context: ssl.SSLContext, connect_proxy: ConnectProxy,
        threads_before: set[threading.Thread], via_proxy: bool) -> None:
    stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts another CA only
    trustme.CA().configure_trust(stranger)
    # REST over plain HTTP to the simulator (never proxied: only https_proxy is set), the
    # gateway over TLS via the forwarder, directly or through a CONNECT tunnel (StartTls).
    env = {"HTTPS_PROXY": connect_proxy.url} if via_proxy else {}
    with TlsForwarder(tls_server_context, server.port) as forwarder:
        server.call(lambda sim, now: setattr(sim, "gateway_url",
                                             f"wss://localhost:{forwarder.port}/websocket"))
        bot = ThreadedBot(settings_for(server, policy=NO_RETRY), env=env,
                         ssl_context=stranger)
        seen, collector = collect(bot)
        stop = bot.run()
        collector.join(5)
        wait_until(lambda: forwarder.handshake_failures == 1, what="the refused handshake")
    assert stop.fatal and "could not connect" in stop.reason
    assert "CERTIFICATE_VERIFY_FAILED" in stop.reason
    assert isinstance(seen[-1], SessionStopped) and seen[-1].fatal
    assert server.counters().websockets == 0
    assert connect_proxy.tunnels == (1 if via_proxy else 0)
    bot.mark_processed(3)  # after the end: applied directly, nothing left to queue it to
    assert bot.session.processed_seq == 3


def test_a_refused_connection_is_reported_to_the_session(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    with socket.socket() as probe:  # a port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = ThreadedBot(settings_for(server, policy=NO_RETRY),
                      env={"WS_PROXY": f"http://127.0.0.1:{port}"})
    stop = bot.run()
    assert stop.fatal and "could not connect" in stop.reason
    assert "ConnectionRefusedError" in stop.reason


def test_the_loopback_adapter_runs_a_handler_that_replies(
        server: SimulatorThread, threads_before: set[threading.Thread]) -> None:
    handle = ThreadedHandle()
    replies: list[Any] = []

    def echo(event: Dispatch) -> None:
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
    assert isinstance(handle.events()[-1], SessionStopped)
