"""SILK ⇄ WAV through the optional codec (``pip install 'qqproto[silk]'``).

The codec is ``silk-python`` (import name ``pysilk``; the PyPI project called ``pysilk``
is unrelated), resampling is ``soxr`` on ``numpy`` arrays.  All three are imported when
first needed, so ``import qqproto.voice`` works without them and the container helpers
(:func:`~qqproto.voice.is_silk`, :func:`~qqproto.voice.silk_duration`) never need them.
These functions are CPU-bound: drivers run them on a worker thread.
"""

from __future__ import annotations

import importlib
import io
from types import ModuleType
from typing import Any, Final

from ..errors import VoiceError
from ._silk import strip_terminator
from ._wav import WavAudio, parse_wav, pcm16_wav

__all__ = ["DECODE_RATES", "DEFAULT_RATE", "SILK_RATES", "silk_to_wav", "wav_to_silk"]

#: rest.md §9.2.5: the rates silk-python encodes at (44.1 kHz fails inside the encoder).
SILK_RATES: Final = (8000, 12000, 16000, 24000, 32000, 48000)
#: rest.md §9.2.6: QQ voice is commonly 24 kHz; other WAV rates are converted to it.
DEFAULT_RATE: Final = 24000
#: rest.md §9.2.5: decoding works at any rate in this range.
DECODE_RATES: Final = range(8000, 48001)
#: The encoder's target bit rate (bits per second); speech at 24 kHz sounds clean at it.
BIT_RATE: Final = 24000
_HINT: Final = "install the silk extra: pip install 'qqproto[silk]'"


def _module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise VoiceError(f"{name} is not installed ({_HINT})") from exc


def _codec_error(exc: Exception, what: str) -> VoiceError:
    return VoiceError(f"{what} failed: {exc}")


def silk_to_wav(data: bytes, rate: int = DEFAULT_RATE) -> bytes:
    """Decode SILK (either header) to a mono 16-bit WAV at ``rate`` Hz."""
    if rate not in DECODE_RATES:
        raise VoiceError(f"cannot decode SILK at {rate} Hz (8000 to 48000)")
    body = strip_terminator(data)  # also raises VoiceError for data that is not SILK
    pysilk = _module("pysilk")
    out = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(body), out, rate)
    except pysilk.SilkError as exc:
        raise _codec_error(exc, "SILK decoding") from None
    return pcm16_wav(out.getvalue(), rate)


def _mono_pcm16(audio: WavAudio) -> tuple[bytes, int]:
    """Mono 16-bit PCM at a rate the encoder takes, and that rate."""
    if audio.bits == 16 and not audio.is_float and audio.channels == 1 \
            and audio.rate in SILK_RATES:
        return audio.samples, audio.rate  # the common case needs no numpy
    np = _module("numpy")
    raw = audio.samples
    if audio.is_float:
        samples: Any = np.frombuffer(raw, dtype="<f4" if audio.bits == 32 else "<f8")
        samples = samples.astype(np.float64)
    elif audio.bits == 8:  # unsigned, centred on 128
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif audio.bits == 24:
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        samples = np.where(value >= 1 << 23, value - (1 << 24), value) / float(1 << 23)
    else:
        dtype = "<i2" if audio.bits == 16 else "<i4"
        scale = float(1 << (audio.bits - 1))
        samples = np.frombuffer(raw, dtype=dtype).astype(np.float64) / scale
    samples = samples.reshape(-1, audio.channels).mean(axis=1)
    rate = audio.rate
    if rate not in SILK_RATES:
        soxr = _module("soxr")
        samples = soxr.resample(samples, rate, DEFAULT_RATE)
        rate = DEFAULT_RATE
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    return pcm.tobytes(), rate


def wav_to_silk(wav_bytes: bytes, *, tencent: bool = True) -> bytes:
    """Encode a WAV to SILK: mixed down to mono; a rate the encoder cannot take (44.1 kHz,
    22.05 kHz …) is converted to 24 kHz with ``soxr`` first.

    ``tencent``: write the ``0x02`` header QQ's own voice messages use (rest.md §9.4.2:
    which header the platform requires is undocumented; the one it sends is the safe
    reading, and silk-python's default).  The last partial 20 ms frame is padded with
    silence, so no sound is dropped (§9.2.4: the encoder drops a partial frame)."""
    audio = parse_wav(wav_bytes)
    if audio.frame_count == 0:
        raise VoiceError("the WAV holds no audio")
    pcm, rate = _mono_pcm16(audio)
    frame_bytes = rate // 50 * 2
    if len(pcm) % frame_bytes:
        pcm += bytes(frame_bytes - len(pcm) % frame_bytes)
    pysilk = _module("pysilk")
    out = io.BytesIO()
    try:
        pysilk.encode(io.BytesIO(pcm), out, rate, BIT_RATE, tencent=tencent)
    except pysilk.SilkError as exc:
        raise _codec_error(exc, "SILK encoding") from None
    return out.getvalue()
