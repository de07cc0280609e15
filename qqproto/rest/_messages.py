"""Outgoing messages: request builders and response parsers (rest.md §2, §3).

Builders return unsigned :class:`~qqproto.rest.HttpRequest` values (the call attaches the
token); parsers take a response the error table accepted and return a typed result.

Scenes (rest.md §2.1): ``c2c`` ``POST /v2/users/{openid}/messages``, ``group``
``POST /v2/groups/{group_openid}/messages``, guild ``channel``
``POST /channels/{channel_id}/messages`` and guild ``dm`` ``POST /dms/{guild_id}/messages``.
c2c and group bodies carry ``msg_type`` and ``msg_seq``; guild bodies carry neither
(§2.2), so a ``msg_seq`` given for a guild scene is not sent.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote

from .. import _numbers
from .._endpoints import Endpoints
from .._http import HttpRequest, HttpResponse, json_request
from .._values import ChatScope, FileType, UploadedMedia
from ..errors import FileTooLargeError, UnexpectedResponseError
from ._errors import AUDIT_PENDING_CODES, business_codes, response_json_object
from ._keyboard import Keyboard, KeyboardTemplate
from ._split import DEFAULT_LIMIT, split_text_chunks

__all__ = [
    "AuditPending",
    "Markdown",
    "MessageReference",
    "MessageSent",
    "OutgoingMessage",
    "build_media_upload",
    "build_message",
    "build_recall",
    "build_typing",
    "parse_empty",
    "parse_message_sent",
    "parse_uploaded_media",
    "split_message",
]

#: rest.md §1.5: uploads get a longer timeout than ordinary calls.
DEFAULT_TIMEOUT: Final = 30.0
#: A media ``ttl`` beyond this many seconds (ten years) is read as this.
MAX_TTL: Final = 10 * 365 * 24 * 3600
UPLOAD_TIMEOUT: Final = 120.0
#: rest.md §2.8: ``input_second`` is at most 60.
MAX_TYPING_SECONDS: Final = 60






_MESSAGE_PATHS: Final = {
    ChatScope.C2C: "/v2/users/{}/messages",
    ChatScope.GROUP: "/v2/groups/{}/messages",
    ChatScope.CHANNEL: "/channels/{}/messages",
    ChatScope.DM: "/dms/{}/messages",
}
_FILES_PATHS: Final = {ChatScope.C2C: "/v2/users/{}", ChatScope.GROUP: "/v2/groups/{}"}


def path_id(value: str, what: str) -> str:
    """A path segment from an id: non-empty, percent-encoded (no ``/``, ``?`` or ``..``
    can reach the URL from a hostile id)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")


def message_url(endpoints: Endpoints, scope: ChatScope | str, target_id: str) -> str:
    return endpoints.api_url(_MESSAGE_PATHS[ChatScope(scope)].format(
        path_id(target_id, "target id")))


def media_base_url(endpoints: Endpoints, scope: ChatScope | str, target_id: str) -> str:
    """``/v2/users/{openid}`` or ``/v2/groups/{group_openid}`` (rest.md §3.1, §4.1)."""
    scope = ChatScope(scope)
    if scope not in _FILES_PATHS:
        raise ValueError(f"media uploads exist for c2c and group only, not {scope.value}")
    return endpoints.api_url(_FILES_PATHS[scope].format(path_id(target_id, "target id")))


# --- message content ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Markdown:
    """Native markdown (``Markdown("**hi**")``) or a template (``template_id`` + params).

    rest.md §2.2: ``{content}`` or ``{custom_template_id, params:[{key, values}]}``.
    """

    content: str = ""
    template_id: str | None = None
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if (self.template_id is None) == (not self.content):
            raise ValueError("markdown needs exactly one of content and template_id")
        if self.params and self.template_id is None:
            raise ValueError("markdown params belong to a template")

    @classmethod
    def template(cls, template_id: str, params: Mapping[str, str | list[str]] | None = None
                 ) -> Markdown:
        items = tuple((k, (v,) if isinstance(v, str) else tuple(v))
                      for k, v in (params or {}).items())
        return cls(template_id=template_id, params=items)

    def to_dict(self) -> dict[str, Any]:
        if self.template_id is None:
            return {"content": self.content}
        return {"custom_template_id": self.template_id,
                "params": [{"key": k, "values": list(v)} for k, v in self.params]}


@dataclass(frozen=True, slots=True)
class MessageReference:
    """Quote another message (rest.md §2.2 ``message_reference``)."""

    message_id: str
    ignore_get_message_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message_id": self.message_id}
        if self.ignore_get_message_error:
            out["ignore_get_message_error"] = True
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """What a message says, independent of where it goes and what it answers.

    ``msg_type`` follows from the fields (rest.md §2.3): ``markdown`` → 2, ``ark`` → 3,
    ``embed`` → 4 (guild only), ``media`` (a ``file_info``) → 7 (c2c/group only),
    otherwise text → 0.  ``image`` is the guild-only re-hosted image URL.  A keyboard rides
    on markdown only (rest.md §6.1).
    """

    content: str | None = None
    markdown: Markdown | None = None
    keyboard: Keyboard | KeyboardTemplate | None = None
    ark: Mapping[str, Any] | None = None
    embed: Mapping[str, Any] | None = None
    media: str | None = None
    image: str | None = None
    message_reference: MessageReference | None = None

    def __post_init__(self) -> None:
        kinds = [name for name in ("markdown", "ark", "embed", "media")
                 if getattr(self, name) is not None]
        if len(kinds) > 1:
            raise ValueError(f"one message cannot be {' and '.join(kinds)} at once")
        if self.markdown is not None and self.content:
            # rest.md §2.2 (OD2): content must be empty when markdown is present.
            raise ValueError("content must be empty when markdown is given")
        if self.keyboard is not None and self.markdown is None:
            raise ValueError("a keyboard rides on a markdown message (rest.md §6.1)")
        if not (self.content or kinds or self.image):
            raise ValueError("a message needs content, markdown, ark, embed, media or image")
        if self.media is not None and not self.media:
            raise ValueError("media needs a file_info")

    @property
    def msg_type(self) -> int:
        if self.markdown is not None:
            return 2
        if self.ark is not None:
            return 3
        if self.embed is not None:
            return 4
        if self.media is not None:
            return 7
        return 0

    def check_scope(self, scope: ChatScope | str) -> None:
        scope = ChatScope(scope)
        if scope.is_guild and self.media is not None:
            raise ValueError("guild messages take image=URL, not media (rest.md §2.2)")
        if not scope.is_guild and (self.embed is not None or self.image is not None):
            raise ValueError("embed and image are guild-only (rest.md §2.2, §2.3)")

    def to_body(self, scope: ChatScope | str) -> dict[str, Any]:
        """The message fields of the JSON body, without the reply fields."""
        scope = ChatScope(scope)
        self.check_scope(scope)
        body: dict[str, Any] = {}
        if not scope.is_guild:
            body["msg_type"] = self.msg_type
        if self.content:
            body["content"] = self.content
        if self.markdown is not None:
            body["markdown"] = self.markdown.to_dict()
        if self.keyboard is not None:
            body["keyboard"] = self.keyboard.to_dict()
        if self.ark is not None:
            body["ark"] = dict(self.ark)
        if self.embed is not None:
            body["embed"] = dict(self.embed)
        if self.media is not None:
            body["media"] = {"file_info": self.media}
        if self.image is not None:
            body["image"] = self.image
        if self.message_reference is not None:
            body["message_reference"] = self.message_reference.to_dict()
        return body


def split_message(message: OutgoingMessage, *, limit: int = DEFAULT_LIMIT
                  ) -> list[OutgoingMessage]:
    """Split a long text or native-markdown message into several (rest.md §11.5).

    Every part keeps the message's kind; the quote (``message_reference``) stays on the
    first part and the keyboard moves to the last.  Other kinds cannot be split and raise
    ``ValueError`` when their text is over ``limit``.
    """
    if message.markdown is not None and message.markdown.template_id is None:
        text = message.markdown.content
    elif message.msg_type == 0 and message.image is None:
        text = message.content or ""
    else:
        if len(message.content or "") > limit:
            raise ValueError("only text and native markdown messages can be split")
        return [message]
    parts = [chunk.text for chunk in split_text_chunks(text, limit=limit)]
    if len(parts) == 1:
        return [message]
    out: list[OutgoingMessage] = []
    for i, part in enumerate(parts):
        first, last = i == 0, i == len(parts) - 1
        if message.markdown is not None:
            piece = replace(message, markdown=Markdown(part),
                            keyboard=message.keyboard if last else None)
        else:
            piece = replace(message, content=part)
        if not first:
            piece = replace(piece, message_reference=None)
        out.append(piece)
    return out


def _seq(msg_seq: int | None) -> int | None:
    if msg_seq is None:
        return None
    if isinstance(msg_seq, bool) or not isinstance(msg_seq, int) or msg_seq < 1:
        raise ValueError(f"msg_seq must be a positive int, got {msg_seq!r}")
    return msg_seq


def _reply_fields(body: dict[str, Any], scope: ChatScope, msg_id: str | None,
                  event_id: str | None, msg_seq: int | None) -> None:
    if msg_id is not None and event_id is not None:
        raise ValueError("a reply answers either a msg_id or an event_id, not both")
    for name, value in (("msg_id", msg_id), ("event_id", event_id)):
        if value is not None:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
            body[name] = value
    seq = _seq(msg_seq)
    if seq is not None and not scope.is_guild:  # guild bodies have no msg_seq (§2.2)
        body["msg_seq"] = seq


def build_message(endpoints: Endpoints, scope: ChatScope | str, target_id: str,
                  message: OutgoingMessage, *, msg_id: str | None = None,
                  event_id: str | None = None, msg_seq: int | None = None,
                  headers: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    """``POST`` a message.  ``msg_id``/``event_id`` make it passive (rest.md §2.4)."""
    scope = ChatScope(scope)
    body = message.to_body(scope)
    _reply_fields(body, scope, msg_id, event_id, msg_seq)
    return json_request("POST", message_url(endpoints, scope, target_id), body,
                        headers=headers, timeout=DEFAULT_TIMEOUT)


def build_typing(endpoints: Endpoints, openid: str, *, msg_id: str, msg_seq: int,
                 seconds: int = MAX_TYPING_SECONDS,
                 headers: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    """The c2c "input notify" (typing) message, msg_type 6 (rest.md §2.8)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or \
            not 1 <= seconds <= MAX_TYPING_SECONDS:
        raise ValueError(f"typing lasts 1..{MAX_TYPING_SECONDS} seconds, got {seconds!r}")
    body: dict[str, Any] = {"msg_type": 6,
                            "input_notify": {"input_type": 1, "input_second": seconds}}
    _reply_fields(body, ChatScope.C2C, msg_id, None, msg_seq)
    if "msg_seq" not in body:
        raise ValueError("typing needs msg_seq")
    return json_request("POST", message_url(endpoints, ChatScope.C2C, openid), body,
                        headers=headers, timeout=DEFAULT_TIMEOUT)


def build_recall(endpoints: Endpoints, scope: ChatScope | str, target_id: str, message_id: str,
                 *, hide_tip: bool = False,
                 headers: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    """``DELETE`` a message (rest.md §2.9); ``hide_tip`` is guild-only (``hidetip``)."""
    scope = ChatScope(scope)
    url = message_url(endpoints, scope, target_id) + "/" + path_id(message_id, "message_id")
    if scope.is_guild:
        url += "?hidetip=" + ("true" if hide_tip else "false")
    elif hide_tip:
        raise ValueError("hide_tip exists for guild messages only")
    return HttpRequest(method="DELETE", url=url, headers=headers, timeout=DEFAULT_TIMEOUT)


def build_media_upload(endpoints: Endpoints, scope: ChatScope | str, target_id: str,
                       file_type: FileType, *, url: str | None = None,
                       file_data: bytes | None = None, srv_send_msg: bool = False,
                       file_name: str | None = None,
                       headers: tuple[tuple[str, str], ...] = ()) -> HttpRequest:
    """The single-call upload ``POST …/files`` (rest.md §3.4), from a public ``url`` or
    from bytes sent as plain base64 ``file_data``.  ``srv_send_msg=True`` also sends the
    media at once as an *active* message (§2.4.9)."""
    file_type = FileType(file_type)
    if (url is None) == (file_data is None):
        raise ValueError("give exactly one of url and file_data")
    body: dict[str, Any] = {"file_type": int(file_type)}
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be a public http(s) URL (rest.md §3.4)")
        body["url"] = url
    else:
        body["file_data"] = base64.b64encode(file_data or b"").decode("ascii")
    body["srv_send_msg"] = bool(srv_send_msg)
    if file_name is not None:
        body["file_name"] = file_name
    return json_request("POST", media_base_url(endpoints, scope, target_id) + "/files",
                        body, headers=headers, timeout=UPLOAD_TIMEOUT)


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSent:
    """The platform accepted a message.  ``id`` is ``None`` when the answer did not say;
    ``timestamp`` is as sent (an int or an RFC 3339 string, rest.md §2.6); ``ref_idx``
    (``ext_info.ref_idx``) lets later messages quote this one."""

    id: str | None
    timestamp: int | str | None = None
    ref_idx: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPending:
    """A guild message was accepted but waits for manual audit (304023/304024, §2.6).

    Not an error: the message may still appear; ``audit_id`` identifies it in the
    ``MESSAGE_AUDIT_PASS`` / ``MESSAGE_AUDIT_REJECT`` events."""

    audit_id: str | None
    code: int
    message: str = ""




def _json_body(response: HttpResponse, what: str) -> dict[str, Any]:
    body = response_json_object(response)
    if body is None:
        raise UnexpectedResponseError(f"{what}: the answer is not a JSON object",
                                      status=response.status,
                                      trace_id=response.header("X-Tps-trace-ID"))
    return body


def _opt_str(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_message_sent(response: HttpResponse) -> MessageSent | AuditPending:
    """Result of a send: :class:`MessageSent`, or :class:`AuditPending` for guild audit."""
    body = _json_body(response, "send message")
    audit_codes = [c for c in business_codes(body) if c in AUDIT_PENDING_CODES]
    if audit_codes:
        data = body.get("data")
        audit = data.get("message_audit") if isinstance(data, dict) else None
        audit_id = _opt_str(audit.get("audit_id")) if isinstance(audit, dict) else None
        message = body.get("message")
        return AuditPending(audit_id=audit_id, code=audit_codes[0],
                            message=message if isinstance(message, str) else "")
    timestamp = body.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | str):
        timestamp = None
    ext = body.get("ext_info")
    ref_idx = _opt_str(ext.get("ref_idx")) if isinstance(ext, dict) else None
    return MessageSent(id=_opt_str(body.get("id")), timestamp=timestamp, ref_idx=ref_idx)


def parse_empty(response: HttpResponse) -> None:
    """Recall and interaction ACK: success carries no result (rest.md §2.9, §5.5)."""
    return None


def _int_field(value: object, default: int = 0) -> int | None:
    """An int from an int or a decimal string (rest.md §12: both appear)."""
    if value is None or value == "":
        return default
    return _numbers.parse_int(value, minimum=0, maximum=2**63 - 1)


def parse_uploaded_media(response: HttpResponse) -> UploadedMedia:
    """Result of ``POST …/files`` (single call or chunked completion, rest.md §3.5, §4.24)."""
    body = _json_body(response, "media upload")
    if "file_info" not in body and isinstance(body.get("data"), dict):
        body = body["data"]  # rest.md §4.24: H also looks under "data"
    file_info = body.get("file_info")
    if not isinstance(file_info, str) or not file_info:
        raise UnexpectedResponseError("media upload: the answer has no file_info",
                                      status=response.status,
                                      trace_id=response.header("X-Tps-trace-ID"))
    ttl = _int_field(body.get("ttl"))
    return UploadedMedia(file_info=file_info, file_uuid=_opt_str(body.get("file_uuid")),
                         ttl=0 if ttl is None else min(ttl, MAX_TTL),
                         message_id=_opt_str(body.get("id")),
                         raw_url=_opt_str(body.get("raw_url")))


_MIB: Final = 1024 * 1024


#: rest.md §3.7 (OD2): hard limit 200 MB for every file type; over it the platform
#: answers 850031.  "MB" is read as MiB; pass ``max_file_size`` to use another limit.
HARD_SIZE_LIMITS: Final[Mapping[FileType, int]] = {t: 200 * _MIB for t in FileType}


def check_file_size(file_type: FileType, size: int, max_file_size: int | None = None, *,
                    file_name: str | None = None) -> None:
    """Raise :class:`FileTooLargeError` before anything is hashed or sent when ``size``
    is over the hard limit of ``file_type`` (or over ``max_file_size`` when given); the
    error names the file, its size and the limit (numbers and ``31.4 MB`` forms)."""
    limit = HARD_SIZE_LIMITS[FileType(file_type)] if max_file_size is None else max_file_size
    if size > limit:
        raise FileTooLargeError(
            f"{FileType(file_type).name.lower()} of {size} bytes is over the "
            f"{limit}-byte limit (rest.md §3.7)", file_name=file_name, size=size,
            limit=limit)
