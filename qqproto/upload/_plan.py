"""Reading an ``upload_prepare`` answer into a checked part plan (rest.md §4.6–4.10).

The sources disagree on almost every detail of this answer (§12): numbers arrive as JSON
numbers or decimal strings, part indexes start at 0 or at 1, ``upload_config`` is nested
or its keys sit at the root, one client wraps everything in ``data`` and spells parts
``part_list`` / ``part_index`` / ``url``.  All of these are accepted.  What is *not*
accepted is a plan that does not cover the file exactly: parts are sorted by index,
``offset = (index - min_index) * block_size`` (never negative), each part is
``min(part block_size or block_size, file_size - offset)`` bytes, and the parts must tile
``[0, file_size)`` without gap or overlap.  The server's index is echoed verbatim in
``upload_part_finish`` (§4.9).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Final

from .. import _numbers
from .._commands import Command
from ..errors import UnexpectedResponseError

__all__ = [
    "DEFAULT_RETRY_TIMEOUT",
    "MAX_CONCURRENCY",
    "MAX_RETRY_TIMEOUT",
    "PartPlan",
    "UploadPlan",
    "parse_upload_plan",
]

#: rest.md §4.20: the server's concurrency hint, capped.
MAX_CONCURRENCY: Final = 10
#: rest.md §4.17: part_finish retry budget when the server gives none, and its cap.
DEFAULT_RETRY_TIMEOUT: Final = 120.0
MAX_RETRY_TIMEOUT: Final = 600.0
#: Sizes, indexes and counts beyond this (18 digits) are not plausible answers.
_MAX_INT: Final = 10**18 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class PartPlan:
    """One part: the bytes ``[offset, offset + length)`` go to ``url``.

    ``index`` is the server's value exactly as sent (int or string), for echoing."""

    index: int | str
    number: int
    offset: int
    length: int
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadPlan:
    upload_id: str
    block_size: int
    parts: tuple[PartPlan, ...]
    concurrency: int
    retry_timeout: float


def _bad(message: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(f"upload_prepare: {message}")


def _int(value: object, what: str, *, default: int | None = None) -> int:
    """A non-negative int from a JSON number or a decimal string (rest.md §4.5–4.6)."""
    if value is None and default is not None:
        return default
    number = _numbers.parse_int(value, minimum=0, maximum=_MAX_INT, floats=True)
    if number is None:
        if isinstance(value, bool):
            raise _bad(f"{what} is a boolean")
        if isinstance(value, str):
            raise _bad(f"{what} is not a decimal number: {value[:24]!r}")
        raise _bad(f"{what} is not a non-negative integer")
    return number


def _seconds(value: object) -> float:
    """Seconds from a number or a numeric string; 0 for anything else (incl. NaN)."""
    seconds = _numbers.parse_number(value, minimum=0.0, maximum=math.inf)
    return 0.0 if seconds is None else seconds


def _config(body: dict[str, Any]) -> tuple[int, float]:
    # rest.md §4.7–4.8: nested upload_config (SDK, NB, OD2) or root keys (H, TS).
    nested = body.get("upload_config")
    source = nested if isinstance(nested, dict) else body
    try:
        concurrency = _int(source.get("concurrency"), "concurrency", default=1)
    except UnexpectedResponseError:
        concurrency = 1  # a hint only: a bad one is not worth failing the upload for
    concurrency = min(max(concurrency, 1), MAX_CONCURRENCY)
    timeout = _seconds(source.get("retry_timeout"))
    retry_timeout = DEFAULT_RETRY_TIMEOUT if timeout <= 0 else min(timeout, MAX_RETRY_TIMEOUT)
    return concurrency, retry_timeout


def parse_upload_plan(answer: object, file_size: int) -> UploadPlan:
    """Check and normalise a decoded ``upload_prepare`` answer for a file of ``file_size``
    bytes; :class:`UnexpectedResponseError` when it cannot be uploaded as described."""
    if not isinstance(answer, dict):
        raise _bad("the answer is not a JSON object")
    body: dict[str, Any] = answer
    if "upload_id" not in body and isinstance(body.get("data"), dict):
        body = body["data"]  # rest.md §4.8 (H)
    upload_id = body.get("upload_id")
    if isinstance(upload_id, int) and not isinstance(upload_id, bool):
        upload_id = str(upload_id)
    if not isinstance(upload_id, str) or not upload_id:
        raise _bad("no upload_id")
    block_size = _int(body.get("block_size"), "block_size")
    if block_size == 0:
        raise _bad("block_size is 0")
    raw_parts = body.get("parts", body.get("part_list"))
    if not isinstance(raw_parts, list) or not raw_parts:
        raise _bad("no parts")
    entries = []
    for raw in raw_parts:
        if not isinstance(raw, dict):
            raise _bad("a part is not an object")
        index_raw = raw.get("index", raw.get("part_index"))
        if isinstance(index_raw, float) and math.isfinite(index_raw) and index_raw.is_integer():
            index_raw = int(index_raw)
        if isinstance(index_raw, bool) or not isinstance(index_raw, int | str):
            raise _bad("a part has no index")
        number = _int(index_raw, "part index")
        url = raw.get("presigned_url", raw.get("url"))
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _bad(f"part {number} has no http(s) presigned_url")
        own_size = _int(raw.get("block_size"), f"part {number} block_size", default=0)
        entries.append((number, index_raw, url, own_size))
    entries.sort(key=lambda entry: entry[0])
    base = entries[0][0]  # rest.md §4.9: 0-based and 1-based both occur
    parts = []
    expected_offset = 0
    for number, index_raw, url, own_size in entries:
        offset = (number - base) * block_size  # rest.md §4.10: offsets use the top block_size
        if offset >= file_size:
            raise _bad(f"part {number} starts beyond the end of the file")
        if offset != expected_offset:
            what = "overlaps the part before" if offset < expected_offset else "leaves a gap"
            raise _bad(f"part {number} {what} (offset {offset}, expected {expected_offset})")
        length = min(own_size or block_size, file_size - offset)
        parts.append(PartPlan(index=index_raw, number=number, offset=offset, length=length,
                              url=url))
        expected_offset = offset + length
    if expected_offset != file_size:
        raise _bad(f"the parts cover {expected_offset} of {file_size} bytes")
    concurrency, retry_timeout = _config(body)
    return UploadPlan(upload_id=upload_id, block_size=block_size, parts=tuple(parts),
                      concurrency=concurrency, retry_timeout=retry_timeout)


#: Files up to this size go inline as base64 ``file_data`` (see choose_upload_method).
INLINE_LIMIT: Final = 4 * 1024 * 1024


class UploadSource(enum.Enum):
    """Where the bytes of a media upload come from."""

    URL = "url"  # a public http(s) URL the platform fetches itself
    BYTES = "bytes"  # bytes in memory or a local file


class UploadMethod(enum.Enum):
    URL = "url"  # single call with ``url`` (rest.md §3.4)
    INLINE = "file_data"  # single call with base64 ``file_data`` (§3.4)
    CHUNKED = "chunked"  # UploadSession (§4)


def choose_upload_method(size: int | None, source: UploadSource, *,
                         inline_limit: int = INLINE_LIMIT) -> UploadMethod:
    """The documented rule: a URL is always uploaded by URL; bytes of at most
    ``inline_limit`` (4 MiB) go inline as ``file_data``; larger ones go chunked.

    Why: the chunked path is the one the official pages document and the one the SDKs
    use for every local file (rest.md §4.2), but it costs at least four round trips; the
    inline path is used in practice for small data (NB up to 10 MiB, §4.2) although OD
    calls it "not supported yet" (§3.4).  4 MiB keeps the base64 body under 6 MB and stays
    below the 5 MB an unverified source says is not counted against the daily quota
    (§4.25).  ``size`` is required for bytes (the chunked path announces it).
    """
    source = UploadSource(source)
    if source is UploadSource.URL:
        return UploadMethod.URL
    if size is None or size < 0:
        raise ValueError("the size of in-memory or local data must be known")
    return UploadMethod.INLINE if size <= inline_limit else UploadMethod.CHUNKED


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPart(Command):
    """Read ``length`` bytes at ``offset`` of the file; answer with
    ``part_data(id, data, now)`` (exactly ``length`` bytes)."""

    id: int
    offset: int
    length: int
