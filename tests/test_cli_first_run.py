"""Every rough edge a first run of the command line found (issue 14), each a test:
one-line errors (bad or busy ports, a closed stdout), --version, -v after the
subcommand, help for every option, listen/echo connection news, upload limits,
directories, progress and Ctrl-C, and ``qqproto sim`` rendering replies, ACKs and
pushing signed webhooks, with ``qqproto onboard`` against the simulator's portal.

Processes are shared where they can be: the onboarding, ``sim --webhook`` and
``webhook serve`` run in one scenario.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qqproto import Button, Keyboard, Markdown, OutgoingMessage, Settings, __version__
from qqproto.errors import RateLimitedError
from qqproto.events import (
    ConnectionEnded,
    EndCause,
    NextStep,
    Reconnecting,
    UploadPhase,
    UploadProgress,
)
from qqproto.models import InteractionCreate, MessageEvent
from qqproto.simulator import Simulator, sim_portal
from qqproto_transports import threads
from qqproto_transports.cli import build_parser, main
from qqproto_transports.cli._common import describe
from qqproto_transports.cli._rest import ProgressPrinter, _guarded
from qqproto_transports.simulator import SimulatorThread

from .example_scripts import ROOT

QQPROTO = [sys.executable, "-m", "qqproto_transports.cli"]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "transports")])
    env.update(extra or {})
    return env


class Proc:
    """A ``qqproto`` child process whose stdout and stderr lines are collected."""

    def __init__(self, *args: str, env: dict[str, str], stdin: bool = False,
                 cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen([*QQPROTO, *args], env=env, cwd=cwd, text=True,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     encoding="utf-8")
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._collect, args=(stream, into), daemon=True).start()

    @staticmethod
    def _collect(stream: io.TextIOBase, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_line(self, pattern: str, *, err: bool = False, timeout: float = 20.0
                  ) -> re.Match[str]:
        lines = self.err if err else self.out
        deadline = time.monotonic() + timeout
        while True:
            for line in list(lines):
                if (found := re.search(pattern, line)) is not None:
                    return found
            if time.monotonic() > deadline or self.proc.poll() is not None:
                time.sleep(0.2)  # let the readers catch up once more
                for line in list(lines):
                    if (found := re.search(pattern, line)) is not None:
                        return found
                raise AssertionError(f"no line matching {pattern!r}:\nstdout: {self.out}\n"
                                     f"stderr: {self.err}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        status = self.proc.wait(timeout)
        time.sleep(0.05)
        return status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


# -- the parser ------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert (exit_.value.code, capsys.readouterr().out) == (0, f"qqproto {__version__}\n")


def test_verbose_goes_before_or_after_the_subcommand() -> None:
    parser = build_parser()
    args = parser.parse_args(["listen", "-vv"])
    assert (args.verbose, args.sub_verbose) == (0, 2)
    args = parser.parse_args(["-v", "webhook", "serve", "-v", "--port", "0"])
    assert (args.verbose, args.sub_verbose) == (1, 1)


def _parsers(parser: argparse.ArgumentParser, name: str = "qqproto"
             ) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub}")


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{name} {'/'.join(action.option_strings) or action.dest}"
               for name, parser in _parsers(build_parser())
               for action in parser._actions
               if not action.help or action.help == argparse.SUPPRESS]
    assert missing == []
    assert {name for name, _ in _parsers(build_parser())} >= {
        "qqproto onboard", "qqproto sim", "qqproto webhook serve", "qqproto upload"}


@pytest.mark.parametrize(("args", "line"), [
    (["sim", "--port", "99999"],
     "qqproto sim: argument --port: '99999' is not a port number (0 to 65535) "
     "(see 'qqproto sim --help')"),
    (["webhook", "serve", "--port", "-1"],
     "qqproto webhook serve: argument --port: '-1' is not a port number (0 to 65535) "
     "(see 'qqproto webhook serve --help')"),
    (["listen", "--nope"], "qqproto: unrecognized arguments: --nope (see 'qqproto --help')"),
    (["onboard", "--renewals", "x"],
     "qqproto onboard: argument --renewals: invalid int value: 'x' "
     "(see 'qqproto onboard --help')"),
])
def test_usage_errors_are_one_line_and_status_2(args: list[str], line: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert (exit_.value.code, capsys.readouterr().err) == (2, line + "\n")


# -- busy ports, bad URLs, bad files: one line, in process -----------------------------------


@pytest.mark.parametrize("args", [["sim"], ["sim", "--webhook", "http://127.0.0.1:9/x"],
                                  *(["webhook", "serve", "--transport", t]
                                    for t in ("asyncio", "trio", "threaded"))])
def test_a_busy_port_is_one_line_and_status_1(args: list[str]) -> None:
    for port in busy_port():
        out, err = io.StringIO(), io.StringIO()
        status = main([*args, "--port", str(port)], env={"QQBOT_CLIENT_SECRET": "s"},
                      out=out, err=err)
        assert (status, err.getvalue()) == (
            1, f"qqproto: cannot listen on 127.0.0.1:{port}: Address already in use\n")


@pytest.mark.parametrize(("args", "line"), [
    (["sim", "--webhook", "ftp://x"], "qqproto: --webhook 'ftp://x': not an http:// or "
                                      "https:// URL"),
    (["onboard", "--portal", "http://q.qq.com"], "qqproto: --portal: an http:// portal is "
     "accepted on 127.0.0.1 only: the bind key travels in the request"),
    (["onboard", "--env-file", "/"], "qqproto: --env-file /: is a directory"),
    (["onboard", "--env-file", "/no/such/dir/.env"],
     "qqproto: --env-file /no/such/dir/.env: no such directory '/no/such/dir'"),
    (["onboard", "--timeout", "0"],
     "qqproto: --timeout must be positive and --renewals at least 0"),
])
def test_bad_values_are_one_line(args: list[str], line: str) -> None:
    err = io.StringIO()
    assert main(args, env={}, out=io.StringIO(), err=err) == 2
    assert err.getvalue() == line + "\n"


def test_a_directory_and_a_file_over_the_limit_fail_before_anything_is_read(
        tmp_path: Path) -> None:
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as file:
        file.truncate(200 * 1024 * 1024 + 1)  # sparse: nothing is written
    env = {"QQBOT_APP_ID": "1", "QQBOT_CLIENT_SECRET": "s",
           "QQBOT_API_BASE": "http://127.0.0.1:9", "QQBOT_TOKEN_URL": "http://127.0.0.1:9/t"}
    err = io.StringIO()
    assert main(["upload", str(tmp_path), "--to", "c2c:U"], env=env, out=io.StringIO(),
                err=err) == 2
    assert err.getvalue() == f"qqproto: {tmp_path}: is a directory, not a file\n"
    err = io.StringIO()
    assert main(["upload", str(huge), "--to", "c2c:U"], env=env, out=io.StringIO(),
                err=err) == 1
    line = err.getvalue()
    assert line.startswith("qqproto: huge.bin") and line.count("\n") == 1
    assert "over the 209715200-byte limit" in line and "hashing" not in line


def test_an_error_never_shares_a_line_with_the_progress_bar() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True
    err = Tty()
    bar = ProgressPrinter(err, clock=lambda: 0.0, width=4)
    bar(UploadProgress(phase=UploadPhase.HASHING, bytes_done=1_000_000,
                       bytes_total=2_000_000))

    def job() -> int:
        raise RateLimitedError("slow down", code=22009)
    assert _guarded(job, err, bar) == 1
    assert err.getvalue().split("\n") == [
        "\rhashing   [##--]  50% 1.0/2.0 MB 1000000.0 MB/s",
        "qqproto: request failed: slow down code=22009", ""]


def test_connection_news_says_why_and_when() -> None:
    ended = ConnectionEnded(cause=EndCause.SERVER_CLOSED, next_step=NextStep.RESUME,
                            close_code=4009, close_reason="session timed out")
    assert describe(ended) == ("connection ended: server closed (close code 4009 "
                               "'session timed out'); next: resume")
    lost = ConnectionEnded(cause=EndCause.CONNECTION_LOST, next_step=NextStep.STOP,
                           detail="reset by peer")
    assert describe(lost) == "connection ended: connection lost: reset by peer; next: stop"
    again = Reconnecting(at=12.5, attempt=2, next_step=NextStep.IDENTIFY,
                         reason="token request failed: ConnectError: refused")
    assert describe(again, 10.0) == ("reconnecting in 2.5 s to identify (attempt 2) after: "
                                     "token request failed: ConnectError: refused")
    assert describe(Reconnecting(at=1.0, attempt=1, next_step=NextStep.RESUME)) == (
        "reconnecting to resume (attempt 1)")


# -- processes ---------------------------------------------------------------------------


def test_onboard_sim_webhook_and_webhook_serve_work_together(
        tmp_path: Path, procs: list[Proc]) -> None:
    """``qqproto sim --webhook`` pushes signed callbacks to ``qqproto webhook serve``,
    renders a bot's markdown, keyboard, media and ACKs, and serves the portal that
    ``qqproto onboard`` gets its credentials from (``scan`` at the sim's console)."""
    serve = Proc("webhook", "serve", "--port", "0", "--transport", "threaded",
                 env=clean_env({"QQBOT_CLIENT_SECRET": "qqproto-simulator-secret",
                                "QQBOT_APP_ID": "102000001"}))
    procs.append(serve)
    url = serve.wait_line(r"^listening on (\S+)", err=True).group(1)
    sim = Proc("sim", "--webhook", url, env=clean_env(), stdin=True)
    procs.append(sim)
    api_base = sim.wait_line(r"^QQBOT_API_BASE=(\S+)").group(1)
    sim.wait_line(r"^# simulator ready")
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nOTHER=1\nQQBOT_APP_ID=old\n")
    onboard = Proc("onboard", "--env-file", str(env_file), "--timeout", "60",
                   env=clean_env({"QQBOT_PORTAL_BASE": api_base}))
    procs.append(onboard)

    # a bot on the sim's gateway: markdown with a keyboard, a picture, taps ACKed
    sim_env = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in sim.out
               if line.startswith("QQBOT_")}
    bot = threads.Bot(Settings.from_env(sim_env), env={})
    picture = ROOT / "docs" / "examples" / "hello.png"

    @bot.on(MessageEvent)
    def ask(event: MessageEvent) -> None:
        if event.message.content == "picture":
            media = bot.upload(picture, event.message.scope, event.message.chat_id)
            bot.reply(event, OutgoingMessage(media=media.file_info))
        else:
            bot.reply(event, OutgoingMessage(markdown=Markdown("**Ship it?**"),
                                             keyboard=Keyboard([[Button(
                                                 id="y", label="Yes", data="vote:yes")]])))

    bot.on(InteractionCreate)(lambda event: bot.reply(event, "noted"))
    bot.start()
    try:
        task = sim.wait_line(r"^portal: bind task (\w+) created").group(1)
        sim.send("c2c ALICE hello")
        sim.wait_line(r"^bot -> c2c ALICE: markdown '\*\*Ship it\?\*\*'$")
        sim.wait_line(r"^    \[Yes → vote:yes\]$")
        sim.send("c2c ALICE picture")
        sim.wait_line(r"^bot -> c2c ALICE: media SIMFILE")
        sim.send("button c2c ALICE vote:yes")
        sim.wait_line(r"^bot acked tap \S+: 0 \(success\)$")
        sim.wait_line(r"^bot -> c2c ALICE: 'noted' \(answers tap \S+\)$")
        sim.send(f"scan {task} OWNER_OPENID")
        sim.wait_line(rf"^portal: bind task {task} handed out app id 102000001")
        assert onboard.proc.wait(20) == 0
        for line in ("C2C_MESSAGE_CREATE", "INTERACTION_CREATE"):  # signed and verified
            serve.wait_line(rf"^{line} seq=\d+ id=")
    finally:
        bot.close()
    assert serve.stop() == 0
    sim.send("quit")
    assert sim.proc.wait(20) == 0

    time.sleep(0.1)
    assert any("█" in line for line in onboard.out)  # the QR code is drawn
    assert f"  {api_base}/qqbot/openclaw/connect.html?task_id={task}&_wv=2" in onboard.out
    assert onboard.out[-2:] == [
        f"wrote QQBOT_APP_ID=102000001 and QQBOT_CLIENT_SECRET (hidden) to {env_file} "
        "(mode 0600)", "scanned by user_openid OWNER_OPENID"]
    assert re.fullmatch(r"waiting for the scan \(\d+ s left\)", onboard.err[0])
    assert env_file.read_text() == ("# mine\nOTHER=1\nQQBOT_APP_ID=102000001\n"
                                    "QQBOT_CLIENT_SECRET=qqproto-simulator-secret\n")
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert not any("qqproto-simulator-secret" in line for line in onboard.out + onboard.err)


@pytest.mark.parametrize("outcome", ["expire", "fail", "html"])
def test_onboard_fails_with_one_line_when_the_code_expires_or_the_portal_refuses(
        tmp_path: Path, outcome: str) -> None:
    with SimulatorThread(Simulator()) as server:
        portal = server.call(lambda s, now: sim_portal(s))
        if outcome == "expire":
            server.call(lambda s, now: setattr(portal, "task_lifetime", 0.5))
        else:
            server.call(lambda s, now: portal.fail_next(
                20001 if outcome == "fail" else "html", "bind disabled"))
        out, err = io.StringIO(), io.StringIO()
        status = main(["onboard", "--env-file", str(tmp_path / ".env"), "--renewals", "0",
                       "--no-qr"], env={"QQBOT_PORTAL_BASE": server.api_base}, out=out,
                      err=err)
    expected = {"expire": "qqproto: the QR code expired before it was scanned",
                "fail": "qqproto: onboarding failed (retcode 20001): create_bind_task: "
                        "bind disabled",
                "html": "qqproto: the portal answered with a web page (HTTP 200, its "
                        "anti-bot check) instead of JSON; try again later"}[outcome]
    assert (status, err.getvalue().splitlines()[-1]) == (1, expected)
    assert "█" not in out.getvalue()
    assert not (tmp_path / ".env").exists()


def test_listen_piped_to_a_closed_reader_stops_with_one_line() -> None:
    transports = ("asyncio", "trio", "threaded")
    servers = [SimulatorThread(Simulator()).start() for _ in transports]
    try:
        pipes = [subprocess.Popen(
            f"{sys.executable} -m qqproto_transports.cli listen --jsonl --transport {t} "
            "| head -1", shell=True, env=clean_env(server.env()), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True) for t, server in zip(transports, servers,
                                                                     strict=True)]
        deadline = time.monotonic() + 20
        while not all(s.counters().identifies for s in servers) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        for server in servers:
            for _ in range(3):
                server.inject_c2c_message("U", "more")
        results = [pipe.communicate(timeout=20) for pipe in pipes]
    finally:
        for server in servers:
            server.stop()
    for out, err in results:
        assert out.startswith('{"type":"READY"') and out.count("\n") == 1
        assert err == ("ready: session 37ebdcd9-e87a-4613-a443-df789558867f as "
                       "qqproto-sim-bot\nqqproto: standard output was closed; stopped\n")


def test_listen_and_echo_say_what_happens_to_the_connection(procs: list[Proc]) -> None:
    with SimulatorThread(Simulator()) as server, SimulatorThread(Simulator()) as other:
        listen = Proc("listen", env=clean_env(server.env()))
        echo = Proc("echo", "--transport", "trio", env=clean_env(other.env()))
        unreachable = Proc("listen", env=clean_env({
            "QQBOT_APP_ID": "1", "QQBOT_CLIENT_SECRET": "s",
            "QQBOT_API_BASE": "http://127.0.0.1:9",
            "QQBOT_TOKEN_URL": "http://127.0.0.1:9/token"}))
        procs.extend((listen, echo, unreachable))
        listen.wait_line(r"^ready: session \S+ as qqproto-sim-bot$", err=True)
        echo.wait_line(r"^echoing every c2c and group @-message; Ctrl-C stops$", err=True)
        other.inject_c2c_message("U1", "ping")
        echo.wait_line(r"^c2c U1 <- 'ping'$")
        server.inject_c2c_message("U1", "ping")
        listen.wait_line(r"^C2C_MESSAGE_CREATE seq=2 id=")
        server.close_connections(4009, "session timed out")
        other.close_connections(4009, "session timed out")
        for proc in (listen, echo):
            proc.wait_line(r"^connection ended: server closed \(close code 4009 'session "
                           r"timed out'\)(: [^;]+)?; next: resume$", err=True)
            proc.wait_line(r"^reconnecting in \d+\.\d s to resume \(attempt \d\)$", err=True)
            proc.wait_line(r"^resumed$", err=True)
        unreachable.wait_line(r"^reconnecting in \d+\.\d s to identify \(attempt 1\) after: "
                              r"token request failed: \w+", err=True)
        assert [p.stop() for p in procs] == [0, 0, 0]
    assert listen.out[0].startswith("C2C_MESSAGE_CREATE seq=2")  # READY went to stderr


def test_ctrl_c_stops_an_upload_with_status_130(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts, never answers: the token request hangs
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        base = f"http://127.0.0.1:{silent.getsockname()[1]}"
        (tmp_path / "a.bin").write_bytes(b"x" * 1000)
        proc = Proc("upload", str(tmp_path / "a.bin"), "--to", "c2c:U",
                    env=clean_env({"QQBOT_APP_ID": "1", "QQBOT_CLIENT_SECRET": "s",
                                   "QQBOT_API_BASE": base, "QQBOT_TOKEN_URL": base + "/t"}))
        conn, _ = silent.accept()
        with conn:
            assert proc.stop(signal.SIGINT) == 130
    time.sleep(0.1)
    assert proc.err == ["qqproto: interrupted"]

