"""``INTERACTION_CREATE``: a user tapped a callback button or a quick-menu entry.

The bot must ACK it with ``PUT /interactions/{id}`` (rest.md §5 item 5), so ``id`` is the
one field without which the event is malformed.  Everything else is optional and the
derived ``operator_id``/``chat_id``/``scene`` follow rest.md §5 item 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .._values import ChatScope
from ..events import Dispatch
from ._base import ModelEvent
from ._common import (
    TimestampValue,
    expect_object,
    opt_id,
    opt_int,
    opt_object,
    opt_str,
    opt_strs,
    opt_timestamp,
    req_id,
)

__all__ = ["AuthorizeData", "InteractionCreate", "parse_interaction"]

# gateway.md §6.5: chat_type 0 guild, 1 group, 2 C2C.
_SCENE_BY_CHAT_TYPE: Final = {0: "guild", 1: "group", 2: "c2c"}
# A guild interaction is answered in its channel (chat_id falls back to channel_id).
_SCOPE_BY_SCENE: Final = {"c2c": ChatScope.C2C, "group": ChatScope.GROUP,
                          "guild": ChatScope.CHANNEL}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizeData:
    """``data.resolved.authorize_data`` of a type 18/19 interaction (a user or group
    authorised the bot): ``opt_scene`` ``setting``/``dialog``, ``scope``
    ``c2c_push``/``group_push`` (autogen/event/interaction_create.md)."""

    opt_scene: str | None = None
    scope: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InteractionCreate(ModelEvent):
    """A button or menu interaction (gateway.md §6.5, rest.md §5).

    ``id`` is the interaction id for the ACK.  ``interaction_type`` is the top-level
    ``type`` (11 message button, 12 C2C quick menu), falling back to ``data.type``;
    ``data_type`` is ``data.type`` as sent.  ``scene`` is ``"c2c"``/``"group"``/``"guild"``,
    derived from ``chat_type`` when absent.  ``operator_id`` is who tapped
    (``group_member_openid`` → ``user_openid`` → ``data.resolved.user_id``) and ``chat_id``
    where to answer (``group_openid`` → ``user_openid`` → ``channel_id``).

    Types 13–20 (feedback, clear session, story, model switch, authorisation) carry
    ``feedback_opt`` (``LIKE``/``UNLIKE``) and ``checked`` (13), ``action`` (15, 16),
    ``scene_ext`` (``data.resolved.message_scene.ext``, 13) and ``authorize_data`` (18,
    19); the docs say only types 11 and 12 expect an ACK.
    """

    id: str
    interaction_type: int | None = None
    scene: str | None = None
    chat_type: int | None = None
    timestamp: TimestampValue = None
    time: datetime | None = None
    guild_id: str | None = None
    channel_id: str | None = None
    user_openid: str | None = None
    group_openid: str | None = None
    group_member_openid: str | None = None
    application_id: str | None = None
    version: int | None = None
    data_type: int | None = None
    button_data: str | None = None
    button_id: str | None = None
    feature_id: str | None = None
    message_id: str | None = None
    resolved_user_id: str | None = None
    operator_id: str | None = None
    chat_id: str | None = None
    feedback_opt: str | None = None
    checked: int | None = None
    action: str | None = None
    scene_ext: tuple[str, ...] = ()
    authorize_data: AuthorizeData | None = None

    @property
    def scope(self) -> ChatScope | None:
        """``scene`` as a :class:`ChatScope` (``"guild"`` → ``CHANNEL``), ``None`` if unknown;
        with ``chat_id`` it says where a reply goes, as for a message."""
        return _SCOPE_BY_SCENE.get(self.scene) if self.scene is not None else None


def parse_interaction(dispatch: Dispatch) -> InteractionCreate:
    d = expect_object(dispatch.data, "d")
    data = opt_object(d, "data", "d") or {}
    # gateway.md §6.5: the docs' field table spells "resoloved"; real payloads use
    # "resolved".  Prefer the real key, accept the typo.
    rkey = "resolved" if data.get("resolved") is not None else "resoloved"
    resolved = opt_object(data, rkey, "d.data") or {}
    rp = "d.data." + rkey

    chat_type = opt_int(d, "chat_type", "d")
    scene = opt_str(d, "scene", "d")
    if not scene and chat_type is not None:
        scene = _SCENE_BY_CHAT_TYPE.get(chat_type)
    data_type = opt_int(data, "type", "d.data")
    top_type = opt_int(d, "type", "d")
    timestamp, time = opt_timestamp(d, "timestamp", "d")
    user_openid = opt_id(d, "user_openid", "d")
    group_openid = opt_id(d, "group_openid", "d")
    member_openid = opt_id(d, "group_member_openid", "d")
    channel_id = opt_id(d, "channel_id", "d")
    resolved_user = opt_id(resolved, "user_id", rp)
    authorize = opt_object(resolved, "authorize_data", rp)
    scene_obj = opt_object(resolved, "message_scene", rp) or {}
    ext = opt_strs(scene_obj, "ext", rp + ".message_scene")
    return InteractionCreate(
        type=dispatch.type,
        event_id=dispatch.id,
        seq=dispatch.seq,
        raw=dispatch.data,
        id=req_id(d, "id", "d"),
        interaction_type=top_type if top_type is not None else data_type,
        scene=scene,
        chat_type=chat_type,
        timestamp=timestamp,
        time=time,
        guild_id=opt_id(d, "guild_id", "d"),
        channel_id=channel_id,
        user_openid=user_openid,
        group_openid=group_openid,
        group_member_openid=member_openid,
        application_id=opt_id(d, "application_id", "d"),
        version=opt_int(d, "version", "d"),
        data_type=data_type,
        # The button's action.data: a string on the wire; a number is kept as its text.
        button_data=opt_id(resolved, "button_data", rp),
        button_id=opt_id(resolved, "button_id", rp),
        feature_id=opt_id(resolved, "feature_id", rp),
        message_id=opt_id(resolved, "message_id", rp),
        resolved_user_id=resolved_user,
        # rest.md §5 item 3.
        operator_id=member_openid or user_openid or resolved_user,
        chat_id=group_openid or user_openid or channel_id,
        feedback_opt=opt_str(resolved, "feedback_opt", rp),
        checked=opt_int(resolved, "checked", rp),
        action=opt_str(resolved, "action", rp),
        scene_ext=ext,
        authorize_data=(AuthorizeData(
            opt_scene=opt_str(authorize, "opt_scene", rp + ".authorize_data"),
            scope=opt_str(authorize, "scope", rp + ".authorize_data"))
            if authorize is not None else None),
    )

