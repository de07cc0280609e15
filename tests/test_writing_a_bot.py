"""Every example of docs/writing-a-bot.rst runs against the simulator on 127.0.0.1, on
each driver it exists for, and does what the page says it does.

Scripts run as a user runs them (a child process with the ``QQBOT_*`` variables, ended
with Ctrl-C, which must exit 0 without a traceback); the transport-neutral handlers and
the FastAPI app run in this process.  The page's own tests (docs/examples/test_*.py) run
under pytest as a user would run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
import trio
import uvicorn

from qqproto import Settings
from qqproto.simulator import Simulator, WebhookPusher, sim_uploads
from qqproto_transports import asyncio as asyncio_driver
from qqproto_transports import threads as threads_driver
from qqproto_transports import trio as trio_driver
from qqproto_transports._sim_webhook import WebhookPushThread
from qqproto_transports.simulator import SimulatorThread

from .example_scripts import EXAMPLES, ROOT, BotScript, acks, script_env, sent_count

DRIVERS = ("asyncio", "trio", "threads")
USER = "USER_1"
#: The scripts that exist once per driver, by kind: run as a user runs them.
SCRIPTS = {kind: {driver: EXAMPLES / f"{kind}_{driver}.py" for driver in DRIVERS}
           for kind in ("echo", "bot", "webhook")}
#: Run in this process (the neutral handlers on every driver; the FastAPI app).
IN_PROCESS = ("neutral.py", "fastapi_app.py")
#: The page's own tests, run under pytest.
#: first-bot.rst's test file runs in the same pytest process (one start-up for both pages).
PYTEST_FILES = ("test_bot.py", "test_bot_threads.py", "test_first_bot.py")
#: Run by tests/test_docs_examples.py (the driver tutorial and the in-memory connection)
#: or by the test file of their own page.
ELSEWHERE = ("blocking_client.py", "in_memory.py", "approvals_bot.py", "media_bot.py",
             "first_bot.py", "first_bot_webhook.py")
ELSEWHERE_TESTS = ("test_docs_examples.py", "loopback/test_approvals.py",
                   "loopback/test_media.py", "test_first_bot.py")


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name}", EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clean_exit(status: int, err: str) -> None:
    assert (status, "Traceback" in err) == (0, False), err


# -- step 1: the echo bot ---------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_echo_bot_answers_private_and_group_messages_and_stops_on_ctrl_c(
        driver: str) -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim, \
            BotScript(SCRIPTS["echo"][driver], sim) as bot:
        bot.until(lambda: sim.counters().identifies, "the bot to connect")
        private = sim.inject_c2c_message(USER, "hello")
        group = sim.inject_group_at_message("GROUP_1", "MEMBER_1", "hi all")
        sent = bot.until(sent_count(sim, 2), "two replies")
        status, _out, err = bot.interrupt()
    assert sorted((m.scope, m.target, m.content, m.msg_id, m.msg_seq) for m in sent) == [
        ("c2c", USER, "hello", private.data["id"], 1),
        ("group", "GROUP_1", "hi all", group.data["id"], 1)]
    clean_exit(status, err)


# -- the page's bot: buttons, taps, an upload, a long reply, handlers by type and event ---


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_page_bot_answers_every_command_it_documents(driver: str) -> None:
    script = SCRIPTS["bot"][driver]
    with SimulatorThread(Simulator(), lifetime=60) as sim, BotScript(script, sim) as bot:
        assert bot.read_line() == "logged in as qqproto-sim-bot"  # @bot.on(Ready)
        echo = sim.inject_c2c_message(USER, "hello")
        bot.until(sent_count(sim, 1), "the echo")
        poll = sim.inject_c2c_message(USER, "poll")
        bot.until(sent_count(sim, 2), "the poll")
        tap = sim.inject_interaction("c2c", user_openid=USER, button_id="yes",
                                     button_data="vote:yes")
        bot.until(sent_count(sim, 3), "the answer to the tap")
        acked = bot.until(lambda: acks(sim), "the ACK")
        upload = sim.inject_c2c_message(USER, "file")
        bot.until(sent_count(sim, 4), "the file")
        stored = sim.call(lambda s, now: list(sim_uploads(s).stored))
        rules = sim.inject_c2c_message(USER, "rules")
        bot.until(sent_count(sim, 6), "the rules in two parts")
        sim.dispatch("FRIEND_ADD", {"openid": "USER_2", "timestamp": 1735689600})
        sent = bot.until(sent_count(sim, 7), "the greeting")
        status, out, err = bot.interrupt()

    reply, question, answer, media, first, second, greeting = sent
    assert (reply.content, reply.msg_id, reply.msg_seq) == ("hello", echo.data["id"], 1)

    assert (question.msg_id, question.body["msg_type"]) == (poll.data["id"], 2)
    assert question.body["markdown"] == {"content": "**Ship the release?**"}
    [row] = question.body["keyboard"]["content"]["rows"]
    assert [(b["id"], b["action"]["data"], b["render_data"]["style"])
            for b in row["buttons"]] == [("yes", "vote:yes", 1), ("no", "vote:no", 0)]

    assert acked == [(tap.data["id"], 0)]
    assert (answer.content, answer.event_id, answer.msg_seq) == ("Noted: vote:yes", tap.id, 1)

    source = script.read_bytes()
    [record] = stored
    assert (record.scope, record.target, record.file_type, record.file_name) == (
        "c2c", USER, 4, script.name)
    assert (record.size, record.verified) == (len(source), True)
    assert record.hashes is not None
    assert record.hashes.md5 == hashlib.md5(source).hexdigest()
    assert media.body["msg_type"] == 7
    assert media.body["media"] == {"file_info": record.file_info}
    assert (media.msg_id, media.msg_seq) == (upload.data["id"], 1)

    assert first.content + second.content == load_example(script.name).RULES
    assert [(m.msg_id, m.msg_seq) for m in (first, second)] == [
        (rules.data["id"], 1), (rules.data["id"], 2)]
    assert all(len(m.content) <= 4000 for m in (first, second))

    assert (greeting.scope, greeting.target, greeting.passive) == ("c2c", "USER_2", False)
    assert greeting.content == "Thanks for adding me! Say 'poll'."

    assert out.splitlines() == ["stopped: closed by the application"]  # SessionStopped
    clean_exit(status, err)


# -- transport-neutral handlers ---------------------------------------------------------


@contextlib.contextmanager
def running(driver: str, bot: Any) -> Iterator[None]:
    """``bot.run()`` on its own runtime in a background thread until the block ends."""
    started = threading.Event()
    stop: list[Callable[[], object]] = []
    errors: list[BaseException] = []

    async def on_asyncio() -> None:
        loop = asyncio.get_running_loop()
        stop.append(lambda: loop.call_soon_threadsafe(bot.close))
        started.set()
        await bot.run(handle_signals=False)

    async def on_trio() -> None:
        token = trio.lowlevel.current_trio_token()
        stop.append(lambda: token.run_sync_soon(bot.close))
        started.set()
        await bot.run(handle_signals=False)

    def main() -> None:
        try:
            if driver == "asyncio":
                asyncio.run(on_asyncio())
            elif driver == "trio":
                trio.run(on_trio)
            else:
                stop.append(bot.close)
                started.set()
                bot.run(handle_signals=False)
        except BaseException as exc:
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield
    finally:
        if stop:
            stop[0]()
        thread.join(15)
        assert not thread.is_alive(), "run() did not return after close()"
        assert errors == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_transport_neutral_handler_runs_unchanged_on_every_driver(driver: str) -> None:
    neutral = load_example(IN_PROCESS[0])
    module = {"asyncio": asyncio_driver, "trio": trio_driver, "threads": threads_driver}
    with SimulatorThread(Simulator(), lifetime=60) as sim:
        bot = module[driver].Bot(Settings.from_env(sim.env()), env={})
        neutral.install(bot)
        with running(driver, bot):
            _wait(lambda: sim.counters().identifies)
            sim.inject_c2c_message(USER, "not for this handler")
            event = sim.inject_group_at_message("GROUP_1", "MEMBER_1", "hello")
            [sent] = _wait(sent_count(sim, 1))
    assert (sent.scope, sent.target, sent.content) == ("group", "GROUP_1",
                                                       "MEMBER_1 said: hello")
    assert (sent.msg_id, sent.msg_seq) == (event.data["id"], 1)


def _wait(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


# -- the webhook channel --------------------------------------------------------------------


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_webhook_bot_echoes_what_the_platform_pushes(driver: str) -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim, \
            BotScript(SCRIPTS["webhook"][driver], sim, {"PORT": "0"}) as bot:
        line = bot.read_line()  # @bot.on(WebhookServing)
        match = re.fullmatch(r"serving (http://127\.0\.0\.1:\d+/qqbot)", line)
        assert match is not None, line
        pusher = WebhookPusher(callback_url=match.group(1), secret=sim.sim.secret,
                               app_id=sim.sim.app_id, retry_delay=0.05)
        with WebhookPushThread(pusher) as push:
            push.attach(sim)
            hello = sim.inject_c2c_message(USER, "over the webhook")
            [sent] = bot.until(sent_count(sim, 1), "the reply")
            assert push.wait_idle()
            outcomes = [a.outcome.name for a in push.attempts()]
        status, _out, err = bot.interrupt()
    assert outcomes == ["VALIDATED", "ACKED"]
    assert (sent.content, sent.msg_id, sent.msg_seq) == ("over the webhook",
                                                        hello.data["id"], 1)
    clean_exit(status, err)


def test_the_fastapi_app_answers_on_its_exact_route_and_closes_with_the_app(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with SimulatorThread(Simulator(), lifetime=60) as sim:
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        example = load_example(IN_PROCESS[1])
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(example.app, log_level="warning",
                                               lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]},
                                  daemon=True)
        thread.start()
        try:
            _wait(lambda: server.started)
            pusher = WebhookPusher(callback_url=f"http://127.0.0.1:{port}/qqbot",
                                   secret=sim.sim.secret, app_id=sim.sim.app_id,
                                   retry_delay=0.05)
            with WebhookPushThread(pusher) as push:
                push.attach(sim)
                hello = sim.inject_c2c_message(USER, "via fastapi")
                [sent] = _wait(sent_count(sim, 1))
                assert push.wait_idle()
                attempts = [(a.outcome.name, a.status) for a in push.attempts()]
        finally:
            server.should_exit = True
            thread.join(15)
            listener.close()
    assert attempts == [("VALIDATED", 200), ("ACKED", 200)]  # no 307 on POST /qqbot
    assert (sent.content, sent.msg_id) == ("via fastapi", hello.data["id"])
    assert example.webhook.stopped is not None  # the app's lifespan closed the webhook


# -- testing a bot: the page's own pytest files ----------------------------------------------


def test_the_page_testing_examples_pass_under_pytest() -> None:
    with SimulatorThread(Simulator(), lifetime=5) as sim:  # only for a clean environment
        env = script_env(sim)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o",
         "addopts=", *PYTEST_FILES], cwd=EXAMPLES, env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout


# -- the rule the page keeps -----------------------------------------------------------------


def test_every_example_is_shown_on_a_page_and_run_by_a_test() -> None:
    run = {path.name for paths in SCRIPTS.values() for path in paths.values()}
    run |= {*IN_PROCESS, *PYTEST_FILES}
    docs_examples_test = "".join((ROOT / "tests" / name).read_text("utf-8")
                                 for name in ELSEWHERE_TESTS)
    run |= {name for name in ELSEWHERE if name in docs_examples_test}
    assert {path.name for path in EXAMPLES.glob("*.py")} == run
    pages = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.rst"))
    included = set(re.findall(r"^\.\. literalinclude:: examples/(\S+\.py)", pages, re.M))
    assert included == run, "every example is included by a page, and only those"
