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
from types import ModuleType
from typing import Any, TextIO

from qqproto import Settings
from qqproto.errors import ApiError
from qqproto.events import Dispatch, Event, Ready, Resumed
from qqproto.models import C2CMessageCreate, GroupAtMessageCreate, parse_event

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    TRANSPORTS,
    CliError,
    describe,
    exit_for,
    print_dispatch,
    settings_from,
)
from ._rest import add_rest_parsers
from ._run import Reaction, run_events
from ._webhook import add_webhook_parser

__all__ = ["build_parser", "main"]

#: What ``echo`` answers (rest.md §2.4: passive replies to these).
_ECHOED = (C2CMessageCreate, GroupAtMessageCreate)


def cmd_listen(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
               err: TextIO) -> int:
    settings = settings_from(env, args, auto_mark_processed=False)
    budget = [args.max_events]

    def handle(event: Event, now: float) -> Reaction | None:
        if not isinstance(event, Dispatch):
            if not args.jsonl and (text := describe(event)):
                print(text, file=err, flush=True)
            return None
        if budget[0] is not None and budget[0] <= 0:
            return Reaction(stop=True, processed=False)  # past the limit: not printed
        print_dispatch(event, out, jsonl=args.jsonl)
        counted = not isinstance(event, Ready | Resumed)
        if counted and budget[0] is not None:
            budget[0] -= 1
            if budget[0] == 0:
                return Reaction(stop=True)
        return None

    return _run_gateway(args, settings, handle, env, err)


def cmd_echo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
             err: TextIO) -> int:
    settings = settings_from(env, args, auto_mark_processed=False)

    def handle(event: Event, now: float) -> Reaction | None:
        if not isinstance(event, Dispatch):
            return None
        parsed = parse_event(event)
        if not isinstance(parsed, _ECHOED) or not parsed.message.content:
            return None
        message = parsed.message
        print(f"{message.scope.value} {message.chat_id} <- {message.content!r}",
              file=out, flush=True)
        return Reaction(reply=(parsed, message.content))

    return _run_gateway(args, settings, handle, env, err)


def _run_gateway(args: argparse.Namespace, settings: Settings,
                 handle: Callable[[Event, float], Reaction | None],
                 env: Mapping[str, str], err: TextIO) -> int:
    session_file = getattr(args, "session_file", None)

    def make_bot(driver: ModuleType) -> tuple[Any, Any]:
        return driver.Bot(settings, session_file=session_file, env=dict(env)), handle

    try:
        stop = run_events(args.transport, make_bot)
    except ApiError as exc:
        raise CliError(f"request failed: {exc}", EXIT_FAILED) from None
    return exit_for(stop, err)


# ---------------------------------------------------------------- simulator and demo

def cmd_sim(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
            err: TextIO) -> int:
    from ..simulator import run_simulator_forever

    run_simulator_forever(port=args.port, app_id=args.app_id, secret=args.secret,
                          print_fn=lambda line: print(line, file=out, flush=True))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
             err: TextIO) -> int:
    from ._demo import run_demo

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
    add_webhook_parser(sub)
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
