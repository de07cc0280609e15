"""Relationship and moderation events: friends, groups, group members, message audit.

These payloads are small and flat (gateway.md §6.5).  Their ``timestamp`` is documented
as integer Unix seconds, but one SDK types it as a string, so every form
:func:`~qqproto.models.parse_timestamp` knows is accepted (gateway.md §11 item 13).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import Invalid
from ..events import Dispatch
from ._base import ModelEvent, envelope
from ._common import (
    TimestampValue,
    expect_object,
    opt_bool,
    opt_id,
    opt_int,
    opt_list,
    opt_object,
    opt_str,
    opt_timestamp,
    req_id,
)

__all__ = [
    "AutoApproved",
    "C2CLifecycleEvent",
    "C2CMsgReceive",
    "C2CMsgReject",
    "EnterAio",
    "FriendAdd",
    "FriendDel",
    "GroupAddRobot",
    "GroupDelRobot",
    "GroupJoinRequest",
    "GroupLifecycleEvent",
    "GroupMemberAdd",
    "GroupMemberEvent",
    "GroupMemberRemove",
    "GroupMsgReceive",
    "GroupMsgReject",
    "MessageAuditEvent",
    "MessageAuditPass",
    "MessageAuditReject",
    "SubscribeMessageStatus",
    "SubscriptionResult",
    "VerifyInfo",
    "parse_c2c_lifecycle",
    "parse_enter_aio",
    "parse_group_join_request",
    "parse_group_lifecycle",
    "parse_group_member",
    "parse_message_audit",
    "parse_subscribe_status",
]


# --- C2C: FRIEND_ADD / FRIEND_DEL / C2C_MSG_REJECT / C2C_MSG_RECEIVE ----------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class C2CLifecycleEvent(ModelEvent):
    """Base of the four C2C relationship events: ``{openid, timestamp}``.

    ``openid`` is the user's ``user_openid`` for this bot, so ``chat_id`` is where an
    active message to that user goes.
    """

    openid: str
    timestamp: TimestampValue = None
    time: datetime | None = None
    #: ``author.union_openid``: the user's id across the developer's apps (the autogen
    #: FRIEND_ADD/FRIEND_DEL pages; may be absent or empty).
    union_openid: str | None = None

    @property
    def chat_id(self) -> str:
        return self.openid


@dataclass(frozen=True, slots=True, kw_only=True)
class FriendAdd(C2CLifecycleEvent):
    """``FRIEND_ADD``: a user added the bot.  ``scene``/``scene_param`` say from where
    (SDK-only fields, gateway.md §6.5)."""

    scene: int | None = None
    scene_param: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FriendDel(C2CLifecycleEvent):
    """``FRIEND_DEL``: a user removed the bot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class C2CMsgReject(C2CLifecycleEvent):
    """``C2C_MSG_REJECT``: the user turned off active messages from the bot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class C2CMsgReceive(C2CLifecycleEvent):
    """``C2C_MSG_RECEIVE``: the user turned active messages from the bot back on."""


_C2C_CLASSES: dict[str, type[C2CLifecycleEvent]] = {
    "FRIEND_DEL": FriendDel,
    "C2C_MSG_REJECT": C2CMsgReject,
    "C2C_MSG_RECEIVE": C2CMsgReceive,
}


def parse_c2c_lifecycle(dispatch: Dispatch) -> C2CLifecycleEvent:
    d = expect_object(dispatch.data, "d")
    openid = req_id(d, "openid", "d")
    timestamp, time = opt_timestamp(d, "timestamp", "d")
    author = opt_object(d, "author", "d") or {}
    fields = {**envelope(dispatch), "openid": openid, "timestamp": timestamp, "time": time,
              "union_openid": opt_id(author, "union_openid", "d.author")}
    if dispatch.type == "FRIEND_ADD":
        return FriendAdd(**fields, scene=opt_int(d, "scene", "d"),
                         scene_param=opt_str(d, "scene_param", "d"))
    return _C2C_CLASSES[dispatch.type](**fields)


# --- groups: GROUP_ADD_ROBOT / GROUP_DEL_ROBOT / GROUP_MSG_REJECT / GROUP_MSG_RECEIVE -----


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupLifecycleEvent(ModelEvent):
    """Base of the four group relationship events:
    ``{group_openid, op_member_openid, timestamp}``; ``op_member_openid`` is the member
    who did it."""

    group_openid: str
    op_member_openid: str | None = None
    timestamp: TimestampValue = None
    time: datetime | None = None

    @property
    def chat_id(self) -> str:
        return self.group_openid


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupAddRobot(GroupLifecycleEvent):
    """``GROUP_ADD_ROBOT``: the bot was added to a group."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupDelRobot(GroupLifecycleEvent):
    """``GROUP_DEL_ROBOT``: the bot was removed from a group."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMsgReject(GroupLifecycleEvent):
    """``GROUP_MSG_REJECT``: the group turned off active messages from the bot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMsgReceive(GroupLifecycleEvent):
    """``GROUP_MSG_RECEIVE``: the group turned active messages from the bot back on."""


_GROUP_CLASSES: dict[str, type[GroupLifecycleEvent]] = {
    "GROUP_ADD_ROBOT": GroupAddRobot,
    "GROUP_DEL_ROBOT": GroupDelRobot,
    "GROUP_MSG_REJECT": GroupMsgReject,
    "GROUP_MSG_RECEIVE": GroupMsgReceive,
}


def _group_openid(d: dict[str, Any]) -> str:
    group = opt_id(d, "group_openid", "d") or opt_id(d, "group_id", "d")
    if not group:
        raise Invalid("d.group_openid: missing")
    return group


def parse_group_lifecycle(dispatch: Dispatch) -> GroupLifecycleEvent:
    d = expect_object(dispatch.data, "d")
    timestamp, time = opt_timestamp(d, "timestamp", "d")
    return _GROUP_CLASSES[dispatch.type](
        **envelope(dispatch), group_openid=_group_openid(d),
        op_member_openid=opt_id(d, "op_member_openid", "d"),
        timestamp=timestamp, time=time)


# --- GROUP_MEMBER_ADD / GROUP_MEMBER_REMOVE (SDK-only, gateway.md §6.5) ------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMemberEvent(ModelEvent):
    """Base of the group member events: ``{group_openid, member_openid, timestamp}``
    (NB); ``user_openid`` and ``op_member_openid`` appear in one more SDK's model."""

    group_openid: str
    member_openid: str
    user_openid: str | None = None
    op_member_openid: str | None = None
    timestamp: TimestampValue = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMemberAdd(GroupMemberEvent):
    """``GROUP_MEMBER_ADD``: someone joined a group the bot is in."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMemberRemove(GroupMemberEvent):
    """``GROUP_MEMBER_REMOVE``: someone left (or was removed from) a group."""


def parse_group_member(dispatch: Dispatch) -> GroupMemberEvent:
    d = expect_object(dispatch.data, "d")
    timestamp, time = opt_timestamp(d, "timestamp", "d")
    cls = GroupMemberAdd if dispatch.type == "GROUP_MEMBER_ADD" else GroupMemberRemove
    return cls(
        **envelope(dispatch),
        group_openid=_group_openid(d), member_openid=req_id(d, "member_openid", "d"),
        user_openid=opt_id(d, "user_openid", "d"),
        op_member_openid=opt_id(d, "op_member_openid", "d"),
        timestamp=timestamp, time=time)


# --- GROUP_JOIN_REQUEST (autogen/event/group_join_request.md) ----------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyInfo:
    """How the applicant answered the group's entry check: ``method`` is
    ``verify_message`` (with ``verify_message``) or ``admin_review_qa`` (with
    ``review_qa``, ``(question, answer)`` pairs)."""

    method: str | None = None
    verify_message: str | None = None
    review_qa: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoApproved:
    """``auto_approved``: the request was approved by an approval strategy."""

    strategy_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupJoinRequest(ModelEvent):
    """``GROUP_JOIN_REQUEST``: someone asked to join a group where the bot is an admin.

    Answer it with the join-request approval API, quoting ``join_request_id``.
    ``apply_source`` is ``self_apply`` or ``invited`` (then ``invited_by`` says by whom);
    ``apply_at`` is kept as sent, ``time`` parsed; ``auto_approved`` is set when a
    strategy already approved it.
    """

    group_openid: str
    join_request_id: str
    member_openid: str | None = None
    union_openid: str | None = None
    username: str | None = None
    bot: bool | None = None
    apply_at: TimestampValue = None
    time: datetime | None = None
    apply_source: str | None = None
    invited_by: str | None = None
    risk_tips: str | None = None
    verify_info: VerifyInfo | None = None
    auto_approved: AutoApproved | None = None

    @property
    def chat_id(self) -> str:
        return self.group_openid


def _verify_info(d: dict[str, Any]) -> VerifyInfo | None:
    v = opt_object(d, "verify_info", "d")
    if v is None:
        return None
    p = "d.verify_info"
    pairs = []
    for index, item in enumerate(opt_list(v, "review_qa_list", p) or ()):
        q = expect_object(item, f"{p}.review_qa_list[{index}]")
        qp = f"{p}.review_qa_list[{index}]"
        pairs.append((opt_str(q, "question", qp) or "", opt_str(q, "answer", qp) or ""))
    return VerifyInfo(method=opt_str(v, "method", p),
                      verify_message=opt_str(v, "verify_message", p), review_qa=tuple(pairs))


def parse_group_join_request(dispatch: Dispatch) -> GroupJoinRequest:
    d = expect_object(dispatch.data, "d")
    apply_at, time = opt_timestamp(d, "apply_at", "d")
    auto = opt_object(d, "auto_approved", "d")
    return GroupJoinRequest(
        **envelope(dispatch), group_openid=_group_openid(d),
        join_request_id=req_id(d, "join_request_id", "d"),
        member_openid=opt_id(d, "member_openid", "d"),
        union_openid=opt_id(d, "union_openid", "d"), username=opt_str(d, "username", "d"),
        bot=opt_bool(d, "bot", "d"), apply_at=apply_at, time=time,
        apply_source=opt_str(d, "apply_source", "d"), invited_by=opt_id(d, "invited_by", "d"),
        risk_tips=opt_str(d, "risk_tips", "d"), verify_info=_verify_info(d),
        auto_approved=(AutoApproved(strategy_id=opt_id(auto, "strategy_id", "d.auto_approved"))
                       if auto is not None else None))


# --- MESSAGE_AUDIT_PASS / MESSAGE_AUDIT_REJECT --------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageAuditEvent(ModelEvent):
    """Base of the audit results for a message the bot sent (gateway.md §6.5).

    ``message_id`` is present on a pass only.  ``audit_time``/``create_time`` are kept
    as sent, ``audited_at``/``created_at`` parsed.
    """

    audit_id: str
    message_id: str | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    group_openid: str | None = None
    user_openid: str | None = None
    seq_in_channel: str | None = None
    audit_time: TimestampValue = None
    audited_at: datetime | None = None
    create_time: TimestampValue = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageAuditPass(MessageAuditEvent):
    """``MESSAGE_AUDIT_PASS``: the message passed review and was delivered."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageAuditReject(MessageAuditEvent):
    """``MESSAGE_AUDIT_REJECT``: the message failed review and was not delivered."""


def parse_message_audit(dispatch: Dispatch) -> MessageAuditEvent:
    d = expect_object(dispatch.data, "d")
    audit_time, audited_at = opt_timestamp(d, "audit_time", "d")
    create_time, created_at = opt_timestamp(d, "create_time", "d")
    cls = MessageAuditPass if dispatch.type == "MESSAGE_AUDIT_PASS" else MessageAuditReject
    return cls(
        **envelope(dispatch),
        audit_id=req_id(d, "audit_id", "d"),
        message_id=opt_id(d, "message_id", "d"),
        guild_id=opt_id(d, "guild_id", "d"),
        channel_id=opt_id(d, "channel_id", "d"),
        group_openid=opt_id(d, "group_openid", "d"),
        user_openid=opt_id(d, "user_openid", "d"),
        seq_in_channel=opt_id(d, "seq_in_channel", "d"),
        audit_time=audit_time, audited_at=audited_at,
        create_time=create_time, created_at=created_at)


# --- SUBSCRIBE_MESSAGE_STATUS and ENTER_AIO (single-source events, gateway.md §6.1) --------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionResult:
    """One template's authorisation change; ``op`` 1 = allowed, 2 = refused (an
    unverified third-party model: treat as a hint and read ``raw`` for the rest)."""

    template_id: str | None = None
    custom_template_id: str | None = None
    op: int | None = None
    subscribe_id: str | None = None
    update_ts: TimestampValue = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMessageStatus(ModelEvent):
    """``SUBSCRIBE_MESSAGE_STATUS``: a user or group changed a subscription-message
    authorisation.  Documented by one SDK only; every field is optional."""

    openid: str | None = None
    group_openid: str | None = None
    results: tuple[SubscriptionResult, ...] = ()


def parse_subscribe_status(dispatch: Dispatch) -> SubscribeMessageStatus:
    d = expect_object(dispatch.data, "d")
    results = []
    for index, item in enumerate(opt_list(d, "result", "d") or ()):
        p = f"d.result[{index}]"
        r = expect_object(item, p)
        update_ts, _ = opt_timestamp(r, "update_ts", p)
        results.append(SubscriptionResult(
            template_id=opt_id(r, "template_id", p),
            custom_template_id=opt_id(r, "custom_template_id", p),
            op=opt_int(r, "op", p),
            subscribe_id=opt_id(r, "subscribe_id", p),
            update_ts=update_ts))
    return SubscribeMessageStatus(
        **envelope(dispatch),
        openid=opt_id(d, "openid", "d"), group_openid=opt_id(d, "group_openid", "d"),
        results=tuple(results))


@dataclass(frozen=True, slots=True, kw_only=True)
class EnterAio(ModelEvent):
    """``ENTER_AIO``: a user opened the chat window with the bot (single source:
    BOTGO, gateway.md §6.1).  Every field is optional; ``raw`` has the rest."""

    user_openid: str | None = None
    from_source: str | None = None
    timestamp: TimestampValue = None
    time: datetime | None = None


def parse_enter_aio(dispatch: Dispatch) -> EnterAio:
    d = expect_object(dispatch.data, "d")
    timestamp, time = opt_timestamp(d, "timestamp", "d")
    return EnterAio(
        **envelope(dispatch),
        user_openid=opt_id(d, "user_openid", "d") or opt_id(d, "openid", "d"),
        from_source=opt_str(d, "from_source", "d"), timestamp=timestamp, time=time)
