"""Shared machinery for the benchmarks in bench/: clocks, processes, the report table.

Why processes.  A client's CPU is read with :func:`time.process_time` (user + system time
of every thread of one process), so nothing but that client may run in the process being
measured: the simulator runs in one subprocess (``python bench/_common.py serve``) and
each end-to-end client in another (a *worker*), while the benchmark itself only
orchestrates.  A fresh pair per run also means no library's threads, loggers or event
loop policy leak from one contender into the next, and a client that hangs is killed
after its timeout instead of hanging the benchmark.

The conversation, one line each way on pipes (every wait has a timeout):

* simulator: prints ``@@bench serving {json}`` (its ``QQBOT_*`` variables and a digest
  of the prepared burst); then answers ``ready`` with ``@@bench ready yes|no`` (is a bot
  authenticated on the gateway?), ``arm`` with ``@@bench armed N`` (the whole burst is
  dispatched into the connection's output, not yet written) and ``burst`` with
  ``@@bench sent N`` once it handed every byte to the socket in one write (``sent N
  early`` if other traffic flushed part of it before); ``quit`` or end of input stops it.
  Arming ahead keeps the simulator's own encoding out of the client's wall time.
* worker: runs the client on its main thread; on ``start`` its controller thread takes
  the clocks and prints ``@@bench started``; when the handler has seen all N events (or
  the burst timeout ran out) it prints ``@@bench result {json}`` and stops the client.

The burst is deterministic: :func:`burst_simulator` prepares the same events (ids,
texts, timestamps) on every run, so every contender receives the same frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import itertools
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

REPO: Final = Path(__file__).resolve().parent.parent
TAG: Final = "@@bench "


def ensure_repo_on_path() -> None:
    """Make ``qqproto`` and ``qqproto_transports`` importable from this checkout."""
    for path in (str(REPO / "transports"), str(REPO)):
        if path not in sys.path:
            sys.path.insert(0, path)


def child_env() -> dict[str, str]:
    """The environment for a subprocess: this checkout importable, no proxies.

    Some clients route WebSockets through ``HTTPS_PROXY`` even for 127.0.0.1, so the
    proxy variables are removed for every contender alike."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "wss_proxy",
                                "ws_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(REPO / "transports"), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ====================================================================== clocks and results

@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """One run of one contender: events the handler saw, wall and CPU seconds."""

    events: int
    expected: int
    wall: float
    cpu: float
    #: "ok", "incomplete", "failed: …", "not installed", "not available"
    status: str = "ok"

    @property
    def complete(self) -> bool:
        return self.status == "ok" and self.events == self.expected

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall if self.wall > 0 else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu / self.events * 1e6 if self.events else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "expected": self.expected, "wall_s": self.wall,
                "cpu_s": self.cpu, "status": self.status,
                "events_per_s": self.events_per_s,
                "cpu_us_per_event": self.cpu_us_per_event}


def failed(expected: int, status: str) -> Sample:
    return Sample(events=0, expected=expected, wall=0.0, cpu=0.0, status=status)


class Stopwatch:
    """Wall (``perf_counter``) and process CPU (``process_time``) between two marks."""

    __slots__ = ("cpu0", "wall0")

    def __init__(self) -> None:
        self.wall0 = self.cpu0 = 0.0

    def start(self) -> None:
        gc.collect()  # garbage from setup is not the burst's to pay for
        self.wall0 = time.perf_counter()
        self.cpu0 = time.process_time()

    def read(self) -> tuple[float, float]:
        cpu = time.process_time()
        wall = time.perf_counter()
        return wall - self.wall0, cpu - self.cpu0


def best(samples: Sequence[Sample]) -> Sample:
    """The complete run with the least CPU per event; else the run that got furthest."""
    complete = [s for s in samples if s.complete]
    if complete:
        return min(complete, key=lambda s: s.cpu_us_per_event)
    return max(samples, key=lambda s: s.events)


# ====================================================================== the burst

#: What users write to a bot: short commands, questions, CJK, emoji, links.
_TEXTS: Final = (
    "你好",
    "/help",
    "帮我查一下明天北京的天气",
    "hello, can you summarise this article for me?",
    "👍",
    "好的，谢谢！",
    "https://example.com/articles/2025/01/some-long-slug?utm_source=qq&utm_medium=chat",
    "把上面那段代码改成异步的版本，顺便加上超时和重试。",
    "/remind 明天 9:00 开会",
    "ok",
)
BURST_USER_OPENID: Final = "E4F4AEA33253A2797FB897C50B81D7ED"


def burst_texts(n: int) -> list[str]:
    return [f"{_TEXTS[i % len(_TEXTS)]} #{i}" for i in range(n)]


def burst_simulator(n: int) -> tuple[Any, list[Any]]:
    """A fresh simulator and ``n`` C2C_MESSAGE_CREATE events prepared on it.

    Preparing first, on a seeded simulator at ``now=0``, gives the same ids, texts and
    timestamps on every run; the replay buffer holds the whole burst."""
    ensure_repo_on_path()
    from qqproto.simulator._simulator import Simulator

    sim = Simulator(rng=random.Random(3), replay_buffer_size=n + 16, record_limit=256)
    prepared = sim.prepare_c2c_messages(BURST_USER_OPENID, burst_texts(n), now=0.0)
    return sim, prepared


def burst_digest(prepared: Iterable[Any]) -> str:
    """A short digest of the prepared events (ids and encoded payloads)."""
    h = hashlib.sha256()
    for event in prepared:
        h.update(event.id.encode())
        h.update(event.d_json)
    return h.hexdigest()[:16]


# ====================================================================== line pipes

class Lines:
    """Tagged lines from a child's stdout, read by a daemon thread; other lines are
    ignored (libraries may print)."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        thread.start()

    def _read(self, stream: IO[str]) -> None:
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                if line.startswith(TAG):
                    self._queue.put(line[len(TAG):].rstrip("\n"))
        self._queue.put(None)

    def pending(self) -> bool:
        """Whether a line (or the end of output) is waiting to be read."""
        return not self._queue.empty()

    def next(self, timeout: float) -> str | None:
        """The next tagged line; ``None`` at end of output; TimeoutError after ``timeout``."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no answer within {timeout:g} s") from None


class Child:
    """A Python subprocess spoken to with tagged lines; stderr goes to a temp file."""

    def __init__(self, argv: Sequence[str]) -> None:
        # Lives as long as the child; closed in close().
        self._stderr = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", errors="replace")
        self.proc = subprocess.Popen(
            [sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, encoding="utf-8", env=child_env(), cwd=REPO)
        assert self.proc.stdout is not None
        self.lines = Lines(self.proc.stdout)

    def send(self, line: str) -> None:
        stdin = self.proc.stdin
        if stdin is None:
            return
        with contextlib.suppress(OSError, ValueError):
            stdin.write(line + "\n")
            stdin.flush()

    def expect(self, prefix: str, timeout: float) -> str:
        """The rest of the next line starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.next(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"exited ({self.proc.poll()}): {self.last_error()}")
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def last_error(self, limit: int = 300) -> str:
        """The last non-empty stderr line (why a child died), shortened."""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            lines = [ln.strip() for ln in self._stderr.read().splitlines() if ln.strip()]
            if lines:
                return lines[-1][:limit]
        return "no error output"

    def close(self, grace: float = 5.0) -> None:
        """Ask it to quit, wait ``grace`` seconds, then kill it."""
        self.send("quit")
        with contextlib.suppress(OSError, ValueError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        self._stderr.close()


class SimProcess(Child):
    """``python bench/_common.py serve``: the simulator on 127.0.0.1 in its own process."""

    def __init__(self, events: int, *, timeout: float = 30.0) -> None:
        super().__init__([str(Path(__file__).resolve()), "serve", "--events", str(events)])
        try:
            info = json.loads(self.expect("serving", timeout))
        except BaseException:
            self.close()
            raise
        #: The ``QQBOT_*`` variables that point a bot at this simulator.
        self.env: dict[str, str] = info["env"]
        self.port: int = info["port"]
        self.digest: str = info["digest"]

    def ready(self, timeout: float = 10.0) -> bool:
        self.send("ready")
        return self.expect("ready", timeout) == "yes"

    def arm(self, timeout: float) -> int:
        self.send("arm")
        return int(self.expect("armed", timeout))

    def burst(self, timeout: float) -> tuple[int, bool]:
        """Write the armed burst: (events, whether part of it had already left)."""
        self.send("burst")
        count, _, early = self.expect("sent", timeout).partition(" ")
        return int(count), early == "early"

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# ====================================================================== the simulator side

def serve(events: int) -> None:
    """Serve a burst simulator until ``quit`` or end of input (``serve`` command)."""
    asyncio.run(_serve(events))


async def _serve(events: int) -> None:
    ensure_repo_on_path()
    from qqproto_transports.simulator import serve_simulator

    sim, prepared = burst_simulator(events)
    loop = asyncio.get_running_loop()

    def say(line: str) -> None:
        print(TAG + line, flush=True)

    async with serve_simulator(sim, lifetime=1800.0, idle_timeout=600.0) as server:
        say("serving " + json.dumps({"env": server.env(), "port": server.port,
                                     "digest": burst_digest(prepared)}))

        sessions = []  # (session, delivered seq when armed)

        def live() -> list[Any]:
            return [link.session for link in sim.gateway_links()
                    if link.active and link.session is not None]

        def arm() -> None:
            session = live()[0]
            sessions.append((session, session.delivered_seq))
            # Straight into the connection's output: without server.call() nothing is
            # written until the pump in burst().
            sim.dispatch_prepared(prepared, now=loop.time())
            say(f"armed {len(prepared)}")

        def burst() -> None:
            early = not sessions or any(s.delivered_seq != seq for s, seq in sessions)
            server.pump()
            say(f"sent {len(prepared)}" + (" early" if early else ""))

        def handle(line: str | None) -> None:
            command = (line or "quit").strip()
            if command == "ready":
                say("ready " + ("yes" if live() else "no"))
            elif command == "arm":
                arm()
            elif command == "burst":
                burst()
            elif command == "quit":
                server.request_stop()

        def read() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing to do
                for line in sys.stdin:
                    loop.call_soon_threadsafe(handle, line)
                loop.call_soon_threadsafe(handle, None)

        threading.Thread(target=read, name="bench-sim-stdin", daemon=True).start()
        await server.wait_stopped()


# ====================================================================== the worker side

class Counter:
    """The handler's tally: ``hit()`` once per event; the N-th hit stops the clocks.

    ``hit`` is safe from several threads (``itertools.count`` is atomic in CPython)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self._next = itertools.count(1).__next__
        self._seen = 0
        self.clock = Stopwatch()
        self.done = threading.Event()
        self.elapsed: tuple[float, float] | None = None
        #: Called on the handler's thread at the first and the N-th event (profiling).
        self.on_first: Callable[[], object] | None = None
        self.on_last: Callable[[], object] | None = None

    def hit(self, *_: object) -> None:
        k = self._next()
        if k > self._seen:
            self._seen = k
        if k == 1 and self.on_first is not None:
            self.on_first()
        if k == self.expected:
            self.elapsed = self.clock.read()
            if self.on_last is not None:
                self.on_last()
            self.done.set()

    @property
    def seen(self) -> int:
        return self._seen


class StopSignal:
    """How the controller thread stops a client: the client registers a thread-safe
    ``stop`` function; a request made before registration runs it at registration."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fn: Callable[[], object] | None = None
        self.requested = False

    def register(self, fn: Callable[[], object]) -> None:
        with self._lock:
            self._fn = fn
            requested = self.requested
        if requested:
            _quietly(fn)

    def request(self) -> None:
        with self._lock:
            self.requested = True
            fn = self._fn
        if fn is not None:
            _quietly(fn)


def _quietly(fn: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        fn()


#: A client: ``client(sim_env, counter, stop, timeout)`` runs until ``stop`` is requested.
Client = Callable[[dict[str, str], Counter, StopSignal, float], None]


def worker_main(client: Client, events: int, sim_env: dict[str, str], *,
                timeout: float, profile: str | None = None) -> None:
    """Run ``client`` on this thread and measure it from ``start`` to the N-th event.

    Prints ``@@bench result {json}`` exactly once and leaves with ``os._exit`` (library
    threads that would keep the process alive are not our business here)."""
    counter = Counter(events)
    stop = StopSignal()
    printed = threading.Lock()
    reported = False
    started = threading.Event()
    client_ended = threading.Event()

    def report(sample: Sample) -> None:
        nonlocal reported
        with printed:
            if not reported:
                reported = True
                print(TAG + "result " + json.dumps(sample.to_dict()), flush=True)

    def control() -> None:
        try:
            for line in sys.stdin:
                if line.strip() == "start":
                    break
            else:
                stop.request()  # the orchestrator went away
                return
            counter.clock.start()
            started.set()
            print(TAG + "started", flush=True)
            counter.done.wait(timeout)  # also set when the client ends by itself
            if counter.elapsed is not None:
                wall, cpu = counter.elapsed
                report(Sample(events=counter.seen, expected=events, wall=wall, cpu=cpu))
            else:
                wall, cpu = counter.clock.read()
                why = "the client stopped" if client_ended.is_set() else f"{timeout:g} s"
                report(Sample(events=counter.seen, expected=events, wall=wall, cpu=cpu,
                              status=f"incomplete: {counter.seen}/{events} events "
                                     f"({why})"))
        finally:
            stop.request()

    controller = threading.Thread(target=control, name="bench-control", daemon=True)
    controller.start()
    profiler = None
    if profile:
        # From the first to the N-th event, on the thread that runs the handler.
        import cProfile
        profiler = cProfile.Profile()
        counter.on_first, counter.on_last = profiler.enable, profiler.disable
    code = 0
    try:
        client(sim_env, counter, stop, timeout + 30.0)
    except ImportError as exc:
        report(failed(events, f"not installed: {exc}"))
        code = 3
    except BaseException as exc:  # any failure of a client is a row, not a crash
        report(failed(events, f"failed: {type(exc).__name__}: {exc}"[:200]))
        code = 2
    client_ended.set()
    if started.is_set():
        counter.done.set()  # wake the controller: it reports what arrived
        controller.join(5.0)
    if profiler is not None and profile:
        with contextlib.suppress(Exception):  # on another thread it may still be on
            profiler.disable()
        profiler.dump_stats(profile)
    report(failed(events, "failed: the client stopped before the burst"))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_worker(argv: Sequence[str], events: int, *, digest: str | None = None,
               ready_timeout: float = 30.0, burst_timeout: float | None = None) -> Sample:
    """One end-to-end run: a simulator process, a worker process, the burst between them.

    ``digest``: the burst every other row got (:func:`burst_digest`); a simulator that
    prepared anything else fails the run."""
    burst_timeout = burst_timeout if burst_timeout is not None else 60.0 + events * 1e-3
    try:
        sim = SimProcess(events)
    except (OSError, RuntimeError, TimeoutError, ValueError, KeyError) as exc:
        return failed(events, f"failed: simulator did not start: {exc}")
    with sim:
        if digest is not None and sim.digest != digest:
            return failed(events, f"failed: the simulator prepared burst {sim.digest}, "
                                  f"not {digest}")
        worker = Child([*argv, "--sim-env", json.dumps(sim.env),
                        "--timeout", f"{burst_timeout:g}"])
        try:
            return _drive(worker, sim, events, ready_timeout, burst_timeout)
        finally:
            worker.close(grace=10.0)


def _drive(worker: Child, sim: SimProcess, events: int, ready_timeout: float,
           burst_timeout: float) -> Sample:
    deadline = time.monotonic() + ready_timeout
    try:
        while not sim.ready():
            if worker.proc.poll() is not None or worker.lines.pending():
                return _result(worker, events, 5.0)  # it gave up (import, connect…)
            if time.monotonic() > deadline:
                return failed(events, f"failed: not connected after {ready_timeout:g} s "
                                      f"({worker.last_error()})")
            time.sleep(0.02)
        sim.arm(burst_timeout)
        worker.send("start")
        worker.expect("started", 10.0)
        _, early = sim.burst(burst_timeout)
        result = _result(worker, events, burst_timeout + 10.0)
        if early:
            return failed(events, "failed: part of the burst left before the clocks started")
        return result
    except (TimeoutError, RuntimeError) as exc:
        return failed(events, f"failed: {exc}")


def _result(worker: Child, events: int, timeout: float) -> Sample:
    try:
        data = json.loads(worker.expect("result", timeout))
    except (TimeoutError, RuntimeError, ValueError) as exc:
        return failed(events, f"failed: no result: {exc}")
    return Sample(events=data["events"], expected=data["expected"], wall=data["wall_s"],
                  cpu=data["cpu_s"], status=data["status"])


# ====================================================================== the table

def format_table(header: Sequence[str], rows: Iterable[Sequence[str]],
                 align: str) -> str:
    """A plain-text table; ``align`` has one ``<`` or ``>`` per column."""
    body = [list(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width, how in zip(cells, widths, align, strict=True):
            out.append(cell.ljust(width) if how == "<" else cell.rjust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def _main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="bench helpers (used as a subprocess)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="serve a burst simulator on 127.0.0.1")
    serve_cmd.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args(argv)
    serve(args.events)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
