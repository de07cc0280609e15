"""Every code block of docs/first-bot.rst is a file under docs/examples/, and each runs
here: the bot as a script (as a user starts it, stopped with Ctrl-C), the FastAPI
variant fed by the simulator's
signed webhook pushes, and the production files checked against the files they name.
The page's test file, test_first_bot.py, runs under pytest (with the ``qq_simulator``
plugin found through its entry point) in tests/test_writing_a_bot.py's pytest process;
the console commands (``qqproto sim``, ``qqproto onboard``) in
tests/test_cli_first_run.py."""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from qqproto.simulator import Simulator
from qqproto_transports.pytest_plugin import QQSimulator
from qqproto_transports.simulator import SimulatorThread

from .example_scripts import EXAMPLES, ROOT, BotScript, sent_count

#: The page's files, each run or checked by a test below.
FIRST_BOT = ("first_bot.py", "first_bot_webhook.py", "test_first_bot.py",
             "first-bot.service", "first-bot.Dockerfile", "hello.png")


def test_the_bot_runs_as_a_script_logs_keeps_its_session_and_stops_on_ctrl_c(
        tmp_path: Path) -> None:
    session = tmp_path / "bot.session"
    with SimulatorThread(Simulator(), lifetime=60) as sim, \
            BotScript(EXAMPLES / "first_bot.py", sim,
                      {"BOT_SESSION_FILE": str(session)}) as bot:
        bot.until(lambda: sim.counters().identifies, "the bot to connect")
        hello = sim.inject_c2c_message("USER_1", "hello")
        sim.inject_c2c_message("USER_1", "menu")
        [echo, menu] = bot.until(sent_count(sim, 2), "two replies")
        status, _out, err = bot.interrupt()
    assert (status, "Traceback" in err) == (0, False), err
    assert (echo.content, echo.msg_id) == ("hello", hello.data["id"])
    assert menu.body["markdown"] == {"content": "**What next?**"}
    assert re.search(r"^\S+ \S+ INFO qqproto\.\w+: ", err, re.M), err  # logging is on
    assert "session_id" in session.read_text(encoding="utf-8")  # resumable next time


def test_the_same_handlers_answer_webhooks_under_fastapi(
        qq_simulator: QQSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in qq_simulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import first_bot_webhook  # built from the environment just set

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(first_bot_webhook.app, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        push = qq_simulator.push_webhook(f"http://127.0.0.1:{listener.getsockname()[1]}/qqbot")
        qq_simulator.send_c2c("USER_1", "menu")
        [menu] = qq_simulator.wait_replies(1)
        tap = qq_simulator.tap("USER_1", "menu:picture")
        [picture] = qq_simulator.wait_replies(1)
        assert push.wait_idle()
    finally:
        server.should_exit = True
        thread.join(15)
        listener.close()
        sys.modules.pop("first_bot_webhook", None)
    assert menu.buttons == [("Say hi", "menu:hi"), ("A picture", "menu:picture")]
    assert (picture.event_id, picture.body["msg_type"]) == (tap.id, 7)
    assert [a.outcome.name for a in push.attempts()] == ["VALIDATED", "ACKED", "ACKED"]


def test_the_production_files_name_files_that_exist() -> None:
    unit = (EXAMPLES / "first-bot.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/first-bot/.venv/bin/python first_bot.py" in unit
    assert "EnvironmentFile=/opt/first-bot/.env" in unit and "BOT_SESSION_FILE=" in unit
    docker = (EXAMPLES / "first-bot.Dockerfile").read_text(encoding="utf-8")
    [copy] = re.findall(r"^COPY (.+) \./$", docker, re.M)
    assert all((EXAMPLES / name).is_file() for name in copy.split())
    assert 'CMD ["python", "first_bot.py"]' in docker


def test_every_file_of_the_page_is_shown_on_it() -> None:
    page = (ROOT / "docs" / "first-bot.rst").read_text(encoding="utf-8")
    shown = set(re.findall(r"^\.\. literalinclude:: examples/(\S+)", page, re.M))
    assert shown == set(FIRST_BOT) - {"hello.png"}
    assert all((EXAMPLES / name).is_file() for name in FIRST_BOT)
