"""The store contract, run against every implementation (memory, file, sqlite, Redis),
and the core's names, lifetimes and claim values that the stores carry out."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from qqproto.gateway import SessionSnapshot
from qqproto.stores import (
    DONE,
    MEMORY,
    Claim,
    StoreKeys,
    StoreLocation,
    StoreTtl,
    busy_mark,
    parse_store_url,
    read_claim,
)
from qqproto_transports.stores import (
    EventClaims,
    FileStore,
    MemoryStore,
    RedisStore,
    SessionSlot,
    SnapshotWriter,
    SqliteStore,
    Store,
    open_store,
)

KINDS = ["memory", "file", "sqlite", "redis"]


def _open(kind: str, tmp_path: Path, redis_url: str | None) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "file":
        return FileStore(tmp_path / "store.json")
    if kind == "sqlite":
        return SqliteStore(tmp_path / "store.db")
    assert redis_url is not None
    return RedisStore(redis_url)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    opened = _open(kind, tmp_path, url)
    yield opened
    opened.close()


@pytest.fixture
def ns() -> str:
    """A key prefix of this test's own (the Redis server is shared by the session)."""
    return f"qqproto-test:{uuid.uuid4().hex}:"


# -- the contract ---------------------------------------------------------------------

def test_a_missing_key_reads_as_none(store: Store, ns: str) -> None:
    assert store.get(ns + "nothing") is None
    assert store.get_many([ns + "a", ns + "b"]) == [None, None]
    assert store.get_many([]) == []


def test_set_replaces_and_get_many_reads_in_order(store: Store, ns: str) -> None:
    store.set(ns + "a", "1")
    store.set(ns + "a", "二")
    store.set(ns + "c", '{"json": true}', ttl=60)
    assert store.get(ns + "a") == "二"
    assert store.get_many([ns + "c", ns + "b", ns + "a"]) == ['{"json": true}', None, "二"]


def test_add_writes_only_an_absent_key(store: Store, ns: str) -> None:
    assert store.add(ns + "k", "first", ttl=60) is True
    assert store.add(ns + "k", "second", ttl=60) is False
    assert store.get(ns + "k") == "first"


def test_swap_is_compare_and_set(store: Store, ns: str) -> None:
    key = ns + "lease"
    assert store.swap(key, "someone", "me", ttl=60) is False  # absent is not "someone"
    assert store.swap(key, None, "me", ttl=60) is True
    assert store.swap(key, None, "you", ttl=60) is False
    assert store.swap(key, "you", "you", ttl=60) is False
    assert store.swap(key, "me", "me", ttl=60) is True
    assert store.swap(key, "me", "you") is True
    assert store.get(key) == "you"


def test_delete_and_delete_if_equal(store: Store, ns: str) -> None:
    store.set(ns + "k", "mine")
    assert store.delete(ns + "k", expected="theirs") is False
    assert store.get(ns + "k") == "mine"
    assert store.delete(ns + "k", expected="mine") is True
    assert store.delete(ns + "k") is False
    store.set(ns + "k", "again")
    assert store.delete(ns + "k") is True
    assert store.get(ns + "k") is None


def test_lifetimes_expire_and_free_the_key(store: Store, ns: str) -> None:
    store.set(ns + "short", "x", ttl=0.15)
    assert store.add(ns + "claim", "a", ttl=0.15) is True
    store.set(ns + "long", "y", ttl=60)
    assert store.get(ns + "short") == "x"
    time.sleep(0.3)
    assert store.get_many([ns + "short", ns + "long"]) == [None, "y"]
    assert store.add(ns + "claim", "b", ttl=60) is True  # the expired claim is gone
    assert store.swap(ns + "short", None, "z", ttl=60) is True


def test_swap_renews_the_lifetime(store: Store, ns: str) -> None:
    assert store.add(ns + "lease", "me", ttl=0.25)
    time.sleep(0.15)
    assert store.swap(ns + "lease", "me", "me", ttl=0.25)
    time.sleep(0.15)
    assert store.get(ns + "lease") == "me"  # 0.3 s after the first write: renewed


def test_a_lifetime_must_be_positive(store: Store, ns: str) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.set(ns + "k", "v", ttl=0)


def test_threads_racing_for_one_key_have_exactly_one_winner(store: Store, ns: str) -> None:
    wins: list[bool] = []
    start = threading.Barrier(8)

    def race(i: int) -> None:
        start.wait()
        wins.append(store.add(ns + "prize", f"t{i}", ttl=60))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def _claim_many(url: str, prefix: str, who: str, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = open_store(url)
    won = [i for i in range(count) if store.add(f"{prefix}{i}", who, ttl=60)]
    store.close()
    out.put((who, won))


@pytest.mark.parametrize("shared", ["sqlite", "redis"])
def test_two_processes_share_one_store_and_never_both_win_a_key(
        shared: str, tmp_path: Path, ns: str, request: pytest.FixtureRequest) -> None:
    url = (f"sqlite:{tmp_path / 'shared.db'}" if shared == "sqlite"
           else request.getfixturevalue("redis_url"))
    SqliteStore(tmp_path / "shared.db").close() if shared == "sqlite" else None
    ctx = multiprocessing.get_context("fork")  # cheap; each child opens its own store
    out = ctx.Queue()
    procs = [ctx.Process(target=_claim_many, args=(url, ns, who, 200, out))
             for who in ("a", "b")]
    for proc in procs:
        proc.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(30)
    assert sorted(results["a"] + results["b"]) == list(range(200))
    reader = open_store(url)
    owners = reader.get_many([f"{ns}{i}" for i in range(200)])
    reader.close()
    assert all(owners[i] == "a" for i in results["a"])
    assert all(owners[i] == "b" for i in results["b"])


def test_a_file_store_survives_a_restart_and_ignores_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    first = FileStore(path)
    first.set("kept", "1")
    first.set("expiring", "2", ttl=0.05)
    time.sleep(0.1)
    again = FileStore(path)
    assert again.get("kept") == "1"
    assert again.get("expiring") is None
    path.write_text("{not json", encoding="utf-8")
    assert FileStore(path).get("kept") is None
    path.write_text(json.dumps({"format": 99}), encoding="utf-8")
    assert FileStore(path).get("kept") is None


# -- a hypothesis model of the contract ----------------------------------------------

_KEYS = st.sampled_from(["a", "b", "c"])
_VALUES = st.sampled_from(["x", "y", "z"])


class StoreModel(RuleBasedStateMachine):
    """Every call agrees with a plain dict (no lifetimes: those are timed above)."""

    kind = "memory"
    tmp: Path
    url: str | None = None

    @initialize()
    def open(self) -> None:
        self.prefix = f"qqproto-test:{uuid.uuid4().hex}:"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.store = _open(self.kind, self.tmp / self.prefix.replace(":", "_"), self.url)
        self.model: dict[str, str] = {}

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.close()

    @rule(key=_KEYS, value=_VALUES)
    def set(self, key: str, value: str) -> None:
        self.store.set(self.prefix + key, value)
        self.model[key] = value

    @rule(key=_KEYS, value=_VALUES)
    def add(self, key: str, value: str) -> None:
        assert self.store.add(self.prefix + key, value) is (key not in self.model)
        self.model.setdefault(key, value)

    @rule(key=_KEYS, expected=st.none() | _VALUES, value=_VALUES)
    def swap(self, key: str, expected: str | None, value: str) -> None:
        won = self.model.get(key) == expected
        assert self.store.swap(self.prefix + key, expected, value, ttl=600) is won
        if won:
            self.model[key] = value

    @rule(key=_KEYS, expected=st.none() | _VALUES)
    def delete(self, key: str, expected: str | None) -> None:
        gone = key in self.model and expected in (None, self.model[key])
        assert self.store.delete(self.prefix + key, expected=expected) is gone
        if gone:
            del self.model[key]

    @invariant()
    def agrees(self) -> None:
        if hasattr(self, "store"):
            keys = ["a", "b", "c"]
            assert self.store.get_many([self.prefix + k for k in keys]) == \
                [self.model.get(k) for k in keys]


def test_every_store_agrees_with_a_dict(kind: str, tmp_path: Path,
                                        request: pytest.FixtureRequest) -> None:
    machine = type(f"StoreModel_{kind}", (StoreModel,), {
        "kind": kind, "tmp": tmp_path,
        "url": request.getfixturevalue("redis_url") if kind == "redis" else None})
    examples = 15 if kind in ("file", "redis") else 40
    settings(max_examples=examples, stateful_step_count=20)(machine).TestCase().runTest()


# -- the core's names and decisions ---------------------------------------------------

@pytest.mark.parametrize(("url", "location"), [
    ("memory:", MEMORY),
    ("memory", MEMORY),
    ("file:bot.json", StoreLocation("file", "bot.json")),
    ("file:///var/lib/bot.json", StoreLocation("file", "/var/lib/bot.json")),
    ("sqlite:/tmp/bot.db", StoreLocation("sqlite", "/tmp/bot.db")),
    ("redis://127.0.0.1:6379/2", StoreLocation("redis", "redis://127.0.0.1:6379/2")),
    ("rediss://u:pw@cache.example:6380", StoreLocation("redis", "rediss://u:pw@cache.example:6380")),
])
def test_store_urls_parse(url: str, location: StoreLocation) -> None:
    assert parse_store_url(url) == location


@pytest.mark.parametrize("url", ["", "file:", "sqlite:", "postgres://x", "mem"])
def test_bad_store_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="store URL"):
        parse_store_url(url)


def test_a_store_url_never_shows_its_password() -> None:
    location = parse_store_url("redis://bot:hunter2@cache:6379/0")
    assert str(location) == "redis://bot:***@cache:6379/0"
    with pytest.raises(ValueError) as info:
        parse_store_url("redis+x://bot:hunter2@cache")
    assert "hunter2" not in str(info.value)
    assert location.shared and parse_store_url("sqlite:x").shared
    assert not MEMORY.shared and not parse_store_url("file:x").shared


def test_keys_are_namespaced_by_app_id() -> None:
    keys = StoreKeys("102000001")
    assert keys.session((2, 4)) == "qqproto:102000001:session:2/4"
    assert keys.processed("ev-1") == "qqproto:102000001:processed:ev-1"
    assert keys.replay("id:ev-1") == "qqproto:102000001:replay:id:ev-1"
    assert keys.lease((0, 1)) == "qqproto:102000001:lease:0/1"
    assert keys.cache("file_info", "md5") == "qqproto:102000001:cache:file_info:md5"
    with pytest.raises(ValueError):
        StoreKeys("a:b")


def test_claim_values_read_back() -> None:
    assert read_claim(None) is Claim.NEW
    assert read_claim(DONE) is Claim.DONE
    assert read_claim(busy_mark("p1")) is Claim.BUSY
    assert read_claim(busy_mark("p1"), "p1") is Claim.NEW
    assert StoreTtl().session == 3600.0 and StoreTtl().lease < StoreTtl().claim


# -- the drivers' helpers ---------------------------------------------------------------

SNAP = SessionSnapshot(session_id="s-1", seq=42, intents=513, shard=(1, 2),
                       bot_user_id="u", bot_username="bot", last_active=1.5e9)


def test_a_session_slot_round_trips_and_forgets(store: Store, ns: str) -> None:
    keys = StoreKeys(ns.replace(":", "-"))
    slot = SessionSlot(store, keys, (1, 2), ttl=60)
    assert slot.load() is None
    slot.save(SNAP)
    assert SessionSlot(store, keys, (1, 2), ttl=60).load() == SNAP
    assert SessionSlot(store, keys, (0, 2), ttl=60).load() is None
    store.set(keys.session((1, 2)), '{"format": 1}')
    assert slot.load() is None  # unreadable: logged and ignored
    slot.save(None)
    assert store.get(keys.session((1, 2))) is None


def test_event_claims_are_at_least_once_then_idempotent(store: Store, ns: str) -> None:
    first = EventClaims(store, owner="p1", claim_ttl=60, done_ttl=60)
    second = EventClaims(store, owner="p2", claim_ttl=60, done_ttl=60)
    key = ns + "ev"
    assert first.claim(key) is Claim.NEW
    assert second.claim(key) is Claim.BUSY
    assert first.claim(key) is Claim.NEW  # its own claim, taken back
    first.finish(key, ok=False)  # failed: a redelivery must get through
    assert second.claim(key) is Claim.NEW
    second.finish(key, ok=True)
    assert first.claim(key) is Claim.DONE
    assert first.is_done(key)


def test_an_abandoned_claim_expires(store: Store, ns: str) -> None:
    crashed = EventClaims(store, owner="dead", claim_ttl=0.1, done_ttl=60)
    survivor = EventClaims(store, owner="alive", claim_ttl=60, done_ttl=60)
    assert crashed.claim(ns + "ev") is Claim.NEW
    assert survivor.claim(ns + "ev") is Claim.BUSY
    time.sleep(0.2)
    assert survivor.claim(ns + "ev") is Claim.NEW


class _SlowSlot(SessionSlot):
    def __init__(self) -> None:
        super().__init__(MemoryStore(), StoreKeys("1"), (0, 1), ttl=60)
        self.saved: list[SessionSnapshot | None] = []
        self.gate = threading.Event()

    def save(self, snapshot: SessionSnapshot | None) -> None:
        self.gate.wait(5)
        self.saved.append(snapshot)


def test_the_snapshot_writer_never_blocks_and_keeps_only_the_newest() -> None:
    slot = _SlowSlot()
    writer = SnapshotWriter(slot)
    started = time.monotonic()
    for seq in range(50):
        writer.offer(SNAP.with_seq(seq))
    assert time.monotonic() - started < 0.5  # the store is stuck; offering is not
    slot.gate.set()
    assert writer.flush(5)
    assert slot.saved[-1] == SNAP.with_seq(49)
    assert len(slot.saved) <= 2
    writer.offer(None)
    writer.close(5)
    assert slot.saved[-1] is None
    writer.offer(SNAP)  # after close: ignored
    assert slot.saved[-1] is None


def test_open_store_opens_what_the_url_names(tmp_path: Path, redis_url: str) -> None:
    assert isinstance(open_store("memory:"), MemoryStore)
    assert isinstance(open_store(f"file:{tmp_path / 'a.json'}"), FileStore)
    sqlite = open_store(f"sqlite:{tmp_path / 'a.db'}")
    assert isinstance(sqlite, SqliteStore) and sqlite.shared
    sqlite.close()
    redis = open_store(redis_url)
    assert isinstance(redis, RedisStore) and "RedisStore" in repr(redis)
    redis.close()
