"""Uploads and interaction ACKs over real sockets on 127.0.0.1, on every driver.

The 60 MB uploads run the bot in a child process (so that its resident memory is the
client's alone) against the simulator in this process (so that the test sees every
counter): ``40093001`` is injected on ``upload_part_finish`` and the simulator checks each
part's md5 and the whole file's md5, sha1 and md5_10m.  The daily-limit cases, the ACKs
and the small uploads run the bot in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qqproto import Settings
from qqproto._values import FileType, UploadedMedia
from qqproto.errors import UploadDailyLimitError
from qqproto.events import Dispatch, Ready, UploadPhase, UploadProgress
from qqproto.rest._interactions import InteractionResult
from qqproto.simulator._simulator import Simulator
from qqproto.simulator._uploads import DEFAULT_BLOCK_SIZE, sim_uploads
from qqproto_transports.simulator import SimulatorThread

from .test_scenarios import make_handle

ROOT = Path(__file__).resolve().parents[2]
BOTS = {"asyncio": ("qqproto_transports.asyncio", "Bot"),
        "trio": ("qqproto_transports.trio", "Bot"),
        "threaded": ("qqproto_transports.threads", "Bot")}
SIZE = 60 * 1024 * 1024
CONCURRENCY = 4
SLACK = 30 * 1024 * 1024  # interpreter noise, sockets, httpx, allocator slack


def _bot_class(name: str) -> type | None:
    module, cls = BOTS[name]
    found: type = getattr(importlib.import_module(module), cls)
    return found


DRIVERS = list(BOTS)


def _require_upload(name: str) -> type:
    cls = _bot_class(name)
    assert cls is not None and hasattr(cls, "upload"), f"{name} has no bot.upload()"
    return cls


# ----------------------------------------------------------------------------- running

def upload_on(driver: str, settings: Settings, path: Path, **kw: Any) -> UploadedMedia:
    """``bot.upload(path, "c2c", "U", FILE)`` on ``driver``, without the gateway."""
    cls = _require_upload(driver)
    kw.setdefault("file_type", FileType.FILE)
    if driver == "threaded":
        bot = cls(settings, env={})
        try:
            media: UploadedMedia = bot.upload(path, "c2c", "USER", **kw)
        finally:
            bot.http.close()
        return media

    async def main() -> UploadedMedia:
        bot = cls(settings, env={})
        try:
            result: UploadedMedia = await bot.upload(path, "c2c", "USER", **kw)
        finally:
            await bot.http.aclose()
        return result

    if driver == "trio":
        import trio

        return trio.run(main)
    return asyncio.run(main())


def _memory() -> dict[str, float]:
    with open("/proc/self/status") as status:
        return {line.split(":")[0]: int(line.split()[1]) * 1024
                for line in status if line.startswith(("VmRSS", "VmHWM"))}


def child_main(argv: list[str]) -> None:
    """The child process: one upload, then a JSON line with its result and memory."""
    driver, env, path = argv
    settings = Settings.from_env(json.loads(env))
    _require_upload(driver)
    if driver == "trio":
        import trio  # noqa: F401 - imported before the baseline is taken
    progress: list[UploadProgress] = []
    baseline = _memory()["VmRSS"]
    started = time.monotonic()
    try:
        media = upload_on(driver, settings, Path(path), progress=progress.append)
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
        return
    print(json.dumps({
        "file_info": media.file_info, "seconds": time.monotonic() - started,
        "baseline": baseline, "peak": _memory()["VmHWM"],
        "hashing": [p.bytes_done for p in progress if p.phase is UploadPhase.HASHING],
        "parts": [(p.parts_done, p.parts_total, p.bytes_done) for p in progress
                  if p.phase is UploadPhase.UPLOADING],
    }))


def run_child(driver: str, env: dict[str, str], path: Path) -> dict[str, Any]:
    _require_upload(driver)
    code = ("import sys; from tests.loopback.test_uploads import child_main; "
            "child_main(sys.argv[1:])")
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "transports")])}
    done = subprocess.run([sys.executable, "-c", code, driver, json.dumps(env), str(path)],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """60 MB with a deterministic pattern, written 1 MiB at a time, and its digests."""
    path = tmp_path_factory.mktemp("upload") / "video.bin"
    md5, sha1, md5_10m = hashlib.md5(), hashlib.sha1(), hashlib.md5()
    with path.open("wb") as out:
        for i in range(SIZE // (1 << 20)):
            chunk = hashlib.sha256(i.to_bytes(4, "big")).digest() * (1 << 15)
            out.write(chunk)
            md5.update(chunk)
            sha1.update(chunk)
            if i < 10:
                md5_10m.update(chunk[:10_002_432 - i * (1 << 20)])
    return path, {"md5": md5.hexdigest(), "sha1": sha1.hexdigest(),
                  "md5_10m": md5_10m.hexdigest()}


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(Simulator(heartbeat_interval_ms=1000), lifetime=180) as server:
        server.call(lambda s, now: setattr(sim_uploads(s).config, "concurrency", CONCURRENCY))
        yield server


def _uploads(sim: SimulatorThread) -> Any:
    return sim.call(lambda s, now: sim_uploads(s))


def _paths(sim: SimulatorThread, suffix: str) -> list[tuple[str, int, int | None]]:
    return sim.call(lambda s, now: [(r.method, r.status, r.code) for r in s.requests
                                    if r.path.endswith(suffix) or suffix in r.path])


# ----------------------------------------------------------------------------- uploads

@pytest.mark.parametrize("driver", DRIVERS)
def test_a_60_mb_upload_rides_out_40093001_within_the_memory_bound(
        driver: str, sim: SimulatorThread, big_file: tuple[Path, dict[str, str]]) -> None:
    path, digests = big_file
    sim.set_faults(upload_busy=3)
    result = run_child(driver, sim.env(), path)
    assert "error" not in result, result
    store = _uploads(sim)
    counters = sim.call(lambda s, now: sim_uploads(s).counters)
    stored = sim.call(lambda s, now: sim_uploads(s).stored[-1])
    parts = -(-SIZE // DEFAULT_BLOCK_SIZE)
    # The simulator checked every part's md5 and the whole file's digests.
    assert stored.verified and stored.file_info == result["file_info"]
    assert stored.hashes is not None and stored.hashes.size == SIZE
    assert {k: getattr(stored.hashes, k) for k in digests} == digests
    assert (counters.parts_put, counters.parts_finished, counters.files_verified) == (
        parts, parts, 1)
    assert counters.part_mismatches == counters.hash_mismatches == 0
    # Three part_finish calls were answered 40093001 and retried.
    finishes = _paths(sim, "/upload_part_finish")
    assert counters.busy_answers == 3
    assert [code for _, _, code in finishes].count(40093001) == 3
    assert len(finishes) == parts + 3
    # The token never went to the pre-signed URLs; every PUT was answered 200.
    assert counters.puts_with_authorization == 0
    assert [status for _, status, _ in _paths(sim, "/presigned/")] == [200] * parts
    # Progress: a hashing pass to the last byte, then every part in order.
    assert result["hashing"][-1] == SIZE
    assert [p[0] for p in result["parts"]] == list(range(1, parts + 1))
    assert result["parts"][-1] == [parts, parts, SIZE]
    # Peak resident memory of the client: about block size x concurrency.
    grown = result["peak"] - result["baseline"]
    assert grown < DEFAULT_BLOCK_SIZE * CONCURRENCY + SLACK, (grown / 2**20, result)
    assert store.open_uploads == 0


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_daily_limit_raises_the_typed_error_before_any_part_is_put(
        driver: str, sim: SimulatorThread, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(5 * 1024 * 1024))  # over the inline limit: chunked
    sim.set_faults(upload_daily_limit=1)
    settings = Settings.from_env(sim.env())
    with pytest.raises(UploadDailyLimitError) as caught:
        upload_on(driver, settings, path, file_type=FileType.VIDEO)
    assert caught.value.code == 40093002
    assert _paths(sim, "/presigned/") == []
    assert _paths(sim, "/upload_prepare") == [("POST", 400, 40093002)]
    # The quota kind of daily limit: the simulator's budget is spent.
    sim.call(lambda s, now: setattr(sim_uploads(s).config, "daily_quota", 1024))
    with pytest.raises(UploadDailyLimitError):
        upload_on(driver, settings, path, file_type=FileType.VIDEO)
    assert _paths(sim, "/presigned/") == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_small_file_goes_inline_and_an_override_sends_it_chunked(
        driver: str, sim: SimulatorThread, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    data = os.urandom(300_000)
    path.write_bytes(data)
    settings = Settings.from_env(sim.env())
    seen: list[UploadProgress] = []
    media = upload_on(driver, settings, path, file_type=FileType.IMAGE,
                      progress=seen.append)
    stored = sim.call(lambda s, now: sim_uploads(s).stored[-1])
    assert (stored.method, stored.file_info, stored.size) == ("file_data", media.file_info,
                                                            300_000)
    assert stored.hashes is not None and stored.hashes.md5 == hashlib.md5(data).hexdigest()
    assert seen == [UploadProgress(phase=UploadPhase.UPLOADING, bytes_done=300_000,
                                   bytes_total=300_000, parts_done=1, parts_total=1)]
    from qqproto.upload._plan import UploadMethod

    media = upload_on(driver, settings, path, file_type=FileType.IMAGE,
                      method=UploadMethod.CHUNKED, file_name="renamed.png")
    stored = sim.call(lambda s, now: sim_uploads(s).stored[-1])
    assert (stored.method, stored.file_name, stored.verified) == ("chunked", "renamed.png",
                                                                 True)


# ----------------------------------------------------------------------------- ACKs

def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("driver", DRIVERS)
def test_auto_ack_answers_a_button_tap_with_success(driver: str,
                                                    sim: SimulatorThread) -> None:
    _require_upload(driver)
    handle = make_handle(driver)
    handle.start(Settings.from_env(sim.env()))  # the auto-ACK is on by default
    try:
        handle.wait_for(lambda events: any(isinstance(e, Ready) for e in events))
        tap = sim.inject_interaction("c2c", user_openid="USER", button_data="ok")
        _wait(lambda: len(sim.call(lambda s, now: list(s.interaction_acks))) == 1)
        ack = sim.call(lambda s, now: s.interaction_acks[-1])
        assert (ack.interaction_id, ack.code) == (tap.data["id"], 0)
        # The application still sees the tap.
        handle.wait_for(lambda events: any(
            isinstance(e, Dispatch) and e.type == "INTERACTION_CREATE" for e in events))
    finally:
        handle.stop()


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_handler_acks_a_tap_itself_with_its_own_code(driver: str,
                                                       sim: SimulatorThread) -> None:
    _require_upload(driver)
    handle: Any = make_handle(driver)  # every adapter exposes its bot as .bot

    def interaction(event: Any) -> str | None:
        return event.data["id"] if event.type == "INTERACTION_CREATE" else None

    if driver == "threaded":
        def on_dispatch(event: Any) -> None:
            if (found := interaction(event)) is not None:
                handle.bot.ack_interaction(found, InteractionResult.NO_PERMISSION)
    else:
        async def on_dispatch(event: Any) -> None:  # type: ignore[misc]
            if (found := interaction(event)) is not None:
                await handle.bot.ack_interaction(found, InteractionResult.NO_PERMISSION)

    handle.on_dispatch(on_dispatch)
    handle.start(Settings.from_env(sim.env(), auto_ack_interactions=False))
    try:
        handle.wait_for(lambda events: any(isinstance(e, Ready) for e in events))
        taps = [sim.inject_interaction("group", group_openid="G", member_openid="M"),
                sim.inject_interaction("c2c", user_openid="USER")]
        _wait(lambda: len(sim.call(lambda s, now: list(s.interaction_acks))) >= 2)
    finally:
        with contextlib.suppress(AssertionError):
            handle.stop()
    # The bot has stopped: every ACK it sent is recorded, and none was automatic.
    acks = sim.call(lambda s, now: list(s.interaction_acks))
    assert sorted((a.interaction_id, a.code) for a in acks) == sorted(
        (tap.data["id"], 4) for tap in taps)
