"""The ``qqproto`` command line: demo, sim, listen, echo, send, upload, webhook serve.

Endpoints come from ``QQBOT_API_BASE``/``QQBOT_TOKEN_URL`` (production by default) and
credentials from ``QQBOT_APP_ID``/``QQBOT_CLIENT_SECRET``.  Errors are one line on stderr
and a non-zero exit status; secrets never appear in either.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from qqproto import _jsoncodec
from qqproto._commands import Stop
from qqproto.errors import ApiError
from qqproto.events import Dispatch, Event, Ready, Resumed, SessionStopped
from qqproto.gateway._intents import Intents
from qqproto.gateway._session import GatewaySession
from qqproto.models._parse import inbound_message
from qqproto.rest._client import RestClient
from qqproto.rest._conversation import reply_to
from qqproto.rest._replies import ReplyContext

from ._runners import TRANSPORTS, Reaction, TransportUnavailable, run_bot
from ._shared import BotSettings

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A one-line error for the user (exit status 2 unless stated)."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def _settings(args: argparse.Namespace, env: Mapping[str, str], **kw: Any) -> BotSettings:
    try:
        intents = Intents.parse(args.intents) if getattr(args, "intents", None) else None
        settings = BotSettings.from_env(env, **kw)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if intents is not None:
        settings = BotSettings(**{**_fields(settings), "intents": int(intents)})
    return settings


def _fields(settings: BotSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def _exit_for(stop: Stop, err: TextIO) -> int:
    if stop.fatal:
        print(f"qqproto: stopped: {stop.reason}", file=err)
        return EXIT_FAILED
    return EXIT_OK


def _dispatch_line(event: Dispatch) -> bytes:
    return _jsoncodec.dumps({"type": event.type, "seq": event.seq, "id": event.id,
                             "data": event.data})


def _describe(event: Event) -> str | None:
    if isinstance(event, Ready):
        return f"ready: session {event.session_id} as {event.user.username or event.user.id}"
    if isinstance(event, Resumed):
        return "resumed"
    if isinstance(event, Dispatch):
        return f"{event.type} seq={event.seq} id={event.id}"
    if isinstance(event, SessionStopped):
        return None
    return f"{type(event).__name__}"


# ---------------------------------------------------------------- listen and echo

def cmd_listen(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
               err: TextIO) -> int:
    settings = _settings(args, env, auto_mark_processed=False)
    budget = [args.max_events]

    def make_handler(_: GatewaySession) -> Any:
        def handle(event: Event, now: float) -> Reaction | None:
            if not isinstance(event, Dispatch):
                if not args.jsonl and (text := _describe(event)):
                    print(text, file=err, flush=True)
                return None
            if budget[0] is not None and budget[0] <= 0:
                return Reaction(stop=True, processed=False)  # past the limit: not printed
            if args.jsonl:
                out.buffer.write(_dispatch_line(event) + b"\n")
                out.flush()
            else:
                print(_describe(event), file=out, flush=True)
            counted = not isinstance(event, Ready | Resumed)
            if counted and budget[0] is not None:
                budget[0] -= 1
                if budget[0] == 0:
                    return Reaction(stop=True)
            return None
        return handle

    return _run(args, settings, make_handler, env, err)


def cmd_echo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
             err: TextIO) -> int:
    settings = _settings(args, env, auto_mark_processed=False)

    def make_handler(session: GatewaySession) -> Any:
        rest = RestClient(session.token_state)
        replies = ReplyContext()

        def handle(event: Event, now: float) -> Reaction | None:
            if not isinstance(event, Dispatch) or event.type not in (
                    "C2C_MESSAGE_CREATE", "GROUP_AT_MESSAGE_CREATE"):
                return None
            message = inbound_message(event)
            if message is None or not message.content:
                return None
            print(f"{message.scope.value} {message.chat_id} <- {message.content!r}",
                  file=out, flush=True)
            return Reaction(calls=reply_to(rest, replies, message, message.content, now=now))
        return handle

    return _run(args, settings, make_handler, env, err)


def _run(args: argparse.Namespace, settings: BotSettings, make_handler: Any,
         env: Mapping[str, str], err: TextIO) -> int:
    try:
        stop = run_bot(args.transport, settings, session_file=getattr(args, "session_file", None),
                       env=env, make_handler=make_handler)
    except TransportUnavailable as exc:
        raise CliError(str(exc)) from None
    except ApiError as exc:
        raise CliError(f"request failed: {exc}", EXIT_FAILED) from None
    return _exit_for(stop, err)


# ---------------------------------------------------------------- simulator and demo

def cmd_sim(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
            err: TextIO) -> int:
    from .sim_server import run_simulator_forever

    run_simulator_forever(port=args.port, app_id=args.app_id, secret=args.secret,
                          print_fn=lambda line: print(line, file=out, flush=True))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
             err: TextIO) -> int:
    from .demo import run_demo

    return run_demo(transport=args.transport, out=out)


# ---------------------------------------------------------------- the parser

def _configure_logging(verbosity: int, err: TextIO) -> Callable[[], None]:
    """Library logs stay off the terminal unless asked for (``-v`` warnings, ``-vv`` info,
    ``-vvv`` debug): the command's own output is the one-line contract.  Returns a
    function that puts the previous configuration back (``main`` may run in-process)."""
    levels = {1: logging.WARNING, 2: logging.INFO}
    saved = []
    for name in ("qqproto", "qqproto_transports", "httpx"):
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.propagate, logger.level))
        logger.handlers.clear()
        logger.propagate = False
        if verbosity <= 0:
            logger.addHandler(logging.NullHandler())
            logger.setLevel(logging.CRITICAL + 1)
        else:
            handler = logging.StreamHandler(err)
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(levels.get(verbosity, logging.DEBUG))

    def restore() -> None:
        for logger, handlers, propagate, level in saved:
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.setLevel(level)
    return restore


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qqproto", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="show library logs (-v warnings, -vv info, -vvv debug)")
    sub = parser.add_subparsers(dest="command", required=True)

    def transport(p: argparse.ArgumentParser) -> None:
        p.add_argument("--transport", choices=TRANSPORTS, default="asyncio",
                       help="the runtime that carries the connection (default: asyncio)")

    p = sub.add_parser("demo", help="run an echo bot against the embedded simulator")
    transport(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sim", help="run the simulator in the foreground")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    p.add_argument("--app-id", default="102000001")
    p.add_argument("--secret", default="qqproto-simulator-secret")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("listen", help="print every dispatch the bot receives")
    transport(p)
    p.add_argument("--jsonl", action="store_true", help="one JSON object per dispatch")
    p.add_argument("--max-events", type=int, default=None,
                   help="exit after N dispatches (READY/RESUMED not counted)")
    p.add_argument("--session-file", help="persist the session to resume after a restart")
    p.add_argument("--intents", help="e.g. 'default' or 'GROUP_AND_C2C_EVENT|INTERACTION'")
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("echo", help="answer every c2c and group @-message with its text")
    transport(p)
    p.add_argument("--session-file")
    p.add_argument("--intents")
    p.set_defaults(func=cmd_echo)
    from ._webhook_cli import add_webhook_parser
    add_webhook_parser(sub)
    from ._rest_cli import add_rest_parsers
    add_rest_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None,
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    restore_logging = _configure_logging(args.verbose, err)
    try:
        status: int = args.func(args, os.environ if env is None else env, out, err)
    except CliError as exc:
        print(f"qqproto: {exc}", file=err)
        return exc.status
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        restore_logging()
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
