"""Webhook instances behind a load balancer share one store: an event pushed to both,
and its redeliveries, is handled once; a failed or abandoned delivery is handled again
(at-least-once).  Two instances with their own store connections (as two processes
have) on asyncio and threads, against the simulator's pusher on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qqproto import Settings
from qqproto.models import MessageEvent
from qqproto.simulator import PushOutcome, WebhookPusher
from qqproto_transports import asyncio as asyncio_driver
from qqproto_transports import threads as threads_driver
from qqproto_transports._sim_webhook import WebhookPushThread

from .driver_support_loopback import wait_until

APP_ID, SECRET = "102000001", "webhook-store-secret"


class Instance:
    """One webhook bot on a thread, recording what its handler saw."""

    def __init__(self, driver: str, store: str, *, slow: float = 0.0,
                 fail: set[str] | None = None) -> None:
        settings = Settings(app_id=APP_ID, secret=SECRET, store=store)
        module: Any = asyncio_driver if driver == "asyncio" else threads_driver
        self.driver = driver
        self.bot = module.WebhookBot(settings, env={})
        self.handled: list[str] = []
        fail = fail if fail is not None else set()

        def record(event: MessageEvent) -> None:
            time.sleep(slow)  # a slow handler: the other instance's copy arrives meanwhile
            if event.message.msg_id in fail:
                fail.discard(event.message.msg_id)
                raise RuntimeError("handler failed")
            self.handled.append(event.message.msg_id)

        self.bot.on(MessageEvent)(record)
        if driver == "asyncio":
            self._thread = threading.Thread(
                target=lambda: asyncio.run(self.bot.run(handle_signals=False)), daemon=True)
            self._thread.start()
        else:
            self.bot.start()
        wait_until(lambda: self.bot.url, what="listening")

    def stop(self) -> None:
        if self.driver == "asyncio":
            self.bot.close()
            self._thread.join(15)
        else:
            self.bot.close(timeout=15)


@pytest.fixture(params=[("asyncio", "redis"), ("threads", "sqlite")],
                ids=["asyncio-redis", "threads-sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    driver, kind = request.param
    if kind == "redis":
        from qqproto_transports.stores import open_store
        url = request.getfixturevalue("redis_url")
        # A clean namespace for this app id on the shared server.
        store: Any = open_store(url)
        for key in store._client.scan_iter(f"qqproto:{APP_ID}:*"):
            store.delete(key)
        store.close()
        yield driver, url
    else:
        yield driver, f"sqlite:{tmp_path / 'webhook.db'}"


def _pusher(url: str, *, others: tuple[str, ...] = ()) -> WebhookPusher:
    return WebhookPusher(callback_url=url, secret=SECRET, app_id=APP_ID, max_attempts=8,
                         retry_delay=0.2, retry_factor=1.5, redelivery_urls=others)


def _c2c(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "content": "hi", "timestamp": "2025-01-01T00:00:00+08:00",
            "author": {"id": "U", "user_openid": "U"}}


def test_an_event_pushed_to_two_instances_and_redelivered_is_handled_once(
        store_url: tuple[str, str]) -> None:
    driver, url = store_url
    a, b = Instance(driver, url, slow=0.3), Instance(driver, url, slow=0.3)
    try:
        with WebhookPushThread(_pusher(a.bot.url, others=(b.bot.url,))) as to_a, \
                WebhookPushThread(_pusher(b.bot.url, others=(a.bot.url,))) as to_b:
            for push in (to_a, to_b):  # the same event, once through each instance
                push.push_event("C2C_MESSAGE_CREATE", _c2c("M1"), event_id="E1")
            assert to_a.wait_idle(30) and to_b.wait_idle(30)
            # A late redelivery of the same event, after it was handled:
            to_b.push_event("C2C_MESSAGE_CREATE", _c2c("M1"), event_id="E1")
            assert to_b.wait_idle(30)
            outcomes = [a.outcome for p in (to_a, to_b) for a in p.attempts()
                        if a.event_id == "E1"]
    finally:
        a.stop()
        b.stop()
    assert sorted(a.handled + b.handled) == ["M1"]
    assert PushOutcome.REDELIVER in outcomes  # the second copy waited for the first
    assert outcomes.count(PushOutcome.ACKED) + outcomes.count(PushOutcome.DUPLICATE) == 3


def test_a_failed_delivery_is_handled_by_the_other_instance(
        store_url: tuple[str, str]) -> None:
    driver, url = store_url
    a, b = Instance(driver, url, fail={"M2"}), Instance(driver, url)
    try:
        with WebhookPushThread(_pusher(a.bot.url, others=(b.bot.url,))) as push:
            push.push_event("C2C_MESSAGE_CREATE", _c2c("M2"), event_id="E2")
            assert push.wait_idle(30)
            attempts = [(x.attempt, x.outcome) for x in push.attempts() if x.event_id]
    finally:
        a.stop()
        b.stop()
    assert (a.handled, b.handled) == ([], ["M2"])  # d = 1 on A; the redelivery went to B
    assert attempts == [(1, PushOutcome.REDELIVER), (2, PushOutcome.ACKED)]
