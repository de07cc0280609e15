"""The threaded bot's handler threads (transports/qqproto_transports/_workers.py)."""

from __future__ import annotations

import threading

import pytest

from qqproto_transports._backlog import Backlog
from qqproto_transports._workers import HandlerPool


def test_a_blocked_call_holds_up_nobody_while_threads_are_left() -> None:
    pool = HandlerPool(3, "t-pool", Backlog(100), resume=lambda: None)
    release = threading.Event()
    started = threading.Barrier(3, timeout=10)
    done: list[str] = []

    def blocked(name: str) -> None:
        started.wait()
        release.wait(10)
        done.append(name)

    pool.put(blocked, "a")
    pool.put(blocked, "b")
    pool.put(blocked, "c")  # all three run at once, or the barrier breaks
    release.set()
    pool.shutdown()
    assert sorted(done) == ["a", "b", "c"]


def test_threads_are_started_only_while_every_started_one_is_busy() -> None:
    pool = HandlerPool(4, "t-pool", Backlog(100), resume=lambda: None)
    finished = threading.Semaphore(0)
    for _ in range(20):
        pool.put(finished.release)
        assert finished.acquire(timeout=10)  # done before the next: one thread suffices
    assert len(pool._threads) == 1
    pool.shutdown()


def test_put_says_when_to_pause_and_a_handler_thread_when_to_resume() -> None:
    resumed: list[str] = []
    backlog = Backlog(4)
    pool = HandlerPool(1, "t-pool", backlog, resume=lambda: resumed.append(
        threading.current_thread().name))
    gate = threading.Event()
    pauses = [pool.put(gate.wait, 10) for _ in range(4)]
    assert pauses == [False, False, False, True] and backlog.paused
    gate.set()
    pool.shutdown()
    # Resumed once, at half the limit (Backlog), by the handler thread.
    assert resumed == ["t-pool_0"] and not backlog.paused and backlog.pending == 0


def test_shutdown_runs_what_is_queued_then_refuses_more() -> None:
    pool = HandlerPool(2, "t-pool", Backlog(100), resume=lambda: None)
    ran: list[int] = []
    for n in range(10):
        pool.put(ran.append, n)
    pool.shutdown()
    pool.shutdown()  # idempotent
    assert sorted(ran) == list(range(10))
    assert not any(t.is_alive() for t in pool._threads)
    with pytest.raises(RuntimeError):
        pool.put(ran.append, 99)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_call_that_raises_still_counts_as_finished() -> None:
    backlog = Backlog(100)
    pool = HandlerPool(1, "t-pool", backlog, resume=lambda: None)

    def boom() -> None:
        raise SystemExit  # not an Exception: it ends the thread, the count stays right

    pool.put(boom)
    pool._threads[0].join(10)
    assert backlog.pending == 0
    with pytest.raises(ValueError):
        HandlerPool(0, "t-pool", backlog, resume=lambda: None)
