"""The SILK container, read without the codec (rest.md §9.2).

A SILK file is a header, then frames: a little-endian ``int16`` length and that many
payload bytes, one frame per 20 ms of audio at every sample rate.  Two headers occur:
the plain ``#!SILK_V3`` and Tencent's variant with one leading ``0x02`` byte (QQ's own
voice messages).  Some encoders end the stream with the length ``-1`` (``FF FF``).
"""

from __future__ import annotations

from typing import Final

from ..errors import VoiceError

__all__ = ["FRAME_SECONDS", "PLAIN_HEADER", "TENCENT_HEADER", "frames", "is_silk",
           "silk_duration", "strip_terminator"]

#: rest.md §9.2.1.
PLAIN_HEADER: Final = b"#!SILK_V3"
TENCENT_HEADER: Final = b"\x02" + PLAIN_HEADER
#: rest.md §9.2.2: one frame per 20 ms.
FRAME_SECONDS: Final = 0.02
_TERMINATOR: Final = -1


def is_silk(data: bytes) -> bool:
    """Whether ``data`` starts with either SILK header (plain or Tencent)."""
    return data.startswith(PLAIN_HEADER) or data.startswith(TENCENT_HEADER)


def _body_offset(data: bytes) -> int:
    if data.startswith(TENCENT_HEADER):
        return len(TENCENT_HEADER)
    if data.startswith(PLAIN_HEADER):
        return len(PLAIN_HEADER)
    raise VoiceError("not SILK audio (no #!SILK_V3 header)")


def frames(data: bytes) -> tuple[int, int]:
    """``(frame count, end offset)``: the offset is where the frames stop (before a
    ``FF FF`` terminator, or the end of ``data``).  :class:`VoiceError` for data that is
    not SILK or whose last frame is cut short."""
    offset = _body_offset(data)
    count = 0
    size = len(data)
    while offset < size:
        if offset + 2 > size:
            raise VoiceError(f"SILK frame {count}: truncated length at byte {offset}")
        length = int.from_bytes(data[offset:offset + 2], "little", signed=True)
        if length == _TERMINATOR:
            return count, offset
        if length < 0 or offset + 2 + length > size:
            raise VoiceError(f"SILK frame {count}: {length} bytes announced at byte "
                             f"{offset}, {size - offset - 2} left")
        offset += 2 + length
        count += 1
    return count, offset


def silk_duration(data: bytes) -> float:
    """Seconds of audio in ``data``, counted from its frames (20 ms each)."""
    count, _ = frames(data)
    return round(count * FRAME_SECONDS, 2)


def strip_terminator(data: bytes) -> bytes:
    """``data`` up to its last whole frame: silk-python's decoder fails on the ``FF FF``
    terminator some encoders write (rest.md §9.2.3)."""
    _, end = frames(data)
    return data[:end]
