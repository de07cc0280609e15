"""Run the simulator's webhook pusher (:mod:`qqproto.simulator._webhook_push`) over real HTTP.

:class:`WebhookPushThread` owns a :class:`~qqproto.simulator.WebhookPusher` and
performs its requests with ``httpx.Client`` on background threads (one per request
allowed in flight), sleeping until the pusher's timer or new work.  It can mirror every
event a running simulator dispatches (:meth:`WebhookPushThread.attach`, through
``Simulator.listeners``), or a test can push events itself.  Every method is
thread-safe; TLS is verified (pass ``ssl_context`` to trust a test CA).
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx

from qqproto.simulator import PushAttempt, PushJob, PushRequest, SimEvent, Simulator, WebhookPusher

from ._httpx import send_sync

__all__ = ["WebhookPushThread"]
T = TypeVar("T")


class _SimulatorControls(Protocol):
    def call(self, fn: Callable[[Simulator, float], Any]) -> Any: ...


class WebhookPushThread:
    """``with WebhookPushThread(pusher) as push:`` — validation starts at once, then
    ``push.push_event(t, d)`` (or :meth:`attach` a simulator) and ``push.wait_idle()``."""

    def __init__(self, pusher: WebhookPusher, *, ssl_context: ssl.SSLContext | None = None,
                 plain_token: str | None = None) -> None:
        self.pusher = pusher
        self._ssl = ssl_context
        self._plain_token = plain_token
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._run, name=f"qqproto-push-{n}",
                                          daemon=True)
                         for n in range(pusher.max_in_flight)]
        self._detach: list[Callable[[], object]] = []

    # -- control (any thread) -----------------------------------------------------------
    def start(self) -> WebhookPushThread:
        with self._cond:
            self.pusher.start(plain_token=self._plain_token)
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        for detach in self._detach:
            with contextlib.suppress(RuntimeError):  # the simulator is gone already
                detach()
        self._detach.clear()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def __enter__(self) -> WebhookPushThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def call(self, fn: Callable[[WebhookPusher], T]) -> T:
        """Run ``fn(pusher)`` under the lock (inspect or adjust it safely)."""
        with self._cond:
            result = fn(self.pusher)
            self._cond.notify_all()
            return result

    def push_event(self, event_type: str, d: Any, *, event_id: str | None = None,
                   seq: int | None = None) -> PushJob | None:
        return self.call(lambda p: p.push_event(event_type, d, event_id=event_id, seq=seq))

    def attach(self, server: _SimulatorControls) -> None:
        """Push every event the simulator behind ``server`` dispatches from now on."""
        def mirror(event: SimEvent, now: float) -> None:
            self.push_event(event.type, event.data, event_id=event.id)

        server.call(lambda sim, now: sim.listeners.append(mirror))
        self._detach.append(lambda: server.call(lambda sim, now: sim.listeners.remove(mirror)))

    def attempts(self) -> list[PushAttempt]:
        """A copy of every attempt recorded so far."""
        return self.call(lambda p: list(p.attempts))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, waiting or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.pusher.idle:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- the pushing threads ------------------------------------------------------------
    def _run(self) -> None:
        verify: ssl.SSLContext | bool = self._ssl if self._ssl is not None else True
        with httpx.Client(verify=verify, trust_env=False) as client:
            while (work := self._next()) is not None:
                result = send_sync(client, work.request)
                with self._cond:
                    if isinstance(result, str):
                        self.pusher.request_failed(work.job_id, result, time.monotonic())
                    else:
                        self.pusher.receive_response(work.job_id, result, time.monotonic())
                    self._cond.notify_all()

    def _next(self) -> PushRequest | None:
        with self._cond:
            while not self._stopping:
                work = self.pusher.next_request(time.monotonic(), time.time())
                if work is not None:
                    return work
                when = self.pusher.get_timer()
                self._cond.wait(None if when is None else max(0.0, when - time.monotonic()))
            return None
