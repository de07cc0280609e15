"""``qqproto send`` and ``qqproto upload``: one REST job each, no gateway.

::

    qqproto send --to c2c:OPENID|group:GID|channel:CID|dm:GUILD "text" [--markdown]
                 [--reply-to MSG_ID]
    qqproto upload PATH --to c2c:OPENID|group:GID [--type image|video|voice|file]
                 [--send] [--reply-to MSG_ID]

Both run on ``--transport asyncio|trio|threaded`` through that driver's ``Bot`` without
connecting it to the gateway: ``bot.call`` for the messages (``bot.rest`` builds them),
``bot.upload`` for the file.  Results go to standard output, progress to
standard error: a bar redrawn with ``\\r`` on a terminal, plain lines otherwise.  An
error is one line; the exit status is 1 when the platform (or the network) refused, 2
for a usage error.  Neither the secret nor the token is ever printed.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from qqproto import (
    AuditPending,
    ChatScope,
    FileType,
    Markdown,
    MessageSent,
    OutgoingMessage,
    Settings,
    UploadedMedia,
)
from qqproto.errors import ApiError, FileTooLargeError, UploadSourceError
from qqproto.events import UploadPhase, UploadProgress
from qqproto.rest import ReplyContext, RestCall, RestClient, check_file_size
from qqproto.upload import UploadMethod

from ._common import TRANSPORTS, CliError, driver, settings_from

__all__ = ["ProgressPrinter", "add_rest_parsers", "cmd_send", "cmd_upload", "guess_file_type"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: rest.md §3.3: the formats each file type takes; anything else goes as a file.
_EXTENSIONS: Final = {
    FileType.IMAGE: (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"),
    FileType.VIDEO: (".mp4",),
    FileType.VOICE: (".silk", ".slk", ".amr", ".mp3", ".wav", ".ogg"),
}
_MB: Final = 1_000_000
CallMaker = Callable[[RestClient, float], list[RestCall[Any]]]


class _Usage(Exception):
    """A usage error: one line, exit status 2."""


def guess_file_type(path: str | os.PathLike[str]) -> FileType:
    """The file type a file's extension suggests (rest.md §3.3), else ``FILE``."""
    suffix = Path(path).suffix.lower()
    for file_type, suffixes in _EXTENSIONS.items():
        if suffix in suffixes:
            return file_type
    return FileType.FILE


def _target(value: str) -> tuple[ChatScope, str]:
    scope, sep, target = value.partition(":")
    try:
        chat = ChatScope(scope.strip().lower())
    except ValueError:
        chat = None
    if not sep or chat is None or not target.strip():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not SCOPE:ID with SCOPE one of c2c, group, channel, dm")
    return chat, target.strip()


def add_rest_parsers(sub: Any) -> None:
    """Add ``send`` and ``upload`` to the ``qqproto`` command's subparsers."""
    p = sub.add_parser("send", help="send a message (split when long), print its id")
    p.add_argument("--to", required=True, type=_target, metavar="SCOPE:ID",
                   help="c2c:OPENID, group:GROUP_OPENID, channel:CHANNEL_ID or dm:GUILD_ID")
    p.add_argument("text", help="the text (markdown source with --markdown)")
    p.add_argument("--markdown", action="store_true", help="send as native markdown")
    p.add_argument("--reply-to", metavar="MSG_ID",
                   help="answer this inbound message (passive; msg_seq from 1)")
    _transport(p)
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("upload", help="upload a file, print its file_info (and send it)")
    p.add_argument("path", help="the file to upload")
    p.add_argument("--to", required=True, type=_target, metavar="SCOPE:ID",
                   help="c2c:OPENID or group:GROUP_OPENID (media is per chat family)")
    p.add_argument("--type", choices=[t.name.lower() for t in FileType],
                   help="image, video, voice or file (default: from the extension)")
    p.add_argument("--method", choices=["auto", "inline", "chunked"], default="auto",
                   help="inline base64 or chunked (default: inline up to 4 MiB)")
    p.add_argument("--send", action="store_true", help="then send it (msg_type 7)")
    p.add_argument("--reply-to", metavar="MSG_ID", help="with --send: answer this message")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _transport(p)
    p.set_defaults(func=cmd_upload)


def _transport(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transport", choices=TRANSPORTS, default="asyncio",
                   help="the runtime that carries the requests (default: asyncio)")


# ----------------------------------------------------------------------------- progress

class ProgressPrinter:
    """Progress on ``err``: a bar redrawn in place on a terminal, else plain lines (at
    every quarter of the hashing pass and after every part)."""

    def __init__(self, err: TextIO, *, clock: Callable[[], float] = time.monotonic,
                 bar: bool | None = None, width: int = 24) -> None:
        self._err = err
        self._clock = clock
        self._bar = err.isatty() if bar is None else bar
        self._width = width
        self._shown_at = -1.0
        self._quarter = -1
        self._phase: UploadPhase | None = None
        self._started = self._last_at = clock()
        self._open = False

    def end_line(self) -> None:
        """End a bar left mid-line, so that what follows starts on a line of its own."""
        if self._open:
            self._err.write("\n")
            self._err.flush()
            self._open = False

    def __call__(self, event: UploadProgress) -> None:
        if self._bar:
            self._draw(event)
        else:
            self._line(event)

    def _line(self, event: UploadProgress) -> None:
        total = max(event.bytes_total, 1)
        if event.phase is UploadPhase.HASHING:
            # A line each time another quarter is passed, with the exact share done.
            quarter = event.bytes_done * 4 // total
            if quarter != self._quarter:
                self._quarter = quarter
                print(f"hashing {event.bytes_done * 100 // total}% ({_mb(event.bytes_done)}/"
                      f"{_mb(event.bytes_total)} MB)", file=self._err, flush=True)
            return
        print(f"uploaded part {event.parts_done}/{event.parts_total} "
              f"({_mb(event.bytes_done)}/{_mb(event.bytes_total)} MB)", file=self._err,
              flush=True)

    def _draw(self, event: UploadProgress) -> None:
        now = self._clock()
        final = event.bytes_done >= event.bytes_total
        if event.phase is not self._phase:  # a phase starts where the last one ended
            self.end_line()
            self._phase, self._started, self._shown_at = event.phase, self._last_at, -1.0
        self._last_at = now
        if not final and now - self._shown_at < 0.1:
            return
        self._shown_at = now
        done = event.bytes_done / max(event.bytes_total, 1)
        filled = round(done * self._width)
        speed = event.bytes_done / max(now - self._started, 1e-6) / _MB
        label = "hashing  " if event.phase is UploadPhase.HASHING else "uploading"
        parts = (f" {event.parts_done}/{event.parts_total} parts"
                 if event.phase is UploadPhase.UPLOADING else "")
        self._err.write(f"\r{label} [{'#' * filled}{'-' * (self._width - filled)}] "
                        f"{done * 100:3.0f}% {_mb(event.bytes_done)}/{_mb(event.bytes_total)}"
                        f" MB{parts} {speed:.1f} MB/s")
        self._open = True
        if final and event.phase is UploadPhase.UPLOADING:
            self.end_line()
        self._err.flush()


def _mb(size: int) -> str:
    return f"{size / _MB:.1f}"


# ----------------------------------------------------------------------------- running

def _run_job(transport: str, env: Mapping[str, str], job_async: Callable[[Any], Any],
             job_sync: Callable[[Any], Any]) -> Any:
    """Run ``job_*(bot)`` with a bot of ``transport`` (its HTTP client closed after)."""
    settings = _settings(env)
    try:
        module = driver(transport)
    except CliError as exc:
        raise _Usage(str(exc)) from None
    bot = module.Bot(settings, env=dict(env))
    if transport in ("threaded", "threads"):
        with bot.http:
            return job_sync(bot)
    import anyio

    async def main() -> Any:
        async with bot.http:
            return await job_async(bot)

    return anyio.run(main, backend=transport)


def _calls(rest: RestClient, scope: ChatScope, target: str, message: OutgoingMessage, *,
           reply_to: str | None, now: float) -> list[RestCall[MessageSent | AuditPending]]:
    if reply_to is None:
        return rest.send_split(scope, target, message, now=now)
    replies = ReplyContext()
    replies.received(scope, now=now, msg_id=reply_to)
    return rest.send_split(scope, target, message, now=now, replies=replies, msg_id=reply_to)


async def _run_calls_async(bot: Any, make_calls: CallMaker) -> list[Any]:
    return [await bot.call(call) for call in make_calls(bot.rest, time.monotonic())]


def _run_calls_sync(bot: Any, make_calls: CallMaker) -> list[Any]:
    return [bot.call(call) for call in make_calls(bot.rest, time.monotonic())]


def _describe_sent(scope: ChatScope, target: str, result: MessageSent | AuditPending) -> str:
    if isinstance(result, AuditPending):
        return (f"accepted {scope.value}:{target}, pending audit "
                f"(audit_id={result.audit_id or '?'})")
    return f"sent {scope.value}:{target} id={result.id or '?'}"


def _settings(env: Mapping[str, str]) -> Settings:
    try:
        return settings_from(env)
    except CliError as exc:
        raise _Usage(str(exc)) from None


def _guarded(job: Callable[[], int], err: TextIO,
             progress: ProgressPrinter | None = None) -> int:
    try:
        try:
            return job()
        finally:
            if progress is not None:
                progress.end_line()  # an error never shares the bar's line
    except KeyboardInterrupt:
        print("qqproto: interrupted", file=err)
        return EXIT_INTERRUPTED
    except _Usage as exc:
        print(f"qqproto: {exc}", file=err)
        return EXIT_USAGE
    except FileTooLargeError as exc:  # refused here, before anything was sent
        print(f"qqproto: {exc}", file=err)
        return EXIT_FAILED
    except ApiError as exc:
        print(f"qqproto: request failed: {exc}", file=err)
        return EXIT_FAILED
    except (UploadSourceError, OSError) as exc:  # the file could not be read
        print(f"qqproto: {exc}", file=err)
        return EXIT_FAILED


def cmd_send(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
             err: TextIO) -> int:
    scope, target = args.to

    def job() -> int:
        try:
            message = (OutgoingMessage(markdown=Markdown(args.text)) if args.markdown
                       else OutgoingMessage(content=args.text))
            message.check_scope(scope)
        except ValueError as exc:
            raise _Usage(f"cannot send that: {exc}") from None

        def calls(rest: RestClient, now: float) -> list[RestCall[Any]]:
            return list(_calls(rest, scope, target, message, reply_to=args.reply_to, now=now))

        results: list[Any] = _run_job(
            args.transport, env, lambda bot: _run_calls_async(bot, calls),
            lambda bot: _run_calls_sync(bot, calls))
        for result in results:
            print(_describe_sent(scope, target, result), file=out, flush=True)
        return EXIT_OK

    return _guarded(job, err)


def cmd_upload(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
               err: TextIO) -> int:
    scope, target = args.to

    def job() -> int:
        if scope not in (ChatScope.C2C, ChatScope.GROUP):
            raise _Usage(f"media uploads go to c2c or group, not {scope.value} "
                         "(guild messages take image=URL)")
        path = Path(args.path)
        if path.is_dir():
            raise _Usage(f"{args.path}: is a directory, not a file")
        if not path.exists():
            raise _Usage(f"{args.path}: no such file")
        if not path.is_file():
            raise _Usage(f"{args.path}: not a regular file")
        size = path.stat().st_size
        if size == 0:
            raise _Usage(f"{args.path}: the file is empty")
        file_type = FileType[args.type.upper()] if args.type else guess_file_type(path)
        check_file_size(file_type, size, file_name=path.name)  # before a byte is read
        method = {"auto": None, "inline": UploadMethod.INLINE,
                  "chunked": UploadMethod.CHUNKED}[args.method]
        if args.reply_to and not args.send:
            raise _Usage("--reply-to needs --send")
        options: dict[str, Any] = {"scope": scope, "target_id": target,
                                   "file_type": file_type, "progress": progress,
                                   "method": method}

        def calls(rest: RestClient, now: float) -> list[RestCall[Any]]:  # with --send
            message = OutgoingMessage(media=done[0].file_info)
            return list(_calls(rest, scope, target, message, reply_to=args.reply_to, now=now))

        done: list[UploadedMedia] = []

        # One bot does both, so the token fetched for the upload serves the send too.
        async def job_async(bot: Any) -> list[Any]:
            done.append(await bot.upload(path, **options))
            return await _run_calls_async(bot, calls) if args.send else []

        def job_sync(bot: Any) -> list[Any]:
            done.append(bot.upload(path, **options))
            return _run_calls_sync(bot, calls) if args.send else []

        try:
            results: list[Any] = _run_job(args.transport, env, job_async, job_sync)
        finally:
            if done:
                media = done[0]
                print(f"file_info={media.file_info} file_uuid={media.file_uuid or ''} "
                      f"ttl={media.ttl}", file=out, flush=True)
        for result in results:
            print(_describe_sent(scope, target, result), file=out, flush=True)
        return EXIT_OK

    progress = None if args.quiet else ProgressPrinter(err)
    return _guarded(job, err, progress)
