"""The bot docs/writing-a-bot.rst builds: a poll with buttons, a file upload, a reply
too long for one message, and handlers chosen by model, by dispatch type and by event
class.  Run it with the ``QQBOT_*`` variables set (``qqproto sim`` prints them for the
simulator) and send it ``poll``, ``file``, ``rules`` or anything else.

On trio: ``trio.run(bot.run)``, coroutine handlers.
The same bot is bot_asyncio.py, bot_trio.py and bot_threads.py, and
tests/test_writing_a_bot.py runs each of them against the simulator.
"""

from __future__ import annotations

import os
from pathlib import Path

import trio

from qqproto import (
    Button,
    ButtonStyle,
    ChatScope,
    FileType,
    Keyboard,
    Markdown,
    OutgoingMessage,
    Settings,
)
from qqproto.events import Ready, SessionStopped
from qqproto.models import FriendAdd, InteractionCreate, MessageEvent
from qqproto_transports.trio import Bot

#: Two callback buttons: a tap comes back as INTERACTION_CREATE with the button's data.
POLL = Keyboard([[
    Button(id="yes", label="Ship it", data="vote:yes"),
    Button(id="no", label="Not yet", data="vote:no", style=ButtonStyle.GREY_OUTLINE),
]])
#: About 5,600 characters: more than one message holds, so the reply goes out in parts.
RULES = "\n\n".join(f"Rule {n}. " + "Every vote counts once, and the last tap wins. " * 12
                    for n in range(1, 11))


async def ask(bot: Bot, event: MessageEvent) -> None:
    """Answer with a question and the poll's buttons (a keyboard rides on markdown)."""
    question = OutgoingMessage(markdown=Markdown("**Ship the release?**"), keyboard=POLL)
    await bot.reply(event, question)


async def send_file(bot: Bot, event: MessageEvent) -> None:
    """Upload this very file to the chat and send it (c2c and groups only)."""
    media = await bot.upload(Path(__file__), event.message.scope, event.message.chat_id,
                             FileType.FILE)
    await bot.reply(event, OutgoingMessage(media=media.file_info))


def make_bot(settings: Settings) -> Bot:
    """The bot and its handlers; a test builds it with settings that point at the
    simulator."""
    bot = Bot(settings)

    @bot.on(MessageEvent)
    async def on_message(event: MessageEvent) -> None:
        command = event.message.content.strip()
        if command == "poll":
            await ask(bot, event)
        elif command == "file":
            await send_file(bot, event)
        elif command == "rules":
            await bot.reply(event, RULES)  # split into parts, one msg_seq each
        else:
            await bot.reply(event, event.message.content)

    @bot.on(InteractionCreate)
    async def on_tap(event: InteractionCreate) -> None:
        # Already ACKed with "success" (Settings.auto_ack_interactions); the answer is a
        # passive reply to the tap's event id.
        await bot.reply(event, f"Noted: {event.button_data}")

    @bot.on("FRIEND_ADD")
    async def on_friend(event: FriendAdd) -> None:
        await bot.send(ChatScope.C2C, event.openid, "Thanks for adding me! Say 'poll'.")

    @bot.on(Ready)
    def on_ready(event: Ready) -> None:
        print(f"logged in as {event.user.username}", flush=True)

    @bot.on(SessionStopped)
    def on_stopped(event: SessionStopped) -> None:
        print(f"stopped: {event.reason}", flush=True)

    return bot


if __name__ == "__main__":
    trio.run(make_bot(Settings.from_env(os.environ)).run)
