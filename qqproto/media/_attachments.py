"""The attachments of a message, its quoted message's included (rest.md §10.7)."""

from __future__ import annotations

from .._values import ChatScope
from ..events import Dispatch
from ..models import Attachment, InboundMessage, InteractionCreate, MessageEvent, parse_event

__all__ = ["Destination", "attachments_of", "destination", "is_voice"]

#: Where media goes: an event to answer passively (a message or a button tap), or an
#: explicit ``(scope, target_id)`` for an active message.
Destination = MessageEvent | InteractionCreate | Dispatch | tuple[ChatScope | str, str]


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


def destination(target: Destination) -> tuple[ChatScope, str, MessageEvent | InteractionCreate |
                                               None]:
    """``(scope, target_id, event)`` of ``target``: ``event`` is set when the media answers
    it passively.  Uploads exist for c2c and groups only (rest.md §3.1): another scope is
    a ``ValueError``, raised before anything is read or sent."""
    event: MessageEvent | InteractionCreate | None = None
    if isinstance(target, tuple):
        scope, target_id = ChatScope(target[0]), target[1]
    else:
        parsed = parse_event(target) if isinstance(target, Dispatch) else target
        if isinstance(parsed, MessageEvent):
            scope, target_id = parsed.message.scope, parsed.message.chat_id
        elif isinstance(parsed, InteractionCreate) and parsed.scope and parsed.chat_id:
            scope, target_id = parsed.scope, parsed.chat_id
        else:
            raise TypeError(f"media goes to a message, a button tap or (scope, target_id), "
                            f"not {type(parsed).__name__}")
        event = parsed
    if scope not in (ChatScope.C2C, ChatScope.GROUP) or not target_id:
        raise ValueError(f"media can be sent to c2c users and groups only, not {scope.value}")
    return scope, target_id, event
