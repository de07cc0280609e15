"""QR onboarding (rest.md §8) as a sans-IO saga: the exact requests, every outcome the
issue names (pending, done, expired, failed with a retcode, an anti-bot page), time
moved by arithmetic, and a hypothesis machine that plays the portal at random."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from qqproto import Secret
from qqproto.errors import LocalProtocolError, SecretDecryptError, TransitionError
from qqproto.events import (
    OnboardBlocked,
    OnboardDone,
    OnboardExpired,
    OnboardFailed,
    OnboardPending,
    OnboardQrCode,
)
from qqproto.gateway import SendHttpRequest
from qqproto.onboarding import (
    TRANSITIONS,
    OnboardSession,
    OnboardState,
    connect_url,
    open_secret,
    portal_base,
    seal_secret,
)
from qqproto.rest import HttpResponse

KEY = bytes(range(32))
KEY2 = bytes(range(32, 64))
IV = bytes(12)
PORTAL = "https://q.qq.com"


def answer(body: Any, status: int = 200, content_type: str = "application/json"
           ) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, headers=(("Content-Type", content_type),), body=raw)


def created(task_id: Any = "TASK-1") -> HttpResponse:
    return answer({"retcode": 0, "data": {"task_id": task_id}})


def status(value: Any, **extra: Any) -> HttpResponse:
    return answer({"retcode": 0, "data": {"status": value, **extra}})


def completed(secret: str = "s3cret", key: bytes = KEY, app_id: Any = "102000001"
              ) -> HttpResponse:
    return status(2, bot_appid=app_id, bot_encrypt_secret=seal_secret(secret, key, IV),
                  user_openid="OWNER")


def command(session: OnboardSession) -> SendHttpRequest:
    cmd = session.next_command()
    assert cmd is not None and session.next_command() is None
    return cmd


def events(session: OnboardSession) -> list[Any]:
    out = []
    while (event := session.next_event()) is not None:
        out.append(event)
    return out


def shown(now: float = 0.0, **options: Any) -> OnboardSession:
    """A session whose QR code is shown at ``now`` (the create answered)."""
    session = OnboardSession(KEY, **options)
    session.start(now)
    session.http_response(command(session).id, created(), now)
    assert [type(e) for e in events(session)] == [OnboardQrCode]
    return session


def poll(session: OnboardSession, response: HttpResponse) -> None:
    """Move time to the next poll, send it, answer it at once."""
    when = session.get_timer()
    assert when is not None
    session.handle_timer(when)
    session.http_response(command(session).id, response, when)


# -- the requests ----------------------------------------------------------------------


def test_the_create_request_carries_the_key_in_base64_and_asks_for_json() -> None:
    session = OnboardSession(KEY)
    session.start(0.0)
    cmd = command(session)
    assert (cmd.request.method, cmd.request.url) == ("POST", PORTAL + "/lite/create_bind_task")
    assert cmd.request.body == b'{"key":"' + base64.b64encode(KEY) + b'"}'
    assert cmd.request.headers == (("Accept", "application/json"),
                                   ("User-Agent", "qqproto"),
                                   ("Content-Type", "application/json"))
    assert cmd.request.timeout == 10.0
    assert session.state is OnboardState.CREATING and session.get_timer() is None


def test_the_qr_code_is_shown_and_the_first_poll_comes_two_seconds_later() -> None:
    session = OnboardSession(KEY, source="my app")
    session.start(100.0)
    session.http_response(command(session).id, created("T/1 2"), 101.0)
    assert events(session) == [OnboardQrCode(
        task_id="T/1 2", deadline=401.0,
        url=PORTAL + "/qqbot/openclaw/connect.html?task_id=T%2F1%202&_wv=2&source=my%20app")]
    assert session.get_timer() == 103.0
    session.handle_timer(102.9)
    assert session.next_command() is None
    session.handle_timer(103.0)
    cmd = command(session)
    assert (cmd.request.url, cmd.request.body) == (PORTAL + "/lite/poll_bind_result",
                                                   b'{"task_id":"T/1 2"}')
    assert session.get_timer() is None  # nothing while the poll is out


def test_a_numeric_task_id_is_taken_as_text() -> None:
    session = OnboardSession(KEY)
    session.start(0.0)
    session.http_response(command(session).id, created(4242), 0.0)
    assert session.task_id == "4242"


# -- the outcomes ----------------------------------------------------------------------


def test_pending_polls_then_done_with_the_decrypted_secret() -> None:
    session = shown()
    poll(session, status(0))
    poll(session, status(1))
    assert events(session) == [
        OnboardPending(task_id="TASK-1", status=0, attempt=1, deadline=300.0),
        OnboardPending(task_id="TASK-1", status=1, attempt=2, deadline=300.0)]
    poll(session, completed(app_id=102000001))  # rest.md §8.7: a JSON number
    done = OnboardDone(app_id="102000001", client_secret=Secret("s3cret"),
                       user_openid="OWNER")
    assert events(session) == [done]
    assert session.state is OnboardState.DONE and session.done
    assert session.result() == done == session.outcome
    assert session.get_timer() is None and session.next_command() is None
    assert "s3cret" not in repr(done) + repr(session)
    assert base64.b64encode(KEY).decode() not in repr(session)


def test_the_portal_says_expired_and_a_renewal_shows_a_new_code_with_a_new_key() -> None:
    session = shown()
    poll(session, status(3))
    assert events(session) == [OnboardExpired(task_id="TASK-1", by_portal=True)]
    assert session.state is OnboardState.EXPIRED and session.done
    with pytest.raises(LocalProtocolError):
        session.result()
    session.renew(KEY2, 10.0)
    cmd = command(session)
    assert cmd.request.body == b'{"key":"' + base64.b64encode(KEY2) + b'"}'
    session.http_response(cmd.id, created("TASK-2"), 10.0)
    [qr] = events(session)
    assert (qr.task_id, qr.deadline) == ("TASK-2", 310.0)
    poll(session, completed("new", key=KEY2))
    assert session.result().client_secret.reveal() == "new"


def test_nobody_scans_before_the_deadline() -> None:
    session = shown(timeout=5.0)
    poll(session, status(0))  # at 2
    poll(session, status(0))  # at 4
    assert session.get_timer() == 5.0  # the deadline comes before the poll at 6
    session.handle_timer(5.0)
    assert events(session)[-1] == OnboardExpired(task_id="TASK-1", by_portal=False)
    assert session.next_command() is None


def test_a_poll_answered_after_the_deadline_expires_the_task() -> None:
    session = shown(timeout=3.0)
    session.handle_timer(2.0)
    session.http_response(command(session).id, status(1), 3.5)
    assert events(session) == [OnboardExpired(task_id="TASK-1", by_portal=False)]


@pytest.mark.parametrize(("response", "failure"), [
    (answer({"retcode": 100012, "msg": "too many tasks"}),
     OnboardFailed(retcode=100012, message="create_bind_task: too many tasks")),
    (answer({"retcode": -1}, status=400),
     OnboardFailed(retcode=-1, message="create_bind_task: HTTP 400, retcode -1")),
    (answer({"data": {"task_id": "x"}}),
     OnboardFailed(retcode=None, message="create_bind_task: HTTP 200, retcode None")),
    (answer({"retcode": True, "data": {}}),
     OnboardFailed(retcode=None, message="create_bind_task: HTTP 200, retcode True")),
    (answer({"retcode": 0, "data": {}}),
     OnboardFailed(retcode=None, message="create_bind_task: the answer has no task_id")),
    (answer({"retcode": 0, "data": []}),
     OnboardFailed(retcode=None, message="create_bind_task: the answer has no data object")),
    (answer(b"{", content_type="application/json"),
     OnboardFailed(retcode=None, message="create_bind_task: HTTP 200, the answer is not JSON")),
    (answer([1]), OnboardFailed(retcode=None,
                                message="create_bind_task: HTTP 200, the answer is not an object")),
    (answer(b"<html><script>challenge()</script></html>", content_type="text/html"),
     OnboardBlocked(status=200, content_type="text/html")),
    (answer(b"  <!doctype html>", status=403, content_type=""),
     OnboardBlocked(status=403, content_type="")),
])
def test_a_refused_or_unusable_create_fails_with_a_typed_outcome(
        response: HttpResponse, failure: object) -> None:
    session = OnboardSession(KEY)
    session.start(0.0)
    session.http_response(command(session).id, response, 0.0)
    assert events(session) == [failure]
    assert session.state is OnboardState.FAILED and session.outcome == failure
    assert session.get_timer() is None


def test_a_create_that_never_arrives_fails_at_once() -> None:
    session = OnboardSession(KEY)
    session.start(0.0)
    session.http_failed(command(session).id, "ConnectError: refused", 0.0)
    assert events(session) == [OnboardFailed(
        retcode=None, message="the portal could not be reached: ConnectError: refused")]


def test_a_retcode_while_polling_fails() -> None:
    session = shown()
    poll(session, answer({"retcode": 20003, "msg": "task not found"}))
    assert events(session) == [OnboardFailed(retcode=20003,
                                             message="poll_bind_result: task not found")]


def test_two_failed_polls_are_retried_and_the_third_in_a_row_fails() -> None:
    session = shown()
    session.handle_timer(2.0)
    session.http_failed(command(session).id, "ReadTimeout", 12.0)
    assert session.get_timer() == 14.0
    poll(session, answer({"retcode": 0}, status=502))
    poll(session, status(1))  # a good answer resets the count
    poll(session, answer(b"", status=429))
    poll(session, answer(b"", status=503))
    assert session.state is OnboardState.WAITING
    when = session.get_timer()
    assert when is not None
    session.handle_timer(when)
    session.http_failed(command(session).id, "ConnectError", when)
    assert events(session)[-1] == OnboardFailed(
        retcode=None, message="the portal could not be reached: ConnectError")


def test_an_unknown_status_keeps_polling() -> None:
    session = shown()
    poll(session, status(7))
    assert events(session) == [OnboardPending(task_id="TASK-1", status=7, attempt=1,
                                              deadline=300.0)]
    assert session.state is OnboardState.WAITING


@pytest.mark.parametrize(("data", "message"), [
    ({"bot_encrypt_secret": "x"}, "completed without bot_appid"),
    ({"bot_appid": " "}, "completed without bot_appid"),
    ({"bot_appid": "1"}, "completed without bot_encrypt_secret"),
    ({"bot_appid": "1", "bot_encrypt_secret": "!!"}, "bot_encrypt_secret is not base64"),
    ({"bot_appid": "1", "bot_encrypt_secret": base64.b64encode(bytes(28)).decode()},
     "bot_encrypt_secret is too short (28 bytes)"),
    ({"bot_appid": "1", "bot_encrypt_secret": seal_secret("s", KEY2, IV)},
     "bot_encrypt_secret was not sealed with this task's key"),
])
def test_a_completed_answer_that_cannot_be_used_fails(data: dict[str, Any],
                                                      message: str) -> None:
    session = shown()
    poll(session, status(2, **data))
    assert events(session) == [OnboardFailed(retcode=None,
                                             message=f"poll_bind_result: {message}")]


def test_status_that_is_not_a_number_fails() -> None:
    session = shown()
    poll(session, status("2"))
    assert events(session) == [OnboardFailed(
        retcode=None, message="poll_bind_result: status '2' is not a number")]


# -- misuse and checks ------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"", bytes(31), bytes(33), "x" * 32])
def test_the_key_must_be_32_bytes(key: Any) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        OnboardSession(key)


def test_misuse_is_a_local_error_and_stale_answers_are_ignored() -> None:
    session = shown()
    with pytest.raises(LocalProtocolError):
        session.start(0.0)
    with pytest.raises(LocalProtocolError):
        session.renew(KEY2, 0.0)
    session.http_response(99, completed(), 0.0)  # never asked for
    session.http_failed(99, "x", 0.0)
    session.handle_timer(1.0)  # too early: nothing
    assert session.next_command() is None and events(session) == []


@pytest.mark.parametrize(("url", "base"), [
    ("https://q.qq.com/", "https://q.qq.com"),
    ("https://portal.example/prefix/", "https://portal.example/prefix"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://localhost:1", "http://localhost:1"),
])
def test_portal_bases(url: str, base: str) -> None:
    assert portal_base(url) == base


@pytest.mark.parametrize("url", ["http://q.qq.com", "ftp://x", "q.qq.com",
                                 "https://q.qq.com/?a=1", "https://"])
def test_portals_that_would_leak_the_key_or_make_no_sense_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        portal_base(url)


def test_connect_url_without_source() -> None:
    assert connect_url("abc") == "https://q.qq.com/qqbot/openclaw/connect.html?task_id=abc&_wv=2"


def test_seal_and_open_round_trip_and_refuse_bad_sizes() -> None:
    sealed = seal_secret("秘密", KEY, IV)
    assert open_secret(sealed, KEY) == "秘密"
    assert len(base64.b64decode(sealed)) == 12 + len("秘密".encode()) + 16
    with pytest.raises(ValueError):
        seal_secret("s", KEY[:16], IV)
    bad = base64.b64encode(IV + b"\xff" * 1).decode()
    with pytest.raises(SecretDecryptError):
        open_secret(bad, KEY)


def test_a_secret_that_is_not_utf8_is_refused() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    sealed = base64.b64encode(IV + AESGCM(KEY).encrypt(IV, b"\xff\xfe", None)).decode()
    with pytest.raises(SecretDecryptError, match="not UTF-8"):
        open_secret(sealed, KEY)


def test_the_table_has_no_way_out_of_done_or_failed() -> None:
    assert {s for s, _ in TRANSITIONS} == {OnboardState.NEW, OnboardState.CREATING,
                                           OnboardState.WAITING, OnboardState.EXPIRED}
    session = shown()
    poll(session, status(3))
    with pytest.raises(TransitionError):
        session._fsm.fire(next(i for (s, i) in TRANSITIONS if s is OnboardState.NEW))


# -- the portal at random --------------------------------------------------------------

ANSWERS = st.sampled_from(["pending0", "pending1", "unknown", "done", "expired", "retcode",
                           "html", "garbage", "5xx", "lost", "wrong_key"])


class OnboardMachine(RuleBasedStateMachine):
    """Any order of portal answers, timer firings and renewals keeps the invariants:
    at most one request out, a timer only while waiting with none out, one final event
    per task, the secret only from a completed answer sealed with the current key."""

    @initialize(timeout=st.floats(1.0, 50.0), interval=st.floats(0.1, 5.0))
    def setup(self, timeout: float, interval: float) -> None:
        self.session = OnboardSession(KEY, timeout=timeout, poll_interval=interval)
        self.now = 0.0
        self.key = KEY
        self.keys = iter(bytes([n]) * 32 for n in range(1, 1000))
        self.pending: SendHttpRequest | None = None
        self.finals = self.creates = 0
        self.session.start(self.now)
        self._collect()

    def _collect(self) -> None:
        cmd = self.session.next_command()
        if cmd is not None:
            assert self.pending is None, "two requests out at once"
            self.pending = cmd
            self.creates += cmd.request.url.endswith("create_bind_task")
        assert self.session.next_command() is None
        for event in events(self.session):
            if isinstance(event, OnboardDone | OnboardExpired | OnboardFailed | OnboardBlocked):
                self.finals += 1
            if isinstance(event, OnboardDone):
                assert event.client_secret.reveal() == "s-" + self.key.hex()[:4]

    @rule(kind=ANSWERS, delay=st.floats(0.0, 20.0))
    def answer(self, kind: str, delay: float) -> None:
        if self.pending is None:
            return
        cmd, self.pending = self.pending, None
        self.now += delay
        is_create = cmd.request.url.endswith("create_bind_task")
        if kind == "lost":
            self.session.http_failed(cmd.id, "lost", self.now)
        else:
            response = {
                "pending0": status(0), "pending1": status(1), "unknown": status(9),
                "done": completed("s-" + self.key.hex()[:4], key=self.key),
                "wrong_key": completed(key=KEY2 if self.key != KEY2 else KEY),
                "expired": status(3), "retcode": answer({"retcode": 5, "msg": "no"}),
                "html": answer(b"<html>", content_type="text/html"),
                "garbage": answer(b"nope"), "5xx": answer(b"", status=500),
            }[kind]
            self.session.http_response(cmd.id, created() if is_create and kind.startswith(
                "pending") else response, self.now)
        self._collect()

    @rule()
    def timer(self) -> None:
        when = self.session.get_timer()
        if when is not None:
            self.now = max(self.now, when)
            self.session.handle_timer(self.now)
            self._collect()

    @rule()
    def renew(self) -> None:
        if self.session.state is OnboardState.EXPIRED:
            self.key = next(self.keys)
            self.session.renew(self.key, self.now)
            self._collect()

    @invariant()
    def consistent(self) -> None:
        state = self.session.state
        if state is OnboardState.WAITING:
            assert (self.session.get_timer() is None) == (self.pending is not None)
            assert self.session.qr_url is not None
        else:
            assert self.session.get_timer() is None
        if state is OnboardState.CREATING:
            assert self.pending is not None
        assert self.finals == self.creates - (not self.session.done)
        if self.session.done:
            assert self.pending is None and self.session.outcome is not None
        if state is OnboardState.DONE:
            self.session.result()


OnboardMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30,
                                            deadline=None)
test_onboarding_under_any_portal_behaviour = OnboardMachine.TestCase
