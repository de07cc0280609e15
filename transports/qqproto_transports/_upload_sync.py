"""Uploading a file from disk with threads: the executor of the threaded driver, and
what every executor shares (positioned file reads, streamed hashing, the method rule).

:func:`run_upload_sync` carries out an :class:`~qqproto.upload.UploadSession`'s
commands on a thread pool: each :class:`~qqproto.upload.ReadPart` and each
HTTP request runs on a worker, the session itself is only touched by the calling thread,
which waits on a queue of answers with the session's timer as the timeout.  The session
decides how many parts are in flight (the server's hint, capped), so the pool never
holds more than ``concurrency`` blocks; a part's bytes are dropped once its ``PUT``
succeeded.  :func:`upload_file_sync` is the whole job for a path: pick the method
(:func:`~qqproto.upload.choose_upload_method`), hash the file in one streamed
pass, run the session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from qqproto import ChatScope, FileType, UploadedMedia
from qqproto.errors import (
    ApiError,
    FileTooLargeError,
    UploadDailyLimitError,
    UploadSourceError,
)
from qqproto.events import UploadPhase, UploadProgress
from qqproto.gateway import Command, SendHttpRequest
from qqproto.rest import HttpRequest, HttpResponse, RestCall, RestClient, check_file_size
from qqproto.upload import (
    MAX_CONCURRENCY,
    MD5_10M_PREFIX,
    FileHashes,
    ReadPart,
    UploadMethod,
    UploadSession,
    UploadSource,
    choose_upload_method,
)

from ._httpx import EXCHANGE_ERRORS, exchange_sync, httpx_request_args, run_call_sync

__all__ = [
    "HASH_CHUNK",
    "PairHasher",
    "PartReader",
    "Progress",
    "hash_file",
    "run_upload_sync",
    "upload_file_sync",
]

#: Bytes read and hashed per step of the hashing pass (one buffer of this size at a time).
HASH_CHUNK: Final = 4 * 1024 * 1024
#: Bodies larger than this are streamed in pieces of this size (see streamed_args).
STREAM_CHUNK: Final = 256 * 1024
#: Workers for requests: every part in flight may have its PUT or finish out, plus the
#: token and a spare.  Reads have one thread of their own: the disk gains nothing from
#: parallel reads of one file, and blocks allocated by one thread are reused by the
#: allocator instead of piling up in one arena per worker (resident memory).
WORKERS: Final = 2 * MAX_CONCURRENCY + 2
Progress = Callable[[UploadProgress], object]
_TRANSPORT_ERRORS: Final = EXCHANGE_ERRORS


class PartReader:
    """Reads byte ranges of one file from any thread (``os.pread``: no shared offset).

    :meth:`close` waits for nothing: when reads are still running it only marks the
    file, and the last read closes it, so a descriptor is never reused under a reader.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()
        self._readers = 0
        self._closing = False
        self.size = os.fstat(self._file.fileno()).st_size

    def __repr__(self) -> str:
        return f"PartReader({str(self.path)!r}, {self.size} bytes)"

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer only at the end of the file)."""
        with self._lock:
            if self._closing:
                raise UploadSourceError(f"{self.path.name}: the reader is closed")
            self._readers += 1
        try:
            if hasattr(os, "pread"):
                return self._pread(offset, length)
            with self._lock:  # pragma: no cover - platforms without pread (Windows)
                self._file.seek(offset)
                return self._file.read(length)
        except OSError as exc:
            raise UploadSourceError(f"cannot read {self.path.name}: {exc}") from exc
        finally:
            with self._lock:
                self._readers -= 1
                last = self._closing and self._readers == 0
            if last:
                self._file.close()

    def _pread(self, offset: int, length: int) -> bytes:
        fd = self._file.fileno()
        data = os.pread(fd, length, offset)
        if 0 < len(data) < length:  # a short read that is not the end: keep reading
            pieces = [data]
            got = len(data)
            while got < length and (more := os.pread(fd, length - got, offset + got)):
                pieces.append(more)
                got += len(more)
            data = b"".join(pieces)
        return data

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            idle = self._readers == 0
        if idle:
            self._file.close()


class PairHasher:
    """The three digests of rest.md §4.3–4.4, with md5 and sha1 on two threads.

    hashlib releases the GIL while it hashes, so feeding sha1 on a helper thread while
    the caller's thread runs md5 over the same chunk makes the pass cost about one md5
    instead of md5 + sha1.  ``md5_10m`` is the md5 state copied at byte 10,002,432
    (:data:`~qqproto.upload.MD5_10M_PREFIX`), or the whole md5 for a smaller file —
    the same values as :class:`~qqproto.upload.FileHasher` (tested against it)."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha1 = hashlib.sha1(usedforsecurity=False)
        self._md5_10m: str | None = None
        self._size = 0
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="qqproto-sha1")

    def update(self, data: bytes) -> None:
        sha1 = self._helper.submit(self._sha1.update, data)
        try:
            left = MD5_10M_PREFIX - self._size
            if 0 < left <= len(data):
                view = memoryview(data)
                self._md5.update(view[:left])
                self._md5_10m = self._md5.hexdigest()
                self._md5.update(view[left:])
            else:
                self._md5.update(data)
            self._size += len(data)
        finally:
            sha1.result()

    def hashes(self) -> FileHashes:
        md5 = self._md5.hexdigest()
        return FileHashes(size=self._size, md5=md5, sha1=self._sha1.hexdigest(),
                          md5_10m=self._md5_10m or md5)

    def close(self) -> None:
        self._helper.shutdown(wait=True)


def hash_file(reader: PartReader, size: int, progress: Progress | None = None, *,
              chunk: int = HASH_CHUNK) -> FileHashes:
    """md5, sha1 and md5_10m of the first ``size`` bytes in one streamed pass (one chunk
    in memory at a time; see :class:`PairHasher`)."""
    hasher = PairHasher()
    try:
        done = 0
        while done < size:
            step = min(chunk, size - done)
            data = reader.read(done, step)
            if len(data) != step:
                raise UploadSourceError(
                    f"{reader.path.name}: read {len(data)} bytes at offset {done}, "
                    f"expected {step} (the file changed?)")
            hasher.update(data)
            del data
            done += step
            if progress is not None:
                progress(UploadProgress(phase=UploadPhase.HASHING, bytes_done=done,
                                        bytes_total=size))
        return hasher.hashes()
    finally:
        hasher.close()


def body_chunks(body: bytes) -> Generator[bytes, None, None]:
    """``body`` in :data:`STREAM_CHUNK` pieces, for a streamed request body."""
    view = memoryview(body)
    for start in range(0, len(view), STREAM_CHUNK):
        yield bytes(view[start:start + STREAM_CHUNK])


def streamed_args(request: HttpRequest) -> dict[str, Any]:
    """httpx arguments for ``request``; a large body (a part) goes out in pieces with its
    ``Content-Length``, the same bytes on the wire.  Why: httpx keeps a sent request in
    a reference cycle until the garbage collector runs, and the sync transport copies
    the unsent rest of a buffer after every partial ``send``; a finished generator holds
    nothing, so a part's bytes are freed when the session drops them (memory bound)."""
    args = httpx_request_args(request)
    if len(request.body) > STREAM_CHUNK:
        if request.header("Content-Length") is None:
            args["headers"] = [*args["headers"], ("Content-Length", str(len(request.body)))]
        args["content"] = None
    return args


def perform_sync(client: httpx.Client, request: HttpRequest) -> HttpResponse | str:
    """Carry out one request as the core built it: the answer, or why there is none."""
    args = streamed_args(request)
    chunks = body_chunks(request.body) if args["content"] is None and request.body else None
    if chunks is not None:
        args["content"] = chunks
    try:
        return exchange_sync(client, args, request)  # capped, one deadline
    except _TRANSPORT_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if chunks is not None:
            chunks.close()  # drops the body now even when the request failed mid-way


def feed_events(session: UploadSession, progress: Progress | None) -> None:
    """Hand the session's progress events to ``progress``."""
    while (event := session.next_event()) is not None:
        if progress is not None and isinstance(event, UploadProgress):
            progress(event)


def answer(session: UploadSession, cmd: Command, result: Any, now: float) -> None:
    """Give the session the outcome of ``cmd`` (bytes, a response or a failure)."""
    if isinstance(cmd, ReadPart):
        session.part_data(cmd.id, result, now)
    elif isinstance(cmd, SendHttpRequest):
        if isinstance(result, HttpResponse):
            session.http_response(cmd.id, result, now)
        else:
            session.http_failed(cmd.id, str(result), now)


def run_upload_sync(session: UploadSession, client: httpx.Client, reader: PartReader, *,
                    progress: Progress | None = None,
                    clock: Callable[[], float] = time.monotonic) -> UploadedMedia:
    """Run ``session`` to its end on a thread pool; its :class:`UploadedMedia` or its
    error.  ``clock`` must be the clock of the session's token state."""
    answers: queue.SimpleQueue[tuple[Command, Any]] = queue.SimpleQueue()

    def work(cmd: Command) -> None:
        try:
            if isinstance(cmd, ReadPart):
                result: Any = reader.read(cmd.offset, cmd.length)
            else:
                assert isinstance(cmd, SendHttpRequest)
                result = perform_sync(client, cmd.request)
        except BaseException as exc:  # handed to the session's thread, raised there
            result = exc
        answers.put((cmd, result))

    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="qqproto-upload")
    reads = ThreadPoolExecutor(1, thread_name_prefix="qqproto-upload-read")
    outstanding = 0
    try:
        session.start(clock())
        while True:
            while (cmd := session.next_command()) is not None:
                (reads if isinstance(cmd, ReadPart) else pool).submit(work, cmd)
                outstanding += 1
            feed_events(session, progress)
            if session.done:
                break
            timer, now = session.get_timer(), clock()
            if timer is not None and timer <= now:
                session.handle_timer(now)
                continue
            if outstanding == 0 and timer is None:  # pragma: no cover - a session bug
                raise RuntimeError(f"{session!r} waits for nothing")
            try:
                cmd, result = answers.get(timeout=None if timer is None else timer - now)
            except queue.Empty:
                continue
            outstanding -= 1
            if isinstance(result, BaseException):
                raise result
            answer(session, cmd, result, clock())
    finally:
        # Requests the session abandoned (after a failure) finish on their own; the
        # reader is closed by the last read still running.
        pool.shutdown(wait=False, cancel_futures=True)
        reads.shutdown(wait=False, cancel_futures=True)
    return session.result()


def resolve_method(size: int, method: UploadMethod | None, name: str) -> UploadMethod:
    """The documented rule unless the caller chose; a local file is never a URL."""
    if size <= 0:
        raise UploadSourceError(f"{name} is empty: nothing to upload")
    method = method or choose_upload_method(size, UploadSource.BYTES)
    if method is UploadMethod.URL:
        raise ValueError("a local file cannot be uploaded by URL")
    return method


def take_token(rest: RestClient, result: HttpResponse | str, now: float) -> None:
    """Keep a prefetched token; a failure is left for the session to meet again, with
    its own error handling (so it is reported once, where it belongs)."""
    if isinstance(result, HttpResponse):
        with contextlib.suppress(ApiError):
            rest.token_state.receive_response(result, now)


def prefetch_token_sync(rest: RestClient, client: httpx.Client,
                        clock: Callable[[], float]) -> None:
    """Fetch the access token (and open the connection) while the file is hashed: the
    session needs it for ``upload_prepare`` right after the pass, and a round trip to
    the token endpoint overlaps the hashing instead of following it."""
    if rest.token_state.current(clock()) is None:
        take_token(rest, perform_sync(client, rest.token_state.request()), clock())


@dataclass(frozen=True, slots=True, kw_only=True)
class FileJob:
    """One file's upload as :func:`upload_file_sync` and ``upload_file_async`` plan it
    once the file is open: where it goes, its name, size and type, and the method."""

    rest: RestClient
    scope: ChatScope | str
    target_id: str
    name: str
    size: int
    file_type: FileType
    method: UploadMethod
    max_parts_in_flight: int

    @classmethod
    def plan(cls, rest: RestClient, reader: PartReader, *, scope: ChatScope | str,
             target_id: str, file_type: FileType, file_name: str | None,
             method: UploadMethod | None, max_parts_in_flight: int) -> FileJob:
        name = file_name or reader.path.name
        # The size alone decides: refuse before a single byte is hashed (rest.md §3.7).
        check_file_size(FileType(file_type), reader.size, file_name=name)
        chosen = resolve_method(reader.size, method, name)
        return cls(rest=rest, scope=scope, target_id=target_id, name=name, size=reader.size,
                   file_type=FileType(file_type), method=chosen,
                   max_parts_in_flight=max_parts_in_flight)

    @contextlib.contextmanager
    def explain_errors(self) -> Generator[None, None, None]:
        """The platform's size and quota refusals (850031, 40093002) carry no file name:
        re-raise them naming this file and its size."""
        try:
            yield
        except (FileTooLargeError, UploadDailyLimitError) as exc:
            if exc.file_name is not None:
                raise
            raise exc.for_file(self.name, self.size) from exc

    def inline_call(self, data: bytes) -> RestCall[UploadedMedia]:
        """The single call that carries the whole file as ``file_data``."""
        return self.rest.upload_media(
            self.scope, self.target_id, self.file_type, file_data=data,
            file_name=self.name if self.file_type is FileType.FILE else None)

    def inline_done(self, progress: Progress | None) -> None:
        """Report the inline call's success as the one part of the upload."""
        if progress is not None:
            progress(UploadProgress(phase=UploadPhase.UPLOADING, bytes_done=self.size,
                                    bytes_total=self.size, parts_done=1, parts_total=1))

    def session(self, hashes: FileHashes) -> UploadSession:
        """The chunked upload of the hashed file."""
        return UploadSession.for_client(
            self.rest, self.scope, self.target_id, self.file_type, file_name=self.name,
            file_size=self.size, hashes=hashes, max_parts_in_flight=self.max_parts_in_flight)


def upload_file_sync(rest: RestClient, client: httpx.Client, path: str | os.PathLike[str],
                     *, scope: ChatScope | str, target_id: str,
                     file_type: FileType = FileType.FILE, file_name: str | None = None,
                     progress: Progress | None = None, method: UploadMethod | None = None,
                     max_parts_in_flight: int = MAX_CONCURRENCY,
                     clock: Callable[[], float] = time.monotonic) -> UploadedMedia:
    """Upload the file at ``path`` to a c2c user or a group; its ``file_info``.

    Small files go inline as ``file_data``, larger ones chunked (``method`` overrides
    the rule); ``progress`` gets :class:`UploadProgress` events (hashing, then parts)."""
    reader = PartReader(path)
    try:
        job = FileJob.plan(rest, reader, scope=scope, target_id=target_id,
                           file_type=file_type, file_name=file_name, method=method,
                           max_parts_in_flight=max_parts_in_flight)
        with job.explain_errors():
            if job.method is UploadMethod.INLINE:
                media: UploadedMedia = run_call_sync(
                    job.inline_call(reader.read(0, job.size)), client, clock)
                job.inline_done(progress)
                return media
            with ThreadPoolExecutor(1, thread_name_prefix="qqproto-token") as side:
                token = side.submit(prefetch_token_sync, rest, client, clock)
                hashes = hash_file(reader, job.size, progress)
                token.result()
            return run_upload_sync(job.session(hashes), client, reader, progress=progress,
                                   clock=clock)
    finally:
        reader.close()
