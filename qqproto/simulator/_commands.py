"""One-line commands for a running simulator (``qqproto sim`` reads them from stdin).

Syntax: one command per line, words separated by spaces; the message text is the rest
of the line, spaces kept.  :data:`COMMAND_HELP` lists the commands (``help`` prints it).
Blank lines and lines starting with ``#`` are ignored.  Parsing is sans-IO: a driver
hands each line and ``now`` to :func:`run_command` and prints the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Final

from .._numbers import parse_int
from ._media_commands import MEDIA_VERBS, run_media_command
from ._portal import PORTAL_VERBS, portal_command
from ._tap import tap_command

if TYPE_CHECKING:
    from ._simulator import Simulator

__all__ = ["COMMAND_HELP", "CommandResult", "run_command"]

#: The command list, as ``help`` prints it.
COMMAND_HELP: Final = """\
c2c USER_OPENID text...                      a private message to the bot
group GROUP_OPENID MEMBER_OPENID text...     a group message that @-mentions the bot
channel CHANNEL_ID GUILD_ID USER_ID text...  a guild channel message that @-mentions it
dm GUILD_ID USER_ID text...                  a guild direct message
button c2c USER_OPENID [DATA]                a button tap (INTERACTION_CREATE)
button group GROUP_OPENID MEMBER_OPENID [DATA]
tap MESSAGE BUTTON [as USER]                 tap a button the bot sent (MESSAGE: id, chat or last)
drop                                         drop every gateway TCP connection
close CODE [reason...]                       close every gateway connection with CODE
reconnect                                    send op 7
invalid true|false                           send op 9 with that d
garbage text|binary|array|unknown-op|no-op   send a frame a client must survive
tokens                                       invalidate every access token
scan TASK_ID USER_OPENID                     complete a bind task (qqproto onboard)
expire TASK_ID                               expire a bind task
portal fail RETCODE [message] | portal html  the next portal call fails that way
attach TARGET NAME [expired|throttled|redirect]  a message with a file on the CDN
voice TARGET [wav] [asr TEXT...]             a voice message (wav: voice_wav_url too)
quote TARGET NAME [text...]                  a message quoting one that carried NAME
  TARGET: c2c:USER_OPENID or group:GROUP_OPENID:MEMBER_OPENID
status                                       counters and connections
help                                         this text
quit                                         stop the simulator
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """What to print (may be empty) and whether the simulator should stop."""

    text: str = ""
    stop: bool = False
    ok: bool = True


def _usage(message: str) -> CommandResult:
    return CommandResult(text=f"error: {message} (type 'help')", ok=False)


def _split(line: str, words: int) -> list[str] | None:
    """``words`` leading words plus the rest of the line (rest may be empty)."""
    parts = line.split(maxsplit=words)
    if len(parts) < words:
        return None
    return parts if len(parts) > words else [*parts, ""]


def _status(sim: Simulator) -> str:
    counts = " ".join(f"{f.name}={getattr(sim.counters, f.name)}"
                      for f in fields(sim.counters) if getattr(sim.counters, f.name))
    return f"open_connections={len(sim.connections)} sessions={len(sim.sessions)} | {counts}"


def run_command(sim: Simulator, line: str, now: float) -> CommandResult:
    """Carry out one command line (see the module docstring)."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return CommandResult()
    verb = stripped.split(maxsplit=1)[0].lower()
    if verb in ("c2c", "group", "channel", "dm"):
        return _inject(sim, verb, stripped, now)
    if verb == "button":
        return _button(sim, stripped, now)
    if verb == "tap":
        text, ok = tap_command(sim, stripped, now)
        return CommandResult(text=text, ok=ok)
    if verb in PORTAL_VERBS:
        text, ok = portal_command(sim, stripped.split(), now)
        return CommandResult(text=text, ok=ok)
    if verb in MEDIA_VERBS:
        text, ok = run_media_command(sim, verb, stripped, now)
        return CommandResult(text=text, ok=ok)
    if verb in ("quit", "exit", "stop"):
        return CommandResult(text="stopping", stop=True)
    if verb == "help":
        return CommandResult(text=COMMAND_HELP.rstrip("\n"))
    if verb == "status":
        return CommandResult(text=_status(sim))
    if verb == "drop":
        return CommandResult(text=f"dropped {sim.drop_connections(now)} connection(s)")
    if verb == "reconnect":
        return CommandResult(text=f"sent op 7 on {sim.send_reconnect(now)} connection(s)")
    if verb == "tokens":
        sim.invalidate_tokens()
        return CommandResult(text="every access token is now invalid")
    args = stripped.split()[1:]
    if verb == "close":
        code = parse_int(args[0], minimum=1000, maximum=4999) if args else None
        if code is None:
            return _usage("close needs a code between 1000 and 4999")
        reason = stripped.split(maxsplit=2)[2] if len(args) > 1 else ""
        count = sim.close_connections(code, reason, now=now)
        return CommandResult(text=f"closed {count} connection(s) with {args[0]}")
    if verb == "invalid":
        if args not in (["true"], ["false"]):
            return _usage("invalid takes true or false")
        count = sim.send_invalid_session(args[0] == "true", now=now)
        return CommandResult(text=f"sent op 9 on {count} connection(s)")
    if verb == "garbage":
        kind = args[0] if args else "text"
        try:
            count = sim.send_garbage(kind, now=now)
        except ValueError as exc:
            return _usage(str(exc))
        return CommandResult(text=f"sent {kind} garbage on {count} connection(s)")
    return _usage(f"unknown command {verb!r}")


def _inject(sim: Simulator, verb: str, line: str, now: float) -> CommandResult:
    ids = {"c2c": 1, "group": 2, "channel": 3, "dm": 2}[verb]
    parts = _split(line, ids + 1)
    if parts is None or not parts[-1]:
        return _usage(f"{verb} needs {ids} id(s) and a text")
    _, *names, content = parts
    if verb == "c2c":
        event = sim.inject_c2c_message(names[0], content, now=now)
    elif verb == "group":
        event = sim.inject_group_at_message(names[0], names[1], content, now=now)
    elif verb == "channel":
        event = sim.inject_channel_message(names[0], names[1], names[2], content, now=now)
    else:
        event = sim.inject_dm_message(names[0], names[1], content, now=now)
    where = ", ".join(f"{sid} s={seq}" for sid, seq in event.sessions.items()) or "queued"
    return CommandResult(text=f"{event.type} {event.id} -> {where}")


def _button(sim: Simulator, line: str, now: float) -> CommandResult:
    parts = line.split()
    scene = parts[1] if len(parts) > 1 else ""
    if scene == "c2c" and len(parts) in (3, 4):
        event = sim.inject_interaction("c2c", now=now, user_openid=parts[2],
                                       button_data=parts[3] if len(parts) == 4 else "")
    elif scene == "group" and len(parts) in (4, 5):
        event = sim.inject_interaction("group", now=now, group_openid=parts[2],
                                       member_openid=parts[3],
                                       button_data=parts[4] if len(parts) == 5 else "")
    else:
        return _usage("button c2c USER [DATA] or button group GROUP MEMBER [DATA]")
    return CommandResult(text=f"INTERACTION_CREATE {event.data['id']}")
