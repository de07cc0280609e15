"""Gateway throughput: a burst of C2C_MESSAGE_CREATE dispatches, bytes in → handler (issue 3).

The simulator prepares N realistic C2C messages (bench/_common.py, deterministic) and
pushes them as fast as it can.  Each row is one way of turning those frames into events:

* ``floor``: wsproto's client frame layer + stdlib ``json.loads`` on the same frame bytes,
  in memory: the least a Python client built on those libraries does per event.
* ``floor-orjson``: the same with ``orjson.loads`` (informational).
* ``core``: ``qqproto.gateway.GatewayConnection`` fed the same bytes in 64 KiB chunks, in memory:
  bytes in → ``Dispatch`` events out, no sockets.
* ``asyncio`` / ``trio`` / ``threaded``: the qqproto drivers end to end, connected to the
  simulator over 127.0.0.1 (token, ``/gateway/bot``, WebSocket), counting events in an
  ``@bot.on("C2C_MESSAGE_CREATE")`` handler; ``asyncio-iothread`` / ``trio-iothread``:
  the ``-typed`` rows with ``io_thread=True`` (the connection on its own thread).
* ``botpy`` / ``agent-sdk``: qq-botpy and qqbot-agent-sdk, driven through their public
  API against the same simulator (their endpoints redirected to it), counting events in
  their own handler callbacks.

End-to-end rows run the client in a worker process and the simulator in another; CPU is
that worker's ``time.process_time()`` from just before the burst to the N-th handler call,
divided by the events delivered (see bench/README.md).  Targets (issue 3): qqproto
asyncio CPU per event ≤ best competitor / 3, and core ≤ 1.5 × floor.

    python bench/gateway_throughput.py [--events N] [--repeat K] [--only a,b] [--json] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.util
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import Counter, Sample, StopSignal

_common.ensure_repo_on_path()

CHUNK: Final = 64 * 1024
#: What the issue measured on this machine class, µs of client CPU per event (for context
#: when a competitor is not installed here).
REFERENCE_US: Final = {"botpy": 51.0, "agent-sdk": 98.0, "floor": 21.0}
#: Dial the QQ_* endpoints at the simulator, never at the real platform.
_OFFICIAL_TOKEN_URL: Final = "https://bots.qq.com/app/getAppAccessToken"


# ====================================================================== the frames

def _zero_entropy(n: int) -> bytes:
    # A fixed WebSocket key, so recorded 101 responses replay against a new connection.
    return bytes(n)


@dataclass(frozen=True, slots=True)
class Frames:
    """What the simulator sends a client for the burst, recorded in memory."""

    #: 101 response, Hello and READY, as they came (not timed).
    prefix: tuple[bytes, ...]
    #: The burst: N dispatch frames, exactly the server's bytes.
    burst: bytes
    token: str
    url: str
    digest: str


def capture_frames(events: int) -> Frames:
    """Run the handshake and the burst between a simulator and a GatewayConnection in
    memory and keep the server's bytes."""
    from qqproto.gateway._connection import GatewayConnection

    sim, prepared = _common.burst_simulator(events)
    token, _ = sim.issue_token(0.0)
    url = "ws://127.0.0.1/websocket"
    client = GatewayConnection(url=url, token=token.reveal(), entropy=_zero_entropy)
    server = sim.new_connection(0.0)
    client.initiate(0.0)
    prefix: list[bytes] = []
    for _ in range(10):  # upgrade + Hello, Identify → READY: two round trips
        out = client.data_to_send()
        if out:  # (b"" would mean EOF)
            server.receive_data(out, 0.0)
        data = server.data_to_send()
        if not data:
            break
        prefix.append(data)
        client.receive_data(data, 0.0)
    if client.session is None:
        raise RuntimeError(f"the in-memory handshake did not reach READY: {client!r}")
    sent = sim.dispatch_prepared(prepared, now=1.0)
    burst = server.data_to_send()
    if sent != events:
        raise RuntimeError(f"the simulator sent {sent} of {events} events")
    return Frames(prefix=tuple(prefix), burst=burst, token=token.reveal(), url=url,
                  digest=_common.burst_digest(prepared))


def _chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# ====================================================================== in-memory rows

def run_floor(frames: Frames, events: int, loads: Callable[[str], Any]) -> Sample:
    """wsproto's client frame layer + ``loads`` on the burst bytes.

    ``wsproto.connection.Connection`` is wsproto's frame layer without its HTTP handshake
    (the handshake is not part of the burst); text messages are joined if fragmented."""
    from wsproto.connection import Connection, ConnectionType
    from wsproto.events import TextMessage

    ws = Connection(ConnectionType.CLIENT)
    chunks = _chunks(frames.burst)
    count = 0
    parts: list[str] = []
    clock = _common.Stopwatch()
    clock.start()
    for chunk in chunks:
        ws.receive_data(chunk)
        for event in ws.events():
            if type(event) is TextMessage:
                if not event.message_finished:
                    parts.append(event.data)
                    continue
                text = event.data
                if parts:
                    parts.append(text)
                    text = "".join(parts)
                    parts.clear()
                frame = loads(text)
                if frame.get("op") == 0:
                    count += 1
    wall, cpu = clock.read()
    return Sample(events=count, expected=events, wall=wall, cpu=cpu)


def run_core(frames: Frames, events: int) -> Sample:
    """GatewayConnection fed the burst in 64 KiB chunks; Dispatch events drained."""
    from qqproto.events import Dispatch
    from qqproto.gateway._connection import GatewayConnection

    conn = GatewayConnection(url=frames.url, token=frames.token, entropy=_zero_entropy)
    conn.initiate(0.0)
    for data in frames.prefix:
        conn.data_to_send()
        conn.receive_data(data, 0.0)
    conn.data_to_send()
    while conn.next_event() is not None:
        pass
    if conn.session is None:
        return _common.failed(events, "failed: the recorded handshake did not replay")
    chunks = _chunks(frames.burst)
    count = 0
    receive, send, next_event = conn.receive_data, conn.data_to_send, conn.next_event
    clock = _common.Stopwatch()
    clock.start()
    for chunk in chunks:
        receive(chunk, 1.0)
        send()
        while (event := next_event()) is not None:
            if type(event) is Dispatch:
                count += 1
    wall, cpu = clock.read()
    return Sample(events=count, expected=events, wall=wall, cpu=cpu)


def run_session(frames: Frames, events: int) -> Sample:
    """GatewaySession (the supervisor a driver runs: dedupe, processed seq, commands) fed
    the burst in 64 KiB chunks in memory, its HTTP answered by hand: what a driver adds
    on top of this row is the driver's own cost."""
    import random

    from qqproto._commands import OpenConnection, SendHttpRequest
    from qqproto._endpoints import Endpoints
    from qqproto._http import HttpResponse
    from qqproto.events import Dispatch
    from qqproto.gateway._session import GatewaySession

    base = "http://127.0.0.1"
    session = GatewaySession(
        app_id="102000001", secret="bench",
        endpoints=Endpoints(api_base=base, token_url=base + "/app/getAppAccessToken"),
        rng=random.Random(0), connection_options={"entropy": _zero_entropy})
    answers = {
        "token": {"access_token": frames.token, "expires_in": "7200"},
        "gateway": {"url": frames.url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 86_400_000,
            "max_concurrency": 1}}}
    session.start(0.0, 1_735_660_800.0)
    for _ in range(10):
        cmd = session.next_command()
        if isinstance(cmd, SendHttpRequest):
            body = json.dumps(answers.get(cmd.purpose, {})).encode()
            session.http_response(cmd.id, HttpResponse(
                status=200, headers=(("Content-Type", "application/json"),), body=body), 0.0)
        elif isinstance(cmd, OpenConnection):
            session.connection_made(cmd.id, 0.0)
            break
    for data in frames.prefix:
        session.data_to_send()
        session.receive_data(data, 0.0)
    session.data_to_send()
    while session.next_event() is not None:
        pass
    if session.snapshot() is None:
        return _common.failed(events, "failed: the recorded handshake did not replay")
    chunks = _chunks(frames.burst)
    count = 0
    receive, send, next_event = session.receive_data, session.data_to_send, session.next_event
    clock = _common.Stopwatch()
    clock.start()
    for chunk in chunks:
        receive(chunk, 1.0)
        send()
        while (event := next_event()) is not None:
            if type(event) is Dispatch:
                count += 1
    wall, cpu = clock.read()
    return Sample(events=count, expected=events, wall=wall, cpu=cpu)


# ====================================================================== end-to-end clients
# Each runs in a worker process (``--worker NAME``) until ``stop`` is requested.

def _settings(sim_env: dict[str, str]) -> Any:
    from qqproto import Settings

    return Settings.from_env(sim_env)


def _count(bot: Any, counter: Counter, typed: bool, coroutine: bool = False) -> None:
    """The handler every qqproto row registers: the raw dispatch (the same work as the
    competitors' rows: count), or the parsed model (``typed``: what the README's bots do,
    the parse included), as an ``async def`` handler when ``coroutine`` (what users write
    on asyncio and trio, and what the competitors' handlers are)."""
    if typed:
        from qqproto.models import C2CMessageCreate

        if coroutine:
            async def on_message(event: C2CMessageCreate) -> None:
                counter.hit()

            bot.on(C2CMessageCreate)(on_message)
        else:
            bot.on(C2CMessageCreate)(counter.hit)
        return
    from qqproto.events import Dispatch

    def hit(event: Dispatch) -> None:
        if event.type == "C2C_MESSAGE_CREATE":
            counter.hit()

    bot.on(Dispatch)(hit)


def client_asyncio(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                   timeout: float, typed: bool = False, io_thread: bool = False) -> None:
    from qqproto_transports.asyncio import Bot as AsyncioBot

    async def main() -> None:
        bot = AsyncioBot(_settings(sim_env), env={}, io_thread=io_thread)
        _count(bot, counter, typed, coroutine=typed)
        loop = asyncio.get_running_loop()
        stop.register(lambda: loop.call_soon_threadsafe(bot.close))
        await asyncio.wait_for(bot.run(), timeout)

    asyncio.run(main())


def client_asyncio_iter(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                        timeout: float) -> None:
    from qqproto.events import Dispatch
    from qqproto_transports.asyncio import Bot as AsyncioBot

    async def consume(bot: AsyncioBot) -> None:
        async for event in bot.events():
            if type(event) is Dispatch and event.type == "C2C_MESSAGE_CREATE":
                counter.hit()

    async def main() -> None:
        bot = AsyncioBot(_settings(sim_env), env={})
        loop = asyncio.get_running_loop()
        stop.register(lambda: loop.call_soon_threadsafe(bot.close))
        consumer = asyncio.ensure_future(consume(bot))
        try:
            await asyncio.wait_for(bot.run(), timeout)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    asyncio.run(main())


def client_trio(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                timeout: float, typed: bool = False, io_thread: bool = False) -> None:
    import trio

    from qqproto_transports.trio import Bot as TrioBot

    async def main() -> None:
        bot = TrioBot(_settings(sim_env), env={}, io_thread=io_thread)
        _count(bot, counter, typed, coroutine=typed)
        token = trio.lowlevel.current_trio_token()
        stop.register(lambda: token.run_sync_soon(bot.close))
        with trio.fail_after(timeout):
            await bot.run()

    trio.run(main)


def client_threaded(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                    timeout: float, typed: bool = False) -> None:
    from qqproto_transports.threads import Bot as ThreadedBot

    bot = ThreadedBot(_settings(sim_env), env={})
    _count(bot, counter, typed)
    stop.register(lambda: bot.close(timeout=0))
    bot.start()
    bot.join(timeout)


class _TokenRedirect:
    """Stands in for the ``aiohttp`` module inside ``botpy.robot``, whose token request
    has the official URL written into it: that one POST goes to the simulator instead.
    Everything else is the real aiohttp."""

    def __init__(self, aiohttp: Any, token_url: str) -> None:
        self._aiohttp = aiohttp
        self._token_url = token_url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._aiohttp, name)

    def ClientSession(self, *args: Any, **kwargs: Any) -> Any:
        return _RedirectingSession(self._aiohttp.ClientSession(*args, **kwargs),
                                   self._token_url)


class _RedirectingSession:
    def __init__(self, session: Any, token_url: str) -> None:
        self._session = session
        self._token_url = token_url

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._session.post(self._token_url if url == _OFFICIAL_TOKEN_URL else url,
                                  **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def aim_botpy_at(sim_env: dict[str, str]) -> None:
    """Point botpy at the simulator: it builds API URLs from Route.SCHEME/DOMAIN and
    posts for tokens to a fixed URL (redirected by :class:`_TokenRedirect`)."""
    from urllib.parse import urlsplit

    import aiohttp
    import botpy.http
    import botpy.robot

    base = urlsplit(sim_env["QQBOT_API_BASE"])
    botpy.http.Route.SCHEME = base.scheme
    botpy.http.Route.DOMAIN = base.netloc
    botpy.robot.aiohttp = _TokenRedirect(aiohttp, sim_env["QQBOT_TOKEN_URL"])


def client_botpy(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                 timeout: float) -> None:
    import botpy

    aim_botpy_at(sim_env)

    class Bot(botpy.Client):  # type: ignore[misc]
        async def on_c2c_message_create(self, message: Any) -> None:
            counter.hit()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stop.register(lambda: loop.call_soon_threadsafe(task.cancel))
        client = Bot(intents=botpy.Intents(public_messages=True), bot_log=False,
                     ext_handlers=False)
        with contextlib.suppress(asyncio.CancelledError):
            async with client:
                await asyncio.wait_for(client.start(appid=sim_env["QQBOT_APP_ID"],
                                                    secret=sim_env["QQBOT_CLIENT_SECRET"]),
                                       timeout)

    asyncio.run(main())


def client_agent_sdk(sim_env: dict[str, str], counter: Counter, stop: StopSignal,
                     timeout: float) -> None:
    import qqbot_agent_sdk.api_client as api_module
    from qqbot_agent_sdk.api_client import QQApiClient
    from qqbot_agent_sdk.websocket import QQWebSocket, WSCallbacks

    # The SDK reads QQ_API_BASE / QQ_TOKEN_URL at import; set its module constants.
    api_module.API_BASE = sim_env["QQBOT_API_BASE"]  # type: ignore[attr-defined]
    api_module.TOKEN_URL = sim_env["QQBOT_TOKEN_URL"]  # type: ignore[attr-defined]
    lock = threading.Lock()
    state: dict[str, Any] = {"session": (None, None), "fatal": None}

    def get_session() -> tuple[str | None, int | None]:
        with lock:
            return state["session"]  # type: ignore[no-any-return]

    def set_session(session_id: str | None, seq: int | None) -> None:
        with lock:
            state["session"] = (session_id, seq)

    def fatal(code: str, message: str) -> None:
        state["fatal"] = f"{code}: {message}"
        stop.request()

    async def on_message(event_type: str, data: dict[str, Any]) -> None:
        if event_type == "C2C_MESSAGE_CREATE":
            counter.hit()

    def nothing(*_: object) -> None:
        return None

    async def main() -> None:
        api = QQApiClient(sim_env["QQBOT_APP_ID"], sim_env["QQBOT_CLIENT_SECRET"])
        callbacks = WSCallbacks(
            on_message_event=on_message, on_connected=nothing, on_disconnected=nothing,
            on_fatal_error=fatal, get_token=api.ensure_token_sync, get_session=get_session,
            set_session=set_session, set_heartbeat_interval=nothing,
            clear_token=api.clear_token, fail_pending=nothing,
            get_gateway_url=api.get_gateway_url_sync)
        ws = QQWebSocket(callbacks, log_tag="bench")
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        stop.register(lambda: loop.call_soon_threadsafe(stopped.set))
        url = await asyncio.wait_for(asyncio.to_thread(api.get_gateway_url_sync), 30.0)
        ws.start(url, loop)
        try:
            await asyncio.wait_for(stopped.wait(), timeout)
        finally:
            await asyncio.wait_for(ws.async_stop(), 30.0)
        if state["fatal"]:
            raise RuntimeError(state["fatal"])

    asyncio.run(main())


# ====================================================================== contenders

@dataclass(frozen=True, slots=True)
class Contender:
    name: str
    label: str
    #: "floor", "qqproto" or "competitor"; informational rows never enter the targets.
    role: str
    informational: bool = False
    #: Modules whose absence gives a "not installed" / "not available" row.
    needs: tuple[str, ...] = ()
    missing: str = "not installed"
    client: _common.Client | None = None


CONTENDERS: Final = (
    Contender("floor", "wsproto + json (floor)", "floor", needs=("wsproto",)),
    Contender("floor-orjson", "wsproto + orjson", "floor", informational=True,
              needs=("wsproto", "orjson")),
    Contender("core", "qqproto core (GatewayConnection)", "qqproto"),
    Contender("session", "qqproto GatewaySession, in memory", "qqproto", informational=True),
    Contender("asyncio", "qqproto asyncio (Bot)", "qqproto", client=client_asyncio),
    Contender("asyncio-typed", "qqproto asyncio as users run it (async def, typed)",
              "qqproto", client=functools.partial(client_asyncio, typed=True)),
    Contender("asyncio-iothread", "qqproto asyncio, io_thread=True (async def, typed)",
              "qqproto", informational=True,
              client=functools.partial(client_asyncio, typed=True, io_thread=True)),
    Contender("asyncio-iter", "qqproto asyncio, events()", "qqproto", informational=True,
              client=client_asyncio_iter),
    Contender("trio", "qqproto trio (Bot)", "qqproto",
              needs=("trio",), missing="not available", client=client_trio),
    Contender("trio-typed", "qqproto trio as users run it (async def, typed)", "qqproto",
              needs=("trio",), missing="not available",
              client=functools.partial(client_trio, typed=True)),
    Contender("trio-iothread", "qqproto trio, io_thread=True (async def, typed)", "qqproto",
              informational=True, needs=("trio",), missing="not available",
              client=functools.partial(client_trio, typed=True, io_thread=True)),
    Contender("threaded", "qqproto threads (Bot)", "qqproto", client=client_threaded),
    Contender("threaded-typed", "qqproto threads as users run it (def, typed)", "qqproto",
              client=functools.partial(client_threaded, typed=True)),
    Contender("botpy", "qq-botpy", "competitor", needs=("botpy", "aiohttp"),
              client=client_botpy),
    Contender("agent-sdk", "qqbot-agent-sdk", "competitor",
              needs=("qqbot_agent_sdk", "aiohttp"), client=client_agent_sdk),
)
BY_NAME: Final = {c.name: c for c in CONTENDERS}


def _missing(contender: Contender) -> str | None:
    for module in contender.needs:
        try:
            if importlib.util.find_spec(module) is None:
                return f"{contender.missing} ({module})"
        except (ImportError, ValueError):
            return f"{contender.missing} ({module})"
    return None


def run_once(contender: Contender, events: int, frames: Frames | None,
             profile: str | None, digest: str | None = None) -> Sample:
    reason = _missing(contender)
    if reason is not None:
        return _common.failed(events, reason)
    try:
        if contender.client is None:
            assert frames is not None
            if contender.name == "core":
                return run_core(frames, events)
            if contender.name == "session":
                return run_session(frames, events)
            if contender.name == "floor":
                return run_floor(frames, events, json.loads)
            import orjson
            return run_floor(frames, events, orjson.loads)
        argv = [str(Path(__file__).resolve()), "--worker", contender.name,
                "--events", str(events)]
        if profile:
            argv += ["--profile-out", profile]
        return _common.run_worker(argv, events, digest=digest)
    except Exception as exc:  # a row, never a crash of the whole bench
        return _common.failed(events, f"failed: {type(exc).__name__}: {exc}"[:200])


# ====================================================================== report

@dataclass
class Row:
    contender: Contender
    sample: Sample
    runs: list[Sample]


def best_competitor(rows: Sequence[Row]) -> Row | None:
    done = [r for r in rows if r.contender.role == "competitor" and r.sample.complete]
    return min(done, key=lambda r: r.sample.cpu_us_per_event) if done else None


def _find(rows: Sequence[Row], name: str) -> Row | None:
    return next((r for r in rows if r.contender.name == name), None)


#: Rows held to a third of the best competitor: raw dispatches on asyncio (issue 3), and
#: every driver as users run it (issue 15).
THIRD_OF_RIVAL: Final = ("asyncio", "asyncio-typed", "trio-typed", "threaded-typed")


def targets(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The checks of issues 3 and 15: PASS, FAIL or SKIP (a side was not measured)."""
    out = []
    rival = best_competitor(rows)
    for name in THIRD_OF_RIVAL:
        row = _find(rows, name)
        check: dict[str, Any] = {"name": f"{name} CPU/event <= best competitor / 3"}
        if row is None or not row.sample.complete or rival is None:
            check.update(result="SKIP", detail=f"{name} or every competitor not measured")
        else:
            limit = rival.sample.cpu_us_per_event / 3
            value = row.sample.cpu_us_per_event
            check.update(result="PASS" if value <= limit else "FAIL", value_us=value,
                         limit_us=limit, detail=f"{value:.1f} us vs {limit:.1f} us "
                                                f"({rival.contender.name} / 3)")
        out.append(check)
    core, floor = _find(rows, "core"), _find(rows, "floor")
    check = {"name": "core CPU/event <= 1.5 x floor"}
    if core is None or floor is None or not core.sample.complete or not floor.sample.complete:
        check.update(result="SKIP", detail="core or floor not measured")
    else:
        limit = floor.sample.cpu_us_per_event * 1.5
        value = core.sample.cpu_us_per_event
        check.update(result="PASS" if value <= limit else "FAIL", value_us=value,
                     limit_us=limit, detail=f"{value:.1f} us vs {limit:.1f} us "
                                            f"(1.5 x floor)")
    out.append(check)
    return out


def render(rows: Sequence[Row], checks: Sequence[dict[str, Any]], events: int,
           repeat: int, digest: str) -> str:
    floor = _find(rows, "floor")
    floor_us = floor.sample.cpu_us_per_event if floor and floor.sample.complete else None
    rival = best_competitor(rows)
    rival_us = rival.sample.cpu_us_per_event if rival else None
    body = []
    for row in rows:
        s, c = row.sample, row.contender
        note = "" if s.complete else s.status
        if c.informational and not note:
            note = "informational"
        if s.events == 0:
            body.append([c.name, "-", "-", "-", "-", "-", "-", note])
            continue
        us = s.cpu_us_per_event
        body.append([
            c.name, f"{s.events}", f"{s.wall:.3f}", f"{s.events_per_s:,.0f}", f"{us:.1f}",
            f"{us / floor_us:.2f}x" if floor_us else "-",
            f"{us / rival_us:.2f}x" if rival_us else "-", note])
    table = _common.format_table(
        ["contender", "events", "wall s", "events/s", "CPU us/event", "x floor",
         "x best competitor", "note"], body, "<>>>>>><")
    lines = [f"gateway throughput: {events} C2C_MESSAGE_CREATE dispatches, best of {repeat}, "
             f"burst digest {digest}", "", table, ""]
    if rival is not None:
        lines.append(f"best competitor: {rival.contender.name} "
                     f"({rival.sample.cpu_us_per_event:.1f} us/event)")
    else:
        lines.append("best competitor: none measured (issue 3 reference figures: "
                     + ", ".join(f"{k} {v:g} us" for k, v in REFERENCE_US.items()) + ")")
    for check in checks:
        lines.append(f"{check['result']:4}  {check['name']}: {check['detail']}")
    return "\n".join(lines)


# ====================================================================== main

def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=20_000, help="events per burst")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; best kept")
    parser.add_argument("--only", default="", help="comma-separated contenders: "
                        + ",".join(BY_NAME))
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--profile", metavar="NAME", default="",
                        help="cProfile one end-to-end contender's worker (main thread) "
                             "and print where its time goes")
    # Worker mode (used by the benchmark itself).
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sim-env", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    args.names = names or list(BY_NAME)
    if args.profile and (args.profile not in BY_NAME or BY_NAME[args.profile].client is None):
        parser.error("--profile takes an end-to-end contender: "
                     + ", ".join(c.name for c in CONTENDERS if c.client))
    return args


def profile_worker(name: str, run: Callable[[str], Sample],
                   where: str = "the handler's thread") -> None:
    """``run(path)`` one worker with cProfile saving to ``path``; print where its time
    went (``where``: the thread profiled)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "worker.pstats")
        sample = run(path)
        print(f"{name}: {sample.events} events, {sample.cpu_us_per_event:.1f} us CPU/event "
              f"({sample.status}); cProfile (which slows it) of {where}, first to last "
              "event:")
        if Path(path).exists():
            print_profile(path)


def print_profile(path: str, limit: int = 30) -> None:
    import pstats

    stats = pstats.Stats(path, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.worker:
        contender = BY_NAME[args.worker]
        assert contender.client is not None
        _common.worker_main(contender.client, args.events, json.loads(args.sim_env),
                            timeout=args.timeout, profile=args.profile_out or None)
        return 0  # not reached: the worker leaves with os._exit

    if args.profile:
        profile_worker(args.profile, lambda path: run_once(BY_NAME[args.profile],
                                                           args.events, None, path))
        return 0

    selected = [BY_NAME[n] for n in args.names]
    frames = None
    if any(c.client is None for c in selected):
        frames = capture_frames(args.events)
    digest = frames.digest if frames else _common.burst_digest(
        _common.burst_simulator(args.events)[1])
    runs: dict[str, list[Sample]] = {c.name: [] for c in selected}
    for _ in range(args.repeat):  # round robin: load from elsewhere hits every row alike
        for contender in selected:
            sample = run_once(contender, args.events, frames, None, digest)
            runs[contender.name].append(sample)
            if not args.json:
                print(f"  {contender.name}: {sample.cpu_us_per_event:.1f} us/event, "
                      f"{sample.events}/{sample.expected} events ({sample.status})",
                      file=sys.stderr, flush=True)
    rows = [Row(c, _common.best(runs[c.name]), runs[c.name]) for c in selected]
    checks = targets(rows)
    if args.json:
        print(json.dumps({
            "events": args.events, "repeat": args.repeat, "burst_digest": digest,
            "rows": [{"name": r.contender.name, "label": r.contender.label,
                      "role": r.contender.role, "informational": r.contender.informational,
                      **r.sample.to_dict(), "runs": [s.to_dict() for s in r.runs]}
                     for r in rows],
            "targets": checks}, indent=2))
    else:
        print(render(rows, checks, args.events, args.repeat, digest))
    if args.check and any(c["result"] == "FAIL" for c in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
