"""``qqproto onboard``: get a bot's credentials by scanning a QR code (rest.md §8).

::

    qqproto onboard [--env-file PATH] [--portal URL] [--timeout SECONDS] [--renewals N]

It draws the portal's QR code on the terminal (and prints its URL), waits for the scan
with a progress line on stderr, then writes ``QQBOT_APP_ID`` and ``QQBOT_CLIENT_SECRET``
into the env file (``.env``), created with mode 0600 and replaced atomically; other lines
of an existing file are kept.  The secret is never printed.  ``--portal`` (or
``QQBOT_PORTAL_BASE``) points it at another portal, such as ``qqproto sim``'s.  The
protocol is :class:`qqproto.onboarding.OnboardSession`'s; this file only shows it.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from qqproto.events import (
    Event,
    OnboardBlocked,
    OnboardDone,
    OnboardExpired,
    OnboardFailed,
    OnboardPending,
    OnboardQrCode,
)
from qqproto.onboarding import DEADLINE, PORTAL_BASE, portal_base

from ..onboarding import new_session, run_onboarding
from ._common import EXIT_FAILED, EXIT_OK, CliError

__all__ = ["add_onboard_parser", "cmd_onboard", "write_env_file"]

_KEYS: Final = ("QQBOT_APP_ID", "QQBOT_CLIENT_SECRET")
_ASSIGNMENT: Final = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def add_onboard_parser(sub: Any) -> None:
    p = sub.add_parser("onboard", help="get a bot's credentials by scanning a QR code")
    p.add_argument("--env-file", default=".env", metavar="PATH",
                   help="where QQBOT_APP_ID and QQBOT_CLIENT_SECRET go (default .env; "
                        "created with mode 0600, other lines kept)")
    p.add_argument("--portal", metavar="URL",
                   help="the portal's base URL (default $QQBOT_PORTAL_BASE, else "
                        f"{PORTAL_BASE}); http:// only on 127.0.0.1, such as qqproto sim's")
    p.add_argument("--timeout", type=float, default=DEADLINE, metavar="SECONDS",
                   help=f"how long one QR code is waited for (default {DEADLINE:.0f})")
    p.add_argument("--renewals", type=int, default=2, metavar="N",
                   help="draw a fresh QR code up to N times when one expires (default 2)")
    p.add_argument("--no-qr", action="store_true",
                   help="print the URL only, not the QR code")
    p.set_defaults(func=cmd_onboard)


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` in the env file at ``path``: its other lines are kept, the file is
    replaced atomically and is readable by its owner only (0600) from the first byte."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    left = dict(values)
    out = []
    for line in lines:
        found = _ASSIGNMENT.match(line)
        if found and found.group(1) in values:
            if found.group(1) in left:
                out.append(f"{found.group(1)}={left.pop(found.group(1))}")
            continue
        out.append(line)
    out += [f"{key}={value}" for key, value in left.items()]
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".qqproto-", suffix=".env")
    try:  # mkstemp creates the file with mode 0600
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write("\n".join(out) + "\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class _Screen:
    """Shows the session's events: the QR code and URL on ``out``, progress on ``err``
    (one line redrawn on a terminal, a line per change otherwise)."""

    def __init__(self, out: TextIO, err: TextIO, *, draw_qr: bool) -> None:
        self.out, self.err, self.draw_qr = out, err, draw_qr
        self.tty = err.isatty()
        self.status: int | None = None
        self.open_line = False

    def end_line(self) -> None:
        if self.open_line:
            self.err.write("\n")
            self.err.flush()
            self.open_line = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, OnboardQrCode):
            self.end_line()
            self.status = None
            if self.draw_qr:
                import segno

                segno.make(event.url, error="m").terminal(out=self.out, compact=True,
                                                          border=2)
            print(f"Scan this QR code with QQ on your phone, or open:\n  {event.url}",
                  file=self.out, flush=True)
            self._progress(0, event.deadline)
        elif isinstance(event, OnboardPending):
            self._progress(event.status, event.deadline)
        else:
            self.end_line()

    def _progress(self, status: int, deadline: float) -> None:
        what = ("scanned: confirm in QQ" if status == 1 else "waiting for the scan")
        left = max(0, round(deadline - time.monotonic()))
        if self.tty:
            self.err.write(f"\r{what} … {left // 60}:{left % 60:02d} left ")
            self.open_line = True
            self.err.flush()
        elif status != self.status:
            print(f"{what} ({left} s left)", file=self.err, flush=True)
        self.status = status


def _env_path(value: str) -> Path:
    path = Path(value)
    if path.is_dir():
        raise CliError(f"--env-file {value}: is a directory")
    if not path.parent.is_dir():
        raise CliError(f"--env-file {value}: no such directory {str(path.parent)!r}")
    return path


def cmd_onboard(args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
                err: TextIO) -> int:
    try:
        portal = portal_base(args.portal or env.get("QQBOT_PORTAL_BASE") or PORTAL_BASE)
    except ValueError as exc:
        raise CliError(f"--portal: {exc}") from None
    if args.timeout <= 0 or args.renewals < 0:
        raise CliError("--timeout must be positive and --renewals at least 0")
    path = _env_path(args.env_file)
    screen = _Screen(out, err, draw_qr=not args.no_qr)
    renewals = [args.renewals]

    def renew(expired: OnboardExpired) -> bool:
        screen.end_line()
        if renewals[0] <= 0:
            return False
        renewals[0] -= 1
        print("the QR code expired; here is a new one", file=err, flush=True)
        return True

    session = new_session(portal, timeout=args.timeout)
    try:
        outcome = run_onboarding(session, screen, renew=renew, env=env)
    finally:
        screen.end_line()
    if isinstance(outcome, OnboardDone):
        write_env_file(path, {"QQBOT_APP_ID": outcome.app_id,
                              "QQBOT_CLIENT_SECRET": outcome.client_secret.reveal()})
        print(f"wrote QQBOT_APP_ID={outcome.app_id} and QQBOT_CLIENT_SECRET (hidden) to "
              f"{path} (mode 0600)", file=out, flush=True)
        if outcome.user_openid:
            print(f"scanned by user_openid {outcome.user_openid}", file=out, flush=True)
        return EXIT_OK
    raise CliError(_why(outcome), EXIT_FAILED)


def _why(outcome: Event) -> str:
    if isinstance(outcome, OnboardExpired):
        return ("the QR code expired before it was scanned" if outcome.by_portal
                else "nobody scanned the QR code in time")
    if isinstance(outcome, OnboardBlocked):
        return (f"the portal answered with a web page (HTTP {outcome.status}, its anti-bot "
                "check) instead of JSON; try again later")
    if isinstance(outcome, OnboardFailed):
        code = f" (retcode {outcome.retcode})" if outcome.retcode is not None else ""
        return f"onboarding failed{code}: {outcome.message}"
    return f"onboarding ended: {type(outcome).__name__}"
