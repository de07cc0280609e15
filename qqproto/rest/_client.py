"""The OpenAPI client: one method per call, each returning a :class:`RestCall` to pump.

:class:`RestClient` holds nothing but settings and the shared
:class:`~qqproto.rest.TokenState`; every method builds a request and its parser and
hands back a :class:`~qqproto.rest.RestCall` (see that module for the driver loop).
Calls are independent: run them one after another, or many at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from .._http import HttpRequest, HttpResponse
from .._values import ChatScope, FileType, UploadedMedia
from ..errors import UnexpectedResponseError
from ._call import RestCall
from ._errors import response_json_object
from ._gateway_info import GatewayInfo, parse_gateway_response
from ._interactions import InteractionResult, build_interaction_ack
from ._keyboard import Keyboard, KeyboardTemplate
from ._messages import (
    AuditPending,
    Markdown,
    MessageReference,
    MessageSent,
    OutgoingMessage,
    build_media_upload,
    build_message,
    build_recall,
    build_typing,
    check_file_size,
    parse_empty,
    parse_message_sent,
    parse_uploaded_media,
    split_message,
)
from ._replies import Reply, ReplyContext
from ._split import DEFAULT_LIMIT
from ._token import TokenState

__all__ = ["BotInfo", "RestClient", "parse_bot_info"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BotInfo:
    """``GET /users/@me``: the bot's own user."""

    id: str
    username: str = ""
    avatar: str | None = None
    union_openid: str | None = None


def _body(response: HttpResponse, what: str) -> dict[str, Any]:
    body = response_json_object(response)
    if body is None:
        raise _unexpected(response, f"{what}: the answer is not a JSON object")
    return body


def _unexpected(response: HttpResponse, message: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(message, status=response.status,
                                   trace_id=response.header("X-Tps-trace-ID"))


def parse_bot_info(response: HttpResponse) -> BotInfo:
    body = _body(response, "bot info")
    bot_id = body.get("id")
    if isinstance(bot_id, int) and not isinstance(bot_id, bool):
        bot_id = str(bot_id)
    if not isinstance(bot_id, str) or not bot_id:
        raise _unexpected(response, "bot info: the answer has no id")

    def text(name: str) -> str | None:
        value = body.get(name)
        return value if isinstance(value, str) else None

    return BotInfo(id=bot_id, username=text("username") or "", avatar=text("avatar"),
                   union_openid=text("union_openid"))


def _reference(value: MessageReference | str | None) -> MessageReference | None:
    return MessageReference(value) if isinstance(value, str) else value


def _markdown(value: Markdown | str | None) -> Markdown | None:
    return Markdown(value) if isinstance(value, str) else value


class _Fields(TypedDict, total=False):
    """The keywords every ``send_*_message`` takes (the message, and whom it answers)."""

    content: str | None
    markdown: Markdown | str | None
    keyboard: Keyboard | KeyboardTemplate | None
    ark: Mapping[str, Any] | None
    message_reference: MessageReference | str | None
    msg_id: str | None
    event_id: str | None


class _V2Message(_Fields, total=False):
    """The keywords of ``send_c2c_message``/``send_group_message``: the
    :class:`OutgoingMessage` fields (a ``str`` for ``markdown`` or ``message_reference``
    is wrapped), ``media`` a ``file_info``, and the passive-reply ``msg_id``/``event_id``
    /``msg_seq`` (none of them: an active message)."""

    media: str | None
    msg_seq: int | None


class _GuildMessage(_Fields, total=False):
    """The keywords of ``send_channel_message``/``send_dm_message``: as for c2c and
    groups, with the guild-only ``embed`` and ``image`` instead of ``media``, and no
    ``msg_seq``."""

    embed: Mapping[str, Any] | None
    image: str | None


class RestClient:
    """Builds :class:`RestCall` objects for one bot.

    ``token_state`` is shared with the gateway supervisor and every other call of the
    bot, so one refresh serves all.  ``user_agent`` is sent when given (no rule exists,
    rest.md §1.4).
    """

    def __init__(self, token_state: TokenState, *, user_agent: str | None = None) -> None:
        self.token_state = token_state
        self.endpoints = token_state.endpoints
        self.user_agent = user_agent
        self._headers: tuple[tuple[str, str], ...] = (
            (("User-Agent", user_agent),) if user_agent else ())

    def __repr__(self) -> str:
        return f"RestClient(app_id={self.token_state.app_id!r}, api={self.endpoints.api_base!r})"

    def call(self, request: HttpRequest, parse: Any, *, name: str = "") -> RestCall[Any]:
        """A call for a request built elsewhere (the upload saga, future endpoints)."""
        return RestCall(request, parse, token_state=self.token_state, name=name)

    # --- messages ---------------------------------------------------------------------

    def send_message(self, scope: ChatScope | str, target_id: str, message: OutgoingMessage, *,
                     reply: Reply | None = None) -> RestCall[MessageSent | AuditPending]:
        """Send ``message`` to a c2c user, group, channel or guild DM (rest.md §2).

        ``reply`` comes from :class:`~qqproto.rest.ReplyContext` (passive) or is
        ``None`` (active)."""
        reply = reply or Reply()
        request = build_message(self.endpoints, scope, target_id, message,
                                msg_id=reply.msg_id, event_id=reply.event_id,
                                msg_seq=reply.msg_seq, headers=self._headers)
        return RestCall(request, parse_message_sent, token_state=self.token_state,
                        name=f"send {ChatScope(scope).value} message")

    def send_split(self, scope: ChatScope | str, target_id: str, message: OutgoingMessage, *,
                   now: float, replies: ReplyContext | None = None,
                   msg_id: str | None = None, event_id: str | None = None,
                   limit: int = DEFAULT_LIMIT) -> list[RestCall[MessageSent | AuditPending]]:
        """A long text or markdown message as several calls, to run in order.

        Each part gets its own ``msg_seq`` from ``replies`` (all parts at once, so a cap
        that cannot hold them all is noticed before anything is sent); the keyboard rides
        on the last part (rest.md §11.5–11.7).  Without ``msg_id``/``event_id`` every part
        is active."""
        parts = split_message(message, limit=limit)
        if msg_id is None and event_id is None:
            plan: Sequence[Reply] = [Reply()] * len(parts)
        elif replies is None:
            raise ValueError("a passive split reply needs a ReplyContext for its msg_seq")
        else:
            plan = replies.replies(scope, count=len(parts), now=now, msg_id=msg_id,
                                   event_id=event_id)
        return [self.send_message(scope, target_id, part, reply=r)
                for part, r in zip(parts, plan, strict=True)]

    def _send(self, scope: ChatScope, target_id: str, allowed: type[_Fields],
              fields: Mapping[str, Any]) -> RestCall[MessageSent | AuditPending]:
        """``fields`` split into the message and its reply; a keyword ``allowed`` lacks
        (``embed`` for a c2c user, ``msg_seq`` in a guild) is refused at once."""
        unexpected = fields.keys() - allowed.__annotations__.keys()
        if unexpected:
            raise TypeError(f"unexpected keyword argument(s) for a {scope.value} message: "
                            f"{', '.join(sorted(unexpected))}")
        message = dict(fields)
        reply = Reply(msg_id=message.pop("msg_id", None),
                      event_id=message.pop("event_id", None),
                      msg_seq=message.pop("msg_seq", None))
        message["markdown"] = _markdown(message.get("markdown"))
        message["message_reference"] = _reference(message.get("message_reference"))
        return self.send_message(scope, target_id, OutgoingMessage(**message), reply=reply)

    def send_c2c_message(self, openid: str, **fields: Unpack[_V2Message]
                         ) -> RestCall[MessageSent | AuditPending]:
        """``POST /v2/users/{openid}/messages``; ``media`` is a ``file_info``."""
        return self._send(ChatScope.C2C, openid, _V2Message, fields)

    def send_group_message(self, group_openid: str, **fields: Unpack[_V2Message]
                           ) -> RestCall[MessageSent | AuditPending]:
        """``POST /v2/groups/{group_openid}/messages``."""
        return self._send(ChatScope.GROUP, group_openid, _V2Message, fields)

    def send_channel_message(self, channel_id: str, **fields: Unpack[_GuildMessage]
                             ) -> RestCall[MessageSent | AuditPending]:
        """``POST /channels/{channel_id}/messages`` (guild text channel)."""
        return self._send(ChatScope.CHANNEL, channel_id, _GuildMessage, fields)

    def send_dm_message(self, guild_id: str, **fields: Unpack[_GuildMessage]
                        ) -> RestCall[MessageSent | AuditPending]:
        """``POST /dms/{guild_id}/messages`` (the DM session's own guild id)."""
        return self._send(ChatScope.DM, guild_id, _GuildMessage, fields)

    def send_typing(self, openid: str, *, msg_id: str, msg_seq: int,
                    seconds: int = 60) -> RestCall[MessageSent | AuditPending]:
        """The c2c typing indicator (msg_type 6, rest.md §2.8); it uses a ``msg_seq``."""
        request = build_typing(self.endpoints, openid, msg_id=msg_id, msg_seq=msg_seq,
                               seconds=seconds, headers=self._headers)
        return RestCall(request, parse_message_sent, token_state=self.token_state,
                        name="send typing notice")

    def recall_message(self, scope: ChatScope | str, target_id: str, message_id: str, *,
                       hide_tip: bool = False) -> RestCall[None]:
        """Withdraw a message (rest.md §2.9: the bot's own, within 2 minutes)."""
        request = build_recall(self.endpoints, scope, target_id, message_id,
                               hide_tip=hide_tip, headers=self._headers)
        return RestCall(request, parse_empty, token_state=self.token_state,
                        name=f"recall {ChatScope(scope).value} message")

    # --- media ------------------------------------------------------------------------

    def upload_media(self, scope: ChatScope | str, target_id: str, file_type: FileType, *,
                     url: str | None = None, file_data: bytes | None = None,
                     srv_send_msg: bool = False, file_name: str | None = None
                     ) -> RestCall[UploadedMedia]:
        """Single-call upload by public ``url`` or base64 ``file_data`` (rest.md §3).

        See :func:`qqproto.upload.choose_upload_method` for when to use the chunked
        :class:`~qqproto.upload.UploadSession` instead.  ``file_data`` over the hard
        size limit raises :class:`~qqproto.errors.FileTooLargeError` at once."""
        if file_data is not None:
            check_file_size(file_type, len(file_data))
        request = build_media_upload(self.endpoints, scope, target_id, file_type, url=url,
                                     file_data=file_data, srv_send_msg=srv_send_msg,
                                     file_name=file_name, headers=self._headers)
        return RestCall(request, parse_uploaded_media, token_state=self.token_state,
                        name=f"upload {ChatScope(scope).value} media")

    # --- bot, gateway, interactions -----------------------------------------------------

    def _get(self, path: str) -> HttpRequest:
        return HttpRequest(method="GET", url=self.endpoints.api_url(path),
                           headers=self._headers)

    def get_gateway(self) -> RestCall[GatewayInfo]:
        """``GET /gateway``: the WebSocket URL only (gateway.md §2.1)."""
        return RestCall(self._get("/gateway"), parse_gateway_response,
                        token_state=self.token_state, name="get gateway")

    def get_gateway_bot(self) -> RestCall[GatewayInfo]:
        """``GET /gateway/bot``: URL, shard count and session start budget (§2.2).

        The result type and parser are the gateway supervisor's
        (:mod:`qqproto.rest._gateway_info`), so both paths yield the same values."""
        return RestCall(self._get("/gateway/bot"), parse_gateway_response,
                        token_state=self.token_state, name="get gateway/bot")

    def get_bot_info(self) -> RestCall[BotInfo]:
        """``GET /users/@me``."""
        return RestCall(self._get("/users/@me"), parse_bot_info,
                        token_state=self.token_state, name="get bot info")

    def ack_interaction(self, interaction_id: str,
                        result: InteractionResult = InteractionResult.SUCCESS
                        ) -> RestCall[None]:
        """Answer a button tap (rest.md §5.5): stops the user's spinner."""
        request = build_interaction_ack(self.endpoints, interaction_id, result,
                                        headers=self._headers)
        return RestCall(request, parse_empty, token_state=self.token_state,
                        name="ack interaction")
