"""Shard leases and cross-process identify pacing as sans-IO machines
(qqproto.stores.ShardLeases, IdentifySlots), by arithmetic on a fake clock: what is
claimed, renewed and released and when; at most one holder per shard at any time; a
holder that stops renewing loses its shards after the TTL; a takeover resumes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from qqproto.gateway import GatewaySession, SessionSnapshot
from qqproto.stores import (
    IdentifySlots,
    LeaseOp,
    LeaseRequest,
    LeaseState,
    ShardAcquired,
    ShardLeases,
    ShardLost,
    SlotOp,
    SlotRequest,
    StoreKeys,
    slot_free_in,
)
from qqproto_transports._leases import carry_out_lease
from qqproto_transports.stores import MemoryStore

KEYS = StoreKeys("102000001")
TTL = 3.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def requests(leases: ShardLeases) -> list[LeaseRequest]:
    out = []
    while (request := leases.next_request()) is not None:
        out.append(request)
    return out


def events(leases: ShardLeases) -> list[object]:
    out = []
    while (event := leases.next_event()) is not None:
        out.append(event)
    return out


# -- what is asked, and when --------------------------------------------------------------

def test_a_process_claims_free_shards_up_to_its_limit() -> None:
    leases = ShardLeases(KEYS, "p1", 4, limit=2, ttl=TTL)
    leases.start(10.0)
    claims = requests(leases)
    assert [(r.op, r.shard, r.key, r.owner, r.ttl) for r in claims] == [
        (LeaseOp.CLAIM, (0, 4), "qqproto:102000001:lease:0/4", "p1", TTL),
        (LeaseOp.CLAIM, (1, 4), "qqproto:102000001:lease:1/4", "p1", TTL)]
    leases.answered(claims[0].id, False, 10.01)  # taken: the next free shard is tried
    [third] = requests(leases)
    assert third.shard == (2, 4)
    leases.answered(claims[1].id, True, 10.02)
    leases.answered(third.id, True, 10.03)
    assert events(leases) == [ShardAcquired(shard=(1, 4)), ShardAcquired(shard=(2, 4))]
    assert leases.held(10.1) == [(1, 4), (2, 4)]
    assert requests(leases) == []  # at the limit: no more claims, no scan timer
    # Valid until sent + ttl - margin; renewed every ttl / 3 from the claim's sending.
    assert leases.valid_until((1, 4)) == pytest.approx(10.0 + TTL - TTL / 10)
    assert leases.get_timer() == pytest.approx(10.0 + TTL / 3)


def test_held_leases_are_renewed_by_compare_and_set_every_third_of_the_ttl() -> None:
    leases = ShardLeases(KEYS, "p1", 1, ttl=TTL)
    leases.start(0.0)
    [claim] = requests(leases)
    leases.answered(claim.id, True, 0.01)
    events(leases)
    leases.handle_timer(1.0)
    [renew] = requests(leases)
    assert (renew.op, renew.shard) == (LeaseOp.RENEW, (0, 1))
    assert leases.get_timer() == pytest.approx(0.0 + TTL - TTL / 10)  # only the deadline
    leases.answered(renew.id, True, 1.02)
    assert leases.valid_until((0, 1)) == pytest.approx(1.0 + TTL - TTL / 10)
    assert leases.get_timer() == pytest.approx(2.0)


def test_a_renewal_the_store_does_not_answer_is_retried_until_the_lease_runs_out() -> None:
    leases = ShardLeases(KEYS, "p1", 1, ttl=TTL)
    leases.start(0.0)
    [claim] = requests(leases)
    leases.answered(claim.id, True, 0.0)
    events(leases)
    leases.handle_timer(1.0)
    [renew] = requests(leases)
    leases.answered(renew.id, None, 1.5)  # the store failed
    assert leases.get_timer() == pytest.approx(1.5 + TTL / 10)
    leases.handle_timer(1.8)
    [again] = requests(leases)
    assert again.op is LeaseOp.RENEW
    leases.handle_timer(2.7)  # never answered: at sent + ttl - margin the lease is gone
    assert events(leases) == [ShardLost(shard=(0, 1), reason="expired")]
    assert leases.state((0, 1)) is LeaseState.STOPPING and not leases.holds((0, 1), 2.7)
    leases.answered(again.id, True, 2.8)  # too late: ignored
    assert leases.state((0, 1)) is LeaseState.STOPPING
    leases.stopped((0, 1), 2.9)  # the shard has stopped: free, and not released (not ours)
    assert leases.state((0, 1)) is LeaseState.FREE and requests(leases) == []


def test_a_renewal_that_finds_another_holder_loses_the_shard_at_once() -> None:
    leases = ShardLeases(KEYS, "p1", 1, ttl=TTL)
    leases.start(0.0)
    [claim] = requests(leases)
    leases.answered(claim.id, True, 0.0)
    events(leases)
    leases.handle_timer(1.0)
    [renew] = requests(leases)
    leases.answered(renew.id, False, 1.1)
    assert events(leases) == [ShardLost(shard=(0, 1), reason="taken")]


def test_a_claim_answered_too_late_is_released_not_run() -> None:
    leases = ShardLeases(KEYS, "p1", 1, ttl=TTL)
    leases.start(0.0)
    [claim] = requests(leases)
    leases.answered(claim.id, True, TTL)  # the store took a whole ttl to answer
    assert events(leases) == []
    [release] = requests(leases)
    assert release.op is LeaseOp.RELEASE and leases.state((0, 1)) is LeaseState.RELEASING


def test_closing_renews_until_each_shard_stopped_then_releases_it() -> None:
    leases = ShardLeases(KEYS, "p1", 2, ttl=TTL)
    leases.start(0.0)
    first, second = requests(leases)
    leases.answered(first.id, True, 0.0)
    leases.close(0.5)
    leases.answered(second.id, True, 0.6)  # won while closing: released, never started
    [release_second] = requests(leases)
    assert (release_second.op, release_second.shard) == (LeaseOp.RELEASE, (1, 2))
    assert events(leases) == [ShardAcquired(shard=(0, 2))]
    leases.handle_timer(1.0)  # the shard is still stopping (saving its snapshot)
    [renew] = requests(leases)
    assert renew.op is LeaseOp.RENEW
    leases.stopped((0, 2), 1.2)
    [release] = requests(leases)
    assert (release.op, release.shard) == (LeaseOp.RELEASE, (0, 2))
    assert not leases.finished
    leases.answered(renew.id, True, 1.3)  # overtaken by the release: ignored
    leases.answered(release_second.id, True, 1.3)
    leases.answered(release.id, True, 1.4)
    assert leases.finished and leases.get_timer() is None


def test_a_process_at_its_limit_scans_again_once_a_shard_is_free() -> None:
    leases = ShardLeases(KEYS, "p1", 2, limit=1, ttl=TTL)
    leases.start(0.0)
    [claim] = requests(leases)
    leases.answered(claim.id, True, 0.0)
    assert leases.get_timer() == pytest.approx(1.0)  # the renewal; no scan at the limit
    leases.handle_timer(1.0)
    [renew] = requests(leases)
    leases.answered(renew.id, False, 1.0)
    leases.stopped((0, 2), 1.1)  # the scan at 1.0 found shard 1 free: it goes on
    [claim] = requests(leases)
    assert (claim.op, claim.shard) == (LeaseOp.CLAIM, (1, 2))
    leases.answered(claim.id, False, 1.2)
    assert leases.get_timer() == pytest.approx(2.0)  # the next scan, below the limit
    leases.handle_timer(2.0)
    assert [(r.op, r.shard) for r in requests(leases)] == [(LeaseOp.CLAIM, (0, 2))]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        ShardLeases(KEYS, "p", 0)
    with pytest.raises(ValueError):
        ShardLeases(KEYS, "p", 2, limit=0)
    with pytest.raises(ValueError):
        ShardLeases(KEYS, "p", 2, ttl=3.0, renew_every=3.0)


# -- the store side: carry_out_lease against a store on the same fake clock --------------

def test_a_dead_process_s_lease_expires_and_another_takes_the_shard() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    a = ShardLeases(KEYS, "a", 1, ttl=TTL)
    b = ShardLeases(KEYS, "b", 1, ttl=TTL)
    for leases in (a, b):
        leases.start(clock.now)
        for request in requests(leases):
            leases.answered(request.id, carry_out_lease(store, request), clock.now)
    assert a.holds((0, 1), 0.0) and not b.holds((0, 1), 0.0)
    # a is killed: nothing renews.  b scans every ttl / 3 and wins once the key expired.
    taken_at = None
    while taken_at is None:
        clock.now = b.get_timer() or 0.0
        b.handle_timer(clock.now)
        for request in requests(b):
            b.answered(request.id, carry_out_lease(store, request), clock.now)
        if b.holds((0, 1), clock.now):
            taken_at = clock.now
    assert TTL <= taken_at <= TTL + TTL / 3
    assert store.get(KEYS.lease((0, 1))) == "b"


# -- at most one holder, by arithmetic ---------------------------------------------------

@dataclass
class Proc:
    leases: ShardLeases
    alive: bool = True
    cut_at: float | None = None  # from then on nothing reaches the store
    sent: list[LeaseRequest] = field(default_factory=list)
    applied: list[tuple[LeaseRequest, bool]] = field(default_factory=list)
    running: set[tuple[int, int]] = field(default_factory=set)
    stopping: set[tuple[int, int]] = field(default_factory=set)


class LeaseWorld(RuleBasedStateMachine):
    """Processes racing for the shards of one bot through one store on a fake clock.
    Requests reach the store late and out of order, answers come back late, stores fail,
    processes are killed or cut off; a holder saves its shard's session while it holds
    the lease, and a new holder starts from what was saved."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.store = MemoryStore(self.clock)
        self.procs: list[Proc] = []
        self.saved: dict[tuple[int, int], SessionSnapshot] = {}
        self.shard_count = 1

    @initialize(processes=st.integers(2, 4), shards=st.integers(1, 3),
                limit=st.integers(1, 3))
    def start(self, processes: int, shards: int, limit: int) -> None:
        self.shard_count = shards
        for i in range(processes):
            proc = Proc(ShardLeases(KEYS, f"p{i}", shards, limit=limit, ttl=TTL))
            proc.leases.start(self.clock.now)
            self.procs.append(proc)
            self._collect(proc)

    def _collect(self, proc: Proc) -> None:
        proc.sent.extend(requests(proc.leases))
        for event in events(proc.leases):
            if isinstance(event, ShardAcquired):
                self._take_over(proc, event.shard)
            else:
                assert isinstance(event, ShardLost)
                proc.running.discard(event.shard)
                proc.stopping.add(event.shard)

    def _take_over(self, proc: Proc, shard: tuple[int, int]) -> None:
        """The new holder starts from the snapshot in the store: Resume, not Identify."""
        proc.running.add(shard)
        snapshot = self.saved.get(shard)
        session = GatewaySession(app_id="102000001", secret="s", shard=shard,
                                 snapshot=snapshot)
        session.start(self.clock.now, 1e9 + self.clock.now)
        assert session.snapshot() == snapshot  # None: identify; else resume that session
        if snapshot is None:
            snapshot = SessionSnapshot(session_id=f"{proc.leases.owner}-{shard[0]}", seq=1,
                                       intents=session.intents, shard=shard)
        self.saved[shard] = snapshot.with_seq(snapshot.seq + 1)

    def _proc(self, data: st.DataObject) -> Proc:
        return data.draw(st.sampled_from(self.procs))

    @rule(dt=st.floats(0.0, TTL / 2))
    def time_passes(self, dt: float) -> None:
        """Every live process's timers fire when due (the driver re-arms them)."""
        target = self.clock.now + dt
        while True:
            due = [(timer, i) for i, p in enumerate(self.procs)
                   if p.alive and (timer := p.leases.get_timer()) is not None
                   and timer <= target]
            if not due:
                break
            timer, i = min(due)
            self.clock.now = max(self.clock.now, timer)
            self.procs[i].leases.handle_timer(self.clock.now)
            self._collect(self.procs[i])
        self.clock.now = target

    @rule(data=st.data())
    def a_request_reaches_the_store(self, data: st.DataObject) -> None:
        proc = self._proc(data)
        if not proc.sent or (proc.cut_at is not None):
            return
        request = proc.sent.pop(data.draw(st.integers(0, len(proc.sent) - 1)))
        proc.applied.append((request, carry_out_lease(self.store, request)))

    @rule(data=st.data())
    def an_answer_comes_back(self, data: st.DataObject) -> None:
        proc = self._proc(data)
        if not proc.applied or not proc.alive or proc.cut_at is not None:
            return
        request, result = proc.applied.pop(data.draw(st.integers(0, len(proc.applied) - 1)))
        proc.leases.answered(request.id, result, self.clock.now)
        self._collect(proc)

    @rule(data=st.data())
    def the_store_fails_a_call(self, data: st.DataObject) -> None:
        proc = self._proc(data)
        if proc.sent and proc.alive and proc.cut_at is None:
            request = proc.sent.pop(0)
            proc.leases.answered(request.id, None, self.clock.now)
            self._collect(proc)

    @rule(data=st.data())
    def a_stopping_shard_has_stopped(self, data: st.DataObject) -> None:
        proc = self._proc(data)
        if proc.stopping and proc.alive:
            shard = min(proc.stopping)
            proc.stopping.discard(shard)
            proc.leases.stopped(shard, self.clock.now)
            self._collect(proc)

    @rule(data=st.data())
    def a_holder_saves_its_session(self, data: st.DataObject) -> None:
        proc = self._proc(data)
        for shard in sorted(proc.running):
            if proc.alive and proc.leases.holds(shard, self.clock.now):  # fenced
                self.saved[shard] = self.saved[shard].with_seq(self.saved[shard].seq + 1)

    @precondition(lambda self: sum(p.alive and p.cut_at is None for p in self.procs) > 1)
    @rule(data=st.data(), kill=st.booleans())
    def a_process_dies_or_is_cut_off(self, data: st.DataObject, kill: bool) -> None:
        proc = self._proc(data)
        if kill:
            proc.alive = False  # kill -9: no timer, no answer, nothing sent
            proc.sent.clear()
            proc.applied.clear()
        elif proc.cut_at is None:
            proc.cut_at = self.clock.now  # alive, but no call reaches the store any more

    @invariant()
    def at_most_one_process_holds_each_shard(self) -> None:
        now = self.clock.now
        for i in range(self.shard_count):
            shard = (i, self.shard_count)
            holders = [p for p in self.procs if p.alive and p.leases.holds(shard, now)]
            assert len(holders) <= 1
            for proc in holders:  # and the store agrees, for longer than the holder thinks
                assert self.store.get(KEYS.lease(shard)) == proc.leases.owner

    @invariant()
    def a_holder_that_stops_renewing_loses_its_shards_after_the_ttl(self) -> None:
        for proc in self.procs:
            if proc.alive and proc.cut_at is not None and self.clock.now >= proc.cut_at + TTL:
                assert proc.leases.held(self.clock.now) == []
                assert not proc.running  # the ShardLost came out when the timer fired

    @invariant()
    def no_process_runs_more_than_its_limit(self) -> None:
        for proc in self.procs:
            assert len(proc.running) <= proc.leases.limit


TestLeaseWorld = LeaseWorld.TestCase
TestLeaseWorld.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# -- identify pacing across processes ----------------------------------------------------

def _slots_run(slots: IdentifySlots, store: MemoryStore, clock: Clock) -> None:
    """Carry out the slot requests (what StorePacer does on its worker thread)."""
    while (request := slots.next_request()) is not None:
        value = request.value_at(1e9 + clock.now)
        if request.op is SlotOp.RESTART:
            store.set(request.key, value, ttl=request.ttl)
            continue
        won = store.add(request.key, value, ttl=request.ttl)
        slots.answered(request.id, won, holder_value=None if won else store.get(request.key),
                       unix_now=1e9 + clock.now)


def test_two_processes_identify_one_bucket_at_most_once_per_window() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    a = IdentifySlots(KEYS, "a", max_concurrency=2)
    b = IdentifySlots(KEYS, "b", max_concurrency=2)
    # a's shard 0 and b's shard 2 share bucket 0; b's shard 1 is bucket 1.
    assert a.allowed_at(0, 0.0) == pytest.approx(0.05)  # asking the store
    assert [r.key for r in a._requests] == ["qqproto:102000001:identify:0"]
    _slots_run(a, store, clock)
    assert a.allowed_at(0, 0.05) == 0.05
    clock.now = 0.06
    a.identified(0, 0.06)
    _slots_run(a, store, clock)  # the window restarts at the identify
    clock.now = 0.1
    assert b.allowed_at(2, 0.1) == pytest.approx(0.15)
    assert b.allowed_at(1, 0.1) == pytest.approx(0.15)
    _slots_run(b, store, clock)
    assert b.allowed_at(1, 0.15) == 0.15  # another bucket: at once
    wait_until = b.allowed_at(2, 0.15)
    assert wait_until == pytest.approx(0.06 + 5.0, abs=0.01)  # when a's slot frees
    clock.now = wait_until + 0.001
    assert b.allowed_at(2, clock.now) == pytest.approx(clock.now + 0.05)
    _slots_run(b, store, clock)
    assert b.allowed_at(2, clock.now + 0.05) == clock.now + 0.05


def test_a_slot_this_process_took_is_its_own_and_a_failed_store_is_asked_again() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    a = IdentifySlots(KEYS, "a", hold=1.0)
    a.allowed_at(0, 0.0)
    _slots_run(a, store, clock)
    clock.now = 2.0  # the grant (1 s) ran out before the shard identified
    assert a.allowed_at(0, 2.0) == pytest.approx(2.05)
    _slots_run(a, store, clock)  # the key is still a's: granted again
    assert a.allowed_at(0, 2.05) == 2.05
    b = IdentifySlots(KEYS, "b")
    b.allowed_at(0, 0.0)
    request = b.next_request()
    assert request is not None
    b.answered(request.id, None)
    assert b.allowed_at(0, 0.5) == pytest.approx(1.0)  # a fifth of the window later


def test_slot_values_say_when_they_free_themselves() -> None:
    take = SlotRequest(id=1, op=SlotOp.TAKE, bucket=0, key="k", owner="p1", ttl=10.0)
    restart = SlotRequest(id=2, op=SlotOp.RESTART, bucket=0, key="k", owner="p1", ttl=5.0)
    assert take.value_at(100.0) == "p1 taken 110.000"
    assert restart.value_at(100.0) == "p1 identified 105.000"
    assert slot_free_in("p1 identified 105.5", 100.0) == 5.5
    assert slot_free_in("p1 taken 99", 100.0) == 0.0
    assert slot_free_in(None, 1.0) is None
    assert slot_free_in("garbage", 1.0) is None
    assert slot_free_in("p other 5", 1.0) is None
    assert slot_free_in("p identified x", 1.0) is None


def test_a_slot_taken_for_an_identify_still_to_come_is_asked_again_soon() -> None:
    """The holder's window restarts at its identify, sooner than the taken slot's
    lifetime (window + hold): a process that finds it only taken polls."""
    clock = Clock()
    store = MemoryStore(clock)
    a = IdentifySlots(KEYS, "a")
    b = IdentifySlots(KEYS, "b")
    a.allowed_at(0, 0.0)
    _slots_run(a, store, clock)  # taken, not identified yet (connecting)
    b.allowed_at(1, 0.1)
    _slots_run(b, store, clock)
    assert b.allowed_at(1, 0.2) == pytest.approx(0.1 + 5.0 / 5)  # not 0.1 + 10


def test_two_shards_of_one_bucket_asking_at_once_do_not_both_go() -> None:
    """A shard is told "go" before it connects and identifies once connected: the bucket
    is held for it meanwhile (at most one window)."""
    pacer = IdentifySlots(KEYS, "a")  # its in-process part: IdentifyPacer
    local = super(IdentifySlots, pacer)
    assert local.allowed_at(0, 1.0) == 1.0
    assert local.allowed_at(1, 1.0) == 6.0  # held for shard 0
    assert local.allowed_at(0, 2.0) == 2.0  # still shard 0's
    pacer.identified(0, 2.5)
    assert local.allowed_at(1, 3.0) == 7.5  # a window after the identify
    assert local.allowed_at(2, 20.0) == 20.0  # a hold never used lapses after a window
    assert local.allowed_at(1, 25.1) == 25.1
