"""qqproto: the QQ Bot open platform protocol (API v2), sans-IO.

The names here are the first ones a bot or driver author needs.  The rest lives in one
package per concept: :mod:`qqproto.gateway`, :mod:`qqproto.rest`, :mod:`qqproto.upload`,
:mod:`qqproto.webhook`, :mod:`qqproto.proxy`, :mod:`qqproto.models` (typed events),
:mod:`qqproto.simulator`, and :mod:`qqproto.events` / :mod:`qqproto.errors` for every
event and exception.  A bot itself runs on a driver from ``qqproto_transports``.
"""

from __future__ import annotations

from ._endpoints import Endpoints
from ._limits import Limits
from ._log import BotLogger, bot_logger
from ._secret import Secret
from ._values import ChatScope, FileType, UploadedMedia
from .gateway import Intents, ReconnectPolicy
from .proxy import DIRECT, ProxyConfig
from .rest import (
    ActionType,
    AuditPending,
    Button,
    ButtonStyle,
    InteractionResult,
    Keyboard,
    Markdown,
    MessageReference,
    MessageSent,
    OutgoingMessage,
    Permission,
    PermissionType,
)
from .settings import Settings

__version__ = "0.2.0"

__all__ = [
    "DIRECT",
    "ActionType",
    "AuditPending",
    "BotLogger",
    "Button",
    "ButtonStyle",
    "ChatScope",
    "Endpoints",
    "FileType",
    "Intents",
    "InteractionResult",
    "Keyboard",
    "Limits",
    "Markdown",
    "MessageReference",
    "MessageSent",
    "OutgoingMessage",
    "Permission",
    "PermissionType",
    "ProxyConfig",
    "ReconnectPolicy",
    "Secret",
    "Settings",
    "UploadedMedia",
    "__version__",
    "bot_logger",
]
