"""Chunked media upload as a sans-IO saga (rest.md §4).

hash → ``upload_prepare`` → for every part: read its bytes, ``PUT`` them to the
pre-signed URL, ``upload_part_finish`` → complete (``POST …/files`` with ``upload_id``)
→ a ``file_info`` to send as a msg_type 7 message.

The session never touches a file or a socket.  It asks the driver for bytes
(:class:`ReadPart`) and for HTTP exchanges (:class:`~qqproto.gateway.SendHttpRequest`),
both tagged with an ``id`` the answer must carry.  One small generic executor serves
every upload::

    session.start(now())
    while not session.done:
        while (cmd := session.next_command()) is not None:
            if isinstance(cmd, ReadPart):
                session.part_data(cmd.id, read(cmd.offset, cmd.length), now())
            else:
                start_http(cmd.id, cmd.request)   # answer later, in any order, with
                # session.http_response(id, response, now()) or session.http_failed(id, why, now())
        wait for an HTTP answer or until session.get_timer(); on timeout session.handle_timer(now())
        while (event := session.next_event()) is not None:
            show(event)                           # UploadProgress for progress bars
    media = session.result()                      # UploadedMedia, or raises

Decisions (the sources disagree, rest.md §12): part offsets are computed from the sorted
server indexes, whatever their base (§4.9); ``md5_10m`` covers 10,002,432 bytes (§4.4);
the pre-signed ``PUT`` carries no ``Authorization`` (§4.13) — the session never attaches
the token to it, whatever its host; completion sends ``{"upload_id"}`` only (§4.22, what
every working SDK sends); ``file_size`` and ``block_size`` go out as decimal strings, as
the official request tables and examples print them (§4.5, §4.16, §12: the SDKs send
numbers; the server's answers are read in either form).

Timing, all through :meth:`UploadSession.get_timer` / :meth:`UploadSession.handle_timer`:
a part's ``PUT`` is tried 3 times with 1 s and 2 s pauses (§4.14); ``part_finish`` is
retried every 1 s while the server answers ``40093001``, until the server's
``retry_timeout`` (120 s when 0 or missing, at most 600 s) has passed (§4.17), and other
retryable failures twice, after 1 s and 2 s (§4.18, TS); completion gets 3 attempts with
2 s and 4 s pauses (§4.23).  Every request to the OpenAPI takes the token from the shared
:class:`~qqproto.rest.TokenState` when it is sent, so a token that expires during a long
upload is refreshed (§4.27), and a ``401`` refreshes it and retries once.

Memory: at most ``concurrency`` parts are started and not yet finished, and a part's
bytes are dropped as soon as its ``PUT`` succeeded, so the session holds at most
``concurrency × block size`` bytes (:attr:`UploadSession.buffered_bytes`).
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from typing import Any, Final

from .._commands import Command, SendHttpRequest
from .._fsm import StateMachine
from .._http import HttpRequest, HttpResponse, json_request
from .._log import bot_logger
from .._secret import Secret
from .._values import ChatScope, FileType, UploadedMedia
from ..errors import (
    ApiError,
    AuthError,
    LocalProtocolError,
    MediaRejectedError,
    NetworkError,
    PermissionDeniedError,
    UploadDailyLimitError,
    UploadPartFailedError,
    UploadSourceError,
)
from ..events import Event, UploadFailed, UploadFinished, UploadPhase, UploadProgress
from ..rest._call import authorize
from ..rest._client import RestClient
from ..rest._errors import api_error_from_response, response_json_object
from ..rest._messages import (
    UPLOAD_TIMEOUT,
    check_file_size,
    media_base_url,
    parse_uploaded_media,
)
from ..rest._token import TokenState
from ._hashing import FileHasher, FileHashes
from ._parts import ApiOp, Part, PartState
from ._plan import (
    MAX_CONCURRENCY,
    ReadPart,
    UploadPlan,
    parse_upload_plan,
)

__all__ = ["UploadSession", "UploadState"]

HASH_CHUNK: Final = 1024 * 1024
PUT_TIMEOUT: Final = 300.0  # rest.md §4.14: each attempt bounded by 300 s
COMPLETE_BACKOFF: Final = (2.0, 4.0)  # rest.md §4.23: 3 attempts


# --- the saga -----------------------------------------------------------------------------


class UploadState(enum.Enum):
    NEW = enum.auto()
    HASHING = enum.auto()
    PREPARING = enum.auto()
    UPLOADING = enum.auto()
    COMPLETING = enum.auto()
    DONE = enum.auto()
    FAILED = enum.auto()


class _Input(enum.Enum):
    START = enum.auto()
    HASHED = enum.auto()
    PREPARED = enum.auto()
    PARTS_DONE = enum.auto()
    COMPLETED = enum.auto()
    FAIL = enum.auto()


_TABLE: Final = {
    (UploadState.NEW, _Input.START): UploadState.HASHING,
    (UploadState.HASHING, _Input.HASHED): UploadState.PREPARING,
    (UploadState.PREPARING, _Input.PREPARED): UploadState.UPLOADING,
    (UploadState.UPLOADING, _Input.PARTS_DONE): UploadState.COMPLETING,
    (UploadState.COMPLETING, _Input.COMPLETED): UploadState.DONE,
    **{(state, _Input.FAIL): UploadState.FAILED
       for state in (UploadState.HASHING, UploadState.PREPARING, UploadState.UPLOADING,
                     UploadState.COMPLETING)},
}


class UploadSession:
    """Uploads one file of ``file_size`` bytes to a c2c user or a group (rest.md §4).

    ``hashes`` may be given when the caller already knows them; otherwise the session
    reads the file once to compute them.  ``max_parts_in_flight`` lowers the server's
    concurrency hint (already capped at 10).  Raises :class:`FileTooLargeError` at once
    when the size is over the limit for ``file_type``.
    """

    @classmethod
    def for_client(cls, rest: RestClient, scope: ChatScope | str, target_id: str,
                   file_type: FileType, *, file_name: str, file_size: int,
                   hashes: FileHashes | None = None,
                   max_parts_in_flight: int = MAX_CONCURRENCY,
                   max_file_size: int | None = None) -> UploadSession:
        """A session sharing ``rest``'s token state and ``User-Agent``, so one token
        refresh serves the upload and every other call of the bot."""
        return cls(token_state=rest.token_state, scope=scope, target_id=target_id,
                   file_type=file_type, file_name=file_name, file_size=file_size,
                   hashes=hashes, max_parts_in_flight=max_parts_in_flight,
                   max_file_size=max_file_size, user_agent=rest.user_agent)

    def __init__(
        self,
        *,
        token_state: TokenState,
        scope: ChatScope | str,
        target_id: str,
        file_type: FileType,
        file_name: str,
        file_size: int,
        hashes: FileHashes | None = None,
        max_parts_in_flight: int = MAX_CONCURRENCY,
        max_file_size: int | None = None,
        hash_chunk_size: int = HASH_CHUNK,
        user_agent: str | None = None,
    ) -> None:
        self.file_type = FileType(file_type)
        if isinstance(file_size, bool) or not isinstance(file_size, int) or file_size <= 0:
            raise ValueError("file_size must be a positive int")
        if not isinstance(file_name, str) or not file_name:
            raise ValueError("file_name must be a non-empty string")
        if hashes is not None and hashes.size != file_size:
            raise ValueError("hashes were computed for another size")
        if max_parts_in_flight < 1 or hash_chunk_size < 1:
            raise ValueError("max_parts_in_flight and hash_chunk_size must be positive")
        check_file_size(self.file_type, file_size, max_file_size)
        self._tokens = token_state
        self._base = media_base_url(token_state.endpoints, scope, target_id)
        self.file_name = file_name
        self.file_size = file_size
        self._hashes = hashes
        self._max_in_flight = max_parts_in_flight
        self._hash_chunk = hash_chunk_size
        self._headers: tuple[tuple[str, str], ...] = (
            (("User-Agent", user_agent),) if user_agent else ())
        self._log = bot_logger("qqproto.upload", token_state.app_id)
        self._fsm: StateMachine[UploadState, _Input] = StateMachine(
            "upload", UploadState.NEW, _TABLE, self._log)
        self._outbox: deque[Command] = deque()
        self._events: deque[Event] = deque()
        self._inflight: dict[int, tuple[str, Any]] = {}
        self._next_id = 1
        self._token_request: int | None = None
        self._awaiting_token: deque[ApiOp] = deque()
        self._sleeping: dict[Part | ApiOp, float] = {}
        self._hasher = FileHasher()
        self._plan: UploadPlan | None = None
        self._parts: list[Part] = []
        self._next_part = 0
        self._parts_done = 0
        self._bytes_done = 0
        self._buffered = 0
        self._complete_op: ApiOp | None = None
        self._result: UploadedMedia | None = None
        self._error: Exception | None = None

    def __repr__(self) -> str:
        return (f"UploadSession({self.file_name!r}, {self.file_size} bytes, "
                f"state={self.state.name})")

    # --- read-only views ----------------------------------------------------------------

    @property
    def state(self) -> UploadState:
        return self._fsm.state

    @property
    def done(self) -> bool:
        """True once the upload finished or failed."""
        return self.state in (UploadState.DONE, UploadState.FAILED)

    @property
    def plan(self) -> UploadPlan | None:
        """The checked part plan, once ``upload_prepare`` answered."""
        return self._plan

    @property
    def concurrency(self) -> int:
        """Parts allowed in flight: the server's hint (≤ 10) and the driver's cap."""
        hint = self._plan.concurrency if self._plan is not None else 1
        return min(hint, self._max_in_flight)

    @property
    def buffered_bytes(self) -> int:
        """Part bytes the session holds right now (waiting for a successful ``PUT``)."""
        return self._buffered

    def result(self) -> UploadedMedia:
        """The uploaded media; raises the failure, or :class:`LocalProtocolError` early."""
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise LocalProtocolError("the upload has not finished")
        return self._result

    # --- driver interface ---------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin: hash the file, or go straight to ``upload_prepare`` with given hashes."""
        if self.state is not UploadState.NEW:
            raise LocalProtocolError("the upload has already started")
        self._fsm.fire(_Input.START)
        if self._hashes is None:
            self._read(None, 0, min(self._hash_chunk, self.file_size))
        else:
            self._prepare(now)

    def next_command(self) -> Command | None:
        """The next :class:`ReadPart` or :class:`SendHttpRequest` to carry out."""
        return self._outbox.popleft() if self._outbox else None

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must be called next (a retry pause ends)."""
        return min(self._sleeping.values()) if self._sleeping else None

    def handle_timer(self, now: float) -> None:
        """Resume every request whose retry pause has ended at ``now``."""
        for key, at in list(self._sleeping.items()):
            if at > now:
                continue
            del self._sleeping[key]
            if isinstance(key, ApiOp):
                self._queue_api(key, now)
            elif key.state is PartState.PUT_BACKOFF:
                self._send_put(key)
            else:
                self._queue_finish(key, now)

    def part_data(self, command_id: int, data: bytes | bytearray | memoryview,
                  now: float) -> None:
        """The bytes a :class:`ReadPart` asked for."""
        kind, target = self._take(command_id, "read")
        if kind is None:
            return
        if target is None:
            self._hashed_chunk(data, now)
            return
        part: Part = target
        if len(data) != part.plan.length:
            self._fail(UploadSourceError(
                f"part {part.plan.number}: read {len(data)} bytes, expected "
                f"{part.plan.length} (the file changed?)"))
            return
        part.data = bytes(data)
        part.md5 = hashlib.md5(part.data, usedforsecurity=False).hexdigest()  # rest.md §4.11
        self._buffered += len(part.data)
        self._send_put(part)

    def http_response(self, command_id: int, response: HttpResponse, now: float) -> None:
        """The answer to a :class:`SendHttpRequest` (in any order)."""
        kind, target = self._take(command_id, "http")
        if kind == "token":
            self._token_answer(response, now)
        elif kind == "put":
            ok = 200 <= response.status < 300  # rest.md §4.14: any 2xx
            self._put_result(target, ok, f"HTTP {response.status}", now)
        elif kind == "api":
            self._api_answer(target, response, now)

    def http_failed(self, command_id: int, reason: str, now: float) -> None:
        """A :class:`SendHttpRequest` did not complete (refused, reset, TLS, timeout)."""
        kind, target = self._take(command_id, "http")
        if kind == "token":
            self._token_request = None
            self._fail(NetworkError(f"token request failed: {reason}"))
        elif kind == "put":
            self._put_result(target, False, reason, now)
        elif kind == "api":
            op: ApiOp = target
            self._api_error(op, NetworkError(f"{op.kind} request failed: {reason}"), now)

    # --- internals: bookkeeping ------------------------------------------------------------

    def _new_id(self) -> int:
        command_id = self._next_id
        self._next_id += 1
        return command_id

    def _take(self, command_id: int, expected: str) -> tuple[str | None, Any]:
        entry = self._inflight.pop(command_id, None)
        if entry is None:
            if self.done:
                return None, None  # an answer to a request abandoned by the failure
            raise LocalProtocolError(f"no outstanding command with id {command_id}")
        is_read = entry[0] == "read"
        if is_read != (expected == "read"):
            self._inflight[command_id] = entry
            raise LocalProtocolError(
                f"command {command_id} is answered with "
                f"{'part_data' if is_read else 'http_response/http_failed'}")
        if self.done:
            return None, None
        return entry

    def _read(self, part: Part | None, offset: int, length: int) -> None:
        command_id = self._new_id()
        self._inflight[command_id] = ("read", part)
        self._outbox.append(ReadPart(id=command_id, offset=offset, length=length))

    def _fail(self, error: Exception) -> None:
        if self.done:
            return
        self._log.info("upload of %r failed: %r", self.file_name, error)
        self._error = error
        self._fsm.fire(_Input.FAIL)
        for part in self._parts:
            part.data = None
        self._buffered = 0
        self._outbox.clear()
        self._awaiting_token.clear()
        self._sleeping.clear()
        self._events.append(UploadFailed(error=error))

    # --- internals: OpenAPI requests, token -------------------------------------------------

    def _api_request(self, path: str, body: dict[str, Any]) -> HttpRequest:
        return json_request("POST", self._base + path, body, headers=self._headers,
                            timeout=UPLOAD_TIMEOUT)

    def _queue_api(self, op: ApiOp, now: float) -> None:
        token = self._tokens.current(now)
        if token is not None:
            self._send_api(op, token)
            return
        self._awaiting_token.append(op)
        if self._token_request is None:
            command_id = self._new_id()
            self._token_request = command_id
            self._inflight[command_id] = ("token", None)
            self._outbox.append(SendHttpRequest(id=command_id, request=self._tokens.request(),
                                                purpose="token"))

    def _send_api(self, op: ApiOp, token: Secret) -> None:
        op.used_token = token
        op.attempts += 1
        command_id = self._new_id()
        self._inflight[command_id] = ("api", op)
        request = authorize(op.request, token, app_id=self._tokens.app_id,
                            endpoints=self._tokens.endpoints)
        self._outbox.append(SendHttpRequest(id=command_id, request=request,
                                            purpose=f"upload_{op.kind}"))

    def _token_answer(self, response: HttpResponse, now: float) -> None:
        self._token_request = None
        try:
            token = self._tokens.receive_response(response, now)
        except ApiError as exc:
            self._fail(exc)
            return
        while self._awaiting_token:
            self._send_api(self._awaiting_token.popleft(), token)

    def _api_answer(self, op: ApiOp, response: HttpResponse, now: float) -> None:
        if response.status == 401 and not op.retried_auth:
            op.retried_auth = True
            op.attempts -= 1  # the auth retry is not one of the op's own attempts
            if self._tokens.current(now) == op.used_token:
                self._tokens.invalidate()
            self._queue_api(op, now)
            return
        error = api_error_from_response(response)
        if error is not None:
            self._api_error(op, error, now)
        elif op.kind == "prepare":
            self._prepared(response, now)
        elif op.part is not None:
            self._part_finished(op.part, now)
        else:
            try:
                media = parse_uploaded_media(response)
            except ApiError as exc:
                self._api_error(op, exc, now)
            else:
                self._completed(media)

    def _api_error(self, op: ApiOp, error: ApiError, now: float) -> None:
        if op.kind == "prepare":
            self._fail(error)
        elif op.part is not None:
            self._finish_failed(op.part, error, now)
        elif (op.attempts >= 1 + len(COMPLETE_BACKOFF)
              or isinstance(error, UploadDailyLimitError | MediaRejectedError | AuthError
                            | PermissionDeniedError)):
            self._fail(error)
        else:
            # rest.md §4.23: completion failures are usually "not ready yet": retry.
            self._sleeping[op] = now + COMPLETE_BACKOFF[op.attempts - 1]

    # --- internals: the phases --------------------------------------------------------------

    def _hashed_chunk(self, data: bytes | bytearray | memoryview, now: float) -> None:
        done = self._hasher.size
        expected = min(self._hash_chunk, self.file_size - done)
        if len(data) != expected:
            self._fail(UploadSourceError(
                f"read {len(data)} bytes at offset {done}, expected {expected} "
                "(the file is shorter than announced?)"))
            return
        self._hasher.update(data)
        done += len(data)
        self._events.append(UploadProgress(phase=UploadPhase.HASHING, bytes_done=done,
                                           bytes_total=self.file_size))
        if done < self.file_size:
            self._read(None, done, min(self._hash_chunk, self.file_size - done))
            return
        self._hashes = self._hasher.hashes()
        self._prepare(now)

    def _prepare(self, now: float) -> None:
        self._fsm.fire(_Input.HASHED)
        hashes = self._hashes
        assert hashes is not None
        # rest.md §4.5, §12: the official upload_prepare table types file_size as a
        # string and its example sends "31457280"; the SDKs send a number.  The
        # documented form is sent (answers are read in either form).
        body = {"file_type": int(self.file_type), "file_name": self.file_name,
                "file_size": str(self.file_size), "md5": hashes.md5, "sha1": hashes.sha1,
                "md5_10m": hashes.md5_10m}
        self._queue_api(ApiOp("prepare", self._api_request("/upload_prepare", body)), now)

    def _prepared(self, response: HttpResponse, now: float) -> None:
        try:
            plan = parse_upload_plan(response_json_object(response), self.file_size)
        except ApiError as exc:
            self._fail(exc)
            return
        self._plan = plan
        self._parts = [Part(p) for p in plan.parts]
        self._fsm.fire(_Input.PREPARED)
        self._log.debug("upload %s: %d parts of %d bytes, %d in flight", plan.upload_id,
                        len(plan.parts), plan.block_size, self.concurrency)
        self._schedule()

    def _schedule(self) -> None:
        active = sum(1 for p in self._parts[:self._next_part]
                     if p.state is not PartState.DONE)
        while active < self.concurrency and self._next_part < len(self._parts):
            part = self._parts[self._next_part]
            self._next_part += 1
            part.state = PartState.READING
            self._read(part, part.plan.offset, part.plan.length)
            active += 1

    def _send_put(self, part: Part) -> None:
        # rest.md §4.13: the pre-signed URL carries its own authorisation; the bot's token
        # must never go there, so this request is never passed through authorize().
        part.state = PartState.PUTTING
        command_id = self._new_id()
        self._inflight[command_id] = ("put", part)
        request = HttpRequest(method="PUT", url=part.plan.url, body=part.data or b"",
                              timeout=PUT_TIMEOUT)
        self._outbox.append(SendHttpRequest(id=command_id, request=request,
                                            purpose="upload_part"))

    def _put_result(self, part: Part, ok: bool, description: str, now: float) -> None:
        if ok:
            self._buffered -= len(part.data or b"")
            part.data = None  # the bytes are on the server: drop them (memory bound)
            part.finish_since = now
            self._queue_finish(part, now)
            return
        retry_at = part.put_failed(now)
        if retry_at is None:
            self._fail(UploadPartFailedError(
                f"part {part.plan.number}: PUT failed {part.put_failures} times, last: "
                f"{description}", part_index=part.plan.index))
            return
        self._sleeping[part] = retry_at

    def _queue_finish(self, part: Part, now: float) -> None:
        assert self._plan is not None
        part.state = PartState.FINISHING
        # rest.md §4.16, §12: block_size as the documented string (see _prepare);
        # part_index echoes the server's index as it sent it.
        body = {"upload_id": self._plan.upload_id, "part_index": part.plan.index,
                "block_size": str(part.plan.length), "md5": part.md5}
        self._queue_api(ApiOp("part_finish", self._api_request("/upload_part_finish", body),
                            part), now)

    def _finish_failed(self, part: Part, error: ApiError, now: float) -> None:
        assert self._plan is not None
        retry_at = part.finish_failed(error, now, self._plan.retry_timeout)
        if retry_at is not None:
            self._sleeping[part] = retry_at
            return
        if isinstance(error, UploadDailyLimitError | MediaRejectedError):
            self._fail(error)
            return
        self._fail(UploadPartFailedError(
            f"part {part.plan.number}: upload_part_finish failed: {error.message}",
            part_index=part.plan.index, status=error.status, code=error.code,
            trace_id=error.trace_id, retryable=error.retryable))

    def _part_finished(self, part: Part, now: float) -> None:
        part.state = PartState.DONE
        self._parts_done += 1
        self._bytes_done += part.plan.length
        self._events.append(UploadProgress(
            phase=UploadPhase.UPLOADING, bytes_done=self._bytes_done,
            bytes_total=self.file_size, parts_done=self._parts_done,
            parts_total=len(self._parts)))
        if self._parts_done < len(self._parts):
            self._schedule()
            return
        assert self._plan is not None
        self._fsm.fire(_Input.PARTS_DONE)
        # rest.md §4.22: completion is POST …/files with the upload_id.
        self._complete_op = ApiOp("complete", self._api_request(
            "/files", {"upload_id": self._plan.upload_id}))
        self._queue_api(self._complete_op, now)

    def _completed(self, media: UploadedMedia) -> None:
        self._result = media
        self._fsm.fire(_Input.COMPLETED)
        self._events.append(UploadFinished(media=media))
