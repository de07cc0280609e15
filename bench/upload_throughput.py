"""Chunked upload throughput: 100 MB through the simulator, per driver, beside the
hashing limit and beside qqbot-agent-sdk's uploader.

Every row runs in a fresh worker process against one simulator process (both on
127.0.0.1): the worker does a whole upload as an application would — hash the file,
``upload_prepare``, ``PUT`` every part to its pre-signed URL, ``upload_part_finish``,
complete — and reports its wall time, its CPU time and its resident memory (peak
``VmHWM`` minus ``VmRSS`` just before the upload, i.e. what the upload added).  The
simulator checks every part's md5 and the file's md5, sha1 and md5_10m; a row counts
only when the simulator says the file it assembled is the one announced.

Rows:

``hashing limit``  read the file and feed md5 and sha1 with the same 1 MiB chunks, one
                   pass, one thread: what any uploader must spend before ``upload_prepare``
``asyncio``        ``AsyncioBot.upload`` (qqproto_transports._upload_async)
``trio``           ``TrioBot.upload`` (the same executor on trio)
``threaded``       ``ThreadedBot.upload`` (qqproto_transports._upload_sync)
``agent-sdk``      qqbot-agent-sdk's ``ChunkedUploader`` (pointed at the simulator through
                   its ``QQ_API_BASE`` / ``QQ_TOKEN_URL`` variables; driven, not copied)

Targets (issue 5), for every qqproto row: at least 80 % of the hashing limit's MB/s,
and peak resident memory under ``block size × concurrency + 30 MB``.  ``--check`` exits
1 when one fails.  MB = 10^6 bytes.

    /work/venv/bin/python bench/upload_throughput.py
    /work/venv/bin/python bench/upload_throughput.py --size-mb 100 --repeat 3 --check
    /work/venv/bin/python bench/upload_throughput.py --only asyncio,threaded --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _common import TAG, Child

_common.ensure_repo_on_path()

ROWS: Final = ("hashing-limit", "protocol-floor", "transfer-floor", "asyncio", "trio",
               "threaded", "agent-sdk")
#: Rows that hash in this bench's worker only (no upload, nothing for the simulator).
LIMIT_ROWS: Final = ("hashing-limit", "protocol-floor", "transfer-floor")
QQPROTO_ROWS: Final = ("asyncio", "trio", "threaded")
MB: Final = 1_000_000
SLACK: Final = 30 * MB
TARGET_SHARE: Final = 0.80
#: Issue 15: an upload's wall time at most this many times the protocol floor.
FLOOR_FACTOR: Final = 1.5
OPENID: Final = "BENCHUSER0000000000000000000001"


# ====================================================================== the simulator side

#: How the simulator checks the digests: ``after`` (default) keeps what it was sent and
#: checks every digest once the client's clock stopped; ``inline`` checks as the platform
#: does, while the upload runs (its hashing then shares the machine with the client);
#: ``none`` checks nothing (the client's cost alone, diagnostic).
VERIFY_MODES: Final = ("after", "inline", "none")


class DeferredCheck:
    """``--verify after``: the simulator stores parts without hashing them (its
    ``config.verify`` off) while two added routes keep what the client sent — every
    part's bytes and the md5 its ``upload_part_finish`` announced — and :meth:`check`
    verifies all of it once the client's clock stopped: each part's md5 against the
    announced one, the assembled file's size, md5, sha1 and md5_10m against
    ``upload_prepare``.  The same checks as ``inline``, moved out of the measured window:
    the platform hashes on its own machines, the simulator would hash on the client's
    two cores."""

    def __init__(self, sim: Any) -> None:
        from qqproto.simulator import Route

        self.parts: dict[tuple[str, str], bytes] = {}
        self.announced: dict[tuple[str, str], tuple[int, str]] = {}
        for route in sim.router.routes:
            if route.method == "PUT" and route.pattern.startswith("/presigned/"):
                sim.router.add(Route(route.method, route.pattern, self._put(route.handler),
                                     auth=route.auth, max_body=route.max_body,
                                     record_body=route.record_body))
            elif route.method == "POST" and route.pattern.endswith("/upload_part_finish"):
                sim.router.add(Route(route.method, route.pattern,
                                     self._finish(route.handler), auth=route.auth,
                                     max_body=route.max_body, record_body=route.record_body))

    def _put(self, handler: Any) -> Any:
        def keep(sim: Any, request: Any, params: dict[str, str], now: float) -> Any:
            response = handler(sim, request, params, now)
            if response.status == 200:
                self.parts[params["upload_id"], params["index"]] = request.body
            return response
        return keep

    def _finish(self, handler: Any) -> Any:
        def keep(sim: Any, request: Any, params: dict[str, str], now: float) -> Any:
            response = handler(sim, request, params, now)
            if response.status == 200:
                body = json.loads(request.body)
                self.announced[body["upload_id"], str(body["part_index"])] = (
                    int(body["block_size"]), body["md5"])
            return response
        return keep

    def check(self, record: Any) -> str:
        """Why the upload of ``record`` is not the file announced, or ``""``; forgets
        what was kept."""
        from qqproto.upload import FileHasher

        try:
            upload_id = record.upload_id
            keys = sorted((key for key in self.announced if key[0] == upload_id),
                          key=lambda key: int(key[1]))
            if len(keys) != record.parts:
                return f"{len(keys)} of {record.parts} parts finished"
            hasher = FileHasher()
            for key in keys:
                data, (size, md5) = self.parts.get(key), self.announced[key]
                if data is None or len(data) != size:
                    return f"part {key[1]}: not stored with its block_size"
                if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
                    return f"part {key[1]}: the md5 of upload_part_finish does not match"
                hasher.update(data)
            got, want = hasher.hashes(), record.hashes
            for name in ("size", "md5", "sha1", "md5_10m"):
                if getattr(got, name) != getattr(want, name):
                    return f"the {name} of the assembled file does not match upload_prepare"
            return ""
        finally:
            self.parts.clear()
            self.announced.clear()


def serve(block: int, concurrency: int, verify: str) -> None:
    """The upload simulator on 127.0.0.1, answering ``last`` and ``quit`` on stdin."""
    asyncio.run(_serve(block, concurrency, verify))


async def _serve(block: int, concurrency: int, verify: str) -> None:
    from qqproto.simulator._simulator import Simulator
    from qqproto.simulator._uploads import sim_uploads
    from qqproto_transports.simulator import serve_simulator

    sim = Simulator(rng=random.Random(5), record_limit=256)
    config = sim_uploads(sim).config
    config.block_size, config.concurrency = block, concurrency
    config.verify = verify == "inline"
    deferred = DeferredCheck(sim) if verify == "after" else None
    loop = asyncio.get_running_loop()

    def say(line: str) -> None:
        print(TAG + line, flush=True)

    async with serve_simulator(sim, lifetime=3600.0, idle_timeout=900.0) as server:
        say("serving " + json.dumps({"env": server.env(), "port": server.port}))

        def handle(line: str | None) -> None:
            command = (line or "quit").strip()
            if command == "last":
                cpu = time.process_time()  # before a deferred check: not the upload's
                store = sim_uploads(sim)
                last = store.stored[-1] if store.stored else None
                problem = last.problem if last else "no upload"
                if deferred is not None and last is not None:  # verify off: check now
                    problem = (deferred.check(last) if last.file_info is not None
                               else last.problem or "not completed")
                say("last " + json.dumps({
                    "verified": bool(last and not problem if deferred is not None
                                     else last and (last.verified or verify == "none")),
                    "size": last.size if last else None,
                    "problem": problem,
                    "parts_put": store.counters.parts_put,
                    "cpu": cpu,
                    "with_authorization": store.counters.puts_with_authorization}))
            elif command == "quit":
                server.request_stop()

        def read() -> None:
            with contextlib.suppress(RuntimeError):
                for line in sys.stdin:
                    loop.call_soon_threadsafe(handle, line)
                loop.call_soon_threadsafe(handle, None)

        threading.Thread(target=read, name="bench-sim-stdin", daemon=True).start()
        await server.wait_stopped()


class UploadSim(Child):
    def __init__(self, block: int, concurrency: int, *, verify: str = "after",
                 timeout: float = 30.0) -> None:
        self.block = block
        super().__init__([str(Path(__file__).resolve()), "serve", "--block", str(block),
                          "--concurrency", str(concurrency), "--verify", verify])
        try:
            self.env: dict[str, str] = json.loads(self.expect("serving", timeout))["env"]
        except BaseException:
            self.close()
            raise

    def last(self, timeout: float = 30.0) -> dict[str, Any]:
        self.send("last")
        result: dict[str, Any] = json.loads(self.expect("last", timeout))
        return result


# ====================================================================== the worker side

def _memory() -> dict[str, int]:
    with open("/proc/self/status") as status:
        return {line.split(":")[0]: int(line.split()[1]) * 1024
                for line in status if line.startswith(("VmRSS", "VmHWM"))}


def _file_type() -> Any:
    from qqproto import FileType

    return FileType(2)


def _settings(env: dict[str, str]) -> Any:
    from qqproto import Settings

    return Settings.from_env(env)


class Clock:
    """Wall and CPU time of the upload alone (setup and teardown are outside)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.baseline = 0

    def start(self) -> None:
        self.baseline = _memory()["VmRSS"]
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _upload_asyncio(env: dict[str, str], path: Path, clock: Clock) -> None:
    from qqproto_transports.asyncio import Bot as AsyncioBot

    bot = AsyncioBot(_settings(env), env={})

    async def main() -> None:
        try:
            clock.start()
            await bot.upload(path, "c2c", OPENID, _file_type())
            clock.stop()
        finally:
            await bot.http.aclose()

    asyncio.run(main())


def _upload_trio(env: dict[str, str], path: Path, clock: Clock) -> None:
    import trio

    from qqproto_transports.trio import Bot as TrioBot

    bot = TrioBot(_settings(env), env={})

    async def main() -> None:
        try:
            clock.start()
            await bot.upload(path, "c2c", OPENID, _file_type())
            clock.stop()
        finally:
            await bot.http.aclose()

    trio.run(main)


def _upload_threaded(env: dict[str, str], path: Path, clock: Clock) -> None:
    from qqproto_transports.threads import Bot as ThreadedBot

    bot = ThreadedBot(_settings(env), env={})
    try:
        clock.start()
        bot.upload(path, "c2c", OPENID, _file_type())
        clock.stop()
    finally:
        bot.http.close()


def _upload_agent_sdk(env: dict[str, str], path: Path, clock: Clock) -> None:
    # qqbot-agent-sdk reads its endpoints from the environment when imported.
    os.environ["QQ_API_BASE"] = env["QQBOT_API_BASE"]
    os.environ["QQ_TOKEN_URL"] = env["QQBOT_TOKEN_URL"]
    import httpx
    from qqbot_agent_sdk.api_client import QQApiClient
    from qqbot_agent_sdk.media_loader import ChunkedUploader

    api = QQApiClient(env["QQBOT_APP_ID"], env["QQBOT_CLIENT_SECRET"])
    client = httpx.AsyncClient(timeout=120.0)
    api.setup(client)
    uploader = ChunkedUploader(api, client)

    async def main() -> None:
        try:
            clock.start()
            await uploader.upload("c2c", OPENID, str(path), 2, path.name)
            clock.stop()
        finally:
            await client.aclose()

    asyncio.run(main())


def _hashing_limit(env: dict[str, str], path: Path, clock: Clock) -> None:
    clock.start()
    md5, sha1 = hashlib.md5(), hashlib.sha1()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            md5.update(chunk)
            sha1.update(chunk)
    clock.stop()


def _protocol_floor(env: dict[str, str], path: Path, clock: Clock) -> None:
    """What the protocol itself asks of any uploader, over the same bytes: md5 and sha1
    of the file (before ``upload_prepare``) and the md5 of every part (rest.md §4)."""
    block = int(env["BENCH_BLOCK"])
    clock.start()
    md5, sha1 = hashlib.md5(), hashlib.sha1()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            md5.update(chunk)
            sha1.update(chunk)
    with path.open("rb") as source:
        while part := source.read(block):
            hashlib.md5(part).digest()
    clock.stop()


def sink(size: int) -> None:
    """A receiver that only reads: accepts one connection on 127.0.0.1, reads ``size``
    bytes into one reused buffer and answers one byte."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(TAG + "sink " + json.dumps({"port": server.getsockname()[1]}), flush=True)
        conn, _ = server.accept()
        with conn:
            buffer, got = bytearray(1 << 20), 0
            while got < size and (n := conn.recv_into(buffer)):
                got += n
            conn.sendall(b"k")


def _transfer_floor(env: dict[str, str], path: Path, clock: Clock) -> None:
    """The protocol floor plus what no upload can skip either: every part's bytes sent
    over a TCP connection on 127.0.0.1 to a process that only reads them (no HTTP, no
    parsing, no storing).  The connection is made before the clock starts; the clock
    stops when the receiver says it has every byte."""
    block, size = int(env["BENCH_BLOCK"]), path.stat().st_size
    receiver = Child([str(Path(__file__).resolve()), "sink", str(size)])
    try:
        port = json.loads(receiver.expect("sink", 30.0))["port"]
        with socket.create_connection(("127.0.0.1", port)) as conn:
            clock.start()
            md5, sha1 = hashlib.md5(), hashlib.sha1()
            with path.open("rb") as source:
                while chunk := source.read(1 << 20):
                    md5.update(chunk)
                    sha1.update(chunk)
            with path.open("rb") as source:
                while part := source.read(block):
                    hashlib.md5(part).digest()
                    conn.sendall(part)
            if conn.recv(1) != b"k":
                raise RuntimeError("the receiver did not get every byte")
            clock.stop()
    finally:
        receiver.close()


_UPLOADERS: Final = {"hashing-limit": _hashing_limit, "protocol-floor": _protocol_floor,
                     "transfer-floor": _transfer_floor,
                     "asyncio": _upload_asyncio,
                     "trio": _upload_trio, "threaded": _upload_threaded,
                     "agent-sdk": _upload_agent_sdk}


def worker(row: str, env: dict[str, str], path: Path) -> None:
    """One measured upload; prints ``@@bench result {json}``."""
    result: dict[str, Any] = {"row": row}
    clock = Clock()
    try:
        _UPLOADERS[row](env, path, clock)
        result.update(wall=clock.wall, cpu=clock.cpu, baseline=clock.baseline,
                      peak=_memory()["VmHWM"], status="ok")
    except ImportError as exc:
        result.update(status=f"not installed: {exc}")
    except Exception as exc:  # a failed row is a row, not a crash
        result.update(status=f"failed: {type(exc).__name__}: {exc}"[:200])
    print(TAG + "result " + json.dumps(result), flush=True)


# ====================================================================== orchestration

@dataclass(slots=True)
class Row:
    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.runs if r.get("status") == "ok"]

    @property
    def best(self) -> dict[str, Any] | None:
        return min(self.ok, key=lambda r: r["wall"]) if self.ok else None

    @property
    def status(self) -> str:
        return "ok" if self.ok else (self.runs[-1]["status"] if self.runs else "not run")

    def mb_s(self, size: int) -> float:
        best = self.best
        return size / best["wall"] / MB if best else 0.0

    @property
    def grown(self) -> int:
        """The largest resident growth over the row's runs."""
        return max((r["peak"] - r["baseline"] for r in self.ok), default=0)


def make_file(size: int, directory: Path) -> Path:
    """``size`` deterministic pseudo-random bytes, written 1 MiB at a time."""
    path = directory / "upload-bench.bin"
    rng = random.Random(11)
    with path.open("wb") as out:
        left = size
        while left:
            step = min(left, 1 << 20)
            out.write(rng.randbytes(step))
            left -= step
    return path


def run_row(name: str, sim: UploadSim, path: Path, size: int, timeout: float
            ) -> dict[str, Any]:
    before = sim.last()
    worker_child = Child([str(Path(__file__).resolve()), "worker", name,
                          json.dumps({**sim.env, "BENCH_BLOCK": str(sim.block)}), str(path)])
    try:
        result: dict[str, Any] = json.loads(worker_child.expect("result", timeout))
    except (TimeoutError, RuntimeError) as exc:
        result = {"row": name, "status": f"failed: {exc}"[:200]}
    finally:
        worker_child.close()
    if name not in LIMIT_ROWS and result.get("status") == "ok":
        check = sim.last()
        result["sim_cpu"] = check["cpu"] - before["cpu"]
        if not check["verified"] or check["size"] != size:
            result["status"] = f"failed: the simulator did not verify it ({check['problem']})"
        elif check["with_authorization"]:
            result["status"] = "failed: a pre-signed PUT carried the token"
    return result


def targets(rows: dict[str, Row], size: int, bound: int) -> list[dict[str, Any]]:
    limit = rows.get("hashing-limit")
    limit_mb_s = limit.mb_s(size) if limit else 0.0
    checks = []
    for name in QQPROTO_ROWS:
        row = rows.get(name)
        if row is None or row.status.startswith("not "):
            continue
        share = row.mb_s(size) / limit_mb_s if limit_mb_s else 0.0
        checks.append({"row": name, "target": f">= {TARGET_SHARE:.0%} of the hashing limit",
                       "value": f"{share:.0%}", "ok": row.status == "ok"
                       and share >= TARGET_SHARE})
        best = row.best
        for floor_name, verdict in (("transfer-floor", True), ("protocol-floor", False)):
            floor = rows.get(floor_name)
            floor_best = floor.best if floor else None
            if floor_best is None:
                continue
            ratio = best["wall"] / floor_best["wall"] if best else float("inf")
            checks.append({"row": name,
                           "target": f"wall <= {FLOOR_FACTOR} x the {floor_name}",
                           "value": f"{ratio:.2f}x", "ok": row.status == "ok"
                           and ratio <= FLOOR_FACTOR, "verdict": verdict})
        checks.append({"row": name, "target": f"peak RSS growth < {bound / MB:.1f} MB",
                       "value": f"{row.grown / MB:.1f} MB", "ok": row.status == "ok"
                       and 0 < row.grown < bound})
    return checks


def render(rows: dict[str, Row], checks: list[dict[str, Any]], size: int, block: int,
           concurrency: int, verify: str) -> str:
    limit = rows.get("hashing-limit")
    limit_mb_s = limit.mb_s(size) if limit else 0.0
    header = ("row", "MB/s", "of limit", "wall s", "CPU s", "sim CPU s", "RSS +MB",
              "RSS peak MB", "status")
    body = []
    for row in rows.values():
        best = row.best
        if best is None:
            body.append((row.name, "-", "-", "-", "-", "-", "-", "-", row.status))
            continue
        share = row.mb_s(size) / limit_mb_s if limit_mb_s else 0.0
        body.append((row.name, f"{row.mb_s(size):.0f}", f"{share:.0%}",
                     f"{best['wall']:.2f}", f"{best['cpu']:.2f}",
                     f"{best['sim_cpu']:.2f}" if "sim_cpu" in best else "-",
                     f"{(best['peak'] - best['baseline']) / MB:.1f}",
                     f"{best['peak'] / MB:.1f}", row.status))
    checking = {"after": "checks every digest after the client's clock stopped",
                "inline": "checks every digest during the upload, on the same cores",
                "none": "stores parts WITHOUT hashing them: diagnostic"}[verify]
    lines = [f"upload of {size / MB:.0f} MB, block {block / MB:.2f} MB x concurrency "
             f"{concurrency}, simulator in its own process ({checking})", "",
             _common.format_table(header, body, "<>>>>>>><"), ""]
    for check in checks:
        mark = ("PASS" if check["ok"] else "FAIL") if check.get("verdict", True) else "info"
        lines.append(f"{mark}  {check['row']}: "
                     f"{check['target']} (measured {check['value']})")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--block-mb", type=float, default=5.24288,
                        help="the simulator's block size (default 5 MiB, rest.md §4.6)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="runs per row (best wall)")
    parser.add_argument("--only", help="comma-separated rows: " + ",".join(ROWS))
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target fails")
    parser.add_argument("--verify", choices=VERIFY_MODES, default="after",
                        help="when the simulator checks the digests: after the client's "
                             "clock stopped (default), inline while the upload runs (as "
                             "the platform, but on the client's cores), or none")
    parser.add_argument("--no-verify", action="store_true", help="the same as --verify none")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(ROWS)
    unknown = set(names) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    for limit in reversed(LIMIT_ROWS):  # the targets are relative to them
        if any(n in QQPROTO_ROWS for n in names) and limit not in names:
            names.insert(0, limit)
    size, block = int(args.size_mb * MB), int(args.block_mb * MB)
    verify = "none" if args.no_verify else args.verify
    bound = block * args.concurrency + SLACK
    rows = {name: Row(name) for name in names}
    with tempfile.TemporaryDirectory(prefix="qqproto-bench-") as tmp:
        path = make_file(size, Path(tmp))
        sim = UploadSim(block, args.concurrency, verify=verify)
        try:
            for _ in range(args.repeat):
                for name in names:
                    rows[name].runs.append(run_row(name, sim, path, size, args.timeout))
        finally:
            sim.close()
    checks = targets(rows, size, bound)
    if args.json:
        print(json.dumps({"size": size, "block": block, "concurrency": args.concurrency,
                          "simulator_verifies": verify,
                          "rows": {n: {"status": r.status, "mb_s": r.mb_s(size),
                                       "runs": r.runs} for n, r in rows.items()},
                          "checks": checks}, indent=2))
    else:
        print(render(rows, checks, size, block, args.concurrency, verify))
    failed = [c for c in checks if c.get("verdict", True) and not c["ok"]]
    return 1 if args.check and failed else 0


def _entry(argv: Sequence[str]) -> int:
    if argv[:1] == ["serve"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--block", type=int, required=True)
        parser.add_argument("--concurrency", type=int, required=True)
        parser.add_argument("--verify", choices=VERIFY_MODES, required=True)
        args = parser.parse_args(argv[1:])
        serve(args.block, args.concurrency, args.verify)
        return 0
    if argv[:1] == ["sink"]:
        sink(int(argv[1]))
        return 0
    if argv[:1] == ["worker"]:
        worker(argv[1], json.loads(argv[2]), Path(argv[3]))
        return 0
    return main(argv)


if __name__ == "__main__":
    sys.exit(_entry(sys.argv[1:]))
