"""Media in and out: attachment downloads and ``file_info`` reuse, sans-IO.

:class:`DownloadCall` fetches one URL under a :class:`MediaPolicy` (host allow-list on
every hop, https only, no IP literals or user-info, a byte limit, retries with back-off,
typed :class:`~qqproto.errors.DownloadError` outcomes, no token unless asked for);
:func:`attachment_filename` names the file safely.  :class:`FileInfoCache` and
:class:`MediaDelivery` send a file again without uploading it again, and upload once
more when the platform says the ``file_info`` expired (304080); :class:`StoredFileInfo`
is what a bot's store keeps of one, so that a restart or another process sends it too.
The drivers' ``bot.download``, ``bot.transcribe``, ``bot.send_media`` and
``bot.send_voice`` run these; voice itself lives in :mod:`qqproto.voice`.
"""

from __future__ import annotations

from ._attachments import Destination, attachments_of, destination, is_voice
from ._download import TRANSITIONS, DownloadCall, Downloaded, DownloadState
from ._names import (
    DEFAULT_STEM,
    MAX_NAME_BYTES,
    attachment_filename,
    cache_key,
    extension_for,
    safe_filename,
)
from ._policy import DEFAULT_MEDIA_HOSTS, MediaPolicy, check_url, host_matches, redact_url
from ._reuse import (
    DELIVERY_TRANSITIONS,
    DeliveryState,
    FileInfoCache,
    MediaDelivery,
    MediaKey,
    SendStep,
    UploadStep,
)
from ._stored import LONG_LIVED_LIFETIME, StoredFileInfo

__all__ = [
    "DEFAULT_MEDIA_HOSTS",
    "DEFAULT_STEM",
    "DELIVERY_TRANSITIONS",
    "LONG_LIVED_LIFETIME",
    "MAX_NAME_BYTES",
    "TRANSITIONS",
    "DeliveryState",
    "Destination",
    "DownloadCall",
    "DownloadState",
    "Downloaded",
    "FileInfoCache",
    "MediaDelivery",
    "MediaKey",
    "MediaPolicy",
    "SendStep",
    "StoredFileInfo",
    "UploadStep",
    "attachment_filename",
    "attachments_of",
    "cache_key",
    "check_url",
    "destination",
    "extension_for",
    "host_matches",
    "is_voice",
    "redact_url",
    "safe_filename",
]
