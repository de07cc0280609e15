"""One access policy for every scope, and the gate the drivers apply before any handler.

The seed adapter's bypass (guild channel @-messages and guild DMs never checked) cannot
come back: a policy needs a rule for every member of ChatScope, every message model and
the tap yield a subject, and the gate covers every dispatch type whose model is one.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from qqproto import ChatScope, InteractionResult, Secret, Settings
from qqproto.approvals import (
    SUBJECT_TYPES,
    AccessPolicy,
    AccessRule,
    Admission,
    ApprovalRequest,
    Audience,
    Gate,
    PendingApprovals,
    Place,
    RefusalReason,
    Resolved,
    Subject,
    subject_of,
)
from qqproto.events import Dispatch
from qqproto.models import EVENT_CLASSES, InteractionCreate, MessageEvent, ModelEvent, parse_event
from qqproto.simulator import _payloads

STAMP = "2025-01-01T00:00:00+08:00"


def dispatch(kind: str, d: dict[str, Any]) -> ModelEvent:
    event = parse_event(Dispatch(type=kind, seq=1, id="ev-1", data=d))
    assert isinstance(event, ModelEvent)
    return event


def c2c(user: str = "U1") -> ModelEvent:
    return dispatch("C2C_MESSAGE_CREATE", _payloads.c2c_message(
        message_id="m", user_openid=user, content="hi", timestamp=STAMP))


def group(chat: str = "G1", member: str = "M1", kind: str = "GROUP_AT_MESSAGE_CREATE",
          ) -> ModelEvent:
    return dispatch(kind, _payloads.group_at_message(
        message_id="m", group_openid=chat, member_openid=member, content="hi",
        timestamp=STAMP))


def channel(chat: str = "C1", guild: str = "GU1", user: str = "U1",
            kind: str = "AT_MESSAGE_CREATE") -> ModelEvent:
    return dispatch(kind, _payloads.channel_message(
        message_id="m", channel_id=chat, guild_id=guild, author_id=user, content="hi",
        timestamp=STAMP, seq=1, bot_id="BOT", at_bot=kind == "AT_MESSAGE_CREATE"))


def dm(guild: str = "DM1", src: str = "GU1", user: str = "U1") -> ModelEvent:
    return dispatch("DIRECT_MESSAGE_CREATE", _payloads.dm_message(
        message_id="m", guild_id=guild, channel_id="dmc", src_guild_id=src, author_id=user,
        content="hi", timestamp=STAMP, seq=1))


def tap(scene: str, *, user: str = "U1", data: str = "b", **ids: Any) -> ModelEvent:
    d = _payloads.interaction(interaction_id="i1", scene=scene, timestamp=STAMP,
                              application_id="app", button_data=data, **ids)
    if scene == "c2c":
        d["user_openid"] = user
    elif scene == "group":
        d["group_member_openid"] = user
    else:
        d["data"]["resolved"]["user_id"] = user
    return dispatch("INTERACTION_CREATE", d)


#: One sample per dispatch type a user sends the bot.
SAMPLES = {
    "C2C_MESSAGE_CREATE": c2c(),
    "GROUP_AT_MESSAGE_CREATE": group(),
    "GROUP_MESSAGE_CREATE": group(kind="GROUP_MESSAGE_CREATE"),
    "AT_MESSAGE_CREATE": channel(),
    "MESSAGE_CREATE": channel(kind="MESSAGE_CREATE"),
    "DIRECT_MESSAGE_CREATE": dm(),
    "INTERACTION_CREATE": tap("group", group_openid="G1"),
}


def test_every_dispatch_a_user_sends_is_a_subject_of_the_policy() -> None:
    # A new message model in the models' table lands in SUBJECT_TYPES by itself; this
    # test then fails until it has a sample here that yields a subject.
    assert set(SAMPLES) == SUBJECT_TYPES
    assert {name for name, cls in EVENT_CLASSES.items()
                             if issubclass(cls, MessageEvent | InteractionCreate)} == SUBJECT_TYPES
    for name, event in SAMPLES.items():
        assert event.type == name and subject_of(event) is not None, name


def test_a_policy_needs_a_rule_for_every_scope() -> None:
    rules = {scope: AccessRule(open=True) for scope in ChatScope}
    assert set(AccessPolicy(rules).rules) == set(ChatScope)
    for left_out in ChatScope:
        partial = {s: r for s, r in rules.items() if s is not left_out}
        with pytest.raises(ValueError, match=f"missing: {left_out.value}"):
            AccessPolicy(partial)
    for built in (AccessPolicy.open(), AccessPolicy.only(users=["U1"]),
                  AccessPolicy.uniform(AccessRule(open=False))):
        assert set(built.rules) == set(ChatScope)
    with pytest.raises(TypeError):
        AccessPolicy({**rules, ChatScope.DM: "open"})  # type: ignore[arg-type]


#: An event of each scope, by the user "BAD", and the same place by "U1".
BY_SCOPE = {
    ChatScope.C2C: (c2c("BAD"), c2c("U1")),
    ChatScope.GROUP: (group(member="BAD"), group(member="U1")),
    ChatScope.CHANNEL: (channel(user="BAD"), channel(user="U1")),
    ChatScope.DM: (dm(user="BAD"), dm(user="U1")),
}


@pytest.mark.parametrize("scope", list(ChatScope))
def test_a_user_denied_in_one_scope_is_refused_there_and_nowhere_else(scope: ChatScope) -> None:
    assert set(BY_SCOPE) == set(ChatScope)  # exhaustive over the enum
    policy = AccessPolicy.open().replace(scope, AccessRule(open=True, deny_users={"BAD"}))
    for other, (bad, good) in BY_SCOPE.items():
        assert policy.admits(good)
        assert policy.admits(bad) is (other is not scope), other


def test_a_closed_rule_admits_its_users_and_chats_only() -> None:
    rule = AccessRule(open=False, allow_users={"OWNER"}, allow_chats={"G-OK", "GU-OK"})
    policy = AccessPolicy.uniform(rule)
    assert policy.admits(c2c("OWNER")) and not policy.admits(c2c("U1"))
    assert policy.admits(group("G-OK", "anyone")) and not policy.admits(group("G2", "anyone"))
    assert policy.admits(channel(guild="GU-OK"))  # a whole guild
    assert policy.admits(dm(src="GU-OK"))  # a DM from an allowed guild
    assert not policy.admits(channel()) and not policy.admits(dm())
    denied = AccessPolicy.uniform(AccessRule(open=False, allow_chats={"G-OK"},
                                             deny_users={"M9"}))
    assert not denied.admits(group("G-OK", "M9"))  # deny lists win


def test_guild_taps_are_judged_by_both_guild_rules_and_unknown_taps_by_all() -> None:
    dms_only = AccessPolicy.open().replace(ChatScope.CHANNEL, AccessRule(open=False))
    in_dm = tap("guild", guild_id="DM1", channel_id="dmc")
    assert subject_of(in_dm) == Subject("U1", (Place(ChatScope.CHANNEL, ("dmc", "DM1")),
                                               Place(ChatScope.DM, ("DM1", "dmc"))))
    assert dms_only.admits(in_dm)  # one rule admits it
    banned = AccessPolicy.open().replace(ChatScope.DM, AccessRule(open=True,
                                                                  deny_users={"U1"}))
    assert not banned.admits(in_dm)  # and a deny list of either refuses it
    unknown = dispatch("INTERACTION_CREATE", {"id": "i9", "data": {"resolved": {
        "button_data": "x", "user_id": "U1"}}})
    assert [p.scope for p in subject_of(unknown).places] == list(ChatScope)  # type: ignore[union-attr]
    assert AccessPolicy.open().admits(unknown)
    assert not AccessPolicy.open().replace(ChatScope.GROUP, AccessRule(
        open=True, deny_users={"U1"})).admits(unknown)


def test_events_no_user_sends_are_not_judged_and_rules_check_their_lists() -> None:
    friend = dispatch("FRIEND_ADD", {"openid": "U1", "timestamp": 1})
    assert subject_of(friend) is None and AccessPolicy.only().admits(friend)
    with pytest.raises(TypeError):
        AccessRule(open=False, allow_users="U1")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AccessRule(open=False, allow_users={""})
    with pytest.raises(TypeError):
        AccessRule(open="yes")  # type: ignore[arg-type]
    assert AccessPolicy.open() == AccessPolicy.open()
    assert hash(AccessPolicy.open()) == hash(AccessPolicy.open())
    assert repr(AccessPolicy.only()) == ("AccessPolicy(c2c=closed, group=closed, "
                                         "channel=closed, dm=closed)")
    assert Settings(app_id="1", secret=Secret("s"), access=AccessPolicy.open()).access is not None


# -- the gate ---------------------------------------------------------------------------

def gate(access: AccessPolicy | None = None, auto_ack: bool = True) -> Gate:
    return Gate(questions=PendingApprovals(rng=random.Random(3)), access=access,
                auto_ack=auto_ack)


def test_the_gate_parses_only_what_it_must() -> None:
    assert gate().needs_model("INTERACTION_CREATE")
    assert not gate().needs_model("C2C_MESSAGE_CREATE")
    assert gate(AccessPolicy.open()).needs_model("DIRECT_MESSAGE_CREATE")
    assert not gate(AccessPolicy.open()).needs_model("FRIEND_ADD")


def test_the_gate_refuses_what_the_policy_refuses_and_nacks_taps() -> None:
    g = gate(AccessPolicy.open(deny_users={"U1"}))
    assert g.admit(c2c(), now=0.0) == Admission(deliver=False, refused_by_policy=True)
    assert g.admit(tap("c2c"), now=0.0) == Admission(
        deliver=False, refused_by_policy=True, ack=InteractionResult.NO_PERMISSION)
    assert g.admit(c2c("U2"), now=0.0) == Admission(deliver=True)
    malformed = dispatch("C2C_MESSAGE_CREATE", {"content": "no id"})
    assert g.admit(malformed, now=0.0).deliver is False  # nobody knows who sent it
    assert gate().admit(malformed, now=0.0).deliver is True


def test_the_gate_answers_taps_on_questions_and_passes_the_rest_on() -> None:
    g = gate(auto_ack=False)
    q = g.questions.ask_approval(ApprovalRequest(title="t"), Audience(
        scope=ChatScope.GROUP, chat_id="G1", user_id="M1"), now=0.0)
    plain = g.admit(tap("group", group_openid="G1", user="M1", data="mine"), now=1.0)
    assert plain == Admission(deliver=True)  # auto_ack off: the handler ACKs
    assert gate().admit(tap("group", group_openid="G1"), now=0.0) == Admission(
        deliver=True, ack=InteractionResult.SUCCESS)
    data = f"approve:{q.key}:deny"
    stranger = g.admit(tap("group", group_openid="G1", user="M2", data=data), now=1.0)
    assert (stranger.deliver, stranger.ack) == (False, InteractionResult.NO_PERMISSION)
    decided = g.admit(tap("group", group_openid="G1", user="M1", data=data), now=1.0)
    assert (decided.deliver, decided.ack) == (False, InteractionResult.SUCCESS)
    assert isinstance(decided.outcome, Resolved)
    again = g.admit(tap("group", group_openid="G1", user="M1", data=data), now=1.0)
    assert (again.deliver, again.ack) == (True, InteractionResult.DUPLICATE)
    stale = g.admit(tap("group", group_openid="G1", user="M1", data="approve:old:deny"),
                    now=1.0)
    assert (stale.deliver, stale.ack) == (True, InteractionResult.FAILED)
    assert stale.outcome is not None and stale.outcome.reason is RefusalReason.UNKNOWN  # type: ignore[union-attr]
