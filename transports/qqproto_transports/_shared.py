"""What every driver needs and that is neither protocol nor one runtime's I/O.

- :class:`BotSettings`: a bot's configuration in one value (and :meth:`from_env`).
- :class:`Handlers`: the ``@bot.on(...)`` registry, matched by dispatch type or class.
- :class:`FileSessionStore`: a session snapshot persisted atomically to a JSON file.
- httpx glue: TLS contexts that always verify, per-request proxy routing with the same
  :func:`qqproto.proxy.resolve_proxy` the gateway uses, response conversion.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import math
import os
import queue
import ssl
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from qqproto._commands import CloseConnection, OpenConnection, SendHttpRequest, StartTls, Stop
from qqproto._endpoints import Endpoints
from qqproto._http import HttpRequest, HttpResponse
from qqproto._secret import Secret, as_secret
from qqproto.errors import SnapshotError
from qqproto.events import Dispatch, Event, SessionStopped
from qqproto.gateway._intents import Intents
from qqproto.gateway._session import GatewaySession, ReconnectPolicy
from qqproto.gateway._snapshot import SessionSnapshot
from qqproto.proxy._config import Direct, ProxyConfig, resolve_proxy

__all__ = [
    "BotSettings",
    "FileSessionStore",
    "Handlers",
    "ProxyRouter",
    "httpx_request_args",
    "make_session",
    "to_http_response",
    "verified_ssl_context",
]

log = logging.getLogger("qqproto_transports")
Handler = Callable[[Any], Any]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True, kw_only=True)
class BotSettings:
    """Everything that configures one bot; no module-level state anywhere."""

    app_id: str
    secret: Secret
    endpoints: Endpoints = field(default_factory=Endpoints)
    intents: int = int(Intents.default())
    shard: tuple[int, int] = (0, 1)
    #: ``None``: follow the environment (``HTTPS_PROXY``…); a URL, a
    #: :class:`~qqproto.ProxyConfig` or :data:`~qqproto.DIRECT` override it.
    proxy: str | ProxyConfig | Direct | None = None
    #: A custom trust store (tests use a local CA); verification is never switched off.
    ssl_context: ssl.SSLContext | None = None
    policy: ReconnectPolicy | None = None
    auto_mark_processed: bool = True
    #: ACK every button tap with success at delivery (rest.md §5.5; see _bot_api.py).
    auto_ack_interactions: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> BotSettings:
        """``QQBOT_APP_ID``, ``QQBOT_CLIENT_SECRET``, ``QQBOT_API_BASE``, ``QQBOT_TOKEN_URL``."""
        app_id = env.get("QQBOT_APP_ID", "").strip()
        secret = env.get("QQBOT_CLIENT_SECRET", "")
        if not app_id or not secret:
            raise ValueError("set QQBOT_APP_ID and QQBOT_CLIENT_SECRET")
        base = Endpoints()
        endpoints = Endpoints(api_base=env.get("QQBOT_API_BASE") or base.api_base,
                              token_url=env.get("QQBOT_TOKEN_URL") or base.token_url)
        return cls(app_id=app_id, secret=as_secret(secret), endpoints=endpoints, **overrides)


def make_session(settings: BotSettings, snapshot: SessionSnapshot | None,
                 env: Mapping[str, str]) -> GatewaySession:
    """The sans-IO supervisor for ``settings``; ``env`` feeds proxy resolution."""
    return GatewaySession(
        app_id=settings.app_id, secret=settings.secret, endpoints=settings.endpoints,
        intents=settings.intents, shard=settings.shard, snapshot=snapshot,
        policy=settings.policy, auto_mark_processed=settings.auto_mark_processed,
        proxy_env=env, proxy=settings.proxy)


def verified_ssl_context(context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """``context`` (checked to verify) or the system default; never an unverified one."""
    if context is None:
        return ssl.create_default_context()
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        raise ValueError("qqproto always verifies TLS: pass a context that does")
    return context


class Handlers:
    """``@on("C2C_MESSAGE_CREATE")``, ``@on(Ready)`` or ``@on()`` for everything."""

    def __init__(self) -> None:
        self._by_type: dict[str, list[Handler]] = {}
        self._by_class: list[tuple[type[Event], Handler]] = []
        self._all: list[Handler] = []
        self._cache: dict[tuple[type[Event], str | None], tuple[Handler, ...]] = {}

    def on(self, what: str | type[Event] | None = None) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self._cache.clear()
            if what is None:
                self._all.append(handler)
            elif isinstance(what, str):
                self._by_type.setdefault(what, []).append(handler)
            else:
                self._by_class.append((what, handler))
            return handler
        return register

    def __bool__(self) -> bool:
        return bool(self._by_type or self._by_class or self._all)

    def matching(self, event: Event) -> tuple[Handler, ...]:
        """The handlers for ``event`` in registration-group order (cached per kind)."""
        key = (type(event), event.type if isinstance(event, Dispatch) else None)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = tuple(self._find(event))
        return found

    def _find(self, event: Event) -> Iterator[Handler]:
        yield from self._all
        for cls, handler in self._by_class:
            if isinstance(event, cls):
                yield handler
        if isinstance(event, Dispatch):
            yield from self._by_type.get(event.type, ())


class FileSessionStore:
    """One snapshot in one JSON file, replaced atomically; a corrupt file is ignored."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> SessionSnapshot | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return SessionSnapshot.from_dict(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, SnapshotError) as exc:
            log.warning("ignoring unreadable session file %s: %s", self.path, exc)
            return None

    def save(self, snapshot: SessionSnapshot | None) -> None:
        if snapshot is None:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".session-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(snapshot.to_dict(), out)
        os.replace(tmp, self.path)


def httpx_request_args(request: HttpRequest) -> dict[str, Any]:
    return {"method": request.method, "url": request.url, "headers": list(request.headers),
            "content": request.body or None, "timeout": request.timeout}


def to_http_response(response: httpx.Response) -> HttpResponse:
    return HttpResponse(status=response.status_code, headers=tuple(response.headers.items()),
                        body=response.content)


class ProxyRouter:
    """Picks a (cached) httpx transport per request: direct, or through the proxy that
    :func:`~qqproto.proxy.resolve_proxy` chooses for that URL — the same rule as the
    gateway's, so REST and WebSocket never disagree about ``NO_PROXY``."""

    def __init__(self, env: Mapping[str, str], override: str | ProxyConfig | Direct | None,
                 make: Callable[[str | None], Any]) -> None:
        self._env = dict(env)
        self._override = override
        self._make = make
        self._transports: dict[str | None, Any] = {}

    def transport_for(self, url: str) -> Any:
        proxy = resolve_proxy(url, self._env, self._override)
        key = proxy.url_for_httpx() if proxy is not None else None
        transport = self._transports.get(key)
        if transport is None:
            transport = self._transports[key] = self._make(key)
        return transport

    def transports(self) -> list[Any]:
        return list(self._transports.values())


class AsyncRoutingTransport(httpx.AsyncBaseTransport):
    def __init__(self, router: ProxyRouter) -> None:
        self._router = router

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._router.transport_for(str(request.url))
        response: httpx.Response = await transport.handle_async_request(request)
        return response

    async def aclose(self) -> None:
        for transport in self._router.transports():
            await transport.aclose()


class SyncRoutingTransport(httpx.BaseTransport):
    def __init__(self, router: ProxyRouter) -> None:
        self._router = router

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = self._router.transport_for(str(request.url)).handle_request(
            request)
        return response

    def close(self) -> None:
        for transport in self._router.transports():
            transport.close()


#: Bounded keep-alive so idle sockets never pile up in CLOSE_WAIT (issue 5).
HTTP_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=4,
                           keepalive_expiry=15.0)


def async_http_client(settings: BotSettings, env: Mapping[str, str]) -> httpx.AsyncClient:
    ctx = verified_ssl_context(settings.ssl_context)
    router = ProxyRouter(env, settings.proxy, lambda proxy: httpx.AsyncHTTPTransport(
        verify=ctx, proxy=proxy, limits=HTTP_LIMITS, trust_env=False))
    return httpx.AsyncClient(transport=AsyncRoutingTransport(router), trust_env=False,
                             timeout=30.0)


def sync_http_client(settings: BotSettings, env: Mapping[str, str]) -> httpx.Client:
    ctx = verified_ssl_context(settings.ssl_context)
    router = ProxyRouter(env, settings.proxy, lambda proxy: httpx.HTTPTransport(
        verify=ctx, proxy=proxy, limits=HTTP_LIMITS, trust_env=False))
    return httpx.Client(transport=SyncRoutingTransport(router), trust_env=False, timeout=30.0)


async def run_call_async(call: Any, client: httpx.AsyncClient,
                         clock: Callable[[], float]) -> Any:
    """Pump a sans-IO REST call (``next_request``/``receive_response``) to its result."""
    while (request := call.next_request(clock())) is not None:
        try:
            response = await client.request(**httpx_request_args(request))
        except httpx.HTTPError as exc:
            call.transport_failed(f"{type(exc).__name__}: {exc}", clock())
            continue
        call.receive_response(to_http_response(response), clock())
    return call.result()


def run_call_sync(call: Any, client: httpx.Client, clock: Callable[[], float]) -> Any:
    """The blocking twin of :func:`run_call_async`."""
    while (request := call.next_request(clock())) is not None:
        try:
            response = client.request(**httpx_request_args(request))
        except httpx.HTTPError as exc:
            call.transport_failed(f"{type(exc).__name__}: {exc}", clock())
            continue
        call.receive_response(to_http_response(response), clock())
    return call.result()


async def maybe_await(value: Any) -> Any:
    """Handlers may be plain functions or coroutines."""
    if isinstance(value, Awaitable):
        return await value
    return value


# -- the runtime-independent half of a bot (added for the trio and threaded drivers) ----

Subscriber = Callable[[Event | None], object]


async def send_async(client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse | str:
    """Perform ``request``: the response, or why there is none."""
    try:
        return to_http_response(await client.request(**httpx_request_args(request)))
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def send_sync(client: httpx.Client, request: HttpRequest) -> HttpResponse | str:
    """The blocking twin of :func:`send_async`."""
    try:
        return to_http_response(client.request(**httpx_request_args(request)))
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def call_handler(handler: Handler, event: Event) -> None:
    """Run a plain handler; a failure is logged, never fatal to the bot."""
    try:
        handler(event)
    except Exception:
        log.exception("event handler %r failed", handler)


def start_handler(handler: Handler, event: Event) -> Awaitable[Any] | None:
    """Run ``handler(event)`` on the spot: a plain function completes here (a failure is
    logged); a coroutine function's awaitable comes back for the driver to schedule, so
    no task is created per event unless a handler needs one."""
    try:
        result = handler(event)
    except Exception:
        log.exception("event handler %r failed", handler)
        return None
    if result is not None and inspect.isawaitable(result):
        return result
    return None


async def settle(handler: Handler, awaitable: Awaitable[Any]) -> None:
    """Await what :func:`start_handler` returned; a failure is logged."""
    try:
        await awaitable
    except Exception:
        log.exception("event handler %r failed", handler)


async def call_handler_async(handler: Handler, event: Event) -> None:
    """Run a handler that may be a coroutine function; a failure is logged."""
    try:
        await maybe_await(handler(event))
    except Exception:
        log.exception("event handler %r failed", handler)


class BotCore:
    """What a bot object is on every runtime, minus the I/O.

    It builds the session from :class:`BotSettings` (loading the session file), keeps the
    handler registry and the event subscribers, and :meth:`_pump` does the driver loop's
    bookkeeping after every call into the session: flush, execute commands, deliver
    events, save the snapshot at most once a second.  A driver supplies the I/O hooks
    ``_write``, ``_http``, ``_open``, ``_start_tls``, ``_close_socket``, ``_run_handler``
    and re-arms its timer with the deadline :meth:`_pump` returns.
    """

    def __init__(self, settings: BotSettings, session_file: str | None,
                 env: Mapping[str, str] | None) -> None:
        self.settings = settings
        self._env = dict(os.environ if env is None else env)
        self._store = FileSessionStore(session_file) if session_file else None
        self.session: GatewaySession = make_session(
            settings, self._store.load() if self._store else None, self._env)
        self.handlers = Handlers()
        self.on = self.handlers.on
        self._ssl = verified_ssl_context(settings.ssl_context)
        self._saved_at = -math.inf
        self._subscribers: list[Subscriber] = []
        self._subscribers_lock = threading.Lock()
        self._ended = False
        self.stopped: Stop | None = None

    def mark_processed(self, seq: int | Dispatch | None) -> None:
        """Record that the application has finished with a dispatch (or its ``seq``)."""
        self.session.mark_processed(seq.seq if isinstance(seq, Dispatch) else seq)

    def _subscribe(self, put: Subscriber) -> Subscriber:
        """``put(event)`` for every event from now on, then ``put(None)`` at the end; a
        ``put`` that raises is dropped."""
        with self._subscribers_lock:
            self._subscribers = [*self._subscribers, put]
            ended = self._ended
        if ended:
            put(None)
        return put

    def _unsubscribe(self, put: Subscriber) -> None:
        with self._subscribers_lock:
            self._subscribers = [p for p in self._subscribers if p is not put]

    def events_to(self, loop: asyncio.AbstractEventLoop,
                  items: asyncio.Queue[Event | None]) -> Subscriber:
        """Put every event from now on into ``items`` on ``loop`` (any thread may run the
        bot), then ``None``: the bridge to an asyncio application."""
        return self._subscribe(lambda event: loop.call_soon_threadsafe(items.put_nowait, event))

    def aiter_events(self, loop: asyncio.AbstractEventLoop | None = None,
                     ) -> AsyncIterator[Event]:
        """``async for event in bot.aiter_events():`` on an asyncio loop (default: the
        running one), whichever thread the bot runs on; subscribed at the call."""
        items: asyncio.Queue[Event | None] = asyncio.Queue()
        return self._aiterate(items, self.events_to(loop or asyncio.get_running_loop(), items))

    def _iterate(self, items: queue.SimpleQueue[Event | None],
                 put: Subscriber) -> Iterator[Event]:
        """The events a subscriber ``put`` into a thread queue, until ``None``."""
        try:
            while (event := items.get()) is not None:
                yield event
        finally:
            self._unsubscribe(put)

    async def _aiterate(self, items: asyncio.Queue[Event | None],
                        put: Subscriber) -> AsyncIterator[Event]:
        """The events a subscriber ``put`` into an asyncio queue, until ``None``."""
        try:
            while (event := await items.get()) is not None:
                yield event
        finally:
            self._unsubscribe(put)

    def _end_subscribers(self) -> None:
        with self._subscribers_lock:
            self._ended = True
        for put in self._subscribers:
            with contextlib.suppress(Exception):
                put(None)

    def _pump(self, now: float) -> float | None:
        """Flush, execute the session's commands, deliver its events; the next timer.

        Bytes are flushed before each command (a command may call into the session)."""
        session = self.session
        while True:
            data = session.data_to_send()
            if data:
                self._write(data)
            if (cmd := session.next_command()) is None:
                break
            if isinstance(cmd, SendHttpRequest):
                self._http(cmd)
            elif isinstance(cmd, OpenConnection):
                self._open(cmd)
            elif isinstance(cmd, StartTls):
                self._start_tls(cmd)
            elif isinstance(cmd, CloseConnection):
                self._close_socket(cmd.id)
            elif isinstance(cmd, Stop):
                self.stopped = cmd
        while (event := session.next_event()) is not None:
            for put in self._subscribers:
                try:
                    put(event)
                    if isinstance(event, SessionStopped):
                        put(None)
                except Exception:  # a closed channel, a closed loop: drop the subscriber
                    self._unsubscribe(put)
            for handler in self._delivery_handlers(event):
                self._run_handler(handler, event)
        if self._store is not None and now - self._saved_at >= 1.0:
            self._save(now)
        return session.get_timer()

    def _delivery_handlers(self, event: Event) -> tuple[Handler, ...]:
        """The handlers to run for ``event``; the API mixins (``_bot_api``) put the
        auto-ACK of a button tap first."""
        return tuple(self.handlers.matching(event))

    def _save(self, now: float) -> None:
        self._saved_at = now
        if self._store is not None:
            self._store.save(self.session.snapshot(time.time()))

    def _http_done(self, cmd_id: int, result: HttpResponse | str, now: float) -> None:
        if isinstance(result, str):
            self.session.http_failed(cmd_id, result, now)
        else:
            self.session.http_response(cmd_id, result, now)

    # The I/O hooks a driver implements.
    def _write(self, data: bytes) -> None:
        raise NotImplementedError

    def _http(self, cmd: SendHttpRequest) -> None:
        raise NotImplementedError

    def _open(self, cmd: OpenConnection) -> None:
        raise NotImplementedError

    def _start_tls(self, cmd: StartTls) -> None:
        raise NotImplementedError

    def _close_socket(self, conn_id: int) -> None:
        raise NotImplementedError

    def _run_handler(self, handler: Handler, event: Event) -> None:
        raise NotImplementedError
