"""The values of the chunked upload saga: its commands, events and errors, the size
limits and the rule that picks an upload method (rest.md §3.7, §4).

They live apart from :mod:`qqproto._upload` (the saga itself) so that a driver or a
command line can use them without the state machine.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ._api_errors import ApiError, FileTooLargeError
from ._commands import Command
from ._messages import FileType, UploadedMedia
from .errors import LocalProtocolError
from .events import Event

__all__ = [
    "HARD_SIZE_LIMITS",
    "INLINE_LIMIT",
    "ReadPart",
    "UploadFailed",
    "UploadFinished",
    "UploadMethod",
    "UploadPartFailedError",
    "UploadPhase",
    "UploadProgress",
    "UploadSource",
    "UploadSourceError",
    "check_file_size",
    "choose_upload_method",
]

_MIB: Final = 1024 * 1024
#: rest.md §3.7 (OD2): hard limit 200 MB for every file type; over it the platform
#: answers 850031.  "MB" is read as MiB; pass ``max_file_size`` to use another limit.
HARD_SIZE_LIMITS: Final[Mapping[FileType, int]] = {t: 200 * _MIB for t in FileType}
#: Files up to this size go inline as base64 ``file_data`` (see choose_upload_method).
INLINE_LIMIT: Final = 4 * _MIB


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


def check_file_size(file_type: FileType, size: int, max_file_size: int | None = None) -> None:
    """Raise :class:`FileTooLargeError` before anything is sent when ``size`` is over the
    hard limit of ``file_type`` (or over ``max_file_size`` when given)."""
    limit = HARD_SIZE_LIMITS[FileType(file_type)] if max_file_size is None else max_file_size
    if size > limit:
        raise FileTooLargeError(
            f"{FileType(file_type).name.lower()} of {size} bytes is over the "
            f"{limit}-byte limit (rest.md §3.7)")


# --- commands, events, errors --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadPart(Command):
    """Read ``length`` bytes at ``offset`` of the file; answer with
    ``part_data(id, data, now)`` (exactly ``length`` bytes)."""

    id: int
    offset: int
    length: int


class UploadPhase(enum.Enum):
    HASHING = "hashing"
    UPLOADING = "uploading"


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadProgress(Event):
    """After each hashed chunk and each finished part (rest.md §4.28)."""

    phase: UploadPhase
    bytes_done: int
    bytes_total: int
    parts_done: int = 0
    parts_total: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadFinished(Event):
    media: UploadedMedia


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadFailed(Event):
    error: Exception


class UploadPartFailedError(ApiError):
    """A part could not be uploaded or confirmed after its retries (rest.md §4.21: any
    part failure aborts the upload; there is no resume).  ``part_index`` is the server's
    index; the message carries the last cause."""

    retryable_by_default = True

    def __init__(self, message: str, *, part_index: int | str, status: int | None = None,
                 code: int | None = None, trace_id: str | None = None,
                 retryable: bool | None = None) -> None:
        self.part_index = part_index
        super().__init__(message, status=status, code=code, trace_id=trace_id,
                         retryable=retryable)


class UploadSourceError(LocalProtocolError):
    """The driver's bytes do not match the file it announced (a short read, a file that
    changed size; rest.md §4.12)."""
