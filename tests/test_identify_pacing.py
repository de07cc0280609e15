"""Identify pacing shared by the shards of one process (gateway.md §8.4, §10): time
moved by arithmetic, plus a hypothesis machine over arbitrary shard schedules."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from qqproto.gateway import IDENTIFY_WINDOW, IdentifyPacer


def test_one_bucket_spaces_identifies_by_the_window() -> None:
    pacer = IdentifyPacer()
    assert pacer.allowed_at(0, 100.0) == 100.0
    pacer.identified(0, 100.0)
    assert pacer.allowed_at(1, 100.0) == 105.0
    assert pacer.allowed_at(1, 103.0) == 105.0
    pacer.identified(1, 105.0)
    assert pacer.allowed_at(2, 105.0) == 110.0
    assert pacer.log == [(0, 100.0), (1, 105.0)]


def test_max_concurrency_buckets_identify_side_by_side() -> None:
    pacer = IdentifyPacer(2)
    pacer.identified(0, 10.0)
    assert pacer.allowed_at(1, 10.0) == 10.0  # bucket 1 is free
    pacer.identified(1, 10.0)
    assert pacer.allowed_at(2, 10.0) == 15.0  # bucket 0 again
    assert pacer.allowed_at(3, 12.0) == 15.0


def test_learning_a_new_concurrency_keeps_the_strictest_past() -> None:
    pacer = IdentifyPacer()
    pacer.identified(0, 10.0)
    pacer.learn(4)
    assert [pacer.allowed_at(s, 11.0) for s in range(4)] == [15.0] * 4
    pacer.learn(4)  # the same answer again changes nothing
    pacer.identified(1, 15.0)
    assert pacer.allowed_at(2, 15.0) == 15.0


class PacedShards(RuleBasedStateMachine):
    """Shards identify whenever the pacer allows; no window ever holds too many."""

    def __init__(self) -> None:
        super().__init__()
        self.pacer = IdentifyPacer()
        self.now = 0.0
        self.identifies: list[tuple[int, float]] = []

    @rule(concurrency=st.integers(1, 4))
    @precondition(lambda self: not self.identifies)
    def learn(self, concurrency: int) -> None:
        self.pacer.learn(concurrency)

    @rule(seconds=st.floats(0, 12, allow_nan=False))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule(shard=st.integers(0, 7))
    def identify_when_allowed(self, shard: int) -> None:
        at = self.pacer.allowed_at(shard, self.now)
        assert at >= self.now
        self.now = at
        assert self.pacer.allowed_at(shard, self.now) == self.now
        self.pacer.identified(shard, self.now)
        self.identifies.append((shard, self.now))

    @invariant()
    def no_window_holds_more_than_max_concurrency(self) -> None:
        times = [t for _, t in self.identifies]
        limit = self.pacer.max_concurrency
        for i, start in enumerate(times):
            inside = [t for t in times[i:] if t - start < IDENTIFY_WINDOW - 1e-9]
            assert len(inside) <= limit


TestPacedShards = settings(max_examples=60, stateful_step_count=30)(PacedShards).TestCase
