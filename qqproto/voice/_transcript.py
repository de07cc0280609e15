"""Speech-to-text as a policy: which source of text is asked first.

A voice message may be transcribed by the application's own engine (a
:data:`Transcriber`: WAV bytes in, text out) and it may carry the platform's own
transcript, ``asr_refer_text`` (rest.md §9.1.1).  The sources disagree on the order
(§9.1.3: the reference SDK asks its engine first, hermes the platform first).  The
default here is the SDK's: the configured engine, then ``asr_refer_text``, then nothing
— an engine the application chose and configured is the better-informed one, and the
platform's text is kept as the fallback when the engine fails or returns nothing.
:func:`transcript_steps` turns the order into the steps that apply to one attachment.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..models import Attachment

__all__ = ["DEFAULT_ORDER", "Transcriber", "Transcript", "TranscriptSource", "accept_text",
           "transcript_steps", "wav_source"]

#: The application's engine: WAV bytes (mono 16-bit) → text, or ``None`` / ``""`` when
#: it heard nothing.  A plain function or a coroutine function; drivers run a plain one
#: on a worker thread.
Transcriber = Callable[[bytes], "str | Awaitable[str | None] | None"]


class TranscriptSource(enum.StrEnum):
    """Where a transcript came from."""

    STT = "stt"  # the application's Transcriber
    PLATFORM = "platform"  # the attachment's asr_refer_text


#: The engine first, then the platform's text (rest.md §9.1.3, the SDK's order).
DEFAULT_ORDER: Final = (TranscriptSource.STT, TranscriptSource.PLATFORM)


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript:
    """What ``bot.transcribe(attachment)`` returns: ``text`` (``None`` when no source
    had any), its ``source`` (``"stt"``, ``"platform"`` or ``None``), and ``wav_path``,
    the WAV in the bot's media cache (``None`` when it could not be fetched)."""

    text: str | None
    source: TranscriptSource | None
    wav_path: str | None = None


def transcript_steps(attachment: Attachment, *, has_engine: bool,
                     order: Sequence[TranscriptSource | str] = DEFAULT_ORDER,
                     ) -> tuple[TranscriptSource, ...]:
    """The sources to try for ``attachment``, in ``order``: the engine only when there is
    one, the platform only when the attachment carries a non-empty ``asr_refer_text``."""
    steps = []
    for raw in order:
        source = TranscriptSource(raw)
        if source in steps:
            continue
        wanted = (has_engine if source is TranscriptSource.STT
                  else accept_text(attachment.asr_refer_text) is not None)
        if wanted:
            steps.append(source)
    return tuple(steps)


def accept_text(value: object) -> str | None:
    """A transcript worth returning: a string with something besides white space."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def wav_source(attachment: Attachment) -> tuple[str, bool]:
    """``(url, needs_decoding)``: the platform's WAV rendition when there is one
    (``voice_wav_url``, rest.md §9.1.1: nothing is decoded twice), else the SILK
    original, to decode."""
    if attachment.voice_wav_url:
        return attachment.voice_wav_url, False
    return attachment.url, True
