"""The echo bot inside a FastAPI application (docs/writing-a-bot.rst).

Run it with ``uvicorn fastapi_app:app``.  The webhook is added as a *route*: a
``Mount("/qqbot", …)`` would answer ``POST /qqbot`` with a 307 redirect to ``/qqbot/``,
and the platform's callback validation does not follow redirects.
"""

import os

from fastapi import FastAPI

from qqproto import Settings
from qqproto.models import MessageEvent
from qqproto_transports.asgi import WebhookApp

webhook = WebhookApp(Settings.from_env(os.environ))


@webhook.on(MessageEvent)
async def echo(event: MessageEvent) -> None:
    await webhook.reply(event, event.message.content)


app = FastAPI(lifespan=webhook.lifespan)  # closes the webhook when the app stops
app.add_route("/qqbot", webhook, methods=["POST"])


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
