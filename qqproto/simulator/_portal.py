"""The QQ portal's "scan to bind" endpoints (rest.md §8), for ``qqproto onboard`` against
the simulator.

``POST /lite/create_bind_task`` stores a task with the client's key; ``POST
/lite/poll_bind_result`` answers status 0 until someone "scans" it (the ``scan TASK
USER`` command, or :meth:`PortalStore.scan`), then status 2 with the simulator's own app
id and secret sealed with that key (AES-256-GCM, §8.8), or 3 once it expired.  Like the
real portal it serves a web page, not JSON, to a request without ``Accept:
application/json`` (§8.1).  Faults: :meth:`PortalStore.fail_next` answers the next calls
with a retcode, or with the anti-bot page.

The simulator's own retcodes (the real portal's are not documented): 10001 for a body
it cannot use, 10002 for an unknown task.
"""

from __future__ import annotations

import base64
import binascii
import html
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import parse_qs

from .._secret import Secret
from ..onboarding._crypto import KEY_SIZE, seal_secret
from ..onboarding._session import CONNECT_PATH, CREATE_PATH, POLL_PATH
from ._payloads import IdSource
from ._rest import BadRequest, Route, SimRequest, SimResponse, json_response, sim_store

__all__ = ["BAD_BODY", "PORTAL_ROUTES", "UNKNOWN_TASK", "BindTask", "PortalStore", "sim_portal"]

BAD_BODY: Final = 10001
UNKNOWN_TASK: Final = 10002
#: The anti-bot fault's marker (instead of a retcode).
ANTI_BOT: Final = "html"
_STORE_KEY: Final = "_qqproto_portal"
_MAX_TASKS: Final = 1000
_PAGE: Final = ("<!doctype html><html><head><title>qqproto simulator</title></head><body>"
                "<p>{text}</p></body></html>")


class _Portal(Protocol):
    app_id: str
    ids: IdSource

    @property
    def secret(self) -> Secret: ...


@dataclass(slots=True, kw_only=True)
class BindTask:
    """One bind task; ``status`` as rest.md §8.6 numbers it."""

    task_id: str
    key: bytes = field(repr=False)
    created_at: float
    expires_at: float
    status: int = 0
    user_openid: str = ""
    polls: int = 0


class PortalStore:
    """The portal's tasks, its scripted faults, and notices for a transcript."""

    def __init__(self, *, task_lifetime: float = 600.0) -> None:
        #: How long a task can be scanned (the real one is undocumented, §8.10).
        self.task_lifetime = task_lifetime
        self.tasks: OrderedDict[str, BindTask] = OrderedDict()
        #: Retcodes (or :data:`ANTI_BOT`) that answer the next portal calls, in order.
        self.faults: deque[tuple[int | str, str]] = deque()
        #: One line per thing worth telling the person at the simulator's console.
        self.notices: deque[str] = deque(maxlen=100)

    def fail_next(self, retcode: int | str, message: str = "simulated failure") -> None:
        """Answer the next call with ``retcode`` (``"html"``: the anti-bot page)."""
        self.faults.append((retcode, message))

    def task(self, task_id: str, now: float) -> BindTask | None:
        task = self.tasks.get(task_id)
        if task is not None and task.status in (0, 1) and now >= task.expires_at:
            task.status = 3
        return task

    def scan(self, task_id: str, user_openid: str, now: float) -> BindTask | None:
        """Complete a waiting task as if ``user_openid`` had scanned it and confirmed."""
        task = self.task(task_id, now)
        if task is None or task.status not in (0, 1):
            return None
        task.status, task.user_openid = 2, user_openid
        return task

    def expire(self, task_id: str, now: float) -> BindTask | None:
        task = self.task(task_id, now)
        if task is None or task.status not in (0, 1):
            return None
        task.status = 3
        return task

    def take_notices(self) -> list[str]:
        notices = list(self.notices)
        self.notices.clear()
        return notices


def sim_portal(sim: object) -> PortalStore:
    """The :class:`PortalStore` of ``sim`` (made on first use)."""
    return sim_store(sim, _STORE_KEY, PortalStore)


def _page(text: str, status: int = 200) -> SimResponse:
    return SimResponse(status=status, body=_PAGE.format(text=html.escape(text)).encode(),
                       headers=(("Content-Type", "text/html; charset=utf-8"),))


def _refusal(retcode: int, message: str) -> SimResponse:
    # rest.md §8.3: a refusal is retcode != 0 with msg (under HTTP 200, like the portal).
    return json_response({"retcode": retcode, "msg": message})


def _gate(sim: object, request: SimRequest) -> tuple[SimResponse | None, dict[str, Any]]:
    """The checks every portal call goes through first; the JSON body when they pass."""
    if "application/json" not in (request.header("Accept") or ""):
        return _page("Please enable JavaScript to continue."), {}  # rest.md §8.1
    store = sim_portal(sim)
    if store.faults:
        retcode, message = store.faults.popleft()
        if retcode == ANTI_BOT:
            return _page("Please enable JavaScript to continue."), {}
        return _refusal(int(retcode), message), {}
    try:
        return None, request.json_object()
    except BadRequest as exc:
        return _refusal(BAD_BODY, str(exc)), {}


def _create(sim: _Portal, request: SimRequest, params: dict[str, str],
            now: float) -> SimResponse:
    refused, body = _gate(sim, request)
    if refused is not None:
        return refused
    try:
        key = base64.b64decode(str(body.get("key", "")), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_SIZE:
        return _refusal(BAD_BODY, "key must be base64 of 32 bytes")
    store = sim_portal(sim)
    task = BindTask(task_id=sim.ids.hex(16), key=key, created_at=now,
                    expires_at=now + store.task_lifetime)
    store.tasks[task.task_id] = task
    while len(store.tasks) > _MAX_TASKS:
        store.tasks.popitem(last=False)
    store.notices.append(f"portal: bind task {task.task_id} created; "
                         f"type 'scan {task.task_id} USER_OPENID' to complete it")
    return json_response({"retcode": 0, "msg": "ok", "data": {"task_id": task.task_id}})


def _poll(sim: _Portal, request: SimRequest, params: dict[str, str],
          now: float) -> SimResponse:
    refused, body = _gate(sim, request)
    if refused is not None:
        return refused
    store = sim_portal(sim)
    task = store.task(str(body.get("task_id", "")), now)
    if task is None:
        return _refusal(UNKNOWN_TASK, "no such task")
    task.polls += 1
    data: dict[str, Any] = {"status": task.status}
    if task.status == 2:
        iv = bytes.fromhex(sim.ids.hex(12))
        data.update(bot_appid=sim.app_id, user_openid=task.user_openid,
                    bot_encrypt_secret=seal_secret(sim.secret.reveal(), task.key, iv))
        store.notices.append(f"portal: bind task {task.task_id} handed out app id "
                             f"{sim.app_id} to the client")
    return json_response({"retcode": 0, "msg": "ok", "data": data})


def _connect_page(sim: object, request: SimRequest, params: dict[str, str],
                  now: float) -> SimResponse:
    task_id = parse_qs(request.query).get("task_id", [""])[0]
    return _page(f"qqproto simulator: bind task {task_id}. Type 'scan {task_id} "
                 "USER_OPENID' at the simulator's console to complete it.")


PORTAL_ROUTES: Final = (
    Route("POST", CREATE_PATH, _create, auth=False),
    Route("POST", POLL_PATH, _poll, auth=False),
    Route("GET", CONNECT_PATH, _connect_page, auth=False),
)


#: The console commands (``qqproto sim``; ``help`` lists them with the others).
PORTAL_VERBS: Final = frozenset({"scan", "expire", "portal"})


def portal_command(sim: object, words: list[str], now: float) -> tuple[str, bool]:
    """Carry out a portal command (``words[0]`` in :data:`PORTAL_VERBS`): the line to
    print and whether it worked."""
    store = sim_portal(sim)
    verb, args = words[0].lower(), words[1:]
    if verb == "scan" and len(args) == 2:
        task = store.scan(args[0], args[1], now)
        return ((f"bind task {args[0]} scanned by {args[1]}", True) if task is not None
                else (f"error: no waiting bind task {args[0]!r}", False))
    if verb == "expire" and len(args) == 1:
        task = store.expire(args[0], now)
        return ((f"bind task {args[0]} expired", True) if task is not None
                else (f"error: no waiting bind task {args[0]!r}", False))
    if verb == "portal" and args == [ANTI_BOT]:
        store.fail_next(ANTI_BOT)
        return "the next portal call gets the anti-bot page", True
    if verb == "portal" and len(args) >= 2 and args[0] == "fail" and \
            args[1].lstrip("-").isdigit() and len(args[1]) <= 10:
        store.fail_next(int(args[1]), " ".join(args[2:]) or "simulated failure")
        return f"the next portal call fails with retcode {args[1]}", True
    usage = {"scan": "scan TASK_ID USER_OPENID", "expire": "expire TASK_ID",
             "portal": "portal fail RETCODE [message] or portal html"}[verb]
    return f"error: usage: {usage} (type 'help')", False
