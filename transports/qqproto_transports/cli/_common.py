"""What every ``qqproto`` command shares: exit codes, the one-line error, settings from
the environment, the transports and how an event is printed."""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

from qqproto import Intents, Settings
from qqproto.events import (
    ConnectionEnded,
    Dispatch,
    Event,
    NextStep,
    Ready,
    Reconnecting,
    Resumed,
    SessionStopped,
)
from qqproto.gateway import Stop

try:
    import orjson
except ImportError:  # pragma: no cover - without the ``speed`` extra
    orjson = None  # type: ignore[assignment]

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "TRANSPORTS",
    "CliError",
    "check_callback_url",
    "closed_output",
    "describe",
    "dispatch_line",
    "driver",
    "exit_for",
    "os_reason",
    "port_number",
    "print_dispatch",
    "settings_from",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: ``--transport`` values → the driver module (``threaded`` is the historical name).
_DRIVERS: Final = {"asyncio": "asyncio", "trio": "trio", "threaded": "threads",
                   "threads": "threads"}
#: The ``--transport`` choices (``threads`` is accepted as well, the module's name).
TRANSPORTS: Final = ("asyncio", "trio", "threaded", "threads")


class CliError(Exception):
    """A one-line error for the user (exit status 2 unless stated)."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def port_number(value: str) -> int:
    """``--port``: a TCP port, 0 (any free port) to 65535."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0 to 65535)")
    return port


def os_reason(exc: OSError) -> str:
    """The errno's words: the runtimes phrase the same bind error differently."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def closed_output(exc: BaseException) -> bool:
    """True for a broken pipe on the output (alone, or all a task group raised)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(BrokenPipeError)[1] is None
    return isinstance(exc, BrokenPipeError)


def check_callback_url(url: str) -> str:
    """A webhook callback URL must be ``http(s)://host…``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"--webhook {url!r}: not an http:// or https:// URL")
    return url


def driver(transport: str) -> ModuleType:
    """``qqproto_transports.asyncio``/``.trio``/``.threads``, or a :class:`CliError`
    when that runtime is not installed."""
    try:
        return importlib.import_module(f"qqproto_transports.{_DRIVERS[transport]}")
    except ImportError as exc:
        raise CliError(f"the {transport} transport is not available: {exc}") from None


def settings_from(env: Mapping[str, str], args: argparse.Namespace | None = None,
                  **overrides: Any) -> Settings:
    """:meth:`Settings.from_env` with ``--intents`` applied; a usage error otherwise."""
    try:
        intents = getattr(args, "intents", None)
        if intents:
            overrides["intents"] = int(Intents.parse(intents))
        store = getattr(args, "store", None)
        if store:
            overrides["store"] = store
        shards = getattr(args, "shards", None)
        if shards:
            overrides["shards"] = shards if shards == "auto" else int(shards)
        per_process = getattr(args, "shards_per_process", None)
        if per_process is not None:
            overrides["shards_per_process"] = per_process
        return Settings.from_env(env, **overrides)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def exit_for(stop: Stop, err: Any) -> int:
    """Exit status 0 for a clean stop; 1 (and the reason on stderr) for a fatal one."""
    if stop.fatal:
        print(f"qqproto: stopped: {stop.reason}", file=err)
        return EXIT_FAILED
    return EXIT_OK


def dispatch_line(event: Dispatch, end: bytes = b"") -> bytes:
    """One dispatch as one compact JSON object (the ``--jsonl`` format), then ``end``.

    ``data`` is what the frame's ``d`` decoded to, encoded once more: with orjson (the
    ``speed`` extra, the codec the gateway itself decodes with) when installed, which is
    several times faster than the standard library and writes the same compact UTF-8;
    what orjson refuses (integers beyond 64 bits) goes through the standard library."""
    value = {"type": event.type, "seq": event.seq, "id": event.id, "data": event.data}
    if orjson is not None:
        try:
            if end == b"\n":
                return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)
            return orjson.dumps(value) + end if end else orjson.dumps(value)
        except TypeError:
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + end


def print_dispatch(event: Dispatch, out: TextIO, *, jsonl: bool, flush: bool = True) -> None:
    """Print one dispatch to ``out``: a JSON line (``--jsonl``) or a line of text; then
    flush it, unless the caller flushes once for a batch of lines (``flush=False``)."""
    if jsonl:
        out.buffer.write(dispatch_line(event, b"\n"))
        if flush:
            out.buffer.flush()
    else:
        print(describe(event), file=out, flush=flush)


def describe(event: Event, now: float | None = None) -> str | None:
    """A line for the terminal, or ``None`` for events not worth one (``now``: the
    clock of the events' times, to say when a reconnect comes)."""
    if isinstance(event, ConnectionEnded):
        code = (f" (close code {event.close_code}"
                f"{f' {event.close_reason!r}' if event.close_reason else ''})"
                if event.close_code is not None else "")
        detail = f": {event.detail}" if event.detail else ""
        return f"connection ended: {event.cause.value}{code}{detail}; next: " + (
            "stop" if event.next_step is NextStep.STOP else f"{event.next_step.value}")
    if isinstance(event, Reconnecting):
        wait = f" in {max(0.0, event.at - now):.1f} s" if now is not None else ""
        why = f" after: {event.reason}" if event.reason else ""
        return (f"reconnecting{wait} to {event.next_step.value} "
                f"(attempt {event.attempt}){why}")
    if isinstance(event, Ready):
        return f"ready: session {event.session_id} as {event.user.username or event.user.id}"
    if isinstance(event, Resumed):
        return "resumed"
    if isinstance(event, Dispatch):
        return f"{event.type} seq={event.seq} id={event.id}"
    if isinstance(event, SessionStopped):
        return None
    return f"{type(event).__name__}"
