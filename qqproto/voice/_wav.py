"""WAV (RIFF) files as plain values: read the header, write mono 16-bit PCM.

Only the container is handled here; turning samples into another format or rate is the
codec's job (:mod:`qqproto.voice._codec`).  Accepted: ``WAVE_FORMAT_PCM`` (1) with 8,
16, 24 or 32 bits, ``WAVE_FORMAT_IEEE_FLOAT`` (3) with 32 or 64 bits, and
``WAVE_FORMAT_EXTENSIBLE`` (0xFFFE) carrying either of them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from ..errors import VoiceError

__all__ = ["WavAudio", "parse_wav", "pcm16_wav"]

_PCM: Final = 1
_FLOAT: Final = 3
_EXTENSIBLE: Final = 0xFFFE
_FORMATS: Final = {(_PCM, 8), (_PCM, 16), (_PCM, 24), (_PCM, 32), (_FLOAT, 32), (_FLOAT, 64)}
_MAX_CHANNELS: Final = 16
_MAX_RATE: Final = 384_000


@dataclass(frozen=True, slots=True, kw_only=True)
class WavAudio:
    """A parsed WAV: ``samples`` is the raw ``data`` chunk (little-endian frames of
    ``channels`` samples of ``bits`` each; ``is_float`` for IEEE floats)."""

    rate: int
    channels: int
    bits: int
    is_float: bool
    samples: bytes

    @property
    def frame_count(self) -> int:
        return len(self.samples) // (self.channels * self.bits // 8)

    @property
    def duration(self) -> float:
        return self.frame_count / self.rate


def _chunks(data: bytes) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        name = data[offset:offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8:offset + 8 + size]
        found.setdefault(name, body)  # the first of each kind counts
        if name == b"data":
            break  # a streamed WAV may announce a bogus size: take what is there
        offset += 8 + size + (size & 1)  # chunks are padded to even sizes
    return found


def parse_wav(data: bytes) -> WavAudio:
    """The format and samples of a WAV file; :class:`VoiceError` for anything else."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise VoiceError("not a WAV file (no RIFF/WAVE header)")
    chunks = _chunks(data)
    fmt, samples = chunks.get(b"fmt "), chunks.get(b"data")
    if fmt is None or len(fmt) < 16:
        raise VoiceError("WAV without a fmt chunk")
    if samples is None:
        raise VoiceError("WAV without a data chunk")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)  # the sub-format GUID's first field
    if (tag, bits) not in _FORMATS:
        raise VoiceError(f"unsupported WAV format {tag} with {bits} bits per sample")
    if not 1 <= channels <= _MAX_CHANNELS or not 1 <= rate <= _MAX_RATE:
        raise VoiceError(f"unsupported WAV shape: {channels} channel(s) at {rate} Hz")
    frame = channels * bits // 8
    return WavAudio(rate=rate, channels=channels, bits=bits, is_float=tag == _FLOAT,
                    samples=samples[:len(samples) - len(samples) % frame])


def pcm16_wav(pcm: bytes, rate: int) -> bytes:
    """A mono 16-bit PCM WAV file around ``pcm`` (little-endian samples)."""
    size = len(pcm) - len(pcm) % 2
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + size, b"WAVE", b"fmt ", 16,
                         _PCM, 1, rate, rate * 2, 2, 16, b"data", size)
    return header + pcm[:size]
