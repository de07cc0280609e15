"""The simulator's portal (rest.md §8) and console transcript, sans-IO: an
OnboardSession talks to a Simulator in memory (no socket), through every outcome."""

from __future__ import annotations

from typing import Any

import pytest

from qqproto.events import (
    OnboardBlocked,
    OnboardDone,
    OnboardExpired,
    OnboardFailed,
    OnboardPending,
    OnboardQrCode,
)
from qqproto.onboarding import OnboardSession, OnboardState
from qqproto.rest import HttpResponse
from qqproto.simulator import (
    InteractionAck,
    SentMessage,
    SimRequest,
    Simulator,
    describe_ack,
    describe_sent,
    run_command,
    sim_portal,
)

PORTAL = "http://127.0.0.1:1"
KEY = bytes(range(32))


def exchange(sim: Simulator, session: OnboardSession, now: float,
             accept: bool = True) -> list[Any]:
    """Carry out the session's requests against ``sim`` in memory; its events."""
    while (cmd := session.next_command()) is not None:
        request = cmd.request
        headers = tuple(h for h in request.headers if accept or h[0] != "Accept")
        path = request.url.removeprefix(PORTAL)
        answer = sim.handle_request(SimRequest(
            connection_id=1, method=request.method, path=path, query="", headers=headers,
            body=request.body, trace_id="t"), now)
        session.http_response(cmd.id, HttpResponse(status=answer.status,
                                                   headers=answer.headers,
                                                   body=answer.body), now)
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def tick(sim: Simulator, session: OnboardSession) -> tuple[float, list[Any]]:
    when = session.get_timer()
    assert when is not None
    session.handle_timer(when)
    return when, exchange(sim, session, when)


def test_scan_completes_the_task_with_the_simulators_credentials() -> None:
    sim = Simulator(app_id="4242", secret="sim-secret")
    session = OnboardSession(KEY, portal=PORTAL)
    session.start(0.0)
    [qr] = exchange(sim, session, 0.0)
    assert isinstance(qr, OnboardQrCode)
    assert qr.url == f"{PORTAL}/qqbot/openclaw/connect.html?task_id={qr.task_id}&_wv=2"
    assert sim_portal(sim).take_notices() == [
        f"portal: bind task {qr.task_id} created; type 'scan {qr.task_id} USER_OPENID' "
        "to complete it"]
    assert tick(sim, session)[1] == [OnboardPending(task_id=qr.task_id, status=0,
                                                    attempt=1, deadline=300.0)]
    result = run_command(sim, f"scan {qr.task_id} OWNER_1", 3.0)
    assert (result.text, result.ok) == (f"bind task {qr.task_id} scanned by OWNER_1", True)
    _, [done] = tick(sim, session)
    assert isinstance(done, OnboardDone)
    assert (done.app_id, done.client_secret.reveal(), done.user_openid) == (
        "4242", "sim-secret", "OWNER_1")
    assert sim_portal(sim).tasks[qr.task_id].polls == 2
    assert sim_portal(sim).take_notices() == [
        f"portal: bind task {qr.task_id} handed out app id 4242 to the client"]


def test_the_portal_expires_tasks_by_command_and_by_age() -> None:
    sim = Simulator()
    session = OnboardSession(KEY, portal=PORTAL, timeout=10_000)
    session.start(0.0)
    [qr] = exchange(sim, session, 0.0)
    assert run_command(sim, f"expire {qr.task_id}", 1.0).text == f"bind task {qr.task_id} expired"
    assert tick(sim, session)[1] == [OnboardExpired(task_id=qr.task_id, by_portal=True)]
    sim_portal(sim).task_lifetime = 1.0  # the next task lives 1 s; the poll comes at 2 s
    session.renew(bytes(32), 3.0)
    [qr2] = exchange(sim, session, 3.0)
    assert tick(sim, session) == (5.0, [OnboardExpired(task_id=qr2.task_id, by_portal=True)])


@pytest.mark.parametrize(("command", "outcome"), [
    ("portal fail 100012 too many tasks",
     OnboardFailed(retcode=100012, message="create_bind_task: too many tasks")),
    ("portal html", OnboardBlocked(status=200, content_type="text/html; charset=utf-8")),
])
def test_portal_faults_reach_the_client_typed(command: str, outcome: object) -> None:
    sim = Simulator()
    assert run_command(sim, command, 0.0).ok
    session = OnboardSession(KEY, portal=PORTAL)
    session.start(0.0)
    assert exchange(sim, session, 0.0) == [outcome]
    assert session.state is OnboardState.FAILED


def test_a_request_without_accept_json_gets_the_anti_bot_page() -> None:
    session = OnboardSession(KEY, portal=PORTAL)
    session.start(0.0)
    [blocked] = exchange(Simulator(), session, 0.0, accept=False)
    assert blocked == OnboardBlocked(status=200, content_type="text/html; charset=utf-8")


def test_unknown_tasks_and_bad_keys_are_refused_with_retcodes() -> None:
    sim = Simulator()
    def post(path: str, body: bytes) -> bytes:
        return sim.handle_request(SimRequest(
            connection_id=1, method="POST", path=path, query="", body=body, trace_id="t",
            headers=(("Accept", "application/json"),)), 0.0).body
    assert post("/lite/create_bind_task", b'{"key":"c2hvcnQ="}') == (
        b'{"retcode":10001,"msg":"key must be base64 of 32 bytes"}')
    assert post("/lite/poll_bind_result", b'{"task_id":"nope"}') == (
        b'{"retcode":10002,"msg":"no such task"}')
    assert post("/lite/poll_bind_result", b"[") == (
        b'{"retcode":10001,"msg":"body is not JSON"}')
    page = sim.handle_request(SimRequest(
        connection_id=1, method="GET", path="/qqbot/openclaw/connect.html",
        query="task_id=T%2F1&_wv=2", body=b"", trace_id="t", headers=()), 0.0)
    assert b"scan T/1 USER_OPENID" in page.body


@pytest.mark.parametrize(("line", "text"), [
    ("scan", "error: usage: scan TASK_ID USER_OPENID (type 'help')"),
    ("scan NOPE U", "error: no waiting bind task 'NOPE'"),
    ("expire NOPE", "error: no waiting bind task 'NOPE'"),
    ("portal fail x", "error: usage: portal fail RETCODE [message] or portal html "
                      "(type 'help')"),
])
def test_portal_commands_explain_their_mistakes(line: str, text: str) -> None:
    result = run_command(Simulator(), line, 0.0)
    assert (result.text, result.ok) == (text, False)


def sent(body: dict[str, Any], **fields: Any) -> SentMessage:
    return SentMessage(id="m", scope="c2c", target="U1", body=body, at=0.0, **fields)


def test_the_transcript_shows_what_the_user_sees() -> None:
    keyboard = {"content": {"rows": [
        {"buttons": [{"id": "y", "render_data": {"label": "Yes"},
                      "action": {"type": 1, "data": "vote:yes"}},
                     {"id": "d", "render_data": {"label": "Docs"},
                      "action": {"type": 0, "data": "https://q.qq.com"}}]},
        {"buttons": [{"render_data": {"label": "Later"}, "action": {"type": 2}}]}]}}
    assert describe_sent(sent({"msg_type": 0, "content": "hi"}, msg_id="x", msg_seq=1)) == (
        "bot -> c2c U1: 'hi'")
    assert describe_sent(sent({"msg_type": 2, "markdown": {"content": "**Ship?**"},
                               "keyboard": keyboard}, msg_id="x", msg_seq=1)) == (
        "bot -> c2c U1: markdown '**Ship?**'\n"
        "    [Yes → vote:yes] [Docs ↗ https://q.qq.com]\n"
        "    [Later →]")
    assert describe_sent(sent({"msg_type": 7, "media": {"file_info": "SIMFILE0123456789abcdef"},
                               "content": " "}, event_id="E1")) == (
        "bot -> c2c U1: ' ', media SIMFILE012345678… (answers tap E1)")
    assert describe_sent(sent({"msg_type": 2, "markdown": {"custom_template_id": "T"},
                               "keyboard": {"id": "K"}})) == (
        "bot -> c2c U1: markdown template T\n    keyboard template K")
    assert describe_sent(sent({"msg_type": 3, "ark": {"template_id": 23}})) == (
        "bot -> c2c U1: ark template 23")
    assert describe_sent(sent({"msg_type": 6, "input_notify": {}})) == "bot -> c2c U1: typing…"
    assert describe_sent(sent({"image": "https://x/y.png"})) == (
        "bot -> c2c U1: image https://x/y.png")
    assert describe_sent(sent({"msg_type": 0})) == "bot -> c2c U1: <none>"
    assert describe_ack(InteractionAck(interaction_id="I1", code=0, at=0.0, body={})) == (
        "bot acked tap I1: 0 (success)")
    assert describe_ack(InteractionAck(interaction_id="I2", code=9, at=0.0, body={})) == (
        "bot acked tap I2: 9 (?)")
