"""The fast path of parse_event (qqproto/models/_fast.py) answers exactly what the
validating parsers answer, or leaves the payload to them.

Whenever ``fast_parse`` returns an event it must be equal, field for field and class for
class, to what the type's validating parser returns; a payload the validating parser
rejects must never get an answer from the fast path.  And the fast path must actually be
taken for the ordinary shapes (else it is dead weight)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qqproto.errors import Invalid
from qqproto.events import Dispatch
from qqproto.models import C2CMessageCreate, GroupAtMessageCreate, parse_event
from qqproto.models._fast import _GROUP_KEYS, FAST_PARSERS, fast_parse
from qqproto.models._parse import _TABLE
from tests.test_models_totality import _MSG, KEYS, SCALARS

FAST_TYPES = sorted(FAST_PARSERS)
EVENTS = Path(__file__).resolve().parent / "conformance" / "events.json"


def validating(dispatch: Dispatch) -> Any:
    """The type's validating parser alone: its event, or ``Invalid``."""
    try:
        return _TABLE[dispatch.type][0](dispatch)
    except Invalid as exc:
        return exc


def check_same(dispatch: Dispatch) -> bool:
    """Assert the fast answer (if any) is the validating one; whether there was one."""
    before = repr(dispatch.data)
    fast = fast_parse(dispatch)
    assert repr(dispatch.data) == before  # never mutates the payload
    if fast is None:
        return False
    slow = validating(dispatch)
    assert not isinstance(slow, Invalid), (slow, dispatch.data)
    assert type(fast) is type(slow)
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert fast.raw is dispatch.data
    assert parse_event(dispatch) == slow
    return True


def test_the_fast_path_is_on_for_every_message_type_it_knows() -> None:
    # Empty when a model class gained a field _fast does not set: teach it the field.
    assert FAST_TYPES == ["C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE",
                          "GROUP_MESSAGE_CREATE"]


def test_the_documented_c2c_and_group_messages_take_the_fast_path_with_the_same_result(
) -> None:
    cases = [c for c in json.loads(EVENTS.read_text(encoding="utf-8"))
             if c.get("type") in FAST_PARSERS]
    assert len(cases) >= 10
    taken = [check_same(Dispatch(type=c["type"], seq=1, id="E:1", data=c["d"]))
             for c in cases]
    # Only a key the validating parser does not read (parallel_message) sends one down
    # the validating path.
    assert taken == [set(c["d"]) <= _GROUP_KEYS for c in cases]
    assert sum(taken) >= len(cases) - 1


def test_a_plain_message_takes_the_fast_path() -> None:
    d = {"id": "ROBOT1.0_x", "content": " hi", "timestamp": "2025-01-01T00:00:00+08:00",
         "author": {"id": "U", "user_openid": "U", "union_openid": "U"}}
    event = parse_event(Dispatch(type="C2C_MESSAGE_CREATE", seq=3, id="C2C:1", data=d))
    assert check_same(Dispatch(type="C2C_MESSAGE_CREATE", seq=3, id="C2C:1", data=d))
    assert isinstance(event, C2CMessageCreate)
    assert event.message.time is not None
    assert (event.message.chat_id, event.message.content, event.message.time.isoformat()
            ) == ("U", " hi", "2025-01-01T00:00:00+08:00")
    group = {**d, "group_openid": "G", "author": {"member_openid": "M"}}
    event = parse_event(Dispatch(type="GROUP_AT_MESSAGE_CREATE", seq=4, id=None, data=group))
    assert isinstance(event, GroupAtMessageCreate)
    assert (event.group_openid, event.message.author_id, event.message.content) == (
        "G", "M", "hi")


@pytest.mark.parametrize("data", [
    {"id": 5, "author": {"user_openid": "U"}},                    # a numeric id
    {"id": "m", "author": {"user_openid": 7}},                    # a numeric openid
    {"id": "m", "author": {"user_openid": "U"}, "timestamp": 1},  # a numeric timestamp
    {"id": "m", "author": {"user_openid": "U"}, "seq": 1},        # a key it does not read
    {"id": "m", "author": {"user_openid": "U"}, "message_type": 1.0},
])
def test_unusual_but_valid_shapes_are_left_to_the_validating_parser(data: Any) -> None:
    dispatch = Dispatch(type="C2C_MESSAGE_CREATE", seq=1, id="x", data=data)
    assert fast_parse(dispatch) is None
    assert isinstance(parse_event(dispatch), C2CMessageCreate)


# --- hypothesis: payloads around the fast path's domain ----------------------------------

_IDS = st.sampled_from(["U", "", "E4F4AEA33253A2797FB897C50B81D7ED", "ROBOT1.0_x"])
_TIMES = st.sampled_from([
    "2025-01-01T00:00:00+08:00", "2023-11-06T13:37:18Z", " 2023-11-06T13:37:18+08:00",
    "2023-11-06T13:37:18", "1699240365", "1699240365123", "", "x"])
_AUTHOR_KEYS = ["id", "user_openid", "member_openid", "union_openid", "username", "avatar",
                "member_role", "bot"]
_EXTRA_PARTS = {k: _MSG[k] for k in ("mentions", "attachments", "msg_elements",
                                     "message_scene")} | {
    "ark_data": {"ark_type": "miniapp", "fields": {"title": "t"}}, "msg_idx": "REFIDX_1"}


def _odds(n: int) -> st.SearchStrategy[bool]:
    """True with a chance of about (n - 1) in n (a draw leans to the first element)."""
    return st.sampled_from([True] * (n - 1) + [False])


#: A wrong value: any scalar, or a small array or object of them (the validating parser
#: rejects a container where it reads a scalar and the reverse; deeper junk is the
#: totality tests' business).
JUNK = SCALARS | st.lists(SCALARS, max_size=2) | st.dictionaries(
    st.sampled_from(KEYS), SCALARS, max_size=2)


def _usually(draw: st.DrawFn, good: st.SearchStrategy[Any]) -> Any:
    return draw(good if draw(_odds(12)) else JUNK)


def _keys(draw: st.DrawFn, keys: list[str], usual: list[str]) -> list[str]:
    """The ``usual`` keys, one left out now and then, plus some of the others."""
    chosen = [k for k in usual if draw(_odds(10))]
    others = [k for k in keys if k not in usual]
    return chosen + draw(st.lists(st.sampled_from(others), unique=True, max_size=3))


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, Any]:
    t = draw(st.sampled_from(FAST_TYPES))
    group = t != "C2C_MESSAGE_CREATE"
    author: dict[str, Any] = {}
    for key in _keys(draw, _AUTHOR_KEYS, ["member_openid" if group else "user_openid"]):
        author[key] = _usually(draw, st.booleans() if key == "bot" else _IDS)
    d: dict[str, Any] = {}
    candidates: dict[str, st.SearchStrategy[Any]] = {
        "id": _IDS, "content": st.text(max_size=6) | st.just(" hi "), "timestamp": _TIMES,
        "author": st.just(author), "message_type": st.sampled_from([0, 1, 3, 103, None]),
        "group_openid": _IDS, "group_id": _IDS}
    usual = ["id", "content", "timestamp", "author"] + (["group_openid"] if group else [])
    for key in _keys(draw, sorted(candidates), usual):
        d[key] = _usually(draw, candidates[key])
    for key in draw(st.lists(st.sampled_from(sorted(_EXTRA_PARTS)), unique=True,
                             max_size=3)):
        d[key] = _usually(draw, st.just(copy.deepcopy(_EXTRA_PARTS[key])))
    if not draw(_odds(10)):
        d[draw(st.sampled_from(["seq", "channel_id", "src_guild_id", "zz"]))] = 1
    if not draw(_odds(20)):
        return t, draw(JUNK)
    return t, d


@settings(max_examples=300)
@given(payloads(), st.none() | st.integers(0, 9), st.none() | st.just("E:1"))
def test_whenever_the_fast_path_answers_it_answers_what_the_validating_parser_does(
        case: tuple[str, Any], seq: int | None, event_id: str | None) -> None:
    t, data = case
    check_same(Dispatch(type=t, seq=seq, id=event_id, data=data))


@settings(max_examples=200)
@given(st.sampled_from(FAST_TYPES), st.data())
def test_the_totality_seeds_mutated_get_the_same_answer_on_both_paths(
        t: str, data: st.DataObject) -> None:
    # The totality seed with only the keys these types read (others decline at once).
    payload = {k: copy.deepcopy(v) for k, v in _MSG.items() if k in _GROUP_KEYS}
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(payload)))
        if data.draw(st.booleans()):
            del payload[key]
        else:
            payload[key] = data.draw(JUNK)
        if not payload:
            break
    check_same(Dispatch(type=t, seq=1, id="x", data=payload))


_EXT_ITEMS = st.sampled_from([
    "msg_idx=REFIDX_a", "ref_msg_idx=REFIDX_b", "auth_token=tok", " msg_idx = REFIDX_c ",
    "msg_idx=", "msg_idx= ", "msg_idx", "=x", "other=1", "msg_idx=REFIDX_d=e",
    "ref_msg_idx=REFIDX_f", ""])


@settings(max_examples=300)
@given(st.sampled_from(FAST_TYPES),
       st.one_of(st.just("default"), st.just("absent"), st.none(), st.text(max_size=3),
                 JUNK),
       st.one_of(st.lists(_EXT_ITEMS, max_size=4), st.none(),
                 st.lists(_EXT_ITEMS | JUNK, max_size=3), JUNK),
       st.dictionaries(st.sampled_from(["zz", "extra"]), SCALARS, max_size=1),
       st.booleans(), st.sampled_from([None, 103, 0]))
def test_message_scenes_of_every_shape_get_the_same_answer_on_both_paths(
        t: str, source: Any, ext: Any, more: dict[str, Any], with_msg_idx: bool,
        message_type: int | None) -> None:
    scene: dict[str, Any] = {**more}
    if source != "absent":
        scene["source"] = source
    if ext is not None:
        scene["ext"] = ext
    d: dict[str, Any] = {"id": "m", "content": "hi", "message_scene": scene,
                         "author": {"id": "U", "user_openid": "U", "member_openid": "U"}}
    if t != "C2C_MESSAGE_CREATE":
        d["group_openid"] = "G"
    if with_msg_idx:
        d["msg_idx"] = "REFIDX_top"
    if message_type is not None:
        d["message_type"] = message_type
    check_same(Dispatch(type=t, seq=1, id="x", data=d))


def test_a_usual_scene_takes_the_fast_path_with_its_keys_read_out() -> None:
    d = {"id": "m", "content": "hi", "author": {"user_openid": "U"},
         "message_scene": {"source": "default",
                           "ext": ["msg_idx=", " msg_idx = REFIDX_1 ", "msg_idx=REFIDX_2",
                                   "ref_msg_idx=REFIDX_0", "auth_token=secret"]}}
    dispatch = Dispatch(type="C2C_MESSAGE_CREATE", seq=1, id="x", data=d)
    assert check_same(dispatch)
    event = fast_parse(dispatch)
    assert isinstance(event, C2CMessageCreate)
    scene = event.message.scene
    assert scene is not None
    assert (scene.source, scene.msg_idx, scene.ref_msg_idx, scene.auth_token) == (
        "default", "REFIDX_1", "REFIDX_0", "secret")
    assert "secret" not in repr(event)
