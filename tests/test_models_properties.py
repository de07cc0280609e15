"""Properties of the models layer: value-class shape, normalisation invariants, field
checking, and the docs table staying in step with the code."""

from __future__ import annotations

import dataclasses
import pathlib
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qqproto.models as models
from qqproto.events import Dispatch
from qqproto.models._base import MalformedEvent
from qqproto.models._common import normalise_url, parse_timestamp
from qqproto.models._interaction import InteractionCreate
from qqproto.models._messages import InboundMessage, ReferenceIndex
from qqproto.models._parse import EVENT_CLASSES, inbound_message, parse_event

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "models.rst"


def frame(t: str, d: Any) -> Dispatch:
    return Dispatch(type=t, seq=1, id=f"{t}:p", data=d)


# --- value classes -----------------------------------------------------------------------

VALUE_CLASSES = [obj for name in models.__all__
                 if dataclasses.is_dataclass(obj := getattr(models, name))
                 and isinstance(obj, type)]


def test_there_are_value_classes_to_check() -> None:
    assert len(VALUE_CLASSES) > 40


@pytest.mark.parametrize("cls", VALUE_CLASSES, ids=lambda c: c.__name__)
def test_every_value_class_is_frozen_slotted_and_keyword_only(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert "__slots__" in cls.__dict__
    assert all(f.kw_only for f in dataclasses.fields(cls))
    assert cls.__doc__ and cls.__doc__.strip()


def test_events_cannot_be_changed_after_parsing() -> None:
    event = parse_event(frame("FRIEND_DEL", {"openid": "E4"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.openid = "other"  # type: ignore[misc, union-attr]
    with pytest.raises((AttributeError, TypeError)):
        event.extra = 1  # type: ignore[union-attr]


# --- URL normalisation -------------------------------------------------------------------

URLS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda pre, host, path: f"{pre}{host}/{path}",
              st.sampled_from(["", "//", "https://", "http://", " //", "  ", "/"]),
              st.from_regex(r"[a-z0-9.-]{1,20}", fullmatch=True),
              st.from_regex(r"[A-Za-z0-9._~=&?%-]{0,20}", fullmatch=True)),
)


@given(URLS)
def test_url_normalisation_is_idempotent_and_always_yields_a_fetchable_shape(url: str) -> None:
    once = normalise_url(url)
    assert normalise_url(once) == once
    assert once == once.strip()
    assert once == "" or "://" in once or once.startswith("/")


@given(st.from_regex(r"[a-z0-9-]{1,15}(\.[a-z0-9-]{1,10}){1,3}/[a-z0-9/?=&]{0,20}",
                     fullmatch=True))
def test_scheme_less_forms_all_become_the_same_https_url(rest: str) -> None:
    expected = "https://" + rest
    assert normalise_url(rest) == expected
    assert normalise_url("//" + rest) == expected
    assert normalise_url(" \t" + expected + "\n") == expected


# --- timestamps --------------------------------------------------------------------------

AWARE = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)),
                               timezone(timedelta(hours=-5, minutes=-30))]))


@given(AWARE)
def test_rfc3339_strings_round_trip_with_their_offset(moment: datetime) -> None:
    parsed = parse_timestamp(moment.isoformat())
    assert parsed == moment
    assert parsed is not None and parsed.utcoffset() == moment.utcoffset()


@given(st.integers(min_value=-(10**10), max_value=10**11 - 1))
def test_integer_seconds_are_exact_in_numbers_and_strings(seconds: int) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    assert parse_timestamp(seconds) == expected
    assert parse_timestamp(str(seconds)) == expected


@given(st.integers(min_value=10**11, max_value=253_402_300_799_999))
def test_large_integers_are_exact_milliseconds(millis: int) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    assert parse_timestamp(millis) == expected
    assert parse_timestamp(str(millis)) == expected


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1)))
def test_naive_date_times_are_not_guessed(moment: datetime) -> None:
    assert parse_timestamp(moment.isoformat()) is None


# --- message normalisation ---------------------------------------------------------------

BASE = {"id": "m", "group_openid": "G", "author": {"id": "A", "user_openid": "A",
                                                  "member_openid": "A"},
        "channel_id": "C", "guild_id": "D"}
MESSAGE_TYPES = ["C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE", "GROUP_MESSAGE_CREATE",
                 "AT_MESSAGE_CREATE", "MESSAGE_CREATE", "DIRECT_MESSAGE_CREATE"]


@given(t=st.sampled_from(MESSAGE_TYPES), content=st.text(max_size=30))
def test_only_group_at_content_loses_its_leading_whitespace(t: str, content: str) -> None:
    message = inbound_message(frame(t, {**BASE, "content": content}))
    assert message is not None
    if t == "GROUP_AT_MESSAGE_CREATE":
        assert message.content == content.lstrip()
    else:
        assert message.content == content


@given(t=st.sampled_from(MESSAGE_TYPES),
       msg_id=st.integers(min_value=-(2**63), max_value=2**64))
def test_numeric_message_ids_become_their_decimal_string(t: str, msg_id: int) -> None:
    message = inbound_message(frame(t, {**BASE, "id": msg_id}))
    assert message is not None and message.msg_id == str(msg_id)


IDX = st.from_regex(r"REFIDX_[A-Za-z0-9+/=_-]{1,24}", fullmatch=True)


@given(own=st.none() | IDX, ref=st.none() | IDX,
       noise=st.lists(st.sampled_from(["a=b", "x", "=y", "msg_idx=", "source=default"]),
                      max_size=3),
       order=st.randoms(use_true_random=False))
def test_ext_indices_are_found_wherever_they_sit(
    own: str | None, ref: str | None, noise: list[str], order: Any
) -> None:
    ext = list(noise)
    if own is not None:
        ext.append(f"msg_idx={own}")
    if ref is not None:
        ext.append(f"ref_msg_idx={ref}")
    order.shuffle(ext)
    # "msg_idx=" (empty) must not clear a real value placed before it.
    message = inbound_message(frame("C2C_MESSAGE_CREATE",
                                    {**BASE, "message_scene": {"ext": ext}}))
    assert isinstance(message, InboundMessage)
    expected = None if own is None and ref is None else ReferenceIndex(
        msg_idx=own, ref_msg_idx=ref)
    assert message.reference_index == expected


@given(st.lists(st.fixed_dictionaries({}, optional={
    "content_type": st.sampled_from(["image/png", "voice", "file", "video/mp4"]),
    "url": URLS, "filename": st.text(max_size=8), "size": st.integers(0, 2**40),
}), max_size=5))
def test_attachments_keep_their_order_and_count(items: list[dict[str, Any]]) -> None:
    message = inbound_message(frame("C2C_MESSAGE_CREATE", {**BASE, "attachments": items}))
    assert message is not None
    assert len(message.attachments) == len(items)
    for item, attachment in zip(items, message.attachments, strict=True):
        assert attachment.url == normalise_url(item.get("url", ""))
        assert attachment.filename == item.get("filename")
        assert attachment.size == item.get("size")


# --- interaction derivation --------------------------------------------------------------

ID = st.text(min_size=1, max_size=6)


@given(member=st.none() | ID, user=st.none() | ID, resolved=st.none() | ID,
       group=st.none() | ID, channel=st.none() | ID)
def test_operator_and_chat_are_the_first_present_id_in_precedence_order(
    member: str | None, user: str | None, resolved: str | None, group: str | None,
    channel: str | None,
) -> None:
    d = {"id": "i", "group_member_openid": member, "user_openid": user,
         "group_openid": group, "channel_id": channel,
         "data": {"resolved": {"user_id": resolved}}}
    event = parse_event(frame("INTERACTION_CREATE", d))
    assert isinstance(event, InteractionCreate)
    assert event.operator_id == next((x for x in (member, user, resolved) if x), None)
    assert event.chat_id == next((x for x in (group, user, channel) if x), None)


@given(st.sampled_from([0, 1, 2, 3, -1, None]))
def test_scene_follows_chat_type_when_absent(chat_type: int | None) -> None:
    event = parse_event(frame("INTERACTION_CREATE", {"id": "i", "chat_type": chat_type}))
    assert isinstance(event, InteractionCreate)
    assert event.scene == {0: "guild", 1: "group", 2: "c2c"}.get(chat_type)  # type: ignore[arg-type]


# --- every read field is type-checked ----------------------------------------------------

MSG = {"id": "m", "content": "c", "timestamp": "2025-01-02T10:00:00+08:00",
       "group_openid": "G", "group_id": "G", "channel_id": "C", "guild_id": "D",
       "src_guild_id": "S", "seq_in_channel": "1", "mention_everyone": False,
       "edited_timestamp": "x", "message_type": 0, "msg_idx": "REFIDX_1",
       "author": {"id": "A", "user_openid": "A", "member_openid": "A"},
       "member": {"nick": "n"}, "mentions": [], "attachments": [],
       "message_scene": {"ext": []}, "message_reference": {"message_id": "r"}}
C2C_KEYS = ["id", "content", "timestamp", "author", "mentions", "attachments",
            "message_type", "message_scene", "msg_idx"]
GROUP_KEYS = [*C2C_KEYS, "group_openid"]
GUILD_KEYS = [*C2C_KEYS, "channel_id", "guild_id", "seq_in_channel", "mention_everyone",
              "edited_timestamp", "member", "message_reference"]

CHECKED: list[tuple[str, dict[str, Any], list[str]]] = [
    ("C2C_MESSAGE_CREATE", MSG, C2C_KEYS),
    ("GROUP_AT_MESSAGE_CREATE", MSG, GROUP_KEYS),
    ("GROUP_MESSAGE_CREATE", MSG, GROUP_KEYS),
    ("AT_MESSAGE_CREATE", MSG, GUILD_KEYS),
    ("MESSAGE_CREATE", MSG, GUILD_KEYS),
    ("DIRECT_MESSAGE_CREATE", MSG, [*GUILD_KEYS, "src_guild_id"]),
    ("MESSAGE_DELETE", {"message": {"id": "m"}, "op_user": {"id": "o"}},
     ["message", "op_user"]),
    ("INTERACTION_CREATE", {
        "id": "i", "type": 11, "scene": "group", "chat_type": 1, "timestamp": 1,
        "guild_id": "D", "channel_id": "C", "user_openid": "U", "group_openid": "G",
        "group_member_openid": "M", "application_id": "a", "version": 1, "data": {}},
     ["id", "type", "scene", "chat_type", "timestamp", "guild_id", "channel_id",
      "user_openid", "group_openid", "group_member_openid", "application_id", "version",
      "data"]),
    ("FRIEND_ADD", {"openid": "o", "timestamp": 1, "scene": 1, "scene_param": "p"},
     ["openid", "timestamp", "scene", "scene_param"]),
    ("GROUP_ADD_ROBOT", {"group_openid": "g", "op_member_openid": "o", "timestamp": 1},
     ["group_openid", "op_member_openid", "timestamp"]),
    ("GROUP_MEMBER_ADD", {"group_openid": "g", "member_openid": "m", "user_openid": "u",
                          "op_member_openid": "o", "timestamp": 1},
     ["group_openid", "member_openid", "user_openid", "op_member_openid", "timestamp"]),
    ("MESSAGE_AUDIT_PASS", {"audit_id": "a", "message_id": "m", "guild_id": "g",
                            "channel_id": "c", "group_openid": "G", "user_openid": "U",
                            "seq_in_channel": "1", "audit_time": "t", "create_time": "t"},
     ["audit_id", "message_id", "guild_id", "channel_id", "group_openid", "user_openid",
      "seq_in_channel", "audit_time", "create_time"]),
    ("SUBSCRIBE_MESSAGE_STATUS", {"openid": "o", "group_openid": "g", "result": []},
     ["openid", "group_openid", "result"]),
    ("ENTER_AIO", {"user_openid": "u", "from_source": "f", "timestamp": 1},
     ["user_openid", "from_source", "timestamp"]),
    ("GUILD_UPDATE", {"id": "g", "name": "n", "owner_id": "o", "member_count": 1,
                      "max_members": 2, "description": "d", "joined_at": "j",
                      "op_user_id": "u"},
     ["id", "name", "owner_id", "member_count", "max_members", "description", "joined_at",
      "op_user_id"]),
    ("CHANNEL_UPDATE", {"id": "c", "guild_id": "g", "name": "n", "type": 0, "sub_type": 0,
                        "parent_id": "p", "owner_id": "o", "op_user_id": "u"},
     ["id", "guild_id", "name", "type", "sub_type", "parent_id", "owner_id", "op_user_id"]),
    ("GUILD_MEMBER_UPDATE", {"guild_id": "g", "user": {}, "nick": "n", "roles": [],
                             "joined_at": "j", "op_user_id": "u"},
     ["guild_id", "user", "nick", "roles", "joined_at", "op_user_id"]),
    ("MESSAGE_REACTION_ADD", {"user_id": "u", "guild_id": "g", "channel_id": "c",
                              "target": {}, "emoji": {}},
     ["user_id", "guild_id", "channel_id", "target", "emoji"]),
    ("FORUM_PUBLISH_AUDIT_RESULT", {"guild_id": "g", "channel_id": "c", "author_id": "a",
                                    "thread_id": "t", "post_id": "p", "reply_id": "r",
                                    "type": 1, "result": 0, "err_msg": "e"},
     ["guild_id", "channel_id", "author_id", "thread_id", "post_id", "reply_id", "type",
      "result", "err_msg"]),
    ("OPEN_FORUM_THREAD_CREATE", {"guild_id": "g", "channel_id": "c", "author_id": "a"},
     ["guild_id", "channel_id", "author_id"]),
    ("AUDIO_START", {"guild_id": "g", "channel_id": "c", "audio_url": "u", "text": "t",
                     "user_id": "u"},
     ["guild_id", "channel_id", "audio_url", "text", "user_id"]),
    ("AUDIO_OR_LIVE_CHANNEL_MEMBER_EXIT", {"guild_id": "g", "channel_id": "c",
                                           "channel_type": 5, "user_id": "u"},
     ["guild_id", "channel_id", "channel_type", "user_id"]),
]
CHECKED_CASES = [(t, d, key) for t, d, keys in CHECKED for key in keys]


def test_each_field_table_starts_from_a_well_formed_payload() -> None:
    for t, d, _ in CHECKED:
        assert isinstance(parse_event(frame(t, d)), EVENT_CLASSES[t]), t


@pytest.mark.parametrize(("t", "d", "key"), CHECKED_CASES,
                         ids=[f"{t}.{key}" for t, _, key in CHECKED_CASES])
def test_a_wrong_kind_of_value_in_a_read_field_is_reported_by_name(
    t: str, d: dict[str, Any], key: str
) -> None:
    wrong: Any = [] if isinstance(d.get(key), dict) else {"unexpected": True}
    event = parse_event(frame(t, {**d, key: wrong}))
    assert isinstance(event, MalformedEvent), event
    assert event.error.startswith(f"d.{key}: expected ")


# --- docs --------------------------------------------------------------------------------


def test_the_docs_table_lists_every_type_with_its_class() -> None:
    text = DOCS.read_text(encoding="utf-8")
    table = text[text.index("Event type → class"):text.index("Family base classes")]
    documented: dict[str, str] = {}
    for types, cls in re.findall(r"\* - (``[A-Z_].*?)\n\s+- :class:`~?([\w.]+)`", table):
        for name in re.findall(r"``([A-Z0-9_]+)``", types):
            documented[name] = cls.rsplit(".", 1)[-1]
    assert documented == {t: cls.__name__ for t, cls in EVENT_CLASSES.items()}


def test_the_docs_autodoc_every_public_name() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\.\. auto\w+:: qqproto\.models\.(\w+)", text, re.M))
    assert set(models.__all__) - documented == {"ParsedEvent", "TimestampValue"}
