"""Ask before acting (docs/approvals.rst): an approval and a confirmation on asyncio.

``run COMMAND`` asks its sender to approve the command; only they can answer, and the
bot says what they decided.  ``update`` asks a yes/no question.  The access policy keeps
one user out of every chat.
"""

import asyncio
import os

from qqproto import Settings
from qqproto.approvals import AccessPolicy, ApprovalRequest, Decision
from qqproto.models import MessageEvent
from qqproto_transports.asyncio import Bot

settings = Settings.from_env(os.environ,
                             access=AccessPolicy.open(deny_users={"BLOCKED_USER"}))
bot = Bot(settings)


@bot.on(MessageEvent)
async def ask_first(event: MessageEvent) -> None:
    text = event.message.content.strip()
    if text.startswith("run "):
        command = text.removeprefix("run ")
        request = ApprovalRequest(title="运行命令", command=command, cwd="/srv/app")
        decision = await bot.ask_approval(event, request, timeout=60)
        if decision is Decision.TIMEOUT:
            await bot.reply(event, "⏱️ no answer: not running it")
        elif decision.allowed:
            await bot.reply(event, f"✅ running {command} ({decision.value})")
        else:
            await bot.reply(event, "❌ denied")
    elif text == "update":
        answer = await bot.ask_confirmation(event, "现在更新到最新版本？", timeout=30)
        await bot.reply(event, {True: "updating", False: "staying", None: "no answer"}[answer])


asyncio.run(bot.run())
