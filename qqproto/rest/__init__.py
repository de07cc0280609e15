"""The OpenAPI: calls as small sans-IO machines (:class:`RestCall`) built by
:class:`RestClient`, the outgoing message values, passive-reply bookkeeping
(:class:`ReplyContext`, :func:`reply_to`), keyboards and the error classifier.

Every call is pumped the same way by a driver: ``next_request(now)`` →
perform it → ``receive_response(response, now)`` → ``result()``.
"""

from __future__ import annotations

from .._endpoints import PRODUCTION_API_BASE, SANDBOX_API_BASE, TOKEN_URL, Endpoints
from .._http import HttpRequest, HttpResponse
from .._values import ChatScope, FileType, UploadedMedia
from ._call import CallState, RestCall
from ._client import BotInfo, RestClient
from ._conversation import reply_to
from ._errors import api_error_from_response
from ._gateway_info import GatewayInfo, SessionStartLimit
from ._interactions import InteractionResult
from ._keyboard import (
    ActionType,
    Button,
    ButtonStyle,
    Keyboard,
    KeyboardTemplate,
    Modal,
    Permission,
    PermissionType,
)
from ._messages import (
    HARD_SIZE_LIMITS,
    AuditPending,
    Markdown,
    MessageReference,
    MessageSent,
    OutgoingMessage,
    check_file_size,
    split_message,
)
from ._openapi import ROUTES, ApiRoute, DMSession, api_call
from ._replies import OnExhausted, Reply, ReplyContext
from ._split import Chunk, split_text, split_text_chunks
from ._stream import (
    DEFAULT_STREAM_INTERVAL,
    ReplyStream,
    StreamChunk,
    StreamMode,
    StreamState,
)
from ._token import TokenState

__all__ = [
    "DEFAULT_STREAM_INTERVAL",
    "HARD_SIZE_LIMITS",
    "PRODUCTION_API_BASE",
    "ROUTES",
    "SANDBOX_API_BASE",
    "TOKEN_URL",
    "ActionType",
    "ApiRoute",
    "AuditPending",
    "BotInfo",
    "Button",
    "ButtonStyle",
    "CallState",
    "ChatScope",
    "Chunk",
    "DMSession",
    "Endpoints",
    "FileType",
    "GatewayInfo",
    "HttpRequest",
    "HttpResponse",
    "InteractionResult",
    "Keyboard",
    "KeyboardTemplate",
    "Markdown",
    "MessageReference",
    "MessageSent",
    "Modal",
    "OnExhausted",
    "OutgoingMessage",
    "Permission",
    "PermissionType",
    "Reply",
    "ReplyContext",
    "ReplyStream",
    "RestCall",
    "RestClient",
    "SessionStartLimit",
    "StreamChunk",
    "StreamMode",
    "StreamState",
    "TokenState",
    "UploadedMedia",
    "api_call",
    "api_error_from_response",
    "check_file_size",
    "reply_to",
    "split_message",
    "split_text",
    "split_text_chunks",
]
