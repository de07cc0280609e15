"""The echo bot on the webhook channel (docs/writing-a-bot.rst).

The platform calls an HTTPS URL on port 80, 443, 8080 or 8443 (gateway.md §9.1).  This
server speaks plain HTTP on 127.0.0.1 for a TLS-terminating reverse proxy in front of it;
pass ``server_ssl_context=`` to serve HTTPS itself.  ``PORT`` picks the port (0: any).
On trio; webhook_asyncio.py and webhook_threads.py are the same bot.
"""

import os

import trio

from qqproto import Settings
from qqproto.events import WebhookServing
from qqproto.models import MessageEvent
from qqproto_transports.trio import WebhookBot

bot = WebhookBot(Settings.from_env(os.environ), host="127.0.0.1",
                 port=int(os.environ.get("PORT", "8080")), path="/qqbot")


@bot.on(WebhookServing)
def serving(event: WebhookServing) -> None:
    print(f"serving {event.url}", flush=True)


@bot.on(MessageEvent)
async def echo(event: MessageEvent) -> None:
    await bot.reply(event, event.message.content)


trio.run(bot.run)
