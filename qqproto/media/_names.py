"""File names for downloaded attachments, safe to join to a directory.

The platform's ``filename`` is whatever the sender's device called the file (rest.md
§10.1); the reference SDK joins it to its cache path unsanitised (§10.5).  Here a name
comes from the event when there is one, else from the URL's last path segment, else
from the content type, and whichever it is goes through :func:`safe_filename`: no path
separators, no control or format characters, no leading dot, no name Windows reserves,
at most :data:`MAX_NAME_BYTES` bytes of UTF-8 with the extension kept.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from ..models import Attachment

__all__ = ["DEFAULT_STEM", "MAX_NAME_BYTES", "attachment_filename", "cache_key",
           "extension_for", "safe_filename"]

#: Most file systems allow 255 bytes per name; room is left for a ``.part`` suffix.
MAX_NAME_BYTES: Final = 200
#: The stem when neither the event nor the URL has a usable name.
DEFAULT_STEM: Final = "attachment"
_MAX_EXTENSION: Final = 16
#: rest.md §10.3 content types (and the audio types SDKs also see) → extension.  A table,
#: not :mod:`mimetypes`, which reads the system's files.
_EXTENSIONS: Final = {
    "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/png": ".png", "image/gif": ".gif",
    "image/webp": ".webp", "image/bmp": ".bmp", "video/mp4": ".mp4",
    "voice": ".silk", "audio/silk": ".silk", "audio/amr": ".amr", "audio/wav": ".wav",
    "audio/x-wav": ".wav", "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/ogg": ".ogg",
    "text/plain": ".txt", "application/pdf": ".pdf",
}
_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
     *(f"LPT{i}" for i in range(10))})
_UNSAFE: Final = frozenset('<>:"|?*')


def extension_for(content_type: str | None) -> str:
    """The extension for a content type (``""`` when unknown)."""
    if not content_type:
        return ""
    return _EXTENSIONS.get(content_type.split(";")[0].strip().lower(), "")


def _clean(name: str) -> str:
    # Only the last segment of anything that looks like a path.
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for char in unicodedata.normalize("NFC", name):
        category = unicodedata.category(char)
        if category[0] in "CZ" and char != " ":  # controls, format, separators
            continue
        kept.append("_" if char in _UNSAFE else char)
    return "".join(kept).strip(" .")


def _fit(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` bytes of UTF-8, its extension kept when short."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXTENSION:
        stem, ext = name, ""
    suffix = "." + ext if ext else ""
    room = limit - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" .")
    return (cut or DEFAULT_STEM) + suffix


def safe_filename(name: str | None, *, limit: int = MAX_NAME_BYTES) -> str | None:
    """``name`` made safe to join to a directory, or ``None`` when nothing usable is
    left (empty, only dots, only control characters)."""
    if not name:
        return None
    cleaned = _clean(name)
    if not cleaned:
        return None
    stem = cleaned.split(".", 1)[0].upper()
    if stem in _RESERVED:
        cleaned = "_" + cleaned
    return _fit(cleaned, limit)


def attachment_filename(attachment: Attachment, url: str | None = None) -> str:
    """The name to save ``attachment`` under: its own ``filename``, else the last path
    segment of ``url`` (default: its URL, percent-decoded), else ``attachment`` plus the
    content type's extension."""
    found = safe_filename(attachment.filename)
    if found is None:
        path = urlsplit(url if url is not None else attachment.url).path
        found = safe_filename(unquote(path.rsplit("/", 1)[-1]))
    if found is None:
        found = DEFAULT_STEM + extension_for(attachment.content_type)
    return found


def cache_key(url: str) -> str:
    """The cache directory of one downloaded URL (its SHA-256, shortened): the same
    attachment is served from the cache, two attachments never share a directory."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
