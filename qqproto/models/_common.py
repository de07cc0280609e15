"""Field access, ids, timestamps and attachments shared by the model parsers.

Each ``opt_*``/``req_*`` helper reads one key of a decoded JSON object and returns a value
of the promised type or raises :class:`~qqproto.models._base.Invalid` naming the path and
what it found.  The parsers never index a payload any other way, which is what makes
parsing total: no ``KeyError``, ``TypeError`` or ``AttributeError`` can escape.

Rules applied everywhere:

* ``null`` and an absent key mean the same thing.
* Ids are strings; a JSON integer (or an integral float below 2**53) is accepted and
  turned into its decimal string.
* Integers are accepted as JSON integers, integral floats and decimal strings.
* Booleans must be JSON booleans.
* A container where a scalar is expected (or the reverse) is an error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias, TypeVar

from ..errors import Invalid

__all__ = [
    "Attachment",
    "TimestampValue",
    "as_id",
    "expect_object",
    "kind",
    "normalise_url",
    "opt_bool",
    "opt_id",
    "opt_ids",
    "opt_int",
    "opt_list",
    "opt_object",
    "opt_str",
    "opt_strs",
    "opt_timestamp",
    "parse_attachments",
    "parse_timestamp",
    "req_id",
    "req_object",
]

#: What a ``timestamp`` field keeps: the value exactly as it arrived (a scalar).
TimestampValue: TypeAlias = str | int | float | None

_MAX_SAFE_FLOAT_ID: Final = 2**53


def kind(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


_T = TypeVar("_T")


def _bad(path: str, key: str, expected: str, value: object) -> Invalid:
    return Invalid(f"{path}.{key}: expected {expected}, got {kind(value)}")


def expect_object(value: object, path: str) -> dict[str, Any]:
    """``value`` itself must be a JSON object."""
    if isinstance(value, dict):
        return value
    raise Invalid(f"{path}: expected an object, got {kind(value)}")


def _opt(d: dict[str, Any], key: str, path: str, cls: type[_T], expected: str) -> _T | None:
    """``d[key]`` when it is absent, ``null`` or a ``cls``; else :class:`Invalid`."""
    value = d.get(key)
    if value is None or isinstance(value, cls):
        return value
    raise _bad(path, key, expected, value)


def opt_object(d: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    return _opt(d, key, path, dict, "an object")


def req_object(d: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = d.get(key)
    if isinstance(value, dict):
        return value
    if value is None:
        raise Invalid(f"{path}.{key}: missing")
    raise _bad(path, key, "an object", value)


def opt_list(d: dict[str, Any], key: str, path: str) -> list[Any] | None:
    return _opt(d, key, path, list, "an array")


def opt_str(d: dict[str, Any], key: str, path: str) -> str | None:
    return _opt(d, key, path, str, "a string")


def opt_strs(d: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    """An array of strings, ``()`` when absent."""
    items = opt_list(d, key, path) or ()
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise Invalid(f"{path}.{key}[{index}]: expected a string, got {kind(item)}")
    return tuple(items)


def _id_or_none(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than int→str allows: not an id
            return None
    if isinstance(value, float) and value.is_integer() and abs(value) < _MAX_SAFE_FLOAT_ID:
        return str(int(value))
    return None


def as_id(value: object, path: str) -> str:
    """``value`` itself must be an id (a string or an integral number)."""
    result = None if value is None else _id_or_none(value)
    if result is None:
        raise Invalid(f"{path}: expected a string id, got {kind(value)}")
    return result


def opt_ids(d: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    """An array of ids (see :func:`as_id`), ``()`` when absent."""
    items = opt_list(d, key, path) or ()
    return tuple(as_id(item, f"{path}.{key}[{index}]") for index, item in enumerate(items))


def opt_id(d: dict[str, Any], key: str, path: str) -> str | None:
    """An id: a string, or a number turned into its decimal string."""
    value = d.get(key)
    if value is None:
        return None
    result = _id_or_none(value)
    if result is None:
        raise _bad(path, key, "a string id", value)
    return result


def req_id(d: dict[str, Any], key: str, path: str) -> str:
    value = opt_id(d, key, path)
    if value is None:
        raise Invalid(f"{path}.{key}: missing")
    return value


_DECIMAL: Final = re.compile(r"[+-]?[0-9]{1,19}")


def opt_int(d: dict[str, Any], key: str, path: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad(path, key, "an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return int(value)
    raise _bad(path, key, "an integer", value)


def opt_bool(d: dict[str, Any], key: str, path: str) -> bool | None:
    return _opt(d, key, path, bool, "a boolean")


# --- timestamps -------------------------------------------------------------------------

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# gateway.md §6.5 "Timestamp formats": Unix seconds for management events, millisecond
# strings in the reference SDK.  1e11 seconds is the year 5138 while 1e11 milliseconds is
# 1973, so a magnitude at or above it can only be milliseconds.
_MILLISECONDS_FROM: Final = 100_000_000_000
_NUMERIC: Final = re.compile(r"[+-]?[0-9]{1,20}(?:\.[0-9]{1,9})?")


def _from_number(number: int | float) -> datetime | None:
    if isinstance(number, float) and not math.isfinite(number):
        return None
    try:
        if abs(number) >= _MILLISECONDS_FROM:
            return _EPOCH + timedelta(milliseconds=number)
        return _EPOCH + timedelta(seconds=number)
    except (OverflowError, ValueError):
        return None


def parse_timestamp(value: object) -> datetime | None:
    """An aware :class:`~datetime.datetime` for any timestamp form the platform uses.

    Accepts RFC 3339 strings (``"2023-11-06T13:37:18+08:00"``, ``Z`` too), integer or
    float Unix seconds, milliseconds, and the same numbers as strings (gateway.md §6.5).
    Returns ``None`` for anything else, including date-times without a UTC offset (the
    zone would be a guess).  Numbers give UTC date-times; strings keep their offset.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return _from_number(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    if _NUMERIC.fullmatch(text):
        return _from_number(float(text) if "." in text else int(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def opt_timestamp(
    d: dict[str, Any], key: str, path: str
) -> tuple[TimestampValue, datetime | None]:
    """``(raw, parsed)``: an unparseable scalar is kept with ``parsed=None``; only a
    container (array/object) is an error."""
    value = d.get(key)
    if value is None:
        return None, None
    if isinstance(value, str | int | float):
        return value, parse_timestamp(value)
    raise _bad(path, key, "a timestamp", value)


# --- attachments ------------------------------------------------------------------------

_HAS_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def normalise_url(url: str) -> str:
    """Give a platform media URL a scheme (rest.md §10.2).

    Whitespace is trimmed; ``//host/x`` becomes ``https://host/x`` (scheme-relative) and a
    bare ``host/x`` becomes ``https://host/x``.  A URL with a scheme, a path-only URL
    (``/x``) and the empty string are returned trimmed but otherwise unchanged.
    """
    url = url.strip()
    if not url or _HAS_SCHEME.match(url):
        return url
    if url.startswith("//"):
        return "https:" + url
    if url.startswith("/"):
        return url
    return "https://" + url


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """One file attached to a message (gateway.md §6.4, rest.md §10.1).

    ``url`` and ``voice_wav_url`` are normalised with :func:`normalise_url`.  For voice
    messages ``voice_wav_url`` is the platform's WAV rendition and ``asr_refer_text`` its
    speech recognition text (both SDK-only fields).
    """

    content_type: str = ""
    url: str = ""
    filename: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    voice_wav_url: str | None = None
    asr_refer_text: str | None = None
    #: Guild attachments only (gateway.md §6.4).
    id: str | None = None

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def is_voice(self) -> bool:
        # "voice" per the docs, "audio/silk" seen in the reference SDK's tests (§6.4).
        return self.content_type == "voice" or self.content_type.startswith("audio/")


def _attachment(item: dict[str, Any], path: str) -> Attachment:
    url = opt_str(item, "url", path)
    wav = opt_str(item, "voice_wav_url", path)
    return Attachment(
        content_type=opt_str(item, "content_type", path) or "",
        url=normalise_url(url) if url else "",
        filename=opt_str(item, "filename", path),
        size=opt_int(item, "size", path),
        width=opt_int(item, "width", path),
        height=opt_int(item, "height", path),
        voice_wav_url=normalise_url(wav) if wav else None,
        asr_refer_text=opt_str(item, "asr_refer_text", path),
        id=opt_id(item, "id", path),
    )


def parse_attachments(d: dict[str, Any], path: str) -> tuple[Attachment, ...]:
    """``d["attachments"]`` as a tuple; absent or ``null`` gives ``()``."""
    items = opt_list(d, "attachments", path)
    if not items:
        return ()
    result = []
    for index, item in enumerate(items):
        where = f"{path}.attachments[{index}]"
        result.append(_attachment(expect_object(item, where), where))
    return tuple(result)
