"""The webhook app inside a FastAPI application under uvicorn on 127.0.0.1, placed the
way the docs say (a route at ``/qqbot``): QQ's callback validation and a signed push are
answered at ``POST /qqbot`` itself, handlers get parsed models and replies reach the
simulator, and the host application's lifespan closes the bot.

Why a route: Starlette's ``Mount("/qqbot", …)`` matches only ``/qqbot/…`` and answers a
``POST /qqbot`` with a 307 redirect, which the platform's validation does not follow.
The last test shows that, so the recipe in the docs cannot silently regress to it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount

from qqproto import Settings
from qqproto.models import MessageEvent
from qqproto.simulator import PushOutcome, Simulator, WebhookPusher, signed_headers, validation_body
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.asgi import WebhookApp
from qqproto_transports.simulator import SimulatorThread

from .webhook_client import APP_ID, KEY, PLAIN_TOKEN, settings


def validation() -> tuple[dict[str, str], bytes]:
    """The platform's op 13 callback check, signed now, as headers and body."""
    stamp = str(int(time.time()))
    body = validation_body(PLAIN_TOKEN, stamp)
    return dict(signed_headers(KEY, body, timestamp=stamp, app_id=APP_ID)), body


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` under uvicorn in a thread; the base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def host_app(webhook: WebhookApp) -> FastAPI:
    """The docs' recipe: the webhook as a route of the application, closed by its
    lifespan; the application keeps its own routes."""
    app = FastAPI(lifespan=webhook.lifespan)
    app.add_route("/qqbot", webhook, methods=["POST"])

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_the_callback_validation_is_answered_at_post_qqbot_not_redirected() -> None:
    webhook = WebhookApp(settings(), env={})
    with serve(host_app(webhook)) as base:
        headers, body = validation()
        answer = httpx.post(f"{base}/qqbot", headers=headers, content=body,
                            follow_redirects=False)
        health = httpx.get(f"{base}/health")
    assert answer.status_code == 200
    assert answer.json()["plain_token"] == PLAIN_TOKEN
    assert len(bytes.fromhex(answer.json()["signature"])) == 64  # an Ed25519 signature
    assert health.json() == {"status": "ok"}
    assert webhook.stopped is not None  # the host's lifespan shutdown closed the bot


def test_a_pushed_message_reaches_a_typed_handler_and_its_reply_the_platform() -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim:
        webhook = WebhookApp(Settings.from_env(sim.env()), env={})

        @webhook.on(MessageEvent)
        async def echo(event: MessageEvent) -> None:
            await webhook.reply(event, event.message.content)

        with serve(host_app(webhook)) as base:
            pusher = WebhookPusher(callback_url=f"{base}/qqbot", secret=sim.sim.secret,
                                   app_id=sim.sim.app_id, retry_delay=0.05)
            with WebhookPushThread(pusher) as push:
                push.attach(sim)
                event = sim.inject_c2c_message("USER_A", "over FastAPI")
                assert push.wait_idle()
            outcomes = [a.outcome for a in push.attempts()]
        [sent] = sim.sent_messages()
    assert outcomes == [PushOutcome.VALIDATED, PushOutcome.ACKED]
    assert (sent.scope, sent.target, sent.content, sent.msg_id, sent.msg_seq) == (
        "c2c", "USER_A", "over FastAPI", event.data["id"], 1)


def test_a_mount_would_redirect_the_callback_which_is_why_the_recipe_is_a_route() -> None:
    webhook = WebhookApp(settings(), env={}, path=None)
    app = FastAPI(lifespan=webhook.lifespan)
    app.router.routes.append(Mount("/qqbot", app=webhook))
    with serve(app) as base:
        headers, body = validation()
        answer = httpx.post(f"{base}/qqbot", headers=headers, content=body,
                            follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"].endswith("/qqbot/")
