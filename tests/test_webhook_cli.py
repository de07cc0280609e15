"""``qqproto webhook serve`` as a real process on 127.0.0.1, fed by the simulator's pusher;
usage errors through ``main()`` in-process."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from qqproto.events import (
    Dispatch,
    HeartbeatAnswered,
    RequestRejected,
    SessionStopped,
    ValidationAnswered,
    WebhookConnectionClosed,
    WebhookServing,
)
from qqproto.simulator._webhook_push import PushOutcome, WebhookPusher
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.cli import main
from qqproto_transports.cli._webhook import FAIL, IGNORE, MARK, _Printer

from .support.tls import LocalTLS
from .webhook_client import APP_ID, SECRET, RawClient, dispatch, forged, request

ROOT = Path(__file__).resolve().parent.parent
TRANSPORTS = ["asyncio", "trio", "threaded"]
ENV = {"QQBOT_CLIENT_SECRET": SECRET, "QQBOT_APP_ID": APP_ID}


class Serve:
    """A ``qqproto webhook serve --port 0`` process; its output lines collected as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, **ENV, **(env or {}),
                    "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "transports")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qqproto_transports.cli", "webhook", "serve", "--port", "0",
             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env)
        self.out: list[bytes] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for reader in self._readers:
            reader.start()
        self.wait_for(lambda: bool(self.err), "the listening line")
        words = self.err[0].split()
        assert words[:2] == ["listening", "on"], self.err
        self.url = words[2]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.out.append(raw)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.err.append(raw.decode().rstrip("\n"))

    def wait_for(self, predicate: Any, what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                raise AssertionError(f"exited early: {self.finish()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.out} {self.err}")
            time.sleep(0.02)

    def finish(self, timeout: float = 20.0) -> int:
        status = self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(5)
        return status

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.finish()


def push(url: str, events: list[str], *, ssl_context: ssl.SSLContext | None = None,
         ) -> list[tuple[str | None, PushOutcome]]:
    pusher = WebhookPusher(callback_url=url, secret=SECRET, app_id=APP_ID)
    with WebhookPushThread(pusher, ssl_context=ssl_context) as thread:
        for event_id in events:
            thread.push_event("C2C_MESSAGE_CREATE", {"id": event_id, "content": "hi"},
                              event_id=event_id)
        assert thread.wait_idle(15)
        return [(a.event_id, a.outcome) for a in thread.attempts()]


# ---------------------------------------------------------------------------- serving

@pytest.mark.parametrize("transport", TRANSPORTS)
def test_jsonl_prints_each_verified_dispatch_and_sigterm_exits_0(transport: str) -> None:
    serve = Serve("--jsonl", "--transport", transport)
    assert serve.url == f"http://127.0.0.1:{serve.port}/qqbot"
    assert push(serve.url, ["E1", "E2"]) == [
        (None, PushOutcome.VALIDATED), ("E1", PushOutcome.ACKED), ("E2", PushOutcome.ACKED)]
    serve.wait_for(lambda: len(serve.out) == 2, "two lines")
    assert [json.loads(line) for line in serve.out] == [
        {"type": "C2C_MESSAGE_CREATE", "seq": n, "id": f"E{n}",
         "data": {"id": f"E{n}", "content": "hi"}} for n in (1, 2)]
    assert serve.stop(signal.SIGTERM) == 0
    assert serve.err == [f"listening on {serve.url}"]  # --jsonl keeps stderr quiet


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_plain_output_reports_validation_and_rejections_and_sigint_exits_0(
        transport: str) -> None:
    serve = Serve("--transport", transport, "--path", "/hook")
    assert serve.url.endswith("/hook")
    push(serve.url, ["E1"])
    body = dispatch("E9")
    signature = request(body).split(b"X-Signature-Ed25519: ")[1][:128].decode()
    with RawClient(serve.port) as client:
        assert client.exchange(request(body, path="/hook",
                                       signature=forged(signature))).status == 401
        assert client.exchange(request(body, path="/hook", app_id="123")).status == 403
    serve.wait_for(lambda: len(serve.err) >= 4, "the stderr report")
    assert serve.stop(signal.SIGINT) == 0
    assert serve.out == [b"C2C_MESSAGE_CREATE seq=1 id=E1\n"]
    assert serve.err == [f"listening on {serve.url}", "callback URL validation answered",
                         "rejected request 1: 401 signature does not verify",
                         "rejected request 2: 403 X-Bot-Appid does not match this bot"]


def test_max_events_exits_by_itself_after_n_dispatches() -> None:
    serve = Serve("--jsonl", "--max-events", "1")
    outcomes = push(serve.url, ["E1"])
    assert outcomes[-1] == ("E1", PushOutcome.ACKED)
    assert serve.finish() == 0
    assert [json.loads(line)["id"] for line in serve.out] == ["E1"]


def test_https_with_certfile_and_keyfile(tmp_path: Path, local_tls: LocalTLS,
                                         tls_client_context: ssl.SSLContext) -> None:
    pem = tmp_path / "server.pem"
    local_tls.server_cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    serve = Serve("--jsonl", "--certfile", str(pem))
    assert serve.url.startswith("https://127.0.0.1:")
    assert push(serve.url, ["T1"], ssl_context=tls_client_context)[-1] == (
        "T1", PushOutcome.ACKED)
    serve.wait_for(lambda: len(serve.out) == 1, "the line")
    assert serve.stop() == 0


def test_without_an_app_id_the_appid_header_is_not_checked() -> None:
    serve = Serve("--jsonl", env={"QQBOT_APP_ID": ""})
    with RawClient(serve.port) as client:
        assert client.exchange(request(dispatch("E1"), app_id="anything")).status == 200
    serve.wait_for(lambda: len(serve.out) == 1, "the line")
    assert serve.stop() == 0


# ---------------------------------------------------------------------------- errors

def run_main(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["webhook", "serve", *argv], env=ENV if env is None else env, out=out,
                  err=err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("argv", "env", "message"), [
    ((), {"QQBOT_APP_ID": APP_ID}, "qqproto: set QQBOT_CLIENT_SECRET\n"),
    (("--path", "qqbot"), None,
     "qqproto: --path: path must start with '/' and carry no query string\n"),
    (("--keyfile", "k.pem"), None, "qqproto: --keyfile needs --certfile\n"),
    (("--certfile", "/nonexistent/cert.pem"), None,
     "qqproto: cannot load the certificate: No such file or directory\n"),
])
def test_usage_errors_are_one_line_and_exit_2(argv: tuple[str, ...], env: dict[str, str] | None,
                                              message: str) -> None:
    assert run_main(*argv, env=env) == (2, "", message)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_port_in_use_is_one_line_and_exit_1(transport: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, out, err = run_main("--port", str(port), "--transport", transport)
    assert (status, out) == (1, "")
    assert err == f"qqproto: cannot listen on 127.0.0.1:{port}: Address already in use\n"


# ---------------------------------------------------------------------------- the printer

class _Out(io.StringIO):
    """A text stream with a ``buffer`` like sys.stdout's."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


def _printer(*argv: str) -> tuple[_Printer, _Out, io.StringIO]:
    from qqproto_transports.cli import build_parser

    args = build_parser().parse_args(["webhook", "serve", *argv])
    out, err = _Out(), io.StringIO()
    return _Printer(args, out, err), out, err


def test_the_printer_marks_printed_dispatches_and_fails_those_past_the_limit() -> None:
    printer, out, err = _printer("--max-events", "1")
    serving = WebhookServing(url="http://127.0.0.1:1/qqbot", host="127.0.0.1", port=1)
    first = Dispatch(type="T", seq=1, id="E1", data={})
    assert printer.event(serving) == IGNORE
    assert printer.event(first) == MARK and printer.done
    assert printer.event(Dispatch(type="T", seq=2, id="E2", data={})) == FAIL
    assert printer.event(SessionStopped(reason="x", fatal=False)) == IGNORE
    assert out.getvalue() == "T seq=1 id=E1\n"
    assert err.getvalue() == "listening on http://127.0.0.1:1/qqbot\n"


def test_the_printer_writes_jsonl_to_the_binary_buffer_and_keeps_observers_quiet() -> None:
    printer, out, err = _printer("--jsonl")
    printer.event(Dispatch(type="T", seq=None, id=None, data={"k": "雪"}))
    printer.observe(RequestRejected(request=1, status=401, reason="x"))
    assert json.loads(out.buffer.getvalue()) == {"type": "T", "seq": None, "id": None,
                                                 "data": {"k": "雪"}}
    assert err.getvalue() == "" and not printer.done


def test_the_printer_reports_observed_events_in_plain_mode() -> None:
    printer, _, err = _printer()
    printer.observe(RequestRejected(request=3, status=415, reason="content type"))
    printer.observe(ValidationAnswered(request=4, plain_token="t"))
    printer.observe(HeartbeatAnswered(request=5, seq=None))
    printer.observe(WebhookConnectionClosed(reason="idle timeout"))
    assert err.getvalue().splitlines() == [
        "rejected request 3: 415 content type", "callback URL validation answered",
        "heartbeat answered"]
