"""PendingApprovals: one outcome per tap, the right ACK code for each, only the asker (or
a named approver) in the chat asked decides, a question resolves at most once, and every
deadline ends its question (time moved by arithmetic)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from qqproto import ChatScope, InteractionResult, Markdown
from qqproto.approvals import (
    ApprovalRequest,
    Audience,
    Decision,
    Expired,
    PendingApprovals,
    QuestionInput,
    QuestionKind,
    QuestionState,
    RefusalReason,
    Refused,
    Resolved,
)
from qqproto.errors import TooManyQuestionsError, TransitionError
from qqproto.events import Dispatch
from qqproto.models import InteractionCreate, parse_event

REQUEST = ApprovalRequest(title="deploy", command="make deploy", timeout=30)
_ids = iter(range(10**9))


def tap(data: str, *, scene: str = "group", user: str = "M1", chat: str = "G1",
        guild: str | None = None, channel: str | None = None,
        chat_type: int | None = None) -> InteractionCreate:
    """An INTERACTION_CREATE as the platform sends it (rest.md §5.2)."""
    d: dict[str, Any] = {"id": f"i{next(_ids)}", "type": 11, "version": 1,
                         "data": {"type": 11, "resolved": {"button_data": data}}}
    if scene:
        d["scene"] = scene
    if chat_type is not None:
        d["chat_type"] = chat_type
    if scene == "c2c":
        d["user_openid"] = user
    elif chat_type == 2:  # the docs' own C2C example: the operator in resolved.user_id
        d["data"]["resolved"]["user_id"] = user
    elif scene == "group":
        d.update(group_openid=chat, group_member_openid=user)
    else:
        d.update(guild_id=guild or "", channel_id=channel or "")
        d["data"]["resolved"]["user_id"] = user
    event = parse_event(Dispatch(type="INTERACTION_CREATE", seq=1, id="ev", data=d))
    assert isinstance(event, InteractionCreate)
    return event


def group_question(table: PendingApprovals, *, now: float = 0.0, user: str = "M1",
                   chat: str = "G1", **kw: Any) -> Any:
    audience = Audience(scope=ChatScope.GROUP, chat_id=chat, user_id=user, **kw)
    return table.ask_approval(REQUEST, audience, now=now)


def test_the_asker_decides_and_everyone_else_is_refused_with_the_right_code() -> None:
    table = PendingApprovals(rng=random.Random(7))
    q = group_question(table)
    assert q.key.startswith("q") and q.deadline == 30.0 and len(table) == 1
    stranger = table.receive_tap(tap(f"approve:{q.key}:allow-once", user="M2"), now=1.0)
    assert isinstance(stranger, Refused)
    assert (stranger.reason, stranger.ack) == (RefusalReason.NOT_ALLOWED,
                                               InteractionResult.NO_PERMISSION)
    other_group = table.receive_tap(tap(f"approve:{q.key}:allow-once", chat="G2"), now=1.0)
    assert isinstance(other_group, Refused) and other_group.ack == 4
    allowed = table.receive_tap(tap(f"approve:{q.key}:allow-always"), now=2.0)
    assert isinstance(allowed, Resolved)
    assert (allowed.decision, allowed.operator_id, allowed.ack) == (
        Decision.ALLOW_ALWAYS, "M1", InteractionResult.SUCCESS)
    again = table.receive_tap(tap(f"approve:{q.key}:deny"), now=3.0)
    assert isinstance(again, Refused) and again.ack is InteractionResult.DUPLICATE
    late_stranger = table.receive_tap(tap(f"approve:{q.key}:deny", user="M2"), now=3.0)
    assert isinstance(late_stranger, Refused) and late_stranger.ack == 4
    assert table.state_of(q.key) is QuestionState.RESOLVED and len(table) == 0
    assert table.get_timer() is None and table.handle_timer(100.0) == []


def test_a_named_approver_decides_too() -> None:
    table = PendingApprovals()
    q = group_question(table, approvers=("ADMIN",))
    outcome = table.receive_tap(tap(f"approve:{q.key}:deny", user="ADMIN"), now=1.0)
    assert isinstance(outcome, Resolved) and outcome.decision is Decision.DENY
    assert q.message.keyboard is not None
    assert q.message.keyboard.rows[0][0].permission.user_ids == ("M1", "ADMIN")


def test_the_deadline_expires_a_question_by_the_timer_contract() -> None:
    table = PendingApprovals()
    first = group_question(table, now=0.0)
    second = group_question(table, now=10.0, chat="G2")
    assert table.get_timer() == 30.0
    assert table.handle_timer(29.999) == []
    late = table.receive_tap(tap(f"approve:{first.key}:allow-once"), now=30.0)
    assert isinstance(late, Refused) and late.reason is RefusalReason.EXPIRED
    assert late.ack is InteractionResult.FAILED
    assert table.handle_timer(table.get_timer() or 0.0) == [Expired(question=first)]
    assert table.get_timer() == 40.0
    assert [e.question.key for e in table.handle_timer(40.0)] == [second.key]
    assert table.state_of(first.key) is QuestionState.EXPIRED
    assert Expired(question=first).decision is Decision.TIMEOUT


def test_unknown_withdrawn_and_foreign_data_get_their_own_answers() -> None:
    table = PendingApprovals()
    assert table.receive_tap(tap("my-own-button"), now=0.0) is None
    assert table.receive_tap(tap("update_prompt:y"), now=0.0) is None  # the seed's keyless form
    unknown = table.receive_tap(tap("approve:nobody:deny"), now=0.0)
    assert isinstance(unknown, Refused) and unknown.reason is RefusalReason.UNKNOWN
    q = group_question(table)
    wrong_kind = table.receive_tap(tap(f"update_prompt:{q.key}:y"), now=0.0)
    assert isinstance(wrong_kind, Refused) and wrong_kind.reason is RefusalReason.UNKNOWN
    table.withdraw(q.key)
    gone = table.receive_tap(tap(f"approve:{q.key}:deny"), now=1.0)
    assert isinstance(gone, Refused) and gone.ack is InteractionResult.FAILED
    assert table.state_of(q.key) is QuestionState.WITHDRAWN
    assert table.expire(q.key) is None and table.get_timer() is None


def test_the_always_button_counts_only_when_it_was_offered() -> None:
    table = PendingApprovals()
    audience = Audience(scope=ChatScope.C2C, chat_id="U1", user_id="U1")
    request = ApprovalRequest(title="t", allow_always=False)
    q = table.ask_approval(request, audience, now=0.0)
    forged = table.receive_tap(tap(f"approve:{q.key}:allow-always", scene="c2c", user="U1"),
                               now=1.0)
    assert isinstance(forged, Refused) and forged.reason is RefusalReason.UNKNOWN
    once = table.receive_tap(tap(f"approve:{q.key}:allow-once", scene="c2c", user="U1"), now=1.0)
    assert isinstance(once, Resolved)


@pytest.mark.parametrize(("scope", "chat", "guild", "allowed", "refused"), [
    # C2C: the chat's user, in a c2c scene; the docs' example has no user_openid.
    (ChatScope.C2C, "U1", None,
     [{"scene": "c2c", "user": "U1"}, {"scene": "", "chat_type": 2, "user": "U1"}],
     [{"scene": "c2c", "user": "U2"}, {"scene": "group", "chat": "U1", "user": "U1"}]),
    (ChatScope.GROUP, "G1", None,
     [{"scene": "group", "chat": "G1", "user": "U1"}],
     [{"scene": "group", "chat": "G2", "user": "U1"}, {"scene": "c2c", "user": "U1"},
      {"scene": "guild", "channel": "G1", "user": "U1"}]),
    (ChatScope.CHANNEL, "C1", "GUILD",
     [{"scene": "guild", "channel": "C1", "guild": "GUILD", "user": "U1"},
      {"scene": "guild", "channel": "C1", "user": "U1"}],
     [{"scene": "guild", "channel": "C2", "guild": "GUILD", "user": "U1"},
      {"scene": "guild", "channel": "C1", "guild": "OTHER", "user": "U1"},
      {"scene": "guild", "channel": "C1", "guild": "GUILD", "user": "U2"}]),
    (ChatScope.DM, "DMG", None,
     [{"scene": "guild", "guild": "DMG", "channel": "dm-channel", "user": "U1"}],
     [{"scene": "guild", "guild": "DMG2", "user": "U1"},
      {"scene": "guild", "guild": "DMG", "user": "U2"}]),
])
def test_who_may_decide_in_each_scope(scope: ChatScope, chat: str, guild: str | None,
                                      allowed: list[dict[str, Any]],
                                      refused: list[dict[str, Any]]) -> None:
    for where in refused + allowed:
        table = PendingApprovals()
        audience = Audience(scope=scope, chat_id=chat, user_id="U1", guild_id=guild)
        q = table.ask_confirmation("ok?", audience, now=0.0)
        outcome = table.receive_tap(tap(f"update_prompt:{q.key}:y", **where), now=1.0)
        if where in allowed:
            assert isinstance(outcome, Resolved) and outcome.decision is Decision.ALLOW_ONCE, where
        else:
            assert isinstance(outcome, Refused), where
            assert outcome.reason is RefusalReason.NOT_ALLOWED, where
    assert set(ChatScope) == {ChatScope.C2C, ChatScope.GROUP, ChatScope.CHANNEL, ChatScope.DM}


def test_a_session_key_is_used_when_free_and_small_else_an_opaque_key() -> None:
    table = PendingApprovals(rng=random.Random(1))
    audience = Audience(scope=ChatScope.C2C, chat_id="U1", user_id="U1")
    keyed = ApprovalRequest(title="t", session_key="agent:main:qqbot:c2c:U1")
    first = table.ask_approval(keyed, audience, now=0.0)
    assert first.key == "agent:main:qqbot:c2c:U1"
    second = table.ask_approval(keyed, audience, now=0.0)  # the key is taken
    assert second.key != first.key and second.key.startswith("q")
    huge = table.ask_approval(ApprovalRequest(title="t", session_key="k" * 60), audience, now=0.0)
    assert len(huge.key) == 13
    assert {first.key, second.key, huge.key} == {q.key for q in table.open_questions()}


def test_the_table_is_bounded() -> None:
    table = PendingApprovals(max_open=2, remember=1)
    a, b = group_question(table), group_question(table)
    with pytest.raises(TooManyQuestionsError):
        group_question(table)
    table.expire(a.key)
    table.expire(b.key)
    assert table.state_of(a.key) is None  # forgotten: only one closed question is kept
    assert table.state_of(b.key) is QuestionState.EXPIRED
    with pytest.raises(ValueError):
        PendingApprovals(max_open=0)


def test_a_confirmation_maps_yes_and_no_and_takes_markdown() -> None:
    table = PendingApprovals()
    audience = Audience(scope=ChatScope.GROUP, chat_id="G1", user_id="M1")
    q = table.ask_confirmation(Markdown("**更新？**"), audience, now=0.0, timeout=5)
    assert q.kind is QuestionKind.CONFIRMATION and q.deadline == 5.0
    assert q.message.markdown == Markdown("**更新？**")
    no = table.receive_tap(tap(f"update_prompt:{q.key}:n"), now=1.0)
    assert isinstance(no, Resolved) and no.decision is Decision.DENY


def test_audiences_come_from_messages_and_taps() -> None:
    with pytest.raises(ValueError, match="C2C"):
        Audience(scope=ChatScope.C2C, chat_id="U1", user_id="U2")
    with pytest.raises(ValueError):
        Audience(scope=ChatScope.GROUP, chat_id="", user_id="U2")
    channel_tap = tap("x", scene="guild", channel="C1", guild="GU", user="U9")
    assert Audience.of(channel_tap) == Audience(scope=ChatScope.CHANNEL, chat_id="C1",
                                                user_id="U9", guild_id="GU")
    with pytest.raises(ValueError, match="who tapped"):
        Audience.of(tap("x", scene="", user=""))


def test_a_closed_question_cannot_move_again() -> None:
    table = PendingApprovals()
    q = group_question(table)
    table.expire(q.key)
    with pytest.raises(TransitionError, match="no transition from EXPIRED"):
        table._closed[q.key].fsm.fire(QuestionInput.AUTHORISED_TAP)


# -- the state machine ------------------------------------------------------------------

SCOPES = {
    ChatScope.C2C: ("U1", "U2"),
    ChatScope.GROUP: ("G1", "G2"),
    ChatScope.CHANNEL: ("C1", "C2"),
    ChatScope.DM: ("D1", "D2"),
}
USERS = ("U1", "U2", "U3")


def tap_in(scope: ChatScope, chat: str, user: str, data: str) -> InteractionCreate:
    if scope is ChatScope.C2C:
        return tap(data, scene="c2c", user=user)
    if scope is ChatScope.GROUP:
        return tap(data, scene="group", chat=chat, user=user)
    if scope is ChatScope.CHANNEL:
        return tap(data, scene="guild", channel=chat, guild="GUILD", user=user)
    return tap(data, scene="guild", guild=chat, channel="dmc", user=user)


class QuestionsMachine(RuleBasedStateMachine):
    """Random questions in random chats, random taps by random people, duplicates,
    forged data and expiries, interleaved."""

    @initialize()
    def start(self) -> None:
        self.table = PendingApprovals(rng=random.Random(0), max_open=6, remember=50)
        self.now = 0.0
        self.asked: dict[str, Any] = {}
        self.resolved: dict[str, Resolved] = {}
        self.ended: set[str] = set()

    @precondition(lambda self: len(self.table) < 6)
    @rule(scope=st.sampled_from(list(SCOPES)), which=st.integers(0, 1),
          user=st.sampled_from(USERS), timeout=st.floats(1, 50),
          confirmation=st.booleans(), approver=st.sampled_from(("", "U3")))
    def ask(self, scope: ChatScope, which: int, user: str, timeout: float,
            confirmation: bool, approver: str) -> None:
        chat = SCOPES[scope][which]
        if scope is ChatScope.C2C:
            user = chat
        audience = Audience(scope=scope, chat_id=chat, user_id=user,
                            approvers=(approver,) if approver else (),
                            guild_id="GUILD" if scope is ChatScope.CHANNEL else None)
        if confirmation:
            q = self.table.ask_confirmation("ok?", audience, now=self.now, timeout=timeout)
        else:
            q = self.table.ask_approval(REQUEST, audience, now=self.now, timeout=timeout)
        assert q.key not in self.asked
        self.asked[q.key] = q

    @precondition(lambda self: self.asked)
    @rule(data=st.data(), user=st.sampled_from(USERS), where=st.integers(0, 1),
          answer=st.sampled_from(["allow-once", "allow-always", "deny", "y", "n"]))
    def tap_a_question(self, data: st.DataObject, user: str, where: int, answer: str) -> None:
        key = data.draw(st.sampled_from(sorted(self.asked)))
        q = self.asked[key]
        scope = q.audience.scope
        chat = user if scope is ChatScope.C2C else SCOPES[scope][where]  # c2c: the user
        prefix = "update_prompt" if answer in ("y", "n") else "approve"
        outcome = self.table.receive_tap(tap_in(scope, chat, user, f"{prefix}:{key}:{answer}"),
                                         now=self.now)
        assert outcome is not None  # every tap on a question's data gets one outcome
        assert outcome.ack in InteractionResult
        right_kind = (prefix == "approve") == (q.kind is QuestionKind.APPROVAL)
        authorised = user in q.audience.deciders and chat == q.audience.chat_id
        if not right_kind:
            assert isinstance(outcome, Refused) and outcome.reason is RefusalReason.UNKNOWN
        elif isinstance(outcome, Resolved):
            # Only an authorised operator, in the chat asked, before the deadline, once.
            assert key not in self.resolved and key not in self.ended
            assert authorised and self.now < q.deadline
            self.resolved[key] = outcome
        elif not authorised:
            assert outcome.reason is RefusalReason.NOT_ALLOWED
            assert outcome.ack is InteractionResult.NO_PERMISSION
        elif key in self.resolved:
            assert outcome.ack is InteractionResult.DUPLICATE
        else:
            assert key in self.ended or self.now >= q.deadline
            assert outcome.reason is RefusalReason.EXPIRED

    @rule(data=st.text(max_size=20))
    def tap_anything(self, data: str) -> None:
        outcome = self.table.receive_tap(tap(data), now=self.now)
        assert outcome is None or isinstance(outcome, Refused)

    @rule(dt=st.floats(0, 20))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        timer = self.table.get_timer()
        for expired in self.table.handle_timer(self.now):
            key = expired.question.key
            assert key not in self.resolved and key not in self.ended
            assert expired.question.deadline <= self.now
            assert timer is not None and timer <= expired.question.deadline
            self.ended.add(key)

    @invariant()
    def nothing_waits_forever(self) -> None:
        if not hasattr(self, "table"):
            return
        timer = self.table.get_timer()
        open_keys = {q.key for q in self.table.open_questions()}
        assert open_keys == set(self.asked) - set(self.resolved) - self.ended
        if open_keys:
            assert timer == min(self.asked[k].deadline for k in open_keys)
        else:
            assert timer is None


QuestionsMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=30,
                                              deadline=None)
TestQuestionsMachine = QuestionsMachine.TestCase
