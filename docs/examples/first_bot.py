"""Your first bot (docs/first-bot.rst): it echoes, shows a menu with buttons, answers
the taps and sends a picture.  Run it with the credentials in the environment::

    set -a; . ./.env; set +a; python first_bot.py
"""

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from qqproto import Button, FileType, Keyboard, Markdown, OutgoingMessage, Settings
from qqproto.models import InteractionCreate, MessageEvent
from qqproto_transports.asyncio import Bot

PICTURE = Path(__file__).with_name("hello.png")
#: A row of two callback buttons: a tap comes back as INTERACTION_CREATE with ``data``.
MENU = Keyboard([[Button(id="hi", label="Say hi", data="menu:hi"),
                  Button(id="pic", label="A picture", data="menu:picture")]])


def install(bot: Any) -> None:
    """The bot's handlers, on any bot with the asyncio API (``Bot``, ``WebhookApp``)."""

    async def send_picture(event: MessageEvent | InteractionCreate,
                           scope: Any, chat_id: str) -> None:
        media = await bot.upload(PICTURE, scope, chat_id, FileType.IMAGE)
        await bot.reply(event, OutgoingMessage(media=media.file_info))

    @bot.on(MessageEvent)
    async def on_message(event: MessageEvent) -> None:
        text = event.message.content.strip()
        if text == "menu":
            await bot.reply(event, OutgoingMessage(markdown=Markdown("**What next?**"),
                                                   keyboard=MENU))
        elif text == "picture":
            await send_picture(event, event.message.scope, event.message.chat_id)
        elif text:
            await bot.reply(event, text)

    @bot.on(InteractionCreate)
    async def on_tap(event: InteractionCreate) -> None:  # already ACKed with "success"
        if event.button_data == "menu:picture" and event.scope and event.chat_id:
            await send_picture(event, event.scope, event.chat_id)
        else:
            await bot.reply(event, "Hi! 👋")


def main() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(os.environ)
    bot = Bot(settings, session_file=os.environ.get("BOT_SESSION_FILE", "first_bot.session"))
    install(bot)
    asyncio.run(bot.run())


if __name__ == "__main__":
    main()
