"""Messages that carry media: attachments on the simulator's CDN, voice messages with
and without the platform's WAV rendition and transcript, quoted messages.

Payload shapes follow gateway.md §6.2/§6.4 and rest.md §9.1, §10: an attachment is
``{content_type, filename, size, url}``; a voice message's attachment has
``content_type: "voice"`` and may add ``voice_wav_url`` and ``asr_refer_text``; a
quoting message has ``message_type: 103`` and the quoted message as
``msg_elements[0]`` with its own ``attachments``.  The URLs are the CDN's
(:mod:`._cdn`), scheme-relative like the platform's (``//host/…``) when asked.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from ..voice._wav import pcm16_wav
from ._cdn import sim_cdn

if TYPE_CHECKING:
    from ._records import SimEvent
    from ._simulator import Simulator

__all__ = ["QUOTE_MESSAGE_TYPE", "cdn_attachment", "inject_media_message", "tone_wav",
           "voice_attachment"]

#: gateway.md §6.2: ``message_type`` 103 means ``msg_elements[0]`` is the quoted message.
QUOTE_MESSAGE_TYPE: Final = 103


def tone_wav(seconds: float, *, rate: int = 24000, frequency: float = 440.0) -> bytes:
    """A mono 16-bit WAV of a sine tone: audio for voice messages and tests."""
    count = round(seconds * rate)
    step = 2 * math.pi * frequency / rate
    samples = (round(8000 * math.sin(step * i)) for i in range(count))
    return pcm16_wav(struct.pack(f"<{count}h", *samples), rate)


def cdn_attachment(sim: Simulator, data: bytes, *, filename: str, content_type: str,
               now: float, expires_in: float | None = None, throttle: int = 0,
               redirect_to: str | None = None, send_filename: bool = True,
               scheme_relative: bool = False) -> dict[str, Any]:
    """Register ``data`` on the CDN and describe it as an attachment.  ``send_filename``
    ``False`` leaves ``filename`` out (the name then comes from the URL)."""
    url = sim_cdn(sim).register(sim.ids, data, content_type=content_type, filename=filename,
                                now=now, expires_in=expires_in, throttle=throttle,
                                redirect_to=redirect_to)
    if scheme_relative:
        url = url[url.index("//"):]
    item: dict[str, Any] = {"content_type": content_type, "url": url, "size": len(data)}
    if send_filename:
        item["filename"] = filename
    return item


def voice_attachment(sim: Simulator, silk: bytes, *, now: float, wav: bytes | None = None,
                     asr_text: str | None = None, filename: str = "voice.silk",
                     **serve: Any) -> dict[str, Any]:
    """A voice attachment: the SILK on the CDN, plus the WAV rendition when ``wav`` is
    given (``voice_wav_url``) and the platform's transcript when ``asr_text`` is."""
    item = cdn_attachment(sim, silk, filename=filename, content_type="voice", now=now, **serve)
    if wav is not None:
        item["voice_wav_url"] = cdn_attachment(sim, wav, filename=filename.rsplit(".", 1)[0]
                                           + ".wav", content_type="audio/wav", now=now)["url"]
    if asr_text is not None:
        item["asr_refer_text"] = asr_text
    return item


def inject_media_message(sim: Simulator, target: str, *, now: float, content: str = "",
                         attachments: Sequence[Mapping[str, Any]] = (),
                         quoted: Sequence[Mapping[str, Any]] | None = None,
                         quoted_content: str = "") -> SimEvent:
    """A message from ``target`` (``c2c:USER`` or ``group:GROUP:MEMBER``) with
    ``attachments``; with ``quoted``, it quotes an earlier message that carried those."""
    extra: dict[str, Any] | None = None
    if quoted is not None:
        extra = {"message_type": QUOTE_MESSAGE_TYPE, "msg_elements": [{
            "msg_idx": "REFIDX_" + sim.ids.hex(8), "content": quoted_content,
            "message_type": 0, "attachments": [dict(a) for a in quoted],
            "author": {"bot": False, "username": "earlier"}}]}
    kind, _, rest = target.partition(":")
    ids = rest.split(":")
    if kind == "c2c" and len(ids) == 1 and ids[0]:
        return sim.inject_c2c_message(ids[0], content, now=now,
                                      attachments=list(attachments), extra=extra)
    if kind == "group" and len(ids) == 2 and all(ids):
        return sim.inject_group_at_message(ids[0], ids[1], content, now=now,
                                           attachments=list(attachments), extra=extra)
    raise ValueError(f"target {target!r}: use c2c:USER or group:GROUP:MEMBER")
