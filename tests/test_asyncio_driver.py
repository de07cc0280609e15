"""asyncio-specific behaviour of AsyncioBot (the shared scenarios live in tests/loopback)."""

from __future__ import annotations

import asyncio
import gc
import ssl
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from qqproto import Settings
from qqproto.events import ConnectionEnded, Dispatch, Event, Ready, SessionStopped
from qqproto.simulator._simulator import Simulator
from qqproto_transports.asyncio import Bot as AsyncioBot
from qqproto_transports.simulator import SimulatorThread

from .driver_support_loopback import (
    NO_RETRY,
    TlsForwarder,
    bot_close_codes,
    settings_for,
    tls_settings_for,
)
from .support.connect_proxy import ConnectProxy


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(heartbeat_interval_ms=1000), lifetime=60) as server:
        yield server


async def wait_until(predicate: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def test_raising_handlers_are_logged_and_never_cost_the_connection(
    sim: SimulatorThread, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Event] = []

    async def main() -> None:
        bot = AsyncioBot(Settings.from_env(sim.env()), env={})

        @bot.on("C2C_MESSAGE_CREATE")
        def broken_sync(event: Dispatch) -> None:
            raise RuntimeError("sync handler bug")

        @bot.on("C2C_MESSAGE_CREATE")
        async def broken_async(event: Dispatch) -> None:
            raise RuntimeError("async handler bug")

        bot.on()(seen.append)
        runner = asyncio.create_task(bot.run())
        await wait_until(lambda: any(isinstance(e, Ready) for e in seen))
        await asyncio.to_thread(sim.inject_c2c_message, "U", "one")
        await asyncio.to_thread(sim.inject_c2c_message, "U", "two")
        await wait_until(lambda: sum(isinstance(e, Dispatch) and e.type == "C2C_MESSAGE_CREATE"
                                     for e in seen) == 2)
        bot.close()
        await runner

    asyncio.run(main())
    assert not any(isinstance(e, ConnectionEnded) and e.cause.name != "LOCAL_CLOSE"
                   for e in seen)
    failures = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert sorted(failures) == ["async handler bug"] * 2 + ["sync handler bug"] * 2


def test_events_iterator_ends_after_the_stop_and_nothing_leaks(sim: SimulatorThread) -> None:
    async def main() -> list[type]:
        bot = AsyncioBot(Settings.from_env(sim.env()), env={})
        kinds: list[type] = []
        events = bot.events()
        runner = asyncio.create_task(bot.run())
        async for event in events:
            kinds.append(type(event))
            if isinstance(event, Ready):
                bot.close()
        stop = await runner
        assert not stop.fatal
        await asyncio.sleep(0)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []
        return kinds

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        kinds = asyncio.run(main())
        gc.collect()
    assert kinds[0] is Ready and kinds[-1] is SessionStopped


def test_cancelling_run_closes_the_gateway_cleanly(sim: SimulatorThread) -> None:
    async def main() -> None:
        bot = AsyncioBot(Settings.from_env(sim.env()), env={})
        seen: list[Event] = []
        bot.on()(seen.append)
        runner = asyncio.create_task(bot.run())
        await wait_until(lambda: any(isinstance(e, Ready) for e in seen))
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        assert isinstance(seen[-1], SessionStopped)

    asyncio.run(main())
    closes = sim.call(lambda s, now: [f for f in s.frames if f.kind.name == "CLOSE"])
    assert closes, "the simulator saw no close frame"


def test_unverified_tls_contexts_are_refused() -> None:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    settings = Settings.from_env({"QQBOT_APP_ID": "1", "QQBOT_CLIENT_SECRET": "s"})
    with pytest.raises(ValueError, match="always verifies TLS"):
        AsyncioBot(settings, env={}, ssl_context=context)


# ---------------------------------------------------------------- proxies and TLS

def run_until_ready(bot: AsyncioBot) -> tuple[Any, list[Event]]:
    """Run ``bot`` until READY, close it, return its Stop and the events it delivered."""
    seen: list[Event] = []

    async def main() -> Any:
        bot.on(Ready)(seen.append)
        runner = asyncio.create_task(bot.run())
        await wait_until(lambda: seen or runner.done())
        bot.close()
        return await runner

    return asyncio.run(main()), seen


def test_connects_through_an_http_connect_proxy(sim: SimulatorThread,
                                                connect_proxy: ConnectProxy) -> None:
    stop, seen = run_until_ready(AsyncioBot(settings_for(sim),
                                            env={"WS_PROXY": connect_proxy.url}))
    assert isinstance(seen[0], Ready) and stop.fatal is False
    assert connect_proxy.targets == [f"127.0.0.1:{sim.port}"]  # the gateway only
    assert bot_close_codes(sim) == [4000]


def test_speaks_tls_with_sni_to_a_private_ca(sim: SimulatorThread,
                                             tls_server_context: ssl.SSLContext,
                                             tls_client_context: ssl.SSLContext) -> None:
    with TlsForwarder(tls_server_context, sim.port) as forwarder:
        settings = tls_settings_for(sim, forwarder)
        stop, seen = run_until_ready(AsyncioBot(settings, env={},
                                                ssl_context=tls_client_context))
    assert isinstance(seen[0], Ready) and stop.fatal is False
    assert "localhost" in forwarder.server_names and forwarder.handshake_failures == 0
    assert bot_close_codes(sim) == [4000]


def test_tls_through_a_proxy_tunnel_uses_start_tls(sim: SimulatorThread,
                                                   tls_server_context: ssl.SSLContext,
                                                   tls_client_context: ssl.SSLContext,
                                                   connect_proxy: ConnectProxy) -> None:
    with TlsForwarder(tls_server_context, sim.port) as forwarder:
        settings = tls_settings_for(sim, forwarder)
        stop, seen = run_until_ready(AsyncioBot(settings, env={"HTTPS_PROXY": connect_proxy.url},
                  ssl_context=tls_client_context))
    assert isinstance(seen[0], Ready) and stop.fatal is False
    assert set(connect_proxy.targets) == {f"localhost:{forwarder.port}"}
    assert len(connect_proxy.targets) >= 2  # REST through httpx, the gateway through us
    assert bot_close_codes(sim) == [4000]


@pytest.mark.parametrize("via_proxy", [False, True], ids=["direct", "tunnel"])
def test_an_untrusted_gateway_certificate_fails_the_connection(
        sim: SimulatorThread, tls_server_context: ssl.SSLContext,
        connect_proxy: ConnectProxy, via_proxy: bool) -> None:
    stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts another CA only
    trustme.CA().configure_trust(stranger)
    env = {"HTTPS_PROXY": connect_proxy.url} if via_proxy else {}
    with TlsForwarder(tls_server_context, sim.port) as forwarder:
        sim.call(lambda s, now: setattr(s, "gateway_url",
                                        f"wss://localhost:{forwarder.port}/websocket"))
        bot = AsyncioBot(settings_for(sim, policy=NO_RETRY), env=env,
                         ssl_context=stranger)
        stop = asyncio.run(bot.run())
    assert stop.fatal and "could not connect" in stop.reason
    assert "CERTIFICATE_VERIFY_FAILED" in stop.reason
    assert sim.counters().websockets == 0
    assert connect_proxy.tunnels == (1 if via_proxy else 0)
