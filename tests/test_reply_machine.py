"""ReplyContext against a plain reference model: messages arrive, time passes, replies
are asked for singly and in batches under both exhaustion policies; the context must
agree with the model on every answer and never exceed its memory bound."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from qqproto._values import ChatScope
from qqproto.errors import ExhaustedReason, ReplyExhaustedError
from qqproto.rest._replies import (
    DEFAULT_REPLY_LIMITS,
    DEFAULT_REPLY_WINDOWS,
    OnExhausted,
    Reply,
    ReplyContext,
)

IDS = ["a", "b", "c", "d", "e", "f"]
SCOPES = list(ChatScope)
MARGIN = 10.0


@dataclass
class Model:
    received_at: float
    next_seq: int = 1
    used: int = 0


class ReplyMachine(RuleBasedStateMachine):
    @initialize(policy=st.sampled_from(list(OnExhausted)), max_tracked=st.integers(1, 8))
    def setup(self, policy: OnExhausted, max_tracked: int) -> None:
        self.policy = policy
        self.max_tracked = max_tracked
        self.ctx = ReplyContext(on_exhausted=policy, max_tracked=max_tracked)
        self.now = 0.0
        # key → model; insertion order = arrival order, like the context's.
        self.model: dict[tuple[ChatScope, str, str], Model] = {}
        self.seqs: dict[tuple[ChatScope, str, str], list[int]] = {}

    def _deadline(self, key: tuple[ChatScope, str, str]) -> float:
        return self.model[key].received_at + DEFAULT_REPLY_WINDOWS[key[0]] - MARGIN

    def _evict(self) -> None:
        while self.model:
            key = next(iter(self.model))
            if self.now < self._deadline(key) and len(self.model) <= self.max_tracked:
                break
            del self.model[key]
            self.seqs.pop(key, None)  # a message forgotten and seen again starts over

    @rule(seconds=st.sampled_from([0.0, 1.0, 30.0, 200.0, 289.0, 291.0, 3600.0]))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule(scope=st.sampled_from(SCOPES), ident=st.sampled_from(IDS),
          by_event=st.booleans())
    def message_arrives(self, scope: ChatScope, ident: str, by_event: bool) -> None:
        kind = "event_id" if by_event else "msg_id"
        key = (scope, kind, ident)
        if by_event:
            self.ctx.received(scope, event_id=ident, now=self.now)
        else:
            self.ctx.received(scope, msg_id=ident, now=self.now)
        if key not in self.model:
            self.model[key] = Model(self.now)
            self._evict()

    @rule(scope=st.sampled_from(SCOPES), ident=st.sampled_from(IDS), by_event=st.booleans(),
          count=st.integers(1, 7), slot=st.booleans())
    def reply(self, scope: ChatScope, ident: str, by_event: bool, count: int,
              slot: bool) -> None:
        kind = "event_id" if by_event else "msg_id"
        key = (scope, kind, ident)
        ids = {"event_id": ident} if by_event else {"msg_id": ident}
        # What the model expects.
        reason: ExhaustedReason | None = None
        passive = count
        entry = self.model.get(key)
        if entry is None:
            reason = ExhaustedReason.UNKNOWN
        elif self.now >= self._deadline(key):
            reason = ExhaustedReason.EXPIRED
        else:
            limit = DEFAULT_REPLY_LIMITS[scope]
            if slot and limit is not None:
                passive = min(count, limit - entry.used)
                if passive < count:
                    reason = ExhaustedReason.LIMIT
        if reason is not None and (self.policy is OnExhausted.RAISE):
            try:
                self.ctx.replies(scope, count=count, now=self.now, consumes_slot=slot, **ids)
            except ReplyExhaustedError as exc:
                assert exc.reason is reason and exc.scope is scope and exc.reply_to == ident
                return
            raise AssertionError("expected ReplyExhaustedError")
        got = self.ctx.replies(scope, count=count, now=self.now, consumes_slot=slot, **ids)
        if reason in (ExhaustedReason.UNKNOWN, ExhaustedReason.EXPIRED):
            assert got == [Reply(fallback=reason)] * count
            return
        assert entry is not None
        expected = [Reply(msg_id=None if by_event else ident,
                          event_id=ident if by_event else None,
                          msg_seq=entry.next_seq + i) for i in range(passive)]
        expected += [Reply(fallback=ExhaustedReason.LIMIT)] * (count - passive)
        assert got == expected
        entry.next_seq += passive
        if slot and DEFAULT_REPLY_LIMITS[scope] is not None:
            entry.used += passive
        self.seqs.setdefault(key, []).extend(r.msg_seq for r in got if r.msg_seq)

    @invariant()
    def bounded_and_in_step(self) -> None:
        assert len(self.ctx) == len(self.model) <= self.max_tracked

    @invariant()
    def seqs_are_one_two_three(self) -> None:
        for seqs in self.seqs.values():
            assert seqs == list(range(1, len(seqs) + 1))


ReplyMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40,
                                          deadline=None)
TestReplyContextAgainstModel = ReplyMachine.TestCase
