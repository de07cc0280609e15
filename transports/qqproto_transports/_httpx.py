"""httpx glue shared by the drivers: TLS contexts that always verify, per-request proxy
routing with the same rule as the gateway (:func:`qqproto.proxy.resolve_proxy`), and the
loops that pump a sans-IO REST call (``next_request``/``receive_response``) over httpx.

Every exchange is bounded (:class:`qqproto.Limits`, from the settings of the bot that
made the client): the body is read as a stream and given up at ``max_response_size``
bytes or ``max_response_chunks`` network reads, the header fields are counted, and the
whole exchange — waiting for a pooled connection, connecting, sending, every read — has
one deadline, the request's ``timeout`` (or ``http_deadline`` when smaller).  On asyncio
and trio the deadline is an anyio cancel scope; a blocking client cannot be cancelled,
so its network streams cut every read and write to what is left of the deadline
(:class:`DeadlineBackend`).  A failure is the string a sans-IO object's
``transport_failed``/``http_failed`` takes, never an exception.
"""

from __future__ import annotations

import contextvars
import functools
import ssl
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import httpcore
import httpx

from qqproto import Limits, Settings
from qqproto.proxy import Direct, ProxyConfig, resolve_proxy
from qqproto.rest import HttpRequest, HttpResponse

__all__ = [
    "EXCHANGE_ERRORS",
    "HTTP_LIMITS",
    "DeadlineBackend",
    "ExchangeFailed",
    "ProxyRouter",
    "async_http_client",
    "deliver_result",
    "exchange_async",
    "exchange_sync",
    "httpx_request_args",
    "limits_of",
    "run_call_async",
    "run_call_sync",
    "send_async",
    "send_sync",
    "sync_http_client",
    "to_http_response",
    "verified_ssl_context",
]


@functools.lru_cache(maxsize=1)
def _system_default_context() -> ssl.SSLContext:
    # One per process: loading the system trust store costs a megabyte and milliseconds,
    # and a default context is only ever read (a host running a hundred bots needs one).
    return ssl.create_default_context()


def verified_ssl_context(context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """``context`` (checked to verify) or the system default (one shared by every bot
    of the process); never an unverified one."""
    if context is None:
        return _system_default_context()
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        raise ValueError("qqproto always verifies TLS: pass a context that does")
    return context


def httpx_request_args(request: HttpRequest) -> dict[str, Any]:
    return {"method": request.method, "url": request.url, "headers": list(request.headers),
            "content": request.body or None, "timeout": request.timeout}


def to_http_response(response: httpx.Response, body: bytes | None = None) -> HttpResponse:
    return HttpResponse(status=response.status_code, headers=tuple(response.headers.items()),
                        body=response.content if body is None else body)


# -- bounded exchanges -------------------------------------------------------------------

#: The limits of each client the drivers made (others get the defaults).
_CLIENT_LIMITS: weakref.WeakKeyDictionary[Any, Limits] = weakref.WeakKeyDictionary()
_DEFAULT_LIMITS = Limits()
#: The monotonic deadline of the blocking exchange running on this thread, if any.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "qqproto_http_deadline", default=None)


class ExchangeFailed(Exception):
    """An answer over a cap, or an exchange past its deadline (reported as a string)."""


def limits_of(client: Any) -> Limits:
    """The :class:`~qqproto.Limits` a client was made with (the defaults otherwise)."""
    return _CLIENT_LIMITS.get(client, _DEFAULT_LIMITS)


def _check_head(response: httpx.Response, limits: Limits) -> None:
    if len(response.headers.raw) > limits.max_response_headers:
        raise ExchangeFailed(f"answer with more than {limits.max_response_headers} "
                             "header fields")
    length = response.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > limits.max_response_size:
        raise ExchangeFailed(f"answer of {length} bytes is over the "
                             f"{limits.max_response_size}-byte limit")


class _Body:
    """Collects a body, refusing more than the limits allow."""

    __slots__ = ("chunks", "limits", "reads", "size")

    def __init__(self, limits: Limits) -> None:
        self.limits, self.chunks, self.size, self.reads = limits, list[bytes](), 0, 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.reads += 1
        if self.size > self.limits.max_response_size:
            raise ExchangeFailed(f"answer over the {self.limits.max_response_size}-byte limit")
        if self.reads > self.limits.max_response_chunks:
            raise ExchangeFailed(f"answer in more than {self.limits.max_response_chunks} "
                                 "pieces")
        self.chunks.append(chunk)

    def bytes(self) -> bytes:
        return b"".join(self.chunks)


async def exchange_async(client: httpx.AsyncClient, args: dict[str, Any],
                         request: HttpRequest) -> HttpResponse:
    """Perform one bounded exchange (``args`` for ``client.stream``); raises
    ``httpx.HTTPError``, ``OSError`` or :class:`ExchangeFailed`."""
    limits = limits_of(client)
    if request.delay > 0:
        await anyio.sleep(request.delay)
    deadline = limits.deadline_for(request.timeout)
    args = {**args, "timeout": deadline}
    try:
        with anyio.fail_after(deadline):
            async with client.stream(**args) as response:
                _check_head(response, limits)
                body = _Body(limits)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
                return to_http_response(response, body.bytes())
    except TimeoutError:
        raise ExchangeFailed(f"no complete answer within {deadline:g} s") from None


def exchange_sync(client: httpx.Client, args: dict[str, Any],
                  request: HttpRequest) -> HttpResponse:
    """The blocking twin of :func:`exchange_async`."""
    limits = limits_of(client)
    if request.delay > 0:
        time.sleep(request.delay)
    deadline = limits.deadline_for(request.timeout)
    until = time.monotonic() + deadline
    token = _DEADLINE.set(until)
    try:
        with client.stream(**{**args, "timeout": deadline}) as response:
            _check_head(response, limits)
            body = _Body(limits)
            for chunk in response.iter_bytes():
                body.add(chunk)
                if time.monotonic() > until:
                    raise ExchangeFailed(f"no complete answer within {deadline:g} s")
            return to_http_response(response, body.bytes())
    except httpx.TimeoutException as exc:
        if time.monotonic() >= until:
            raise ExchangeFailed(f"no complete answer within {deadline:g} s") from None
        raise exc from None
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None) -> float | None:
    """``timeout`` cut to what is left of this thread's exchange deadline."""
    until = _DEADLINE.get()
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the exchange's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking network backend with every connect, read and write cut to
    what is left of the running exchange's deadline: a server that trickles its answer a
    byte at a time (each read well inside a per-read timeout) still ends on time."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _left(timeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(path, _left(timeout),
                                                               socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _with_deadlines(transport: Any) -> Any:
    """A blocking httpx transport whose connection pool uses :class:`DeadlineBackend`.

    httpx does not take a network backend, so the pool's is replaced; a test checks that
    the attribute is still where this expects it."""
    pool = getattr(transport, "_pool", None)
    if pool is not None and hasattr(pool, "_network_backend"):
        pool._network_backend = DeadlineBackend(pool._network_backend)
    return transport


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


def _router(settings: Settings, env: Mapping[str, str], ssl_context: ssl.SSLContext | None,
            transport: Callable[..., Any]) -> ProxyRouter:
    """Verified TLS, proxies by URL (never from httpx's own reading of the environment),
    a bounded pool: what every transport the router makes is built with."""
    ctx = verified_ssl_context(ssl_context)
    wrap = _with_deadlines if transport is httpx.HTTPTransport else (lambda t: t)
    return ProxyRouter(env, settings.proxy, lambda proxy: wrap(transport(
        verify=ctx, proxy=proxy, limits=HTTP_LIMITS, trust_env=False)))


#: Answers are small JSON: ask for them uncompressed, so a size cap is a size cap.
_IDENTITY = {"Accept-Encoding": "identity"}


def async_http_client(settings: Settings, env: Mapping[str, str],
                      ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The client of an asyncio or trio bot: verified TLS, proxies by URL, bounded pool,
    bounded exchanges (``settings.limits``)."""
    router = _router(settings, env, ssl_context, httpx.AsyncHTTPTransport)
    client = httpx.AsyncClient(transport=AsyncRoutingTransport(router), trust_env=False,
                               timeout=30.0, headers=_IDENTITY)
    _CLIENT_LIMITS[client] = settings.limits
    return client


def sync_http_client(settings: Settings, env: Mapping[str, str],
                     ssl_context: ssl.SSLContext | None = None) -> httpx.Client:
    """The blocking twin of :func:`async_http_client`."""
    router = _router(settings, env, ssl_context, httpx.HTTPTransport)
    client = httpx.Client(transport=SyncRoutingTransport(router), trust_env=False,
                          timeout=30.0, headers=_IDENTITY)
    _CLIENT_LIMITS[client] = settings.limits
    return client


def deliver_result(call: Any, result: HttpResponse | str, now: float) -> None:
    """Feed what :func:`send_async`/:func:`send_sync` returned to a sans-IO call."""
    if isinstance(result, str):
        call.transport_failed(result, now)
    else:
        call.receive_response(result, now)


#: What an exchange may fail with; everything else is a bug.
EXCHANGE_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError,
                   ExchangeFailed)


async def send_async(client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse | str:
    """Perform ``request`` within the client's limits: the response, or why there is
    none."""
    try:
        return await exchange_async(client, httpx_request_args(request), request)
    except EXCHANGE_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


def send_sync(client: httpx.Client, request: HttpRequest) -> HttpResponse | str:
    """The blocking twin of :func:`send_async`."""
    try:
        return exchange_sync(client, httpx_request_args(request), request)
    except EXCHANGE_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


async def run_call_async(call: Any, client: httpx.AsyncClient,
                         clock: Callable[[], float]) -> Any:
    """Pump a sans-IO REST call (``next_request``/``receive_response``) to its result."""
    while (request := call.next_request(clock())) is not None:
        deliver_result(call, await send_async(client, request), clock())
    return call.result()


def run_call_sync(call: Any, client: httpx.Client, clock: Callable[[], float]) -> Any:
    """The blocking twin of :func:`run_call_async`."""
    while (request := call.next_request(clock())) is not None:
        deliver_result(call, send_sync(client, request), clock())
    return call.result()
