"""ReplyContext: msg_seq allocation, windows, caps, explicit exhaustion, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._values import ChatScope
from qqproto.errors import ExhaustedReason, ReplyExhaustedError, ReplyWindowClosedError
from qqproto.rest._replies import (
    DEFAULT_REPLY_LIMITS,
    DEFAULT_REPLY_WINDOWS,
    OnExhausted,
    Reply,
    ReplyContext,
)


def test_defaults_follow_the_fact_sheet() -> None:
    assert DEFAULT_REPLY_WINDOWS == {ChatScope.C2C: 3600.0, ChatScope.GROUP: 300.0,
                                     ChatScope.CHANNEL: 300.0, ChatScope.DM: 300.0}
    # c2c: OD says 5, OD2 says 4 — the safe 4.
    assert DEFAULT_REPLY_LIMITS == {ChatScope.C2C: 4, ChatScope.GROUP: 5,
                                    ChatScope.CHANNEL: None, ChatScope.DM: None}


def test_msg_seq_counts_from_one_per_message() -> None:
    ctx = ReplyContext()
    ctx.received(ChatScope.GROUP, msg_id="A", now=0.0)
    ctx.received(ChatScope.GROUP, msg_id="B", now=0.0)
    assert ctx.reply(ChatScope.GROUP, msg_id="A", now=1.0) == Reply(msg_id="A", msg_seq=1)
    assert ctx.reply(ChatScope.GROUP, msg_id="A", now=2.0) == Reply(msg_id="A", msg_seq=2)
    assert ctx.reply(ChatScope.GROUP, msg_id="B", now=3.0) == Reply(msg_id="B", msg_seq=1)
    assert ctx.reply(ChatScope.GROUP, msg_id="A", now=4.0).passive


def test_event_ids_are_tracked_apart_from_msg_ids() -> None:
    ctx = ReplyContext()
    ctx.received(ChatScope.C2C, event_id="X", now=0.0)
    ctx.received(ChatScope.C2C, msg_id="X", now=0.0)
    assert ctx.reply(ChatScope.C2C, event_id="X", now=1.0) == Reply(event_id="X", msg_seq=1)
    assert ctx.reply(ChatScope.C2C, msg_id="X", now=1.0) == Reply(msg_id="X", msg_seq=1)


def test_a_repeat_delivery_keeps_the_first_time_and_counter() -> None:
    ctx = ReplyContext()
    ctx.received(ChatScope.GROUP, msg_id="A", now=0.0)
    ctx.reply(ChatScope.GROUP, msg_id="A", now=1.0)
    ctx.received(ChatScope.GROUP, msg_id="A", now=200.0)
    assert ctx.reply(ChatScope.GROUP, msg_id="A", now=201.0).msg_seq == 2
    with pytest.raises(ReplyExhaustedError):
        ctx.reply(ChatScope.GROUP, msg_id="A", now=300.0)


@pytest.mark.parametrize(("scope", "window"), [
    (ChatScope.GROUP, 300.0), (ChatScope.C2C, 3600.0), (ChatScope.CHANNEL, 300.0),
    (ChatScope.DM, 300.0)])
def test_the_window_closes_a_safety_margin_early(scope: ChatScope, window: float) -> None:
    ctx = ReplyContext()
    ctx.received(scope, msg_id="M", now=100.0)
    assert ctx.reply(scope, msg_id="M", now=100.0 + window - 10.001).passive
    with pytest.raises(ReplyExhaustedError) as info:
        ctx.reply(scope, msg_id="M", now=100.0 + window - 10.0)
    assert info.value.reason is ExhaustedReason.EXPIRED
    assert info.value.scope is scope and info.value.reply_to == "M"


def test_c2c_allows_four_replies() -> None:
    ctx = ReplyContext()
    ctx.received(ChatScope.C2C, msg_id="M", now=0.0)
    assert [ctx.reply(ChatScope.C2C, msg_id="M", now=1.0).msg_seq for _ in range(4)] == [
        1, 2, 3, 4]
    with pytest.raises(ReplyExhaustedError) as info:
        ctx.reply(ChatScope.C2C, msg_id="M", now=1.0)
    assert info.value.reason is ExhaustedReason.LIMIT
    assert str(info.value).startswith("cannot reply to c2c message 'M': the reply count")


def test_group_allows_five_replies_and_guild_is_uncapped() -> None:
    ctx = ReplyContext()
    ctx.received(ChatScope.GROUP, msg_id="G", now=0.0)
    ctx.received(ChatScope.CHANNEL, msg_id="C", now=0.0)
    for _ in range(5):
        ctx.reply(ChatScope.GROUP, msg_id="G", now=1.0)
    with pytest.raises(ReplyExhaustedError):
        ctx.reply(ChatScope.GROUP, msg_id="G", now=1.0)
    assert ctx.remaining(ChatScope.CHANNEL, msg_id="C", now=1.0) is None
    assert ctx.replies(ChatScope.CHANNEL, msg_id="C", count=20, now=1.0)[-1].msg_seq == 20


def test_exhaustion_is_a_reply_window_closed_error() -> None:
    assert issubclass(ReplyExhaustedError, ReplyWindowClosedError)
    err = ReplyExhaustedError(ExhaustedReason.UNKNOWN, ChatScope.GROUP, "Z")
    assert err.status is None and err.code is None and not err.retryable


def test_an_untracked_message_is_exhausted_with_reason_unknown() -> None:
    ctx = ReplyContext()
    with pytest.raises(ReplyExhaustedError) as info:
        ctx.reply(ChatScope.GROUP, msg_id="never-seen", now=0.0)
    assert info.value.reason is ExhaustedReason.UNKNOWN


def test_active_fallback_is_explicit() -> None:
    ctx = ReplyContext(on_exhausted=OnExhausted.ACTIVE)
    assert ctx.reply(ChatScope.GROUP, msg_id="unknown", now=0.0) == Reply(
        fallback=ExhaustedReason.UNKNOWN)
    ctx.received(ChatScope.GROUP, msg_id="M", now=0.0)
    late = ctx.reply(ChatScope.GROUP, msg_id="M", now=1000.0)
    assert late == Reply(fallback=ExhaustedReason.EXPIRED)
    assert not late.passive and late.msg_seq is None


def test_a_batch_is_all_or_nothing_under_raise() -> None:
    ctx = ReplyContext()
    ctx.received(ChatScope.C2C, msg_id="M", now=0.0)
    ctx.reply(ChatScope.C2C, msg_id="M", now=0.0)
    with pytest.raises(ReplyExhaustedError):
        ctx.replies(ChatScope.C2C, msg_id="M", count=4, now=0.0)
    assert ctx.remaining(ChatScope.C2C, msg_id="M", now=0.0) == 3
    assert [r.msg_seq for r in ctx.replies(ChatScope.C2C, msg_id="M", count=3, now=0.0)] == [
        2, 3, 4]


def test_a_batch_over_the_cap_falls_back_to_active_for_the_rest() -> None:
    ctx = ReplyContext(on_exhausted=OnExhausted.ACTIVE)
    ctx.received(ChatScope.C2C, msg_id="M", now=0.0)
    assert ctx.replies(ChatScope.C2C, msg_id="M", count=6, now=0.0) == [
        Reply(msg_id="M", msg_seq=1), Reply(msg_id="M", msg_seq=2),
        Reply(msg_id="M", msg_seq=3), Reply(msg_id="M", msg_seq=4),
        Reply(fallback=ExhaustedReason.LIMIT), Reply(fallback=ExhaustedReason.LIMIT)]


def test_typing_may_take_a_seq_without_a_slot() -> None:
    ctx = ReplyContext()
    ctx.received(ChatScope.C2C, msg_id="M", now=0.0)
    assert ctx.reply(ChatScope.C2C, msg_id="M", now=0.0, consumes_slot=False).msg_seq == 1
    assert ctx.remaining(ChatScope.C2C, msg_id="M", now=0.0) == 4
    assert ctx.reply(ChatScope.C2C, msg_id="M", now=0.0).msg_seq == 2


def test_windows_and_limits_can_be_overridden() -> None:
    ctx = ReplyContext(windows={ChatScope.C2C: 300.0}, limits={ChatScope.C2C: 5},
                       safety_margin=0.0)
    ctx.received(ChatScope.C2C, msg_id="M", now=0.0)
    assert ctx.remaining(ChatScope.C2C, msg_id="M", now=299.0) == 5
    assert ctx.remaining(ChatScope.C2C, msg_id="M", now=300.0) == 0
    assert ctx.remaining(ChatScope.C2C, msg_id="other", now=0.0) == 0


def test_memory_is_bounded_and_expired_messages_go_first() -> None:
    ctx = ReplyContext(max_tracked=3)
    ctx.received(ChatScope.C2C, msg_id="old-c2c", now=0.0)  # window 3600 s
    ctx.received(ChatScope.GROUP, msg_id="g1", now=0.0)  # window 300 s
    ctx.received(ChatScope.GROUP, msg_id="g2", now=500.0)
    ctx.received(ChatScope.GROUP, msg_id="g3", now=500.0)
    # Over the bound: the oldest goes although it is still open, then the expired g1.
    assert len(ctx) == 2
    assert ctx.remaining(ChatScope.C2C, msg_id="old-c2c", now=500.0) == 0
    assert ctx.remaining(ChatScope.GROUP, msg_id="g2", now=500.0) == 5
    ctx.received(ChatScope.GROUP, msg_id="g4", now=1000.0)
    # g1 (expired), g2 and g3 (expired at 790 s) are gone; only g4 remains.
    assert len(ctx) == 1 and ctx.remaining(ChatScope.GROUP, msg_id="g4", now=1000.0) == 5
    assert repr(ctx) == "ReplyContext(tracked=1, on_exhausted=RAISE)"


@pytest.mark.parametrize("kwargs", [{}, {"msg_id": "a", "event_id": "b"}, {"msg_id": ""}])
def test_exactly_one_id_is_needed(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ReplyContext().received(ChatScope.C2C, now=0.0, **kwargs)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_tracked"):
        ReplyContext(max_tracked=0)
    ctx = ReplyContext()
    ctx.received(ChatScope.C2C, msg_id="M", now=0.0)
    with pytest.raises(ValueError, match="count"):
        ctx.replies(ChatScope.C2C, msg_id="M", count=0, now=0.0)


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 3),
                          st.floats(0, 100)), max_size=40))
def test_seqs_never_repeat_for_one_message(ops: list[tuple[str, int, float]]) -> None:
    ctx = ReplyContext(on_exhausted=OnExhausted.ACTIVE, limits={ChatScope.GROUP: None})
    for mid in "abc":
        ctx.received(ChatScope.GROUP, msg_id=mid, now=0.0)
    seen: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    for mid, count, now in ops:
        for reply in ctx.replies(ChatScope.GROUP, msg_id=mid, count=count, now=now):
            assert reply.msg_seq is not None
            seen[mid].append(reply.msg_seq)
    for seqs in seen.values():
        assert seqs == list(range(1, len(seqs) + 1))


def test_many_chats_never_grow_past_the_bound() -> None:
    ctx = ReplyContext(max_tracked=100)
    for i in range(5000):
        ctx.received(ChatScope.C2C, msg_id=f"m{i}", now=float(i))
        assert len(ctx) <= 100
    assert ctx.reply(ChatScope.C2C, msg_id="m4999", now=5000.0).msg_seq == 1


def test_a_window_shorter_than_the_margin_is_never_open() -> None:
    ctx = ReplyContext(windows={ChatScope.C2C: 5.0}, on_exhausted=OnExhausted.ACTIVE)
    ctx.received(ChatScope.C2C, msg_id="M", now=0.0)
    assert len(ctx) == 0
    assert ctx.reply(ChatScope.C2C, msg_id="M", now=0.0).fallback is ExhaustedReason.UNKNOWN
