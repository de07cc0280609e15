"""Streamed C2C replies: ``POST /v2/users/{openid}/stream_messages`` (rest.md §2.1,
§11 item 8; autogen page v2_users_user_openid_stream_messages.post).

The first chunk (no ``stream_msg_id``) is a passive reply like any other: its
``msg_id``/``event_id`` and ``msg_seq`` go through the reply rules once, and the answer's
``id`` is the new ``stream_msg_id``.  Later chunks must name that id, the same chat and
the next ``index``.  ``append`` adds ``content_raw`` to the text; ``replace`` makes it the
whole text and must begin with what was already shown, else ``40007``.  The simulator
shows every chunk at once, so the whole accepted text counts as shown and the answer's
``remain_msg_len`` is 0.  ``input_state`` 10 ends the stream: the whole text is stored as
a :class:`~qqproto.simulator.SentMessage` whose ``body`` is the final chunk's body with
``content_raw`` replaced by the full text and ``"stream": true``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ._records import SentMessage
from ._replies import ReplyError
from ._rest import (
    BAD_PARAMS,
    Route,
    SimRequest,
    SimResponse,
    bad_params,
    chat_json,
    error_response,
    json_response,
    sim_store,
)

if TYPE_CHECKING:
    from ._platform import Platform

__all__ = ["STREAM_ROUTES", "SimStream", "StreamStore", "sim_streams"]

#: autogen page, error table: the shown prefix cannot change.
PREFIX_CHANGED: Final = 40007
_STORE_KEY: Final = "_qqproto_stream_store"
_MAX_STREAMS: Final = 1000


@dataclass(slots=True)
class SimStream:
    """One stream the simulator is receiving."""

    id: str
    target: str
    msg_id: str | None
    event_id: str | None
    msg_seq: int | None
    text: str = ""
    next_index: int = 0
    done: bool = False
    chunks: list[dict[str, Any]] = field(default_factory=list)


class StreamStore:
    """The streams of one simulator (bounded: the oldest are forgotten first)."""

    def __init__(self) -> None:
        self.streams: OrderedDict[str, SimStream] = OrderedDict()

    def add(self, stream: SimStream) -> None:
        self.streams[stream.id] = stream
        while len(self.streams) > _MAX_STREAMS:
            self.streams.popitem(last=False)


def sim_streams(sim: Platform) -> StreamStore:
    """The :class:`StreamStore` of ``sim`` (made on first use)."""
    return sim_store(sim, _STORE_KEY, StreamStore)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(body: dict[str, Any]) -> str | None:
    if body.get("input_mode", "append") not in ("append", "replace"):
        return "input_mode must be append or replace"
    if body.get("input_state", 1) not in (1, 10) or isinstance(body.get("input_state"), bool):
        return "input_state must be 1 or 10"
    if body.get("content_type", "markdown") not in ("markdown", "text"):
        return "content_type must be markdown or text"
    if not isinstance(body.get("content_raw", ""), str):
        return "content_raw must be a string"
    if not _is_int(body.get("index")) or body["index"] < 0:
        return "index must be a non-negative integer"
    for key in ("msg_id", "event_id", "stream_msg_id"):
        if body.get(key) is not None and not isinstance(body[key], str):
            return f"{key} must be a string"
    seq = body.get("msg_seq")
    if seq is not None and (not _is_int(seq) or seq < 0):
        return "msg_seq must be a non-negative integer"
    return None


def _open(sim: Platform, request: SimRequest, target: str, body: dict[str, Any],
          now: float) -> SimStream | SimResponse:
    msg_id, event_id = body.get("msg_id") or None, body.get("event_id") or None
    if msg_id is None and event_id is None:
        return bad_params(request, "a stream answers a msg_id or an event_id")
    if body["index"] != 0:
        return bad_params(request, "the first chunk has index 0")
    try:
        sim.replies.check(scope="c2c", chat=target, msg_id=msg_id, event_id=event_id,
                          msg_seq=body.get("msg_seq"), now=now)
    except ReplyError as exc:
        return error_response(request, 400, exc.code, exc.message)
    stream = SimStream(id=sim.ids.uuid(), target=target, msg_id=msg_id, event_id=event_id,
                       msg_seq=body.get("msg_seq"))
    sim_streams(sim).add(stream)
    return stream


def _stream_chunk(sim: Platform, request: SimRequest, *, scope: str, target: str,
                  body: dict[str, Any], now: float) -> SimResponse:
    problem = _problem(body)
    if problem is not None:
        return bad_params(request, problem)
    stream_id = body.get("stream_msg_id")
    if stream_id is None:
        opened = _open(sim, request, target, body, now)
        if isinstance(opened, SimResponse):
            return opened
        stream = opened
    else:
        found = sim_streams(sim).streams.get(stream_id)
        if found is None or found.target != target or found.done:
            return error_response(request, 400, BAD_PARAMS, "unknown or finished stream")
        if body["index"] != found.next_index:
            return error_response(request, 400, BAD_PARAMS,
                                  f"index {body['index']} out of order "
                                  f"(expected {found.next_index})")
        stream = found
    raw = body.get("content_raw", "")
    if body.get("input_mode", "append") == "replace":
        if not raw.startswith(stream.text):
            return error_response(request, 400, PREFIX_CHANGED, "已下发内容前缀不可修改")
        stream.text = raw
    else:
        stream.text += raw
    stream.next_index += 1
    stream.chunks.append(body)
    if body.get("input_state", 1) == 10:
        stream.done = True
        sim.store_sent(SentMessage(
            id=stream.id, scope=scope, target=target,
            body={**body, "content_raw": stream.text, "stream": True}, at=now,
            msg_id=stream.msg_id, event_id=stream.event_id, msg_seq=stream.msg_seq))
    return json_response({"id": stream.id, "timestamp": sim.timestamp(now),
                          "ext_info": {"ref_idx": "REFIDX_" + sim.ids.hex(12)},
                          "remain_msg_len": 0})


STREAM_ROUTES: Final = (
    Route("POST", "/v2/users/{openid}/stream_messages",
          chat_json("c2c", "openid", _stream_chunk)),
)
