"""Chunked media upload (rest.md §4): :class:`UploadSession` runs prepare → part PUTs →
part_finish → complete as a sans-IO saga; the hashes it needs come from
:class:`FileHasher` in one pass.  :func:`choose_upload_method` picks between a URL, an
inline ``file_data`` upload and the chunked saga.
"""

from __future__ import annotations

from ._hashing import MD5_10M_PREFIX, FileHasher, FileHashes, hash_bytes
from ._plan import (
    INLINE_LIMIT,
    MAX_CONCURRENCY,
    PartPlan,
    ReadPart,
    UploadMethod,
    UploadPlan,
    UploadSource,
    choose_upload_method,
)
from ._session import UploadSession, UploadState

__all__ = [
    "INLINE_LIMIT",
    "MAX_CONCURRENCY",
    "MD5_10M_PREFIX",
    "FileHasher",
    "FileHashes",
    "PartPlan",
    "ReadPart",
    "UploadMethod",
    "UploadPlan",
    "UploadSession",
    "UploadSource",
    "UploadState",
    "choose_upload_method",
    "hash_bytes",
]
