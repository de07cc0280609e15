"""``qqproto sim`` commands that inject media (see :mod:`._media_events`).

``TARGET`` is ``c2c:USER_OPENID`` or ``group:GROUP_OPENID:MEMBER_OPENID``;
:data:`~qqproto.simulator._commands.COMMAND_HELP` lists the syntax.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..errors import VoiceError
from ..voice import wav_to_silk
from ._media_events import cdn_attachment, inject_media_message, tone_wav, voice_attachment

if TYPE_CHECKING:
    from ._records import SimEvent
    from ._simulator import Simulator

__all__ = ["MEDIA_VERBS", "run_media_command"]

#: ``(text, ok)``: what to print and whether the command worked (``_commands`` makes
#: the :class:`~qqproto.simulator.CommandResult`; importing it here would be a cycle).
Answer = tuple[str, bool]


def usage(message: str) -> Answer:
    return f"error: {message} (type 'help')", False

MEDIA_VERBS: Final = frozenset({"attach", "voice", "quote"})
_TYPES: Final = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
                 "gif": "image/gif", "mp4": "video/mp4"}
#: How the CDN serves an ``attach``: an rkey already expired, two 429s first, or a 302
#: to a host that is on no allow-list.
_SERVING: Final = {"expired": {"expires_in": 0.0}, "throttled": {"throttle": 2},
                   "redirect": {"redirect_to": "https://cdn.off-list.invalid/file"}}


def _file(sim: Simulator, name: str, now: float, mode: str = "") -> dict[str, object]:
    data = f"qqproto simulator attachment {name}\n".encode() * 64
    kind = _TYPES.get(name.rsplit(".", 1)[-1].lower(), "file")
    return cdn_attachment(sim, data, filename=name, content_type=kind, now=now,
                      **_SERVING.get(mode, {}))  # type: ignore[arg-type]


def _done(event: SimEvent) -> Answer:
    where = ", ".join(f"{sid} s={seq}" for sid, seq in event.sessions.items()) or "queued"
    return f"{event.type} {event.id} -> {where}", True


def run_media_command(sim: Simulator, verb: str, line: str, now: float) -> Answer:
    """One of :data:`MEDIA_VERBS` (``line`` is the whole command line)."""
    words = line.split()
    if len(words) < 2:
        return usage(f"{verb} needs a TARGET")
    target = words[1]
    try:
        if verb == "attach":
            if len(words) not in (3, 4) or (len(words) == 4 and words[3] not in _SERVING):
                return usage("attach TARGET NAME [expired|throttled|redirect]")
            item = _file(sim, words[2], now, words[3] if len(words) == 4 else "")
            return _done(inject_media_message(sim, target, now=now, attachments=[item]))
        if verb == "quote":
            if len(words) < 3:
                return usage("quote TARGET NAME [text...]")
            text = line.split(maxsplit=3)[3] if len(words) > 3 else ""
            return _done(inject_media_message(sim, target, now=now, content=text,
                                              quoted=[_file(sim, words[2], now)]))
        rest = words[2:]
        wav = tone_wav(1.0) if rest[:1] == ["wav"] else None
        rest = rest[1:] if wav is not None else rest
        if rest and rest[0] != "asr":
            return usage("voice TARGET [wav] [asr TEXT...]")
        asr = " ".join(rest[1:]) if rest else None
        silk = wav_to_silk(tone_wav(1.0))
        item = voice_attachment(sim, silk, now=now, wav=wav, asr_text=asr)
        return _done(inject_media_message(sim, target, now=now, attachments=[item]))
    except VoiceError as exc:
        return usage(f"voice needs the silk codec: {exc}")
    except ValueError as exc:
        return usage(str(exc))
