"""Your first bot on the webhook channel, inside FastAPI (docs/first-bot.rst).

The handlers are first_bot.install's, unchanged.  Serve it behind a TLS-terminating
proxy with ``uvicorn first_bot_webhook:app --port 8080``.
"""

import os

from fastapi import FastAPI
from first_bot import install

from qqproto import Settings
from qqproto_transports.asgi import WebhookApp

webhook = WebhookApp(Settings.from_env(os.environ))
install(webhook)

app = FastAPI(lifespan=webhook.lifespan)
app.add_route("/qqbot", webhook, methods=["POST"])  # a route, not a mount: no 307
