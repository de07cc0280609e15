"""Message endpoints: send (C2C, group, channel, DM), recall, and the interaction ACK.

Bodies are validated the way rest.md §2 describes them, passive replies through the
:class:`~qqproto.simulator._replies.ReplyBook`, and every accepted message is stored as a
:class:`~qqproto.simulator.SentMessage` in ``sim.sent_messages``.

HTTP status of business errors (rest.md §7.3: they may come under HTTP 200): the
duplicate ``(msg_id, msg_seq)`` answer ``40054005`` comes under **HTTP 200**, so a client
that looks only at the status is caught; every other business error comes under HTTP
400, as observed from the live platform for invalid msg_ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeGuard

from ._records import InteractionAck, SentMessage
from ._replies import DUPLICATE_MSG_SEQ, ReplyError
from ._rest import (
    BAD_PARAMS,
    BadRequest,
    Handler,
    Route,
    SimRequest,
    SimResponse,
    bad_params,
    chat_json,
    error_response,
    json_body,
    json_response,
)

if TYPE_CHECKING:
    from ._platform import Platform

__all__ = ["MESSAGE_ROUTES"]

# rest.md §7.6.
MSG_TYPE_MISMATCH: Final = 22006
ACTIVE_NOT_ALLOWED: Final = 40034105
RECALL_TOO_LATE: Final = 40064004
RECALL_BAD_MSGID: Final = 40061002
EVENT_ID_INVALID: Final = 40034025
#: rest.md §2.9: C2C and group messages can be recalled for 2 minutes.
RECALL_WINDOW: Final = 120.0
_MSG_TYPES: Final = frozenset({0, 1, 2, 3, 4, 6, 7})


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _business_status(code: int) -> int:
    return 200 if code == DUPLICATE_MSG_SEQ else 400


def _optional(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise BadRequest(f"{key} has the wrong type")
    return value


def _v2_problem(scope: str, body: dict[str, Any]) -> tuple[int, str] | None:
    """rest.md §2.2/§2.3: what is wrong with a C2C/group body, or ``None``."""
    msg_type = body.get("msg_type")
    if not _is_int(msg_type) or msg_type not in _MSG_TYPES:
        return BAD_PARAMS, "msg_type is missing or unknown"
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        return BAD_PARAMS, "content is not a string"
    needs = {0: "content", 2: "markdown", 3: "ark", 7: "media", 6: "input_notify"}
    key = needs.get(msg_type)
    if msg_type == 4:
        return MSG_TYPE_MISMATCH, "embed messages are guild-only"
    if msg_type == 6 and scope != "c2c":
        return MSG_TYPE_MISMATCH, "input notify is c2c-only"
    if key == "content" and not content:
        return MSG_TYPE_MISMATCH, "msg_type 0 needs a non-empty content"
    if key is not None and key != "content" and not isinstance(body.get(key), dict):
        return MSG_TYPE_MISMATCH, f"msg_type {msg_type} needs {key}"
    if msg_type == 7:
        file_info = body["media"].get("file_info")
        if not isinstance(file_info, str) or not file_info:
            return MSG_TYPE_MISMATCH, "media needs file_info"
    return None


def _reply_fields(body: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    msg_id = _optional(body, "msg_id", str)
    event_id = _optional(body, "event_id", str)
    msg_seq = body.get("msg_seq")
    if msg_seq is not None and (not _is_int(msg_seq) or msg_seq < 0):
        raise BadRequest("msg_seq is not a non-negative integer")
    return msg_id or None, event_id or None, msg_seq


def _accept(sim: Platform, request: SimRequest, *, scope: str, chat: str,
            body: dict[str, Any], now: float) -> SentMessage | SimResponse:
    """Shared tail of every send: reply rules, then store."""
    try:
        msg_id, event_id, msg_seq = _reply_fields(body)
    except BadRequest as exc:
        return bad_params(request, str(exc))
    if msg_id is None and event_id is None and not sim.allow_active_messages:
        return error_response(request, 400, ACTIVE_NOT_ALLOWED,
                               "active messages are not allowed")
    try:
        sim.replies.check(scope=scope, chat=chat, msg_id=msg_id, event_id=event_id,
                          msg_seq=msg_seq, now=now)
    except ReplyError as exc:
        return error_response(request, _business_status(exc.code), exc.code, exc.message)
    message = SentMessage(id=sim.ids.message_id(), scope=scope, target=chat, body=body,
                          at=now, msg_id=msg_id, event_id=event_id, msg_seq=msg_seq)
    sim.store_sent(message)
    return message


def _send_v2(sim: Platform, request: SimRequest, *, scope: str, target: str,
             body: dict[str, Any], now: float) -> SimResponse:
    problem = _v2_problem(scope, body)
    if problem is not None:
        return error_response(request, 400, *problem)
    result = _accept(sim, request, scope=scope, chat=target, body=body, now=now)
    if isinstance(result, SimResponse):
        return result
    # rest.md §2.6: {id, timestamp, ext_info?}; the timestamp is an RFC 3339 string
    # (OD2, and what the live platform returns).
    return json_response({"id": result.id, "timestamp": sim.timestamp(now),
                          "ext_info": {"ref_idx": "REFIDX_" + sim.ids.hex(12)}})


_GUILD_CONTENT_KEYS: Final = ("content", "embed", "ark", "image", "markdown")


def _send_guild(sim: Platform, request: SimRequest, *, scope: str, target: str,
                body: dict[str, Any], now: float) -> SimResponse:
    # rest.md §2.2 (guild bodies): at least one of these; multipart is not simulated.
    if not any(body.get(key) for key in _GUILD_CONTENT_KEYS):
        return bad_params(request, "one of content, embed, ark, image, markdown is required")
    if body.get("content") is not None and not isinstance(body["content"], str):
        return bad_params(request, "content is not a string")
    result = _accept(sim, request, scope=scope, chat=target, body=body, now=now)
    if isinstance(result, SimResponse):
        return result
    # rest.md §2.6: guild sends answer with the full Message object.
    return json_response({
        "id": result.id,
        "channel_id": target if scope == "channel" else "",
        "guild_id": target if scope == "dm" else "",
        "content": body.get("content") or "",
        "timestamp": sim.timestamp(now),
        "author": {"id": sim.bot_user_id, "username": sim.bot_username, "bot": True},
    })


def _recall(scope: str, param: str) -> Handler:
    def handler(sim: Platform, request: SimRequest, params: dict[str, str],
                now: float) -> SimResponse:
        message = sim.find_sent(params["message_id"])
        if message is None or message.scope != scope or message.target != params[param]:
            return error_response(request, 400, RECALL_BAD_MSGID, "no such message")
        # rest.md §2.9: C2C and group messages only within 2 minutes.
        if scope in ("c2c", "group") and now - message.at > RECALL_WINDOW:
            return error_response(request, 400, RECALL_TOO_LATE, "too late to recall")
        sim.recall_sent(message)
        # rest.md §7.1: 204 = success without a body (deletes).
        return SimResponse(status=204)
    return handler


def _interaction_ack(sim: Platform, request: SimRequest, params: dict[str, str],
                     body: dict[str, Any], now: float) -> SimResponse:
    """rest.md §5.5/§5.6: ``PUT /interactions/{id}`` with ``{"code": 0..5}``."""
    interaction_id = params["interaction_id"]
    code = body.get("code")
    if not _is_int(code) or not 0 <= code <= 5:
        return bad_params(request, "code must be an integer 0..5")
    if not sim.replies.knows_interaction(interaction_id):
        return error_response(request, 400, EVENT_ID_INVALID, "no such interaction")
    sim.interaction_acks.append(InteractionAck(interaction_id=interaction_id, code=code,
                                               at=now, body=body))
    return SimResponse(status=204)


MESSAGE_ROUTES: Final = (
    Route("POST", "/v2/users/{openid}/messages", chat_json("c2c", "openid", _send_v2)),
    Route("POST", "/v2/groups/{group_openid}/messages",
          chat_json("group", "group_openid", _send_v2)),
    Route("POST", "/channels/{channel_id}/messages",
          chat_json("channel", "channel_id", _send_guild)),
    Route("POST", "/dms/{guild_id}/messages", chat_json("dm", "guild_id", _send_guild)),
    Route("DELETE", "/v2/users/{openid}/messages/{message_id}", _recall("c2c", "openid")),
    Route("DELETE", "/v2/groups/{group_openid}/messages/{message_id}",
          _recall("group", "group_openid")),
    Route("DELETE", "/channels/{channel_id}/messages/{message_id}",
          _recall("channel", "channel_id")),
    Route("DELETE", "/dms/{guild_id}/messages/{message_id}", _recall("dm", "guild_id")),
    Route("PUT", "/interactions/{interaction_id}", json_body(_interaction_ack)),
)
