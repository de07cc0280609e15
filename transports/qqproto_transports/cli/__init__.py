"""The ``qqproto`` command line: demo, sim, listen, echo, send, upload, webhook serve,
onboard.

Endpoints come from ``QQBOT_API_BASE``/``QQBOT_TOKEN_URL`` (production by default) and
credentials from ``QQBOT_APP_ID``/``QQBOT_CLIENT_SECRET``.  Errors are one line on stderr
and a non-zero exit status; secrets never appear in either.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, NoReturn, TextIO

from qqproto import Settings, __version__
from qqproto.errors import ApiError
from qqproto.events import Dispatch, Event, Ready, Resumed
from qqproto.models import C2CMessageCreate, GroupAtMessageCreate, parse_event

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    TRANSPORTS,
    CliError,
    check_callback_url,
    closed_output,
    describe,
    exit_for,
    os_reason,
    port_number,
    print_dispatch,
    settings_from,
)
from ._onboard import add_onboard_parser
from ._rest import add_rest_parsers
from ._run import Reaction, run_events
from ._webhook import add_webhook_parser

__all__ = ["build_parser", "main"]

#: What ``echo`` answers (rest.md §2.4: passive replies to these).
_ECHOED = (C2CMessageCreate, GroupAtMessageCreate)


def cmd_listen(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
               err: TextIO) -> int:
    # Marked after printing when the session outlives the process (a session file or a
    # store): a restart then neither loses nor repeats a line.  Otherwise the bot marks
    # each event as it delivers it: the queue it waits in lives as long as the session.
    durable = bool(getattr(args, "session_file", None) or getattr(args, "store", None))
    settings = settings_from(env, args, auto_mark_processed=not durable)
    budget = [args.max_events]

    def handle(event: Event, now: float) -> Reaction | None:
        if type(event) is Dispatch and budget[0] is None:  # most events: print, go on
            print_dispatch(event, out, jsonl=args.jsonl, flush=False)
            return None
        if _news(event, now, err) and not args.jsonl:
            return None  # READY/RESUMED: on stderr only, unless --jsonl wants them
        if not isinstance(event, Dispatch):
            return None
        if budget[0] is not None and budget[0] <= 0:
            return Reaction(stop=True, processed=False)  # past the limit: not printed
        print_dispatch(event, out, jsonl=args.jsonl, flush=False)  # the runner flushes
        counted = not isinstance(event, Ready | Resumed)
        if counted and budget[0] is not None:
            budget[0] -= 1
            if budget[0] == 0:
                return Reaction(stop=True)
        return None

    return _run_gateway(args, settings, handle, env, err, flush=out.flush)


def cmd_echo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
             err: TextIO) -> int:
    settings = settings_from(env, args, auto_mark_processed=False)

    def handle(event: Event, now: float) -> Reaction | None:
        if _news(event, now, err) and isinstance(event, Ready):
            print("echoing every c2c and group @-message; Ctrl-C stops", file=err,
                  flush=True)
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


def _news(event: Event, now: float, err: TextIO) -> bool:
    """Connection news on stderr (ready, resumed, why a connection ended, when the next
    attempt comes and after what failure).  True for READY and RESUMED."""
    if isinstance(event, Dispatch) and not isinstance(event, Ready | Resumed):
        return False
    text = describe(event, now)
    if text:
        print(text, file=err, flush=True)
    return isinstance(event, Ready | Resumed)


def _run_gateway(args: argparse.Namespace, settings: Settings,
                 handle: Callable[[Event, float], Reaction | None],
                 env: Mapping[str, str], err: TextIO, *,
                 flush: Callable[[], None] | None = None) -> int:
    session_file = getattr(args, "session_file", None)

    def make_bot(driver: ModuleType) -> tuple[Any, Any]:
        return driver.Bot(settings, session_file=session_file, env=dict(env)), handle

    try:
        stop = run_events(args.transport, make_bot, flush)
    except ApiError as exc:
        raise CliError(f"request failed: {exc}", EXIT_FAILED) from None
    return exit_for(stop, err)


# ---------------------------------------------------------------- simulator and demo

def cmd_sim(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
            err: TextIO) -> int:
    from ..simulator import run_simulator_forever

    if args.webhook is not None:
        check_callback_url(args.webhook)
    try:
        run_simulator_forever(port=args.port, app_id=args.app_id, secret=args.secret,
                              print_fn=lambda line: print(line, file=out, flush=True),
                              webhook=args.webhook)
    except OSError as exc:
        raise CliError(f"cannot listen on 127.0.0.1:{args.port}: {os_reason(exc)}",
                       EXIT_FAILED) from None
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


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (status 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


_VERBOSE_HELP = "show library logs (-v warnings, -vv info, -vvv debug)"


def _every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found += _every_parser(child)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qqproto", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"qqproto {__version__}",
                        help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do (qqproto COMMAND --help for its options)")

    def transport(p: argparse.ArgumentParser) -> None:
        p.add_argument("--transport", choices=TRANSPORTS, default="asyncio",
                       help="the runtime that carries the connection (default: asyncio)")

    p = sub.add_parser("demo", help="run an echo bot against the embedded simulator")
    transport(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sim", help="run the simulator in the foreground")
    p.add_argument("--port", type=port_number, default=0,
                   help="TCP port on 127.0.0.1 (default 0: any free port)")
    p.add_argument("--app-id", default="102000001",
                   help="the app id the simulator accepts (default 102000001)")
    p.add_argument("--secret", default="qqproto-simulator-secret",
                   help="the client secret it accepts (a fake; default "
                        "qqproto-simulator-secret)")
    p.add_argument("--webhook", metavar="URL",
                   help="also push every event to this webhook callback URL, signed with "
                        "the secret (try it with qqproto webhook serve)")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("listen", help="print every dispatch the bot receives")
    transport(p)
    p.add_argument("--jsonl", action="store_true", help="one JSON object per dispatch")
    p.add_argument("--max-events", type=int, default=None,
                   help="exit after N dispatches (READY/RESUMED not counted)")
    p.add_argument("--session-file", help="persist the session to resume after a restart")
    p.add_argument("--intents", help="e.g. 'default' or 'GROUP_AND_C2C_EVENT|INTERACTION'")
    p.add_argument("--store", metavar="URL",
                   help="memory:, file:PATH, sqlite:PATH or redis://… (shared by instances)")
    p.add_argument("--shards", metavar="N|auto",
                   help="run N shards (auto: /gateway/bot's recommendation)")
    p.add_argument("--shards-per-process", metavar="N", type=int,
                   help="with a shared --store: take at most N of them (leases)")
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("echo", help="answer every c2c and group @-message with its text")
    transport(p)
    p.add_argument("--session-file", help="persist the session to resume after a restart")
    p.add_argument("--intents", help="e.g. 'default' or 'GROUP_AND_C2C_EVENT|INTERACTION'")
    p.set_defaults(func=cmd_echo)
    add_webhook_parser(sub)
    add_rest_parsers(sub)
    add_onboard_parser(sub)
    for child in _every_parser(parser)[1:]:  # -v after the subcommand too
        if not any("-v" in a.option_strings for a in child._actions):
            child.add_argument("-v", "--verbose", action="count", default=0,
                               dest="sub_verbose", help=_VERBOSE_HELP)
    return parser


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None,
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    restore_logging = _configure_logging(args.verbose + getattr(args, "sub_verbose", 0), err)
    try:
        status: int = args.func(args, os.environ if env is None else env, out, err)
    except CliError as exc:
        print(f"qqproto: {exc}", file=err)
        return exc.status
    except KeyboardInterrupt:
        return EXIT_OK
    except BaseException as exc:
        if not closed_output(exc):
            raise
        return _output_closed(out, err)
    finally:
        restore_logging()
    return status


def _output_closed(out: TextIO, err: TextIO) -> int:
    """The reader of stdout went away (``qqproto listen | head -1``): one line, status 1,
    and no second error when Python flushes stdout at exit."""
    with contextlib.suppress(OSError, ValueError):
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    with contextlib.suppress(OSError):
        print("qqproto: standard output was closed; stopped", file=err, flush=True)
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
