"""Voice messages: the SILK container, SILK ⇄ WAV, and the speech-to-text policy.

:func:`is_silk` and :func:`silk_duration` read the container (rest.md §9.2) without any
codec.  :func:`silk_to_wav` and :func:`wav_to_silk` use the optional codec
(``pip install 'qqproto[silk]'``: ``silk-python``, ``soxr``, ``numpy``), imported on
first use; they are CPU-bound, so the drivers call them on a worker thread.  Every
failure is a :class:`~qqproto.errors.VoiceError`.
"""

from __future__ import annotations

from ..errors import VoiceError
from ._codec import DEFAULT_RATE, SILK_RATES, silk_to_wav, wav_to_silk
from ._silk import PLAIN_HEADER, TENCENT_HEADER, is_silk, silk_duration
from ._transcript import (
    DEFAULT_ORDER,
    Transcriber,
    Transcript,
    TranscriptSource,
    accept_text,
    transcript_steps,
    wav_source,
)
from ._wav import WavAudio, parse_wav, pcm16_wav

__all__ = [
    "DEFAULT_ORDER",
    "DEFAULT_RATE",
    "PLAIN_HEADER",
    "SILK_RATES",
    "TENCENT_HEADER",
    "Transcriber",
    "Transcript",
    "TranscriptSource",
    "VoiceError",
    "WavAudio",
    "accept_text",
    "is_silk",
    "parse_wav",
    "pcm16_wav",
    "silk_duration",
    "silk_to_wav",
    "transcript_steps",
    "wav_source",
    "wav_to_silk",
]
