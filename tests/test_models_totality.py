"""parse_event is total: any JSON value, any type name, never an unexpected exception.

Two generators: arbitrary JSON built from plausible keys, and well-formed payloads with
one part replaced or removed (which reaches the deep fields random JSON rarely does).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qqproto.errors import ModelError
from qqproto.events import Dispatch, Ready, Resumed
from qqproto.models._base import MalformedEvent, ModelEvent, UnknownEvent
from qqproto.models._messages import InboundMessage, MessageEvent
from qqproto.models._parse import EVENT_CLASSES, inbound_message, parse_event, parse_event_strict

KNOWN = sorted(EVENT_CLASSES)

_KEY_TEXT = """
id content timestamp author user_openid member_openid union_openid username bot avatar
member_role attachments content_type filename url size width height voice_wav_url
asr_refer_text message_type msg_elements msg_idx message_scene ext source mentions scope
is_you group_openid group_id channel_id guild_id member nick roles joined_at seq_in_channel
message_reference message_id mention_everyone edited_timestamp src_guild_id direct_message
message op_user openid scene scene_param op_member_openid audit_id audit_time create_time
result template_id custom_template_id op subscribe_id update_ts from_source type chat_type
group_member_openid application_id version data resolved resoloved button_data button_id
user_id feature_id name owner_id member_count max_members description op_user_id sub_type
parent_id user target emoji thread_info post_info reply_info thread_id post_id reply_id
title date_time err_msg audio_url text channel_type session_id shard
"""
KEYS = sorted(set(_KEY_TEXT.split()))

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from([
        "", " ", "103", "1699240365", "1699240365123", "2023-11-06T13:37:18+08:00",
        "2023-11-06T13:37:18", "//gchat.qpic.cn/x", "gchat.qpic.cn/x", "msg_idx=REFIDX_1",
        "ref_msg_idx=REFIDX_0", "=", "voice", "image/png", "1e309", "-0", "9" * 30,
    ])
    | st.sampled_from([103, 0, 1, 2, 11, 12, 2001, 10**400, -1, 2**53, 1e20, 0.5])
)

JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=6),
    max_leaves=25,
)

# One well-formed payload per family, the seeds for mutation.
_MSG = {
    "id": "ROBOT1.0_x", "content": " hi", "timestamp": "2025-01-02T10:00:00+08:00",
    "group_openid": "G", "group_id": "G", "channel_id": "C", "guild_id": "D",
    "src_guild_id": "S", "seq_in_channel": "5", "mention_everyone": False,
    "author": {"id": "A", "user_openid": "A", "member_openid": "A", "union_openid": "U",
               "username": "n", "bot": False},
    "member": {"nick": "N", "roles": ["1"], "joined_at": "2024-01-01T00:00:00+08:00"},
    "mentions": [{"scope": "single", "id": "B", "member_openid": "B", "is_you": True}],
    "attachments": [{"content_type": "voice", "url": "//h/v", "size": 3,
                     "voice_wav_url": "h/w", "asr_refer_text": "t"}],
    "message_type": 103,
    "msg_elements": [{"msg_idx": "REFIDX_q", "content": "q", "message_type": 0,
                      "author": {"bot": True, "username": "b"},
                      "attachments": [{"url": "h/q"}]}],
    "message_scene": {"source": "default", "ext": ["msg_idx=REFIDX_m", "ref_msg_idx=REFIDX_q"]},
    "message_reference": {"message_id": "M0"},
}
_SEEDS: dict[str, Any] = {
    "MESSAGE": _MSG,
    "DELETE": {"message": {"id": "M", "channel_id": "C", "guild_id": "D",
                           "author": {"id": "A", "username": "n", "bot": False}},
               "op_user": {"id": "O"}},
    "INTERACTION_CREATE": {
        "id": "I", "type": 11, "scene": "group", "chat_type": 1, "timestamp": 1699240365,
        "guild_id": "D", "channel_id": "C", "user_openid": "U", "group_openid": "G",
        "group_member_openid": "M", "application_id": "1", "version": 1,
        "data": {"type": 11, "resolved": {"button_data": "x", "button_id": "b",
                                          "user_id": "R", "feature_id": "f",
                                          "message_id": "m"}}},
    "LIFECYCLE": {"openid": "O", "group_openid": "G", "member_openid": "M",
                  "op_member_openid": "P", "user_openid": "U", "timestamp": 1699240365,
                  "scene": 1, "scene_param": "s", "from_source": "f"},
    "AUDIT": {"audit_id": "A", "message_id": "M", "guild_id": "D", "channel_id": "C",
              "audit_time": "2024-05-01T20:15:03+08:00", "create_time": 1, "seq_in_channel": 3},
    "SUBSCRIBE_MESSAGE_STATUS": {"openid": "O", "result": [
        {"template_id": 1, "custom_template_id": "c", "op": 1, "subscribe_id": "s",
         "update_ts": 1}]},
    "GUILD": {"id": "D", "guild_id": "D", "name": "n", "owner_id": "o", "member_count": 1,
              "type": 0, "user": {"id": "U", "username": "u", "bot": False},
              "roles": ["1"], "joined_at": "x", "op_user_id": "O", "user_id": "U",
              "channel_id": "C", "target": {"id": "t", "type": 0},
              "emoji": {"id": "e", "type": 1}, "author_id": "A",
              "thread_info": {"thread_id": "T", "title": "t", "date_time": "x"},
              "audio_url": "u", "text": "t", "channel_type": 5},
    "GROUP_JOIN_REQUEST": {
        "group_openid": "G", "join_request_id": "J", "member_openid": "M", "username": "u",
        "apply_at": "2026-08-05T16:21:40+08:00", "apply_source": "invited", "invited_by": "I",
        "verify_info": {"method": "admin_review_qa",
                        "review_qa_list": [{"question": "q", "answer": "a"}]},
        "auto_approved": {"strategy_id": "S"}},
    "READY": {"session_id": "s", "version": 1, "shard": [0, 1],
              "user": {"id": "B", "username": "b", "bot": True}},
}


def _seed_for(t: str) -> Any:
    cls = EVENT_CLASSES[t]
    if issubclass(cls, MessageEvent):
        return _SEEDS["MESSAGE"]
    if t.endswith("MESSAGE_DELETE"):
        return _SEEDS["DELETE"]
    if t.startswith("MESSAGE_AUDIT"):
        return _SEEDS["AUDIT"]
    if t in _SEEDS:
        return _SEEDS[t]
    if t == "RESUMED":
        return ""
    if t.startswith(("GUILD", "CHANNEL", "MESSAGE_REACTION", "FORUM", "OPEN_FORUM", "AUDIO")):
        return _SEEDS["GUILD"]
    return _SEEDS["LIFECYCLE"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    t = draw(st.sampled_from(KNOWN))
    data = copy.deepcopy(_seed_for(t))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(data)))
        if not path:
            data = draw(JSON)
            continue
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    return t, data


def _check_total(t: Any, data: Any, seq: Any = 1, fid: Any = "x") -> None:
    dispatch = Dispatch(type=t, seq=seq, id=fid, data=data)
    before = repr(data)
    event = parse_event(dispatch)
    assert repr(data) == before  # parsing never mutates the payload

    assert isinstance(event, ModelEvent | Ready | Resumed)
    if isinstance(event, MalformedEvent):
        assert not event.error.startswith("internal parser error"), event.error
        assert (event.type, event.raw, event.dispatch) == (t, data, dispatch)
    elif isinstance(event, UnknownEvent):
        assert t not in EVENT_CLASSES
    else:
        assert isinstance(event, EVENT_CLASSES[t])
    if isinstance(event, ModelEvent):
        assert (event.event_id, event.seq) == (fid, seq)
        assert event.raw is data

    message = inbound_message(dispatch)
    assert message is None or isinstance(message, InboundMessage)
    assert (message is not None) == isinstance(event, MessageEvent)

    try:
        strict = parse_event_strict(dispatch)
    except ModelError as exc:
        assert isinstance(event, MalformedEvent)
        assert str(exc) == f"malformed {t} payload: {event.error}"
    else:
        assert not isinstance(event, MalformedEvent)
        assert type(strict) is type(event)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.sampled_from(KNOWN), data=JSON)
def test_any_json_value_under_a_known_type_parses_without_raising(t: str, data: Any) -> None:
    _check_total(t, data)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_well_formed_payloads_with_a_part_replaced_parse_without_raising(
    case: tuple[str, Any],
) -> None:
    _check_total(*case)


@settings(max_examples=300)
@given(t=st.text(max_size=30) | st.sampled_from(KNOWN), data=JSON,
       seq=st.none() | st.integers(), fid=st.none() | st.text(max_size=40))
def test_any_type_name_and_frame_fields_parse_without_raising(
    t: str, data: Any, seq: int | None, fid: str | None
) -> None:
    _check_total(t, data, seq, fid)


def test_every_seed_is_well_formed_for_the_types_that_use_it() -> None:
    # The mutation test starts from valid payloads; prove they are.
    for t in KNOWN:
        event = parse_event(Dispatch(type=t, seq=1, id="x", data=_seed_for(t)))
        assert isinstance(event, EVENT_CLASSES[t]), (t, event)


def test_deeply_nested_json_is_harmless() -> None:
    # The parsers never recurse into a payload, and the events' reprs leave raw out, so
    # nesting deeper than the recursion limit neither crashes parsing nor logging.
    deep: Any = "x"
    for _ in range(5000):
        deep = {"author": deep, "data": deep, "message": deep, "user": deep}
    for t in KNOWN:
        if t == "RESUMED":
            continue  # accepts any d and is the gateway's own class, whose repr shows d
        dispatch = Dispatch(type=t, seq=1, id="x", data=deep)
        event = parse_event(dispatch)
        assert isinstance(event, ModelEvent), t
        assert repr(event).startswith(f"{type(event).__name__}(type='{t}'")
        if isinstance(event, MalformedEvent):
            assert not event.error.startswith("internal parser error")
        try:
            parse_event_strict(dispatch)
        except ModelError:
            assert isinstance(event, MalformedEvent)
