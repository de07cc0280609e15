"""Handlers written once for every driver (docs/writing-a-bot.rst).

A plain function may return what ``bot.reply`` returns: the asyncio and trio bots await
it, the threaded bot has already done the work.  ``install(bot)`` therefore works on a
``Bot`` or ``WebhookBot`` of any driver.
"""

from __future__ import annotations

from typing import Any

from qqproto.models import GroupAtMessageCreate


def install(bot: Any) -> None:
    """Register the handlers on ``bot``, whatever its driver."""

    @bot.on("GROUP_AT_MESSAGE_CREATE")
    def echo_in_groups(event: GroupAtMessageCreate) -> Any:
        return bot.reply(event, f"{event.message.author_id} said: {event.message.content}")
