"""Serve the sans-IO QQ simulator (:mod:`qqproto.simulator`) on 127.0.0.1 with asyncio.

The driver moves bytes and timers and nothing else: every accepted TCP connection gets a
:class:`~qqproto.simulator.SimConnection`; after each call into the simulator the connections
it touched are flushed (and closed or reset as they ask), and one ``loop.call_at`` timer
follows :meth:`Simulator.get_timer`.  Three ways to run it:

* ``async with serve_simulator(sim) as server:`` inside an asyncio program or test;
* ``with SimulatorThread() as server:`` on its own loop in a background thread (for
  trio, threaded or blocking code);
* :func:`run_simulator_forever` for the ``qqproto sim`` command.

:class:`WebhookPushThread` delivers the simulator's events to a webhook bot over real
HTTP (signed, validated first, redelivered on ``d = 1``), for testing the webhook channel.

Every control method (``inject_*``, faults, ``call``) is thread-safe.  The server only
ever listens on 127.0.0.1, and stops by itself after ``lifetime`` seconds or
``idle_timeout`` seconds without a received byte when those are given.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

from qqproto.simulator import (
    Counters,
    PreparedEvent,
    SentMessage,
    SimConnection,
    SimEvent,
    Simulator,
    WebhookPusher,
    describe_ack,
    describe_sent,
    run_command,
    sim_cdn,
    sim_portal,
)

from ._sim_webhook import WebhookPushThread

__all__ = [
    "SimulatorServer",
    "SimulatorThread",
    "WebhookPushThread",
    "run_simulator_forever",
    "serve_simulator",
]

T = TypeVar("T")
_LOOPBACK = {"127.0.0.1", "localhost"}


class _Controls:
    """Thread-safe shortcuts shared by :class:`SimulatorServer` and
    :class:`SimulatorThread`; each runs on the server's loop with its ``now``."""

    def call(self, fn: Callable[[Simulator, float], T]) -> T:
        raise NotImplementedError

    def inject_c2c_message(self, user_openid: str, content: str, **kw: Any) -> SimEvent:
        return self.call(lambda s, now: s.inject_c2c_message(user_openid, content, now=now,
                                                             **kw))

    def inject_c2c_burst(self, user_openid: str, contents: Iterable[str]) -> list[SimEvent]:
        texts = list(contents)
        return self.call(lambda s, now: s.inject_c2c_burst(user_openid, texts, now=now))

    def inject_group_at_message(self, group_openid: str, member_openid: str, content: str,
                                **kw: Any) -> SimEvent:
        return self.call(lambda s, now: s.inject_group_at_message(
            group_openid, member_openid, content, now=now, **kw))

    def inject_channel_message(self, channel_id: str, guild_id: str, author_id: str,
                               content: str, **kw: Any) -> SimEvent:
        return self.call(lambda s, now: s.inject_channel_message(
            channel_id, guild_id, author_id, content, now=now, **kw))

    def inject_dm_message(self, guild_id: str, author_id: str, content: str,
                          **kw: Any) -> SimEvent:
        return self.call(lambda s, now: s.inject_dm_message(guild_id, author_id, content,
                                                            now=now, **kw))

    def inject_interaction(self, scene: str, **kw: Any) -> SimEvent:
        return self.call(lambda s, now: s.inject_interaction(scene, now=now, **kw))

    def dispatch(self, event_type: str, d: Any, **kw: Any) -> SimEvent:
        return self.call(lambda s, now: s.dispatch(event_type, d, now=now, **kw))

    def dispatch_many(self, events: Iterable[tuple[str, Any]]) -> list[SimEvent]:
        items = list(events)
        return self.call(lambda s, now: s.dispatch_many(items, now=now))

    def prepare_c2c_messages(self, user_openid: str,
                             contents: Iterable[str]) -> list[PreparedEvent]:
        """Build and encode a burst ahead of time (send it with :meth:`dispatch_prepared`)."""
        texts = list(contents)
        return self.call(lambda s, now: s.prepare_c2c_messages(user_openid, texts, now=now))

    def dispatch_prepared(self, events: Iterable[PreparedEvent]) -> int:
        """Send events made by :meth:`prepare_c2c_messages` or ``sim.prepare``."""
        items = list(events)
        return self.call(lambda s, now: s.dispatch_prepared(items, now=now))

    def drop_connections(self, *, gateway_only: bool = True) -> int:
        return self.call(lambda s, now: s.drop_connections(now, gateway_only=gateway_only))

    def close_connections(self, code: int, reason: str = "") -> int:
        return self.call(lambda s, now: s.close_connections(code, reason, now=now))

    def send_reconnect(self) -> int:
        return self.call(lambda s, now: s.send_reconnect(now))

    def send_invalid_session(self, resumable: bool) -> int:
        return self.call(lambda s, now: s.send_invalid_session(resumable, now=now))

    def send_garbage(self, kind: str = "text") -> int:
        return self.call(lambda s, now: s.send_garbage(kind, now=now))

    def invalidate_tokens(self) -> None:
        self.call(lambda s, now: s.invalidate_tokens())

    def set_faults(self, **changes: Any) -> None:
        """``set_faults(ack_heartbeats=False, reject_resumes=1)``: fields of
        :class:`~qqproto.simulator.Faults`."""
        def apply(sim: Simulator, now: float) -> None:
            for name, value in changes.items():
                if not hasattr(sim.faults, name):
                    raise AttributeError(f"no fault named {name!r}")
                setattr(sim.faults, name, value)
        self.call(apply)

    def counters(self) -> Counters:
        """A copy of the simulator's counters."""
        return self.call(lambda s, now: dataclasses.replace(s.counters))

    def sent_messages(self) -> list[SentMessage]:
        return self.call(lambda s, now: list(s.sent_messages))


class SimulatorServer(_Controls):
    """A listening simulator on one asyncio loop (make it with :func:`serve_simulator`)."""

    def __init__(self, sim: Simulator, loop: asyncio.AbstractEventLoop,
                 after_pump: Callable[[], None] | None = None) -> None:
        self.sim = sim
        self.port = 0
        self._loop = loop
        self._thread = threading.get_ident()
        self._transports: dict[int, asyncio.Transport] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stopped = asyncio.Event()
        self._after_pump = after_pump

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.api_base}/app/getAppAccessToken"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/websocket"

    def env(self) -> dict[str, str]:
        """The variables that point a qqproto bot (or the CLI) at this simulator."""
        return {"QQBOT_APP_ID": self.sim.app_id,
                "QQBOT_CLIENT_SECRET": self.sim.secret.reveal(),  # a fake, for the bot
                "QQBOT_API_BASE": self.api_base, "QQBOT_TOKEN_URL": self.token_url,
                # The simulator's CDN is on its own origin: attachments may come from it.
                "QQBOT_MEDIA_ORIGINS": self.api_base}

    def call(self, fn: Callable[[Simulator, float], T]) -> T:
        """Run ``fn(sim, now)`` on the server's loop and flush what it caused."""
        if threading.get_ident() == self._thread:
            result = fn(self.sim, self._loop.time())
            self.pump()
            return result
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(self.call(fn))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30.0)

    # ---------------------------------------------------------------- byte pump

    def pump(self) -> None:
        for conn in self.sim.touched_connections():
            transport = self._transports.get(conn.id)
            if transport is None:
                continue
            data = conn.data_to_send()
            if conn.should_abort:
                transport.abort()
                continue
            if data:
                transport.write(data)
            if conn.should_close:
                transport.close()
        when = self.sim.get_timer()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = when
            self._timer = None if when is None else self._loop.call_at(when, self._on_timer)
        if self._after_pump is not None:
            self._after_pump()

    def _on_timer(self) -> None:
        # asyncio may run a timer a clock tick early: the deadline itself is "now".
        now = max(self._loop.time(), self._timer_at or 0.0)
        self._timer = self._timer_at = None
        self.sim.handle_timer(now)
        self.pump()

    def _protocol(self) -> asyncio.Protocol:
        return _SimProtocol(self)

    # ---------------------------------------------------------------- stopping

    def request_stop(self) -> None:
        """Stop serving (idempotent; call it on the loop's thread)."""
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def _close_all(self) -> None:
        for transport in list(self._transports.values()):
            transport.abort()
        self._transports.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None


class _SimProtocol(asyncio.Protocol):
    def __init__(self, server: SimulatorServer) -> None:
        self._server = server
        self._conn: SimConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        server = self._server
        self._conn = server.sim.new_connection(server._loop.time())
        server._transports[self._conn.id] = transport
        server.pump()

    def data_received(self, data: bytes) -> None:
        if self._conn is not None:
            self._conn.receive_data(data, self._server._loop.time())
            self._server.pump()

    def eof_received(self) -> bool:
        self.data_received(b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self._conn
        if conn is not None:
            self._server._transports.pop(conn.id, None)
            if not conn.closed:
                conn.abort()
            self._server.pump()


def _check_host(host: str) -> None:
    if host not in _LOOPBACK:
        raise ValueError(f"the simulator listens on 127.0.0.1 only, not {host!r}")


@contextlib.asynccontextmanager
async def serve_simulator(sim: Simulator | None = None, *, host: str = "127.0.0.1",
                          port: int = 0, lifetime: float | None = None,
                          idle_timeout: float | None = None,
                          after_pump: Callable[[], None] | None = None,
                          ) -> AsyncIterator[SimulatorServer]:
    """Listen on 127.0.0.1:``port`` (0 = any free port) until the block ends, or until
    ``lifetime`` / ``idle_timeout`` runs out (then ``server.wait_stopped()`` returns)."""
    _check_host(host)
    loop = asyncio.get_running_loop()
    sim = sim if sim is not None else Simulator()
    sim.unix_offset = time.time() - loop.time()
    server = SimulatorServer(sim, loop, after_pump)
    listener = await loop.create_server(server._protocol, "127.0.0.1", port)
    server.port = listener.sockets[0].getsockname()[1]
    sim_cdn(sim).config.base = server.api_base  # attachment URLs point here
    start = loop.time()
    sim.last_activity = start
    watchdog: asyncio.TimerHandle | None = None

    def check() -> None:
        nonlocal watchdog
        now = loop.time()
        deadlines = []
        if lifetime is not None:
            deadlines.append(start + lifetime)
        if idle_timeout is not None:
            deadlines.append(max(sim.last_activity, start) + idle_timeout)
        if deadlines and now >= min(deadlines):
            server.request_stop()
        elif deadlines:
            watchdog = loop.call_at(min(deadlines), check)

    check()
    try:
        stopper = asyncio.ensure_future(server.wait_stopped())
        stopper.add_done_callback(lambda _: listener.close())
        yield server
    finally:
        stopper.cancel()
        if watchdog is not None:
            watchdog.cancel()
        server.request_stop()
        listener.close()
        server._close_all()
        await listener.wait_closed()


class SimulatorThread(_Controls):
    """The simulator served on its own asyncio loop in a daemon thread.

    ``with SimulatorThread(Simulator(heartbeat_interval_ms=1000)) as sim_server:`` —
    then point a bot at ``sim_server.env()`` and drive it with the thread-safe methods.
    """

    def __init__(self, sim: Simulator | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, lifetime: float | None = None,
                 idle_timeout: float | None = None) -> None:
        _check_host(host)
        self.sim = sim if sim is not None else Simulator()
        self._port = port
        self._lifetime = lifetime
        self._idle_timeout = idle_timeout
        self._server: SimulatorServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="qqproto-sim", daemon=True)

    def start(self) -> SimulatorThread:
        self._thread.start()
        self._ready.wait(timeout=30.0)
        if self._error is not None:
            raise self._error
        if self._server is None:
            raise RuntimeError("the simulator thread did not start")
        return self

    def _run(self) -> None:
        async def main() -> None:
            async with serve_simulator(self.sim, port=self._port, lifetime=self._lifetime,
                                       idle_timeout=self._idle_timeout) as server:
                self._server = server
                self._ready.set()
                await server.wait_stopped()
        try:
            asyncio.run(main())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and join the thread (idempotent)."""
        server = self._server
        if server is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may be closing already
                server._loop.call_soon_threadsafe(server.request_stop)
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def server(self) -> SimulatorServer:
        if self._server is None:
            raise RuntimeError("the simulator thread is not running")
        return self._server

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def api_base(self) -> str:
        return self.server.api_base

    @property
    def token_url(self) -> str:
        return self.server.token_url

    @property
    def gateway_url(self) -> str:
        return self.server.gateway_url

    def env(self) -> dict[str, str]:
        return self.server.env()

    def call(self, fn: Callable[[Simulator, float], T]) -> T:
        if not self._thread.is_alive():
            raise RuntimeError("the simulator thread is not running")
        return self.server.call(fn)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_simulator_forever(port: int = 0, app_id: str = "102000001",
                          secret: str = "qqproto-simulator-secret",  # noqa: S107 - fake
                          print_fn: Callable[[str], None] = print, *,
                          lines: Iterable[str] | None = None,
                          lifetime: float | None = 8 * 3600.0,
                          idle_timeout: float | None = 1800.0,
                          stop_on_eof: bool = False, webhook: str | None = None) -> None:
    """Serve until ``quit``, the lifetime or the idle limit: print the ``QQBOT_*=…`` lines,
    then run each input line as a command (:func:`qqproto.simulator.run_command`; ``help``
    lists them) and print every message the bot sends, tap it ACKs and bind task of the
    portal.  ``lines`` defaults to standard input.  ``webhook``: also push every event to
    that callback URL, signed with the secret (validated with op 13 first)."""
    source = sys.stdin if lines is None else lines
    asyncio.run(_forever(Simulator(app_id=app_id, secret=secret), port=port,
                         print_fn=print_fn, source=source, lifetime=lifetime,
                         idle_timeout=idle_timeout, stop_on_eof=stop_on_eof,
                         webhook=webhook))


async def _forever(sim: Simulator, *, port: int, print_fn: Callable[[str], None],
                   source: Iterable[str], lifetime: float | None, idle_timeout: float | None,
                   stop_on_eof: bool, webhook: str | None = None) -> None:
    loop = asyncio.get_running_loop()
    seen = [0]
    last_ack: list[object] = [None]

    def show_sent() -> None:
        new = sim.counters.messages_sent - seen[0]
        seen[0] = sim.counters.messages_sent
        for message in list(sim.sent_messages)[-new:] if new else ():
            print_fn(describe_sent(message))
        acks = []
        for ack in reversed(sim.interaction_acks):
            if ack is last_ack[0]:
                break
            acks.append(ack)
        if acks:
            last_ack[0] = acks[0]
        for ack in reversed(acks):
            print_fn(describe_ack(ack))
        for notice in sim_portal(sim).take_notices():
            print_fn(notice)

    async with serve_simulator(sim, port=port, lifetime=lifetime, idle_timeout=idle_timeout,
                               after_pump=show_sent) as server:
        for name, value in server.env().items():
            print_fn(f"{name}={value}")
        pusher = None
        if webhook is not None:
            pusher = WebhookPushThread(WebhookPusher(callback_url=webhook, secret=sim.secret,
                                                     app_id=sim.app_id)).start()
            pusher.attach(server)
            print_fn(f"# pushing every event to {webhook}, signed for app id {sim.app_id}")
        print_fn("# simulator ready; type 'help' for commands")

        def handle(line: str | None) -> None:
            if line is None:
                if stop_on_eof:
                    server.request_stop()
                return
            result = server.call(lambda s, now: run_command(s, line, now))
            if result.text:
                print_fn(result.text)
            if result.stop:
                server.request_stop()

        def read() -> None:
            with contextlib.suppress(RuntimeError):  # loop closed: nothing to do
                for line in source:
                    loop.call_soon_threadsafe(handle, line)
                loop.call_soon_threadsafe(handle, None)

        threading.Thread(target=read, name="qqproto-sim-stdin", daemon=True).start()
        try:
            await server.wait_stopped()
        finally:
            if pusher is not None:
                await asyncio.to_thread(pusher.stop, 2.0)
