"""The echo bot on asyncio (docs/writing-a-bot.rst, step 1; the README's first sample).

Every private or group @-message is answered with its own text, as a passive reply.
"""

import asyncio
import os

from qqproto import Settings
from qqproto.models import MessageEvent
from qqproto_transports.asyncio import Bot

bot = Bot(Settings.from_env(os.environ))


@bot.on(MessageEvent)
async def echo(event: MessageEvent) -> None:
    await bot.reply(event, event.message.content)


asyncio.run(bot.run())
