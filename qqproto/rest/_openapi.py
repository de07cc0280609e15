"""The rest of the OpenAPI as data: one :class:`ApiRoute` per documented endpoint.

Messages, uploads, recalls and interaction ACKs have their own builders (they carry
reply rules and typed bodies); everything else a bot may call — share links, DM
sessions, group and member information, join-request approval, and the guild APIs
(guilds, channels, members, roles and permissions, messages, pins, announcements,
schedules, mute, reactions, forum threads, audio, API-permission requests) — is a row of
:data:`ROUTES`: method, path template, which keywords go to the query or the JSON body,
a body builder where the docs want a shape, and the answer's parser.  A driver runs the
call like any other::

    call = api_call(bot.rest, "get_guild", guild_id="123")
    guild = await bot.call(call)          # the decoded JSON answer

Keywords are the docs' field names.  Path ids are percent-encoded; a keyword the route
does not take is a ``TypeError``, a value of the wrong type or a missing required one a
``ValueError``, both before anything is built.  ``None`` means "not sent".  Answers are
the decoded JSON (an object or an array; ``None`` for an empty 200/204), except where a
typed result is named.  Sources: the autogen pages (``autogen/api/…``) and the guild
pages (``server-inter/channel/…``) of the official docs, named in each row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode

from .._endpoints import Endpoints
from .._http import HttpRequest, HttpResponse, json_request
from ..errors import UnexpectedResponseError
from ._call import RestCall
from ._messages import DEFAULT_TIMEOUT, _json_body

if TYPE_CHECKING:
    from ._client import RestClient

__all__ = ["ROUTES", "ApiRoute", "DMSession", "api_call", "parse_json"]

_PLACEHOLDER: Final = re.compile(r"\{([a-z_]+)\}")
Body = dict[str, Any]


# --- answers ------------------------------------------------------------------------------


def parse_json(response: HttpResponse) -> Any:
    """The decoded JSON answer; ``None`` for an empty body (204, or 200 with nothing)."""
    if not response.body.strip():
        return None
    try:
        return response.json()
    except ValueError:
        raise UnexpectedResponseError("the answer is not JSON", status=response.status,
                                      trace_id=response.header("X-Tps-trace-ID")) from None


def _share_link(response: HttpResponse) -> str:
    link = _json_body(response, "generate_url_link").get("url_link")
    if not isinstance(link, str) or not link:
        raise UnexpectedResponseError("generate_url_link: the answer has no url_link",
                                      status=response.status)
    return link


@dataclass(frozen=True, slots=True, kw_only=True)
class DMSession:
    """``POST /users/@me/dms``: the DM session's own ``guild_id`` (where DM messages go,
    ``/dms/{guild_id}/messages``), its ``channel_id`` and ``create_time`` as sent."""

    guild_id: str
    channel_id: str | None = None
    create_time: str | int | None = None


def _dm_session(response: HttpResponse) -> DMSession:
    body = _json_body(response, "create_dms")
    guild = body.get("guild_id")
    if not isinstance(guild, str) or not guild:
        raise UnexpectedResponseError("create_dms: the answer has no guild_id",
                                      status=response.status)
    channel = body.get("channel_id")
    created = body.get("create_time")
    return DMSession(guild_id=guild, channel_id=channel if isinstance(channel, str) else None,
                     create_time=created if isinstance(created, str | int)
                     and not isinstance(created, bool) else None)


# --- the route ----------------------------------------------------------------------------


def _check(name: str, value: object, kind: type | tuple[type, ...]) -> None:
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ValueError(f"{name} must not be a boolean")
    if not isinstance(value, kind):
        raise ValueError(f"{name} has the wrong type ({type(value).__name__})")


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One endpoint: ``method`` ``path`` (``{name}`` placeholders), the keywords that go
    to the query string (``query``) and to the JSON body (``body``: name → type), the
    ones that must be given (``required``), a ``build`` that turns the body keywords into
    the body the docs show, the answer's ``parse``, and the docs page (``source``)."""

    name: str
    method: str
    path: str
    source: str
    query: Mapping[str, type | tuple[type, ...]] = field(default_factory=dict)
    body: Mapping[str, type | tuple[type, ...]] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    build: Callable[[Body], Body] | None = None
    parse: Callable[[HttpResponse], Any] = parse_json
    #: Send ``{}`` when no body keyword was given (the docs' example does).
    empty_body: bool = False

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))

    def request(self, endpoints: Endpoints, /, **params: Any) -> HttpRequest:
        """The unsigned request for ``params`` (see the module docstring)."""
        known = set(self.path_params) | set(self.query) | set(self.body)
        unknown = params.keys() - known
        if unknown:
            raise TypeError(f"{self.name}() got unexpected keyword(s): "
                            f"{', '.join(sorted(unknown))}")
        for name in (*self.path_params, *self.required):
            if params.get(name) is None:
                raise ValueError(f"{self.name}() needs {name}")
        path = self.path
        for name in self.path_params:
            value = params[name]
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(f"{name} must be a string id")
            if value == "":
                raise ValueError(f"{name} must not be empty")
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        pairs = []
        for name, kind in self.query.items():
            value = params.get(name)
            if value is None:
                continue
            _check(name, value, kind)
            pairs.append((name, ("true" if value else "false") if isinstance(value, bool)
                          else str(value)))
        url = endpoints.api_url(path) + ("?" + urlencode(pairs) if pairs else "")
        fields = {}
        for name, kind in self.body.items():
            value = params.get(name)
            if value is not None:
                _check(name, value, kind)
                fields[name] = value
        body: Body | None = self.build(fields) if self.build is not None else fields
        if not body and not self.empty_body:
            body = None
        return json_request(self.method, url, body, timeout=DEFAULT_TIMEOUT)

    def call(self, rest: RestClient, /, **params: Any) -> RestCall[Any]:
        """The :class:`~qqproto.rest.RestCall` of this endpoint on ``rest``'s token."""
        request = self.request(rest.endpoints, **params)
        if rest.user_agent:
            request = HttpRequest(method=request.method, url=request.url,
                                  headers=(*request.headers, ("User-Agent", rest.user_agent)),
                                  body=request.body, timeout=request.timeout)
        return rest.call(request, self.parse, name=self.name)


# --- body builders where the docs want a shape ----------------------------------------------


def _share_body(fields: Body) -> Body:
    # The autogen page's field table lists url_link, its description and request example
    # callback_data ("passed back to the developer", at most 32 characters): both are
    # accepted and sent as given.
    if len(fields.get("callback_data", "")) > 32:
        raise ValueError("callback_data is at most 32 characters")
    return fields


def _approval_body(fields: Body) -> Body:
    if fields.get("op") not in ("approve", "decline"):
        raise ValueError("op is 'approve' or 'decline'")
    return fields


def _seconds_as_strings(fields: Body) -> Body:
    # speak/patch_guild_*_mute.md: the timestamps and durations are strings ("0" lifts).
    return {k: str(v) if k in ("mute_end_timestamp", "mute_seconds") else v
            for k, v in fields.items()}


def _member_mute_body(fields: Body) -> Body:
    body = _seconds_as_strings(fields)
    if "mute_end_timestamp" not in body and "mute_seconds" not in body:
        raise ValueError("give mute_end_timestamp or mute_seconds ('0' lifts a mute)")
    return body


def _members_mute_body(fields: Body) -> Body:
    body = _member_mute_body(fields)
    ids = body.get("user_ids")
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise ValueError("user_ids must be a non-empty list of user ids")
    body["user_ids"] = list(ids)
    return body


def _delete_member_body(fields: Body) -> Body:
    # role/member/delete_member.md: message recall ranges are 3, 7, 15, 30 days, -1 all.
    days = fields.get("delete_history_msg_days")
    if days is not None and days not in (-1, 0, 3, 7, 15, 30):
        raise ValueError("delete_history_msg_days is one of -1, 0, 3, 7, 15, 30")
    return fields


def _role_body(fields: Body) -> Body:
    if not fields:
        raise ValueError("give at least one of name, color, hoist")
    return fields


def _member_role_body(fields: Body) -> Body:
    # put_guild_member_role.md: for role 5 (channel admin) a Channel object with only id.
    channel = fields.pop("channel_id", None)
    return {"channel": {"id": channel}} if channel is not None else {}


def _schedule_body(fields: Body) -> Body:
    # schedule/post_schedule.md: {"schedule": {...}}, timestamps (ms) and ids as strings.
    schedule = {k: str(v) if isinstance(v, int) else v for k, v in fields.items()}
    if not schedule:
        raise ValueError("a schedule needs its fields")
    return {"schedule": schedule}


def _permission_body(fields: Body) -> Body:
    # channel_permissions: add/remove are bitmaps written as decimal strings.
    if not fields:
        raise ValueError("give add and/or remove")
    return {k: str(v) for k, v in fields.items()}


def _api_demand_body(fields: Body) -> Body:
    # post_api_permission_demand.md: {channel_id, api_identify: {path, method}, desc}.
    body: Body = {"channel_id": fields["channel_id"],
                  "api_identify": {"path": fields["api_path"], "method": fields["api_method"]}}
    if "desc" in fields:
        body["desc"] = fields["desc"]
    return body


# --- the table ------------------------------------------------------------------------------

_S, _I, _B = str, int, bool
_L = (list, tuple)
#: An id or count the docs show both as a string and as a number.
_N = (str, int)
_Types = Mapping[str, type | tuple[type, ...]]
_ROLE_BODY: Final[_Types] = {"name": _S, "color": _I, "hoist": _N}
_PERMISSION_BODY: Final[_Types] = {"add": _N, "remove": _N}
_SCHEDULE_BODY: Final[_Types] = {"name": _S, "description": _S, "start_timestamp": _N,
                                 "end_timestamp": _N, "jump_channel_id": _N, "remind_type": _N}
_MUTE_BODY: Final[_Types] = {"mute_end_timestamp": _N, "mute_seconds": _N}
_AUTO = "autogen/api/"
_CH = "server-inter/channel/"

_TABLE: Final[tuple[ApiRoute, ...]] = (
    # -- bot, share links, DM sessions -----------------------------------------------------
    ApiRoute("generate_url_link", "POST", "/v2/generate_url_link",
             _AUTO + "v2_generate_url_link.post", body={"callback_data": _S, "url_link": _S},
             build=_share_body, parse=_share_link, empty_body=True),
    ApiRoute("create_dms", "POST", "/users/@me/dms", "server-inter/message/dms/post_dms",
             body={"recipient_id": _S, "source_guild_id": _S},
             required=("recipient_id", "source_guild_id"), parse=_dm_session),
    ApiRoute("get_bot_guilds", "GET", "/users/@me/guilds", _AUTO + "users_me_guilds.get",
             query={"before": _S, "after": _S, "limit": _I}),
    # -- groups ----------------------------------------------------------------------------
    ApiRoute("get_group_info", "GET", "/v2/groups/{group_openid}/info",
             _AUTO + "v2_groups_group_openid_info.get"),
    ApiRoute("get_group_bot_state", "GET", "/v2/groups/{group_openid}/bot_state",
             _AUTO + "v2_groups_group_openid_bot_state.get"),
    # The page lists cursor under "request body" but its example sends it in the query
    # (a GET): the example is followed.
    ApiRoute("get_group_members", "GET", "/v2/groups/{group_openid}/members",
             _AUTO + "v2_groups_group_openid_members.get", query={"cursor": _S}),
    ApiRoute("get_group_member", "GET", "/v2/groups/{group_openid}/members/{member_openid}",
             _AUTO + "v2_groups_group_openid_members_member_openid.get"),
    # As above: cursor and limit of a GET go in the query.
    ApiRoute("get_join_requests", "GET", "/v2/groups/{group_openid}/join_request_list",
             _AUTO + "v2_groups_group_openid_join_request_list.get",
             query={"cursor": _S, "limit": _I}),
    ApiRoute("approve_join_request", "POST",
             "/v2/groups/{group_openid}/approval_join_request/{member_openid}",
             _AUTO + "v2_groups_group_openid_approval_join_request_member_openid.post",
             body={"op": _S, "join_request_id": _S, "reject_reason": _S,
                   "add_to_member_blacklist": _B},
             required=("op",), build=_approval_body),
    # -- guilds and channels ---------------------------------------------------------------
    ApiRoute("get_guild", "GET", "/guilds/{guild_id}", _AUTO + "guilds_guild_id.get"),
    ApiRoute("get_channels", "GET", "/guilds/{guild_id}/channels",
             _AUTO + "guilds_guild_id_channels.get"),
    ApiRoute("get_channel", "GET", "/channels/{channel_id}", _AUTO + "channels_channel_id.get"),
    ApiRoute("create_channel", "POST", "/guilds/{guild_id}/channels",
             _AUTO + "guilds_guild_id_channels.post",
             body={"name": _S, "type": _I, "sub_type": _I, "position": _I, "parent_id": _S,
                   "private_type": _I, "private_user_ids": _L, "speak_permission": _I,
                   "application_id": _S}),
    ApiRoute("update_channel", "PATCH", "/channels/{channel_id}",
             _AUTO + "channels_channel_id.patch",
             body={"name": _S, "position": _I, "parent_id": _S, "private_type": _I,
                   "speak_permission": _I}),
    ApiRoute("delete_channel", "DELETE", "/channels/{channel_id}",
             _AUTO + "channels_channel_id.delete"),
    ApiRoute("get_online_nums", "GET", "/channels/{channel_id}/online_nums",
             _CH + "role/get_online_nums"),
    # -- members, roles, permissions -------------------------------------------------------
    ApiRoute("get_members", "GET", "/guilds/{guild_id}/members",
             _CH + "role/member/get_members", query={"after": _S, "limit": _I}),
    ApiRoute("get_member", "GET", "/guilds/{guild_id}/members/{user_id}",
             _CH + "role/member/get_member"),
    ApiRoute("get_role_members", "GET", "/guilds/{guild_id}/roles/{role_id}/members",
             _CH + "role/member/get_role_members",
             query={"start_index": _S, "limit": _I}),
    ApiRoute("delete_member", "DELETE", "/guilds/{guild_id}/members/{user_id}",
             _CH + "role/member/delete_member",
             body={"add_blacklist": _B, "delete_history_msg_days": _I},
             build=_delete_member_body),
    ApiRoute("get_roles", "GET", "/guilds/{guild_id}/roles", _CH + "role-group/get_guild_roles"),
    ApiRoute("create_role", "POST", "/guilds/{guild_id}/roles",
             _CH + "role-group/post_guild_role",
             body=_ROLE_BODY, build=_role_body),
    ApiRoute("update_role", "PATCH", "/guilds/{guild_id}/roles/{role_id}",
             _CH + "role-group/patch_guild_role",
             body=_ROLE_BODY, build=_role_body),
    ApiRoute("delete_role", "DELETE", "/guilds/{guild_id}/roles/{role_id}",
             _CH + "role-group/delete_guild_role"),
    ApiRoute("add_member_role", "PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
             _CH + "role-group/put_guild_member_role", body={"channel_id": _S},
             build=_member_role_body),
    ApiRoute("remove_member_role", "DELETE",
             "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
             _CH + "role-group/delete_guild_member_role", body={"channel_id": _S},
             build=_member_role_body),
    ApiRoute("get_channel_permissions", "GET",
             "/channels/{channel_id}/members/{user_id}/permissions",
             _CH + "role-group/channel_permissions/get_channel_permissions"),
    ApiRoute("update_channel_permissions", "PUT",
             "/channels/{channel_id}/members/{user_id}/permissions",
             _CH + "role-group/channel_permissions/put_channel_permissions",
             body=_PERMISSION_BODY, build=_permission_body),
    ApiRoute("get_channel_role_permissions", "GET",
             "/channels/{channel_id}/roles/{role_id}/permissions",
             _CH + "role-group/channel_permissions/get_channel_roles_permissions"),
    ApiRoute("update_channel_role_permissions", "PUT",
             "/channels/{channel_id}/roles/{role_id}/permissions",
             _CH + "role-group/channel_permissions/put_channel_roles_permissions",
             body=_PERMISSION_BODY, build=_permission_body),
    # -- messages, pins, announcements, reactions ------------------------------------------
    # The v1 pages' get_message_of_id; their message list (get_messages) is marked
    # internal and is not published, so it has no row.
    ApiRoute("get_message", "GET", "/channels/{channel_id}/messages/{message_id}",
             "api/openapi/message/get_message_of_id"),
    ApiRoute("get_pins", "GET", "/channels/{channel_id}/pins",
             _CH + "content/pins/get_pins_message"),
    ApiRoute("add_pin", "PUT", "/channels/{channel_id}/pins/{message_id}",
             _CH + "content/pins/put_pins_message"),
    ApiRoute("delete_pin", "DELETE", "/channels/{channel_id}/pins/{message_id}",
             _CH + "content/pins/delete_pins_message"),
    ApiRoute("create_announce", "POST", "/guilds/{guild_id}/announces",
             _CH + "content/announces/post_guild_announces",
             body={"message_id": _S, "channel_id": _S, "announces_type": _I,
                   "recommend_channels": _L}),
    # message_id "all" removes the recommended-channel announcement.
    ApiRoute("delete_announce", "DELETE", "/guilds/{guild_id}/announces/{message_id}",
             _CH + "content/announces/delete_guild_announces"),
    ApiRoute("add_reaction", "PUT",
             "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_type}/{emoji_id}",
             "server-inter/message/trans/emoji"),
    ApiRoute("delete_reaction", "DELETE",
             "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_type}/{emoji_id}",
             "server-inter/message/trans/emoji"),
    ApiRoute("get_reaction_users", "GET",
             "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_type}/{emoji_id}",
             "server-inter/message/trans/emoji", query={"cookie": _S, "limit": _I}),
    # -- schedules ---------------------------------------------------------------------------
    # get_schedules.md prints "since" as a JSON body of the GET: sent as printed.
    ApiRoute("get_schedules", "GET", "/channels/{channel_id}/schedules",
             _CH + "content/schedule/get_schedules", body={"since": _I}),
    ApiRoute("get_schedule", "GET", "/channels/{channel_id}/schedules/{schedule_id}",
             _CH + "content/schedule/get_schedule"),
    ApiRoute("create_schedule", "POST", "/channels/{channel_id}/schedules",
             _CH + "content/schedule/post_schedule",
             body=_SCHEDULE_BODY, required=("name", "start_timestamp", "end_timestamp"),
             build=_schedule_body),
    ApiRoute("update_schedule", "PATCH", "/channels/{channel_id}/schedules/{schedule_id}",
             _CH + "content/schedule/patch_schedule",
             body=_SCHEDULE_BODY, build=_schedule_body),
    ApiRoute("delete_schedule", "DELETE", "/channels/{channel_id}/schedules/{schedule_id}",
             _CH + "content/schedule/delete_schedule"),
    # -- mute ----------------------------------------------------------------------------------
    ApiRoute("mute_guild", "PATCH", "/guilds/{guild_id}/mute", _CH + "speak/patch_guild_mute",
             body=_MUTE_BODY, build=_member_mute_body),
    ApiRoute("mute_members", "PATCH", "/guilds/{guild_id}/mute",
             _CH + "speak/patch_guild_mute_multi_member",
             body={**_MUTE_BODY, "user_ids": _L},
             required=("user_ids",), build=_members_mute_body),
    ApiRoute("mute_member", "PATCH", "/guilds/{guild_id}/members/{user_id}/mute",
             _CH + "speak/patch_guild_member_mute",
             body=_MUTE_BODY, build=_member_mute_body),
    ApiRoute("get_message_setting", "GET", "/guilds/{guild_id}/message/setting",
             _CH + "speak/setting/message_setting"),
    # -- forum threads ---------------------------------------------------------------------
    ApiRoute("get_threads", "GET", "/channels/{channel_id}/threads",
             _CH + "content/forum/get_threads_list"),
    ApiRoute("get_thread", "GET", "/channels/{channel_id}/threads/{thread_id}",
             _CH + "content/forum/get_thread"),
    ApiRoute("create_thread", "PUT", "/channels/{channel_id}/threads",
             _CH + "content/forum/put_thread",
             body={"title": _S, "content": _S, "format": _I},
             required=("title", "content", "format")),
    ApiRoute("delete_thread", "DELETE", "/channels/{channel_id}/threads/{thread_id}",
             _CH + "content/forum/delete_thread"),
    # -- audio ---------------------------------------------------------------------------------
    ApiRoute("audio_control", "POST", "/channels/{channel_id}/audio",
             _CH + "content/audio/audio_control",
             body={"audio_url": _S, "text": _S, "status": _I}, required=("status",)),
    ApiRoute("mic_on", "PUT", "/channels/{channel_id}/mic", _CH + "content/audio/put_mic",
             empty_body=True),
    ApiRoute("mic_off", "DELETE", "/channels/{channel_id}/mic",
             _CH + "content/audio/delete_mic"),
    # -- API permissions ---------------------------------------------------------------------
    ApiRoute("get_api_permissions", "GET", "/guilds/{guild_id}/api_permission",
             _CH + "api_permissions/get_guild_api_permission"),
    ApiRoute("demand_api_permission", "POST", "/guilds/{guild_id}/api_permission/demand",
             _CH + "api_permissions/post_api_permission_demand",
             body={"channel_id": _S, "api_path": _S, "api_method": _S, "desc": _S},
             required=("channel_id", "api_path", "api_method"), build=_api_demand_body),
)

#: Every route by name.
ROUTES: Final[Mapping[str, ApiRoute]] = MappingProxyType({r.name: r for r in _TABLE})


def api_call(rest: RestClient, name: str, /, **params: Any) -> RestCall[Any]:
    """The call of route ``name`` (see :data:`ROUTES`) with ``params``."""
    try:
        route = ROUTES[name]
    except KeyError:
        raise ValueError(f"no OpenAPI route named {name!r}") from None
    return route.call(rest, **params)
