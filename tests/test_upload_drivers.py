"""The upload executors and the bot API mixins, without sockets.

httpx's ``MockTransport`` hands every request straight to the sans-IO simulator
(``Simulator.handle_request``), so the executors run their real code paths (file reads
on threads, streamed bodies, the session's timers) against the real endpoints.  Time is
trio's ``MockClock`` with autojump: a 1 s retry pause costs nothing and its length is
asserted exactly.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
import trio
import trio.testing

from qqproto import Settings
from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._values import ChatScope, FileType
from qqproto.errors import (
    InvalidCredentialsError,
    UploadDailyLimitError,
    UploadPartFailedError,
    UploadSourceError,
)
from qqproto.events import Dispatch, HeartbeatAcknowledged, UploadPhase, UploadProgress
from qqproto.models._interaction import InteractionCreate
from qqproto.rest._client import RestClient
from qqproto.rest._interactions import InteractionResult
from qqproto.rest._token import TokenState
from qqproto.simulator._faults import HttpFault
from qqproto.simulator._rest import SimRequest
from qqproto.simulator._simulator import Simulator
from qqproto.simulator._uploads import sim_uploads
from qqproto.upload import UploadSession
from qqproto.upload._hashing import MD5_10M_PREFIX, hash_bytes
from qqproto.upload._plan import UploadMethod
from qqproto_transports._api import AsyncBotApi, SyncBotApi, interaction_id
from qqproto_transports._upload_async import (
    hash_file_async,
    perform_async,
    run_upload_async,
    upload_file_async,
)
from qqproto_transports._upload_sync import (
    STREAM_CHUNK,
    PairHasher,
    PartReader,
    body_chunks,
    hash_file,
    perform_sync,
    resolve_method,
    run_upload_sync,
    streamed_args,
    upload_file_sync,
)

API = "http://sim.test"
BLOCK = 64 * 1024


# ----------------------------------------------------------------------------- harness

class SimHttp:
    """An httpx transport that answers from the sans-IO simulator, recording requests."""

    def __init__(self, sim: Simulator, clock: Callable[[], float]) -> None:
        self.sim = sim
        self.clock = clock
        self.log: list[tuple[float, str, str, str | None]] = []
        self.hold_puts: anyio.Event | None = None

    def answer(self, request: httpx.Request) -> httpx.Response:
        now = self.clock()
        url = request.url
        self.log.append((now, request.method, url.path, request.headers.get("authorization")))
        query = url.query.decode()
        sim_request = SimRequest(
            connection_id=1, method=request.method, path=url.path, query=query,
            headers=tuple((k.decode(), v.decode()) for k, v in request.headers.raw),
            body=request.content, trace_id="t")
        reply = self.sim.handle_request(sim_request, now)
        return httpx.Response(reply.status, headers=list(reply.headers), content=reply.body)

    async def answer_async(self, request: httpx.Request) -> httpx.Response:
        if self.hold_puts is not None and request.method == "PUT":
            await self.hold_puts.wait()
        return self.answer(request)

    def paths(self, suffix: str) -> list[float]:
        return [at for at, _, path, _ in self.log if path.endswith(suffix)]


def make_sim(*, block: int = BLOCK, concurrency: int = 2) -> Simulator:
    sim = Simulator()
    sim_uploads(sim).config.block_size = block
    sim_uploads(sim).config.concurrency = concurrency
    sim_uploads(sim).config.presigned_base = "http://bucket.test"
    return sim


def rest_for(sim: Simulator) -> RestClient:
    return RestClient(TokenState(app_id=sim.app_id, secret=sim.secret, endpoints=Endpoints(
        api_base=API, token_url=API + "/app/getAppAccessToken")))


def write(path: Path, size: int, seed: int = 3) -> bytes:
    data = bytes((i * seed + i // 251) % 256 for i in range(size))
    path.write_bytes(data)
    return data


def run_trio(fn: Callable[[], Any]) -> Any:
    return anyio.run(fn, backend="trio",
                     backend_options={"clock": trio.testing.MockClock(autojump_threshold=0)})


def async_upload(sim: Simulator, path: Path, **kw: Any) -> tuple[Any, SimHttp]:
    """upload_file_async on trio with virtual time; (media or exception, recorder)."""
    http = SimHttp(sim, trio.current_time)
    kw.setdefault("method", UploadMethod.CHUNKED)

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(http.answer_async)) as c:
            try:
                return await upload_file_async(rest_for(sim), c, path, scope="c2c",
                                               target_id="U", file_type=FileType.FILE, **kw)
            except Exception as exc:
                return exc

    return run_trio(main), http


# ----------------------------------------------------------------------------- async

def test_the_async_executor_uploads_and_the_simulator_verifies_everything(
        tmp_path: Path) -> None:
    sim = make_sim(concurrency=3)
    data = write(tmp_path / "a.bin", 5 * BLOCK + 123)
    seen: list[UploadProgress] = []
    media, http = async_upload(sim, tmp_path / "a.bin", progress=seen.append)
    stored = sim_uploads(sim).stored[-1]
    assert stored.verified and stored.file_info == media.file_info
    assert stored.hashes == hash_bytes(data)
    # The token goes to the API only, never to the bucket.
    assert {auth is None for _, method, _, auth in http.log if method == "PUT"} == {True}
    assert all(auth and auth.startswith("QQBot ") for _, method, path, auth in http.log
               if method == "POST" and path.startswith("/v2/"))
    assert sim_uploads(sim).counters.puts_with_authorization == 0
    assert [p.phase for p in seen][:1] == [UploadPhase.HASHING]
    assert seen[-1] == UploadProgress(phase=UploadPhase.UPLOADING, bytes_done=len(data),
                                      bytes_total=len(data), parts_done=6, parts_total=6)


def test_the_token_is_fetched_once_while_the_file_is_hashed(tmp_path: Path) -> None:
    sim = make_sim()
    write(tmp_path / "a.bin", 3 * BLOCK)
    media, http = async_upload(sim, tmp_path / "a.bin")
    assert not isinstance(media, Exception)
    paths = [path for _, _, path, _ in http.log]
    assert paths.count("/app/getAppAccessToken") == 1
    assert paths.index("/app/getAppAccessToken") < paths.index("/v2/users/U/upload_prepare")


@pytest.mark.parametrize("executor", ["async", "sync"])
def test_a_failed_prefetch_is_left_to_the_session(tmp_path: Path, executor: str) -> None:
    sim = make_sim()
    write(tmp_path / "a.bin", 2 * BLOCK)
    sim.faults.http_errors = (HttpFault(path="/app/getAppAccessToken", status=502),)
    if executor == "async":
        media, http = async_upload(sim, tmp_path / "a.bin")
    else:
        client, http = sync_client(sim)
        with client:
            media = upload_file_sync(rest_for(sim), client, tmp_path / "a.bin", scope="c2c",
                                     target_id="U", method=UploadMethod.CHUNKED)
    assert not isinstance(media, Exception)
    assert [path for _, _, path, _ in http.log].count("/app/getAppAccessToken") == 2


def test_rejected_credentials_surface_from_the_session(tmp_path: Path) -> None:
    sim = make_sim()
    write(tmp_path / "a.bin", 2 * BLOCK)
    sim.faults.reject_credentials = 2
    error, http = async_upload(sim, tmp_path / "a.bin")
    assert isinstance(error, InvalidCredentialsError)
    assert [method for _, method, _, _ in http.log].count("PUT") == 0


def test_40093001_is_retried_every_second_on_the_session_timer(tmp_path: Path) -> None:
    sim = make_sim(concurrency=1)
    write(tmp_path / "a.bin", BLOCK)
    sim.faults.upload_busy = 3
    media, http = async_upload(sim, tmp_path / "a.bin")
    assert not isinstance(media, Exception)
    finishes = http.paths("/upload_part_finish")
    assert [round(b - a, 6) for a, b in itertools.pairwise(finishes)] == [1.0, 1.0, 1.0]


def test_put_and_completion_failures_back_off_as_the_session_says(tmp_path: Path) -> None:
    sim = make_sim(concurrency=1)
    write(tmp_path / "a.bin", BLOCK)
    sim.faults.http_errors = (HttpFault(path="/presigned/", status=503, times=2),
                              HttpFault(path="/files", status=502))
    media, http = async_upload(sim, tmp_path / "a.bin")
    assert not isinstance(media, Exception)
    puts, files = http.paths("/1"), http.paths("/files")
    assert [round(b - a, 6) for a, b in itertools.pairwise(puts)] == [1.0, 2.0]  # rest.md §4.14
    assert [round(b - a, 6) for a, b in itertools.pairwise(files)] == [2.0]  # rest.md §4.23


def test_a_part_that_cannot_be_put_fails_the_upload_and_cancels_the_rest(
        tmp_path: Path) -> None:
    sim = make_sim(concurrency=2)
    write(tmp_path / "a.bin", 2 * BLOCK)
    sim.faults.http_errors = (HttpFault(path="/presigned/", status=500, code=500, times=6),)
    error, http = async_upload(sim, tmp_path / "a.bin")
    assert isinstance(error, UploadPartFailedError)
    assert http.paths("/files") == []


def test_the_daily_limit_surfaces_typed_before_any_put(tmp_path: Path) -> None:
    sim = make_sim()
    write(tmp_path / "a.bin", 3 * BLOCK)
    sim.faults.upload_daily_limit = 1
    error, http = async_upload(sim, tmp_path / "a.bin")
    assert isinstance(error, UploadDailyLimitError)
    assert [method for _, method, _, _ in http.log].count("PUT") == 0


def test_a_file_that_shrinks_after_hashing_fails_with_a_source_error(tmp_path: Path) -> None:
    sim = make_sim(concurrency=1)
    path = tmp_path / "a.bin"
    data = write(path, 3 * BLOCK)
    session = UploadSession.for_client(rest_for(sim), ChatScope.C2C, "U", FileType.FILE,
                                           file_name="a.bin", file_size=len(data),
                                           hashes=hash_bytes(data))
    path.write_bytes(data[:BLOCK + 10])
    http = SimHttp(sim, trio.current_time)

    async def main() -> Exception | None:
        reader = PartReader(path)
        async with httpx.AsyncClient(transport=httpx.MockTransport(http.answer)) as client:
            try:
                await run_upload_async(session, client, reader)
            except UploadSourceError as exc:
                return exc
            finally:
                reader.close()
        return None

    error = run_trio(main)
    assert isinstance(error, UploadSourceError) and "expected" in str(error)


def test_an_unreadable_file_ends_the_run_with_the_reader_s_error(tmp_path: Path) -> None:
    sim = make_sim()
    path = tmp_path / "a.bin"
    data = write(path, BLOCK)
    session = UploadSession.for_client(rest_for(sim), ChatScope.C2C, "U", FileType.FILE,
                                           file_name="a.bin", file_size=len(data))
    reader = PartReader(path)
    reader.close()  # every read now fails

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(
                SimHttp(sim, trio.current_time).answer)) as client:
            await run_upload_async(session, client, reader)

    with pytest.raises(UploadSourceError, match="the reader is closed"):
        run_trio(main)


def test_cancelling_an_upload_cancels_its_requests_and_closes_the_file(
        tmp_path: Path) -> None:
    sim = make_sim()
    write(tmp_path / "a.bin", 2 * BLOCK)
    http = SimHttp(sim, trio.current_time)
    http.hold_puts = anyio.Event()  # the bucket never answers
    readers: list[PartReader] = []
    real = PartReader

    def spy(path: Path) -> PartReader:
        readers.append(real(path))
        return readers[-1]

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(http.answer_async)) as c:
            with anyio.move_on_after(30):
                await upload_file_async(rest_for(sim), c, tmp_path / "a.bin", scope="c2c",
                                        target_id="U", method=UploadMethod.CHUNKED)
            assert trio.current_time() >= 30

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("qqproto_transports._upload_async.PartReader", spy)
        run_trio(main)
    assert readers and readers[0]._file.closed


def test_the_async_executor_runs_on_asyncio_too(tmp_path: Path) -> None:
    sim = make_sim(concurrency=2)
    data = write(tmp_path / "a.bin", 3 * BLOCK)
    http = SimHttp(sim, anyio.current_time)

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(http.answer)) as client:
            hashes = await hash_file_async(PartReader(tmp_path / "a.bin"), len(data),
                                           chunk=BLOCK)
            assert hashes == hash_bytes(data)
            return await upload_file_async(rest_for(sim), client, tmp_path / "a.bin",
                                           scope="group", target_id="G",
                                           method=UploadMethod.CHUNKED)

    media = anyio.run(main, backend="asyncio")
    assert sim_uploads(sim).stored[-1].file_info == media.file_info


# ----------------------------------------------------------------------------- sync

def sync_client(sim: Simulator) -> tuple[httpx.Client, SimHttp]:
    http = SimHttp(sim, time.monotonic)
    return httpx.Client(transport=httpx.MockTransport(http.answer)), http


def test_the_threaded_executor_uploads_chunked_and_inline(tmp_path: Path) -> None:
    sim = make_sim(concurrency=3)
    data = write(tmp_path / "a.bin", 4 * BLOCK + 1)
    client, _ = sync_client(sim)
    seen: list[UploadProgress] = []
    with client:
        media = upload_file_sync(rest_for(sim), client, tmp_path / "a.bin", scope="c2c",
                                 target_id="U", method=UploadMethod.CHUNKED,
                                 progress=seen.append)
        stored = sim_uploads(sim).stored[-1]
        assert stored.verified and stored.hashes == hash_bytes(data)
        assert stored.file_info == media.file_info
        assert [p.parts_done for p in seen if p.phase is UploadPhase.UPLOADING] == [
            1, 2, 3, 4, 5]
        small = tmp_path / "b.png"
        small.write_bytes(b"\x89PNG" * 100)
        upload_file_sync(rest_for(sim), client, small, scope="group", target_id="G",
                         file_type=FileType.IMAGE)
    stored = sim_uploads(sim).stored[-1]
    assert (stored.method, stored.scope, stored.size) == ("file_data", "group", 400)
    assert stored.file_name is None  # file_name is sent for file_type 4 only (§3.4)


def test_the_threaded_executor_raises_the_session_s_error(tmp_path: Path) -> None:
    sim = make_sim()
    write(tmp_path / "a.bin", BLOCK)
    sim.faults.upload_daily_limit = 1
    client, _ = sync_client(sim)
    with client, pytest.raises(UploadDailyLimitError):
        upload_file_sync(rest_for(sim), client, tmp_path / "a.bin", scope="c2c",
                         target_id="U", method=UploadMethod.CHUNKED)


def test_the_threaded_executor_raises_a_read_failure(tmp_path: Path) -> None:
    sim = make_sim()
    path = tmp_path / "a.bin"
    data = write(path, BLOCK)
    session = UploadSession.for_client(rest_for(sim), ChatScope.C2C, "U", FileType.FILE,
                                           file_name="a.bin", file_size=len(data))
    reader = PartReader(path)
    reader.close()
    client, _ = sync_client(sim)
    with client, pytest.raises(UploadSourceError):
        run_upload_sync(session, client, reader)


def test_the_threaded_executor_waits_on_the_session_timer(tmp_path: Path) -> None:
    sim = make_sim(concurrency=1)
    write(tmp_path / "a.bin", 100)
    sim.faults.http_errors = (HttpFault(path="/presigned/", status=503),)
    client, http = sync_client(sim)
    with client:
        upload_file_sync(rest_for(sim), client, tmp_path / "a.bin", scope="c2c",
                         target_id="U", method=UploadMethod.CHUNKED)
    puts = http.paths("/1")
    assert len(puts) == 2 and 0.99 <= puts[1] - puts[0] < 1.5  # rest.md §4.14: 1 s


# ----------------------------------------------------------------------------- pieces

def test_a_part_reader_reads_ranges_and_reassembles_short_preads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write(tmp_path / "a.bin", 10_000)
    reader = PartReader(tmp_path / "a.bin")
    assert reader.size == 10_000 and repr(reader) == (
        f"PartReader({str(tmp_path / 'a.bin')!r}, 10000 bytes)")
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: real(fd, min(n, 1000), off))
    assert reader.read(500, 4000) == data[500:4500]
    assert reader.read(9500, 4000) == data[9500:]  # the end of the file: fewer bytes
    reader.close()
    reader.close()
    with pytest.raises(UploadSourceError, match="closed"):
        reader.read(0, 1)


def test_closing_a_reader_during_a_read_closes_the_file_after_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.bin", 100)
    reader = PartReader(tmp_path / "a.bin")
    real = os.pread

    def closing_pread(fd: int, n: int, off: int) -> bytes:
        reader.close()  # another thread closes while this read runs
        assert not reader._file.closed
        return real(fd, n, off)

    monkeypatch.setattr(os, "pread", closing_pread)
    assert len(reader.read(0, 50)) == 50
    assert reader._file.closed


def test_a_failing_read_is_a_source_error(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "a.bin", 100)
    reader = PartReader(tmp_path / "a.bin")

    def broken(*args: Any) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "pread", broken)
    with pytest.raises(UploadSourceError, match=r"cannot read a\.bin"):
        reader.read(0, 10)
    monkeypatch.undo()
    with pytest.raises(UploadSourceError, match="read 100 bytes at offset 0, expected 200"):
        hash_file(reader, 200)  # the file is shorter than announced


def test_hashing_streams_the_file_in_chunks(tmp_path: Path) -> None:
    data = write(tmp_path / "a.bin", 10_000)
    seen: list[UploadProgress] = []
    hashes = hash_file(PartReader(tmp_path / "a.bin"), 10_000, seen.append, chunk=4096)
    assert hashes == hash_bytes(data)
    assert [p.bytes_done for p in seen] == [4096, 8192, 10_000]


@pytest.mark.parametrize(("size", "chunk"), [
    (0, 4096), (1, 4096), (MD5_10M_PREFIX - 1, 1 << 20), (MD5_10M_PREFIX, 1 << 20),
    (MD5_10M_PREFIX + 1, 1 << 20), (MD5_10M_PREFIX + 5000, 4 * 1024 * 1024),
    (MD5_10M_PREFIX + 5000, MD5_10M_PREFIX),
])
def test_the_two_thread_hasher_agrees_with_the_core_s(size: int, chunk: int) -> None:
    data = random.Random(size).randbytes(size)
    hasher = PairHasher()
    for start in range(0, size, chunk):
        hasher.update(data[start:start + chunk])
    hasher.close()
    assert hasher.hashes() == hash_bytes(data)


def test_large_bodies_are_streamed_with_their_length_and_small_ones_are_not() -> None:
    body = bytes(range(256)) * (STREAM_CHUNK // 256 * 2 + 3)
    big = HttpRequest(method="PUT", url="http://b.test/p", body=body)
    args = streamed_args(big)
    assert args["content"] is None
    assert args["headers"] == [("Content-Length", str(len(body)))]
    chunks = list(body_chunks(body))
    assert b"".join(chunks) == body and max(map(len, chunks)) == STREAM_CHUNK
    given = HttpRequest(method="PUT", url="http://b.test/p", body=body,
                        headers=(("content-length", str(len(body))),))
    assert streamed_args(given)["headers"] == [("content-length", str(len(body)))]
    small = HttpRequest(method="POST", url="http://b.test/p", body=b"{}")
    assert streamed_args(small)["content"] == b"{}"


def test_a_streamed_put_arrives_whole_with_content_length() -> None:
    body = os.urandom(STREAM_CHUNK * 3 + 5)
    got: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(record)) as client:
        result = perform_sync(client, HttpRequest(method="PUT", url="http://b.test/x",
                                                  body=body))
    assert isinstance(result, HttpResponse) and result.status == 200
    assert got[0].content == body
    assert got[0].headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in got[0].headers


def test_transport_failures_become_reasons_not_exceptions() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    request = HttpRequest(method="PUT", url="http://b.test/x", body=b"x" * (STREAM_CHUNK + 1))
    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        assert perform_sync(client, request) == "ConnectError: refused"
        reason = perform_sync(client, HttpRequest(method="GET", url="http://[::1"))
        assert isinstance(reason, str) and reason.startswith("InvalidURL")

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
            return await perform_async(client, request)

    assert anyio.run(main) == "ConnectError: refused"


def test_the_method_rule_for_local_files() -> None:
    assert resolve_method(4 * 1024 * 1024, None, "a") is UploadMethod.INLINE
    assert resolve_method(4 * 1024 * 1024 + 1, None, "a") is UploadMethod.CHUNKED
    assert resolve_method(10, UploadMethod.CHUNKED, "a") is UploadMethod.CHUNKED
    with pytest.raises(UploadSourceError, match="a is empty"):
        resolve_method(0, None, "a")
    with pytest.raises(ValueError, match="by URL"):
        resolve_method(10, UploadMethod.URL, "a")


def test_an_empty_file_is_refused_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    sim = make_sim()
    client, http = sync_client(sim)
    with client, pytest.raises(UploadSourceError, match="empty"):
        upload_file_sync(rest_for(sim), client, tmp_path / "empty.txt", scope="c2c",
                         target_id="U")
    assert http.log == []


# ----------------------------------------------------------------------------- bot API

def tap(interaction: str = "I1") -> Dispatch:
    return Dispatch(type="INTERACTION_CREATE", seq=3, id="E1",
                    data={"id": interaction, "chat_type": 2, "user_openid": "U"})


def test_interaction_id_reads_taps_only() -> None:
    assert interaction_id(tap("abc")) == "abc"
    assert interaction_id(Dispatch(type="C2C_MESSAGE_CREATE", seq=1, id="x",
                                   data={"id": "m"})) is None
    assert interaction_id(Dispatch(type="INTERACTION_CREATE", seq=1, id="x",
                                   data=[1])) is None
    assert interaction_id(Dispatch(type="INTERACTION_CREATE", seq=1, id="x",
                                   data={"id": ""})) is None
    assert interaction_id(Dispatch(type="INTERACTION_CREATE", seq=1, id="x",
                                   data={"id": 5})) is None
    model = InteractionCreate(type="INTERACTION_CREATE", event_id="E", seq=1, raw={},
                              id="model-id")
    assert interaction_id(model) == "model-id"
    assert interaction_id(HeartbeatAcknowledged(latency=0.1)) is None


class FakeAsyncBot(AsyncBotApi):
    """The bot API on a bare client, without a gateway or a server."""

    def __init__(self, sim: Simulator, http: httpx.AsyncClient, auto: bool) -> None:
        tokens = rest_for(sim).token_state
        self.session = SimpleNamespace(token_state=tokens)
        self._init_api(Settings(app_id=tokens.app_id, secret="s",
                                auto_ack_interactions=auto), lambda: tokens)
        self.http = http


class FakeSyncBot(SyncBotApi):
    """The bot API on a bare client, without a gateway or a server."""

    def __init__(self, sim: Simulator, http: httpx.Client, auto: bool) -> None:
        tokens = rest_for(sim).token_state
        self.session = SimpleNamespace(token_state=tokens)
        self._init_api(Settings(app_id=tokens.app_id, secret="s",
                                auto_ack_interactions=auto), lambda: tokens)
        self.http = http


def test_the_auto_ack_hook_comes_first_and_only_when_enabled() -> None:
    sim = make_sim()
    client, _ = sync_client(sim)
    user = lambda event: None  # noqa: E731
    off, on = FakeSyncBot(sim, client, False), FakeSyncBot(sim, client, True)
    for bot in (off, on):
        bot.handlers.on("INTERACTION_CREATE")(user)
    assert [h for h, _ in off._plan_delivery(tap(), 0.0)] == [user]
    assert [h for h, _ in on._plan_delivery(tap(), 0.0)] == [on._auto_ack, user]
    other = Dispatch(type="C2C_MESSAGE_CREATE", seq=1, id="x", data={"id": "m"})
    assert on._plan_delivery(other, 0.0) == []
    client.close()


def test_the_sync_bot_acks_and_auto_acks_through_its_client() -> None:
    sim = make_sim()
    client, _ = sync_client(sim)
    bot = FakeSyncBot(sim, client, True)
    assert bot.rest is bot.rest and bot.rest.token_state is bot.session.token_state
    event = sim.inject_interaction("c2c", now=0.0, user_openid="U")
    dispatch = Dispatch(type="INTERACTION_CREATE", seq=1, id=event.id, data=event.data)
    for handler, argument in bot._plan_delivery(dispatch, 0.0):
        handler(argument)
    bot.ack_interaction(event.data["id"], InteractionResult.DUPLICATE)
    assert [(a.interaction_id, a.code) for a in sim.interaction_acks] == [
        (event.data["id"], 0), (event.data["id"], 3)]
    client.close()


def test_a_failed_auto_ack_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    sim = make_sim()
    http = SimHttp(sim, trio.current_time)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(http.answer)) as client:
            bot = FakeAsyncBot(sim, client, True)
            ((handler, argument),) = bot._plan_delivery(tap("unknown-interaction"), 0.0)
            await handler(argument)
            event = sim.inject_interaction("group", now=trio.current_time(),
                                           group_openid="G", member_openid="M")
            await bot.ack_interaction(event.data["id"])

    with caplog.at_level(logging.WARNING, "qqproto_transports"):
        run_trio(main)
    assert "auto-ACK of interaction unknown-interaction failed" in caplog.text
    assert [a.code for a in sim.interaction_acks] == [0]


def test_the_sync_bot_uploads_with_its_own_client(tmp_path: Path) -> None:
    sim = make_sim()
    data = write(tmp_path / "a.bin", 2 * BLOCK)
    client, _ = sync_client(sim)
    with client:
        media = FakeSyncBot(sim, client, False).upload(tmp_path / "a.bin", "c2c", "U",
                                                       method=UploadMethod.CHUNKED)
    assert sim_uploads(sim).stored[-1].file_info == media.file_info
    assert sim_uploads(sim).stored[-1].hashes == hash_bytes(data)


def test_the_async_bot_uploads_with_its_own_client(tmp_path: Path) -> None:
    sim = make_sim()
    write(tmp_path / "a.bin", 2 * BLOCK)
    http = SimHttp(sim, trio.current_time)

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(http.answer)) as client:
            return await FakeAsyncBot(sim, client, False).upload(
                tmp_path / "a.bin", "group", "G", FileType.VIDEO,
                method=UploadMethod.CHUNKED)

    media = run_trio(main)
    stored = sim_uploads(sim).stored[-1]
    assert (stored.file_info, stored.scope, stored.file_type) == (media.file_info, "group", 2)

