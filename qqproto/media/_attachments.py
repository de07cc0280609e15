"""The attachments of a message, its quoted message's included (rest.md §10.7)."""

from __future__ import annotations

from ..models import Attachment, InboundMessage

__all__ = ["attachments_of", "is_voice"]


def attachments_of(message: InboundMessage) -> tuple[Attachment, ...]:
    """The message's own attachments, then those of the message it quotes: a file the
    user quoted goes through the same download and transcription path as one they sent
    (rest.md §10.7: the quoted message is ``msg_elements[0]`` with its own
    ``attachments``)."""
    quoted = message.quoted.attachments if message.quoted is not None else ()
    return (*message.attachments, *quoted)


def is_voice(attachment: Attachment) -> bool:
    """A voice message: ``content_type`` ``voice`` or ``audio/*`` (rest.md §9.1.1–2), or
    one that carries the platform's WAV rendition or transcript."""
    return (attachment.is_voice or attachment.voice_wav_url is not None
            or attachment.asr_refer_text is not None)
