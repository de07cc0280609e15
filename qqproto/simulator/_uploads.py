"""The simulator's media store: configuration, open chunked uploads, counters and
records of finished uploads, with every hash checked and memory bounded (rest.md §3, §4).

The endpoints that drive it are in :mod:`qqproto.simulator._upload_routes`.

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

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..upload._hashing import FileHasher, FileHashes
from ._rest import sim_store

if TYPE_CHECKING:
    from ._payloads import IdSource
    from ._platform import Platform

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "MAX_PARTS",
    "PRESIGNED_MAX_BODY",
    "OpenUpload",
    "StoredMedia",
    "UploadConfig",
    "UploadCounters",
    "UploadPart",
    "UploadStore",
    "sim_uploads",
]

_MIB: Final = 1024 * 1024
#: rest.md §4.6: ``block_size`` defaults to 5 MB.
DEFAULT_BLOCK_SIZE: Final = 5 * _MIB
#: A plan never has more parts than this; the block grows instead.
MAX_PARTS: Final = 10_000
#: The largest body the pre-signed target takes (the largest block it hands out).
PRESIGNED_MAX_BODY: Final = 64 * _MIB
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


class UploadPart:
    """One part of an open upload: where it sits in the file and what was stored."""

    __slots__ = ("fed_md5", "finished", "length", "md5", "offset")

    def __init__(self, offset: int, length: int) -> None:
        self.offset = offset
        self.length = length
        self.md5: str | None = None  # of the last stored PUT
        self.fed_md5: str | None = None  # of the bytes hashed into the file
        self.finished = False


class OpenUpload:
    """A prepared upload whose completion has not come yet."""

    __slots__ = ("file_name", "file_type", "hasher", "hashes", "next_feed", "parts",
                 "pending", "pending_bytes", "problem", "scope", "sign", "size", "target",
                 "upload_id", "window")

    def __init__(self, upload_id: str, *, scope: str, target: str, file_type: int,
                 file_name: str, hashes: FileHashes, sign: str, parts: dict[int, UploadPart],
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
        self._open: OrderedDict[str, OpenUpload] = OrderedDict()
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

    def charge_quota(self, size: int) -> bool:
        """Count ``size`` bytes against the daily quota; ``False`` (nothing counted) when
        they would go over it."""
        quota = self.config.daily_quota
        if quota is not None and self._quota_used + size > quota:
            return False
        self._quota_used += size
        return True

    def open_upload(self, ids: IdSource, host: str | None, *, scope: str, target: str,
                    file_type: int, file_name: str, hashes: FileHashes) -> dict[str, Any]:
        """Plan the parts of a new upload and open it; the ``upload_prepare`` answer.
        ``host`` is the prepare's Host header, the default origin of the part URLs."""
        config = self.config
        block = max(config.block_size, math.ceil(hashes.size / MAX_PARTS), 1)
        block = min(block, PRESIGNED_MAX_BODY)
        base = config.index_base
        count = math.ceil(hashes.size / block)
        parts = {base + i: UploadPart(i * block, min(block, hashes.size - i * block))
                 for i in range(count)}
        upload_id = "UP" + ids.hex(12)
        sign = ids.hex(8)
        concurrency = max(config.concurrency, 1)
        upload = OpenUpload(upload_id, scope=scope, target=target, file_type=file_type,
                            file_name=file_name, hashes=hashes, sign=sign, parts=parts,
                            window=concurrency * block)
        self._open[upload_id] = upload
        while len(self._open) > max(config.max_open_uploads, 1):
            _, dropped = self._open.popitem(last=False)
            self._forget(dropped)
        origin = config.presigned_base or f"http://{host or '127.0.0.1'}"

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

    def find(self, upload_id: object) -> OpenUpload | None:
        """The open upload named ``upload_id``, or ``None``."""
        return self._open.get(upload_id) if isinstance(upload_id, str) else None

    def _forget(self, upload: OpenUpload) -> None:
        self._buffered -= upload.pending_bytes
        upload.pending.clear()
        upload.pending_bytes = 0

    # ------------------------------------------------------------------- parts

    def store_part(self, upload: OpenUpload, number: int, part: UploadPart, data: bytes,
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

    def _feed(self, upload: OpenUpload, data: bytes, part: UploadPart, md5: str) -> None:
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

    def answer_for(self, upload_id: object) -> dict[str, Any] | None:
        """The answer a completed upload got (a retried completion gets it again)."""
        return self._answers.get(upload_id) if isinstance(upload_id, str) else None

    def close(self, upload: OpenUpload) -> str:
        """Forget ``upload`` (every part finished); why the assembled file is not the
        announced one, or ``""`` (always ``""`` with ``config.verify`` off)."""
        problem = self._verify(upload) if self.config.verify else ""
        del self._open[upload.upload_id]
        self._forget(upload)
        return problem

    def _verify(self, upload: OpenUpload) -> str:
        """Why the assembled file is not the announced one, or ``""``."""
        if upload.problem:
            return upload.problem
        got, want = upload.hasher.hashes(), upload.hashes
        for name in ("size", "md5", "sha1", "md5_10m"):
            if getattr(got, name) != getattr(want, name):
                return f"the {name} of the assembled file does not match upload_prepare"
        return ""

    def remember_answer(self, upload_id: str, answer: dict[str, Any]) -> None:
        self._answers[upload_id] = answer
        while len(self._answers) > self._record_limit:
            self._answers.popitem(last=False)


def sim_uploads(sim: Platform) -> UploadStore:
    """The :class:`UploadStore` of ``sim`` (made on first use)."""
    return sim_store(sim, _STORE_KEY, UploadStore)
