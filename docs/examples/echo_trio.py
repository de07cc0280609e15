"""The echo bot on trio (docs/writing-a-bot.rst, step 1): the asyncio bot, word for word,
except for the import and the last line."""

import os

import trio

from qqproto import Settings
from qqproto.models import MessageEvent
from qqproto_transports.trio import Bot

bot = Bot(Settings.from_env(os.environ))


@bot.on(MessageEvent)
async def echo(event: MessageEvent) -> None:
    await bot.reply(event, event.message.content)


trio.run(bot.run)
