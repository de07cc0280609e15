"""The simulator's media endpoints: single-call ``/files`` and the chunked upload, with
every hash checked and memory bounded (rest.md §3, §4).

Chunked, as the platform documents it (§4)::

    POST …/upload_prepare       {file_type, file_name, file_size, md5, sha1, md5_10m}
        → {upload_id, block_size, parts: [{index, presigned_url, block_size}],
           upload_config: {concurrency, retry_timeout, retry_delay}}
    PUT  /presigned/<upload_id>/<index>?sign=…   the part's raw bytes, no Authorization
    POST …/upload_part_finish   {upload_id, part_index, block_size, md5}   → {}
    POST …/files                {upload_id}  → {file_uuid, file_info, ttl}

The pre-signed URLs point back at the simulator (another "bucket" on the same server)
and carry their own ``sign``; a ``PUT`` that brings an ``Authorization`` header anyway is
counted in :attr:`UploadCounters.puts_with_authorization` (rest.md §4.13: the token must
not go there).  ``part_finish`` is accepted only for a part that was stored with exactly
``block_size`` bytes whose md5 is the announced one (§4.11, §4.16); completion only when
every part was finished and the assembled file has the ``md5``, ``sha1`` and ``md5_10m``
announced at prepare (§4.3–4.4).  Single-call ``/files`` takes a public ``url`` (not
fetched: a host under ``.invalid`` fails with 850026) or base64 ``file_data`` (§3.4).

Memory: the whole-file digests are computed incrementally, part by part in file order,
so no file is ever held whole.  A part that arrives before its predecessors waits in a
small backlog: at most ``concurrency × block size`` bytes per upload (a client that
respects the concurrency hint never needs more than ``concurrency − 1`` blocks there) and
``max_buffered`` bytes in all; beyond that its ``PUT`` gets a retryable 503.  Open
uploads, finished answers and records are capped too.

Configuration lives in :attr:`UploadStore.config` (block size, concurrency hint,
retry hints, the index base — 1 like the live server, or 0 like OD2's text, §4.9 —
numbers as strings like OD2 or as JSON numbers, a daily byte quota); faults in
``sim.faults`` (``upload_busy``, ``upload_daily_limit``, ``http_errors``).  Reach the
store of a simulator with :func:`sim_uploads`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from ..upload._hashing import FileHasher, FileHashes, hash_bytes
from ._records import SentMessage
from ._rest import (
    BAD_PARAMS,
    BadRequest,
    Handler,
    Route,
    SimRequest,
    SimResponse,
    error_response,
    json_response,
)

if TYPE_CHECKING:
    from ._simulator import Simulator

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "UPLOAD_ROUTES",
    "StoredMedia",
    "UploadConfig",
    "UploadCounters",
    "UploadStore",
    "sim_uploads",
]

_MIB: Final = 1024 * 1024
#: rest.md §4.6: ``block_size`` defaults to 5 MB.
DEFAULT_BLOCK_SIZE: Final = 5 * _MIB
#: rest.md §3.7: the hard limit for every file type (850031 over it).
MAX_FILE_SIZE: Final = 200 * _MIB
#: A plan never has more parts than this; the block grows instead.
MAX_PARTS: Final = 10_000
#: The largest body the pre-signed target takes (the largest block it hands out).
PRESIGNED_MAX_BODY: Final = 64 * _MIB
#: ``/files`` takes base64 ``file_data``: 4 MiB of data (the inline rule) and its JSON.
FILES_MAX_BODY: Final = 8 * _MIB
#: How much of a ``/files`` body ``sim.requests`` keeps.
FILES_RECORD_BODY: Final = 4096

# rest.md §3.9, §4.17, §4.25.
UPLOAD_CHANNEL_BUSY: Final = 40093001
UPLOAD_DAILY_LIMIT: Final = 40093002
MEDIA_FETCH_FAILED: Final = 850026
FILE_TOO_LARGE: Final = 850031
ACTIVE_NOT_ALLOWED: Final = 40034105
_HEX: Final = re.compile(r"[0-9a-f]+\Z")
_STORE_KEY: Final = "_qqproto_upload_store"


@dataclass(slots=True, kw_only=True)
class UploadConfig:
    """What the simulated platform answers to ``upload_prepare`` (change it any time; it
    applies to the next prepare)."""

    #: Bytes per part (rest.md §4.6); raised for huge files so a plan has ≤ 10,000 parts.
    block_size: int = DEFAULT_BLOCK_SIZE
    #: ``upload_config.concurrency``: the parts a client may have in flight (§4.20).
    concurrency: int = 2
    #: ``upload_config.retry_timeout`` / ``retry_delay`` in seconds (§4.6, §4.17).
    retry_timeout: int = 300
    retry_delay: int = 1
    #: The first part index: 1 like the live server and every SDK, 0 like OD2 (§4.9).
    index_base: int = 1
    #: Sizes as decimal strings like OD2 (§4.6) or as JSON numbers like the SDK fixtures.
    numbers_as_strings: bool = True
    #: Bytes ``upload_prepare`` accepts in total before answering 40093002 (``None``:
    #: unlimited).  The simulator has no calendar: :meth:`UploadStore.reset_quota`.
    daily_quota: int | None = None
    #: Origin of the pre-signed URLs (``None``: ``http://`` + the prepare's Host header).
    presigned_base: str | None = None
    #: ``ttl`` of the ``file_info`` handed out (§3.5).
    ttl: int = 3600
    #: Prepared-but-unfinished uploads kept (the oldest is forgotten beyond this).
    max_open_uploads: int = 64
    #: Out-of-order part bytes held for all uploads together.
    max_buffered: int = 128 * _MIB
    #: ``False``: store parts without hashing anything and complete without checking
    #: (the record says ``verified=False``).  Only for benchmarks that want the
    #: client's cost alone; the platform checks every digest.
    verify: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMedia:
    """One media upload the simulator finished: by ``method`` ``"chunked"``, ``"url"`` or
    ``"file_data"``.  ``verified`` says every announced digest matched the bytes (for
    ``url`` there are none); a refused completion is recorded with ``file_info=None``
    and the reason in ``problem``."""

    method: str
    scope: str
    target: str
    file_type: int
    file_info: str | None
    file_uuid: str | None = None
    upload_id: str | None = None
    file_name: str | None = None
    size: int | None = None
    hashes: FileHashes | None = None
    parts: int = 0
    url: str | None = None
    verified: bool = False
    problem: str = ""
    message_id: str | None = None


@dataclass(slots=True)
class UploadCounters:
    """Running totals of the media endpoints (never reset by faults)."""

    prepares: int = 0
    #: Pre-signed PUTs stored / refused (wrong size, sign, window full, unknown upload).
    parts_put: int = 0
    parts_refused: int = 0
    #: part_finish calls accepted (each checked the stored part's size and md5).
    parts_finished: int = 0
    #: part_finish calls whose md5 or size did not match the stored part.
    part_mismatches: int = 0
    busy_answers: int = 0
    daily_limit_answers: int = 0
    #: Completions whose assembled file matched md5, sha1 and md5_10m / did not.
    files_verified: int = 0
    hash_mismatches: int = 0
    single_uploads: int = 0
    #: Pre-signed PUTs that carried an Authorization header (rest.md §4.13).
    puts_with_authorization: int = 0
    bytes_received: int = 0
    #: The most out-of-order part bytes held at one time.
    peak_buffered: int = 0


class _Part:
    __slots__ = ("fed_md5", "finished", "length", "md5", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length
        self.md5: str | None = None  # of the last stored PUT
        self.fed_md5: str | None = None  # of the bytes hashed into the file
        self.finished = False


class _Upload:
    __slots__ = ("file_name", "file_type", "hasher", "hashes", "next_feed", "parts",
                 "pending", "pending_bytes", "problem", "scope", "sign", "size", "target",
                 "upload_id", "window")

    def __init__(self, upload_id: str, *, scope: str, target: str, file_type: int,
                 file_name: str, hashes: FileHashes, sign: str, parts: dict[int, _Part],
                 window: int) -> None:
        self.upload_id = upload_id
        self.scope = scope
        self.target = target
        self.file_type = file_type
        self.file_name = file_name
        self.size = hashes.size
        self.hashes = hashes
        self.sign = sign
        self.parts = parts
        self.window = window
        self.next_feed = min(parts)
        self.pending: dict[int, tuple[bytes, str]] = {}
        self.pending_bytes = 0
        self.hasher = FileHasher()
        self.problem = ""


class UploadStore:
    """The media side of one simulator: configuration, open uploads, counters, records."""

    def __init__(self, config: UploadConfig | None = None, *, record_limit: int = 1000
                 ) -> None:
        #: What ``upload_prepare`` answers (change it any time).
        self.config = config if config is not None else UploadConfig()
        #: Running totals (checked digests, refused parts, faults answered).
        self.counters = UploadCounters()
        #: Finished uploads, oldest first (a ring of ``record_limit``).
        self.stored: deque[StoredMedia] = deque(maxlen=record_limit)
        self._open: OrderedDict[str, _Upload] = OrderedDict()
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._record_limit = record_limit
        self._quota_used = 0
        self._buffered = 0

    def __repr__(self) -> str:
        return (f"UploadStore(open={len(self._open)}, stored={len(self.stored)}, "
                f"buffered={self._buffered})")

    @property
    def open_uploads(self) -> int:
        """Prepared uploads not completed yet."""
        return len(self._open)

    @property
    def buffered_bytes(self) -> int:
        """Out-of-order part bytes held right now."""
        return self._buffered

    @property
    def quota_used(self) -> int:
        return self._quota_used

    def reset_quota(self) -> None:
        """A new day: the daily quota is whole again."""
        self._quota_used = 0

    # ------------------------------------------------------------------- prepare

    def _open_upload(self, sim: Simulator, request: SimRequest, *, scope: str, target: str,
                     file_type: int, file_name: str, hashes: FileHashes) -> dict[str, Any]:
        config = self.config
        block = max(config.block_size, math.ceil(hashes.size / MAX_PARTS), 1)
        block = min(block, PRESIGNED_MAX_BODY)
        base = config.index_base
        count = math.ceil(hashes.size / block)
        parts = {base + i: _Part(i * block, min(block, hashes.size - i * block))
                 for i in range(count)}
        upload_id = "UP" + sim.ids.hex(12)
        sign = sim.ids.hex(8)
        concurrency = max(config.concurrency, 1)
        upload = _Upload(upload_id, scope=scope, target=target, file_type=file_type,
                         file_name=file_name, hashes=hashes, sign=sign, parts=parts,
                         window=concurrency * block)
        self._open[upload_id] = upload
        while len(self._open) > max(config.max_open_uploads, 1):
            _, dropped = self._open.popitem(last=False)
            self._forget(dropped)
        origin = config.presigned_base or f"http://{request.header('Host') or '127.0.0.1'}"

        def number(value: int) -> int | str:
            return str(value) if config.numbers_as_strings else value

        return {
            "upload_id": upload_id,
            "block_size": number(block),
            "parts": [{"index": index,
                       "presigned_url": f"{origin.rstrip('/')}/presigned/{upload_id}/{index}"
                                        f"?sign={sign}",
                       "block_size": number(part.length)} for index, part in parts.items()],
            "upload_config": {"concurrency": concurrency,
                              "retry_timeout": config.retry_timeout,
                              "retry_delay": config.retry_delay},
        }

    def _forget(self, upload: _Upload) -> None:
        self._buffered -= upload.pending_bytes
        upload.pending.clear()
        upload.pending_bytes = 0

    # ------------------------------------------------------------------- parts

    def _store_part(self, upload: _Upload, number: int, part: _Part, data: bytes,
                    md5: str) -> str | None:
        """Keep a PUT part; hash it into the file when it is next in order.  Returns why
        it was refused (the backlog is full), else ``None``."""
        if number < upload.next_feed:
            if md5 != part.fed_md5:  # a retried PUT with other bytes after it was hashed
                upload.problem = f"part {number} was stored again with other bytes"
        elif number == upload.next_feed:
            self._feed(upload, data, part, md5)
        else:
            old = upload.pending.pop(number, None)
            if old is not None:
                upload.pending_bytes -= len(old[0])
                self._buffered -= len(old[0])
            if (upload.pending_bytes + len(data) > upload.window
                    or self._buffered + len(data) > self.config.max_buffered):
                return "too many parts ahead of the first missing one"
            upload.pending[number] = (data, md5)
            upload.pending_bytes += len(data)
            self._buffered += len(data)
            self.counters.peak_buffered = max(self.counters.peak_buffered, self._buffered)
        part.md5 = md5
        return None

    def _feed(self, upload: _Upload, data: bytes, part: _Part, md5: str) -> None:
        upload.hasher.update(data)
        part.fed_md5 = md5
        upload.next_feed += 1
        while upload.next_feed in upload.pending:
            data, md5 = upload.pending.pop(upload.next_feed)
            upload.pending_bytes -= len(data)
            self._buffered -= len(data)
            upload.hasher.update(data)
            upload.parts[upload.next_feed].fed_md5 = md5
            upload.next_feed += 1

    # ------------------------------------------------------------------- completion

    def _verify(self, upload: _Upload) -> str:
        """Why the assembled file is not the announced one, or ``""``."""
        if upload.problem:
            return upload.problem
        got, want = upload.hasher.hashes(), upload.hashes
        for name in ("size", "md5", "sha1", "md5_10m"):
            if getattr(got, name) != getattr(want, name):
                return f"the {name} of the assembled file does not match upload_prepare"
        return ""

    def _remember_answer(self, upload_id: str, answer: dict[str, Any]) -> None:
        self._answers[upload_id] = answer
        while len(self._answers) > self._record_limit:
            self._answers.popitem(last=False)


def sim_uploads(sim: Simulator) -> UploadStore:
    """The :class:`UploadStore` of ``sim`` (made on first use)."""
    store = sim.__dict__.get(_STORE_KEY)
    if not isinstance(store, UploadStore):
        store = sim.__dict__[_STORE_KEY] = UploadStore()
    return store


# ----------------------------------------------------------------------------- parsing

def _int(value: object) -> int | None:
    """A non-negative int from a JSON number or a decimal string (rest.md §4.5: both)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _hex(value: object, length: int) -> str | None:
    if isinstance(value, str) and len(value) == length and _HEX.match(value):
        return value
    return None


def _file_type(body: dict[str, Any]) -> int | None:
    value = _int(body.get("file_type"))
    return value if value in (1, 2, 3, 4) else None  # rest.md §3.2


def _bad(request: SimRequest, message: str, status: int = 400) -> SimResponse:
    return error_response(request, status, BAD_PARAMS, message)


def _json(request: SimRequest) -> dict[str, Any] | SimResponse:
    try:
        return request.json_object()
    except BadRequest as exc:
        return _bad(request, str(exc))


def _send_media(sim: Simulator, request: SimRequest, *, scope: str, target: str,
                file_info: str, now: float) -> str | SimResponse:
    """``srv_send_msg``: the media goes out at once as an active message (rest.md §2.4.9)."""
    if not sim.allow_active_messages:
        return error_response(request, 400, ACTIVE_NOT_ALLOWED,
                              "active messages are not allowed")
    message = SentMessage(id=sim.ids.message_id(), scope=scope, target=target,
                          body={"msg_type": 7, "media": {"file_info": file_info}}, at=now)
    sim.store_sent(message)
    return message.id


def _media_answer(sim: Simulator, store: UploadStore) -> dict[str, Any]:
    return {"file_uuid": sim.ids.uuid(), "file_info": "SIMFILE" + sim.ids.hex(24),
            "ttl": store.config.ttl}


# ----------------------------------------------------------------------------- handlers

def _prepare(scope: str, param: str) -> Handler:
    def handler(sim: Simulator, request: SimRequest, params: dict[str, str],
                now: float) -> SimResponse:
        store = sim_uploads(sim)
        body = _json(request)
        if isinstance(body, SimResponse):
            return body
        if sim.faults.upload_daily_limit > 0:
            sim.faults.upload_daily_limit -= 1
            sim.counters.faults_fired += 1
            store.counters.daily_limit_answers += 1
            return error_response(request, 400, UPLOAD_DAILY_LIMIT,
                                  "daily upload quota exceeded")
        file_type = _file_type(body)
        size = _int(body.get("file_size"))
        name = body.get("file_name")
        md5, sha1 = _hex(body.get("md5"), 32), _hex(body.get("sha1"), 40)
        md5_10m = _hex(body.get("md5_10m"), 32)
        if file_type is None or not size or not isinstance(name, str) or not name:
            return _bad(request, "file_type, file_name and a positive file_size are required")
        if md5 is None or sha1 is None or md5_10m is None:
            return _bad(request, "md5, sha1 and md5_10m must be lowercase hex digests")
        if size > MAX_FILE_SIZE:
            return error_response(request, 400, FILE_TOO_LARGE, "file too large")
        quota = store.config.daily_quota
        if quota is not None and store.quota_used + size > quota:
            store.counters.daily_limit_answers += 1
            return error_response(request, 400, UPLOAD_DAILY_LIMIT,
                                  "daily upload quota exceeded")
        store._quota_used += size
        store.counters.prepares += 1
        hashes = FileHashes(size=size, md5=md5, sha1=sha1, md5_10m=md5_10m)
        return json_response(store._open_upload(
            sim, request, scope=scope, target=params[param], file_type=file_type,
            file_name=name, hashes=hashes))
    return handler


def _presigned_put(sim: Simulator, request: SimRequest, params: dict[str, str],
                   now: float) -> SimResponse:
    """The "bucket": stores one part; no token, its own ``sign`` (rest.md §4.13)."""
    store = sim_uploads(sim)
    counters = store.counters
    if request.header("Authorization") is not None:
        counters.puts_with_authorization += 1
        sim.log.warning("a pre-signed PUT carried an Authorization header")
    upload = store._open.get(params["upload_id"])
    number = _int(params["index"])
    part = upload.parts.get(number) if upload is not None and number is not None else None
    if upload is None or number is None or part is None:
        counters.parts_refused += 1
        return error_response(request, 404, 404, "no such upload or part")
    if parse_qs(request.query).get("sign") != [upload.sign]:
        counters.parts_refused += 1
        return error_response(request, 403, 403, "the pre-signed URL's sign does not match")
    data = request.body
    if len(data) != part.length:
        counters.parts_refused += 1
        return _bad(request, f"part {number} must be {part.length} bytes, got {len(data)}")
    if not store.config.verify:
        part.md5 = ""
        counters.parts_put += 1
        counters.bytes_received += len(data)
        return SimResponse(status=200)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    refused = store._store_part(upload, number, part, data, md5)
    if refused is not None:
        counters.parts_refused += 1
        return error_response(request, 503, 503, refused)
    counters.parts_put += 1
    counters.bytes_received += len(data)
    return SimResponse(status=200, headers=(("ETag", f'"{md5}"'),))


def _upload_for(store: UploadStore, request: SimRequest, scope: str, target: str,
                upload_id: object) -> _Upload | SimResponse:
    upload = store._open.get(upload_id) if isinstance(upload_id, str) else None
    if upload is None or upload.scope != scope or upload.target != target:
        return _bad(request, "unknown upload_id")
    return upload


def _part_finish(scope: str, param: str) -> Handler:
    def handler(sim: Simulator, request: SimRequest, params: dict[str, str],
                now: float) -> SimResponse:
        store = sim_uploads(sim)
        body = _json(request)
        if isinstance(body, SimResponse):
            return body
        if sim.faults.upload_busy > 0:  # rest.md §4.17: retry until retry_timeout
            sim.faults.upload_busy -= 1
            sim.counters.faults_fired += 1
            store.counters.busy_answers += 1
            return error_response(request, 400, UPLOAD_CHANNEL_BUSY,
                                  "upload channel busy, retry")
        upload = _upload_for(store, request, scope, params[param], body.get("upload_id"))
        if isinstance(upload, SimResponse):
            return upload
        number, size = _int(body.get("part_index")), _int(body.get("block_size"))
        part = upload.parts.get(number) if number is not None else None
        if part is None or size is None or not isinstance(body.get("md5"), str):
            return _bad(request, "part_index, block_size and md5 are required")
        if part.md5 is None:
            return _bad(request, f"part {number} was not uploaded")
        checked = store.config.verify
        if size != part.length or (checked and body["md5"] != part.md5):  # §4.11, §4.16
            store.counters.part_mismatches += 1
            return _bad(request, f"part {number}: block_size or md5 does not match the "
                                 "stored bytes")
        part.finished = True
        store.counters.parts_finished += 1
        return json_response({})
    return handler


def _complete(sim: Simulator, request: SimRequest, *, scope: str, target: str,
              body: dict[str, Any], now: float) -> SimResponse:
    store = sim_uploads(sim)
    upload_id = body.get("upload_id")
    answer = store._answers.get(upload_id) if isinstance(upload_id, str) else None
    if answer is not None:  # a retried completion gets the same file (rest.md §4.23)
        return json_response(answer)
    upload = _upload_for(store, request, scope, target, upload_id)
    if isinstance(upload, SimResponse):
        return upload
    waiting = [n for n, part in upload.parts.items() if not part.finished]
    if waiting:
        return _bad(request, f"{len(waiting)} part(s) not finished, first {waiting[0]}")
    problem = store._verify(upload) if store.config.verify else ""
    del store._open[upload.upload_id]
    store._forget(upload)
    record = StoredMedia(method="chunked", scope=scope, target=target,
                         file_type=upload.file_type, file_info=None,
                         upload_id=upload.upload_id, file_name=upload.file_name,
                         size=upload.size, hashes=upload.hashes, parts=len(upload.parts))
    if problem:
        store.counters.hash_mismatches += 1
        store.stored.append(replace(record, problem=problem))
        return _bad(request, problem)
    store.counters.files_verified += store.config.verify
    answer = _media_answer(sim, store)
    if body.get("srv_send_msg") is True:
        sent = _send_media(sim, request, scope=scope, target=target,
                           file_info=answer["file_info"], now=now)
        if isinstance(sent, SimResponse):
            return sent
        answer["id"] = sent
    store._remember_answer(upload.upload_id, answer)
    store.stored.append(replace(
        record, file_info=answer["file_info"], file_uuid=answer["file_uuid"],
        verified=store.config.verify, message_id=answer.get("id"),
        problem="" if store.config.verify else "digests not checked (config.verify off)"))
    return json_response(answer)


def _files(scope: str, param: str) -> Handler:
    def handler(sim: Simulator, request: SimRequest, params: dict[str, str],
                now: float) -> SimResponse:
        store = sim_uploads(sim)
        body = _json(request)
        if isinstance(body, SimResponse):
            return body
        target = params[param]
        if body.get("upload_id") is not None:  # rest.md §4.22: chunked completion
            return _complete(sim, request, scope=scope, target=target, body=body, now=now)
        file_type = _file_type(body)
        url, data = body.get("url"), body.get("file_data")
        if file_type is None or (not url) == (not data):
            return _bad(request, "file_type and exactly one of url and file_data are required")
        record = StoredMedia(method="url", scope=scope, target=target, file_type=file_type,
                             file_info=None, file_name=_opt_str(body.get("file_name")))
        if url:
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                return _bad(request, "url must be a public http(s) URL")
            if (urlsplit(url).hostname or "").endswith(".invalid"):
                return error_response(request, 400, MEDIA_FETCH_FAILED,
                                      "the platform could not fetch the media")
            record = replace(record, url=url)
        else:
            try:
                raw = base64.b64decode(data, validate=True) if isinstance(data, str) else b""
            except (binascii.Error, ValueError):
                raw = b""
            if not raw:
                return _bad(request, "file_data must be non-empty base64")
            if len(raw) > MAX_FILE_SIZE:  # pragma: no cover - the body limit comes first
                return error_response(request, 400, FILE_TOO_LARGE, "file too large")
            hashes = hash_bytes(raw)
            record = replace(record, method="file_data", size=len(raw), hashes=hashes,
                              verified=True)
        answer = _media_answer(sim, store)
        if body.get("srv_send_msg") is True:
            sent = _send_media(sim, request, scope=scope, target=target,
                               file_info=answer["file_info"], now=now)
            if isinstance(sent, SimResponse):
                return sent
            answer["id"] = sent
        store.counters.single_uploads += 1
        store.stored.append(replace(record, file_info=answer["file_info"],
                                     file_uuid=answer["file_uuid"],
                                     message_id=answer.get("id")))
        return json_response(answer)
    return handler


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


_SCOPES: Final = (("c2c", "/v2/users/{openid}", "openid"),
                  ("group", "/v2/groups/{group_openid}", "group_openid"))

UPLOAD_ROUTES: Final = (
    *(route for scope, base, param in _SCOPES for route in (
        Route("POST", base + "/upload_prepare", _prepare(scope, param)),
        Route("POST", base + "/upload_part_finish", _part_finish(scope, param)),
        Route("POST", base + "/files", _files(scope, param), max_body=FILES_MAX_BODY,
              record_body=FILES_RECORD_BODY),
    )),
    Route("PUT", "/presigned/{upload_id}/{index}", _presigned_put, auth=False,
          max_body=PRESIGNED_MAX_BODY, record_body=0),
)

