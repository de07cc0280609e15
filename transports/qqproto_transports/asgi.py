"""The webhook channel as an ASGI application for FastAPI, Starlette or any ASGI server
(uvicorn, hypercorn; asyncio or trio, through anyio).

In a FastAPI or Starlette application, add it as a *route*, not a mount::

    webhook = WebhookApp(Settings.from_env(os.environ))
    app = FastAPI(lifespan=webhook.lifespan)
    app.add_route("/qqbot", webhook, methods=["POST"])

Starlette's ``Mount("/qqbot", …)`` matches only ``/qqbot/…`` and answers a ``POST
/qqbot`` with a 307 redirect to ``/qqbot/``, which QQ's callback validation does not
follow; a route answers on the exact path.  Served on its own (``uvicorn module:webhook``)
it handles the ``lifespan`` protocol itself.

The server has already parsed HTTP, so :class:`WebhookApp` uses the decision function
:func:`~qqproto.webhook.handle_webhook_request` on each ``(headers, body)``: the same
checks, answers and replay cache as the raw servers.  Events reach the application with
the gateway bots' API (``@app.on(...)`` handlers, ``app.events()``, ``mark_processed``,
``call``, ``http``, ``session.token_state``); a dispatch's op 12 answer waits, inside its
own request, until it has been handled (the rule in
:mod:`qqproto_transports._webhook_core`).
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    MutableMapping,
)
from typing import Any, Final

import anyio
import httpx

from qqproto import Settings
from qqproto.events import Event
from qqproto.gateway import Stop
from qqproto.rest import HttpResponse
from qqproto.webhook import (
    DEFAULT_WEBHOOK_PATH,
    ReplayCache,
    WebhookDelivery,
    WebhookPolicy,
    body_timeout_rejection,
    early_rejection,
    handle_webhook_request,
)

from ._api import AsyncBotApi
from ._handlers import call_handler_async
from ._httpx import async_http_client
from ._webhook_core import DEFAULT_CLOSE_TIMEOUT, Ticket, WebhookCore, decision_event

__all__ = ["WebhookApp"]

#: Body messages one request may take (a body dribbled in tiny pieces costs a step each).
MAX_BODY_MESSAGES: Final = 4096
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Inbox:
    """An unbounded queue filled synchronously and awaited on asyncio or trio."""

    def __init__(self) -> None:
        self._items: deque[Event | None] = deque()
        self._waiter: anyio.Event | None = None

    def put(self, item: Event | None) -> None:
        self._items.append(item)
        if self._waiter is not None:
            self._waiter.set()

    async def get(self) -> Event | None:
        while not self._items:
            self._waiter = anyio.Event()
            await self._waiter.wait()
        return self._items.popleft()


class WebhookApp(AsyncBotApi):
    """An ASGI 3 application answering QQ webhook callbacks, with the handlers and
    replies of the gateway bots (``@app.on(...)``, ``await app.reply(...)``).

    ``path`` is where callbacks arrive (``root_path`` is stripped first); ``path=None``
    answers on every path, for an app placed at a route that already matched.
    ``policy`` wins over ``path`` for the other checks.  ``ssl_context`` is the trust
    store for the bot's own HTTPS calls.  Shutdown: the ``lifespan`` protocol when served
    alone, :meth:`lifespan` in a FastAPI/Starlette app, or :meth:`aclose` yourself.
    """

    def __init__(self, settings: Settings, *, path: str | None = DEFAULT_WEBHOOK_PATH,
                 policy: WebhookPolicy | None = None, replay_cache: ReplayCache | None = None,
                 env: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 close_timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        self._core = core = WebhookCore(settings, self._plan_delivery, self._now,
                                        path=path or DEFAULT_WEBHOOK_PATH, policy=policy,
                                        replay_cache=replay_cache, env=env)
        self.session = core.session
        self._init_api(settings, lambda: self.session.token_state)
        #: Called with every connection-level event (validation answered, rejections…).
        self.observers = core.observers
        self.http: httpx.AsyncClient = async_http_client(settings, core.env, ssl_context)
        self.path, self.close_timeout = path, close_timeout
        self._requests = 0
        self._closed = False
        self.stopped: Stop | None = None

    # -- application API ------------------------------------------------------------
    def events(self) -> AsyncIterator[Event]:
        """Every event from now on, in order, until :meth:`aclose`."""
        inbox = _Inbox()
        put = self._core.subscribe(inbox.put)
        return self._core.aiterate(inbox.get, put)

    def mark_processed(self, seq: int | Event | None) -> None:
        """Done with this dispatch (by seq, or the event) and all delivered before it."""
        self._core.mark_processed(seq)

    def mark_failed(self, seq: int | Event | None) -> None:
        """Answer op 12 ``d = 1`` for this dispatch: the platform should redeliver it."""
        self._core.mark_failed(seq)

    async def aclose(self) -> None:
        """Answer what is still owed with ``d = 1``, end the iterators, close ``http``."""
        if self._closed:
            return
        self._closed = True
        self._core.abandon()
        _, handlers = self._core.stopping()
        with anyio.move_on_after(self.close_timeout):
            async with anyio.create_task_group() as group:
                for handler, argument in handlers:
                    group.start_soon(call_handler_async, handler, argument, self.log)
        await self.http.aclose()
        self._core.end_subscribers()
        self.stopped = self._core.stopped

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """``FastAPI(lifespan=webhook.lifespan)``: :meth:`aclose` when the host app stops
        (a route does not receive the ``lifespan`` protocol itself)."""
        try:
            yield
        finally:
            await self.aclose()

    # -- ASGI -------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # not a webhook

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._requests += 1
        number, core = self._requests, self._core
        # The server in front may set no limits of its own: refuse an announced body over
        # the limit before reading it, and give the body limits.webhook_request_timeout.
        refused = early_rejection(scope["headers"], core.policy)
        body: bytes | None = None
        if refused is None:
            with anyio.move_on_after(core.settings.limits.webhook_request_timeout) as waited:
                body = await self._body(receive, core.policy.max_body_size)
            if waited.cancelled_caught:
                refused = body_timeout_rejection()
            elif body is None:
                return  # the client went away
        if refused is not None or body is None:
            assert refused is not None
            core.observe(decision_event(number, refused))
            await _respond(send, refused.response)
            return
        decision = handle_webhook_request(
            core.key, scope["headers"], body, method=scope["method"],
            path=None if self.path is None else _route_path(scope), unix_now=time.time(),
            replay_cache=core.replay_cache, policy=core.policy)
        if isinstance(decision, WebhookDelivery):
            response = await self._deliver(decision)
        else:
            response = decision.response
            core.observe(decision_event(number, decision))
        await _respond(send, response)

    @staticmethod
    async def _body(receive: Receive, limit: int) -> bytes | None:
        """The body, cut at ``limit + 1`` bytes (enough for the decision's 413), or
        ``None`` when the client went away; a body in more than
        :data:`MAX_BODY_MESSAGES` pieces is refused as too large too."""
        chunks: list[bytes] = []
        size = pieces = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = bytes(message.get("body", b""))
            chunks.append(chunk[:limit + 1 - size])
            size += len(chunks[-1])
            pieces += 1
            if pieces > MAX_BODY_MESSAGES and message.get("more_body", False):
                return b"x" * (limit + 1)  # refused as too large, like the raw servers
            if size > limit or not message.get("more_body", False):
                return b"".join(chunks)

    async def _deliver(self, decision: WebhookDelivery) -> HttpResponse:
        answered, verdict = anyio.Event(), [True]

        def ack(ok: bool) -> None:
            verdict[0] = ok
            answered.set()

        core = self._core
        key = core.gate.key(decision.dispatch) if core.gate is not None else None
        if key is not None:  # another instance may have it (see _webhook_gate)
            assert core.gate is not None
            claim = await anyio.to_thread.run_sync(core.gate.claim, key)
            admitted = core.admit(Ticket(decision.dispatch, ack, [], False, gate_key=key), claim)
            if admitted is None:
                return decision.acknowledge(verdict[0])
            ticket = admitted
        else:
            ticket = core.accept(decision.dispatch, ack)
        try:
            # Handlers that cannot suspend finish here (as on the drivers); a task group
            # only for those that can.
            later: list[Callable[[], Coroutine[Any, Any, None]]] = []
            core.start_ticket(ticket, later.append)
            if later:
                async with anyio.create_task_group() as group:
                    for start in later:
                        group.start_soon(start)
                    await answered.wait()
            elif not answered.is_set():  # it waits for a mark (events() in manual mode)
                await answered.wait()
        except BaseException:  # cancelled (server shutdown): let a redelivery through
            self._core.discard(ticket)
            decision.acknowledge(False)
            raise
        return decision.acknowledge(verdict[0])


async def _respond(send: Send, response: HttpResponse) -> None:
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status,
                "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _route_path(scope: Scope) -> str:
    """The path below ``root_path`` (ASGI servers disagree on whether ``path`` has it)."""
    path, root = str(scope.get("path") or "/"), str(scope.get("root_path") or "")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root):] or "/"
    return path
