"""The tutorial's blocking client (docs/examples/blocking_client.py) really works: run
against the embedded simulator on 127.0.0.1, as a script and in-process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

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
from qqproto.gateway import Backoff, GatewaySession, ReconnectPolicy, Stop
from qqproto.simulator import Simulator
from qqproto_transports.simulator import SimulatorThread

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "blocking_client.py"
USER = "E2E0C1A5F00D4B0B9C2D3E4F5A6B7C8D"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("blocking_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("blocking_client", module)
    spec.loader.exec_module(module)
    return module


example = _load_example()


def test_the_tutorial_client_echoes_and_says_goodbye_when_run_as_a_script() -> None:
    with SimulatorThread(Simulator(), lifetime=120.0) as server:
        # Injected before any session exists: the simulator delivers them after READY.
        hello = server.inject_c2c_message(USER, "hello")
        bye = server.inject_c2c_message(USER, "bye")
        env = {key: value for key, value in os.environ.items()
               if not key.upper().endswith("_PROXY")}
        env.update(server.env())
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "transports")])
        done = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        sent = server.sent_messages()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "event: Ready",
        f"message from {USER}: 'hello'",
        f"message from {USER}: 'bye'",
        "event: ConnectionEnded",
        "event: SessionStopped",
        "stopped: closed by the application",
    ]
    assert [(m.scope, m.target, m.content, m.msg_id, m.msg_seq) for m in sent] == [
        ("c2c", USER, "echo: hello", hello.data["id"], 1),
        ("c2c", USER, "bye!", bye.data["id"], 1),
    ]


def test_the_tutorial_driver_resumes_after_the_server_closes_with_4009() -> None:
    seen: list[Event] = []
    result: list[Stop] = []
    with SimulatorThread(Simulator(), lifetime=120.0) as server:
        server.inject_c2c_message(USER, "hello")
        session = GatewaySession(
            app_id=server.sim.app_id, secret=server.sim.secret,
            endpoints=example.Endpoints(api_base=server.api_base,
                                        token_url=server.token_url),
            policy=ReconnectPolicy(backoff=Backoff(base=0.0, cap=0.0)))
        echo = example.EventHandler(session)

        def handle(event: Event) -> None:
            seen.append(event)
            echo(event)
            if (isinstance(event, Dispatch) and event.type == "C2C_MESSAGE_CREATE"
                    and event.data["content"] == "hello"):
                server.close_connections(4009, "connection expired")
            if isinstance(event, Resumed):
                server.inject_c2c_message(USER, "bye")

        runner = threading.Thread(
            target=lambda: result.append(example.BlockingDriver(session).run(handle)),
            daemon=True)
        runner.start()
        runner.join(timeout=60)
        assert not runner.is_alive(), "the blocking client did not stop"
        counters = server.counters()
        sent = [m.content for m in server.sent_messages()]

    kinds = [type(event) for event in seen]
    assert kinds[0] is Ready
    ended = [event for event in seen if isinstance(event, ConnectionEnded)]
    assert ended[0].close_code == 4009
    assert ended[0].next_step is NextStep.RESUME
    assert kinds.index(Reconnecting) < kinds.index(Resumed) < kinds.index(SessionStopped)
    assert (counters.identifies, counters.resumes) == (1, 1)
    assert sent == ["echo: hello", "bye!"]
    assert result == [Stop(reason="closed by the application", fatal=False)]


def test_perform_returns_an_http_error_status_as_an_answer() -> None:
    with SimulatorThread(Simulator(), lifetime=60.0) as server:
        response = example.perform(example.HttpRequest(
            method="GET", url=f"{server.api_base}/no/such/route", timeout=10.0))
    assert response.status == 404
    assert response.body  # the simulator's JSON error body


def test_perform_raises_oserror_when_nothing_listens() -> None:
    with SimulatorThread(Simulator(), lifetime=60.0) as server:
        url = f"{server.api_base}/gateway"
    # The simulator has stopped: its port is closed now.
    with pytest.raises(OSError):
        example.perform(example.HttpRequest(method="GET", url=url, timeout=5.0))


def test_main_reads_the_endpoints_from_the_environment(monkeypatch: Any) -> None:
    captured: dict[str, Any] = {}

    class FakeDriver:
        def __init__(self, session: GatewaySession) -> None:
            captured["session"] = session

        def run(self, handle: Any) -> Stop:
            return Stop(reason="test", fatal=True)

    monkeypatch.setattr(example, "BlockingDriver", FakeDriver)
    code = example.main({"QQBOT_APP_ID": "42", "QQBOT_CLIENT_SECRET": "s3cret",
                         "QQBOT_API_BASE": "http://127.0.0.1:9", "QQBOT_TOKEN_URL":
                         "http://127.0.0.1:9/app/getAppAccessToken"})
    assert code == 1
    session = captured["session"]
    assert session.app_id == "42"
    assert session.endpoints.api_base == "http://127.0.0.1:9"
    assert session.endpoints.token_url == "http://127.0.0.1:9/app/getAppAccessToken"
    assert "s3cret" not in repr(session)


def test_the_event_handler_reports_a_failed_reply_instead_of_crashing(
        capsys: pytest.CaptureFixture[str]) -> None:
    session = GatewaySession(app_id="42", secret="x", endpoints=example.Endpoints(
        api_base="http://127.0.0.1:9", token_url="http://127.0.0.1:9/token"))
    handler = example.EventHandler(session)
    handler.rest = _FailingRest()
    handler(Dispatch(type="C2C_MESSAGE_CREATE", seq=1, id="C2C_MESSAGE_CREATE:1", data={
        "id": "m1", "content": "hi", "timestamp": "2025-01-01T00:00:00+08:00",
        "author": {"id": "a", "user_openid": USER}}))
    out = capsys.readouterr().out
    assert f"message from {USER}: 'hi'" in out
    assert "reply failed: refused" in out
    assert handler.session.state.name == "IDLE"  # no close for an ordinary message


class _FailingRest:
    def send_c2c_message(self, *args: Any, **kwargs: Any) -> Any:
        return _FailingCall()


class _FailingCall:
    def next_request(self, now: float) -> None:
        return None

    def result(self) -> None:
        raise example.ApiError("refused")


def test_the_in_memory_example_runs_a_whole_handshake_without_sockets(
        capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location(
        "in_memory", ROOT / "docs" / "examples" / "in_memory.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    assert capsys.readouterr().out.splitlines() == [
        "Ready: logged in as qqproto-sim-bot, seq 1",
        "Dispatch C2C_MESSAGE_CREATE: seq 2, 'hello'",
        "HeartbeatAcknowledged at t=24.0: latency 0.0",
        "state OPEN, last seq 2",
    ]
