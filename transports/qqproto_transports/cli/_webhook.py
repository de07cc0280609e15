"""``qqproto webhook serve``: receive callbacks, verify them, print them like ``listen``.

The secret comes from ``QQBOT_CLIENT_SECRET``; ``QQBOT_APP_ID``, when set, must match each
request's ``X-Bot-Appid``.  The first line on stderr is ``listening on <url>`` (with the
real port when ``--port 0``).  Dispatches go to stdout, one line each (``--jsonl``: one
JSON object with ``type``, ``seq``, ``id``, ``data``), flushed per line; each is
acknowledged (op 12 ``d = 0``) once printed.  Validations and rejected requests are
reported on stderr unless ``--jsonl``.  SIGINT/SIGTERM stop cleanly with status 0.
"""

from __future__ import annotations

import argparse
import ssl
import threading
from collections.abc import Mapping
from types import ModuleType
from typing import Any, TextIO

from qqproto import Settings
from qqproto.events import (
    Dispatch,
    Event,
    HeartbeatAnswered,
    RequestRejected,
    ValidationAnswered,
    WebhookServing,
)
from qqproto.webhook import WebhookPolicy

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    TRANSPORTS,
    CliError,
    os_reason,
    port_number,
    print_dispatch,
    settings_from,
)
from ._run import Reaction, run_events

__all__ = ["add_webhook_parser", "cmd_webhook_serve"]

#: What the printer wants done with an event: mark it, fail it, and maybe stop.
MARK, FAIL, IGNORE = "mark", "fail", "ignore"


def add_webhook_parser(subparsers: Any) -> None:
    """Add ``webhook serve`` to the ``qqproto`` parser's subcommands."""
    webhook = subparsers.add_parser("webhook", help="the webhook (HTTP callback) channel")
    sub = webhook.add_subparsers(dest="webhook_command", required=True, metavar="COMMAND",
                                 help="serve: receive, verify and print callbacks")
    p = sub.add_parser("serve", help="verify and print every callback, like listen")
    p.add_argument("--transport", choices=TRANSPORTS, default="asyncio",
                   help="the runtime that serves the connections (default: asyncio)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=port_number, default=8080,
                   help="TCP port (default 8080; 0: any free port)")
    p.add_argument("--path", default="/qqbot", help="the callback path (default /qqbot)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per dispatch")
    p.add_argument("--max-events", type=int, default=None, help="exit after N dispatches")
    p.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM)")
    p.add_argument("--keyfile", help="the certificate's private key (PEM)")
    p.add_argument("--store", metavar="URL",
                   help="memory:, file:PATH, sqlite:PATH or redis://… (shared by instances)")
    p.set_defaults(func=cmd_webhook_serve)


class _Printer:
    """Prints events; says what to do with each (thread-safe: observers call it too)."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args, self.out, self.err = args, out, err
        self.left = args.max_events
        self.lock = threading.Lock()

    def event(self, event: Event) -> str:
        with self.lock:
            if isinstance(event, WebhookServing):
                print(f"listening on {event.url}", file=self.err, flush=True)
            if not isinstance(event, Dispatch):
                return IGNORE
            if self.left is not None and self.left <= 0:
                return FAIL  # past the limit: not printed, the platform redelivers it
            print_dispatch(event, self.out, jsonl=self.args.jsonl)
            if self.left is not None:
                self.left -= 1
            return MARK

    @property
    def done(self) -> bool:
        return self.left is not None and self.left <= 0

    def observe(self, event: Event) -> None:
        if self.args.jsonl:
            return
        if isinstance(event, RequestRejected):
            line = f"rejected request {event.request}: {event.status} {event.reason}"
        elif isinstance(event, ValidationAnswered):
            line = "callback URL validation answered"
        elif isinstance(event, HeartbeatAnswered):
            line = "heartbeat answered"
        else:
            return
        with self.lock:
            print(line, file=self.err, flush=True)


def _settings(env: Mapping[str, str], args: argparse.Namespace | None = None) -> Settings:
    """Like the gateway commands', but the app id may be left out: a webhook server can
    verify signatures with the secret alone (it then skips the ``X-Bot-Appid`` check)."""
    if not env.get("QQBOT_CLIENT_SECRET", ""):
        raise CliError("set QQBOT_CLIENT_SECRET")
    app_id = env.get("QQBOT_APP_ID", "").strip()
    return settings_from({**env, "QQBOT_APP_ID": app_id or "-"}, args,
                         auto_mark_processed=False).replace(app_id=app_id)


def _server_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.certfile and not args.keyfile:
        return None
    if not args.certfile:
        raise CliError("--keyfile needs --certfile")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(args.certfile, args.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot load the certificate: {exc.strerror or exc}") from None
    return context


def cmd_webhook_serve(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
                      err: TextIO) -> int:
    settings = _settings(env, args)
    try:
        policy = WebhookPolicy(path=args.path, app_id=settings.app_id or None)
    except ValueError as exc:
        raise CliError(f"--path: {exc}") from None
    options = {"host": args.host, "port": args.port, "policy": policy,
               "server_ssl_context": _server_context(args), "env": dict(env)}
    printer = _Printer(args, out, err)

    def make_bot(driver: ModuleType) -> tuple[Any, Any]:
        bot = driver.WebhookBot(settings, **options)
        bot.observers.append(printer.observe)

        def handle(event: Event, now: float) -> Reaction:
            verdict = printer.event(event)
            return Reaction(processed=verdict == MARK, failed=verdict == FAIL,
                            stop=printer.done)
        return bot, handle

    try:
        run_events(args.transport, make_bot)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {os_reason(exc)}",
                       EXIT_FAILED) from None
    return EXIT_OK
