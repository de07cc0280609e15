"""QR onboarding ("scan to bind", rest.md §8) as a sans-IO saga.

create a bind task with the client's key → show its QR URL → poll until the portal says
completed, expired or failed → decrypt the secret with the key (AES-256-GCM, §8.8).
The key comes from the driver (``os.urandom(32)``): the core reads no randomness of its
own, and never the injectable ``random.Random`` (a seeded generator would make the key
guessable).  One request at a time::

    session = OnboardSession(os.urandom(32))
    session.start(now())
    while not session.done:
        while (cmd := session.next_command()) is not None:
            answer = perform(cmd.request)            # the driver's HTTP client
            if answer is a response: session.http_response(cmd.id, answer, now())
            else: session.http_failed(cmd.id, why, now())
        while (event := session.next_event()) is not None:
            show(event)        # OnboardQrCode, OnboardPending, OnboardDone, OnboardExpired…
        if session.state is OnboardState.EXPIRED and the user wants another QR code:
            session.renew(os.urandom(32), now())
        sleep until session.get_timer(), then session.handle_timer(now())

Decisions where the sources leave a choice (rest.md §8):

* Both calls send ``Accept: application/json``: without it the portal serves an anti-bot
  JavaScript page (§8.1).  A page that comes anyway is :class:`~qqproto.events.OnboardBlocked`.
* Polls are 2 s apart, counted from the previous answer, each bounded by 10 s, and the
  session gives up ``timeout`` (300 s) after the QR code was shown (§8.5).  A renewed
  task gets a fresh deadline: the user sees a fresh code.
* A status other than 0…3 keeps the session polling (the SDK crashes on it, §8.6): the
  deadline bounds the wait, and a new non-final status must not end a scan in progress.
* A poll that fails in transit or with HTTP 5xx/429 is retried at the same pace; the
  third failure in a row ends the session.  A failed create ends it at once.
* ``http://`` portals are accepted for loopback hosts only (the simulator): the key
  travels in the create request, and whoever reads it can decrypt the secret.
"""

from __future__ import annotations

import base64
import enum
from collections import deque
from typing import Any, Final
from urllib.parse import quote, urlsplit

from .._commands import SendHttpRequest
from .._fsm import StateMachine
from .._http import HttpResponse, json_request
from .._log import bot_logger
from .._secret import Secret
from ..errors import JSONDecodeError, LocalProtocolError, SecretDecryptError
from ..events import (
    Event,
    OnboardBlocked,
    OnboardDone,
    OnboardExpired,
    OnboardFailed,
    OnboardPending,
    OnboardQrCode,
)
from ._crypto import KEY_SIZE, open_secret

__all__ = [
    "CONNECT_PATH",
    "CREATE_PATH",
    "DEADLINE",
    "POLL_INTERVAL",
    "POLL_PATH",
    "PORTAL_BASE",
    "REQUEST_TIMEOUT",
    "OnboardSession",
    "OnboardState",
    "connect_url",
    "portal_base",
]

#: rest.md §8.1: the portal host.
PORTAL_BASE: Final = "https://q.qq.com"
#: rest.md §8.2, §8.5, §8.4.
CREATE_PATH: Final = "/lite/create_bind_task"
POLL_PATH: Final = "/lite/poll_bind_result"
CONNECT_PATH: Final = "/qqbot/openclaw/connect.html"
#: rest.md §8.5: poll pace, per-request timeout, overall wait.
POLL_INTERVAL: Final = 2.0
REQUEST_TIMEOUT: Final = 10.0
DEADLINE: Final = 300.0
#: Consecutive failed polls that end the session.
MAX_POLL_FAILURES: Final = 3
#: rest.md §8.6: the poll statuses.
_NOT_SCANNED, _PENDING, _COMPLETED, _EXPIRED = 0, 1, 2, 3
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class OnboardState(enum.Enum):
    NEW = enum.auto()
    #: ``create_bind_task`` is on its way.
    CREATING = enum.auto()
    #: The QR code is shown; polling.
    WAITING = enum.auto()
    DONE = enum.auto()
    #: The task expired; :meth:`OnboardSession.renew` starts another.
    EXPIRED = enum.auto()
    FAILED = enum.auto()


class _Input(enum.Enum):
    START = enum.auto()
    CREATED = enum.auto()
    COMPLETED = enum.auto()
    EXPIRE = enum.auto()
    RENEW = enum.auto()
    FAIL = enum.auto()


_S = OnboardState
TRANSITIONS: Final = {
    (_S.NEW, _Input.START): _S.CREATING,
    (_S.CREATING, _Input.CREATED): _S.WAITING,
    (_S.CREATING, _Input.FAIL): _S.FAILED,
    (_S.WAITING, _Input.COMPLETED): _S.DONE,
    (_S.WAITING, _Input.EXPIRE): _S.EXPIRED,
    (_S.WAITING, _Input.FAIL): _S.FAILED,
    (_S.EXPIRED, _Input.RENEW): _S.CREATING,
}


def portal_base(url: str) -> str:
    """``url`` checked as a portal base: ``https://host[:port][/prefix]``, or ``http://``
    on a loopback host; returned without a trailing slash.  ``ValueError`` otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"the portal must be an https:// URL, not {url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError("an http:// portal is accepted on 127.0.0.1 only: the bind key "
                         "travels in the request")
    if parts.query or parts.fragment:
        raise ValueError("the portal URL takes no query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def connect_url(task_id: str, *, portal: str = PORTAL_BASE, source: str | None = None) -> str:
    """What the QR code holds (rest.md §8.4); the id is quoted whole, ``/`` included."""
    url = f"{portal}{CONNECT_PATH}?task_id={quote(task_id, safe='')}&_wv=2"
    return url if not source else f"{url}&source={quote(source, safe='')}"


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise ValueError("the bind key is 32 bytes from the OS's randomness (os.urandom(32))")
    return bytes(key)


class OnboardSession:
    """One "scan to bind" (see the module docstring).

    ``key``: 32 bytes from ``os.urandom``/``secrets``.  ``portal``: the portal base
    (``https://q.qq.com``; the simulator's ``http://127.0.0.1:PORT``).  ``timeout``: how
    long one QR code is waited for.  ``source``: an optional ``source=`` for the QR URL.
    """

    def __init__(self, key: bytes, *, portal: str = PORTAL_BASE, timeout: float = DEADLINE,
                 poll_interval: float = POLL_INTERVAL, source: str | None = None,
                 user_agent: str = "qqproto") -> None:
        if timeout <= 0 or poll_interval <= 0:
            raise ValueError("timeout and poll_interval must be positive")
        self._key = _check_key(key)
        self.portal = portal_base(portal)
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.source = source
        self._headers = (("Accept", "application/json"), ("User-Agent", user_agent))
        self._log = bot_logger("qqproto.onboarding", None)
        self._fsm: StateMachine[OnboardState, _Input] = StateMachine(
            "onboarding", OnboardState.NEW, TRANSITIONS, self._log)
        self._outbox: deque[SendHttpRequest] = deque()
        self._events: deque[Event] = deque()
        self._next_id = 1
        self._inflight: tuple[int, str] | None = None
        self._poll_at: float | None = None
        self._deadline = 0.0
        self._attempt = 0
        self._failures = 0
        self.task_id: str | None = None
        self.qr_url: str | None = None
        self._result: OnboardDone | None = None
        self._outcome: Event | None = None

    def __repr__(self) -> str:  # never the key
        return f"OnboardSession(portal={self.portal!r}, state={self.state.name})"

    @property
    def state(self) -> OnboardState:
        return self._fsm.state

    @property
    def done(self) -> bool:
        """True in a final state (``EXPIRED`` too: renewing is the caller's choice)."""
        return self.state in (OnboardState.DONE, OnboardState.EXPIRED, OnboardState.FAILED)

    @property
    def outcome(self) -> Event | None:
        """The event that ended the session (or the last task), once there is one."""
        return self._outcome

    def result(self) -> OnboardDone:
        """The credentials; :class:`LocalProtocolError` before the scan completed."""
        if self._result is None:
            raise LocalProtocolError(f"onboarding has not completed ({self.state.name})")
        return self._result

    # --- driver interface ---------------------------------------------------------------

    def start(self, now: float) -> None:
        """Create the first bind task."""
        if self.state is not OnboardState.NEW:
            raise LocalProtocolError("onboarding has already started")
        self._fsm.fire(_Input.START)
        self._create()

    def renew(self, key: bytes, now: float) -> None:
        """After :class:`~qqproto.events.OnboardExpired`: a new task (and QR code), with a
        new key from the OS's randomness."""
        if self.state is not OnboardState.EXPIRED:
            raise LocalProtocolError(f"only an expired task is renewed ({self.state.name})")
        self._key = _check_key(key)
        self._fsm.fire(_Input.RENEW)
        self._create()

    def next_command(self) -> SendHttpRequest | None:
        return self._outbox.popleft() if self._outbox else None

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The next poll, or the deadline; ``None`` while a request is out."""
        if self.state is not OnboardState.WAITING or self._inflight is not None:
            return None
        assert self._poll_at is not None
        return min(self._poll_at, self._deadline)

    def handle_timer(self, now: float) -> None:
        if self.state is not OnboardState.WAITING or self._inflight is not None:
            return
        if now >= self._deadline:
            self._expire(by_portal=False)
        elif self._poll_at is not None and now >= self._poll_at:
            self._poll_at = None
            self._send("poll", POLL_PATH, {"task_id": self.task_id})

    def http_response(self, command_id: int, response: HttpResponse, now: float) -> None:
        kind = self._take(command_id)
        if kind is None:
            return
        if kind == "create":
            self._created(response, now)
        else:
            self._polled(response, now)

    def http_failed(self, command_id: int, reason: str, now: float) -> None:
        kind = self._take(command_id)
        if kind == "create":
            self._fail(None, f"the portal could not be reached: {reason}")
        elif kind == "poll":
            self._poll_failed(f"the portal could not be reached: {reason}", now)

    # --- internals ------------------------------------------------------------------------

    def _take(self, command_id: int) -> str | None:
        if self._inflight is None or self._inflight[0] != command_id:
            return None  # an answer to a request of a task that is over
        kind = self._inflight[1]
        self._inflight = None
        return kind

    def _send(self, kind: str, path: str, body: dict[str, Any]) -> None:
        command_id = self._next_id
        self._next_id += 1
        self._inflight = (command_id, kind)
        request = json_request("POST", self.portal + path, body, headers=self._headers,
                               timeout=REQUEST_TIMEOUT)
        self._outbox.append(SendHttpRequest(id=command_id, request=request,
                                            purpose=f"onboarding {kind}"))

    def _create(self) -> None:
        self.task_id = self.qr_url = None
        self._attempt = self._failures = 0
        # rest.md §8.2: standard base64 of the 32 key bytes.
        self._send("create", CREATE_PATH, {"key": base64.b64encode(self._key).decode("ascii")})

    def _finish(self, event: Event) -> None:
        self._outcome = event
        self._events.append(event)

    def _fail(self, retcode: int | None, message: str) -> None:
        self._fsm.fire(_Input.FAIL)
        self._poll_at = None
        self._finish(OnboardFailed(retcode=retcode, message=message))

    def _expire(self, *, by_portal: bool) -> None:
        assert self.task_id is not None
        self._fsm.fire(_Input.EXPIRE)
        self._poll_at = None
        self._finish(OnboardExpired(task_id=self.task_id, by_portal=by_portal))

    def _data(self, response: HttpResponse, call: str) -> dict[str, Any] | None:
        """The envelope's ``data`` (rest.md §8.3, §8.6), or ``None`` after reporting why
        there is none."""
        content_type = response.header("Content-Type") or ""
        if "html" in content_type.lower() or response.body.lstrip()[:1] == b"<":
            self._fsm.fire(_Input.FAIL)
            self._poll_at = None
            self._finish(OnboardBlocked(status=response.status, content_type=content_type))
            return None
        try:
            envelope = response.json()
        except JSONDecodeError:
            self._fail(None, f"{call}: HTTP {response.status}, the answer is not JSON")
            return None
        if not isinstance(envelope, dict):
            self._fail(None, f"{call}: HTTP {response.status}, the answer is not an object")
            return None
        retcode = envelope.get("retcode")
        if retcode != 0 or isinstance(retcode, bool):
            message = envelope.get("msg")
            if not isinstance(message, str) or not message:
                message = f"HTTP {response.status}, retcode {retcode!r}"
            code = retcode if isinstance(retcode, int) and not isinstance(retcode, bool) else None
            self._fail(code, f"{call}: {message}")
            return None
        data = envelope.get("data")
        if not isinstance(data, dict):
            self._fail(None, f"{call}: the answer has no data object")
            return None
        return data

    def _created(self, response: HttpResponse, now: float) -> None:
        data = self._data(response, "create_bind_task")
        if data is None:
            return
        task_id = data.get("task_id")
        if isinstance(task_id, int) and not isinstance(task_id, bool):
            task_id = str(task_id)
        if not isinstance(task_id, str) or not task_id:
            self._fail(None, "create_bind_task: the answer has no task_id")
            return
        self._fsm.fire(_Input.CREATED)
        self.task_id = task_id
        self.qr_url = connect_url(task_id, portal=self.portal, source=self.source)
        self._deadline = now + self.timeout
        self._poll_at = now + self.poll_interval
        self._log.info("bind task %s created", task_id)
        self._events.append(OnboardQrCode(task_id=task_id, url=self.qr_url,
                                          deadline=self._deadline))

    def _poll_failed(self, message: str, now: float) -> None:
        self._failures += 1
        if self._failures >= MAX_POLL_FAILURES:
            self._fail(None, message)
        else:
            self._log.info("poll failed (%s); trying again", message)
            self._poll_at = now + self.poll_interval

    def _polled(self, response: HttpResponse, now: float) -> None:
        if response.status >= 500 or response.status == 429:
            self._poll_failed(f"poll_bind_result: HTTP {response.status}", now)
            return
        data = self._data(response, "poll_bind_result")
        if data is None:
            return
        self._failures = 0
        self._attempt += 1
        status = data.get("status", _NOT_SCANNED)
        if not isinstance(status, int) or isinstance(status, bool):
            self._fail(None, f"poll_bind_result: status {status!r} is not a number")
        elif status == _COMPLETED:
            self._completed(data)
        elif status == _EXPIRED:
            self._expire(by_portal=True)
        elif now >= self._deadline:
            self._expire(by_portal=False)
        else:
            assert self.task_id is not None
            self._poll_at = now + self.poll_interval
            self._events.append(OnboardPending(task_id=self.task_id, status=status,
                                               attempt=self._attempt,
                                               deadline=self._deadline))

    def _completed(self, data: dict[str, Any]) -> None:
        app_id = data.get("bot_appid")
        # rest.md §8.7: the app id may come as a JSON number.
        if isinstance(app_id, int) and not isinstance(app_id, bool):
            app_id = str(app_id)
        sealed = data.get("bot_encrypt_secret")
        openid = data.get("user_openid", "")
        if not isinstance(app_id, str) or not app_id.strip():
            self._fail(None, "poll_bind_result: completed without bot_appid")
            return
        if not isinstance(sealed, str):
            self._fail(None, "poll_bind_result: completed without bot_encrypt_secret")
            return
        try:
            secret = open_secret(sealed, self._key)
        except SecretDecryptError as exc:
            self._fail(None, f"poll_bind_result: {exc}")
            return
        self._fsm.fire(_Input.COMPLETED)
        self._poll_at = None
        self._result = OnboardDone(app_id=app_id.strip(), client_secret=Secret(secret),
                                   user_openid=openid if isinstance(openid, str) else "")
        self._finish(self._result)
