"""The echo bot for plain threads (docs/writing-a-bot.rst, step 1): handlers are plain
functions on a worker pool, and every call blocks instead of being awaited."""

import os

from qqproto import Settings
from qqproto.models import MessageEvent
from qqproto_transports.threads import Bot

bot = Bot(Settings.from_env(os.environ))


@bot.on(MessageEvent)
def echo(event: MessageEvent) -> None:
    bot.reply(event, event.message.content)


bot.run()
