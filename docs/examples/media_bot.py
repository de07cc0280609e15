"""A bot that listens to voice and reads files (docs/media.rst), on asyncio.

Voice messages are transcribed (your engine first, then the platform's own text) and the
voice is sent back; files are downloaded into the bot's cache.  Attachments of a quoted
message are treated exactly like the message's own.
"""

import asyncio
import os

from qqproto import Settings
from qqproto.media import attachments_of, is_voice
from qqproto.models import MessageEvent
from qqproto_transports.asyncio import Bot

bot = Bot(Settings.from_env(os.environ))  # Bot(..., transcriber=my_engine) to add STT


@bot.on(MessageEvent)
async def media(event: MessageEvent) -> None:
    for attachment in attachments_of(event.message):
        if is_voice(attachment):
            heard = await bot.transcribe(attachment)
            await bot.reply(event, f"you said: {heard.text or '(nothing I could hear)'}")
            if heard.wav_path:
                await bot.send_voice(event, heard.wav_path)  # WAV → SILK → upload → send
        else:
            path = await bot.download(attachment)
            await bot.reply(event, f"saved {path.name} ({path.stat().st_size} bytes)")


asyncio.run(bot.run())
