"""Bots on every driver against a hostile token and discovery server on 127.0.0.1.

What the issue saw: an answer with a number that is not one (``"code": "²"``,
``session_start_limit.total: "²"``) made the asyncio bot hang and the others exit with a
traceback; ``expires_in: 1e-9`` made ~550 token requests a second; an unusable discovery
URL (``ws://[::1``, a port of 99999) stopped the bot as if a proxy setting were wrong.
Now each is a typed error at the boundary, the session retries with back-off, and the
bot closes cleanly when asked; nothing is logged with a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator

import pytest

from qqproto import Settings
from qqproto._endpoints import Endpoints
from qqproto.events import Reconnecting
from qqproto.gateway._backoff import Backoff
from qqproto.gateway._policy import ReconnectPolicy

from .loopback.contract import BotHandle
from .loopback.test_scenarios import DRIVERS, make_handle
from .support.hostile import Answer, HostileHttpServer, json_answer

TOKEN_PATH = "/app/getAppAccessToken"
GOOD_TOKEN = {"access_token": "T0KEN", "expires_in": 7200}
GOOD_GATEWAY = {"url": "ws://127.0.0.1:9/websocket"}
#: Retry after ~10 ms, doubling: several attempts within a test, none within a second.
QUICK = ReconnectPolicy(backoff=Backoff(base=0.01, cap=0.05))

HOSTILE = {
    "token code ²": ({"code": "\u00b2", **GOOD_TOKEN}, GOOD_GATEWAY),
    "token code --5": ({"code": "--5", **GOOD_TOKEN}, GOOD_GATEWAY),
    "expires_in ²": ({"access_token": "T", "expires_in": "\u00b2"}, GOOD_GATEWAY),
    "error body code --5": ({"code": "--5", "message": "no"}, GOOD_GATEWAY),
    "discovery url ws://[::1": (GOOD_TOKEN, {"url": "ws://[::1"}),
    "discovery port 99999": (GOOD_TOKEN, {"url": "wss://127.0.0.1:99999/websocket"}),
    "discovery limits ²": (GOOD_TOKEN, {**GOOD_GATEWAY, "shards": "\u00b2",
                                        "session_start_limit": {
                                            "total": "\u00b2", "remaining": "--5",
                                            "reset_after": 1e15, "max_concurrency": "\u00b2"}}),
}


@contextlib.contextmanager
def hostile_platform(token: object, gateway: object) -> Iterator[HostileHttpServer]:
    def script(method: str, path: str, body: bytes) -> Answer:
        if path == TOKEN_PATH:
            return json_answer(token, 500 if token.get("message") == "no" else 200)  # type: ignore[attr-defined]
        if path.startswith("/gateway"):
            return json_answer(gateway)
        return json_answer({"code": 404}, 404)

    with HostileHttpServer(script) as server:
        yield server


def settings_for(server: HostileHttpServer) -> Settings:
    return Settings(app_id="1001", secret="s3cr3t", policy=QUICK,
                    endpoints=Endpoints(api_base=server.base,
                                        token_url=server.base + TOKEN_PATH))


@pytest.fixture(params=DRIVERS)
def bot(request: pytest.FixtureRequest) -> Iterator[BotHandle]:
    handle = make_handle(request.param)
    yield handle
    with contextlib.suppress(AssertionError):
        handle.stop(timeout=10)


def retries(n: int) -> object:
    return lambda events: sum(isinstance(e, Reconnecting) for e in events) >= n


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_bad_answer_is_retried_with_backoff_and_the_bot_still_closes_cleanly(
        bot: BotHandle, case: str, caplog: pytest.LogCaptureFixture) -> None:
    token, gateway = HOSTILE[case]
    caplog.set_level(logging.WARNING)
    with hostile_platform(token, gateway) as server:
        bot.start(settings_for(server))
        bot.wait_for(retries(3), timeout=10)  # type: ignore[arg-type]
        stop = bot.stop()
    assert not stop.fatal, stop
    reasons = [e.reason for e in bot.events() if isinstance(e, Reconnecting)]
    assert all(reasons), reasons  # each retry says why
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert all("s3cr3t" not in r.getMessage() and "T0KEN" not in r.getMessage()
               for r in caplog.records)


def test_a_vanishing_token_lifetime_does_not_storm_the_token_endpoint(bot: BotHandle) -> None:
    # expires_in 1e-9: once ~550 token requests a second.  The discovery URL is unusable,
    # so the session keeps retrying discovery with the token it has.
    with hostile_platform({"access_token": "T", "expires_in": 1e-9},
                          {"url": "ws://[::1"}) as server:
        bot.start(settings_for(server))
        bot.wait_for(retries(6), timeout=10)  # type: ignore[arg-type]
        bot.stop()
        paths = [path for _, path in server.requests]
    assert paths.count(TOKEN_PATH) == 1, paths
    assert paths.count("/gateway/bot") >= 6


@pytest.mark.parametrize("case", ["discovery url ws://[::1", "discovery port 99999"])
def test_an_unusable_discovery_url_makes_the_session_wait_not_stop(case: str) -> None:
    # The same answers, sans-IO: the supervisor backs off (Reconnecting), no fatal Stop.
    from qqproto.rest import HttpResponse

    from .session_harness import Driver, make_session, token_ok

    driver = Driver(make_session())
    driver.session.start(0.0)
    driver.answer_http(token_ok(), 0.0)
    gateway = HOSTILE[case][1]
    driver.answer_http(HttpResponse(status=200, body=json.dumps(gateway).encode()), 0.0)
    events = []
    while (event := driver.session.next_event()) is not None:
        events.append(event)
    assert isinstance(events[-1], Reconnecting) and not driver.stops
    assert "unusable url" in events[-1].reason


def test_a_hello_interval_of_1e12_ms_is_read_as_a_minute_on_every_driver(
        bot: BotHandle) -> None:
    # Once: heartbeats and the zombie check silently off (asyncio, trio), OverflowError in
    # the threaded driver's timer.  Now the interval is clamped and the bot runs on.
    from qqproto.events import Ready

    from .driver_support_loopback import settings_for as sim_settings
    from .driver_support_loopback import simulator

    with simulator(heartbeat_interval_ms=10**12) as server:
        bot.start(sim_settings(server))
        bot.wait_for(lambda events: any(isinstance(e, Ready) for e in events))
        connection = bot.bot.session.connection  # type: ignore[attr-defined]
        assert connection.heartbeat_interval == 60.0 * 0.8
        stop = bot.stop()
    assert not stop.fatal
