"""Uploading a file from disk on asyncio or trio: one executor for both, through anyio.

:func:`run_upload_async` carries out an :class:`~qqproto.upload.UploadSession`'s
commands as tasks of one task group: a :class:`~qqproto.upload.ReadPart` reads
its range on a worker thread (``anyio.to_thread``: the event loop never waits for the
disk), an HTTP request goes through the bot's ``httpx.AsyncClient``, and the loop
sleeps until an answer arrives or :meth:`~qqproto.upload.UploadSession.get_timer`
falls due.  The session decides how many parts are in flight, so at most
``concurrency`` blocks are in memory; a part's bytes are dropped once its ``PUT``
succeeded.  The pre-signed ``PUT`` goes out exactly as the session built it, without
the token (rest.md §4.13).

:func:`upload_file_async` is the whole job for a path, like
:func:`~qqproto_transports._upload_sync.upload_file_sync`: pick the method, hash in a
streamed pass on worker threads, run the session.  ``clock`` must be the clock of the
token state (``anyio.current_time`` is the loop's clock on asyncio and
``trio.current_time`` on trio, which is what the drivers use).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Callable
from functools import partial
from typing import Any

import anyio
import httpx

from qqproto import ChatScope, FileType, UploadedMedia
from qqproto.events import UploadProgress
from qqproto.gateway import Command, SendHttpRequest
from qqproto.rest import HttpRequest, HttpResponse, RestClient
from qqproto.upload import MAX_CONCURRENCY, FileHashes, ReadPart, UploadMethod, UploadSession

from ._httpx import EXCHANGE_ERRORS, exchange_async, run_call_async
from ._upload_sync import (
    HASH_CHUNK,
    FileJob,
    PartReader,
    Progress,
    answer,
    body_chunks,
    feed_events,
    hash_file,
    streamed_args,
    take_token,
)

__all__ = ["hash_file_async", "perform_async", "run_upload_async", "upload_file_async"]

_TRANSPORT_ERRORS = EXCHANGE_ERRORS


async def _achunks(body: bytes) -> AsyncGenerator[bytes, None]:
    for chunk in body_chunks(body):
        yield chunk


async def perform_async(client: httpx.AsyncClient, request: HttpRequest
                        ) -> HttpResponse | str:
    """Carry out one request as the core built it: the answer, or why there is none.
    A large body goes out in pieces (see
    :func:`~qqproto_transports._upload_sync.streamed_args`), which also keeps asyncio's
    transport from copying a whole part into its write buffer."""
    args = streamed_args(request)
    chunks = _achunks(request.body) if args["content"] is None and request.body else None
    if chunks is not None:
        args["content"] = chunks
    try:
        return await exchange_async(client, args, request)  # capped, one deadline
    except _TRANSPORT_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if chunks is not None:
            await chunks.aclose()


class _Run:
    """The state of one executor run: the wake-up event and a worker's failure."""

    def __init__(self, session: UploadSession, client: httpx.AsyncClient,
                 reader: PartReader, clock: Callable[[], float]) -> None:
        self.session = session
        self.client = client
        self.reader = reader
        self.clock = clock
        self.wake = anyio.Event()
        self.failure: BaseException | None = None
        # One read at a time (see _upload_sync.WORKERS for why).
        self.reads = anyio.CapacityLimiter(1)

    async def work(self, cmd: Command) -> None:
        try:
            if isinstance(cmd, ReadPart):
                result: Any = await anyio.to_thread.run_sync(
                    self.reader.read, cmd.offset, cmd.length, limiter=self.reads)
            else:
                assert isinstance(cmd, SendHttpRequest)
                result = await perform_async(self.client, cmd.request)
            answer(self.session, cmd, result, self.clock())
        except Exception as exc:  # raised by the run, not by the task group
            self.failure = exc
        self.wake.set()

    async def drive(self, tg: anyio.abc.TaskGroup, progress: Progress | None) -> None:
        session = self.session
        session.start(self.clock())
        while True:
            while (cmd := session.next_command()) is not None:
                tg.start_soon(self.work, cmd)
            feed_events(session, progress)
            if self.failure is not None:
                raise self.failure
            if session.done:
                return
            timer, now = session.get_timer(), self.clock()
            if timer is not None and timer <= now:
                session.handle_timer(now)
                continue
            with anyio.move_on_after(None if timer is None else timer - now):
                await self.wake.wait()
            self.wake = anyio.Event()


async def run_upload_async(session: UploadSession, client: httpx.AsyncClient,
                           reader: PartReader, *, progress: Progress | None = None,
                           clock: Callable[[], float] = anyio.current_time) -> UploadedMedia:
    """Run ``session`` to its end; its :class:`UploadedMedia` or its error.  Requests
    still out when it ends (abandoned after a failure) are cancelled."""
    run = _Run(session, client, reader, clock)
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        try:
            await run.drive(tg, progress)
        except Exception as exc:  # re-raised below, not wrapped in an ExceptionGroup
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error
    return session.result()


async def hash_file_async(reader: PartReader, size: int, progress: Progress | None = None,
                          *, chunk: int = HASH_CHUNK) -> FileHashes:
    """md5, sha1 and md5_10m in one streamed pass on worker threads
    (:func:`~qqproto_transports._upload_sync.hash_file`); progress comes back to the
    event loop, and a cancelled upload stops the pass at the next chunk."""

    def report(event: UploadProgress) -> None:
        anyio.from_thread.check_cancelled()
        if progress is not None:
            anyio.from_thread.run_sync(progress, event)

    return await anyio.to_thread.run_sync(partial(hash_file, reader, size, report,
                                                  chunk=chunk))


async def prefetch_token_async(rest: RestClient, client: httpx.AsyncClient,
                               clock: Callable[[], float]) -> None:
    """The token fetched while the file is hashed (see
    :func:`~qqproto_transports._upload_sync.prefetch_token_sync`)."""
    if rest.token_state.current(clock()) is None:
        take_token(rest, await perform_async(client, rest.token_state.request()), clock())


async def upload_file_async(
    rest: RestClient, client: httpx.AsyncClient, path: str | os.PathLike[str], *,
    scope: ChatScope | str, target_id: str, file_type: FileType = FileType.FILE,
    file_name: str | None = None, progress: Progress | None = None,
    method: UploadMethod | None = None, max_parts_in_flight: int = MAX_CONCURRENCY,
    clock: Callable[[], float] = anyio.current_time,
) -> UploadedMedia:
    """Upload the file at ``path`` to a c2c user or a group; its ``file_info``.

    Small files go inline as ``file_data``, larger ones chunked (``method`` overrides
    the rule); ``progress`` gets :class:`UploadProgress` events (hashing, then parts)."""
    reader = await anyio.to_thread.run_sync(PartReader, path)
    try:
        job = FileJob.plan(rest, reader, scope=scope, target_id=target_id,
                           file_type=file_type, file_name=file_name, method=method,
                           max_parts_in_flight=max_parts_in_flight)
        with job.explain_errors():
            if job.method is UploadMethod.INLINE:
                data = await anyio.to_thread.run_sync(reader.read, 0, job.size)
                media: UploadedMedia = await run_call_async(job.inline_call(data), client,
                                                            clock)
                job.inline_done(progress)
                return media
            async with anyio.create_task_group() as tg:
                tg.start_soon(prefetch_token_async, rest, client, clock)
                hashes = await hash_file_async(reader, job.size, progress)
            return await run_upload_async(job.session(hashes), client, reader,
                                          progress=progress, clock=clock)
    finally:
        reader.close()
