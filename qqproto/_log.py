"""Loggers that say which bot a record belongs to.

Several bots may share one process (DESIGN.md §2.5), so every record of a ``qqproto``
logger carries ``qqproto_app_id`` in its ``extra`` and a ``[app <id>]`` prefix.
Nothing secret is ever passed to these loggers.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

__all__ = ["BotLogger", "bot_logger"]


class BotLogger(logging.LoggerAdapter[logging.Logger]):
    """A :class:`logging.LoggerAdapter` that stamps the app id on every record."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        app_id = self.extra["qqproto_app_id"] if self.extra else "-"
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("qqproto_app_id", app_id)
        kwargs["extra"] = extra
        return f"[app {app_id}] {msg}", kwargs


def bot_logger(name: str, app_id: str | None) -> BotLogger:
    """``logging.getLogger(name)`` wrapped to carry ``app_id`` (``"-"`` when unknown)."""
    return BotLogger(logging.getLogger(name), {"qqproto_app_id": app_id or "-"})
