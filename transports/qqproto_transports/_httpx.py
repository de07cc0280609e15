"""httpx glue shared by the drivers: TLS contexts that always verify, per-request proxy
routing with the same rule as the gateway (:func:`qqproto.proxy.resolve_proxy`), and the
loops that pump a sans-IO REST call (``next_request``/``receive_response``) over httpx.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from qqproto import Settings
from qqproto.proxy import Direct, ProxyConfig, resolve_proxy
from qqproto.rest import HttpRequest, HttpResponse

__all__ = [
    "HTTP_LIMITS",
    "ProxyRouter",
    "async_http_client",
    "deliver_result",
    "httpx_request_args",
    "run_call_async",
    "run_call_sync",
    "send_async",
    "send_sync",
    "sync_http_client",
    "to_http_response",
    "verified_ssl_context",
]


def verified_ssl_context(context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """``context`` (checked to verify) or the system default; never an unverified one."""
    if context is None:
        return ssl.create_default_context()
    if context.verify_mode is not ssl.CERT_REQUIRED or not context.check_hostname:
        raise ValueError("qqproto always verifies TLS: pass a context that does")
    return context


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


def _router(settings: Settings, env: Mapping[str, str], ssl_context: ssl.SSLContext | None,
            transport: Callable[..., Any]) -> ProxyRouter:
    """Verified TLS, proxies by URL (never from httpx's own reading of the environment),
    a bounded pool: what every transport the router makes is built with."""
    ctx = verified_ssl_context(ssl_context)
    return ProxyRouter(env, settings.proxy, lambda proxy: transport(
        verify=ctx, proxy=proxy, limits=HTTP_LIMITS, trust_env=False))


def async_http_client(settings: Settings, env: Mapping[str, str],
                      ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """The client of an asyncio or trio bot: verified TLS, proxies by URL, bounded pool."""
    router = _router(settings, env, ssl_context, httpx.AsyncHTTPTransport)
    return httpx.AsyncClient(transport=AsyncRoutingTransport(router), trust_env=False,
                             timeout=30.0)


def sync_http_client(settings: Settings, env: Mapping[str, str],
                     ssl_context: ssl.SSLContext | None = None) -> httpx.Client:
    """The blocking twin of :func:`async_http_client`."""
    router = _router(settings, env, ssl_context, httpx.HTTPTransport)
    return httpx.Client(transport=SyncRoutingTransport(router), trust_env=False, timeout=30.0)


def deliver_result(call: Any, result: HttpResponse | str, now: float) -> None:
    """Feed what :func:`send_async`/:func:`send_sync` returned to a sans-IO call."""
    if isinstance(result, str):
        call.transport_failed(result, now)
    else:
        call.receive_response(result, now)


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
